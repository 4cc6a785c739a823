//! The episode state machine: reset, step, close; limits, grading, reward, `info`.

use crate::aci::{AciConfig, AciSession, GradingRequest, StepKind};
use crate::grading::{grade, Graded, GradingError, GradingOptions, Metrics};
use crate::pyrepr::metrics_repr;
use crate::sandbox::{
    ContainerConfig, ContainerSandbox, LocalSandbox, LocalSandboxConfig, Sandbox, SandboxError,
};
use crate::shell::{ShellError, ShellState, TimeoutKind};
use crate::task::config::parse_memory;
use crate::task::{Direction, LoadedTask, TaskError, TaskRegistry};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Errors of the env layer.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// Task loading failed.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// The sandbox failed.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The shell failed beyond recovery.
    #[error(transparent)]
    Shell(#[from] ShellError),
    /// `step` before the first `reset`.
    #[error("step() called before reset(): call reset() to start an episode")]
    NotReset,
    /// `step` after the episode ended.
    #[error("the episode is over (terminated or truncated): call reset() to start a new one")]
    EpisodeOver,
    /// Used after `close`.
    #[error("the environment is closed")]
    Closed,
    /// A bad argument.
    #[error("{0}")]
    InvalidArgument(String),
}

/// How rewards are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RewardMode {
    /// At the end of the episode: the normalised score of the final submission.
    Final,
    /// At each validate/submit: the increase of the best normalised score so far.
    Improvement,
    /// At the end of the episode: the raw primary metric of the final submission.
    Raw,
}

impl std::str::FromStr for RewardMode {
    type Err = EnvError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "final" => Ok(Self::Final),
            "improvement" => Ok(Self::Improvement),
            "raw" => Ok(Self::Raw),
            other => Err(EnvError::InvalidArgument(format!(
                "unknown reward mode '{other}': use 'final', 'improvement', 'raw' or a callable"
            ))),
        }
    }
}

/// Everything needed to build an env.
#[derive(Debug, Clone)]
pub struct EnvConfig {
    /// Task id or YAML path.
    pub task: String,
    /// Config roots searched for task ids (user roots first, the bundled one last).
    pub config_roots: Vec<PathBuf>,
    /// Steps before autosubmission.
    pub max_steps: u32,
    /// Reward mode.
    pub reward_mode: RewardMode,
    /// Reward of a final submission that could not be graded.
    pub failure_reward: f64,
    /// Observation cap (characters); `None` disables it.
    pub observation_limit: Option<usize>,
    /// Process environment of the shell and graders (PATH, ...).
    pub process_env: BTreeMap<String, String>,
    /// Shell variables set before the first action (MLGym's `env_variables`).
    pub shell_vars: Vec<(String, String)>,
    /// Interpreter that runs graders.
    pub python: String,
    /// Use this workspace directory instead of a fresh one.
    pub workspace: Option<PathBuf>,
    /// Override of the short timeout (s).
    pub short_timeout: Option<f64>,
    /// Override of the training timeout (s).
    pub long_timeout: Option<f64>,
    /// Override of the no-output timeout (s).
    pub no_output_timeout: Option<f64>,
    /// Run in a container (Docker or Podman) instead of the local sandbox.
    pub container: Option<ContainerConfig>,
}

impl EnvConfig {
    /// Defaults for a task.
    pub fn new(task: impl Into<String>) -> Self {
        Self {
            task: task.into(),
            config_roots: Vec::new(),
            max_steps: 50,
            reward_mode: RewardMode::Final,
            failure_reward: -1.0,
            observation_limit: Some(crate::aci::session::DEFAULT_OBSERVATION_LIMIT),
            process_env: BTreeMap::new(),
            shell_vars: Vec::new(),
            python: "python3".into(),
            workspace: None,
            short_timeout: None,
            long_timeout: None,
            no_output_timeout: None,
            container: None,
        }
    }
}

/// `info` of a step or reset (DESIGN.md §4).
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
    pub exit_status: Option<String>,
    /// The submission artefact.
    pub submission: Option<String>,
    /// `null`, `agent`, `timeout` or `infra`.
    pub failure: Option<&'static str>,
    /// The baseline metrics.
    pub baseline: Option<Metrics>,
    /// Primary metric name and direction.
    pub primary_metric: String,
    /// `maximize` or `minimize`.
    pub metric_direction: Direction,
    /// Normalised score of this step's grading.
    pub normalized_score: Option<f64>,
    /// Best normalised score so far.
    pub best_normalized_score: Option<f64>,
    /// The shell was restarted during this step.
    pub shell_restarted: bool,
    /// Wall time of the step in seconds.
    pub elapsed: f64,
    /// Seed of this episode's gradings.
    pub seed: u64,
    /// Episode counter of this env.
    pub episode: u64,
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

/// What `step` returns.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// Observation text.
    pub observation: String,
    /// Reward.
    pub reward: f64,
    /// The agent ended the episode (submit, forfeit, exit_*).
    pub terminated: bool,
    /// The step limit ended it.
    pub truncated: bool,
    /// Info.
    pub info: Info,
}

/// One environment: a task, a sandbox, a shell, an episode.
pub struct Env {
    config: EnvConfig,
    task: LoadedTask,
    sandbox: Option<Box<dyn Sandbox>>,
    aci: Option<AciSession>,
    step: u32,
    scores: Vec<Metrics>,
    best: Option<f64>,
    done: bool,
    closed: bool,
    seed: u64,
    episode: u64,
    exit_status: Option<String>,
    submission: Option<String>,
}

/// Score normalised against the baseline: 0 at the baseline, positive when better,
/// in units of the baseline's magnitude (plain difference when the baseline is 0).
pub fn normalize_score(score: f64, baseline: Option<f64>, direction: Direction) -> f64 {
    let signed = |d: f64| {
        if direction == Direction::Maximize {
            d
        } else {
            -d
        }
    };
    match baseline {
        Some(b) if b != 0.0 => signed(score - b) / b.abs(),
        Some(b) => signed(score - b),
        None => signed(score),
    }
}

fn random_seed() -> u64 {
    let mut bytes = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    u64::from_le_bytes(bytes) >> 1
}

const SPECIAL_EXITS: [&str; 5] = [
    "exit_context",
    "exit_cost",
    "exit_error",
    "exit_format",
    "exit_api",
];

impl Env {
    /// Loads the task; nothing starts until the first `reset`.
    pub fn new(config: EnvConfig) -> Result<Self, EnvError> {
        let registry = TaskRegistry::new(config.config_roots.clone());
        let task = registry.load(&config.task)?;
        if config.max_steps == 0 {
            return Err(EnvError::InvalidArgument(
                "max_steps must be at least 1".into(),
            ));
        }
        Ok(Self {
            config,
            task,
            sandbox: None,
            aci: None,
            step: 0,
            scores: Vec::new(),
            best: None,
            done: false,
            closed: false,
            seed: 0,
            episode: 0,
            exit_status: None,
            submission: None,
        })
    }

    /// The loaded task.
    pub fn task(&self) -> &LoadedTask {
        &self.task
    }

    /// The configuration.
    pub fn config(&self) -> &EnvConfig {
        &self.config
    }

    /// Workspace path (after the first reset).
    pub fn workspace(&self) -> Option<String> {
        self.sandbox.as_ref().map(|s| s.workspace())
    }

    fn aci_config(&self) -> AciConfig {
        let mut c = AciConfig::from_env(self.task.config.training_timeout);
        if let Some(s) = self.config.short_timeout {
            c.short_timeout = Duration::from_secs_f64(s);
        }
        if let Some(s) = self.config.long_timeout {
            c.long_timeout = Duration::from_secs_f64(s);
        }
        if let Some(s) = self.config.no_output_timeout {
            c.no_output_timeout = Duration::from_secs_f64(s);
        } else if self.config.long_timeout.is_some() {
            c.no_output_timeout = c.long_timeout;
        }
        c.observation_limit = self.config.observation_limit;
        c
    }

    /// Host folders holding the task's secret files: hidden from the agent's shell.
    fn secret_dirs(&self) -> Vec<PathBuf> {
        self.task
            .config
            .secret_files
            .iter()
            .filter_map(|rel| self.task.root.join(rel).parent().map(PathBuf::from))
            .collect()
    }

    fn workspace_entries(&self) -> Vec<(PathBuf, String, bool)> {
        let cfg = &self.task.config;
        let mut entries = Vec::new();
        for ds in &self.task.datasets {
            if ds.is_local {
                entries.push((self.task.root.join(&ds.data_path), "data".to_string(), true));
            }
        }
        for rel in &cfg.starter_code {
            let src = self.task.root.join(rel);
            let name = src
                .file_name()
                .map_or_else(|| rel.clone(), |n| n.to_string_lossy().into_owned());
            let read_only = cfg.evaluation_read_only && cfg.evaluation_paths.contains(&name);
            entries.push((src, name, read_only));
        }
        entries
    }

    fn create_sandbox(&self) -> Result<Box<dyn Sandbox>, EnvError> {
        let Some(container) = &self.config.container else {
            return Ok(Box::new(LocalSandbox::create(LocalSandboxConfig {
                workspace: self.config.workspace.clone(),
                env: self.config.process_env.clone(),
                hide_paths: self.secret_dirs(),
            })?));
        };
        let mut config = container.clone();
        let limits = &self.task.config.resources;
        if config.memory_bytes.is_none() {
            config.memory_bytes = limits.memory.as_deref().and_then(parse_memory);
        }
        config.cpus = config.cpus.or(limits.cpus);
        config.pids_limit = config.pids_limit.or(limits.pids);
        config
            .labels
            .insert("mlgym.task".into(), self.task.config.id.clone());
        config
            .labels
            .insert("mlgym.episode".into(), (self.episode + 1).to_string());
        for (k, v) in &self.config.process_env {
            config.env.entry(k.clone()).or_insert_with(|| v.clone());
        }
        Ok(Box::new(ContainerSandbox::create(&config)?))
    }

    /// Starts (first call) or restores (later calls) the sandbox and begins an episode.
    pub fn reset(&mut self, seed: Option<u64>) -> Result<(String, Info), EnvError> {
        if self.closed {
            return Err(EnvError::Closed);
        }
        let start = Instant::now();
        self.aci = None; // kills the previous episode's shell
        if self.sandbox.is_none() {
            self.sandbox = Some(self.create_sandbox()?);
        }
        let entries = self.workspace_entries();
        let sandbox = self.sandbox.as_mut().ok_or(EnvError::Closed)?;
        sandbox.populate_workspace(&entries)?;
        let ws = sandbox.workspace();
        let shell = crate::aci::start_shell(sandbox.shell_factory(), &ws, &self.config.shell_vars)?;
        self.aci = Some(AciSession::new(shell, self.aci_config()));
        self.step = 0;
        self.scores.clear();
        self.best = None;
        self.done = false;
        self.exit_status = None;
        self.submission = None;
        self.seed = seed.unwrap_or_else(random_seed);
        self.episode += 1;
        let state = self.aci.as_ref().map(|a| a.state()).unwrap_or_default();
        let mut info = self.info(&state, None, None, None, None);
        info.elapsed = start.elapsed().as_secs_f64();
        Ok((self.task.config.description.clone(), info))
    }

    fn info(
        &self,
        state: &ShellState,
        exit_code: Option<i32>,
        metrics: Option<Metrics>,
        normalized: Option<f64>,
        failure: Option<&'static str>,
    ) -> Info {
        let metric = self.task.primary_metric();
        Info {
            task: self.task.config.id.clone(),
            state: state.into(),
            step: self.step,
            remaining_steps: self.config.max_steps.saturating_sub(self.step),
            exit_code,
            scores: self.scores.clone(),
            metrics,
            exit_status: self.exit_status.clone(),
            submission: self.submission.clone(),
            failure,
            baseline: self.task.baseline_scores().cloned(),
            primary_metric: metric.name,
            metric_direction: metric.direction,
            normalized_score: normalized,
            best_normalized_score: self.best,
            shell_restarted: false,
            elapsed: 0.0,
            seed: self.seed,
            episode: self.episode,
        }
    }

    fn grade_now(&mut self) -> Result<Graded, GradingError> {
        let timeout = self
            .task
            .config
            .training_timeout
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(3600));
        let opts = GradingOptions {
            seed: self.seed,
            timeout,
            python: self.config.python.clone(),
            env: self.config.process_env.clone(),
        };
        let sandbox = self.sandbox.as_mut().ok_or(GradingError::NoEvaluation)?;
        grade(sandbox.as_mut(), &self.task, &opts)
    }

    fn normalized(&self, metrics: &Metrics) -> Option<f64> {
        let metric = self.task.primary_metric();
        metrics
            .get(&metric.name)
            .map(|v| normalize_score(*v, self.task.baseline(), metric.direction))
    }

    /// Records a successful grading; returns (normalised score, improvement of the best).
    fn record(&mut self, graded: &Graded) -> (Option<f64>, f64) {
        self.scores.push(graded.metrics.clone());
        let norm = self.normalized(&graded.metrics);
        let mut gain = 0.0;
        if let Some(n) = norm {
            let prev = self.best.unwrap_or(0.0);
            if n > prev {
                gain = n - prev;
            }
            self.best = Some(self.best.map_or(n, |b| b.max(n)));
        }
        (norm, gain)
    }

    /// Ends the episode by grading the workspace as the final submission.
    /// Returns (observation, reward, metrics, normalised, failure).
    fn finish(
        &mut self,
        reason: &str,
    ) -> (
        String,
        f64,
        Option<Metrics>,
        Option<f64>,
        Option<&'static str>,
    ) {
        self.done = true;
        let result = self.grade_now();
        match result {
            Ok(graded) => {
                let (norm, gain) = self.record(&graded);
                self.submission = Some(graded.submission.clone());
                self.exit_status = Some(if reason == "submit" {
                    "submitted".to_string()
                } else {
                    format!("autosubmission ({reason})")
                });
                let raw = graded
                    .metrics
                    .get(&self.task.primary_metric().name)
                    .copied();
                let reward = match self.config.reward_mode {
                    RewardMode::Final => norm.unwrap_or(self.config.failure_reward),
                    RewardMode::Improvement => gain,
                    RewardMode::Raw => raw.unwrap_or(self.config.failure_reward),
                };
                (
                    format!("Exited ({reason})"),
                    reward,
                    Some(graded.metrics),
                    norm,
                    None,
                )
            }
            Err(err) => {
                self.exit_status = Some(format!("{} ({reason})", err.exit_status_prefix()));
                let failure = if err.is_infra() { "infra" } else { "agent" };
                let reward = match self.config.reward_mode {
                    RewardMode::Improvement => 0.0,
                    _ => self.config.failure_reward,
                };
                let obs = format!("Exited ({reason})");
                tracing::info!(error = %err, "final evaluation failed");
                (obs, reward, None, None, Some(failure))
            }
        }
    }

    fn validate_observation(&self, graded: &Graded) -> String {
        let baseline = self
            .task
            .baseline_scores()
            .map_or_else(|| "NA (no baseline was there)".to_string(), metrics_repr);
        format!(
            "Your code produced a valid submission artefact at {}.\nBaseline Score: {baseline}\nEvaluation Score: {}",
            graded.submission,
            metrics_repr(&graded.metrics)
        )
        .trim()
        .to_string()
    }

    /// Runs one agent action.
    pub fn step(&mut self, action: &str) -> Result<StepResult, EnvError> {
        if self.closed {
            return Err(EnvError::Closed);
        }
        if self.aci.is_none() {
            return Err(EnvError::NotReset);
        }
        if self.done {
            return Err(EnvError::EpisodeOver);
        }
        let start = Instant::now();
        self.step += 1;
        let trimmed = action.trim();
        let special = match trimmed {
            "skip" => Some(("Skipped".to_string(), "skipped")),
            "exit_forfeit" => Some(("Exited (exit_forfeit)".to_string(), "exit_forfeit")),
            _ => None,
        };
        if let Some((obs, status)) = special {
            self.done = true;
            self.exit_status = Some(status.to_string());
            let reward = match self.config.reward_mode {
                RewardMode::Improvement => 0.0,
                _ => self.config.failure_reward,
            };
            let state = self.aci.as_ref().map(|a| a.state()).unwrap_or_default();
            let mut info = self.info(&state, None, None, None, Some("agent"));
            info.elapsed = start.elapsed().as_secs_f64();
            return Ok(StepResult {
                observation: obs,
                reward,
                terminated: true,
                truncated: false,
                info,
            });
        }
        if SPECIAL_EXITS.contains(&trimmed) {
            let (obs, reward, metrics, norm, failure) = self.finish(trimmed);
            let state = self.aci.as_ref().map(|a| a.state()).unwrap_or_default();
            let mut info = self.info(&state, None, metrics, norm, failure);
            info.elapsed = start.elapsed().as_secs_f64();
            return Ok(StepResult {
                observation: obs,
                reward,
                terminated: true,
                truncated: false,
                info,
            });
        }
        let aci = self.aci.as_mut().ok_or(EnvError::NotReset)?;
        let out = aci.run(action)?;
        let mut observation = out.observation.clone();
        let mut reward = 0.0;
        let mut terminated = false;
        let mut truncated = false;
        let mut metrics = None;
        let mut norm = None;
        let mut failure = match out.timed_out {
            Some(TimeoutKind::Total | TimeoutKind::NoOutput) => Some("timeout"),
            None => None,
        };
        match out.grading {
            Some(GradingRequest::Validate) if out.kind == StepKind::Shell => {
                match self.grade_now() {
                    Ok(graded) => {
                        observation = self.validate_observation(&graded);
                        let (n, gain) = self.record(&graded);
                        if self.config.reward_mode == RewardMode::Improvement {
                            reward = gain;
                        }
                        norm = n;
                        metrics = Some(graded.metrics);
                    }
                    Err(
                        err @ (GradingError::SubmissionNotFound
                        | GradingError::EvaluationFormat { .. }),
                    ) => {
                        observation = err.to_string();
                    }
                    Err(err) => {
                        if err.is_infra() {
                            failure = Some("infra");
                        }
                        observation = format!("Error: {err}");
                    }
                }
            }
            Some(GradingRequest::Submit) if out.kind == StepKind::Shell => {
                let (obs, r, m, n, f) = self.finish("submit");
                observation = obs;
                reward = r;
                metrics = m;
                norm = n;
                failure = f.or(failure);
                terminated = true;
            }
            _ => {}
        }
        if !terminated && self.step >= self.config.max_steps {
            let (obs, r, m, n, f) = self.finish("max_steps");
            observation = format!("{observation}\n{obs}").trim_start().to_string();
            reward = r;
            metrics = m.or(metrics);
            norm = n.or(norm);
            failure = f.or(failure);
            truncated = true;
        }
        let mut info = self.info(&out.state, out.exit_code, metrics, norm, failure);
        info.shell_restarted = out.shell_restarted.is_some();
        info.elapsed = start.elapsed().as_secs_f64();
        Ok(StepResult {
            observation,
            reward,
            terminated,
            truncated,
            info,
        })
    }

    /// Stops the shell and the sandbox. Idempotent.
    pub fn close(&mut self) {
        self.aci = None;
        if let Some(mut sandbox) = self.sandbox.take() {
            sandbox.stop();
        }
        self.closed = true;
    }

    /// True after `close`.
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalize_score(2.0, Some(1.0), Direction::Maximize), 1.0);
        assert_eq!(normalize_score(0.5, Some(1.0), Direction::Minimize), 0.5);
        assert!((normalize_score(0.0, Some(-0.25), Direction::Maximize) - 1.0).abs() < 1e-12);
        assert_eq!(normalize_score(3.0, None, Direction::Maximize), 3.0);
    }
}
