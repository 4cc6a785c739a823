//! Waiting for a descriptor to become readable, with a time limit.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Waits up to `wait` for `file` to be readable, then reads once.
///
/// `Ok(None)`: nothing arrived in time (an interrupted wait counts as that, so callers
/// simply loop); `Ok(Some(0))`: end of file; `Ok(Some(n))`: `n` bytes were read.
pub fn poll_read(
    file: &mut File,
    buf: &mut [u8],
    wait: Duration,
) -> std::io::Result<Option<usize>> {
    let mut pfd = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: pfd is a valid pollfd for the duration of the call.
    let ready = unsafe { libc::poll(&mut pfd, 1, millis) };
    if ready < 0 {
        let err = std::io::Error::last_os_error();
        if err.kind() == std::io::ErrorKind::Interrupted {
            return Ok(None);
        }
        return Err(err);
    }
    if ready == 0 {
        return Ok(None);
    }
    file.read(buf).map(Some)
}
