//! Finding and loading tasks: config roots, ids, YAML paths, clear errors.

use super::config::{
    dataset_docs, render_description, DatasetConfig, Direction, MetricSpec, TaskConfig,
};
use super::TaskError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A task ready to run: its config with the description rendered, and where its files are.
#[derive(Debug, Clone)]
pub struct LoadedTask {
    /// The config, `description` already rendered.
    pub config: TaskConfig,
    /// Root that `starter_code`, `secret_files` and dataset paths are relative to.
    pub root: PathBuf,
    /// The YAML file it came from.
    pub yaml_path: PathBuf,
    /// Loaded dataset configs.
    pub datasets: Vec<DatasetConfig>,
}

/// The primary metric MLGym itself uses for each of its tasks, for task YAMLs without
/// `metrics` (docs/scoring.md, "Which metric decides a task").
fn mlgym_metric(task_id: &str) -> Option<(&'static str, Direction)> {
    use Direction::*;
    Some(match task_id {
        "regressionKaggleHousePrice" => ("r2", Maximize),
        "3SATTime" => ("Time", Minimize),
        "imageClassificationCifar10" | "imageClassificationFMnist" => ("accuracy", Maximize),
        "imageCaptioningCOCO" => ("BLEU Score", Maximize),
        "languageModelingFineWeb" => ("val_loss", Minimize),
        "naturalLanguageInferenceMNLI" => ("validation_accuracy", Maximize),
        "battleOfSexes" | "prisonersDilemma" | "blotto" => ("Score", Maximize),
        "rlBreakoutMinAtar" | "rlMetaMazeMisc" | "rlMountainCarContinuous" => {
            ("Reward Mean", Maximize)
        }
        _ => return None,
    })
}

impl LoadedTask {
    /// The metric rewards come from: the YAML's primary metric, else MLGym's registry,
    /// else the first baseline metric (maximised).
    pub fn primary_metric(&self) -> MetricSpec {
        if let Some(m) = self.config.metrics.iter().find(|m| m.primary) {
            return m.clone();
        }
        if let Some(m) = self.config.metrics.first() {
            return m.clone();
        }
        if let Some((name, direction)) = mlgym_metric(&self.config.id) {
            return MetricSpec {
                name: name.into(),
                direction,
                primary: true,
            };
        }
        let name = self
            .config
            .baseline_scores
            .first()
            .and_then(|b| b.keys().next().cloned())
            .unwrap_or_else(|| "Score".into());
        MetricSpec {
            name,
            direction: Direction::Maximize,
            primary: true,
        }
    }

    /// The baseline value of the primary metric, if known.
    pub fn baseline(&self) -> Option<f64> {
        let metric = self.primary_metric();
        self.config
            .baseline_scores
            .first()
            .and_then(|b| b.get(&metric.name).copied())
    }

    /// The full baseline metrics dict (MLGym shows it in `validate`).
    pub fn baseline_scores(&self) -> Option<&BTreeMap<String, f64>> {
        self.config.baseline_scores.first()
    }
}

/// All tasks found under a list of config roots (earlier roots win on duplicate ids).
#[derive(Debug, Clone, Default)]
pub struct TaskRegistry {
    roots: Vec<PathBuf>,
}

fn yaml_error(path: &Path, err: &serde_yaml::Error) -> TaskError {
    let (line, column) = err.location().map_or((0, 0), |l| (l.line(), l.column()));
    TaskError::Malformed {
        path: path.to_path_buf(),
        line,
        column,
        message: err.to_string(),
    }
}

fn read(path: &Path) -> Result<String, TaskError> {
    std::fs::read_to_string(path).map_err(|source| TaskError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

impl TaskRegistry {
    /// A registry over these roots; each root holds `configs/tasks/*.yaml`.
    pub fn new(roots: Vec<PathBuf>) -> Self {
        Self { roots }
    }

    /// The roots searched, in order.
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Every task id with its YAML path (first root wins). Files that fail to parse are
    /// skipped here; loading them by path reports the error.
    pub fn list(&self) -> Vec<(String, PathBuf)> {
        let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
        for root in &self.roots {
            let Ok(entries) = std::fs::read_dir(root.join("configs").join("tasks")) else {
                continue;
            };
            let mut files: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
                .collect();
            files.sort();
            for file in files {
                let Ok(text) = std::fs::read_to_string(&file) else {
                    continue;
                };
                #[derive(serde::Deserialize)]
                struct IdOnly {
                    id: String,
                }
                if let Ok(IdOnly { id }) = serde_yaml::from_str::<IdOnly>(&text) {
                    seen.entry(id).or_insert(file);
                }
            }
        }
        seen.into_iter().collect()
    }

    /// Loads a task by id, or by a path to its YAML (anything ending in `.yaml`/`.yml`
    /// or containing a `/`).
    pub fn load(&self, id_or_path: &str) -> Result<LoadedTask, TaskError> {
        let looks_like_path = id_or_path.ends_with(".yaml")
            || id_or_path.ends_with(".yml")
            || id_or_path.contains('/');
        if looks_like_path {
            let mut candidates = vec![PathBuf::from(id_or_path)];
            for root in &self.roots {
                candidates.push(root.join("configs").join(id_or_path));
            }
            if let Some(path) = candidates.into_iter().find(|p| p.is_file()) {
                return load_yaml(&path, None);
            }
            return Err(TaskError::NotFound {
                id: id_or_path.to_string(),
                suggestions: Vec::new(),
                roots: self.roots.clone(),
            });
        }
        let all = self.list();
        if let Some((_, path)) = all.iter().find(|(id, _)| id == id_or_path) {
            let root = path.parent().and_then(Path::parent).and_then(Path::parent);
            return load_yaml(path, root);
        }
        let mut scored: Vec<(usize, String)> = all
            .iter()
            .map(|(id, _)| (edit_distance(id, id_or_path), id.clone()))
            .filter(|(d, id)| {
                *d <= 3.max(id_or_path.len() / 3)
                    || id.to_lowercase().contains(&id_or_path.to_lowercase())
            })
            .collect();
        scored.sort();
        Err(TaskError::NotFound {
            id: id_or_path.to_string(),
            suggestions: scored.into_iter().take(3).map(|(_, id)| id).collect(),
            roots: self.roots.clone(),
        })
    }
}

/// The root a YAML's relative paths refer to: the folder holding `configs/` when the
/// file sits in `<root>/configs/tasks/`, else the YAML's own folder.
fn root_of(path: &Path) -> PathBuf {
    let dir = path.parent().unwrap_or(Path::new("."));
    let is_std = dir.file_name().is_some_and(|n| n == "tasks")
        && dir
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == "configs");
    if is_std {
        dir.parent()
            .and_then(Path::parent)
            .unwrap_or(dir)
            .to_path_buf()
    } else {
        dir.to_path_buf()
    }
}

/// Loads one task YAML and its datasets, and renders the description.
pub fn load_yaml(path: &Path, root: Option<&Path>) -> Result<LoadedTask, TaskError> {
    let text = read(path)?;
    let mut config: TaskConfig = serde_yaml::from_str(&text).map_err(|e| yaml_error(path, &e))?;
    let root = root.map_or_else(|| root_of(path), Path::to_path_buf);
    let root = root.canonicalize().unwrap_or(root);
    let mut datasets = Vec::new();
    for rel in &config.dataset_configs {
        let dpath = root.join("configs").join(rel);
        let dtext = read(&dpath)?;
        let ds: DatasetConfig = serde_yaml::from_str(&dtext).map_err(|e| yaml_error(&dpath, &e))?;
        datasets.push(ds);
    }
    config.description = render_description(&config.description, &dataset_docs(&datasets))
        .map_err(|message| TaskError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
    for rel in config.starter_code.iter().chain(&config.secret_files) {
        if !root.join(rel).exists() {
            return Err(TaskError::Invalid {
                path: path.to_path_buf(),
                message: format!("file '{rel}' does not exist under {}", root.display()),
            });
        }
    }
    Ok(LoadedTask {
        config,
        root,
        yaml_path: path.to_path_buf(),
        datasets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_works() {
        assert_eq!(edit_distance("battleOfSexes", "battleofsexes"), 0);
        assert_eq!(edit_distance("blotto", "blot"), 2);
    }
}
