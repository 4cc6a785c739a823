//! The local backend: an episode folder on this host and a bash process tree, inside a
//! bubblewrap sandbox by default (`bwrap.rs` explains what the agent sees and why
//! bubblewrap), or directly on the host with `Isolation::None` (no protection: for
//! debugging and trusted agents only, never for training).

pub mod bwrap;
mod exec;
pub mod process;

pub use exec::run_with_deadline;

use super::exec::{ExecOutput, ExecRequest};
use super::fs::{copy_tree, fresh_dir, io, refill_dir, remove_tree, set_mode};
use super::{reaper, Sandbox, SandboxError};
use crate::aci::runtime::RUNTIME_FILES;
use crate::shell::{ShellFactory, ShellTransport};
use crate::sys::dirs;
use crate::sys::proc::{kill_tree_and_group, pid_start_time};
use process::{ProcessSpec, ProcessTransport};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How the local backend isolates the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// A bubblewrap sandbox (the default): own user, PID, mount and network namespaces;
    /// only the workspace and the agent's home are writable.
    #[default]
    Sandbox,
    /// No sandbox: the agent's shell runs as the calling user on this host (secret task
    /// folders hidden, nothing else). Unsafe for training: the agent can read and write
    /// whatever the calling user can.
    None,
}

impl Isolation {
    /// `"sandbox"` or `"none"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sandbox => "sandbox",
            Self::None => "none",
        }
    }

    /// Parses `"sandbox"` or `"none"`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "sandbox" => Some(Self::Sandbox),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// Options of a local sandbox.
#[derive(Debug, Clone, Default)]
pub struct LocalSandboxConfig {
    /// Use this directory as the workspace (kept on stop) instead of a fresh one.
    pub workspace: Option<PathBuf>,
    /// Environment of the shell and of graders (nothing else is inherited from the host).
    pub env: BTreeMap<String, String>,
    /// Host directories the agent's shell must not see (where secret files live).
    pub hide_paths: Vec<PathBuf>,
    /// Sandbox or not.
    pub isolation: Isolation,
    /// GPUs leased to the env: when there are any, the sandbox gets the host's NVIDIA
    /// device nodes (and `/sys`, read-only) so CUDA enumerates devices as on the host.
    pub gpus: Vec<String>,
}

/// A local episode: `<tmp>/mlgym-<uid>/episodes/<id>/` (mode 0700) holding
/// `workspace/`, `home/` (the agent's home, wiped at every reset), `runtime/` (the shell
/// runtime, read-only to the agent), `run/` (the shell's state file, wiped at every
/// reset; on tmpfs at `/dev/shm/mlgym-<uid>/<episode>/` when it can be) and `etc/` (the
/// sandbox's `passwd` and `group`). Graders' private folders are
/// elsewhere ([`dirs::grading_dir`]), with random names.
pub struct LocalSandbox {
    root: PathBuf,
    workspace: PathBuf,
    owns_workspace: bool,
    env: BTreeMap<String, String>,
    hide_paths: Vec<PathBuf>,
    view: Option<bwrap::View>,
    run_dir: PathBuf,
    state_file: String,
    live: Arc<Mutex<Vec<LiveShell>>>,
    stopped: bool,
}

/// A shell this sandbox started: its pid (bwrap's, when sandboxed), the start time that
/// tells it from a later process with a reused pid, and its reaper entry.
type LiveShell = (i32, Option<u64>, PathBuf);

/// The episode's `run/` folder (the shell's state file, rewritten after every step) on
/// tmpfs when `/dev/shm` is usable: writing it on a disk file system costs about 0.15 ms
/// a step. `<shm>/mlgym-<uid>/<episode>`, removed with the episode (and by the reaper).
fn shm_run_dir(name: &str) -> Option<PathBuf> {
    let parent = dirs::user_shm_dir();
    dirs::ensure_private_dirs(&[&parent]).ok()?;
    let dir = parent.join(name);
    std::fs::create_dir(&dir).ok()?;
    set_mode(&dir, 0o700).ok()?;
    Some(dir)
}

static EPISODES: AtomicU64 = AtomicU64::new(0);

/// Host folders (under the episode folder) that are wiped at every reset.
const EPISODE_SUBDIRS: [&str; 4] = ["home", "runtime", "run", "etc"];

impl LocalSandbox {
    /// Creates the episode directory (and reaps what crashed owners left behind). With
    /// `Isolation::Sandbox` it fails when bubblewrap cannot build a sandbox on this host
    /// (`SandboxError::Unavailable`, naming the fix).
    pub fn create(config: LocalSandboxConfig) -> Result<Self, SandboxError> {
        let bwrap_path = match config.isolation {
            Isolation::Sandbox => Some(bwrap::available()?),
            Isolation::None => None,
        };
        reaper::reap_orphans();
        let episodes = dirs::episodes_dir();
        dirs::ensure_private(&episodes).map_err(io("create", &episodes))?;
        let grading = dirs::grading_dir();
        dirs::ensure_private(&grading).map_err(io("create", &grading))?;
        let n = EPISODES.fetch_add(1, Ordering::Relaxed);
        let tag = crate::sys::random::random_u32().unwrap_or(0);
        let name = format!("{}-{n}-{tag:08x}", std::process::id());
        let root = episodes.join(&name);
        std::fs::create_dir(&root).map_err(io("create", &root))?;
        set_mode(&root, 0o700).map_err(io("chmod", &root))?;
        for sub in EPISODE_SUBDIRS {
            std::fs::create_dir(root.join(sub)).map_err(io("create", &root))?;
        }
        let run_dir = shm_run_dir(&name).unwrap_or_else(|| root.join("run"));
        std::fs::create_dir(root.join("home/workspace")).map_err(io("create", &root))?;
        std::fs::write(root.join(".mlgym-episode"), b"").map_err(io("write", &root))?;
        for (name, text) in RUNTIME_FILES {
            std::fs::write(root.join("runtime").join(name), text).map_err(io("write", &root))?;
        }
        bwrap::write_identity_files(&root.join("etc")).map_err(io("write", &root))?;
        let (workspace, owns_workspace) = match config.workspace {
            Some(ws) => {
                std::fs::create_dir_all(&ws).map_err(io("create", &ws))?;
                (ws.canonicalize().map_err(io("resolve", &ws))?, false)
            }
            None => {
                let ws = root.join("workspace");
                std::fs::create_dir_all(&ws).map_err(io("create", &ws))?;
                (ws, true)
            }
        };
        let sandboxed = bwrap_path.is_some();
        let mut env = config.env;
        env.entry("PATH".into())
            .or_insert_with(|| "/usr/local/bin:/usr/bin:/bin".into());
        let home = if sandboxed {
            bwrap::AGENT_HOME.to_string()
        } else {
            root.join("home").to_string_lossy().into_owned()
        };
        env.insert("HOME".into(), home);
        env.entry("LANG".into()).or_insert_with(|| "C.UTF-8".into());
        env.entry("LC_ALL".into())
            .or_insert_with(|| "C.UTF-8".into());
        let runtime_dir = if sandboxed {
            bwrap::RUNTIME_DIR.to_string()
        } else {
            root.join("runtime").to_string_lossy().into_owned()
        };
        env.insert("MLGYM_RUNTIME_DIR".into(), runtime_dir);
        if sandboxed {
            // The host's TMPDIR means nothing inside; /tmp is the sandbox's own tmpfs.
            env.insert("TMPDIR".into(), "/tmp".into());
            env.insert("USER".into(), "agent".into());
        }
        // Hide the real directories; a path the workspace lives under cannot be hidden.
        let mut hide_paths: Vec<PathBuf> = config
            .hide_paths
            .iter()
            .filter_map(|p| p.canonicalize().ok())
            .filter(|p| p.is_dir() && !workspace.starts_with(p) && !root.starts_with(p))
            .collect();
        if !sandboxed {
            // Without a sandbox the shell runs as the grader's user: at least hide the
            // folder where gradings happen.
            hide_paths.push(grading.clone());
        }
        hide_paths.sort();
        hide_paths.dedup();
        // A folder inside one already hidden needs (and can get) no mount of its own.
        let mut kept: Vec<PathBuf> = Vec::new();
        for p in hide_paths {
            if !kept.iter().any(|k| p.starts_with(k)) {
                kept.push(p);
            }
        }
        let hide_paths = kept;
        let view = bwrap_path.map(|bwrap| {
            let path = env.get("PATH").cloned().unwrap_or_default();
            let ro_paths = bwrap::python_prefixes(&path, &[])
                .into_iter()
                .filter(|p| {
                    !root.starts_with(p) && !workspace.starts_with(p) && !grading.starts_with(p)
                })
                .collect();
            bwrap::View {
                bwrap,
                workspace: workspace.clone(),
                home: root.join("home"),
                etc: root.join("etc"),
                runtime: root.join("runtime"),
                state: Some(run_dir.clone()),
                ro_paths,
                hide_paths: hide_paths.clone(),
                tmp_bytes: bwrap::DEFAULT_TMP_BYTES,
                gpu_devices: (!config.gpus.is_empty())
                    .then(|| bwrap::nvidia_device_nodes(Path::new("/dev"))),
            }
        });
        // The shell's per-step state (re-sourced by a respawned shell) lives in the
        // episode's `run/`, which every reset wipes: what the agent writes there can
        // only ever reach its own shell in the same episode, never a later episode.
        let state_file = if sandboxed {
            format!("{}/shell.state", bwrap::STATE_DIR)
        } else {
            run_dir.join("shell.state").to_string_lossy().into_owned()
        };
        Ok(Self {
            root,
            workspace,
            owns_workspace,
            env,
            hide_paths,
            view,
            run_dir,
            state_file,
            live: Arc::new(Mutex::new(Vec::new())),
            stopped: false,
        })
    }

    /// The episode directory on the host.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How the agent is isolated.
    pub fn isolation(&self) -> Isolation {
        if self.view.is_some() {
            Isolation::Sandbox
        } else {
            Isolation::None
        }
    }

    /// The `MLGYM_AGENT_LAUNCHER` of a grading: a fresh sandbox with the agent's view,
    /// which also shows the grader's interpreter (`python`) so it can run the worker.
    fn launcher(&self, python: &str) -> Option<Vec<String>> {
        let view = self.view.as_ref()?;
        let mut view = view.clone();
        for p in bwrap::python_prefixes("", &[python]) {
            if !self.root.starts_with(&p)
                && !self.workspace.starts_with(&p)
                && !dirs::grading_dir().starts_with(&p)
                && !view.ro_paths.contains(&p)
            {
                view.ro_paths.push(p);
            }
        }
        let path = self.env.get("PATH").cloned().unwrap_or_default();
        Some(view.launcher(&path))
    }
}

struct LocalShellFactory {
    spec: ProcessSpec,
    root: PathBuf,
    runtime_path: String,
    state_file: String,
    live: Arc<Mutex<Vec<LiveShell>>>,
}

impl ShellFactory for LocalShellFactory {
    fn spawn(&self) -> std::io::Result<Box<dyn ShellTransport>> {
        let transport = ProcessTransport::spawn(&self.spec)?;
        let pid = transport.pid() as i32;
        if let Some(entry) = reaper::register(pid, &self.root) {
            if let Ok(mut live) = self.live.lock() {
                live.push((pid, pid_start_time(transport.pid()), entry));
            }
        }
        Ok(Box::new(transport))
    }

    fn runtime_path(&self) -> String {
        self.runtime_path.clone()
    }

    fn state_file(&self) -> String {
        self.state_file.clone()
    }
}

impl Sandbox for LocalSandbox {
    fn workspace(&self) -> String {
        match self.view {
            Some(_) => bwrap::AGENT_WORKSPACE.to_string(),
            None => self.workspace.to_string_lossy().into_owned(),
        }
    }

    fn workspace_on_host(&self) -> PathBuf {
        self.workspace.clone()
    }

    /// Graders run on the host, as the calling user: they see the host path.
    fn grader_workspace(&self) -> String {
        self.workspace.to_string_lossy().into_owned()
    }

    fn shell_factory(&self) -> Box<dyn ShellFactory> {
        Box::new(LocalShellFactory {
            spec: ProcessSpec {
                cwd: self.workspace.clone(),
                env: self
                    .env
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                hide_paths: self.hide_paths.clone(),
                sandbox: self.view.as_ref().map(|v| v.args(true)),
            },
            root: self.root.clone(),
            runtime_path: match self.view {
                Some(_) => format!("{}/runtime.sh", bwrap::RUNTIME_DIR),
                None => self
                    .root
                    .join("runtime/runtime.sh")
                    .to_string_lossy()
                    .into_owned(),
            },
            state_file: self.state_file.clone(),
            live: Arc::clone(&self.live),
        })
    }

    fn populate_workspace(
        &mut self,
        entries: &[(PathBuf, String, bool)],
    ) -> Result<(), SandboxError> {
        if self.stopped {
            return Err(SandboxError::Stopped);
        }
        // The env has ended the previous episode's shell (and with it the whole
        // sandbox) before this runs; nothing here follows a link the agent planted.
        refill_dir(&self.workspace, entries, &|_| None)?;
        for dir in [self.root.join("home"), self.run_dir.clone()] {
            fresh_dir(&dir)?;
        }
        let mountpoint = self.root.join("home/workspace");
        std::fs::create_dir(&mountpoint).map_err(io("create", &mountpoint))?;
        Ok(())
    }

    /// A fresh folder with a random name, created exclusively with mode 0700 under the
    /// per-user grading folder: outside the episode folder and outside everything a
    /// sandbox binds, so the agent can neither see it nor plant files there beforehand.
    fn make_private_dir(&mut self) -> Result<String, SandboxError> {
        let parent = dirs::grading_dir();
        dirs::ensure_private(&parent).map_err(io("create", &parent))?;
        let name = crate::sys::random::random_hex(16).map_err(io("randomness for", &parent))?;
        let dir = parent.join(name);
        std::fs::create_dir(&dir).map_err(io("create", &dir))?;
        set_mode(&dir, 0o700).map_err(io("chmod", &dir))?;
        Ok(dir.to_string_lossy().into_owned())
    }

    fn copy_in(&mut self, host: &Path, dir: &str, name: &str) -> Result<(), SandboxError> {
        copy_tree(host, &Path::new(dir).join(name), false)
    }

    fn remove(&mut self, path: &str) {
        remove_tree(Path::new(path));
    }

    fn exec(&mut self, request: &ExecRequest) -> Result<ExecOutput, SandboxError> {
        let python = request.argv.first().map_or("", String::as_str);
        let Some(launcher) = self.launcher(python) else {
            return run_with_deadline(request);
        };
        let mut request = request.clone();
        let launcher = serde_json::to_string(&launcher).map_err(|e| SandboxError::Spawn {
            program: python.to_string(),
            source: std::io::Error::other(e),
        })?;
        request.env.insert("MLGYM_AGENT_LAUNCHER".into(), launcher);
        request.env.insert(
            "MLGYM_AGENT_WORKSPACE".into(),
            bwrap::AGENT_WORKSPACE.into(),
        );
        run_with_deadline(&request)
    }

    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if let Ok(mut live) = self.live.lock() {
            for (pid, started, entry) in live.drain(..) {
                // Shells normally ended with their console; never signal a pid that now
                // belongs to another process.
                if started.is_some() && pid_start_time(pid as u32) == started {
                    kill_tree_and_group(pid);
                }
                reaper::unregister(&entry);
            }
        }
        if !self.owns_workspace {
            // Keep the caller's workspace; remove only what we created.
            for sub in EPISODE_SUBDIRS {
                remove_tree(&self.root.join(sub));
            }
            let _ = std::fs::remove_file(self.root.join(".mlgym-episode"));
            let _ = std::fs::remove_dir(&self.root);
        } else {
            remove_tree(&self.root);
        }
        remove_tree(&self.run_dir);
    }
}

impl Drop for LocalSandbox {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests;
