//! The container backends: Docker, and Podman through its Docker-compatible API, both
//! through bollard. One long-lived container per env; the workspace is a host folder
//! bind-mounted at `/home/agent/workspace`, so a reset restores it host-side without a
//! new container. Privileged work (grading, set-up, kills) runs as root in fresh execs;
//! the agent's shell runs as `agent`.

pub mod engine;
pub mod exec;
mod fifo;
pub mod pool;
pub mod reaper;
pub mod runtime;
mod scripts;
pub mod tarball;
pub mod transport;

pub use engine::{Engine, EngineKind};
pub use scripts::{KILL_AGENT_PROCESSES_SH, KILL_TREE_SH};

use super::exec::{ExecOutput, ExecRequest};
use super::fs::{refill_dir, remove_tree};
use super::{Sandbox, SandboxError};
use crate::aci::runtime::RUNTIME_FILES;
use crate::settings::{Settings, ShellLink};
use crate::shell::{ShellFactory, ShellTransport};
use crate::sys::dirs::container_hosts_dir;
use crate::sys::random::random_u32;
use bollard::models::{ContainerCreateBody, DeviceMapping, DeviceRequest, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use transport::{ExecShellSpec, ExecShellTransport};

/// The workspace as the agent sees it.
pub const WORKSPACE: &str = "/home/agent/workspace";
/// Where the shell runtime lives in the container.
const RUNTIME_DIR: &str = "/opt/mlgym";
/// Where the shells' FIFOs are (a host folder, bind-mounted).
const FIFO_DIR: &str = "/run/mlgym-io";
/// Root of the grading folders (mode 0700, root).
const GRADE_ROOT: &str = "/run/mlgym-grade";
/// Label that marks our containers.
pub const OWNER_LABEL: &str = "mlgym.owner";
/// Its value.
pub const OWNER_VALUE: &str = "mlgym-rs";

/// Errors of the container layer.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// No engine answered.
    #[error("no {engine} engine answered; tried: {tried}")]
    EngineUnavailable {
        /// `docker` or `podman`.
        engine: &'static str,
        /// Each socket tried and why it failed.
        tried: String,
    },
    /// An engine call failed.
    #[error("{action} the container failed: {source}")]
    Api {
        /// What was being done.
        action: &'static str,
        /// bollard's error.
        #[source]
        source: bollard::errors::Error,
    },
    /// The container is up but its set-up failed.
    #[error("container set-up failed: {0}")]
    Setup(String),
    /// The async runtime could not start.
    #[error("the async runtime could not start")]
    NoRuntime,
}

/// Options of a container sandbox.
#[derive(Debug, Clone)]
pub struct ContainerConfig {
    /// Docker or Podman.
    pub engine: EngineKind,
    /// Image (must satisfy the image contract of docs/containers.md).
    pub image: String,
    /// Network mode; `None` is no network.
    pub network: Option<String>,
    /// Memory limit in bytes.
    pub memory_bytes: Option<i64>,
    /// CPU limit in CPUs.
    pub cpus: Option<f64>,
    /// Process limit.
    pub pids_limit: Option<i64>,
    /// GPU ids the container gets (exactly these).
    pub gpus: Vec<String>,
    /// Extra environment of the agent's shell and graders.
    pub env: BTreeMap<String, String>,
    /// Extra labels (task, episode).
    pub labels: BTreeMap<String, String>,
    /// Start the container (false: only create it, to inspect what would run).
    pub start: bool,
}

impl ContainerConfig {
    /// Defaults for `engine`: the image of `MLGYM_IMAGE` (default `mlgym-agent:latest`),
    /// no network.
    pub fn new(engine: EngineKind) -> Self {
        Self {
            engine,
            image: Settings::from_env().image,
            network: None,
            memory_bytes: None,
            cpus: None,
            pids_limit: None,
            gpus: Vec::new(),
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            start: true,
        }
    }
}

static CONTAINERS: AtomicU64 = AtomicU64::new(0);

/// Sets `key` in an engine-style environment (`KEY=value` entries), replacing any
/// earlier value so the engine never sees the key twice.
fn set_env(env: &mut Vec<String>, key: &str, value: &str) {
    let prefix = format!("{key}=");
    env.retain(|e| !e.starts_with(&prefix));
    env.push(format!("{prefix}{value}"));
}

fn api(action: &'static str) -> impl FnOnce(bollard::errors::Error) -> ContainerError {
    move |source| ContainerError::Api { action, source }
}

fn sandbox_err(e: ContainerError) -> SandboxError {
    SandboxError::Container(Box::new(e))
}

/// What the engine is asked for so the container sees exactly `gpus`.
pub fn gpu_host_config(kind: EngineKind, gpus: &[String], host: &mut HostConfig) {
    if gpus.is_empty() {
        return;
    }
    match kind {
        EngineKind::Docker => {
            host.device_requests = Some(vec![DeviceRequest {
                driver: Some("nvidia".into()),
                count: None,
                device_ids: Some(gpus.to_vec()),
                capabilities: Some(vec![vec!["gpu".into()]]),
                options: None,
            }])
        }
        EngineKind::Podman => {
            host.devices = Some(
                gpus.iter()
                    .map(|id| DeviceMapping {
                        path_on_host: Some(format!("nvidia.com/gpu={id}")),
                        path_in_container: Some(format!("nvidia.com/gpu={id}")),
                        cgroup_permissions: Some("rwm".into()),
                    })
                    .collect(),
            )
        }
    }
}

/// One episode's container.
pub struct ContainerSandbox {
    engine: Engine,
    id: String,
    root: PathBuf,
    host_workspace: PathBuf,
    env: Vec<String>,
    agent_ids: (u32, u32),
    setpriv: bool,
    fifo_dir: Option<(PathBuf, String)>,
    standby: Option<transport::StandbySlot>,
    private_dirs: u64,
    stopped: bool,
}

impl ContainerSandbox {
    /// A started container for `config`: from the pool when one is ready, else new.
    pub fn create(config: &ContainerConfig) -> Result<Self, SandboxError> {
        match pool::take(config) {
            Some(sandbox) => Ok(sandbox),
            None => Self::create_fresh(config),
        }
    }

    /// Creates (and unless `config.start` is false, starts and sets up) a new container.
    pub fn create_fresh(config: &ContainerConfig) -> Result<Self, SandboxError> {
        let engine = Engine::connect(config.engine).map_err(sandbox_err)?;
        reaper::reap_once(&engine);
        let n = CONTAINERS.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Uniqueness comes from pid and counter; the random part only keeps names of
        // a recycled pid apart, so zeros are an acceptable fallback.
        let suffix = format!("{:08x}", random_u32().unwrap_or(0));
        let name = format!("mlgym-{pid}-{n}-{suffix}");
        let root = container_hosts_dir().join(&name);
        let host_workspace = root.join("workspace");
        for dir in [&host_workspace, &root.join("io")] {
            std::fs::create_dir_all(dir).map_err(|source| SandboxError::Io {
                action: "create",
                path: dir.clone(),
                source,
            })?;
        }
        let mut labels: HashMap<String, String> = config
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.extend(reaper::owner_labels(&root));
        let mut host = HostConfig {
            binds: Some(vec![
                format!("{}:{WORKSPACE}", host_workspace.display()),
                format!("{}:{FIFO_DIR}", root.join("io").display()),
            ]),
            network_mode: Some(config.network.clone().unwrap_or_else(|| "none".into())),
            memory: config.memory_bytes,
            nano_cpus: config.cpus.map(|c| (c * 1e9) as i64),
            pids_limit: config.pids_limit,
            init: Some(true),
            ..Default::default()
        };
        gpu_host_config(config.engine, &config.gpus, &mut host);
        let body = ContainerCreateBody {
            image: Some(config.image.clone()),
            cmd: Some(vec!["sleep".into(), "infinity".into()]),
            entrypoint: Some(vec![]),
            user: Some("root".into()),
            working_dir: Some(WORKSPACE.into()),
            labels: Some(labels),
            host_config: Some(host),
            ..Default::default()
        };
        let docker = engine.docker.clone();
        let opts = CreateContainerOptionsBuilder::default().name(&name).build();
        let created =
            runtime::block_on(async move { docker.create_container(Some(opts), body).await })
                .ok_or(ContainerError::NoRuntime)
                .map_err(sandbox_err)?;
        let id = match created {
            Ok(c) => c.id,
            Err(e) => {
                remove_tree(&root);
                return Err(sandbox_err(ContainerError::Api {
                    action: "creating",
                    source: e,
                }));
            }
        };
        reaper::track(&engine, &id, &root);
        let mut env: Vec<String> = vec![
            "PATH=/usr/local/bin:/usr/bin:/bin".into(),
            "HOME=/home/agent".into(),
            "USER=agent".into(),
            "LANG=C.UTF-8".into(),
            "LC_ALL=C.UTF-8".into(),
            format!("MLGYM_RUNTIME_DIR={RUNTIME_DIR}"),
        ];
        for (k, v) in &config.env {
            set_env(&mut env, k, v);
        }
        let mut sandbox = Self {
            engine,
            id,
            root,
            host_workspace,
            env,
            agent_ids: (1000, 1000),
            setpriv: false,
            fifo_dir: None,
            standby: None,
            private_dirs: 0,
            stopped: false,
        };
        if config.start {
            if let Err(e) = sandbox.start_and_set_up() {
                sandbox.stop();
                return Err(e);
            }
        }
        Ok(sandbox)
    }

    fn start_and_set_up(&mut self) -> Result<(), SandboxError> {
        let docker = self.engine.docker.clone();
        let id = self.id.clone();
        runtime::block_on(async move { docker.start_container(&id, None).await })
            .ok_or(ContainerError::NoRuntime)
            .map_err(sandbox_err)?
            .map_err(api("starting"))
            .map_err(sandbox_err)?;
        let paths = RUNTIME_FILES
            .map(|(name, _)| format!("{}/{name}", RUNTIME_DIR.trim_start_matches('/')));
        let files: Vec<(&str, &[u8], u32)> = paths
            .iter()
            .zip(RUNTIME_FILES)
            .map(|(path, (_, text))| (path.as_str(), text.as_bytes(), 0o644))
            .collect();
        let archive = tarball::files(&files)
            .map_err(|e| sandbox_err(ContainerError::Setup(e.to_string())))?;
        self.upload("/", archive)?;
        let out = self.root_exec(&["/bin/bash", "-c", scripts::SETUP_SH], Vec::new())?;
        if out.status != 0 {
            return Err(sandbox_err(ContainerError::Setup(format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut it = text
            .split_whitespace()
            .filter_map(|s| s.parse::<u32>().ok());
        if let (Some(u), Some(g)) = (it.next(), it.next()) {
            self.agent_ids = (u, g);
        }
        self.setpriv = it.next() == Some(1);
        let settings = Settings::from_env();
        if self.setpriv && settings.standby_shell {
            self.standby = Some(Default::default());
        }
        if settings.shell_link == ShellLink::Fifo {
            self.fifo_dir = Some((self.root.join("io"), FIFO_DIR.to_string()));
        }
        chown_tree(&self.host_workspace, self.agent_ids, false);
        Ok(())
    }

    fn upload(&self, path: &str, archive: Vec<u8>) -> Result<(), SandboxError> {
        let docker = self.engine.docker.clone();
        let id = self.id.clone();
        let opts = UploadToContainerOptionsBuilder::default()
            .path(path)
            .build();
        runtime::block_on(async move {
            docker
                .upload_to_container(&id, Some(opts), bollard::body_full(archive.into()))
                .await
        })
        .ok_or(ContainerError::NoRuntime)
        .map_err(sandbox_err)?
        .map_err(api("uploading to"))
        .map_err(sandbox_err)
    }

    fn root_exec(&self, argv: &[&str], stdin: Vec<u8>) -> Result<ExecOutput, SandboxError> {
        let call = exec::ExecCall {
            stdin,
            ..exec::ExecCall::root(argv, Duration::from_secs(60))
        };
        exec::run_collect(&self.engine, &self.id, &call).map_err(sandbox_err)
    }

    /// Whether the engine still has this container running.
    pub fn is_running(&self) -> bool {
        let docker = self.engine.docker.clone();
        let id = self.id.clone();
        matches!(
            runtime::block_on(async move { docker.inspect_container(&id, None).await }),
            Some(Ok(c)) if c.state.as_ref().and_then(|s| s.running) == Some(true)
        )
    }

    /// Container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The workspace folder on the host (bind-mounted into the container).
    pub fn host_workspace(&self) -> &Path {
        &self.host_workspace
    }
}

/// Hands the tree to the agent (`read_only`: to root, so the agent cannot chmod it).
fn chown_tree(path: &Path, ids: (u32, u32), read_only: bool) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return; // rootless: the engine's user namespace maps ownership
    }
    let (u, g) = if read_only { (0, 0) } else { ids };
    let _ = std::os::unix::fs::lchown(path, Some(u), Some(g));
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(path) {
                for e in entries.flatten() {
                    chown_tree(&e.path(), ids, read_only);
                }
            }
        }
    }
}

struct ContainerShellFactory {
    engine: Engine,
    spec: ExecShellSpec,
}

impl ShellFactory for ContainerShellFactory {
    fn spawn(&self) -> std::io::Result<Box<dyn ShellTransport>> {
        Ok(Box::new(ExecShellTransport::spawn(
            &self.engine,
            &self.spec,
        )?))
    }

    fn runtime_path(&self) -> String {
        format!("{RUNTIME_DIR}/runtime.sh")
    }

    fn state_file(&self) -> String {
        "/dev/shm/mlgym/shell.state".into()
    }
}

impl Sandbox for ContainerSandbox {
    fn workspace(&self) -> String {
        WORKSPACE.into()
    }

    fn workspace_on_host(&self) -> PathBuf {
        self.host_workspace.clone()
    }

    fn shell_factory(&self) -> Box<dyn ShellFactory> {
        Box::new(ContainerShellFactory {
            engine: self.engine.clone(),
            spec: ExecShellSpec {
                container: self.id.clone(),
                user: "agent".into(),
                cwd: WORKSPACE.into(),
                env: self.env.clone(),
                ids: self.agent_ids,
                setpriv: self.setpriv,
                fifo_dir: self.fifo_dir.clone(),
                standby: self.standby.clone(),
            },
        })
    }

    fn populate_workspace(
        &mut self,
        entries: &[(PathBuf, String, bool)],
    ) -> Result<(), SandboxError> {
        if self.stopped {
            return Err(SandboxError::Stopped);
        }
        let ids = self.agent_ids;
        refill_dir(&self.host_workspace, entries, |dst, read_only| {
            chown_tree(dst, ids, read_only)
        })?;
        chown_tree(&self.host_workspace, self.agent_ids, false);
        Ok(())
    }

    fn make_private_dir(&mut self) -> Result<String, SandboxError> {
        self.private_dirs += 1;
        let dir = format!("{GRADE_ROOT}/grade-{}", self.private_dirs);
        let out = self.root_exec(&["mkdir", "-m", "700", "-p", &dir], Vec::new())?;
        if out.status != 0 {
            return Err(sandbox_err(ContainerError::Setup(
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )));
        }
        Ok(dir)
    }

    fn copy_in(&mut self, host: &Path, dir: &str, name: &str) -> Result<(), SandboxError> {
        let archive = tarball::tree(host, name).map_err(|source| SandboxError::Io {
            action: "archive",
            path: host.to_path_buf(),
            source,
        })?;
        self.upload(dir, archive)
    }

    fn remove(&mut self, path: &str) {
        let _ = self.root_exec(&["rm", "-rf", "--", path], Vec::new());
    }

    fn exec(&mut self, request: &ExecRequest) -> Result<ExecOutput, SandboxError> {
        let mut env = self.env.clone();
        for (k, v) in &request.env {
            if k == "PATH" || k == "HOME" {
                continue; // host paths mean nothing in the container
            }
            set_env(&mut env, k, v);
        }
        exec::run_collect(
            &self.engine,
            &self.id,
            &exec::ExecCall {
                argv: request.argv.clone(),
                user: "root".into(),
                cwd: request.cwd.clone(),
                env,
                stdin: request.stdin.clone(),
                timeout: request.timeout,
            },
        )
        .map_err(sandbox_err)
    }

    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        remove_container(&self.engine, &self.id);
        reaper::untrack(&self.id);
        remove_tree(&self.root);
    }
}

/// Removes a container and its anonymous volumes, whatever state it is in.
pub fn remove_container(engine: &Engine, id: &str) -> bool {
    let docker = engine.docker.clone();
    let id = id.to_string();
    let opts = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    matches!(
        runtime::block_on(async move { docker.remove_container(&id, Some(opts)).await }),
        Some(Ok(()))
    )
}

impl Drop for ContainerSandbox {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_env_replaces_instead_of_duplicating() {
        let mut env = vec!["PATH=/bin".to_string(), "PATHX=1".to_string()];
        set_env(&mut env, "PATH", "/usr/bin");
        set_env(&mut env, "NEW", "a=b");
        assert_eq!(env, ["PATHX=1", "PATH=/usr/bin", "NEW=a=b"]);
    }
}
