//! Fresh processes with a deadline: grading runs through here, never through the
//! agent's shell.

use std::collections::BTreeMap;
use std::time::Duration;

/// A process to run in a sandbox.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// The complete environment.
    pub env: BTreeMap<String, String>,
    /// Bytes written to stdin, which is then closed.
    pub stdin: Vec<u8>,
    /// Kill the process tree after this long.
    pub timeout: Duration,
}

/// What a process produced.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
    /// Exit code (128+signal when killed by a signal).
    pub status: i32,
    /// True when the timeout killed it.
    pub timed_out: bool,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Output kept per stream of a fresh process.
pub const EXEC_OUTPUT_LIMIT: usize = 4 << 20;
