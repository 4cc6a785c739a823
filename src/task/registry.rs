//! Finding and loading tasks: config roots, ids, YAML paths, clear errors.

use super::config::{dataset_docs, render_description, DatasetConfig, TaskConfig};
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
        message: without_quoted_text(&err.to_string()),
    }
}

/// serde's message with each double-quoted value shortened to `"..."`: a file that is
/// not a task config (`/etc/passwd`) must not have its contents echoed in an error.
fn without_quoted_text(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            out.push(c);
            continue;
        }
        out.push_str("\"...\"");
        let mut escaped = false;
        for c in chars.by_ref() {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => break,
                _ => escaped = false,
            }
        }
    }
    out
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

    /// Loads a task by id, or by a path to its YAML (it must end in `.yaml`/`.yml`). An
    /// id has no path separators and no `..`; anything else is not found without being
    /// read.
    pub fn load(&self, id_or_path: &str) -> Result<LoadedTask, TaskError> {
        let is_yaml = id_or_path.ends_with(".yaml") || id_or_path.ends_with(".yml");
        let has_separator =
            id_or_path.contains('/') || id_or_path.contains('\\') || id_or_path.contains("..");
        if has_separator && !is_yaml || id_or_path.contains('\0') || id_or_path.is_empty() {
            // Neither an id nor an explicit task YAML: nothing is read.
            return Err(TaskError::NotFound {
                id: id_or_path.to_string(),
                suggestions: Vec::new(),
                roots: self.roots.clone(),
            });
        }
        if is_yaml {
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
    fn paths_must_be_explicit_yaml_and_errors_do_not_echo_contents() {
        let reg = TaskRegistry::new(Vec::new());
        for id in ["../../etc/passwd", "/etc/passwd", "a/b", "..", "", "x\0y"] {
            assert!(
                matches!(reg.load(id), Err(TaskError::NotFound { .. })),
                "{id:?}"
            );
        }
        let dir = std::env::temp_dir().join(format!("mlgym-reg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret.yaml");
        std::fs::write(&file, "root:x:0:0:secret-text\n").unwrap();
        let err = reg.load(file.to_str().unwrap()).unwrap_err().to_string();
        assert!(!err.contains("secret-text"), "{err}");
        std::fs::write(&file, "\"secret-text\"\n").unwrap();
        let err = reg.load(file.to_str().unwrap()).unwrap_err().to_string();
        assert!(!err.contains("secret-text"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn edit_distance_works() {
        assert_eq!(edit_distance("battleOfSexes", "battleofsexes"), 0);
        assert_eq!(edit_distance("blotto", "blot"), 2);
    }
}
