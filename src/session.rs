//! A bare ACI session on a workspace directory, without a task: for tools, tests and
//! replaying MLGym action sequences (`mlgym.Session` in Python).

use crate::aci::{AciConfig, AciSession, StepOutput};
use crate::sandbox::{LocalSandbox, LocalSandboxConfig, Sandbox};
use crate::EnvError;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Options of a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The workspace directory (created if missing, never deleted).
    pub workspace: PathBuf,
    /// Shell variables set before the first action (e.g. `WINDOW`).
    pub shell_vars: Vec<(String, String)>,
    /// Process environment of the shell.
    pub process_env: BTreeMap<String, String>,
    /// Limits and observation cap.
    pub aci: AciConfig,
}

/// A persistent shell with MLGym's interface over a workspace.
pub struct Session {
    sandbox: LocalSandbox,
    aci: Option<AciSession>,
}

impl Session {
    /// Starts the shell in the workspace.
    pub fn start(config: SessionConfig) -> Result<Self, EnvError> {
        for (name, value) in &config.shell_vars {
            crate::env::options::check_shell_var(name, value)?;
        }
        let sandbox = LocalSandbox::create(LocalSandboxConfig {
            workspace: Some(config.workspace),
            env: config.process_env,
            hide_paths: Vec::new(),
            // A tool over a folder the caller chose, not a training env: no sandbox, so
            // observations show the folder's own path (the golden ACI vectors rely on it).
            isolation: crate::sandbox::Isolation::None,
            gpus: Vec::new(),
        })?;
        let ws = sandbox.workspace();
        let shell = crate::aci::start_shell(sandbox.shell_factory(), &ws, &config.shell_vars)?;
        Ok(Self {
            sandbox,
            aci: Some(AciSession::new(shell, config.aci)),
        })
    }

    /// Runs one action.
    pub fn run(&mut self, action: &str) -> Result<StepOutput, EnvError> {
        let aci = self.aci.as_mut().ok_or(EnvError::Closed)?;
        Ok(aci.run(action)?)
    }

    /// The workspace path.
    pub fn workspace(&self) -> String {
        self.sandbox.workspace()
    }

    /// Stops the shell and removes the session's private files. Idempotent.
    pub fn close(&mut self) {
        self.aci = None;
        self.sandbox.stop();
    }

    /// True after `close`.
    pub fn is_closed(&self) -> bool {
        self.aci.is_none()
    }
}
