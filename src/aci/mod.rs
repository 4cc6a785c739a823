//! The agent-computer interface: MLGym's commands over one persistent shell.
//!
//! The commands themselves are bash functions in `src/aci/runtime/` (`commands.sh`),
//! so they work inside compound lines (`cd src && open train.py`) on every backend; the
//! sandbox installs the joined runtime ([`runtime::RUNTIME_SH`]) and the shell sources
//! it. This module also supplies what MLGym's shell has around them (its variable
//! defaults, aliases and line counter: [`runtime::aci_prelude`]) and does what MLGym's
//! env does around each action: the multi-line guard, the malformed-edit check, the
//! blocklist, choosing timeouts, timeout messages, output normalisation and the
//! observation cap.

pub mod actions;
pub mod line_model;
pub mod normalize;
pub mod runtime;
pub mod session;

pub use actions::{GradingRequest, MALFORMED_EDIT_MESSAGE};
pub use runtime::start_shell;
pub use session::{AciConfig, AciSession, StepKind, StepOutput};
