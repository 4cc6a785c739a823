//! Typed outcomes of an episode: why it ended, whose fault a failure was, and the one
//! rule that turns an outcome into a reward.

use crate::grading::Metrics;
use serde::{Serialize, Serializer};

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

impl RewardMode {
    /// Parses `final`, `improvement` or `raw`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "final" => Some(Self::Final),
            "improvement" => Some(Self::Improvement),
            "raw" => Some(Self::Raw),
            _ => None,
        }
    }
}

/// Whose fault a failed step or episode was, so trainers can mask platform failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Failure {
    /// The agent's doing: no submission, a broken one, a forfeit.
    Agent,
    /// A command or the grader ran past its limit.
    Timeout,
    /// The platform failed (sandbox, engine, randomness).
    Infra,
}

/// The actions by which an agent loop ends an episode early and has the workspace
/// graded as the final submission (MLGym's autosubmission exits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecialExit {
    /// The context window is full.
    Context,
    /// The cost budget is spent.
    Cost,
    /// The agent loop hit an error.
    Error,
    /// Too many malformed replies.
    Format,
    /// The model API failed.
    Api,
}

impl SpecialExit {
    /// Every special exit, in MLGym's order.
    pub const ALL: [Self; 5] = [
        Self::Context,
        Self::Cost,
        Self::Error,
        Self::Format,
        Self::Api,
    ];

    /// The action text (`exit_context`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Context => "exit_context",
            Self::Cost => "exit_cost",
            Self::Error => "exit_error",
            Self::Format => "exit_format",
            Self::Api => "exit_api",
        }
    }

    /// Recognises an action (surrounding white space ignored).
    pub fn parse(action: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == action.trim())
    }
}

/// Every action the env treats specially rather than running in the shell: the special
/// exits, `exit_forfeit` and `skip`. `submit` and `validate` are shell commands.
pub const EXIT_ACTIONS: [&str; 7] = [
    "exit_context",
    "exit_cost",
    "exit_error",
    "exit_format",
    "exit_api",
    "exit_forfeit",
    "skip",
];

/// What made the final grading happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalReason {
    /// The agent ran `submit`.
    Submit,
    /// The step limit was reached.
    MaxSteps,
    /// The agent loop sent a special exit.
    Exit(SpecialExit),
}

impl FinalReason {
    /// MLGym's name for the reason, as it appears in exit statuses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::MaxSteps => "max_steps",
            Self::Exit(e) => e.as_str(),
        }
    }
}

/// How an episode ended, in MLGym's exit-status vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitStatus {
    /// `submit` was graded.
    Submitted,
    /// The step limit or a special exit was graded: `autosubmission (<reason>)`.
    Autosubmission(FinalReason),
    /// The final grading failed: `<prefix> (<reason>)`, the prefix from the grading error.
    GradingFailed {
        /// MLGym's prefix (`submission_not_found`, `evaluation_format_error`, ...).
        prefix: &'static str,
        /// What asked for the grading.
        reason: FinalReason,
    },
    /// The agent skipped the task.
    Skipped,
    /// The agent gave up.
    Forfeited,
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Submitted => f.write_str("submitted"),
            Self::Autosubmission(r) => write!(f, "autosubmission ({})", r.as_str()),
            Self::GradingFailed { prefix, reason } => write!(f, "{prefix} ({})", reason.as_str()),
            Self::Skipped => f.write_str("skipped"),
            Self::Forfeited => f.write_str("exit_forfeit"),
        }
    }
}

impl Serialize for ExitStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A grading event, as far as rewards are concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RewardEvent {
    /// A `validate` succeeded; `gain` is the rise of the best normalised score.
    Validated {
        /// Rise of the best normalised score (0 when it did not rise).
        gain: f64,
    },
    /// The final submission was graded.
    Graded {
        /// Its normalised primary metric (`None` when the metric is missing).
        normalized: Option<f64>,
        /// Its raw primary metric.
        raw: Option<f64>,
        /// Rise of the best normalised score.
        gain: f64,
    },
    /// The episode ended without a graded submission (grading failed, skip, forfeit).
    Ungraded,
}

/// The reward rule, written once.
///
/// `final` and `raw` pay only at the end (`failure_reward` when nothing could be
/// graded); `improvement` pays each rise of the best normalised score and never
/// punishes a failure, so its rewards sum to the best normalised score reached.
pub fn reward(mode: RewardMode, event: RewardEvent, failure_reward: f64) -> f64 {
    match (mode, event) {
        (RewardMode::Improvement, RewardEvent::Validated { gain })
        | (RewardMode::Improvement, RewardEvent::Graded { gain, .. }) => gain,
        (RewardMode::Improvement, RewardEvent::Ungraded) => 0.0,
        (_, RewardEvent::Validated { .. }) => 0.0,
        (RewardMode::Final, RewardEvent::Graded { normalized, .. }) => {
            normalized.unwrap_or(failure_reward)
        }
        (RewardMode::Raw, RewardEvent::Graded { raw, .. }) => raw.unwrap_or(failure_reward),
        (_, RewardEvent::Ungraded) => failure_reward,
    }
}

/// The end of an episode: what `finish` hands back to `step`.
#[derive(Debug, Clone, PartialEq)]
pub struct Finish {
    /// `Exited (<reason>)`.
    pub observation: String,
    /// The reward of the final step.
    pub reward: f64,
    /// The final submission's metrics, when it was graded.
    pub metrics: Option<Metrics>,
    /// Its normalised primary metric.
    pub normalized: Option<f64>,
    /// Set when the final grading failed.
    pub failure: Option<Failure>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_use_mlgym_strings() {
        assert_eq!(ExitStatus::Submitted.to_string(), "submitted");
        assert_eq!(
            ExitStatus::Autosubmission(FinalReason::MaxSteps).to_string(),
            "autosubmission (max_steps)"
        );
        assert_eq!(
            ExitStatus::GradingFailed {
                prefix: "submission_not_found",
                reason: FinalReason::Exit(SpecialExit::Cost)
            }
            .to_string(),
            "submission_not_found (exit_cost)"
        );
        assert_eq!(ExitStatus::Forfeited.to_string(), "exit_forfeit");
        assert_eq!(
            serde_json::to_string(&ExitStatus::Skipped).unwrap(),
            "\"skipped\""
        );
    }

    #[test]
    fn special_exits_round_trip() {
        for e in SpecialExit::ALL {
            assert_eq!(SpecialExit::parse(&format!(" {} ", e.as_str())), Some(e));
            assert!(EXIT_ACTIONS.contains(&e.as_str()));
        }
        assert_eq!(SpecialExit::parse("exit_forfeit"), None);
    }

    #[test]
    fn reward_rule() {
        let graded = RewardEvent::Graded {
            normalized: Some(0.5),
            raw: Some(3.0),
            gain: 0.25,
        };
        assert_eq!(reward(RewardMode::Final, graded, -1.0), 0.5);
        assert_eq!(reward(RewardMode::Raw, graded, -1.0), 3.0);
        assert_eq!(reward(RewardMode::Improvement, graded, -1.0), 0.25);
        let missing = RewardEvent::Graded {
            normalized: None,
            raw: None,
            gain: 0.0,
        };
        assert_eq!(reward(RewardMode::Final, missing, -2.0), -2.0);
        assert_eq!(reward(RewardMode::Raw, missing, -2.0), -2.0);
        for mode in [RewardMode::Final, RewardMode::Raw] {
            assert_eq!(reward(mode, RewardEvent::Ungraded, -1.0), -1.0);
            assert_eq!(
                reward(mode, RewardEvent::Validated { gain: 1.0 }, -1.0),
                0.0
            );
        }
        assert_eq!(
            reward(RewardMode::Improvement, RewardEvent::Ungraded, -1.0),
            0.0
        );
        assert_eq!(
            reward(
                RewardMode::Improvement,
                RewardEvent::Validated { gain: 0.7 },
                -1.0
            ),
            0.7
        );
    }
}
