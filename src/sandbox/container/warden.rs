//! The reset warden: a root process started ahead of time in its own exec (never through
//! the agent's shell), waiting on a root-only FIFO for the word to end an episode. It
//! then kills every process of the agent (and stray root daemons) and cleans everything
//! outside the workspace, exactly as the exec fallback does, and exits; a new one is
//! started in the background. Taking it costs a write instead of a `runc exec` (tens of
//! milliseconds), and because it is already running it can kill even when a fork bomb
//! holds every pid the container may have. The agent cannot reach it: a different user,
//! FIFOs only root can open, no capability to trace or signal root.

use super::engine::Engine;
use super::exec::{create_and_start, KILL_TIMEOUT};
use super::fifo::FifoLink;
use super::runtime::block_on;
use super::scripts::{KILL_AGENT_PROCESSES_SH, RESET_SH};
use super::transport::StandbyCell;
use crate::shell::ReadResult;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The line a warden prints when everything went well.
const DONE: &[u8] = b"__mlgym_warden_done__";
/// The line a warden prints once it holds both FIFOs.
const READY: &[u8] = b"__mlgym_warden_ready__";

/// Pause before a used warden is replaced (lets the reset that used it finish first).
const REFILL_DELAY: Duration = Duration::from_millis(60);

/// Where the next warden waits.
pub type WardenSlot = Arc<StandbyCell<Warden>>;

/// What a warden needs to start.
#[derive(Clone)]
pub struct WardenSpec {
    /// The engine.
    pub engine: Engine,
    /// Container id.
    pub container: String,
    /// FIFO folder: (host path, path in the container).
    pub fifo_dir: (PathBuf, String),
    /// The agent's uid.
    pub uid: u32,
}

/// A started warden waiting for its word.
pub struct Warden {
    link: FifoLink,
}

impl std::fmt::Debug for Warden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Warden")
    }
}

impl Warden {
    /// Starts a waiting warden.
    pub fn start(spec: &WardenSpec) -> std::io::Result<Self> {
        let (host_dir, dir) = &spec.fifo_dir;
        let (link, in_name, out_name) = FifoLink::create(host_dir)?;
        let script = format!(
            "exec <{dir}/{in_name} >{dir}/{out_name} 2>&1\necho {ready}\nread -r _ || exit 0\n\
             set -- {uid} 0 1\n{KILL_AGENT_PROCESSES_SH}\nset -e\n{RESET_SH}\necho {done}\n",
            uid = spec.uid,
            ready = String::from_utf8_lossy(READY),
            done = String::from_utf8_lossy(DONE),
        );
        let cmd = vec!["/bin/bash".into(), "-c".into(), script];
        let env = ["PATH=/usr/local/bin:/usr/bin:/bin".to_string()];
        block_on(create_and_start(
            &spec.engine.docker,
            &spec.container,
            cmd,
            "root",
            "/",
            &env,
            false,
        ))
        .ok_or_else(|| std::io::Error::other("no async runtime"))?
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut warden = Self { link };
        // Only a warden that holds its FIFOs is handed out: one dropped before it opened
        // them could wait for a writer for ever.
        if !warden.wait_for(READY, Duration::from_secs(30)) {
            return Err(std::io::Error::other("the warden did not start"));
        }
        Ok(warden)
    }

    /// Gives the word and waits for the warden to finish; false if it did not (it died,
    /// a process survived, or cleaning failed): the caller then does it by exec.
    pub fn run(mut self) -> bool {
        // The input stays open until the warden is done (dropping it ends the warden).
        if self.link.write_all(b"go\n").is_err() {
            return false;
        }
        self.wait_for(DONE, KILL_TIMEOUT)
    }

    /// Reads until `needle` shows up (true), or the deadline or EOF passes (false).
    fn wait_for(&mut self, needle: &[u8], wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if seen.windows(needle.len()).any(|w| w == needle) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match self.link.read(&mut buf, left) {
                Ok(ReadResult::Data(n)) => {
                    let keep = seen.len().saturating_sub(needle.len());
                    seen.drain(..keep);
                    seen.extend_from_slice(&buf[..n]);
                }
                Ok(ReadResult::Timeout) => continue,
                _ => return false,
            }
        }
    }
}

/// Starts a new warden for `slot` in the background (unless one is on its way).
pub fn refill(spec: WardenSpec, slot: WardenSlot, delay: bool) {
    if !slot.begin_fill() {
        return;
    }
    std::thread::spawn(move || {
        if delay {
            slot.pause_unless_waited_for(REFILL_DELAY);
        }
        slot.finish_fill(Warden::start(&spec).ok());
    });
}
