//! The persistent shell on the local backend, driven through `mlgym::session::Session`.

use mlgym::aci::AciConfig;
use mlgym::session::{Session, SessionConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A temporary workspace removed when the test ends.
struct TempWorkspace(PathBuf);

impl Drop for TempWorkspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_workspace(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mlgym-test-{tag}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn session(tag: &str, timeout: f64) -> (Session, TempWorkspace) {
    let ws = temp_workspace(tag);
    let mut env = BTreeMap::new();
    env.insert(
        "PATH".to_string(),
        std::env::var("PATH").unwrap_or_default(),
    );
    let config = SessionConfig {
        workspace: ws.clone(),
        shell_vars: Vec::new(),
        process_env: env,
        aci: AciConfig {
            short_timeout: Duration::from_secs_f64(timeout),
            long_timeout: Duration::from_secs_f64(timeout),
            no_output_timeout: Duration::from_secs_f64(timeout),
            observation_limit: Some(20_000),
        },
    };
    (
        Session::start(config).expect("session starts"),
        TempWorkspace(ws),
    )
}

#[test]
fn echo_and_state() {
    let (mut s, ws) = session("echo", 10.0);
    let out = s.run("echo hello && false").unwrap();
    assert_eq!(out.observation, "hello");
    assert_eq!(out.exit_code, Some(1));
    let ws_real = ws.0.canonicalize().unwrap();
    assert_eq!(out.state.working_dir, ws_real.to_string_lossy());
    assert_eq!(out.state.open_file, "n/a");
    let out = s.run("mkdir -p sub && cd sub").unwrap();
    assert!(out.state.working_dir.ends_with("/sub"), "{:?}", out.state);
    s.close();
}

#[test]
fn timeout_kills_the_command_and_the_session_survives() {
    let (mut s, _ws) = session("timeout", 1.5);
    let start = Instant::now();
    let out = s.run("echo before; sleep 100").unwrap();
    let took = start.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        out.observation.contains(
            "EXECUTION TIMED OUT BECAUSE THE COMMAND WAS RUNNING FOR MORE THAN 1.5 SECONDS."
        ),
        "{}",
        out.observation
    );
    assert!(out.observation.starts_with("before"), "{}", out.observation);
    assert!(!out.observation.contains("MLGYM"), "{}", out.observation);
    let out = s.run("echo ok").unwrap();
    assert_eq!(out.observation, "ok");
}

#[test]
fn shell_death_is_recovered_with_cwd_and_exports() {
    let (mut s, _ws) = session("death", 10.0);
    s.run("mkdir -p d && cd d && export KEEP_ME=yes").unwrap();
    for killer in ["exit 3", "exec true", "kill -9 $$"] {
        let out = s.run(killer).unwrap();
        assert!(out.shell_restarted.is_some(), "{killer}: {out:?}");
        assert!(
            out.observation.contains("RESTARTED"),
            "{killer}: {}",
            out.observation
        );
        let out = s.run("echo $KEEP_ME; pwd").unwrap();
        let lines: Vec<&str> = out.observation.lines().collect();
        assert_eq!(lines[0], "yes", "{killer}: {}", out.observation);
        assert!(lines[1].ends_with("/d"), "{killer}: {}", out.observation);
    }
}

#[test]
fn stdin_readers_do_not_hang() {
    let (mut s, _ws) = session("stdin", 10.0);
    let start = Instant::now();
    let out = s.run("cat; read x; echo after").unwrap();
    assert_eq!(out.observation, "after");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn huge_output_is_bounded_and_session_survives() {
    let (mut s, _ws) = session("flood", 60.0);
    let out = s
        .run("head -c 50000000 /dev/zero | tr '\\0' 'a'; echo; echo tail-end")
        .unwrap();
    assert!(
        out.observation.chars().count() < 21_000,
        "{}",
        out.observation.len()
    );
    assert!(out.observation.contains("observation truncated"));
    assert!(
        out.observation.ends_with("tail-end"),
        "{}",
        &out.observation[out.observation.len() - 100..]
    );
    assert_eq!(s.run("echo fine").unwrap().observation, "fine");
}

#[test]
fn close_leaves_no_process() {
    let (mut s, _ws) = session("leak", 10.0);
    let out = s.run("(sleep 300 &) ; setsid sleep 301 & echo $$").unwrap();
    let shell_pid: i32 = out.observation.trim().parse().unwrap();
    s.close();
    std::thread::sleep(Duration::from_millis(100));
    let alive = |pid: i32| std::path::Path::new(&format!("/proc/{pid}")).exists();
    assert!(!alive(shell_pid));
    let leftovers = std::process::Command::new("pgrep")
        .args(["-f", "sleep 30[01]"])
        .output()
        .unwrap();
    assert!(
        leftovers.stdout.is_empty(),
        "left: {}",
        String::from_utf8_lossy(&leftovers.stdout)
    );
}

#[test]
fn empty_and_nul_actions_are_rejected_clearly() {
    let (mut s, _ws) = session("bad", 10.0);
    assert!(s.run("   ").unwrap().observation.contains("empty"));
    assert!(s.run("echo a\0b").unwrap().observation.contains("NUL"));
    assert_eq!(s.run("echo next").unwrap().observation, "next");
}
