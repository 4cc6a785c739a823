//! Fresh local processes with a deadline (graders), never through the agent's shell.

use crate::sandbox::exec::{ExecOutput, ExecRequest, EXEC_OUTPUT_LIMIT};
use crate::sandbox::SandboxError;
use crate::sys::proc::{exit_code, kill_group, kill_tree_and_group};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
