//! The local backend: a temp episode directory and a bash process tree on this host.

use super::exec::{ExecOutput, ExecRequest, EXEC_OUTPUT_LIMIT};
use super::{reaper, Sandbox, SandboxError};
use crate::shell::process::{ProcessSpec, ProcessTransport};
use crate::shell::{ShellFactory, ShellTransport, LINTD_PY, RUNTIME_SH};
use crate::sys::dirs;
use crate::sys::proc::{exit_code, kill_group, kill_tree_and_group};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SandboxError + 'a {
    move |source| SandboxError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Copies a file or a directory tree; `read_only` drops write permission on the copy.
pub fn copy_tree(src: &Path, dst: &Path, read_only: bool) -> Result<(), SandboxError> {
    let meta = std::fs::metadata(src).map_err(io("read", src))?;
    if meta.is_dir() {
        std::fs::create_dir_all(dst).map_err(io("create", dst))?;
        let mut entries: Vec<_> = std::fs::read_dir(src)
            .map_err(io("list", src))?
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            copy_tree(&entry.path(), &dst.join(entry.file_name()), read_only)?;
        }
        if read_only {
            set_mode(dst, 0o555).map_err(io("chmod", dst))?;
        }
    } else {
        std::fs::copy(src, dst).map_err(io("copy to", dst))?;
        if read_only {
            set_mode(dst, 0o444).map_err(io("chmod", dst))?;
        }
    }
    Ok(())
}

/// A private folder on tmpfs for the shell's per-step state file: the runtime rewrites
/// it after every command, which costs ~4x more on an overlay `/tmp`.
fn fast_state_dir() -> Option<PathBuf> {
    let dir = dirs::user_shm_dir();
    std::fs::create_dir_all(&dir).ok()?;
    set_mode(&dir, 0o700).ok()?;
    Some(dir)
}

/// Removes everything inside `dir` (which stays, so bind mounts and open shells keep it).
pub fn empty_dir(dir: &Path) {
    if let Ok(children) = std::fs::read_dir(dir) {
        for child in children.flatten() {
            let path = child.path();
            if path.is_dir() && !path.is_symlink() {
                remove_tree(&path);
            } else {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// Empties `dir` and copies `entries` (`(source, name, read_only)`) into it, calling
/// `copied(path, read_only)` after each.
pub fn refill_dir(
    dir: &Path,
    entries: &[(PathBuf, String, bool)],
    mut copied: impl FnMut(&Path, bool),
) -> Result<(), SandboxError> {
    empty_dir(dir);
    for (src, name, read_only) in entries {
        let dst = dir.join(name);
        copy_tree(src, &dst, *read_only)?;
        copied(&dst, *read_only);
    }
    Ok(())
}

/// Removes a tree even where write permission was dropped.
pub fn remove_tree(path: &Path) {
    fn make_writable(path: &Path) {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.is_dir() {
                let _ = set_mode(path, 0o755);
                if let Ok(entries) = std::fs::read_dir(path) {
                    for e in entries.flatten() {
                        make_writable(&e.path());
                    }
                }
            }
        }
    }
    make_writable(path);
    let _ = std::fs::remove_dir_all(path);
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
        std::fs::write(root.join("runtime/runtime.sh"), RUNTIME_SH).map_err(io("write", &root))?;
        std::fs::write(root.join("runtime/lintd.py"), LINTD_PY).map_err(io("write", &root))?;
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
        refill_dir(&self.workspace, entries, |_, _| {})
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

    fn describe(&self) -> String {
        format!("local sandbox at {}", self.root.display())
    }
}

impl Drop for LocalSandbox {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs a process in its own process group, feeding stdin and collecting both streams
/// until it exits or the deadline passes (then the whole tree is killed).
pub fn run_with_deadline(request: &ExecRequest) -> Result<ExecOutput, SandboxError> {
    let program = request.argv.first().cloned().unwrap_or_default();
    let start = Instant::now();
    let mut child = Command::new(&program)
        .args(&request.argv[1..])
        .current_dir(&request.cwd)
        .env_clear()
        .envs(&request.env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| SandboxError::Spawn {
            program: program.clone(),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // Small input (a nonce); a grader that never reads it just gets EPIPE later.
        let _ = stdin.write_all(&request.stdin);
    }
    let mut stdout = child.stdout.take().ok_or_else(|| SandboxError::Spawn {
        program: program.clone(),
        source: std::io::Error::other("no stdout"),
    })?;
    let mut stderr = child.stderr.take().ok_or_else(|| SandboxError::Spawn {
        program: program.clone(),
        source: std::io::Error::other("no stderr"),
    })?;
    let deadline = start + request.timeout;
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut open = [true, true];
    let mut timed_out = false;
    let mut buf = vec![0u8; 64 * 1024];
    while open[0] || open[1] {
        let now = Instant::now();
        if now >= deadline {
            timed_out = true;
            kill_tree_and_group(child.id() as i32);
            break;
        }
        let mut fds = [
            libc::pollfd {
                fd: stdout.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stderr.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        for (fd, is_open) in fds.iter_mut().zip(open) {
            if !is_open {
                fd.fd = -1;
            }
        }
        let wait = (deadline - now).min(Duration::from_millis(500)).as_millis() as i32;
        // SAFETY: fds is a valid array of two pollfds.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, wait.max(1)) };
        if ready <= 0 {
            continue;
        }
        for (i, fd) in fds.iter().enumerate() {
            if fd.fd < 0 || fd.revents == 0 {
                continue;
            }
            let (stream, sink): (&mut dyn Read, &mut Vec<u8>) = if i == 0 {
                (&mut stdout, &mut out)
            } else {
                (&mut stderr, &mut err)
            };
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => open[i] = false,
                Ok(n) => {
                    let room = EXEC_OUTPUT_LIMIT.saturating_sub(sink.len());
                    sink.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
    }
    let status = child
        .wait()
        .map_err(|source| SandboxError::Spawn { program, source })?;
    // Whatever the grader left running in its group goes too.
    kill_group(child.id() as i32);
    Ok(ExecOutput {
        stdout: out,
        stderr: err,
        status: exit_code(status),
        timed_out,
        elapsed: start.elapsed(),
    })
}
