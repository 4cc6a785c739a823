//! The local backend's shell transport: a bash child process and its pipes, started
//! directly (`isolation="none"`) or as the command of a bubblewrap sandbox.

use crate::shell::{ReadResult, ShellTransport};
use crate::sys::poll::poll_read;
use crate::sys::proc::{
    alive, child_ns_pid, descendants, exit_code, kill_tree, kill_tree_and_group, kill_until_gone,
};
use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How to start one local bash process.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// Working directory of the new shell.
    pub cwd: PathBuf,
    /// The complete process environment (nothing is inherited from the host).
    pub env: Vec<(String, String)>,
    /// Directories made invisible to the shell (an empty tmpfs is mounted over each in a
    /// private mount namespace): where the task's secret files live on the host. Only
    /// without a sandbox (the sandbox's view hides them itself).
    pub hide_paths: Vec<PathBuf>,
    /// bwrap and its options up to `--` (see `bwrap::View::args`): bash runs as the
    /// sandbox's command. `None`: bash runs directly on the host.
    pub sandbox: Option<Vec<String>>,
}

/// A bash process whose stdout and stderr share one pipe.
pub struct ProcessTransport {
    child: Child,
    stdin: File,
    output: File,
    sandboxed: bool,
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid two-element array for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by us.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl ProcessTransport {
    /// Starts `/bin/bash --norc --noprofile` (argv[0] `/bin/bash`) as its own process
    /// group, a child subreaper (so descendants stay in its tree), and killed when the
    /// thread that started it dies.
    ///
    /// With a sandbox, the child is bwrap: it is killed with the thread that started it,
    /// and with `--die-with-parent` the sandbox's PID 1 (and so every process in the
    /// sandbox) dies with it.
    pub fn spawn(spec: &ProcessSpec) -> std::io::Result<Self> {
        let (out_read, out_write) = pipe()?;
        let err_write = out_write.try_clone()?;
        let bash = ["/bin/bash", "--norc", "--noprofile"];
        let mut cmd = match &spec.sandbox {
            Some(prefix) => {
                let mut cmd = Command::new(&prefix[0]);
                cmd.args(&prefix[1..]).args(bash).current_dir("/");
                cmd
            }
            None => {
                let mut cmd = Command::new(bash[0]);
                cmd.arg0(bash[0]).args(&bash[1..]).current_dir(&spec.cwd);
                cmd
            }
        };
        // The environment is the complete one given (bwrap passes its own on to bash,
        // which is what `--clearenv` plus `--setenv` per variable would do).
        cmd.env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::from(out_write))
            .stderr(Stdio::from(err_write))
            .process_group(0);
        let sandboxed = spec.sandbox.is_some();
        let hide: Vec<std::ffi::CString> = spec
            .hide_paths
            .iter()
            .filter_map(|p| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).ok())
            .filter(|_| !sandboxed)
            .collect();
        let ids = unsafe { (libc::getuid(), libc::getgid()) };
        let maps = [
            std::ffi::CString::new(format!("{0} {0} 1", ids.0)).unwrap_or_default(),
            std::ffi::CString::new(format!("{0} {0} 1", ids.1)).unwrap_or_default(),
        ];
        // SAFETY: between fork and exec only raw syscalls run, on data prepared above.
        unsafe {
            cmd.pre_exec(move || {
                if !sandboxed {
                    libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
                }
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
                if !hide.is_empty() {
                    hide_in_private_namespace(&hide, &maps)?;
                }
                Ok(())
            });
        }
        let mut child = spawn_from_long_lived_thread(cmd)?;
        let stdin = child
            .stdin
            .take()
            .map(|s| File::from(OwnedFd::from(s)))
            .ok_or_else(|| std::io::Error::other("no stdin pipe"))?;
        Ok(Self {
            child,
            stdin,
            output: File::from(out_read),
            sandboxed,
        })
    }

    /// Process id of the shell (of bwrap, when sandboxed).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Host pids of the sandbox's processes, with their pid inside the sandbox.
    fn sandbox_processes(&self) -> Vec<(i32, Option<i32>)> {
        descendants(self.child.id() as i32)
            .into_iter()
            .map(|pid| (pid, child_ns_pid(pid)))
            .collect()
    }

    /// Kills every process of the sandbox except its PID 1 (bwrap's reaper) and PID 2
    /// (bash), from the host: orphans, `setsid` and double-forked processes included,
    /// since all of them live in the sandbox's PID namespace under its PID 1.
    fn kill_sandbox_descendants(&mut self) -> usize {
        kill_until_gone(|| {
            self.sandbox_processes()
                .into_iter()
                .filter(|(_, inner)| !matches!(inner, Some(1) | Some(2)))
                .map(|(pid, _)| pid)
                .collect()
        })
    }

    /// Kills the sandbox from outside: SIGKILL to its PID 1 makes the kernel kill every
    /// process in the PID namespace, and bwrap, which waits for that PID 1, exits once
    /// the namespace is empty. Nothing is asked of the agent's shell.
    fn terminate_sandbox(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let init = self
            .sandbox_processes()
            .into_iter()
            .find(|(_, inner)| *inner == Some(1))
            .map(|(pid, _)| pid);
        if let Some(init) = init {
            // SAFETY: as above.
            unsafe {
                libc::kill(init, libc::SIGKILL);
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // No PID 1 yet (bwrap still setting up) or bwrap stuck: kill bwrap and all below.
        kill_tree_and_group(self.child.id() as i32);
        let _ = self.child.wait();
        if let Some(init) = init {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while alive(init) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

impl ShellTransport for ProcessTransport {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stdin.write_all(bytes)?;
        self.stdin.flush()
    }

    fn read(&mut self, buf: &mut [u8], wait: Duration) -> std::io::Result<ReadResult> {
        poll_read(&mut self.output, buf, wait).map(ReadResult::from_polled)
    }

    fn kill_descendants(&mut self) -> std::io::Result<usize> {
        if self.sandboxed {
            return Ok(self.kill_sandbox_descendants());
        }
        Ok(kill_tree(self.child.id() as i32, false))
    }

    fn terminate(&mut self) {
        if self.sandboxed {
            self.terminate_sandbox();
            return;
        }
        kill_tree_and_group(self.child.id() as i32);
        let _ = self.child.wait();
    }

    fn exit_status(&mut self) -> Option<i32> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(exit_code(status)),
            _ => None,
        }
    }
}

impl Drop for ProcessTransport {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Enters a private mount namespace (directly as root, else inside a user namespace
/// that maps our own uid and gid) and mounts an empty read-only tmpfs over each path.
///
/// # Safety
/// Runs between fork and exec: raw syscalls only, no allocation.
unsafe fn hide_in_private_namespace(
    paths: &[std::ffi::CString],
    maps: &[std::ffi::CString; 2],
) -> std::io::Result<()> {
    if libc::unshare(libc::CLONE_NEWNS) != 0 {
        if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        write_proc(c"/proc/self/setgroups", c"deny")?;
        write_proc(c"/proc/self/uid_map", &maps[0])?;
        write_proc(c"/proc/self/gid_map", &maps[1])?;
    }
    if libc::mount(
        std::ptr::null(),
        c"/".as_ptr(),
        std::ptr::null(),
        libc::MS_REC | libc::MS_PRIVATE,
        std::ptr::null(),
    ) != 0
    {
        return Err(std::io::Error::last_os_error());
    }
    for path in paths {
        if libc::mount(
            c"tmpfs".as_ptr(),
            path.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RDONLY,
            c"size=4k,mode=0555".as_ptr().cast(),
        ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// # Safety
/// Raw syscalls only (used between fork and exec).
unsafe fn write_proc(path: &std::ffi::CStr, text: &std::ffi::CStr) -> std::io::Result<()> {
    let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let bytes = text.to_bytes();
    let n = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
    libc::close(fd);
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Spawns `cmd` from one process-wide thread that never exits.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, not the
/// process; shells started from a short-lived worker thread would otherwise be killed
/// with it.
fn spawn_from_long_lived_thread(cmd: Command) -> std::io::Result<Child> {
    use std::sync::mpsc;
    use std::sync::{Mutex, OnceLock};
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        let _ = std::thread::Builder::new()
            .name("mlgym-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            });
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    spawner
        .lock()
        .map_err(|_| std::io::Error::other("spawner lock poisoned"))?
        .send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?
}
