//! One agent action in, one observation out.

use super::actions::{
    blocked_command, blocked_message, grading_request, guard_multiline_input, is_long_running,
    is_malformed_edit, GradingRequest, MALFORMED_EDIT_MESSAGE,
};
use super::normalize::{cap_observation, normalize_output};
use crate::shell::{CommandLimits, ShellError, ShellSession, ShellState, TimeoutKind};
use std::time::Duration;

/// Limits and output policy of an ACI session.
#[derive(Debug, Clone)]
pub struct AciConfig {
    /// Timeout of ordinary commands (`MLGYM_AGENT_SHORT_TIMEOUT`, 25 s).
    pub short_timeout: Duration,
    /// Timeout of training commands (the task's `training_timeout`, else
    /// `MLGYM_AGENT_LONG_TIMEOUT`, 3600 s).
    pub long_timeout: Duration,
    /// Longest silence (`MLGYM_AGENT_ACTION_NO_OUTPUT_TIMEOUT`, default the long timeout).
    pub no_output_timeout: Duration,
    /// Observation cap in characters (head and tail kept); `None` turns it off.
    pub observation_limit: Option<usize>,
}

impl AciConfig {
    /// MLGym's defaults, overridden by its environment variables (read through
    /// [`crate::settings::Settings`]).
    pub fn from_env(training_timeout: Option<u64>) -> Self {
        Self::from_settings(&crate::settings::Settings::from_env(), training_timeout)
    }

    /// The configuration `settings` give, with the task's `training_timeout` (seconds)
    /// as the long timeout when it has one.
    pub fn from_settings(
        settings: &crate::settings::Settings,
        training_timeout: Option<u64>,
    ) -> Self {
        Self {
            short_timeout: settings.agent_short_timeout,
            long_timeout: training_timeout
                .map(Duration::from_secs)
                .unwrap_or(settings.agent_long_timeout),
            no_output_timeout: settings.agent_no_output_timeout,
            observation_limit: Some(DEFAULT_OBSERVATION_LIMIT),
        }
    }
}

/// Default observation cap: above MLGym's p99 observation (26k characters), far below
/// its 1.8 MB maximum.
pub const DEFAULT_OBSERVATION_LIMIT: usize = 50_000;

/// How a step was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// The shell ran it.
    Shell,
    /// Rejected by the malformed-edit check.
    MalformedEdit,
    /// Rejected by the blocklist.
    Blocked,
    /// Rejected before the shell (empty, NUL bytes).
    Rejected,
}

/// The result of one action.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// The observation the agent sees.
    pub observation: String,
    /// Exit code of the command (`None` if it did not finish normally or did not run).
    pub exit_code: Option<i32>,
    /// State after the step.
    pub state: ShellState,
    /// How the step was answered.
    pub kind: StepKind,
    /// Which limit was hit, if any.
    pub timed_out: Option<TimeoutKind>,
    /// Exit status of a shell that died during the step (and was restarted).
    pub shell_restarted: Option<i32>,
    /// A `validate` or `submit` marker in the output.
    pub grading: Option<GradingRequest>,
    /// Round-trip time.
    pub elapsed: Duration,
}

/// Formats seconds as MLGym prints its timeouts (integers without a fraction).
fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

/// An ACI session over a persistent shell.
pub struct AciSession {
    shell: ShellSession,
    config: AciConfig,
}

impl AciSession {
    /// Wraps a started shell.
    pub fn new(shell: ShellSession, config: AciConfig) -> Self {
        Self { shell, config }
    }

    /// The state after the last step.
    pub fn state(&self) -> ShellState {
        self.shell.state().clone()
    }

    fn answered(&mut self, observation: String, kind: StepKind) -> StepOutput {
        if kind != StepKind::Rejected {
            self.shell.note_env_step();
        }
        StepOutput {
            observation,
            exit_code: None,
            state: self.shell.state().clone(),
            kind,
            timed_out: None,
            shell_restarted: None,
            grading: None,
            elapsed: Duration::ZERO,
        }
    }

    /// Runs one action exactly as the agent wrote it.
    pub fn run(&mut self, action: &str) -> Result<StepOutput, ShellError> {
        if action.contains('\0') {
            return Ok(self.answered(
                "Your command contains a NUL byte, which a shell cannot run. It was not executed."
                    .into(),
                StepKind::Rejected,
            ));
        }
        let run_action = guard_multiline_input(action);
        if run_action.is_empty() {
            return Ok(self.answered(
                "Your command was empty. Send a shell command or one of the interface commands."
                    .into(),
                StepKind::Rejected,
            ));
        }
        if is_malformed_edit(&run_action) {
            return Ok(self.answered(MALFORMED_EDIT_MESSAGE.into(), StepKind::MalformedEdit));
        }
        if let Some(name) = blocked_command(&run_action) {
            return Ok(self.answered(blocked_message(&name), StepKind::Blocked));
        }
        let timeout = if is_long_running(&run_action) {
            self.config.long_timeout
        } else {
            self.config.short_timeout
        };
        let limits = CommandLimits {
            timeout,
            no_output_timeout: self
                .config
                .no_output_timeout
                .min(timeout)
                .max(Duration::from_millis(1)),
        };
        let outcome = self.shell.run(&run_action, limits)?;
        let mut observation = normalize_output(&outcome.raw, outcome.exit_code);
        match outcome.timed_out {
            Some(TimeoutKind::Total) => observation.push_str(&format!(
                "\nEXECUTION TIMED OUT BECAUSE THE COMMAND WAS RUNNING FOR MORE THAN {} SECONDS.",
                secs(limits.timeout)
            )),
            Some(TimeoutKind::NoOutput) => observation.push_str(&format!(
                "\nEXECUTION TIMED OUT BECAUSE NO OUTPUT WAS PRODUCED FOR MORE THAN {} SECONDS.\nPLEASE REFINE YOUR RUNNING COMMAND SO IT WILL PRODUCE OUTPUT IN THE SPECIFIED TIME FRAME.",
                secs(limits.no_output_timeout)
            )),
            None => {}
        }
        if let Some(reason) = &outcome.restart_reason {
            observation.push_str(&format!(
                "\nTHE SHELL WAS RESTARTED in {} because it could no longer run commands ({reason}); exported variables and the open file were restored.",
                outcome.state.working_dir
            ));
        } else if let Some(status) = outcome.shell_restarted {
            observation.push_str(&format!(
                "\nTHE SHELL EXITED (status {status}) AND WAS RESTARTED in {}; exported variables and the open file were restored.",
                outcome.state.working_dir
            ));
        }
        let grading = grading_request(&observation);
        if let Some(limit) = self.config.observation_limit {
            observation = cap_observation(observation, limit);
        }
        Ok(StepOutput {
            observation,
            exit_code: outcome.exit_code,
            state: outcome.state,
            kind: StepKind::Shell,
            timed_out: outcome.timed_out,
            shell_restarted: outcome.shell_restarted,
            grading,
            elapsed: outcome.elapsed,
        })
    }
}
