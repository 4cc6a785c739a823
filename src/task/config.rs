//! MLGym's task and dataset YAML schema, plus our extensions: `metrics` (docs/scoring.md)
//! and `resources` (docs/containers.md).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Direction in which a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Higher is better.
    Maximize,
    /// Lower is better.
    Minimize,
}

/// One metric the grader reports (our extension: `metrics:` in the task YAML).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSpec {
    /// Key in the grader's metrics object.
    pub name: String,
    /// Whether higher or lower is better.
    pub direction: Direction,
    /// The metric rewards are computed from.
    #[serde(default)]
    pub primary: bool,
}

/// A split of a dataset (kept for schema compatibility; MLGym does not use it either).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// Split name.
    #[serde(default)]
    pub name: Option<String>,
    /// File pattern of the split.
    #[serde(default)]
    pub file_regex: Option<String>,
}

/// MLGym's `DatasetConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatasetConfig {
    /// Name; its upper-cased form heads its section of `{dataset_docs}`.
    pub name: String,
    /// Documentation text.
    #[serde(default)]
    pub description: String,
    /// A local folder relative to the config root, or a Hugging Face id.
    #[serde(default)]
    pub data_path: String,
    /// When true, `data_path` is copied to `workspace/data` read-only.
    #[serde(default)]
    pub is_local: bool,
    /// Unused split declarations.
    #[serde(default)]
    pub train_split: Option<SplitConfig>,
    /// Unused split declarations.
    #[serde(default)]
    pub valid_split: Option<SplitConfig>,
    /// Unused split declarations.
    #[serde(default)]
    pub test_split: Option<SplitConfig>,
}

fn default_entrypoint() -> String {
    "CSVSubmissionTasks".to_string()
}

fn default_true() -> bool {
    true
}

/// MLGym's `TaskConfig`: every field, with MLGym's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskConfig {
    /// Task id (`mlgym/<id>`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Task statement; `{dataset_docs}` is filled in.
    pub description: String,
    /// Dataset YAML paths relative to `configs/`.
    #[serde(default)]
    pub dataset_configs: Vec<String>,
    /// Entrypoint class name.
    #[serde(default = "default_entrypoint")]
    pub task_entrypoint: String,
    /// Timeout (s) for training commands, baselines and evaluation.
    #[serde(default)]
    pub training_timeout: Option<u64>,
    /// Requirements for a per-task environment.
    #[serde(default)]
    pub requirements_path: Option<String>,
    /// Unused by MLGym.
    #[serde(default)]
    pub benchmark_name: Option<String>,
    /// Use the generic environment.
    #[serde(default = "default_true")]
    pub use_generic_conda: bool,
    /// Files or dirs copied into the workspace, relative to the config root.
    #[serde(default)]
    pub starter_code: Vec<String>,
    /// Baseline scripts relative to the workspace.
    #[serde(default)]
    pub baseline_paths: Vec<String>,
    /// Baseline metrics; only the first entry is used.
    #[serde(default)]
    pub baseline_scores: Vec<BTreeMap<String, f64>>,
    /// A sample submission (checked for existence only).
    #[serde(default)]
    pub sample_submission: Option<String>,
    /// Evaluation scripts relative to the workspace; only the first is used.
    #[serde(default)]
    pub evaluation_paths: Vec<String>,
    /// Make the evaluation scripts read-only in the workspace.
    #[serde(default)]
    pub evaluation_read_only: bool,
    /// Files present only while grading (relative to the config root).
    #[serde(default)]
    pub secret_files: Vec<String>,
    /// Host path of the memory file.
    #[serde(default)]
    pub memory_path: Option<String>,
    /// Our extension: the metrics and their directions.
    #[serde(default)]
    pub metrics: Vec<MetricSpec>,
    /// Our extension: resource limits of the container backends.
    #[serde(default)]
    pub resources: ResourceLimits,
}

/// Container limits a task asks for; `mlgym.make` parameters override them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceLimits {
    /// Memory, e.g. `512m` or `4g` (bytes without a suffix).
    #[serde(default)]
    pub memory: Option<String>,
    /// CPUs, e.g. `2` or `0.5`.
    #[serde(default)]
    pub cpus: Option<f64>,
    /// Maximum number of processes.
    #[serde(default)]
    pub pids: Option<i64>,
}

/// Parses a memory size: bytes, or a number with `k`, `m`, `g` or `t` (powers of 1024).
pub fn parse_memory(text: &str) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1i64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num.trim().parse().ok()?;
    (v > 0.0).then_some((v * mult as f64) as i64)
}

/// Fills `{dataset_docs}` the way Python's `str.format(dataset_docs=...)` would,
/// rejecting any other placeholder with a clear message.
pub fn render_description(template: &str, dataset_docs: &str) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + dataset_docs.len());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("{{") {
            out.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push('}');
            rest = after;
        } else if tail.starts_with('{') {
            let end = tail.find('}').ok_or("unmatched '{' in description")?;
            let field = &tail[1..end];
            if field == "dataset_docs" {
                out.push_str(dataset_docs);
            } else {
                return Err(format!(
                    "unknown placeholder {{{field}}} in description (only {{dataset_docs}} is filled; write literal braces as {{{{ and }}}})"
                ));
            }
            rest = &tail[end + 1..];
        } else {
            return Err("single '}' in description (write literal braces as }})".into());
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Builds `{dataset_docs}`: `NAME:\n<description>\n\n` per dataset.
pub fn dataset_docs(datasets: &[DatasetConfig]) -> String {
    datasets
        .iter()
        .map(|d| format!("{}:\n{}\n\n", d.name.to_uppercase(), d.description))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_dataset_docs_and_escaped_braces() {
        let r = render_description("A {{x}} {dataset_docs}end", "DOCS").unwrap();
        assert_eq!(r, "A {x} DOCSend");
        assert!(render_description("{other}", "")
            .unwrap_err()
            .contains("{other}"));
    }

    #[test]
    fn defaults_follow_mlgym() {
        let cfg: TaskConfig = serde_yaml::from_str("id: t\nname: T\ndescription: d\n").unwrap();
        assert_eq!(cfg.task_entrypoint, "CSVSubmissionTasks");
        assert!(cfg.use_generic_conda);
        assert!(cfg.training_timeout.is_none());
    }
}
