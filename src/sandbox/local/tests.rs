//! The local sandbox against the attacks it exists to stop. These need bubblewrap and
//! user namespaces (CI installs bubblewrap); they fail, not skip, without them.

use super::*;
use crate::aci::{AciConfig, AciSession};
use std::time::{Duration, Instant};

fn sandbox() -> LocalSandbox {
    let mut env = BTreeMap::new();
    env.insert(
        "PATH".to_string(),
        "/usr/local/bin:/usr/bin:/bin".to_string(),
    );
    LocalSandbox::create(LocalSandboxConfig {
        env,
        ..Default::default()
    })
    .expect("bubblewrap builds a sandbox here (apt-get install bubblewrap)")
}

fn console(sb: &LocalSandbox, timeout: f64) -> AciSession {
    let shell = crate::aci::start_shell(sb.shell_factory(), &sb.workspace(), &[])
        .expect("the sandboxed shell starts");
    let t = Duration::from_secs_f64(timeout);
    AciSession::new(
        shell,
        AciConfig {
            short_timeout: t,
            long_timeout: t,
            no_output_timeout: t,
            observation_limit: Some(20_000),
        },
    )
}

fn run(c: &mut AciSession, action: &str) -> String {
    c.run(action).expect("the action runs").observation
}

fn marker(tag: &str) -> String {
    format!(
        "mlgym-sbx-{tag}-{}",
        crate::sys::random::random_hex(6).expect("randomness")
    )
}

fn running(marker: &str) -> Vec<String> {
    let out = std::process::Command::new("pgrep")
        .args(["-af", marker])
        .output()
        .expect("pgrep runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("pgrep"))
        .map(String::from)
        .collect()
}

fn wait_gone(marker: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = running(marker);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_agent_is_uid_1000_in_its_own_world() {
    let mut sb = sandbox();
    sb.populate_workspace(&[]).unwrap();
    let mut c = console(&sb, 20.0);
    assert_eq!(run(&mut c, "pwd"), AGENT_WORKSPACE_FOR_TESTS);
    assert_eq!(
        run(&mut c, "id -u; id -un; echo $HOME"),
        "1000\nagent\n/home/agent"
    );
    // Host folders are not there: no /root, no episode folder, no grading folder.
    assert_eq!(run(&mut c, "ls -A /root 2>/dev/null | wc -l"), "0");
    let episodes = dirs::episodes_dir();
    let grading = dirs::grading_dir();
    for host in [&episodes, &grading, &sb.root().to_path_buf()] {
        let out = run(
            &mut c,
            &format!("ls {} >/dev/null 2>&1; echo $?", host.display()),
        );
        assert_ne!(out, "0", "{} is visible", host.display());
    }
    // Its own PID 1 (bubblewrap's reaper), its own network (loopback only).
    let init = run(&mut c, "cat /proc/1/cmdline | tr '\\0' ' '");
    assert!(
        init.split(' ').next().unwrap_or("").ends_with("bwrap"),
        "{init}"
    );
    assert_eq!(
        run(&mut c, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"),
        "lo"
    );
    // Read-only system, writable workspace and home.
    assert_ne!(run(&mut c, "touch /usr/x 2>/dev/null; echo $?"), "0");
    assert_eq!(run(&mut c, "touch f ~/g && echo ok"), "ok");
    assert!(sb.workspace_on_host().join("f").is_file());
    assert!(!run(&mut c, "cat /etc/shadow 2>&1").contains("root:"));
    // No user namespaces inside (so no nested PID namespace either).
    assert_eq!(
        run(&mut c, "unshare -Urp true 2>/dev/null || echo refused"),
        "refused"
    );
    drop(c);
    sb.stop();
    assert!(!sb.root().exists());
}

const AGENT_WORKSPACE_FOR_TESTS: &str = bwrap::AGENT_WORKSPACE;

#[test]
fn nothing_survives_stop() {
    let mut sb = sandbox();
    sb.populate_workspace(&[]).unwrap();
    let mut c = console(&sb, 20.0);
    let m = marker("stop");
    let action = format!(
        "(setsid bash -c 'exec -a {m}-a sleep 1000' &); \
         (bash -c '(exec -a {m}-b sleep 1000 &)' &); \
         nohup bash -c 'exec -a {m}-c sleep 1000' >/dev/null 2>&1 & disown; echo started"
    );
    assert_eq!(run(&mut c, &action), "started");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(running(&m).len(), 3, "{:?}", running(&m));
    let shm = dirs::user_shm_dir().join(sb.root().file_name().unwrap());
    assert!(shm.is_dir(), "the shell state lives on tmpfs");
    drop(c);
    sb.stop();
    assert_eq!(wait_gone(&m), Vec::<String>::new());
    assert!(!shm.exists() && !sb.root().exists());
}

#[test]
fn killing_the_shell_kills_its_namespace_and_the_console_recovers() {
    let mut sb = sandbox();
    sb.populate_workspace(&[]).unwrap();
    let mut c = console(&sb, 20.0);
    let m = marker("kill");
    run(&mut c, "mkdir -p d && cd d && export KEEP_ME=yes");
    let out = c
        .run(&format!(
            "(setsid bash -c 'exec -a {m} sleep 1000' &); sleep 0.2; kill -9 $$"
        ))
        .unwrap();
    assert!(out.shell_restarted.is_some(), "{out:?}");
    assert_eq!(wait_gone(&m), Vec::<String>::new());
    // The respawned shell keeps the episode's exports and directory.
    assert_eq!(
        run(&mut c, "echo $KEEP_ME; pwd"),
        format!("yes\n{AGENT_WORKSPACE_FOR_TESTS}/d")
    );
    drop(c);
    sb.stop();
}

#[test]
fn a_timeout_kills_the_commands_not_the_shell() {
    let mut sb = sandbox();
    sb.populate_workspace(&[]).unwrap();
    let mut c = console(&sb, 1.0);
    let m = marker("timeout");
    run(&mut c, "export STILL=here");
    let out = c
        .run(&format!(
            "(setsid bash -c 'exec -a {m} sleep 1000' &); sleep 100"
        ))
        .unwrap();
    assert!(out.timed_out.is_some(), "{out:?}");
    assert!(out.shell_restarted.is_none(), "{out:?}");
    assert_eq!(wait_gone(&m), Vec::<String>::new());
    assert_eq!(run(&mut c, "echo $STILL"), "here");
    drop(c);
    sb.stop();
}

#[test]
fn a_reset_never_touches_what_the_agent_links_to() {
    let host = std::env::temp_dir().join(marker("host"));
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("precious"), b"keep").unwrap();
    let mut sb = sandbox();
    sb.populate_workspace(&[]).unwrap();
    let mut c = console(&sb, 20.0);
    // The swap fails inside the sandbox (the workspace is a mount point) ...
    let swap = format!(
        "cd .. && mv workspace x 2>/dev/null; ln -s {h} workspace 2>/dev/null; \
         cd /home/agent/workspace; ln -s {h}/precious link; ln -s {h} dirlink; \
         ln -s /home/agent/workspace/../.. up; echo done",
        h = host.display()
    );
    assert_eq!(run(&mut c, &swap), "done");
    drop(c);
    // ... and the host side does the same thing to the real folder, then resets.
    let ws = sb.workspace_on_host();
    std::os::unix::fs::symlink(&host, ws.join("hostlink")).unwrap();
    sb.populate_workspace(&[]).unwrap();
    assert_eq!(std::fs::read(host.join("precious")).unwrap(), b"keep");
    assert!(std::fs::symlink_metadata(&ws).unwrap().is_dir());
    assert_eq!(std::fs::read_dir(&ws).unwrap().count(), 0);
    // The agent's home was wiped too.
    let home: Vec<_> = std::fs::read_dir(sb.root().join("home"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(home, vec![std::ffi::OsString::from("workspace")]);
    sb.stop();
    assert_eq!(std::fs::read(host.join("precious")).unwrap(), b"keep");
    let _ = std::fs::remove_dir_all(&host);
}

#[test]
fn grading_folders_are_random_private_and_out_of_reach() {
    let mut sb = sandbox();
    let a = PathBuf::from(sb.make_private_dir().unwrap());
    let b = PathBuf::from(sb.make_private_dir().unwrap());
    assert_ne!(a, b);
    for dir in [&a, &b] {
        assert!(dir.starts_with(dirs::grading_dir()));
        assert!(!dir.starts_with(sb.root()));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
    let episode_mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(sb.root()).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(episode_mode, 0o700);
    assert_eq!(
        sb.grader_workspace(),
        sb.workspace_on_host().to_string_lossy()
    );
    // A grader's request carries the launcher of a fresh sandbox and the agent's path.
    let out = sb
        .exec(&ExecRequest {
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo \"$MLGYM_AGENT_WORKSPACE\"; printf '%s' \"$MLGYM_AGENT_LAUNCHER\"".into(),
            ],
            cwd: "/".into(),
            env: BTreeMap::new(),
            stdin: Vec::new(),
            timeout: Duration::from_secs(10),
        })
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (ws, launcher) = text.split_once('\n').unwrap();
    assert_eq!(ws, bwrap::AGENT_WORKSPACE);
    let launcher: Vec<String> = serde_json::from_str(launcher).unwrap();
    assert!(launcher[0].ends_with("bwrap"));
    // The launcher runs a command as the agent in the workspace, without the state dir.
    let mut cmd = std::process::Command::new(&launcher[0]);
    cmd.args(&launcher[1..])
        .args(["/bin/sh", "-c", "id -u; pwd; ls /run/mlgym 2>&1 | head -1"]);
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..2], ["1000", bwrap::AGENT_WORKSPACE], "{text}");
    sb.remove(&a.to_string_lossy());
    sb.remove(&b.to_string_lossy());
    assert!(!a.exists() && !b.exists());
    sb.stop();
}
