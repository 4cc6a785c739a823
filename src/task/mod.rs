//! Task and dataset configs, the registry of task ids, metric directions.

pub mod catalog;
pub mod config;
pub mod registry;

pub use catalog::{
    bench_task, BenchTask, MetricSource, PrimaryMetric, TaskInfo, TaskMetric, MLGYM_BENCH,
};
pub use config::{DatasetConfig, Direction, MetricSpec, TaskConfig};
pub use registry::{load_yaml, LoadedTask, TaskRegistry};

use std::path::PathBuf;

/// Errors of the task layer.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// No task with this id (or no such YAML file).
    #[error("{}", not_found_message(.id, .suggestions, .roots))]
    NotFound {
        /// What was asked for.
        id: String,
        /// Close matches among the known ids.
        suggestions: Vec<String>,
        /// Roots that were searched.
        roots: Vec<PathBuf>,
    },
    /// The YAML does not parse or does not fit the schema.
    #[error("malformed task config {}:{line}:{column}: {message}", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 if unknown).
        line: usize,
        /// 1-based column (0 if unknown).
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The YAML parses but refers to something that is not there.
    #[error("invalid task config {}: {message}", .path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

fn not_found_message(id: &str, suggestions: &[String], roots: &[PathBuf]) -> String {
    let mut msg = format!("unknown task '{id}'");
    if !suggestions.is_empty() {
        msg.push_str(&format!("; did you mean: {}?", suggestions.join(", ")));
    }
    let roots: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    msg.push_str(&format!(" (searched config roots: {})", roots.join(", ")));
    msg
}
