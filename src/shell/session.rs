//! The persistent bash session: one round trip per command, timeouts, respawn.

use super::prelude::{LineModel, ShellPrelude};
use super::transport::{ReadResult, ShellFactory, ShellTransport};
use super::ShellError;
use crate::sys::quote::shell_quote;
use crate::sys::random::{random_hex, to_hex};
use std::time::{Duration, Instant};

/// Raw output kept per command: the head and the tail; the middle of a flood is dropped
/// (and counted) so a command printing gigabytes cannot exhaust memory.
const RAW_HEAD_LIMIT: usize = 8 << 20;
const RAW_TAIL_LIMIT: usize = 2 << 20;
/// How long to wait for the step marker after killing a timed-out command's processes.
const AFTER_KILL_GRACE: Duration = Duration::from_secs(2);

/// Limits for one command.
#[derive(Debug, Clone, Copy)]
pub struct CommandLimits {
    /// Longest total run time.
    pub timeout: Duration,
    /// Longest stretch without any output.
    pub no_output_timeout: Duration,
}

/// Which limit a command hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// The total time limit.
    Total,
    /// The no-output limit.
    NoOutput,
}

/// The shell-side state after a command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellState {
    /// `open_file` as MLGym reports it: the open file's real path, or `n/a`.
    pub open_file: String,
    /// The shell's working directory.
    pub working_dir: String,
}

/// What one command produced.
#[derive(Debug, Clone)]
pub struct CommandOutcome {
    /// Raw bytes the command printed (stdout and stderr interleaved), marker removed.
    pub raw: Vec<u8>,
    /// Exit code, when the command finished normally.
    pub exit_code: Option<i32>,
    /// State after the command.
    pub state: ShellState,
    /// Set when a limit was hit.
    pub timed_out: Option<TimeoutKind>,
    /// Set when the shell died during the command and a new one was started.
    pub shell_restarted: Option<i32>,
    /// Set when the shell was alive but the runtime found it unusable after the command
    /// (a descriptor or resource limit too low, a runtime variable made read-only, ...):
    /// what was wrong. A new shell was started; `shell_restarted` is set too.
    pub restart_reason: Option<String>,
    /// Wall time of the round trip.
    pub elapsed: Duration,
}

/// Bounded output buffer: head, then a rolling tail.
struct OutputBuffer {
    head: Vec<u8>,
    tail: std::collections::VecDeque<u8>,
    dropped: usize,
}

impl OutputBuffer {
    fn new() -> Self {
        Self {
            head: Vec::new(),
            tail: std::collections::VecDeque::new(),
            dropped: 0,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = RAW_HEAD_LIMIT.saturating_sub(self.head.len());
        let (to_head, rest) = bytes.split_at(room.min(bytes.len()));
        self.head.extend_from_slice(to_head);
        self.tail.extend(rest);
        if self.tail.len() > RAW_TAIL_LIMIT {
            let excess = self.tail.len() - RAW_TAIL_LIMIT;
            self.tail.drain(..excess);
            self.dropped += excess;
        }
    }

    /// The last `n` bytes seen (for finding a marker split across reads).
    fn recent(&self, n: usize) -> Vec<u8> {
        if self.tail.is_empty() {
            let start = self.head.len().saturating_sub(n);
            return self.head[start..].to_vec();
        }
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        let start = tail.len().saturating_sub(n);
        tail[start..].to_vec()
    }

    fn into_bytes(self) -> Vec<u8> {
        let mut out = self.head;
        if self.dropped > 0 {
            out.extend_from_slice(
                format!("\n[... {} bytes of output omitted ...]\n", self.dropped).as_bytes(),
            );
        }
        out.extend(self.tail);
        out
    }
}

/// A persistent bash session speaking the step protocol of
/// `docs/internals/shell-protocol.md`.
pub struct ShellSession {
    factory: Box<dyn ShellFactory>,
    transport: Box<dyn ShellTransport>,
    before_runtime: String,
    after_runtime: String,
    nonce: String,
    seq: u64,
    lines_sent: u64,
    model: Option<Box<dyn LineModel>>,
    state: ShellState,
}

/// The session's marker nonce. The markers only have to be unlikely in a command's own
/// output, so without OS randomness the clock and pid are good enough (unlike grading's
/// nonce, which guards metrics and fails closed).
fn random_nonce() -> String {
    random_hex(8).unwrap_or_else(|_| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        to_hex(&((t as u64) ^ u64::from(std::process::id())).to_le_bytes())
    })
}

impl ShellSession {
    /// Starts a session: spawns bash, runs the prelude's `before_runtime`, sources the
    /// runtime, `cd`s to `cwd` and runs the prelude's `after_runtime` (again after every
    /// respawn).
    pub fn start(
        factory: Box<dyn ShellFactory>,
        cwd: &str,
        prelude: ShellPrelude,
    ) -> Result<Self, ShellError> {
        let transport = factory.spawn().map_err(ShellError::Spawn)?;
        let mut session = Self {
            factory,
            transport,
            before_runtime: prelude.before_runtime,
            after_runtime: prelude.after_runtime,
            nonce: random_nonce(),
            seq: 0,
            lines_sent: 0,
            model: prelude.line_model,
            state: ShellState {
                open_file: "n/a".into(),
                working_dir: cwd.to_string(),
            },
        };
        session.initialise(cwd, false)?;
        Ok(session)
    }

    fn initialise(&mut self, cwd: &str, restore: bool) -> Result<(), ShellError> {
        self.lines_sent = 0;
        let mut script = self.before_runtime.clone();
        script.push_str(&format!(
            "export __MLGYM_STATE_FILE={}\nsource {}\n",
            shell_quote(&self.factory.state_file()),
            shell_quote(&self.factory.runtime_path())
        ));
        if restore {
            // The runtime drops read-only attributes from the saved state.
            script.push_str(
                "__mlgym_load_state \"$__MLGYM_STATE_FILE\"; eval \"$__mlgym_r\" >/dev/null 2>&1\n",
            );
        }
        script.push_str(&format!("cd {} 2>/dev/null\n", shell_quote(cwd)));
        script.push_str(&self.after_runtime);
        self.send(script.as_bytes())?;
        // A sync step: proves the shell is up and drains anything start-up printed.
        let limits = CommandLimits {
            timeout: Duration::from_secs(30),
            no_output_timeout: Duration::from_secs(30),
        };
        let outcome = self.round_trip("true", limits, false)?;
        if outcome.exit_code.is_none() {
            return Err(ShellError::Startup(
                String::from_utf8_lossy(&outcome.raw).into_owned(),
            ));
        }
        Ok(())
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), ShellError> {
        self.lines_sent += bytes.iter().filter(|b| **b == b'\n').count() as u64;
        self.transport.write_all(bytes).map_err(ShellError::Io)
    }

    /// Current state (after the last command).
    pub fn state(&self) -> &ShellState {
        &self.state
    }

    /// Runs one agent action (already guarded and stripped) with MLGym's semantics.
    pub fn run(
        &mut self,
        action: &str,
        limits: CommandLimits,
    ) -> Result<CommandOutcome, ShellError> {
        let outcome = self.round_trip(action, limits, true)?;
        Ok(outcome)
    }

    /// Records a step that the env answered without the shell (for the line model).
    pub fn note_env_step(&mut self) {
        if let Some(model) = self.model.as_mut() {
            model.after_env_step();
        }
    }

    /// Advances the line model past a step that reached the shell.
    fn note_shell_step(&mut self, action: &str, ran: bool) {
        if let Some(model) = self.model.as_mut() {
            model.after_shell_step(action, ran);
        }
    }

    fn round_trip(
        &mut self,
        action: &str,
        limits: CommandLimits,
        model_lines: bool,
    ) -> Result<CommandOutcome, ShellError> {
        self.seq += 1;
        let seq = self.seq;
        let delim = format!("__MLGYM_{}_{seq}", self.nonce);
        // The backslashes keep the agent's aliases off the protocol's own words.
        let head = format!("\\__mlgym_pre {seq} <<'{delim}'\n{action}\n{delim}\n");
        let head_lines = head.bytes().filter(|b| *b == b'\n').count() as u64;
        let eval_line_unpadded = self.lines_sent + head_lines + 1;
        let pad = match (&self.model, model_lines) {
            (Some(model), true) => model.eval_line(action).saturating_sub(eval_line_unpadded),
            _ => 0,
        };
        let mut bytes = head.into_bytes();
        bytes.extend(std::iter::repeat_n(b'\n', pad as usize));
        bytes.extend_from_slice(
            format!(
                "\\eval \"$__mlgym_cmd\" </dev/null; \\__mlgym_post {} {seq} $?\n",
                self.nonce
            )
            .as_bytes(),
        );
        let start = Instant::now();
        if let Err(err) = self.send(&bytes) {
            // The shell is gone before we could even write: restart and report.
            let status = self.transport.exit_status();
            if !model_lines {
                return Err(ShellError::Startup(format!(
                    "could not send to the shell: {err}"
                )));
            }
            self.respawn()?;
            if model_lines {
                self.note_shell_step(action, false);
            }
            return Ok(CommandOutcome {
                raw: format!("(could not send the command: {err})").into_bytes(),
                exit_code: None,
                state: self.state.clone(),
                timed_out: None,
                shell_restarted: Some(status.unwrap_or(-1)),
                restart_reason: None,
                elapsed: start.elapsed(),
            });
        }
        let marker = format!("\x1eMLGYM:{}:{seq}:", self.nonce).into_bytes();
        let mut out = OutputBuffer::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut last_output = Instant::now();
        let mut timed_out = None;
        let mut kill_deadline: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let deadline = match kill_deadline {
                Some(d) => d,
                None => (start + limits.timeout).min(last_output + limits.no_output_timeout),
            };
            if now >= deadline {
                if kill_deadline.is_some() {
                    // The marker never came after the kill: the shell itself is stuck.
                    self.transport.terminate();
                    if !model_lines {
                        // A shell that cannot start is not retried (a respawn would
                        // run this same start-up again, for ever).
                        return Err(ShellError::Startup(
                            String::from_utf8_lossy(&out.into_bytes()).into_owned(),
                        ));
                    }
                    self.respawn()?;
                    break;
                }
                timed_out = Some(if now >= start + limits.timeout {
                    TimeoutKind::Total
                } else {
                    TimeoutKind::NoOutput
                });
                let _ = self.transport.kill_descendants();
                kill_deadline = Some(Instant::now() + AFTER_KILL_GRACE);
                continue;
            }
            match self
                .transport
                .read(&mut buf, deadline - now)
                .map_err(ShellError::Io)?
            {
                ReadResult::Timeout => continue,
                ReadResult::Eof => {
                    let status = self.transport.exit_status();
                    self.transport.terminate();
                    let status = status
                        .or_else(|| self.transport.exit_status())
                        .unwrap_or(-1);
                    if !model_lines {
                        return Err(ShellError::Startup(
                            String::from_utf8_lossy(&out.into_bytes()).into_owned(),
                        ));
                    }
                    self.respawn()?;
                    if model_lines {
                        self.note_shell_step(action, true);
                    }
                    let raw = out.into_bytes();
                    return Ok(CommandOutcome {
                        raw,
                        exit_code: None,
                        state: self.state.clone(),
                        timed_out,
                        shell_restarted: Some(status),
                        restart_reason: None,
                        elapsed: start.elapsed(),
                    });
                }
                ReadResult::Data(n) => {
                    last_output = Instant::now();
                    let scan_len = n + marker.len() + 256;
                    out.push(&buf[..n]);
                    if let Some(done) = try_finish(&mut out, &marker, scan_len) {
                        let raw = out.into_bytes();
                        let ran = done.ran;
                        self.state = done.state.clone();
                        let mut shell_restarted = None;
                        if model_lines && done.broken.is_some() {
                            // Alive but unusable: a fresh shell, the state restored.
                            self.transport.terminate();
                            shell_restarted = Some(self.transport.exit_status().unwrap_or(-1));
                            self.respawn()?;
                        }
                        if model_lines {
                            self.note_shell_step(action, ran);
                        }
                        return Ok(CommandOutcome {
                            raw,
                            exit_code: Some(done.code),
                            state: self.state.clone(),
                            timed_out,
                            shell_restarted,
                            restart_reason: done.broken,
                            elapsed: start.elapsed(),
                        });
                    }
                }
            }
        }
        if model_lines {
            self.note_shell_step(action, true);
        }
        let raw = out.into_bytes();
        Ok(CommandOutcome {
            raw,
            exit_code: None,
            state: self.state.clone(),
            timed_out,
            shell_restarted: Some(-1),
            restart_reason: None,
            elapsed: start.elapsed(),
        })
    }

    fn respawn(&mut self) -> Result<(), ShellError> {
        self.transport = self.factory.spawn().map_err(ShellError::Spawn)?;
        let cwd = self.state.working_dir.clone();
        self.initialise(&cwd, true)?;
        // The respawned shell reports its own state on the sync step.
        Ok(())
    }
}

/// Looks for the complete marker near the end of the output; when found, reads the
/// trailer and strips it from the buffer.
fn try_finish(out: &mut OutputBuffer, marker: &[u8], scan_len: usize) -> Option<Finished> {
    let recent = out.recent(scan_len.max(marker.len() + 4096));
    let pos = find(&recent, marker)?;
    let after = &recent[pos + marker.len()..];
    let end = find(after, b"\x1e\n")?;
    let trailer = String::from_utf8_lossy(&after[..end]).into_owned();
    // Strip the marker (and the newline the runtime prints before it) from the output.
    let remove = recent.len() - pos;
    truncate_end(out, remove);
    let mut parts = trailer.split('\x1f');
    let code_field = parts.next().unwrap_or("");
    let (code, ran) = match code_field.strip_prefix('!') {
        Some(c) => (c.parse().unwrap_or(-1), false),
        None => (code_field.parse().unwrap_or(-1), true),
    };
    let working_dir = parts.next().unwrap_or("").to_string();
    let open_file = parts.next().unwrap_or("").to_string();
    let open_file = if open_file.is_empty() {
        "n/a".to_string()
    } else {
        open_file
    };
    let broken = parts.next().filter(|b| !b.is_empty()).map(str::to_string);
    Some(Finished {
        code,
        ran,
        state: ShellState {
            open_file,
            working_dir,
        },
        broken,
    })
}

struct Finished {
    code: i32,
    ran: bool,
    state: ShellState,
    /// What the runtime found unusable in the shell after the command.
    broken: Option<String>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn truncate_end(out: &mut OutputBuffer, mut n: usize) {
    while n > 0 && !out.tail.is_empty() {
        out.tail.pop_back();
        n -= 1;
    }
    let keep = out.head.len().saturating_sub(n);
    out.head.truncate(keep);
    // Drop the newline the runtime prints before the marker.
    if out.tail.is_empty() {
        if out.head.last() == Some(&b'\n') {
            out.head.pop();
        }
    } else if out.tail.back() == Some(&b'\n') {
        out.tail.pop_back();
    }
}

impl Drop for ShellSession {
    fn drop(&mut self) {
        self.transport.terminate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_keeps_head_and_tail_and_says_how_much_was_dropped() {
        let mut out = OutputBuffer::new();
        out.push(&vec![b'h'; RAW_HEAD_LIMIT]);
        out.push(&vec![b'm'; 1000]);
        out.push(&vec![b't'; RAW_TAIL_LIMIT]);
        assert_eq!(out.dropped, 1000);
        assert_eq!(out.recent(3), b"ttt");
        let bytes = out.into_bytes();
        let note = b"\n[... 1000 bytes of output omitted ...]\n";
        assert_eq!(bytes.len(), RAW_HEAD_LIMIT + note.len() + RAW_TAIL_LIMIT);
        assert_eq!(&bytes[RAW_HEAD_LIMIT..RAW_HEAD_LIMIT + note.len()], note);
    }

    #[test]
    fn the_marker_is_found_across_reads_and_stripped() {
        let marker = b"\x1eMLGYM:abc:7:";
        let mut out = OutputBuffer::new();
        out.push(b"hello\n\x1eMLGYM:ab");
        assert!(try_finish(&mut out, marker, 64).is_none());
        out.push(b"c:7:0\x1f/work\x1f\x1e\n");
        let done = try_finish(&mut out, marker, 64).expect("complete marker");
        assert_eq!(done.code, 0);
        assert!(done.ran);
        assert_eq!(done.state.working_dir, "/work");
        assert_eq!(done.state.open_file, "n/a");
        assert_eq!(out.into_bytes(), b"hello");
    }

    #[test]
    fn a_failed_check_is_reported_as_not_run() {
        let marker = b"\x1eMLGYM:n:1:";
        let mut out = OutputBuffer::new();
        out.push(b"syntax error\n\x1eMLGYM:n:1:!2\x1f/w\x1f/w/f.py\x1e\n");
        let done = try_finish(&mut out, marker, 128).expect("complete marker");
        assert_eq!((done.code, done.ran), (2, false));
        assert_eq!(done.state.open_file, "/w/f.py");
        // A marker of another step (or nonce) is output, not a trailer.
        assert_eq!(done.broken, None);
        let mut other = OutputBuffer::new();
        other.push(b"\x1eMLGYM:n:2:0\x1f/w\x1f\x1e\n");
        assert!(try_finish(&mut other, marker, 128).is_none());
    }

    #[test]
    fn a_fourth_field_says_what_is_broken() {
        let marker = b"\x1eMLGYM:n:3:";
        let mut out = OutputBuffer::new();
        out.push(b"\x1eMLGYM:n:3:0\x1f/w\x1f\x1ftoo few descriptors\x1e\n");
        let done = try_finish(&mut out, marker, 128).expect("complete marker");
        assert_eq!(done.broken.as_deref(), Some("too few descriptors"));
        assert_eq!(done.state.open_file, "n/a");
    }
}
