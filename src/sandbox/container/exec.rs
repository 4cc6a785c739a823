//! Fresh processes inside a container (graders, set-up, kills): never the agent's shell.

use super::engine::Engine;
use super::runtime::block_on;
use super::{ContainerError, KILL_TREE_SH};
use crate::sandbox::exec::{ExecOutput, EXEC_OUTPUT_LIMIT};
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::Docker;
use futures_util::StreamExt;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// One process to run to completion in a container.
#[derive(Debug, Clone)]
pub struct ExecCall {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// User (`root` for privileged set-up and grading).
    pub user: String,
    /// Working directory.
    pub cwd: String,
    /// Environment (`KEY=value`).
    pub env: Vec<String>,
    /// Written to stdin, which is then closed.
    pub stdin: Vec<u8>,
    /// The process tree is killed after this long.
    pub timeout: Duration,
}

impl ExecCall {
    /// A root process in `/` with a plain `PATH` and no input (set-up and kills).
    pub fn root(argv: &[&str], timeout: Duration) -> Self {
        Self {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            user: "root".into(),
            cwd: "/".into(),
            env: vec!["PATH=/usr/local/bin:/usr/bin:/bin".into()],
            stdin: Vec::new(),
            timeout,
        }
    }
}

/// How long a kill exec may take.
pub const KILL_TIMEOUT: Duration = Duration::from_secs(30);

/// Creates and starts an exec of `cmd` (attached to its stdio when `attach`): the one
/// place every container process starts, graders and the agent's shells alike.
pub async fn create_and_start(
    docker: &Docker,
    container: &str,
    cmd: Vec<String>,
    user: &str,
    cwd: &str,
    env: &[String],
    attach: bool,
) -> Result<(String, StartExecResults), bollard::errors::Error> {
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                attach_stdin: Some(attach),
                attach_stdout: Some(attach),
                attach_stderr: Some(attach),
                tty: Some(false),
                env: Some(env.to_vec()),
                cmd: Some(cmd),
                user: Some(user.to_string()),
                working_dir: Some(cwd.to_string()),
                ..Default::default()
            },
        )
        .await?;
    let opts = StartExecOptions {
        detach: !attach,
        ..Default::default()
    };
    let started = docker.start_exec(&exec.id, Some(opts)).await?;
    Ok((exec.id, started))
}

/// Prints the process's pid on stderr's first line, then becomes the program, so a
/// timeout can kill exactly its tree.
const PID_WRAPPER: &str = "printf '%s\\n' $$ >&2; exec \"$@\"";

fn push_limited(buf: &mut Vec<u8>, bytes: &[u8]) {
    let room = EXEC_OUTPUT_LIMIT.saturating_sub(buf.len());
    buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// Runs `call` and collects its output; kills its process tree at the deadline.
pub fn run_collect(
    engine: &Engine,
    container: &str,
    call: &ExecCall,
) -> Result<ExecOutput, ContainerError> {
    let start = Instant::now();
    let docker = engine.docker.clone();
    let container_id = container.to_string();
    let call2 = call.clone();
    let result = block_on(async move {
        let mut cmd = vec![
            "/bin/bash".to_string(),
            "-c".into(),
            PID_WRAPPER.into(),
            "mlgym-exec".into(),
        ];
        cmd.extend(call2.argv.iter().cloned());
        let (exec_id, started) = create_and_start(
            &docker,
            &container_id,
            cmd,
            &call2.user,
            &call2.cwd,
            &call2.env,
            true,
        )
        .await?;
        let StartExecResults::Attached {
            mut output,
            mut input,
        } = started
        else {
            return Ok((exec_id, Vec::new(), Vec::new(), false));
        };
        // A grader that never reads stdin must not block us: write in the background.
        let stdin = call2.stdin.clone();
        tokio::spawn(async move {
            let _ = input.write_all(&stdin).await;
            let _ = input.shutdown().await;
        });
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let collect = async {
            while let Some(item) = output.next().await {
                match item {
                    Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                        push_limited(&mut stdout, &message)
                    }
                    Ok(LogOutput::StdErr { message }) => push_limited(&mut stderr, &message),
                    Ok(LogOutput::StdIn { .. }) => {}
                    Err(_) => break,
                }
            }
        };
        let timed_out = tokio::time::timeout(call2.timeout, collect).await.is_err();
        Ok::<_, bollard::errors::Error>((exec_id, stdout, stderr, timed_out))
    })
    .ok_or(ContainerError::NoRuntime)?
    .map_err(|e| ContainerError::Api {
        action: "exec in",
        source: e,
    })?;
    let (exec_id, stdout, mut stderr, timed_out) = result;
    // The wrapper's first stderr line is the pid.
    let nl = stderr.iter().position(|b| *b == b'\n');
    let pid: Option<u32> = nl.and_then(|i| std::str::from_utf8(&stderr[..i]).ok()?.parse().ok());
    if let (Some(i), Some(_)) = (nl, pid) {
        stderr.drain(..=i);
    }
    if timed_out {
        if let Some(pid) = pid {
            let argv = [
                "/bin/bash",
                "-c",
                KILL_TREE_SH,
                "mlgym-kill",
                &pid.to_string(),
            ];
            let _ = run_collect(engine, container, &ExecCall::root(&argv, KILL_TIMEOUT));
        }
    }
    let docker = engine.docker.clone();
    let status = if timed_out {
        137
    } else {
        let mut code = None;
        // The stream can close a moment before the engine records the exit code.
        for _ in 0..200 {
            let d = docker.clone();
            let id = exec_id.clone();
            let inspect = block_on(async move { d.inspect_exec(&id).await });
            match inspect {
                Some(Ok(i)) if i.running != Some(true) => {
                    code = i.exit_code;
                    break;
                }
                Some(Ok(_)) => std::thread::sleep(Duration::from_millis(2)),
                _ => break,
            }
        }
        code.unwrap_or(-1) as i32
    };
    Ok(ExecOutput {
        stdout,
        stderr,
        status,
        timed_out,
        elapsed: start.elapsed(),
    })
}
