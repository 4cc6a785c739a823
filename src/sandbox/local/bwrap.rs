//! The local sandbox's walls, built by bubblewrap (`bwrap`).
//!
//! Why bubblewrap rather than our own `unshare`/`mount` calls: it is small, widely
//! audited (Flatpak runs every app through it), and already gets right the parts that
//! are easy to get subtly wrong: setting up the user namespace and its uid/gid maps
//! without privileges, building a fresh root from a tmpfs with bind mounts that are
//! locked read-only, a minimal `/dev`, a `/proc` of the new PID namespace, and a
//! PID 1 that reaps orphans and takes the whole namespace down when the command exits
//! (or when bwrap's parent dies, with `--die-with-parent`). A sandbox that killing one
//! process empties is what lets `close()` and `reset()` guarantee that no agent process
//! survives.
//!
//! What the agent sees (`View::args`):
//!
//! * read-only: `/usr` and the `/bin`, `/sbin`, `/lib*` entries (symlinks stay
//!   symlinks), an allowlist of `/etc` entries programs need ([`ETC_ALLOWLIST`]; never
//!   `shadow`, `sudoers`, `ssh`), a synthetic `/etc/passwd` and `/etc/group` (root and
//!   `agent`, uid/gid 1000), the task's Python environment (the prefixes of the
//!   interpreter first on `PATH`, and its base prefix), the shell runtime at
//!   [`RUNTIME_DIR`];
//! * read-write: `/home/agent` (the episode's `home/`, wiped at every reset) and
//!   `/home/agent/workspace` (the workspace); `/tmp` and `/dev/shm` are fresh tmpfs
//!   with a size cap; the shell's state folder at [`STATE_DIR`];
//! * an empty read-only tmpfs over every hidden host folder (the task's secret files)
//!   that a bound prefix contains;
//! * its own user (uid 1000 inside), PID, IPC, UTS, cgroup and network namespaces (only
//!   `lo`), a new session (no terminal to inject keystrokes into).
//!
//! Bubblewrap cannot run inside another bubblewrap as root on some hosts (the inner one
//! cannot mount `/proc`), so sandboxes are never nested: graders run on the host and
//! start the agent's code in a fresh sibling sandbox ([`View::launcher`]).

use crate::sandbox::SandboxError;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The agent's home inside the sandbox.
pub const AGENT_HOME: &str = "/home/agent";
/// The workspace inside the sandbox.
pub const AGENT_WORKSPACE: &str = "/home/agent/workspace";
/// Where the shell runtime files are (read-only) inside the sandbox.
pub const RUNTIME_DIR: &str = "/opt/mlgym";
/// Where the shell keeps its per-step state inside the sandbox.
pub const STATE_DIR: &str = "/run/mlgym";
/// The agent's uid and gid inside the sandbox.
pub const AGENT_ID: u32 = 1000;
/// Default size cap of the sandbox's `/tmp` and `/dev/shm` (each).
pub const DEFAULT_TMP_BYTES: u64 = 1 << 30;

/// `/etc` entries bound read-only when the host has them: what the dynamic linker,
/// name resolution, TLS, locales, timezones, terminals and Python's standard library
/// read. Credentials and host administration files are deliberately absent.
pub const ETC_ALLOWLIST: &[&str] = &[
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "timezone",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "alternatives",
    "nsswitch.conf",
    "host.conf",
    "gai.conf",
    "hosts",
    "resolv.conf",
    "mime.types",
    "os-release",
    "debian_version",
    "lsb-release",
    "protocols",
    "services",
    "networks",
    "bash.bashrc",
    "inputrc",
    "terminfo",
    "locale.alias",
    "locale.conf",
    "magic",
    "magic.mime",
    "fonts",
    "mpl",
    "matplotlibrc",
];

/// Host top-level entries that hold programs and libraries: bound read-only when they
/// are folders, recreated as the same symlink when they are symlinks (merged `/usr`).
const SYSTEM_ROOTS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// What one sandbox shows the agent; [`View::args`] turns it into bwrap's arguments.
#[derive(Debug, Clone)]
pub struct View {
    /// Absolute path of the bwrap binary.
    pub bwrap: PathBuf,
    /// Host folder shown at [`AGENT_WORKSPACE`].
    pub workspace: PathBuf,
    /// Host folder shown at [`AGENT_HOME`].
    pub home: PathBuf,
    /// Host folder holding `passwd` and `group` for the sandbox's `/etc`.
    pub etc: PathBuf,
    /// Host folder with the shell runtime, shown read-only at [`RUNTIME_DIR`].
    pub runtime: PathBuf,
    /// Host folder shown at [`STATE_DIR`] (the shell's only; `None` for workers).
    pub state: Option<PathBuf>,
    /// Extra host folders shown read-only at the same path (Python prefixes).
    pub ro_paths: Vec<PathBuf>,
    /// Host folders covered by an empty read-only tmpfs (where secret files live).
    pub hide_paths: Vec<PathBuf>,
    /// Size cap of `/tmp` and `/dev/shm`, in bytes.
    pub tmp_bytes: u64,
    /// `Some(host NVIDIA device nodes)` when the env leases GPUs: they are passed
    /// through with a read-only `/sys`. Which GPUs a program uses is then
    /// `CUDA_VISIBLE_DEVICES`'s job, as on the host: binding only the leased
    /// `/dev/nvidiaN` would renumber the devices under it.
    pub gpu_devices: Option<Vec<PathBuf>>,
}

/// The NVIDIA device nodes in `dev` (`nvidia0`, `nvidiactl`, `nvidia-uvm`, ...), sorted.
pub fn nvidia_device_nodes(dev: &Path) -> Vec<PathBuf> {
    let mut nodes: Vec<PathBuf> = std::fs::read_dir(dev)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("nvidia"))
                .map(|e| e.path())
                .filter(|p| !p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    nodes
}

/// Who the agent is: uid/gid [`AGENT_ID`] in a user namespace of its own, which may not
/// make further user namespaces (less kernel surface, and no nested PID namespace that
/// could hide processes from `kill_descendants`).
fn identity_args() -> [String; 6] {
    let id = AGENT_ID.to_string();
    [
        "--unshare-user".into(),
        "--disable-userns".into(),
        "--uid".into(),
        id.clone(),
        "--gid".into(),
        id,
    ]
}

fn push(args: &mut Vec<String>, items: &[&str]) {
    args.extend(items.iter().map(|s| (*s).to_string()));
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

impl View {
    /// bwrap and its options, up to and including the `--` before the command.
    /// `with_state` binds the shell's state folder (the shell's sandbox, not a worker's).
    pub fn args(&self, with_state: bool) -> Vec<String> {
        let mut a = vec![path_str(&self.bwrap)];
        a.extend(identity_args());
        push(
            &mut a,
            &[
                "--unshare-pid",
                "--unshare-ipc",
                "--unshare-uts",
                "--unshare-cgroup-try",
                // No network: the sandbox has only its own loopback interface.
                "--unshare-net",
                "--hostname",
                "mlgym",
                "--die-with-parent",
                "--new-session",
            ],
        );
        // The fresh /tmp comes before the binds: a Python environment that lives under
        // the host's /tmp (a venv made there) is bound on top of it, not hidden by it.
        push(&mut a, &["--proc", "/proc", "--dev", "/dev"]);
        let size = self.tmp_bytes.to_string();
        push(&mut a, &["--size", &size, "--tmpfs", "/tmp"]);
        push(&mut a, &["--size", &size, "--tmpfs", "/dev/shm"]);
        if let Some(nodes) = &self.gpu_devices {
            for node in nodes {
                let p = path_str(node);
                push(&mut a, &["--dev-bind-try", &p, &p]);
            }
            // NVML reads the devices' PCI details there.
            push(&mut a, &["--ro-bind-try", "/sys", "/sys"]);
        }
        let mut bound: Vec<PathBuf> = Vec::new();
        for root in SYSTEM_ROOTS {
            let path = Path::new(root);
            match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(path) {
                        a.push("--symlink".into());
                        a.push(path_str(&target));
                        a.push((*root).to_string());
                    }
                }
                Ok(meta) if meta.is_dir() => {
                    push(&mut a, &["--ro-bind", root, root]);
                    bound.push(path.to_path_buf());
                }
                _ => {}
            }
        }
        for prefix in &self.ro_paths {
            if bound.iter().any(|b| prefix.starts_with(b)) {
                continue;
            }
            a.push("--ro-bind".into());
            a.push(path_str(prefix));
            a.push(path_str(prefix));
            bound.push(prefix.clone());
        }
        for name in ETC_ALLOWLIST {
            let host = format!("/etc/{name}");
            push(&mut a, &["--ro-bind-try", &host, &host]);
        }
        for name in ["passwd", "group"] {
            a.push("--ro-bind".into());
            a.push(path_str(&self.etc.join(name)));
            a.push(format!("/etc/{name}"));
        }
        a.push("--ro-bind".into());
        a.push(path_str(&self.runtime));
        a.push(RUNTIME_DIR.into());
        a.push("--bind".into());
        a.push(path_str(&self.home));
        a.push(AGENT_HOME.into());
        a.push("--bind".into());
        a.push(path_str(&self.workspace));
        a.push(AGENT_WORKSPACE.into());
        if let (true, Some(state)) = (with_state, &self.state) {
            a.push("--bind".into());
            a.push(path_str(state));
            a.push(STATE_DIR.into());
        }
        // Secret folders: only those a bound prefix contains exist in the sandbox.
        for hidden in &self.hide_paths {
            if !bound.iter().any(|b| hidden.starts_with(b)) {
                continue;
            }
            let p = path_str(hidden);
            push(
                &mut a,
                &["--perms", "0555", "--tmpfs", &p, "--remount-ro", &p],
            );
        }
        push(&mut a, &["--chdir", AGENT_WORKSPACE, "--"]);
        a
    }

    /// The argv prefix that starts a program in a fresh sandbox with the agent's view
    /// (for graders that run agent code: `MLGYM_AGENT_LAUNCHER`). bwrap passes inherited
    /// descriptors through; `HOME`, `TMPDIR` and `PATH` are set to the agent's.
    pub fn launcher(&self, path: &str) -> Vec<String> {
        let mut a = self.args(false);
        a.pop(); // the `--`
        for (k, v) in [("HOME", AGENT_HOME), ("TMPDIR", "/tmp"), ("PATH", path)] {
            push(&mut a, &["--setenv", k, v]);
        }
        a.push("--".into());
        a
    }
}

/// The synthetic `/etc/passwd` and `/etc/group` of a sandbox, written into `dir`.
pub fn write_identity_files(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("passwd"),
        format!(
            "root:x:0:0:root:/root:/bin/bash\n\
             agent:x:{AGENT_ID}:{AGENT_ID}:agent:{AGENT_HOME}:/bin/bash\n\
             nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        ),
    )?;
    std::fs::write(
        dir.join("group"),
        format!("root:x:0:\nagent:x:{AGENT_ID}:\nnogroup:x:65534:\n"),
    )
}

/// The Python installations a sandbox must show, found from the first entry of `PATH`
/// (where the env puts the caller's interpreter): that folder's prefix, the prefix of
/// the real interpreter it links to, and a virtual environment's base (`pyvenv.cfg`).
/// Prefixes too close to the root (`/`, `/opt`, the user's home) are left out: binding
/// them would show the agent far more than an interpreter.
pub fn python_prefixes(path_var: &str, interpreters: &[&str]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut add = |prefix: Option<&Path>| {
        if let Some(p) = prefix {
            if p.components().count() >= 3 && !out.iter().any(|o| o == p) {
                let home = std::env::var_os("HOME").map(PathBuf::from);
                if home.as_deref() != Some(p) {
                    out.push(p.to_path_buf());
                }
            }
        }
    };
    let mut bins: Vec<PathBuf> = Vec::new();
    if let Some(first) = path_var.split(':').next().filter(|s| s.starts_with('/')) {
        bins.push(PathBuf::from(first));
    }
    for exe in interpreters {
        if let Some(dir) = Path::new(exe).parent().filter(|d| d.is_absolute()) {
            bins.push(dir.to_path_buf());
        }
    }
    for bin in bins {
        add(bin.parent());
        for name in ["python3", "python"] {
            if let Ok(real) = bin.join(name).canonicalize() {
                add(real.parent().and_then(Path::parent));
                break;
            }
        }
        if let Some(prefix) = bin.parent() {
            if let Ok(cfg) = std::fs::read_to_string(prefix.join("pyvenv.cfg")) {
                for line in cfg.lines() {
                    if let Some((key, value)) = line.split_once('=') {
                        if key.trim() == "home" {
                            let home = PathBuf::from(value.trim());
                            add(home.parent());
                            if let Ok(real) = home.canonicalize() {
                                add(real.parent());
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// Where bwrap is: the first `bwrap` on `PATH`, else `/usr/bin/bwrap`.
fn find_bwrap() -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| Path::new(d).join("bwrap"))
        .chain([PathBuf::from("/usr/bin/bwrap")])
        .find(|p| p.is_file())
}

/// What to tell a user whose host cannot run the sandbox.
const NO_ISOLATION_HINT: &str = "or pass isolation=\"none\" to run the agent directly on \
     this host (no sandbox: unsafe for training)";

/// The bwrap binary, once checked to build a sandbox on this host (cached per process).
/// The error names the fix: install bubblewrap, or allow unprivileged user namespaces.
pub fn available() -> Result<PathBuf, SandboxError> {
    static CHECKED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CHECKED
        .get_or_init(probe)
        .clone()
        .map_err(SandboxError::Unavailable)
}

fn probe() -> Result<PathBuf, String> {
    let Some(bwrap) = find_bwrap() else {
        return Err(format!(
            "the local sandbox needs bubblewrap, and no `bwrap` was found on PATH: install \
             it (apt-get install bubblewrap; dnf install bubblewrap), {NO_ISOLATION_HINT}"
        ));
    };
    let mut cmd = Command::new(&bwrap);
    // The options the sandbox relies on that older bubblewraps lack (`--disable-userns`
    // and `--size` need 0.8), so that an old one fails here, with the fix, not at reset.
    cmd.args(identity_args());
    cmd.args([
        "--unshare-pid",
        "--unshare-net",
        "--die-with-parent",
        "--ro-bind",
        "/",
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        "1048576",
        "--tmpfs",
        "/tmp",
        "--",
        "/bin/sh",
        "-c",
        "exit 0",
    ])
    .env_clear()
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    match cmd.output() {
        Ok(out) if out.status.success() => Ok(bwrap),
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("Unknown option") => Err(format!(
            "bubblewrap ({}) is too old for the local sandbox (0.8 or newer is needed: {}): \
             upgrade it (apt-get install bubblewrap), {NO_ISOLATION_HINT}",
            bwrap.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(out) => Err(format!(
            "bubblewrap ({}) could not create a sandbox: {}. The kernel probably refuses \
             unprivileged user namespaces: allow them (sysctl -w \
             kernel.unprivileged_userns_clone=1, or raise user.max_user_namespaces; on \
             Ubuntu 24.04+ also kernel.apparmor_restrict_unprivileged_userns=0), \
             {NO_ISOLATION_HINT}",
            bwrap.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!(
            "bubblewrap ({}) could not be started: {e}: reinstall it (apt-get install \
             bubblewrap), {NO_ISOLATION_HINT}",
            bwrap.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leased_gpus_bring_the_nvidia_nodes_and_nothing_else() {
        let dev = std::env::temp_dir().join(format!("mlgym-dev-test-{}", std::process::id()));
        std::fs::create_dir_all(dev.join("nvidia-caps")).unwrap();
        for name in [
            "nvidia0",
            "nvidia1",
            "nvidiactl",
            "nvidia-uvm",
            "null",
            "sda",
        ] {
            std::fs::write(dev.join(name), b"").unwrap();
        }
        let nodes = nvidia_device_nodes(&dev);
        let names: Vec<String> = nodes
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["nvidia-uvm", "nvidia0", "nvidia1", "nvidiactl"]);
        std::fs::remove_dir_all(&dev).unwrap();
        let mut view = View {
            bwrap: "/usr/bin/bwrap".into(),
            workspace: "/h/ws".into(),
            home: "/h/home".into(),
            etc: "/h/etc".into(),
            runtime: "/h/rt".into(),
            state: None,
            ro_paths: Vec::new(),
            hide_paths: Vec::new(),
            tmp_bytes: DEFAULT_TMP_BYTES,
            gpu_devices: None,
        };
        let plain = view.args(false).join(" ");
        assert!(
            !plain.contains("--dev-bind") && !plain.contains("/sys"),
            "{plain}"
        );
        view.gpu_devices = Some(vec!["/dev/nvidia0".into(), "/dev/nvidiactl".into()]);
        let gpu = view.args(false).join(" ");
        assert!(
            gpu.contains("--dev-bind-try /dev/nvidia0 /dev/nvidia0"),
            "{gpu}"
        );
        assert!(
            gpu.contains("--dev-bind-try /dev/nvidiactl /dev/nvidiactl"),
            "{gpu}"
        );
        assert!(gpu.contains("--ro-bind-try /sys /sys"), "{gpu}");
        // After the fresh /dev, or the minimal /dev would cover them.
        assert!(gpu.find("--dev /dev").unwrap() < gpu.find("/dev/nvidia0").unwrap());
    }

    #[test]
    fn prefixes_skip_shallow_folders() {
        assert!(python_prefixes("/usr/bin:/bin", &[]).is_empty());
        assert!(python_prefixes("relative/bin", &["python3"]).is_empty());
        let deep = python_prefixes("/nonexistent/envs/a/bin:/usr/bin", &[]);
        assert_eq!(deep, vec![PathBuf::from("/nonexistent/envs/a")]);
    }

    #[test]
    fn the_view_binds_rw_only_home_and_workspace() {
        let view = View {
            bwrap: "/usr/bin/bwrap".into(),
            workspace: "/h/ep/workspace".into(),
            home: "/h/ep/home".into(),
            etc: "/h/ep/etc".into(),
            runtime: "/h/ep/runtime".into(),
            state: Some("/h/ep/run".into()),
            ro_paths: vec!["/nonexistent/env".into()],
            hide_paths: vec![
                "/nonexistent/env/lib/tasks".into(),
                "/elsewhere/tasks".into(),
            ],
            tmp_bytes: DEFAULT_TMP_BYTES,
            gpu_devices: None,
        };
        let args = view.args(true);
        let rw: Vec<(&str, &str)> = args
            .windows(3)
            .filter(|w| w[0] == "--bind")
            .map(|w| (w[1].as_str(), w[2].as_str()))
            .collect();
        assert_eq!(
            rw,
            vec![
                ("/h/ep/home", AGENT_HOME),
                ("/h/ep/workspace", AGENT_WORKSPACE),
                ("/h/ep/run", STATE_DIR)
            ]
        );
        assert!(args.iter().any(|a| a == "--unshare-net"));
        assert!(args.contains(&"/nonexistent/env/lib/tasks".to_string()));
        // Not under a bound prefix: nothing to hide, and nothing created for it.
        assert!(!args.contains(&"/elsewhere/tasks".to_string()));
        assert!(!args
            .iter()
            .any(|a| a.contains("shadow") || a.contains("sudoers")));
        assert_eq!(args.last().map(String::as_str), Some("--"));
        let launcher = view.launcher("/usr/bin");
        assert!(!launcher.contains(&STATE_DIR.to_string()));
        assert_eq!(launcher.last().map(String::as_str), Some("--"));
    }
}
