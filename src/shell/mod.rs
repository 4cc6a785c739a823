//! The persistent bash session: a byte protocol over one long-lived shell (see
//! `docs/internals/shell-protocol.md`). One round trip per command, with markers,
//! timeouts, and respawn after the shell dies.
//!
//! This layer knows bytes, markers and limits. What the shell is *for* comes from the
//! caller: the runtime sourced at start (installed by the sandbox, written by `aci`) and
//! a [`ShellPrelude`] with the caller's variables, aliases and line model. The byte
//! stream itself is a [`ShellTransport`] that each sandbox backend implements.

pub mod prelude;
pub mod session;
pub mod transport;

pub use prelude::{LineModel, ShellPrelude};
pub use session::{CommandLimits, CommandOutcome, ShellSession, ShellState, TimeoutKind};
pub use transport::{ReadResult, ShellFactory, ShellTransport};

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
