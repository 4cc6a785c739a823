//! Every `MLGYM_*` environment variable the Rust core reads, in one typed struct with its
//! default. The rest of the crate reads them only through [`Settings`]; docs/settings.md
//! lists them together with the Python package's and the tooling's.
//!
//! Settings are read when they are used (each call of [`Settings::from_env`]), not once
//! per process, so a variable set before an env or a container is created applies to it,
//! as it always has.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// Container image of the container backends.
pub const MLGYM_IMAGE: &str = "MLGYM_IMAGE";
/// Set (to anything): no pre-started standby shell in containers.
pub const MLGYM_NO_STANDBY_SHELL: &str = "MLGYM_NO_STANDBY_SHELL";
/// `attach`: reach container shells through the engine's attach instead of FIFOs.
pub const MLGYM_SHELL_LINK: &str = "MLGYM_SHELL_LINK";
/// How many started containers the pool keeps ready per configuration.
pub const MLGYM_CONTAINER_POOL: &str = "MLGYM_CONTAINER_POOL";
/// Timeout (s) of ordinary agent commands.
pub const MLGYM_AGENT_SHORT_TIMEOUT: &str = "MLGYM_AGENT_SHORT_TIMEOUT";
/// Timeout (s) of long-running agent commands when the task sets no `training_timeout`.
pub const MLGYM_AGENT_LONG_TIMEOUT: &str = "MLGYM_AGENT_LONG_TIMEOUT";
/// Longest silence (s) of an agent command.
pub const MLGYM_AGENT_ACTION_NO_OUTPUT_TIMEOUT: &str = "MLGYM_AGENT_ACTION_NO_OUTPUT_TIMEOUT";
/// Comma-separated GPU ids of this host (replaces `nvidia-smi`).
pub const MLGYM_GPUS: &str = "MLGYM_GPUS";
/// Directory of the per-GPU lock files.
pub const MLGYM_GPU_LOCK_DIR: &str = "MLGYM_GPU_LOCK_DIR";

/// Default of [`Settings::image`].
pub const DEFAULT_IMAGE: &str = "mlgym-agent:latest";
/// Default of [`Settings::agent_short_timeout`]: MLGym's.
pub const DEFAULT_AGENT_SHORT_TIMEOUT: Duration = Duration::from_secs(25);
/// Default of [`Settings::agent_long_timeout`]: MLGym's.
pub const DEFAULT_AGENT_LONG_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default of [`Settings::gpu_lock_dir`]: shared by every user of the host.
pub const DEFAULT_GPU_LOCK_DIR: &str = "/tmp/mlgym-gpu-locks";

/// How the container backends reach the agent's shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellLink {
    /// Two FIFOs in a bind-mounted host folder (the fast path; needs `setpriv`).
    Fifo,
    /// The engine's exec attach (works with any engine).
    Attach,
}

/// The core's `MLGYM_*` settings. Unset, empty or unparsable values mean the default.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `MLGYM_IMAGE`: the container image; default [`DEFAULT_IMAGE`].
    pub image: String,
    /// `MLGYM_NO_STANDBY_SHELL` unset: containers keep a pre-started shell for fast
    /// resets and respawns (default true; any value, even empty, turns it off).
    pub standby_shell: bool,
    /// `MLGYM_SHELL_LINK`: `attach` selects [`ShellLink::Attach`]; default
    /// [`ShellLink::Fifo`].
    pub shell_link: ShellLink,
    /// `MLGYM_CONTAINER_POOL`: started containers kept ready per configuration; default 0
    /// (no pool unless `prewarm_containers` asks).
    pub container_pool: usize,
    /// `MLGYM_AGENT_SHORT_TIMEOUT` (seconds, > 0): timeout of ordinary commands; default
    /// [`DEFAULT_AGENT_SHORT_TIMEOUT`].
    pub agent_short_timeout: Duration,
    /// `MLGYM_AGENT_LONG_TIMEOUT` (seconds, > 0): timeout of long-running commands when
    /// the task has no `training_timeout`; default [`DEFAULT_AGENT_LONG_TIMEOUT`].
    pub agent_long_timeout: Duration,
    /// `MLGYM_AGENT_ACTION_NO_OUTPUT_TIMEOUT` (seconds, > 0): longest silence; default
    /// `agent_long_timeout`.
    pub agent_no_output_timeout: Duration,
    /// `MLGYM_GPUS`: the GPU id list when set (even empty: no GPUs); `None` asks
    /// `nvidia-smi`.
    pub gpus: Option<String>,
    /// `MLGYM_GPU_LOCK_DIR`: where the per-GPU lock files are; default
    /// [`DEFAULT_GPU_LOCK_DIR`].
    pub gpu_lock_dir: PathBuf,
}

impl Default for Settings {
    fn default() -> Self {
        Self::from_lookup(|_| None)
    }
}

impl Settings {
    /// The settings of this process's environment now.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// The settings `lookup` (a variable name to its value) describes; for tests and
    /// for callers that hold their own environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Self {
        let text = |name: &str| lookup(name).and_then(|v| v.into_string().ok());
        let secs = |name: &str| {
            text(name)?
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v > 0.0)
                .map(Duration::from_secs_f64)
        };
        let agent_long_timeout =
            secs(MLGYM_AGENT_LONG_TIMEOUT).unwrap_or(DEFAULT_AGENT_LONG_TIMEOUT);
        Self {
            image: text(MLGYM_IMAGE).unwrap_or_else(|| DEFAULT_IMAGE.into()),
            standby_shell: lookup(MLGYM_NO_STANDBY_SHELL).is_none(),
            shell_link: match text(MLGYM_SHELL_LINK).as_deref() {
                Some("attach") => ShellLink::Attach,
                _ => ShellLink::Fifo,
            },
            container_pool: text(MLGYM_CONTAINER_POOL)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            agent_short_timeout: secs(MLGYM_AGENT_SHORT_TIMEOUT)
                .unwrap_or(DEFAULT_AGENT_SHORT_TIMEOUT),
            agent_long_timeout,
            agent_no_output_timeout: secs(MLGYM_AGENT_ACTION_NO_OUTPUT_TIMEOUT)
                .unwrap_or(agent_long_timeout),
            gpus: text(MLGYM_GPUS),
            gpu_lock_dir: match lookup(MLGYM_GPU_LOCK_DIR) {
                Some(dir) if !dir.is_empty() => PathBuf::from(dir),
                _ => PathBuf::from(DEFAULT_GPU_LOCK_DIR),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| ((*k).to_string(), OsString::from(v)))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_when_unset() {
        let s = Settings::default();
        assert_eq!(s.image, DEFAULT_IMAGE);
        assert!(s.standby_shell);
        assert_eq!(s.shell_link, ShellLink::Fifo);
        assert_eq!(s.container_pool, 0);
        assert_eq!(s.agent_short_timeout, Duration::from_secs(25));
        assert_eq!(s.agent_long_timeout, Duration::from_secs(3600));
        assert_eq!(s.agent_no_output_timeout, Duration::from_secs(3600));
        assert_eq!(s.gpus, None);
        assert_eq!(s.gpu_lock_dir, PathBuf::from(DEFAULT_GPU_LOCK_DIR));
    }

    #[test]
    fn values_and_their_edge_cases() {
        let s = settings(&[
            (MLGYM_IMAGE, "img:1"),
            (MLGYM_NO_STANDBY_SHELL, ""),
            (MLGYM_SHELL_LINK, "attach"),
            (MLGYM_CONTAINER_POOL, "3"),
            (MLGYM_AGENT_SHORT_TIMEOUT, " 2.5 "),
            (MLGYM_AGENT_LONG_TIMEOUT, "60"),
            (MLGYM_GPUS, ""),
            (MLGYM_GPU_LOCK_DIR, "/x"),
        ]);
        assert_eq!(s.image, "img:1");
        assert!(!s.standby_shell, "set, even empty, turns the standby off");
        assert_eq!(s.shell_link, ShellLink::Attach);
        assert_eq!(s.container_pool, 3);
        assert_eq!(s.agent_short_timeout, Duration::from_millis(2500));
        assert_eq!(s.agent_long_timeout, Duration::from_secs(60));
        assert_eq!(s.agent_no_output_timeout, Duration::from_secs(60));
        assert_eq!(s.gpus.as_deref(), Some(""), "empty means no GPUs");
        assert_eq!(s.gpu_lock_dir, PathBuf::from("/x"));

        let s = settings(&[
            (MLGYM_SHELL_LINK, "fifo"),
            (MLGYM_CONTAINER_POOL, "many"),
            (MLGYM_AGENT_SHORT_TIMEOUT, "0"),
            (MLGYM_AGENT_ACTION_NO_OUTPUT_TIMEOUT, "-1"),
            (MLGYM_GPU_LOCK_DIR, ""),
        ]);
        assert_eq!(s.shell_link, ShellLink::Fifo);
        assert_eq!(s.container_pool, 0);
        assert_eq!(s.agent_short_timeout, DEFAULT_AGENT_SHORT_TIMEOUT);
        assert_eq!(s.agent_no_output_timeout, DEFAULT_AGENT_LONG_TIMEOUT);
        assert_eq!(s.gpu_lock_dir, PathBuf::from(DEFAULT_GPU_LOCK_DIR));
    }
}
