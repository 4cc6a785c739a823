//! The agent-computer interface: MLGym's commands over one persistent shell.
//!
//! The commands themselves are bash functions in `src/shell/runtime.sh`, so they work
//! inside compound lines (`cd src && open train.py`) on every backend. This module does
//! what MLGym's env does around them: the multi-line guard, the malformed-edit check,
//! the blocklist, choosing timeouts, timeout messages, and the observation cap.

pub mod actions;
pub mod session;

pub use actions::{GradingRequest, MALFORMED_EDIT_MESSAGE};
pub use session::{AciConfig, AciSession, StepKind, StepOutput};
