//! The agent's shell inside a container. One long-lived bash per episode, reached either
//! through FIFOs in a bind-mounted host folder (the fast path, see `fifo.rs`) or through
//! the engine's exec attach (any engine). Either way a step is one write and the reads up
//! to its marker.

use super::engine::Engine;
use super::exec::create_and_start;
use super::fifo::FifoLink;
use super::runtime::{block_on, spawn};
use super::{kill_agent_processes, ContainerError};
use crate::shell::{ReadResult, ShellTransport};
use crate::sys::quote::shell_quote;
use bollard::container::LogOutput;
use bollard::exec::StartExecResults;
use futures_util::StreamExt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Prints the shell's pid and uid, then becomes `/bin/bash` (argv[0] as MLGym's).
const BOOT: &str = "echo \"$$ $(id -u)\"; exec -a /bin/bash /bin/bash --norc --noprofile";

/// How to start the agent's shell in a running container.
#[derive(Debug, Clone)]
pub struct ExecShellSpec {
    /// Container id.
    pub container: String,
    /// User the shell runs as.
    pub user: String,
    /// Working directory.
    pub cwd: String,
    /// Environment (`KEY=value`).
    pub env: Vec<String>,
    /// The agent's uid and gid (for shells started as root that drop to them).
    pub ids: (u32, u32),
    /// Whether the image has `setpriv` (root starts, then drops to the agent).
    pub setpriv: bool,
    /// FIFO folder: (host path, path in the container); none: use the exec attach.
    pub fifo_dir: Option<(PathBuf, String)>,
    /// Where a pre-started shell waits (none without `setpriv`).
    pub standby: Option<StandbySlot>,
    /// Set when a shell ended without its agent's processes killed yet (shared with the
    /// sandbox, whose reset kills them as well).
    pub pending_kill: Arc<AtomicBool>,
}

/// Where the pre-started shell waits, shared by the sandbox and its shell factories.
pub type StandbySlot = Arc<StandbyCell>;

/// A pre-started process (the standby shell, or the reset warden), whether one is being
/// made, and whether a reset is waiting for it.
#[derive(Debug)]
pub struct StandbyCell<T = StandbyShell> {
    state: Mutex<StandbyState<T>>,
    changed: Condvar,
}

impl<T> Default for StandbyCell<T> {
    fn default() -> Self {
        Self {
            state: Mutex::new(StandbyState {
                shell: None,
                filling: false,
                waiting: false,
            }),
            changed: Condvar::new(),
        }
    }
}

#[derive(Debug)]
struct StandbyState<T> {
    shell: Option<T>,
    filling: bool,
    waiting: bool,
}

/// How long a reset waits for a standby that is being made before starting its own
/// shell (making one takes about as long, and two at once compete for the engine).
const STANDBY_WAIT: Duration = Duration::from_millis(400);

impl<T> StandbyCell<T> {
    /// The standby, waiting briefly for one that is on its way.
    pub(crate) fn take(&self) -> Option<T> {
        let mut st = self.state.lock().ok()?;
        if st.shell.is_none() && st.filling {
            st.waiting = true;
            self.changed.notify_all();
            let deadline = Instant::now() + STANDBY_WAIT;
            while st.shell.is_none() && st.filling {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                st = self.changed.wait_timeout(st, left).ok()?.0;
            }
            st.waiting = false;
        }
        st.shell.take()
    }

    /// Marks a refill as started; false when one already is.
    pub(crate) fn begin_fill(&self) -> bool {
        match self.state.lock() {
            Ok(mut st) if !st.filling && st.shell.is_none() => {
                st.filling = true;
                true
            }
            _ => false,
        }
    }

    /// Sleeps up to `delay`, cut short when a reset waits.
    pub(crate) fn pause_unless_waited_for(&self, delay: Duration) {
        if let Ok(st) = self.state.lock() {
            let _ = self.changed.wait_timeout_while(st, delay, |st| !st.waiting);
        }
    }

    pub(crate) fn finish_fill(&self, shell: Option<T>) {
        if let Ok(mut st) = self.state.lock() {
            st.filling = false;
            if shell.is_some() {
                st.shell = shell;
            }
            self.changed.notify_all();
        }
    }
}

/// The byte link to one shell.
enum Link {
    Attach {
        input: Option<Pin<Box<dyn AsyncWrite + Send>>>,
        output: Receiver<Vec<u8>>,
        pending: Vec<u8>,
        at: usize,
    },
    Fifo(FifoLink),
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl Link {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Link::Attach { input, .. } => {
                let input = input
                    .as_mut()
                    .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
                block_on(async {
                    input.write_all(bytes).await?;
                    input.flush().await
                })
                .ok_or_else(|| io_err("no async runtime"))?
            }
            Link::Fifo(f) => f.write_all(bytes),
        }
    }

    fn read(&mut self, buf: &mut [u8], wait: Duration) -> std::io::Result<ReadResult> {
        match self {
            Link::Attach {
                output,
                pending,
                at,
                ..
            } => {
                if *at >= pending.len() {
                    match output.recv_timeout(wait) {
                        Ok(chunk) => {
                            *pending = chunk;
                            *at = 0;
                        }
                        Err(RecvTimeoutError::Timeout) => return Ok(ReadResult::Timeout),
                        Err(RecvTimeoutError::Disconnected) => return Ok(ReadResult::Eof),
                    }
                }
                let n = (pending.len() - *at).min(buf.len());
                buf[..n].copy_from_slice(&pending[*at..*at + n]);
                *at += n;
                Ok(ReadResult::Data(n))
            }
            Link::Fifo(f) => f.read(buf, wait),
        }
    }

    fn close_input(&mut self) {
        match self {
            Link::Attach { input, .. } => *input = None,
            Link::Fifo(f) => f.close_input(),
        }
    }
}

/// Starts an exec running `bash -c script`; attached when `attach`, else detached.
fn start_exec(
    engine: &Engine,
    spec: &ExecShellSpec,
    user: &str,
    script: String,
    attach: bool,
) -> std::io::Result<(String, Option<Link>)> {
    let cmd = vec!["/bin/bash".into(), "-c".into(), script];
    let started = block_on(create_and_start(
        &engine.docker,
        &spec.container,
        cmd,
        user,
        &spec.cwd,
        &spec.env,
        attach,
    ))
    .ok_or_else(|| io_err("no async runtime"))?
    .map_err(io_err)?;
    let (exec_id, started) = started;
    let StartExecResults::Attached { mut output, input } = started else {
        return Ok((exec_id, None));
    };
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    spawn(async move {
        while let Some(item) = output.next().await {
            let bytes = match item {
                Ok(LogOutput::StdOut { message })
                | Ok(LogOutput::StdErr { message })
                | Ok(LogOutput::Console { message }) => message.to_vec(),
                Ok(LogOutput::StdIn { .. }) => continue,
                Err(_) => break,
            };
            if tx.send(bytes).is_err() {
                break;
            }
        }
    });
    Ok((
        exec_id,
        Some(Link::Attach {
            input: Some(input),
            output: rx,
            pending: Vec::new(),
            at: 0,
        }),
    ))
}

/// Starts a shell process; `wait_for_go`: it first waits for one line on its input.
fn start_shell(
    engine: &Engine,
    spec: &ExecShellSpec,
    wait_for_go: bool,
) -> std::io::Result<(String, Link)> {
    let (uid, gid) = spec.ids;
    let gate = if wait_for_go {
        "read -r _ || exit 0; "
    } else {
        ""
    };
    let drop_to_agent = format!(
        "exec setpriv --reuid={uid} --regid={gid} --init-groups -- /bin/bash -c {}",
        shell_quote(BOOT)
    );
    if let (Some((host_dir, dir)), true) = (&spec.fifo_dir, spec.setpriv) {
        let (link, in_name, out_name) = FifoLink::create(host_dir)?;
        let script = format!("exec <{dir}/{in_name} >{dir}/{out_name} 2>&1; {gate}{drop_to_agent}");
        let (exec_id, _) = start_exec(engine, spec, "root", script, false)?;
        return Ok((exec_id, Link::Fifo(link)));
    }
    let (user, script) = if spec.setpriv {
        ("root", format!("exec 2>&1; {gate}{drop_to_agent}"))
    } else {
        (spec.user.as_str(), format!("exec 2>&1; {BOOT}"))
    };
    let (exec_id, link) = start_exec(engine, spec, user, script, true)?;
    Ok((
        exec_id,
        link.ok_or_else(|| io_err("the engine started the shell detached"))?,
    ))
}

/// A shell process already started as root and waiting for one line before it drops to
/// the agent and becomes bash: taking it costs a write instead of a new exec (a `runc
/// exec` is tens of milliseconds), which makes warm resets and respawns fast.
pub struct StandbyShell {
    exec_id: String,
    link: Link,
}

impl std::fmt::Debug for StandbyShell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StandbyShell({})", self.exec_id)
    }
}

impl StandbyShell {
    /// Starts a waiting shell.
    pub fn create(engine: &Engine, spec: &ExecShellSpec) -> std::io::Result<Self> {
        let (exec_id, link) = start_shell(engine, spec, true)?;
        Ok(Self { exec_id, link })
    }

    /// Fills the spec's slot with a new standby in the background.
    pub fn refill(engine: Engine, spec: ExecShellSpec) {
        let Some(slot) = spec.standby.clone() else {
            return;
        };
        if !slot.begin_fill() {
            return;
        }
        std::thread::spawn(move || {
            // Let the reset that took the last standby finish first (on a small machine
            // the engine's work for a new exec competes with it), unless one waits.
            slot.pause_unless_waited_for(REFILL_DELAY);
            slot.finish_fill(StandbyShell::create(&engine, &spec).ok());
        });
    }
}

/// Pause before a standby is replaced.
const REFILL_DELAY: Duration = Duration::from_millis(60);

/// A bash process in a container.
pub struct ExecShellTransport {
    engine: Engine,
    spec: ExecShellSpec,
    exec_id: String,
    link: Link,
    pending: Vec<u8>,
    pid: u32,
    uid: u32,
}

impl ExecShellTransport {
    /// Starts the shell (taking the standby when one waits) and reads its start-up line.
    pub fn spawn(engine: &Engine, spec: &ExecShellSpec) -> std::io::Result<Self> {
        if spec.pending_kill.swap(false, Ordering::SeqCst) {
            // What the last shell left running goes before the next shell starts.
            kill_agent_processes(engine, &spec.container, spec.ids.0, 0, false).map_err(io_err)?;
        }
        let standby = spec.standby.as_ref().and_then(|slot| slot.take());
        let transport = match standby {
            Some(standby) => {
                let mut t = Self::new(engine, spec, standby.exec_id, standby.link);
                match t.link.write_all(b"go\n").and_then(|_| t.read_boot_line()) {
                    Ok(()) => Ok(t),
                    // A standby that died (container restarted...): start directly.
                    Err(_) => Self::spawn_direct(engine, spec),
                }
            }
            None => Self::spawn_direct(engine, spec),
        }?;
        StandbyShell::refill(engine.clone(), spec.clone());
        Ok(transport)
    }

    fn spawn_direct(engine: &Engine, spec: &ExecShellSpec) -> std::io::Result<Self> {
        let (exec_id, link) = start_shell(engine, spec, false)?;
        let mut t = Self::new(engine, spec, exec_id, link);
        t.read_boot_line()?;
        Ok(t)
    }

    fn new(engine: &Engine, spec: &ExecShellSpec, exec_id: String, link: Link) -> Self {
        Self {
            engine: engine.clone(),
            spec: spec.clone(),
            exec_id,
            link,
            pending: Vec::new(),
            pid: 0,
            uid: 0,
        }
    }

    fn read_boot_line(&mut self) -> std::io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut line = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io_err("the shell did not start within 30 s"));
            }
            match self.link.read(&mut buf, left)? {
                ReadResult::Data(n) => {
                    line.extend_from_slice(&buf[..n]);
                    if let Some(nl) = line.iter().position(|b| *b == b'\n') {
                        self.pending = line.split_off(nl + 1);
                        let text = String::from_utf8_lossy(&line);
                        let mut parts = text.split_whitespace();
                        self.pid = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                        self.uid = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                        if self.pid == 0 {
                            return Err(io_err(format!("unexpected shell start-up: {text}")));
                        }
                        return Ok(());
                    }
                }
                ReadResult::Timeout => continue,
                ReadResult::Eof => {
                    return Err(io_err(format!(
                        "the shell exited at start-up: {}",
                        String::from_utf8_lossy(&line).trim()
                    )))
                }
            }
        }
    }

    /// The shell's pid inside the container.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Kills the agent's processes (all, or all but this shell) from a fresh root exec.
    fn kill_agent_processes(&self, keep_shell: bool) -> Result<usize, ContainerError> {
        let keep = if keep_shell { self.pid } else { 0 };
        // The uid set-up read as root, never one the agent's shell reported.
        kill_agent_processes(
            &self.engine,
            &self.spec.container,
            self.spec.ids.0,
            keep,
            false,
        )
    }
}

impl ShellTransport for ExecShellTransport {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.link.write_all(bytes)
    }

    fn read(&mut self, buf: &mut [u8], wait: Duration) -> std::io::Result<ReadResult> {
        if !self.pending.is_empty() {
            let n = self.pending.len().min(buf.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            return Ok(ReadResult::Data(n));
        }
        self.link.read(buf, wait)
    }

    fn kill_descendants(&mut self) -> std::io::Result<usize> {
        self.kill_agent_processes(true).map_err(io_err)
    }

    fn terminate(&mut self) {
        // Never by typing into the shell: the agent owns its builtins and functions
        // (`kill`, `builtin`, `command` can all be shadowed). Root kills every process
        // of the agent, this shell included, until none is left: before the next shell
        // starts (a fresh root exec), or at the reset that follows (the warden), or by
        // removing the container; nothing else runs in between.
        self.link.close_input();
        self.spec.pending_kill.store(true, Ordering::SeqCst);
    }

    fn exit_status(&mut self) -> Option<i32> {
        let docker = self.engine.docker.clone();
        let id = self.exec_id.clone();
        let inspect = block_on(async move { docker.inspect_exec(&id).await })?.ok()?;
        if inspect.running == Some(true) {
            return None;
        }
        inspect.exit_code.map(|c| c as i32)
    }
}
