//! The local backend: a temp episode directory and a bash process tree on this host.

mod exec;
pub mod process;

pub use exec::run_with_deadline;

use super::exec::{ExecOutput, ExecRequest};
use super::fs::{copy_tree, io, refill_dir, remove_tree, set_mode};
use super::{reaper, Sandbox, SandboxError};
use crate::aci::runtime::RUNTIME_FILES;
use crate::shell::{ShellFactory, ShellTransport};
use crate::sys::dirs;
use crate::sys::proc::kill_tree_and_group;
use process::{ProcessSpec, ProcessTransport};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Options of a local sandbox.
#[derive(Debug, Clone, Default)]
pub struct LocalSandboxConfig {
    /// Use this directory as the workspace (kept on stop) instead of a fresh one.
    pub workspace: Option<PathBuf>,
    /// Environment of the shell and of graders (nothing else is inherited from the host).
    pub env: BTreeMap<String, String>,
    /// Host directories the agent's shell must not see (where secret files live).
    pub hide_paths: Vec<PathBuf>,
}

/// A local episode: `<tmp>/mlgym-<uid>/episodes/<id>/{workspace,home,runtime,private}`.
pub struct LocalSandbox {
    root: PathBuf,
    workspace: PathBuf,
    owns_workspace: bool,
    env: BTreeMap<String, String>,
    hide_paths: Vec<PathBuf>,
    state_file: PathBuf,
    live: Arc<Mutex<Vec<(i32, PathBuf)>>>,
    private_dirs: u64,
    stopped: bool,
}

static EPISODES: AtomicU64 = AtomicU64::new(0);

/// A private folder on tmpfs for the shell's per-step state file: the runtime rewrites
/// it after every command, which costs ~4x more on an overlay `/tmp`.
fn fast_state_dir() -> Option<PathBuf> {
    let dir = dirs::user_shm_dir();
    std::fs::create_dir_all(&dir).ok()?;
    set_mode(&dir, 0o700).ok()?;
    Some(dir)
}

impl LocalSandbox {
    /// Creates the episode directory (and reaps what crashed owners left behind).
    pub fn create(config: LocalSandboxConfig) -> Result<Self, SandboxError> {
        reaper::reap_orphans();
        let n = EPISODES.fetch_add(1, Ordering::Relaxed);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let root = dirs::episodes_dir().join(format!("{}-{n}-{stamp:08x}", std::process::id()));
        for sub in ["home", "runtime", "private"] {
            std::fs::create_dir_all(root.join(sub)).map_err(io("create", &root))?;
        }
        std::fs::write(root.join(".mlgym-episode"), b"").map_err(io("write", &root))?;
        set_mode(&root.join("private"), 0o700).map_err(io("chmod", &root))?;
        for (name, text) in RUNTIME_FILES {
            std::fs::write(root.join("runtime").join(name), text).map_err(io("write", &root))?;
        }
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
        let mut env = config.env;
        env.entry("PATH".into())
            .or_insert_with(|| "/usr/local/bin:/usr/bin:/bin".into());
        env.insert(
            "HOME".into(),
            root.join("home").to_string_lossy().into_owned(),
        );
        env.entry("LANG".into()).or_insert_with(|| "C.UTF-8".into());
        env.entry("LC_ALL".into())
            .or_insert_with(|| "C.UTF-8".into());
        env.insert(
            "MLGYM_RUNTIME_DIR".into(),
            root.join("runtime").to_string_lossy().into_owned(),
        );
        // Hide the real directories; a path the workspace lives under cannot be hidden.
        let mut hide_paths: Vec<PathBuf> = config
            .hide_paths
            .iter()
            .filter_map(|p| p.canonicalize().ok())
            .filter(|p| p.is_dir() && !workspace.starts_with(p) && !root.starts_with(p))
            .collect();
        hide_paths.sort();
        hide_paths.dedup();
        let state_file = fast_state_dir()
            .map(|d| {
                d.join(format!(
                    "{}.state",
                    root.file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                ))
            })
            .unwrap_or_else(|| root.join("home/.mlgym_shell_state"));
        Ok(Self {
            root,
            workspace,
            owns_workspace,
            env,
            hide_paths,
            state_file,
            live: Arc::new(Mutex::new(Vec::new())),
            private_dirs: 0,
            stopped: false,
        })
    }

    /// The episode directory on the host.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

struct LocalShellFactory {
    spec: ProcessSpec,
    root: PathBuf,
    state_file: PathBuf,
    live: Arc<Mutex<Vec<(i32, PathBuf)>>>,
}

impl ShellFactory for LocalShellFactory {
    fn spawn(&self) -> std::io::Result<Box<dyn ShellTransport>> {
        let transport = ProcessTransport::spawn(&self.spec)?;
        let pid = transport.pid() as i32;
        if let Some(entry) = reaper::register(pid, &self.root) {
            if let Ok(mut live) = self.live.lock() {
                live.push((pid, entry));
            }
        }
        Ok(Box::new(transport))
    }

    fn runtime_path(&self) -> String {
        self.root
            .join("runtime/runtime.sh")
            .to_string_lossy()
            .into_owned()
    }

    fn state_file(&self) -> String {
        self.state_file.to_string_lossy().into_owned()
    }
}

impl Sandbox for LocalSandbox {
    fn workspace(&self) -> String {
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
            },
            root: self.root.clone(),
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
        refill_dir(&self.workspace, entries, &|_| None)
    }

    fn make_private_dir(&mut self) -> Result<String, SandboxError> {
        self.private_dirs += 1;
        let dir = self
            .root
            .join("private")
            .join(format!("grade-{}", self.private_dirs));
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
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
        run_with_deadline(request)
    }

    fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if let Ok(mut live) = self.live.lock() {
            for (pid, entry) in live.drain(..) {
                kill_tree_and_group(pid);
                reaper::unregister(&entry);
            }
        }
        if !self.owns_workspace {
            // Keep the caller's workspace; remove only what we created.
            for sub in ["home", "runtime", "private"] {
                remove_tree(&self.root.join(sub));
            }
            let _ = std::fs::remove_file(self.root.join(".mlgym-episode"));
            let _ = std::fs::remove_dir(&self.root);
        } else {
            remove_tree(&self.root);
        }
        let _ = std::fs::remove_file(&self.state_file);
    }
}

impl Drop for LocalSandbox {
    fn drop(&mut self) {
        self.stop();
    }
}
