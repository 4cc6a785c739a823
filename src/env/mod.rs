//! The episode state machine: reset, step, close; limits, grading, reward, `info`.
//!
//! Submodules: [`options`] (every option and default), [`outcome`] (typed endings and
//! the reward rule), [`info`] (what `info` holds), [`ports`] (where sandboxes and
//! consoles come from, so tests can inject fakes).

pub mod info;
pub mod options;
pub mod outcome;
pub mod ports;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use info::{Info, StateInfo};
pub use options::{ContainerRequest, EnvOptions};
pub use outcome::{
    reward, ExitStatus, Failure, FinalReason, Finish, RewardEvent, RewardMode, SpecialExit,
    EXIT_ACTIONS,
};
pub use ports::{Console, HostSandboxes, SandboxFactory, SandboxSpec};

use crate::aci::{GradingRequest, StepKind};
use crate::gpu::{GpuError, GpuInventory, GpuLease};
use crate::grading::{grade, Graded, GradingError, GradingOptions, Metrics};
use crate::pyrepr::metrics_repr;
use crate::sandbox::{Sandbox, SandboxError};
use crate::shell::{ShellError, ShellState, TimeoutKind};
use crate::task::{Direction, LoadedTask, TaskError, TaskRegistry};
use info::StepFacts;
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
    /// The GPUs asked for could not be leased.
    #[error(transparent)]
    Gpu(#[from] GpuError),
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

/// What the agent's action is, before anything runs.
enum Action {
    Skip,
    Forfeit,
    Exit(SpecialExit),
    Command,
}

impl Action {
    fn classify(action: &str) -> Self {
        match action.trim() {
            "skip" => Self::Skip,
            "exit_forfeit" => Self::Forfeit,
            other => SpecialExit::parse(other).map_or(Self::Command, Self::Exit),
        }
    }
}

/// A step's result while it is being decided; `info` is built once, at the end.
struct Draft {
    observation: String,
    reward: f64,
    terminated: bool,
    truncated: bool,
}

/// Grader time limit when the task sets no training timeout.
const DEFAULT_GRADING_TIMEOUT: Duration = Duration::from_secs(3600);

/// One environment: a task, a sandbox, a console, an episode.
pub struct Env {
    options: EnvOptions,
    task: LoadedTask,
    sandboxes: Box<dyn SandboxFactory>,
    gpu_lease: Option<GpuLease>,
    gpus: Vec<String>,
    process_env: std::collections::BTreeMap<String, String>,
    /// Keys the opponents' randomness in every grading of this env (never shown).
    grading_key: String,
    sandbox: Option<Box<dyn Sandbox>>,
    console: Option<Box<dyn Console>>,
    step: u32,
    scores: Vec<Metrics>,
    best: Option<f64>,
    done: bool,
    closed: bool,
    seed: u64,
    episode: u64,
    exit_status: Option<ExitStatus>,
    submission: Option<String>,
    last_elapsed: Duration,
}

impl Env {
    /// Loads the task and leases the GPUs asked for; nothing starts until the first
    /// `reset`. Sandboxes are the real ones of `options.container`.
    pub fn new(options: EnvOptions) -> Result<Self, EnvError> {
        let sandboxes = HostSandboxes::for_options(&options);
        sandboxes.check_available()?;
        Self::with_sandboxes(options, Box::new(sandboxes), &mut || false)
    }

    /// Like [`Env::new`] with a given sandbox factory; `cancelled` is asked between
    /// attempts while waiting for busy GPUs.
    pub fn with_sandboxes(
        options: EnvOptions,
        sandboxes: Box<dyn SandboxFactory>,
        cancelled: &mut dyn FnMut() -> bool,
    ) -> Result<Self, EnvError> {
        options.validate()?;
        let task = TaskRegistry::new(options.config_roots.clone()).load(&options.task)?;
        let gpu_lease = if options.gpus.is_empty() {
            None
        } else {
            Some(GpuLease::acquire_in(
                &GpuInventory::detect(),
                &crate::gpu::lock_dir_from_env(),
                options.gpus.clone(),
                options.gpu_wait,
                cancelled,
            )?)
        };
        let gpus = gpu_lease
            .as_ref()
            .map_or_else(Vec::new, |l| l.ids().to_vec());
        let process_env = options.resolved_process_env(&|k| std::env::var(k).ok(), &gpus);
        let grading_key = match &options.grading_key {
            Some(key) => key.clone(),
            None => os_random(|| {
                crate::sys::random::random_hex_from(
                    std::path::Path::new(crate::sys::random::OS_RANDOM_SOURCE),
                    GRADING_KEY_BYTES,
                )
            })?,
        };
        Ok(Self {
            options,
            task,
            sandboxes,
            gpu_lease,
            gpus,
            process_env,
            grading_key,
            sandbox: None,
            console: None,
            step: 0,
            scores: Vec::new(),
            best: None,
            done: false,
            closed: false,
            seed: 0,
            episode: 0,
            exit_status: None,
            submission: None,
            last_elapsed: Duration::ZERO,
        })
    }

    /// The loaded task.
    pub fn task(&self) -> &LoadedTask {
        &self.task
    }

    /// The options the env was built with.
    pub fn options(&self) -> &EnvOptions {
        &self.options
    }

    /// Workspace path as the agent sees it (after the first reset).
    pub fn workspace(&self) -> Option<String> {
        self.sandbox.as_ref().map(|s| s.workspace())
    }

    /// The workspace folder on this host (after the first reset).
    pub fn workspace_on_host(&self) -> Option<PathBuf> {
        self.sandbox.as_ref().map(|s| s.workspace_on_host())
    }

    /// GPU ids leased to this env.
    pub fn gpus(&self) -> &[String] {
        &self.gpus
    }

    /// Episodes started so far (1 after the first reset).
    pub fn episode(&self) -> u64 {
        self.episode
    }

    /// Wall time of the last reset or step.
    pub fn last_elapsed(&self) -> Duration {
        self.last_elapsed
    }

    /// The process environment of the agent's shell and graders.
    pub fn process_env(&self) -> &std::collections::BTreeMap<String, String> {
        &self.process_env
    }

    /// Host folders holding the task's secret files, hidden from the agent's shell: each
    /// file's folder, and the top folder of the task tree they are in (`tasks/`, where
    /// every other task's secrets are too, e.g. inside an installed wheel).
    fn secret_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        for rel in &self.task.config.secret_files {
            let path = self.task.root.join(rel);
            if let Some(parent) = path.parent() {
                dirs.push(parent.to_path_buf());
            }
            let mut parts = std::path::Path::new(rel).components();
            if let (Some(top), Some(_), Some(_)) = (parts.next(), parts.next(), parts.next()) {
                dirs.push(self.task.root.join(top));
            }
        }
        dirs
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

    /// Starts (first call) or restores (later calls) the sandbox and begins an episode.
    pub fn reset(&mut self, seed: Option<u64>) -> Result<(String, Info), EnvError> {
        if self.closed {
            return Err(EnvError::Closed);
        }
        let start = Instant::now();
        self.console = None; // ends the previous episode's shell
        if self.sandbox.is_none() {
            let spec = SandboxSpec {
                task: &self.task,
                episode: self.episode + 1,
                process_env: &self.process_env,
                hide_paths: self.secret_dirs(),
                workspace: self.options.workspace.clone(),
                gpus: &self.gpus,
            };
            self.sandbox = Some(self.sandboxes.create(&spec)?);
        }
        let entries = self.workspace_entries();
        let aci = self.options.aci_config(&self.task);
        let sandbox = self.sandbox.as_mut().ok_or(EnvError::Closed)?;
        sandbox.populate_workspace(&entries)?;
        let console =
            self.sandboxes
                .start_console(sandbox.as_mut(), &self.options.shell_vars, aci)?;
        self.console = Some(console);
        self.step = 0;
        self.scores.clear();
        self.best = None;
        self.done = false;
        self.exit_status = None;
        self.submission = None;
        self.seed = match seed {
            Some(s) => s,
            None => random_seed()?,
        };
        self.episode += 1;
        let info = self.info(&self.console_state(), StepFacts::default());
        self.last_elapsed = start.elapsed();
        Ok((self.task.config.description.clone(), info))
    }

    fn console_state(&self) -> ShellState {
        self.console.as_ref().map(|c| c.state()).unwrap_or_default()
    }

    fn info(&self, state: &ShellState, facts: StepFacts) -> Info {
        let metric = self.task.primary_metric();
        Info {
            task: self.task.config.id.clone(),
            state: state.into(),
            step: self.step,
            remaining_steps: self.options.max_steps.saturating_sub(self.step),
            exit_code: facts.exit_code,
            scores: self.scores.clone(),
            metrics: facts.metrics,
            exit_status: self.exit_status.clone(),
            submission: self.submission.clone(),
            failure: facts.failure,
            baseline: self.task.baseline_scores().cloned(),
            primary_metric: metric.name,
            metric_direction: metric.direction,
            normalized_score: facts.normalized,
            best_normalized_score: self.best,
            shell_restarted: facts.shell_restarted,
            seed: self.seed,
            gpus: self.gpus.clone(),
            backend: self.options.backend_name(),
            isolation: self.options.isolation_name(),
        }
    }

    fn grade_now(&mut self) -> Result<Graded, GradingError> {
        let timeout = self
            .task
            .config
            .training_timeout
            .map_or(DEFAULT_GRADING_TIMEOUT, Duration::from_secs);
        let opts = GradingOptions {
            seed: self.seed,
            timeout,
            python: self.options.resolved_grader_python(),
            env: grader_extra_env(&self.process_env),
            key: self.grading_key.clone(),
        };
        let sandbox = self.sandbox.as_mut().ok_or(GradingError::NoEvaluation)?;
        grade(sandbox.as_mut(), &self.task, &opts)
    }

    /// Records a successful grading; returns (normalised score, rise of the best).
    fn record(&mut self, graded: &Graded) -> (Option<f64>, f64) {
        self.scores.push(graded.metrics.clone());
        let metric = self.task.primary_metric();
        let norm = graded
            .metrics
            .get(&metric.name)
            .map(|v| normalize_score(*v, self.task.baseline(), metric.direction));
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
    fn finish(&mut self, reason: FinalReason) -> Finish {
        self.done = true;
        let observation = format!("Exited ({})", reason.as_str());
        match self.grade_now() {
            Ok(graded) => {
                let (normalized, gain) = self.record(&graded);
                self.submission = Some(graded.submission.clone());
                self.exit_status = Some(match reason {
                    FinalReason::Submit => ExitStatus::Submitted,
                    other => ExitStatus::Autosubmission(other),
                });
                let raw = graded
                    .metrics
                    .get(&self.task.primary_metric().name)
                    .copied();
                let event = RewardEvent::Graded {
                    normalized,
                    raw,
                    gain,
                };
                Finish {
                    observation,
                    reward: self.reward_for(event),
                    metrics: Some(graded.metrics),
                    normalized,
                    failure: None,
                }
            }
            Err(err) => {
                tracing::info!(error = %err, "final evaluation failed");
                self.exit_status = Some(ExitStatus::GradingFailed {
                    prefix: err.exit_status_prefix(),
                    reason,
                });
                Finish {
                    observation,
                    reward: self.reward_for(RewardEvent::Ungraded),
                    metrics: None,
                    normalized: None,
                    failure: Some(grading_failure(&err)),
                }
            }
        }
    }

    fn reward_for(&self, event: RewardEvent) -> f64 {
        reward(self.options.reward_mode, event, self.options.failure_reward)
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

    fn ensure_running(&self) -> Result<(), EnvError> {
        if self.closed {
            return Err(EnvError::Closed);
        }
        if self.console.is_none() {
            return Err(EnvError::NotReset);
        }
        if self.done {
            return Err(EnvError::EpisodeOver);
        }
        Ok(())
    }

    /// Runs one agent action.
    pub fn step(&mut self, action: &str) -> Result<StepResult, EnvError> {
        self.ensure_running()?;
        let start = Instant::now();
        self.step += 1;
        let result = match Action::classify(action) {
            Action::Skip => self.end_ungraded(ExitStatus::Skipped, "Skipped"),
            Action::Forfeit => self.end_ungraded(ExitStatus::Forfeited, "Exited (exit_forfeit)"),
            Action::Exit(exit) => self.end_by_exit(exit),
            Action::Command => self.run_command(action)?,
        };
        self.last_elapsed = start.elapsed();
        Ok(result)
    }

    /// `skip` and `exit_forfeit`: the episode ends with nothing graded.
    fn end_ungraded(&mut self, status: ExitStatus, observation: &str) -> StepResult {
        self.done = true;
        self.exit_status = Some(status);
        let facts = StepFacts {
            failure: Some(Failure::Agent),
            ..StepFacts::default()
        };
        StepResult {
            observation: observation.to_string(),
            reward: self.reward_for(RewardEvent::Ungraded),
            terminated: true,
            truncated: false,
            info: self.info(&self.console_state(), facts),
        }
    }

    /// A special exit: the workspace is graded as the final submission.
    fn end_by_exit(&mut self, exit: SpecialExit) -> StepResult {
        let finish = self.finish(FinalReason::Exit(exit));
        let facts = StepFacts {
            metrics: finish.metrics,
            normalized: finish.normalized,
            failure: finish.failure,
            ..StepFacts::default()
        };
        StepResult {
            observation: finish.observation,
            reward: finish.reward,
            terminated: true,
            truncated: false,
            info: self.info(&self.console_state(), facts),
        }
    }

    /// An action for the console, then validate/submit and the step limit.
    fn run_command(&mut self, action: &str) -> Result<StepResult, EnvError> {
        let console = self.console.as_mut().ok_or(EnvError::NotReset)?;
        let out = console.run(action)?;
        let mut result = Draft {
            observation: out.observation,
            reward: 0.0,
            terminated: false,
            truncated: false,
        };
        let mut facts = StepFacts {
            exit_code: out.exit_code,
            shell_restarted: out.shell_restarted.is_some(),
            failure: match out.timed_out {
                Some(TimeoutKind::Total | TimeoutKind::NoOutput) => Some(Failure::Timeout),
                None => None,
            },
            ..StepFacts::default()
        };
        let ran = out.kind == StepKind::Shell;
        match out.grading {
            Some(GradingRequest::Validate) if ran => self.validate(&mut result, &mut facts),
            Some(GradingRequest::Submit) if ran => {
                let finish = self.finish(FinalReason::Submit);
                result.observation = finish.observation;
                result.reward = finish.reward;
                facts.metrics = finish.metrics;
                facts.normalized = finish.normalized;
                facts.failure = finish.failure.or(facts.failure);
                result.terminated = true;
            }
            _ => {}
        }
        if !result.terminated && self.step >= self.options.max_steps {
            let finish = self.finish(FinalReason::MaxSteps);
            result.observation = format!("{}\n{}", result.observation, finish.observation)
                .trim_start()
                .to_string();
            result.reward = finish.reward;
            facts.metrics = finish.metrics.or(facts.metrics);
            facts.normalized = finish.normalized.or(facts.normalized);
            facts.failure = finish.failure.or(facts.failure);
            result.truncated = true;
        }
        Ok(StepResult {
            observation: result.observation,
            reward: result.reward,
            terminated: result.terminated,
            truncated: result.truncated,
            info: self.info(&out.state, facts),
        })
    }

    /// `validate`: grade the workspace without ending the episode.
    fn validate(&mut self, result: &mut Draft, facts: &mut StepFacts) {
        match self.grade_now() {
            Ok(graded) => {
                result.observation = self.validate_observation(&graded);
                let (normalized, gain) = self.record(&graded);
                result.reward = self.reward_for(RewardEvent::Validated { gain });
                facts.normalized = normalized;
                facts.metrics = Some(graded.metrics);
            }
            // The agent's own mistakes are shown in MLGym's words.
            Err(
                err @ (GradingError::SubmissionNotFound | GradingError::EvaluationFormat { .. }),
            ) => result.observation = err.to_string(),
            Err(err) => {
                if err.is_infra() {
                    facts.failure = Some(Failure::Infra);
                }
                result.observation = format!("Error: {err}");
            }
        }
    }

    /// Stops the console and the sandbox and frees the GPUs. Idempotent.
    pub fn close(&mut self) {
        self.console = None;
        if let Some(mut sandbox) = self.sandbox.take() {
            sandbox.stop();
        }
        if let Some(mut lease) = self.gpu_lease.take() {
            lease.release();
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

/// Whose fault a failed final grading was.
fn grading_failure(err: &GradingError) -> Failure {
    if err.is_infra() {
        Failure::Infra
    } else {
        Failure::Agent
    }
}

/// Bytes of the per-env key of the opponents' randomness.
const GRADING_KEY_BYTES: usize = 16;

/// What of the agent's process environment a grader also gets: the GPUs it may use.
fn grader_extra_env(
    process_env: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeMap<String, String> {
    process_env
        .iter()
        .filter(|(k, _)| k.as_str() == "CUDA_VISIBLE_DEVICES")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A value drawn from the OS's random source, its failure as an env error.
fn os_random<T>(draw: impl FnOnce() -> std::io::Result<T>) -> Result<T, EnvError> {
    draw().map_err(|source| {
        EnvError::Sandbox(SandboxError::Io {
            action: "read randomness from",
            path: crate::sys::random::OS_RANDOM_SOURCE.into(),
            source,
        })
    })
}

/// A seed for an episode whose caller gave none.
fn random_seed() -> Result<u64, EnvError> {
    os_random(crate::sys::random::random_u64).map(|v| v >> 1)
}
