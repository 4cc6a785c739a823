//! Where an episode runs. `local`: a bubblewrap sandbox (or a bare process tree) over a
//! temp workspace on this host;
//! `container`: a Docker or Podman container per env.

pub mod container;
pub mod exec;
pub mod fs;
pub mod local;
pub mod reaper;

pub use container::{ContainerConfig, ContainerSandbox, EngineKind};
pub use exec::{ExecOutput, ExecRequest};
pub use local::{Isolation, LocalSandbox, LocalSandboxConfig};

use crate::shell::ShellFactory;
use std::path::Path;

/// Errors of the sandbox layer.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A file operation failed.
    #[error("{action} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A process could not be started.
    #[error("could not start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// This host cannot build the local sandbox (bubblewrap missing, or user namespaces
    /// refused); the message names the fix.
    #[error("{0}")]
    Unavailable(String),
    /// The sandbox was already stopped.
    #[error("the sandbox is stopped")]
    Stopped,
    /// The container engine failed.
    #[error(transparent)]
    Container(Box<container::ContainerError>),
}

/// One place an episode runs: a workspace, shells, fresh processes for grading.
pub trait Sandbox: Send {
    /// Workspace path as the shell sees it.
    fn workspace(&self) -> String;
    /// The same folder as this host sees it (where submissions are looked for).
    fn workspace_on_host(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(self.workspace())
    }
    /// The workspace as graders see it (the shell's view unless the sandbox runs its
    /// graders elsewhere).
    fn grader_workspace(&self) -> String {
        self.workspace()
    }
    /// A factory for the episode's shell (and its respawns).
    fn shell_factory(&self) -> Box<dyn ShellFactory>;
    /// Empties the workspace and copies `entries` into it: `(host source, name in the
    /// workspace, read_only)`. Directories are copied recursively.
    fn populate_workspace(
        &mut self,
        entries: &[(std::path::PathBuf, String, bool)],
    ) -> Result<(), SandboxError>;
    /// Creates a fresh private directory for one grading and returns its sandbox path.
    fn make_private_dir(&mut self) -> Result<String, SandboxError>;
    /// Copies a host file into a sandbox directory under `name`.
    fn copy_in(&mut self, host: &Path, dir: &str, name: &str) -> Result<(), SandboxError>;
    /// Removes a sandbox path recursively (best effort).
    fn remove(&mut self, path: &str);
    /// Runs a fresh process (never the agent's shell), with a clean environment.
    fn exec(&mut self, request: &ExecRequest) -> Result<ExecOutput, SandboxError>;
    /// Stops everything and removes what the sandbox created. Idempotent.
    fn stop(&mut self);
}
