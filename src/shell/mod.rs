//! The persistent bash session protocol (see `docs/internals/shell-protocol.md`).

pub mod line_model;
pub mod normalize;
pub mod session;
pub mod transport;

pub use session::{CommandLimits, CommandOutcome, ShellSession, ShellState, TimeoutKind};
pub use transport::{ReadResult, ShellFactory, ShellTransport};

/// The bash runtime sourced into every shell: step helpers and the ACI commands.
pub const RUNTIME_SH: &str = include_str!("runtime.sh");
/// The lint server the runtime starts as a coprocess for `edit` and `insert`.
pub const LINTD_PY: &str = include_str!("lintd.py");

/// Errors of the shell layer.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// The shell process could not be started.
    #[error("could not start the shell: {0}")]
    Spawn(#[source] std::io::Error),
    /// The shell started but did not come up.
    #[error("the shell did not start correctly: {0}")]
    Startup(String),
    /// Reading or writing the shell's pipes failed.
    #[error("shell I/O failed: {0}")]
    Io(#[source] std::io::Error),
}
