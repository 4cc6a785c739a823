//! The agent's shell inside a container: one exec whose stdin and output stay attached
//! for the shell's whole life, so a step is one write and the reads up to its marker.

use super::engine::Engine;
use super::runtime::{block_on, spawn};
use super::{ContainerError, KILL_AGENT_PROCESSES_SH};
use crate::shell::{ReadResult, ShellTransport};
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt;
use std::pin::Pin;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Start-up line of the exec: merges stderr into stdout (one ordered stream, as the
/// local pipe) and prints the shell's pid and uid before becoming `/bin/bash`.
const SHELL_BOOT: &str =
    "exec 2>&1; echo \"$$ $(id -u)\"; exec -a /bin/bash /bin/bash --norc --noprofile";

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
    /// The agent's uid and gid (for a standby shell that drops to them).
    pub ids: (u32, u32),
    /// Where a pre-started shell waits (none when the image lacks `setpriv`).
    pub standby: Option<StandbySlot>,
}

/// A pre-started shell, shared by the sandbox and its shell factories.
pub type StandbySlot = Arc<Mutex<Option<StandbyShell>>>;

/// A root exec already attached and waiting for one line before it drops to the agent
/// and becomes the shell: taking it costs one write instead of a new exec (a `runc exec`
/// is tens of milliseconds), which is what makes warm resets and respawns fast.
pub struct StandbyShell {
    attached: Attached,
}

impl std::fmt::Debug for StandbyShell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StandbyShell({})", self.attached.exec_id)
    }
}

struct Attached {
    exec_id: String,
    input: Pin<Box<dyn AsyncWrite + Send>>,
    output: Receiver<Vec<u8>>,
}

fn start_attached(
    engine: &Engine,
    spec: &ExecShellSpec,
    user: &str,
    script: String,
) -> std::io::Result<Attached> {
    let docker = engine.docker.clone();
    let spec2 = spec.clone();
    let user = user.to_string();
    let started = block_on(async move {
        let exec = docker
            .create_exec(
                &spec2.container,
                CreateExecOptions {
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(false),
                    env: Some(spec2.env.clone()),
                    cmd: Some(vec!["/bin/bash".into(), "-c".into(), script]),
                    user: Some(user),
                    working_dir: Some(spec2.cwd.clone()),
                    ..Default::default()
                },
            )
            .await?;
        let started = docker
            .start_exec(&exec.id, None::<StartExecOptions>)
            .await?;
        Ok::<_, bollard::errors::Error>((exec.id, started))
    })
    .ok_or_else(|| io_err("no async runtime"))?
    .map_err(io_err)?;
    let (exec_id, started) = started;
    let StartExecResults::Attached { mut output, input } = started else {
        return Err(io_err("the engine started the shell detached"));
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
    Ok(Attached {
        exec_id,
        input,
        output: rx,
    })
}

impl StandbyShell {
    /// Starts a root exec that waits for one line on stdin.
    pub fn create(engine: &Engine, spec: &ExecShellSpec) -> std::io::Result<Self> {
        let (uid, gid) = spec.ids;
        let script = format!(
            "read -r _ || exit 0; exec setpriv --reuid={uid} --regid={gid} --init-groups -- /bin/bash -c {}",
            crate::shell::session::shell_quote(SHELL_BOOT)
        );
        Ok(Self {
            attached: start_attached(engine, spec, "root", script)?,
        })
    }

    /// Fills `slot` with a new standby in the background.
    pub fn refill(engine: Engine, spec: ExecShellSpec) {
        let Some(slot) = spec.standby.clone() else {
            return;
        };
        std::thread::spawn(move || {
            if let Ok(standby) = StandbyShell::create(&engine, &spec) {
                if let Ok(mut s) = slot.lock() {
                    *s = Some(standby);
                }
            }
        });
    }
}

/// A bash process in a container, attached through the engine's exec API.
pub struct ExecShellTransport {
    engine: Engine,
    spec: ExecShellSpec,
    exec_id: String,
    input: Option<Pin<Box<dyn AsyncWrite + Send>>>,
    output: Receiver<Vec<u8>>,
    pending: Vec<u8>,
    pending_at: usize,
    pid: u32,
    uid: u32,
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl ExecShellTransport {
    /// Starts the shell (taking the standby when one waits) and reads its start-up line.
    pub fn spawn(engine: &Engine, spec: &ExecShellSpec) -> std::io::Result<Self> {
        let standby = spec
            .standby
            .as_ref()
            .and_then(|slot| slot.lock().ok().and_then(|mut s| s.take()));
        let transport = match standby {
            Some(standby) => {
                let mut t = Self::from_attached(engine, spec, standby.attached);
                match t.write_all(b"go\n").and_then(|_| t.read_boot_line()) {
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
        let attached = start_attached(engine, spec, &spec.user, SHELL_BOOT.to_string())?;
        let mut t = Self::from_attached(engine, spec, attached);
        t.read_boot_line()?;
        Ok(t)
    }

    fn from_attached(engine: &Engine, spec: &ExecShellSpec, a: Attached) -> Self {
        Self {
            engine: engine.clone(),
            spec: spec.clone(),
            exec_id: a.exec_id,
            input: Some(a.input),
            output: a.output,
            pending: Vec::new(),
            pending_at: 0,
            pid: 0,
            uid: 0,
        }
    }

    fn read_boot_line(&mut self) -> std::io::Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut line = Vec::new();
        loop {
            let now = std::time::Instant::now();
            if now >= deadline {
                return Err(io_err("the shell did not start within 30 s"));
            }
            match self.output.recv_timeout(deadline - now) {
                Ok(chunk) => {
                    line.extend_from_slice(&chunk);
                    if let Some(nl) = line.iter().position(|b| *b == b'\n') {
                        let rest = line.split_off(nl + 1);
                        let text = String::from_utf8_lossy(&line);
                        let mut parts = text.split_whitespace();
                        self.pid = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                        self.uid = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
                        self.pending = rest;
                        self.pending_at = 0;
                        if self.pid == 0 {
                            return Err(io_err(format!("unexpected shell start-up: {text}")));
                        }
                        return Ok(());
                    }
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
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

    fn kill_agent_processes(&self, keep_shell: bool) -> Result<usize, ContainerError> {
        let keep = if keep_shell { self.pid } else { 0 };
        let out = super::exec::run_collect(
            &self.engine,
            &self.spec.container,
            &super::exec::ExecCall {
                argv: vec![
                    "/bin/bash".into(),
                    "-c".into(),
                    KILL_AGENT_PROCESSES_SH.into(),
                    "mlgym-kill".into(),
                    self.uid.to_string(),
                    keep.to_string(),
                ],
                user: "root".into(),
                cwd: "/".into(),
                env: vec!["PATH=/usr/local/bin:/usr/bin:/bin".into()],
                stdin: Vec::new(),
                timeout: Duration::from_secs(30),
            },
        )?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0))
    }
}

/// How long an idle shell gets to kill itself before a root exec does it.
const TERMINATE_WAIT: Duration = Duration::from_secs(2);

impl ExecShellTransport {
    /// Reads until `needle` shows up (true) or the deadline or EOF passes (false).
    fn wait_for(&mut self, needle: &[u8], wait: Duration) -> bool {
        let deadline = std::time::Instant::now() + wait;
        let mut seen = self.pending[self.pending_at..].to_vec();
        loop {
            if seen.windows(needle.len()).any(|w| w == needle) {
                return true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            match self.output.recv_timeout(deadline - now) {
                Ok(chunk) => {
                    let keep = seen.len().saturating_sub(needle.len());
                    seen.drain(..keep);
                    seen.extend_from_slice(&chunk);
                }
                Err(_) => return false,
            }
        }
    }
}

impl ShellTransport for ExecShellTransport {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let input = self
            .input
            .as_mut()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        block_on(async {
            input.write_all(bytes).await?;
            input.flush().await
        })
        .ok_or_else(|| io_err("no async runtime"))?
    }

    fn read(&mut self, buf: &mut [u8], wait: Duration) -> std::io::Result<ReadResult> {
        if self.pending_at >= self.pending.len() {
            match self.output.recv_timeout(wait) {
                Ok(chunk) => {
                    self.pending = chunk;
                    self.pending_at = 0;
                }
                Err(RecvTimeoutError::Timeout) => return Ok(ReadResult::Timeout),
                Err(RecvTimeoutError::Disconnected) => return Ok(ReadResult::Eof),
            }
        }
        let n = (self.pending.len() - self.pending_at).min(buf.len());
        buf[..n].copy_from_slice(&self.pending[self.pending_at..self.pending_at + n]);
        self.pending_at += n;
        Ok(ReadResult::Data(n))
    }

    fn kill_descendants(&mut self) -> std::io::Result<usize> {
        self.kill_agent_processes(true).map_err(io_err)
    }

    fn terminate(&mut self) {
        // An idle shell can kill every agent process itself (`kill -1` as the agent:
        // every other agent process in this container; then `$$`, itself): no exec.
        // The acknowledgement comes after every other agent process got its SIGKILL, so
        // the next shell cannot be hit by it; the old shell can only run `kill $$` then.
        let ack = format!("__mlgym_killed_{:08x}", super::reaper::random_u32());
        let line = format!("\nkill -9 -1; echo {ack}; kill -9 $$\n");
        if self.write_all(line.as_bytes()).is_ok() && self.wait_for(ack.as_bytes(), TERMINATE_WAIT)
        {
            self.input = None;
            return;
        }
        self.input = None;
        let _ = self.kill_agent_processes(false);
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

    fn describe(&self) -> String {
        format!(
            "bash (pid {}) in {} container {}",
            self.pid,
            self.engine.kind.name(),
            &self.spec.container[..self.spec.container.len().min(12)]
        )
    }
}
