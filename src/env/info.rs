//! `info` of a reset or step, as trainers see it (README "info").

use super::outcome::{ExitStatus, Failure};
use crate::grading::Metrics;
use crate::shell::ShellState;
use crate::task::Direction;
use serde::Serialize;

/// `info` of a step or reset. It is a function of the seed and the actions: wall time
/// and the episode counter are attributes of the env instead.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    /// Task id.
    pub task: String,
    /// Shell state.
    pub state: StateInfo,
    /// Steps taken in this episode.
    pub step: u32,
    /// Steps left before autosubmission.
    pub remaining_steps: u32,
    /// Exit code of this step's command.
    pub exit_code: Option<i32>,
    /// Every metrics dict so far (validate and final).
    pub scores: Vec<Metrics>,
    /// This step's metrics, if it graded.
    pub metrics: Option<Metrics>,
    /// MLGym's exit status, once the episode ended.
    pub exit_status: Option<ExitStatus>,
    /// The submission artefact.
    pub submission: Option<String>,
    /// Whose fault a failure in this step was.
    pub failure: Option<Failure>,
    /// The baseline metrics.
    pub baseline: Option<Metrics>,
    /// Primary metric name.
    pub primary_metric: String,
    /// `maximize` or `minimize`.
    pub metric_direction: Direction,
    /// Normalised score of this step's grading.
    pub normalized_score: Option<f64>,
    /// Best normalised score so far.
    pub best_normalized_score: Option<f64>,
    /// The shell was restarted during this step.
    pub shell_restarted: bool,
    /// Seed of this episode's gradings.
    pub seed: u64,
    /// GPU ids leased to the env.
    pub gpus: Vec<String>,
    /// `local`, `docker` or `podman`.
    pub backend: &'static str,
    /// `sandbox`, or `none` for a local env made with `isolation="none"` (no sandbox).
    pub isolation: &'static str,
}

/// Shell state as `info["state"]`.
#[derive(Debug, Clone, Serialize)]
pub struct StateInfo {
    /// Open file or `n/a`.
    pub open_file: String,
    /// Working directory.
    pub working_dir: String,
}

impl From<&ShellState> for StateInfo {
    fn from(s: &ShellState) -> Self {
        Self {
            open_file: s.open_file.clone(),
            working_dir: s.working_dir.clone(),
        }
    }
}

/// What a step learned, before it becomes `info`.
#[derive(Debug, Clone, Default)]
pub(super) struct StepFacts {
    pub exit_code: Option<i32>,
    pub metrics: Option<Metrics>,
    pub normalized: Option<f64>,
    pub failure: Option<Failure>,
    pub shell_restarted: bool,
}
