//! A shell link that bypasses the engine: two FIFOs in a host folder bind-mounted into
//! the container. The shell's stdin and stdout are those FIFOs, so a step is a write and
//! a read on a pipe between this process and the shell, as on the local backend, and the
//! engine's attach proxy is not in the path. Only for engines on this host (bind mounts
//! need that anyway). The FIFOs are root-only: the agent cannot open them by path.

use crate::shell::ReadResult;
use crate::sys::poll::poll_read;
use crate::sys::random::random_u32;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static FIFOS: AtomicU64 = AtomicU64::new(0);

/// Longest a write may wait for the shell to drain its input.
const WRITE_DEADLINE: Duration = Duration::from_secs(60);

/// The host ends of one shell's FIFO pair.
pub struct FifoLink {
    input: Option<File>,
    output: File,
    paths: [PathBuf; 2],
}

fn mkfifo(path: &std::path::Path) -> std::io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::other("NUL in path"))?;
    // SAFETY: c is a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl FifoLink {
    /// Creates a pair in `host_dir`; returns the link and the pair's names in the dir.
    pub fn create(host_dir: &std::path::Path) -> std::io::Result<(Self, String, String)> {
        let k = FIFOS.fetch_add(1, Ordering::Relaxed);
        // pid and counter make the name unique; the random part is belt and braces.
        let tag = format!(
            "{}-{k}-{:08x}",
            std::process::id(),
            random_u32().unwrap_or(0)
        );
        let (in_name, out_name) = (format!("in-{tag}"), format!("out-{tag}"));
        let in_path = host_dir.join(&in_name);
        let out_path = host_dir.join(&out_name);
        mkfifo(&in_path)?;
        mkfifo(&out_path)?;
        // Read-write on the input never blocks (we are a reader too); read-only
        // non-blocking on the output does not wait for the shell to open it.
        let input = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&in_path)?;
        let output = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&out_path)?;
        Ok((
            Self {
                input: Some(input),
                output,
                paths: [in_path, out_path],
            },
            in_name,
            out_name,
        ))
    }

    /// Writes everything, waiting (up to a deadline) while the pipe is full.
    pub fn write_all(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        let input = self
            .input
            .as_mut()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        let deadline = Instant::now() + WRITE_DEADLINE;
        while !bytes.is_empty() {
            match input.write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the shell stopped reading its input",
                        ));
                    }
                    let mut pfd = libc::pollfd {
                        fd: input.as_raw_fd(),
                        events: libc::POLLOUT,
                        revents: 0,
                    };
                    // SAFETY: pfd is valid for the call.
                    unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(100) as i32) };
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads what is there, waiting at most `wait`.
    pub fn read(&mut self, buf: &mut [u8], wait: Duration) -> std::io::Result<ReadResult> {
        match poll_read(&mut self.output, buf, wait) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(ReadResult::Timeout),
            other => other.map(ReadResult::from_polled),
        }
    }

    /// Drops the input end.
    pub fn close_input(&mut self) {
        self.input = None;
    }
}

impl Drop for FifoLink {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
    }
}
