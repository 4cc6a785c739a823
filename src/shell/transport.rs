//! The byte stream under a shell session: local pipes or a container attach.

use std::time::Duration;

/// What one read from the shell's output produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadResult {
    /// `n` bytes were read into the buffer.
    Data(usize),
    /// Nothing arrived within the wait.
    Timeout,
    /// The shell's output closed: the shell is gone.
    Eof,
}

impl ReadResult {
    /// Converts what [`crate::sys::poll::poll_read`] returns: `None` is a timeout,
    /// `Some(0)` the end of the stream.
    pub fn from_polled(polled: Option<usize>) -> Self {
        match polled {
            None => Self::Timeout,
            Some(0) => Self::Eof,
            Some(n) => Self::Data(n),
        }
    }
}

/// A bidirectional byte stream to one bash process, plus process control.
pub trait ShellTransport: Send {
    /// Writes all bytes to the shell's stdin.
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// Reads what is available, waiting at most `wait`.
    fn read(&mut self, buf: &mut [u8], wait: Duration) -> std::io::Result<ReadResult>;
    /// Kills every process started by the shell, but not the shell.
    fn kill_descendants(&mut self) -> std::io::Result<usize>;
    /// Kills the shell and everything under it; waits for it.
    fn terminate(&mut self);
    /// The shell's exit status once it has exited.
    fn exit_status(&mut self) -> Option<i32>;
}

/// Starts new shells for a session: the first one and any respawn.
pub trait ShellFactory: Send {
    /// Starts a fresh bash process.
    fn spawn(&self) -> std::io::Result<Box<dyn ShellTransport>>;
    /// Where the runtime script is, as a path inside the shell's file system.
    fn runtime_path(&self) -> String;
    /// Where the runtime saves state for a respawn, inside the shell's file system.
    fn state_file(&self) -> String;
}
