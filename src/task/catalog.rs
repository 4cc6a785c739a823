//! What the project knows about tasks beyond their YAML: MLGym-Bench's published
//! metric table, and the one rule that picks a task's primary metric.
//!
//! Precedence, everywhere (rewards, score tables, the runner): the task YAML's
//! `metrics:` first (the entry marked `primary`, else the first), MLGym's table second,
//! the first baseline metric (maximised) last.

use super::config::{DatasetConfig, Direction, MetricSpec, ResourceLimits};
use super::registry::LoadedTask;
use super::{TaskError, TaskRegistry};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One MLGym-Bench task as the published tables show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BenchTask {
    /// Task id.
    pub task_id: &'static str,
    /// Row name in the tables.
    pub display_name: &'static str,
    /// The metric that decides the task.
    pub metric: &'static str,
    /// Its direction.
    pub direction: Direction,
}

const fn bench(
    task_id: &'static str,
    display_name: &'static str,
    metric: &'static str,
    direction: Direction,
) -> BenchTask {
    BenchTask {
        task_id,
        display_name,
        metric,
        direction,
    }
}

/// MLGym-Bench's 13 tasks in the row order of the published tables.
pub const MLGYM_BENCH: [BenchTask; 13] = {
    use Direction::{Maximize as Max, Minimize as Min};
    [
        bench("regressionKaggleHousePrice", "House Price", "r2", Max),
        bench("3SATTime", "3-SAT", "Time", Min),
        bench("imageClassificationCifar10", "CIFAR-10", "accuracy", Max),
        bench(
            "imageClassificationFMnist",
            "Fashion MNIST",
            "accuracy",
            Max,
        ),
        bench("imageCaptioningCOCO", "MS-COCO", "BLEU Score", Max),
        bench(
            "languageModelingFineWeb",
            "Language Modeling",
            "val_loss",
            Min,
        ),
        bench(
            "naturalLanguageInferenceMNLI",
            "MNLI",
            "validation_accuracy",
            Max,
        ),
        bench("battleOfSexes", "Battle of Sexes", "Score", Max),
        bench("prisonersDilemma", "Prisoners Dilemma", "Score", Max),
        bench("blotto", "Blotto", "Score", Max),
        bench("rlBreakoutMinAtar", "Breakout", "Reward Mean", Max),
        bench("rlMetaMazeMisc", "Meta Maze", "Reward Mean", Max),
        bench(
            "rlMountainCarContinuous",
            "Mountain Car Continuous",
            "Reward Mean",
            Max,
        ),
    ]
};

/// The MLGym-Bench entry of a task id.
pub fn bench_task(task_id: &str) -> Option<&'static BenchTask> {
    MLGYM_BENCH.iter().find(|t| t.task_id == task_id)
}

/// Where a task's primary metric came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricSource {
    /// The task YAML's `metrics:`.
    Yaml,
    /// MLGym's published table.
    Mlgym,
    /// The first key of the first baseline (or `Score`), maximised.
    Baseline,
}

/// The metric a task is rewarded and ranked by.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrimaryMetric {
    /// Key in the grader's metrics.
    pub name: String,
    /// Whether higher or lower is better.
    pub direction: Direction,
    /// Which rule chose it.
    pub source: MetricSource,
}

impl LoadedTask {
    /// The metric rewards come from, by the precedence in this module's doc.
    pub fn primary(&self) -> PrimaryMetric {
        let cfg = &self.config;
        if let Some(m) = cfg
            .metrics
            .iter()
            .find(|m| m.primary)
            .or(cfg.metrics.first())
        {
            return PrimaryMetric {
                name: m.name.clone(),
                direction: m.direction,
                source: MetricSource::Yaml,
            };
        }
        if let Some(b) = bench_task(&cfg.id) {
            return PrimaryMetric {
                name: b.metric.into(),
                direction: b.direction,
                source: MetricSource::Mlgym,
            };
        }
        let name = cfg
            .baseline_scores
            .first()
            .and_then(|b| b.keys().next().cloned())
            .unwrap_or_else(|| "Score".into());
        PrimaryMetric {
            name,
            direction: Direction::Maximize,
            source: MetricSource::Baseline,
        }
    }

    /// The primary metric as a [`MetricSpec`].
    pub fn primary_metric(&self) -> MetricSpec {
        let p = self.primary();
        MetricSpec {
            name: p.name,
            direction: p.direction,
            primary: true,
        }
    }

    /// The baseline value of the primary metric, if known.
    pub fn baseline(&self) -> Option<f64> {
        let metric = self.primary();
        self.config
            .baseline_scores
            .first()
            .and_then(|b| b.get(&metric.name).copied())
    }

    /// The full baseline metrics dict (MLGym shows it in `validate`).
    pub fn baseline_scores(&self) -> Option<&BTreeMap<String, f64>> {
        self.config.baseline_scores.first()
    }

    /// Everything tools need to know about the task, in one serialisable value.
    pub fn info(&self) -> TaskInfo {
        let cfg = &self.config;
        TaskInfo {
            id: cfg.id.clone(),
            name: cfg.name.clone(),
            yaml_path: self.yaml_path.clone(),
            root: self.root.clone(),
            entrypoint: cfg.task_entrypoint.clone(),
            description: cfg.description.clone(),
            metrics: cfg.metrics.clone(),
            primary_metric: self.primary(),
            baseline_scores: cfg.baseline_scores.clone(),
            baseline: self.baseline(),
            training_timeout: cfg.training_timeout,
            resources: cfg.resources.clone(),
            datasets: self.datasets.clone(),
            starter_code: cfg.starter_code.clone(),
            evaluation_paths: cfg.evaluation_paths.clone(),
            secret_files: cfg.secret_files.clone(),
            memory_path: cfg.memory_path.clone(),
            requirements_path: cfg.requirements_path.clone(),
        }
    }
}

/// `mlgym.task_info(...)`: a task's facts for tools (scoring, runner, viewer).
#[derive(Debug, Clone, Serialize)]
pub struct TaskInfo {
    /// Task id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The YAML it was loaded from.
    pub yaml_path: PathBuf,
    /// The root its relative paths refer to.
    pub root: PathBuf,
    /// MLGym's entrypoint class name.
    pub entrypoint: String,
    /// The rendered task statement.
    pub description: String,
    /// The YAML's declared metrics.
    pub metrics: Vec<MetricSpec>,
    /// The metric rewards and tables use.
    pub primary_metric: PrimaryMetric,
    /// Baseline metrics (MLGym uses the first entry).
    pub baseline_scores: Vec<BTreeMap<String, f64>>,
    /// The baseline of the primary metric.
    pub baseline: Option<f64>,
    /// Training and grading time limit (s).
    pub training_timeout: Option<u64>,
    /// Container limits.
    pub resources: ResourceLimits,
    /// Data sets the task needs.
    pub datasets: Vec<DatasetConfig>,
    /// Files copied into the workspace.
    pub starter_code: Vec<String>,
    /// Graders, relative to the workspace.
    pub evaluation_paths: Vec<String>,
    /// Files present only while grading.
    pub secret_files: Vec<String>,
    /// MLGym's memory file.
    pub memory_path: Option<String>,
    /// Requirements of a per-task environment.
    pub requirements_path: Option<String>,
}

/// How a task is scored in tables: [`TaskRegistry::task_metric`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskMetric {
    /// Task id.
    pub task_id: String,
    /// Row name.
    pub display_name: String,
    /// Metric key.
    pub metric: String,
    /// Its direction.
    pub direction: Direction,
    /// Which rule chose it.
    pub source: MetricSource,
}

impl TaskRegistry {
    /// How `task_id` is scored: from its YAML when a root has it (the module's
    /// precedence), else from MLGym's table; `None` when neither knows it. A YAML that
    /// exists but does not load is an error, not a silent fallback.
    pub fn task_metric(&self, task_id: &str) -> Result<Option<TaskMetric>, TaskError> {
        let known = bench_task(task_id);
        match self.load(task_id) {
            Ok(task) => {
                let p = task.primary();
                Ok(Some(TaskMetric {
                    task_id: task.config.id.clone(),
                    display_name: known
                        .map_or_else(|| task.config.name.clone(), |b| b.display_name.into()),
                    metric: p.name,
                    direction: p.direction,
                    source: p.source,
                }))
            }
            Err(TaskError::NotFound { .. }) => Ok(known.map(|b| TaskMetric {
                task_id: b.task_id.into(),
                display_name: b.display_name.into(),
                metric: b.metric.into(),
                direction: b.direction,
                source: MetricSource::Mlgym,
            })),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &std::path::Path, yaml: &str) {
        std::fs::create_dir_all(root.join("configs/tasks")).unwrap();
        std::fs::write(root.join("configs/tasks/t.yaml"), yaml).unwrap();
    }

    #[test]
    fn yaml_metrics_come_before_mlgyms_table() {
        let root = std::env::temp_dir().join(format!("mlgym-catalog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        // A task that reuses an MLGym id but declares its own metric.
        write(
            &root,
            "id: 3SATTime\nname: Mine\ndescription: d\nmetrics:\n  - name: solved\n    direction: maximize\n",
        );
        let reg = TaskRegistry::new(vec![root.clone()]);
        let m = reg.task_metric("3SATTime").unwrap().unwrap();
        assert_eq!(
            (m.metric.as_str(), m.direction),
            ("solved", Direction::Maximize)
        );
        assert_eq!(m.source, MetricSource::Yaml);
        assert_eq!(m.display_name, "3-SAT");
        // Not under any root: MLGym's table.
        let m = reg.task_metric("languageModelingFineWeb").unwrap().unwrap();
        assert_eq!(
            (m.metric.as_str(), m.direction),
            ("val_loss", Direction::Minimize)
        );
        assert_eq!(m.source, MetricSource::Mlgym);
        assert!(reg.task_metric("nothingLikeThis").unwrap().is_none());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn fallbacks_without_yaml_metrics() {
        let root = std::env::temp_dir().join(format!("mlgym-catalog2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        write(
            &root,
            "id: blotto\nname: B\ndescription: d\nbaseline_scores:\n  - Other: 1.0\n",
        );
        let task = TaskRegistry::new(vec![root.clone()])
            .load("blotto")
            .unwrap();
        assert_eq!(task.primary().source, MetricSource::Mlgym);
        assert_eq!(task.primary().name, "Score");
        write(
            &root,
            "id: t2\nname: B\ndescription: d\nbaseline_scores:\n  - Other: 1.0\n",
        );
        let task = TaskRegistry::new(vec![root.clone()]).load("t2").unwrap();
        assert_eq!(task.primary().source, MetricSource::Baseline);
        assert_eq!(task.baseline(), Some(1.0));
        let info = serde_json::to_value(task.info()).unwrap();
        assert_eq!(info["primary_metric"]["name"], "Other");
        assert_eq!(info["primary_metric"]["source"], "baseline");
        let _ = std::fs::remove_dir_all(&root);
    }
}
