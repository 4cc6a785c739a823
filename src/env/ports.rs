//! The env's ports: where its sandbox comes from and what runs the agent's actions.
//! The real implementations build local or container sandboxes and MLGym's ACI over a
//! bash; tests substitute fakes (`env::testing`).

use super::EnvError;
use crate::aci::{AciConfig, AciSession, StepOutput};
use crate::sandbox::{
    ContainerConfig, ContainerSandbox, Isolation, LocalSandbox, LocalSandboxConfig, Sandbox,
};
use crate::shell::{ShellError, ShellState};
use crate::task::config::parse_memory;
use crate::task::LoadedTask;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What an env asks of its sandbox at the first reset.
#[derive(Debug, Clone)]
pub struct SandboxSpec<'a> {
    /// The task (resource limits, labels).
    pub task: &'a LoadedTask,
    /// The episode about to start (1-based).
    pub episode: u64,
    /// Process environment of the agent's shell and graders.
    pub process_env: &'a BTreeMap<String, String>,
    /// Host folders hidden from the agent's shell (secret files).
    pub hide_paths: Vec<PathBuf>,
    /// A caller-chosen workspace (local backend only).
    pub workspace: Option<PathBuf>,
    /// Leased GPU ids the sandbox must expose (exactly these).
    pub gpus: &'a [String],
}

/// Runs the agent's actions: MLGym's ACI over a persistent shell in production.
pub trait Console: Send {
    /// Runs one action exactly as the agent wrote it.
    fn run(&mut self, action: &str) -> Result<StepOutput, ShellError>;
    /// The shell state after the last action.
    fn state(&self) -> ShellState;
}

impl Console for AciSession {
    fn run(&mut self, action: &str) -> Result<StepOutput, ShellError> {
        AciSession::run(self, action)
    }
    fn state(&self) -> ShellState {
        AciSession::state(self)
    }
}

/// Makes the sandbox of an env and the console of each episode.
pub trait SandboxFactory: Send {
    /// Creates the env's sandbox (once; later episodes reuse it).
    fn create(&self, spec: &SandboxSpec<'_>) -> Result<Box<dyn Sandbox>, EnvError>;

    /// Starts an episode's console in the sandbox's workspace.
    fn start_console(
        &self,
        sandbox: &mut dyn Sandbox,
        shell_vars: &[(String, String)],
        aci: AciConfig,
    ) -> Result<Box<dyn Console>, EnvError> {
        let ws = sandbox.workspace();
        let shell = crate::aci::start_shell(sandbox.shell_factory(), &ws, shell_vars)?;
        Ok(Box::new(AciSession::new(shell, aci)))
    }
}

/// The real sandboxes: a local process tree, or a Docker/Podman container.
#[derive(Debug, Clone, Default)]
pub struct HostSandboxes {
    /// `None` for the local backend.
    pub container: Option<ContainerConfig>,
    /// Local backend: sandboxed or not.
    pub isolation: Isolation,
}

impl HostSandboxes {
    /// The sandboxes `options` ask for.
    pub fn for_options(options: &super::EnvOptions) -> Self {
        Self {
            container: options.container.clone(),
            isolation: options.isolation,
        }
    }

    /// Fails early (at `make`, not at the first reset) when the local sandbox cannot be
    /// built on this host, with the fix in the message.
    pub fn check_available(&self) -> Result<(), EnvError> {
        if self.container.is_none() && self.isolation == Isolation::Sandbox {
            crate::sandbox::local::bwrap::available()?;
        }
        Ok(())
    }
}

impl SandboxFactory for HostSandboxes {
    fn create(&self, spec: &SandboxSpec<'_>) -> Result<Box<dyn Sandbox>, EnvError> {
        let Some(container) = &self.container else {
            return Ok(Box::new(LocalSandbox::create(LocalSandboxConfig {
                workspace: spec.workspace.clone(),
                env: spec.process_env.clone(),
                hide_paths: spec.hide_paths.clone(),
                isolation: self.isolation,
                gpus: spec.gpus.to_vec(),
            })?));
        };
        Ok(Box::new(ContainerSandbox::create(&container_for(
            container, spec,
        ))?))
    }
}

/// The container request of an env: the user's options, the task's resource limits
/// where the user set none, labels, the process environment and the leased GPUs.
fn container_for(base: &ContainerConfig, spec: &SandboxSpec<'_>) -> ContainerConfig {
    let mut config = base.clone();
    let limits = &spec.task.config.resources;
    if config.memory_bytes.is_none() {
        config.memory_bytes = limits.memory.as_deref().and_then(parse_memory);
    }
    config.cpus = config.cpus.or(limits.cpus);
    config.pids_limit = config.pids_limit.or(limits.pids);
    config
        .labels
        .insert("mlgym.task".into(), spec.task.config.id.clone());
    config
        .labels
        .insert("mlgym.episode".into(), spec.episode.to_string());
    for (k, v) in spec.process_env {
        config.env.entry(k.clone()).or_insert_with(|| v.clone());
    }
    config.gpus = spec.gpus.to_vec();
    config
}
