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
pub mod warden;

pub use engine::{Engine, EngineKind};
pub use scripts::{KILL_AGENT_PROCESSES_SH, KILL_TREE_SH};

use super::exec::{ExecOutput, ExecRequest};
use super::fs::{private_dir, refill_dir, remove_tree};
use super::{Sandbox, SandboxError};
use crate::aci::runtime::RUNTIME_FILES;
use crate::settings::{Settings, ShellLink};
use crate::shell::{ShellFactory, ShellTransport};
use crate::sys::dirs::{container_hosts_dir, user_dir};
use crate::sys::random::{random_hex, random_u32};
use bollard::models::{ContainerCreateBody, DeviceMapping, DeviceRequest, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, RestartContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
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

/// Capabilities a container keeps (everything else is dropped): what set-up, grading,
/// resets and kills need as root. No `MKNOD` (device nodes), no `FSETID`, no `NET_RAW`,
/// no `SYS_*`, no `SETPCAP`/`SETFCAP`; the agent, not root, has none of them anyway.
pub const CAPABILITIES: [&str; 6] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "SETUID",
    "SETGID",
    "KILL",
];

/// Process limit when neither the user nor the task gives one.
pub const DEFAULT_PIDS: i64 = 1024;
/// Memory limit when neither the user nor the task gives one (less on smaller hosts).
pub const DEFAULT_MEMORY: i64 = 8 << 30;

/// The limits a container gets: the config's, else the defaults; and the sizes of its
/// `/tmp` and `/dev/shm` (in memory, so charged to the memory limit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Memory in bytes.
    pub memory: i64,
    /// CPUs in billionths.
    pub nano_cpus: i64,
    /// Processes (threads count).
    pub pids: i64,
    /// Size of the `/tmp` tmpfs in bytes.
    pub tmp_size: i64,
    /// Size of the `/dev/shm` tmpfs in bytes.
    pub shm_size: i64,
}

impl Limits {
    /// The limits for `config` on a host with `host_memory` bytes and `host_cpus` CPUs.
    pub fn of(config: &ContainerConfig, host_memory: Option<i64>, host_cpus: usize) -> Self {
        let default_memory = host_memory.map_or(DEFAULT_MEMORY, |m| m.min(DEFAULT_MEMORY));
        let memory = config.memory_bytes.unwrap_or(default_memory);
        let cpus = config.cpus.unwrap_or(host_cpus.max(1) as f64);
        Self {
            memory,
            nano_cpus: (cpus * 1e9) as i64,
            pids: config.pids_limit.unwrap_or(DEFAULT_PIDS),
            tmp_size: (memory / 2).max(16 << 20),
            shm_size: (memory / 4).max(16 << 20),
        }
    }

    /// The limits for `config` on this host.
    pub fn for_this_host(config: &ContainerConfig) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::of(config, host_memory(), cpus)
    }
}

/// Total memory of this host (`MemTotal`).
fn host_memory() -> Option<i64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The security and resource part of a container's host config.
pub fn confined_host_config(limits: &Limits, host: &mut HostConfig) {
    host.cap_drop = Some(vec!["ALL".into()]);
    host.cap_add = Some(CAPABILITIES.iter().map(|c| c.to_string()).collect());
    host.security_opt = Some(vec!["no-new-privileges".into()]);
    host.memory = Some(limits.memory);
    host.nano_cpus = Some(limits.nano_cpus);
    host.pids_limit = Some(limits.pids);
    let mut tmpfs = HashMap::new();
    tmpfs.insert(
        "/tmp".to_string(),
        format!("rw,exec,nosuid,nodev,size={},mode=1777", limits.tmp_size),
    );
    tmpfs.insert(
        "/dev/shm".to_string(),
        format!("rw,noexec,nosuid,nodev,size={},mode=1777", limits.shm_size),
    );
    host.tmpfs = Some(tmpfs);
}

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
    /// Whether an agent's shell was handed out since the last reset (so the next one
    /// has something to clean up).
    used: Arc<AtomicBool>,
    /// Set by a shell that ended without killing the agent's processes yet: the next
    /// shell start, or the next reset, kills them first.
    pending_kill: Arc<AtomicBool>,
    /// The next reset's warden (FIFO links only).
    warden: Option<warden::WardenSlot>,
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
        // Only this user can enter any of them: whatever the container leaves in the
        // workspace (a set-id file, say) is out of other host users' reach.
        for dir in [
            user_dir(),
            container_hosts_dir(),
            root.clone(),
            host_workspace.clone(),
            root.join("io"),
        ] {
            private_dir(&dir).map_err(|source| SandboxError::Io {
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
            init: Some(true),
            ..Default::default()
        };
        confined_host_config(&Limits::for_this_host(config), &mut host);
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
            used: Default::default(),
            pending_kill: Default::default(),
            warden: None,
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
        let (ids, setpriv) = set_up(&self.engine, &self.id).map_err(sandbox_err)?;
        self.agent_ids = ids;
        self.setpriv = setpriv;
        let settings = Settings::from_env();
        if self.setpriv && settings.standby_shell {
            self.standby = Some(Default::default());
        }
        if settings.shell_link == ShellLink::Fifo {
            self.fifo_dir = Some((self.root.join("io"), FIFO_DIR.to_string()));
            let slot = warden::WardenSlot::default();
            if let Some(spec) = self.warden_spec() {
                warden::refill(spec, slot.clone(), false);
            }
            self.warden = Some(slot);
        }
        chown_tree(&self.host_workspace, self.agent_ids, false);
        Ok(())
    }

    fn warden_spec(&self) -> Option<warden::WardenSpec> {
        Some(warden::WardenSpec {
            engine: self.engine.clone(),
            container: self.id.clone(),
            fifo_dir: self.fifo_dir.clone()?,
            uid: self.agent_ids.0,
        })
    }

    /// Ends the last episode outside the workspace: kills every process of the agent
    /// (and stray root daemons), then empties the scratch folders and restores the
    /// agent's home, all in one fresh root exec. Only then may the host touch the
    /// workspace.
    fn reset_container(&mut self) -> Result<(), SandboxError> {
        self.pending_kill.store(false, Ordering::SeqCst);
        if let Some(slot) = &self.warden {
            let done = slot.take().is_some_and(warden::Warden::run);
            if let Some(spec) = self.warden_spec() {
                warden::refill(spec, slot.clone(), true);
            }
            if done {
                return Ok(());
            }
        }
        // No warden (attach links), or it failed: the same in fresh execs.
        kill_agent_processes(&self.engine, &self.id, self.agent_ids.0, 0, true)
            .map_err(sandbox_err)?;
        let script = format!("set -e\n{}", scripts::RESET_SH);
        let out = self.root_exec(&["/bin/bash", "-c", &script], Vec::new())?;
        if out.status != 0 {
            return Err(sandbox_err(ContainerError::Setup(format!(
                "the reset failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))));
        }
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
        self.used.store(true, Ordering::SeqCst);
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
                pending_kill: self.pending_kill.clone(),
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
        if self.used.swap(false, Ordering::SeqCst) {
            self.reset_container()?;
        }
        // No process of the agent is left: nothing can swap a file for a link now, and
        // the refill never follows one anyway.
        let ids = self.agent_ids;
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        refill_dir(&self.host_workspace, entries, &|read_only| {
            // Rootless engines map ownership themselves.
            root.then_some(if read_only { (0, 0) } else { ids })
        })
    }

    fn make_private_dir(&mut self) -> Result<String, SandboxError> {
        // A fresh, unguessable name, made exclusively (`mkdir` fails if it exists) in
        // the root-only grading root.
        let tag = random_hex(16).map_err(|source| SandboxError::Io {
            action: "draw a name for",
            path: PathBuf::from(GRADE_ROOT),
            source,
        })?;
        let dir = format!("{GRADE_ROOT}/grade-{tag}");
        let out = self.root_exec(&["mkdir", "-m", "700", "--", &dir], Vec::new())?;
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
        // The request's environment is the whole environment (graders build theirs with
        // `grading::grader_env`): nothing of the agent's shell (its HOME, PATH, PYTHON*)
        // is added here.
        let mut env = Vec::new();
        for (k, v) in &request.env {
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

/// Runs the set-up script as root; returns the agent's (uid, gid) and whether the image
/// has `setpriv`. Safe to repeat (after a restart).
fn set_up(engine: &Engine, id: &str) -> Result<((u32, u32), bool), ContainerError> {
    let remap = agent_ids_for_host(engine).map(|(u, g)| (u.to_string(), g.to_string()));
    let mut argv = vec!["/bin/bash", "-c", scripts::SETUP_SH, "setup"];
    if let Some((u, g)) = &remap {
        argv.extend([u.as_str(), g.as_str()]);
    }
    let call = exec::ExecCall::root(&argv, Duration::from_secs(60));
    let out = exec::run_collect(engine, id, &call)?;
    if out.status != 0 {
        return Err(ContainerError::Setup(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text
        .split_whitespace()
        .filter_map(|s| s.parse::<u32>().ok());
    let ids = match (it.next(), it.next()) {
        (Some(u), Some(g)) => (u, g),
        _ => {
            return Err(ContainerError::Setup(format!(
                "unexpected set-up output: {text}"
            )))
        }
    };
    Ok((ids, it.next() == Some(1)))
}

/// The ids the agent must have in the container so that the host user who runs the env
/// owns the workspace it writes: `None` when this process is root (it hands files to the
/// image's agent itself) or the engine is rootless (its user namespace maps the host
/// user already). A non-root member of a rootful engine's group gets its own ids, so
/// the host-side restore can still replace what the agent wrote.
fn agent_ids_for_host(engine: &Engine) -> Option<(u32, u32)> {
    // SAFETY: geteuid/getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    if uid == 0 {
        return None;
    }
    let docker = engine.docker.clone();
    let info = runtime::block_on(async move { docker.info().await })?.ok()?;
    let rootless = info
        .security_options
        .unwrap_or_default()
        .iter()
        .any(|o| o.contains("rootless"));
    (!rootless).then_some((uid, gid))
}

/// Kills every process of `uid` in the container but `keep` (0: none), and with
/// `daemons` stray root daemons too, from a fresh root exec (never the agent's shell).
/// When that exec cannot start or cannot finish (a fork bomb holds every pid, or starves
/// it of CPU), the container is restarted, which ends every process in it, and set up
/// again. Returns how many kills were sent (0 after a restart).
pub(crate) fn kill_agent_processes(
    engine: &Engine,
    id: &str,
    uid: u32,
    keep: u32,
    daemons: bool,
) -> Result<usize, ContainerError> {
    let (uid, keep) = (uid.to_string(), keep.to_string());
    let argv = [
        "/bin/bash",
        "-c",
        KILL_AGENT_PROCESSES_SH,
        "mlgym-kill",
        &uid,
        &keep,
        if daemons { "1" } else { "0" },
    ];
    let call = exec::ExecCall::root(&argv, exec::KILL_TIMEOUT);
    match exec::run_collect(engine, id, &call) {
        Ok(out) if out.status == 0 => {
            return Ok(String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(0))
        }
        _ => {}
    }
    restart(engine, id)?;
    Ok(0)
}

/// Restarts the container at once (every process in it ends) and sets it up again.
fn restart(engine: &Engine, id: &str) -> Result<(), ContainerError> {
    let docker = engine.docker.clone();
    let cid = id.to_string();
    let opts = RestartContainerOptionsBuilder::default().t(0).build();
    runtime::block_on(async move { docker.restart_container(&cid, Some(opts)).await })
        .ok_or(ContainerError::NoRuntime)?
        .map_err(api("restarting"))?;
    set_up(engine, id).map(|_| ())
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

    #[test]
    fn limits_default_and_overrides_win() {
        let mut config = ContainerConfig::new(EngineKind::Docker);
        let l = Limits::of(&config, Some(64 << 30), 16);
        assert_eq!(
            (l.memory, l.nano_cpus, l.pids),
            (DEFAULT_MEMORY, 16_000_000_000, DEFAULT_PIDS)
        );
        assert_eq!((l.tmp_size, l.shm_size), (4 << 30, 2 << 30));
        // A small host: no more memory than it has.
        assert_eq!(Limits::of(&config, Some(2 << 30), 1).memory, 2 << 30);
        config.memory_bytes = Some(256 << 20);
        config.cpus = Some(0.5);
        config.pids_limit = Some(128);
        let l = Limits::of(&config, Some(64 << 30), 16);
        assert_eq!(
            (l.memory, l.nano_cpus, l.pids),
            (256 << 20, 500_000_000, 128)
        );
        let mut host = HostConfig::default();
        confined_host_config(&l, &mut host);
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        let added = host.cap_add.unwrap_or_default();
        assert!(!added
            .iter()
            .any(|c| c == "MKNOD" || c == "FSETID" || c.starts_with("SYS_")));
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges".to_string()])
        );
        let tmpfs = host.tmpfs.unwrap_or_default();
        assert!(
            tmpfs["/tmp"].contains("nosuid,nodev") && tmpfs["/dev/shm"].contains("nosuid,nodev")
        );
    }
}
