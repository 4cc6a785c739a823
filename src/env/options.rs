//! Every option of an env with its default, and the policies derived from them: the
//! process environment of the agent's shell and graders, the grader's interpreter, the
//! ACI's limits and the container request.

use super::outcome::RewardMode;
use super::EnvError;
use crate::aci::AciConfig;
use crate::gpu::GpuRequest;
use crate::sandbox::{ContainerConfig, EngineKind, Isolation};
use crate::task::config::parse_memory;
use crate::task::LoadedTask;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default number of steps before autosubmission.
pub const DEFAULT_MAX_STEPS: u32 = 50;
/// Default reward of a final submission that could not be graded.
pub const DEFAULT_FAILURE_REWARD: f64 = -1.0;
/// Host variables the local backend passes on to the agent (API keys and the rest of
/// the host environment stay out of the sandbox).
const INHERITED_VARS: [&str; 4] = ["LANG", "LC_ALL", "TZ", "TMPDIR"];
const FALLBACK_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Everything needed to build an env. `EnvOptions::new(task)` holds every default.
#[derive(Debug, Clone)]
pub struct EnvOptions {
    /// Task id or YAML path.
    pub task: String,
    /// Config roots searched for task ids (user roots first, the bundled one last).
    pub config_roots: Vec<PathBuf>,
    /// Steps before autosubmission (at least 1).
    pub max_steps: u32,
    /// Reward mode.
    pub reward_mode: RewardMode,
    /// Reward of a final submission that could not be graded.
    pub failure_reward: f64,
    /// Observation cap (characters); `None` disables it.
    pub observation_limit: Option<usize>,
    /// Extra process environment of the agent's shell and the graders; on the local
    /// backend it is added to a minimal environment built from the host's.
    pub process_env: BTreeMap<String, String>,
    /// Shell variables set before the first action (MLGym's `env_variables`).
    pub shell_vars: Vec<(String, String)>,
    /// Interpreter that runs graders; `None` picks the backend's default.
    pub grader_python: Option<String>,
    /// The caller's interpreter (Python's `sys.executable`): on the local backend its
    /// folder comes first on the agent's `PATH`, and it runs the graders.
    pub host_python: Option<String>,
    /// Use this workspace directory instead of a fresh one (local backend only).
    pub workspace: Option<PathBuf>,
    /// Override of the short timeout (s).
    pub short_timeout: Option<f64>,
    /// Override of the training timeout (s).
    pub long_timeout: Option<f64>,
    /// Override of the no-output timeout (s).
    pub no_output_timeout: Option<f64>,
    /// Run in a container (Docker or Podman) instead of the local sandbox.
    pub container: Option<ContainerConfig>,
    /// GPUs leased for the env's lifetime (none by default).
    pub gpus: GpuRequest,
    /// How long to wait for busy GPUs (`None`: try once).
    pub gpu_wait: Option<Duration>,
    /// Local backend: a bubblewrap sandbox (default) or none (unsafe for training).
    pub isolation: Isolation,
    /// The secret that keys opponents' randomness; `None` draws one per env. Give the
    /// same key to several envs to grade them against the same opponents' draws (e.g.
    /// comparing backends); never show it to the agent.
    pub grading_key: Option<String>,
}

impl EnvOptions {
    /// Defaults for a task.
    pub fn new(task: impl Into<String>) -> Self {
        Self {
            task: task.into(),
            config_roots: Vec::new(),
            max_steps: DEFAULT_MAX_STEPS,
            reward_mode: RewardMode::Final,
            failure_reward: DEFAULT_FAILURE_REWARD,
            observation_limit: Some(crate::aci::session::DEFAULT_OBSERVATION_LIMIT),
            process_env: BTreeMap::new(),
            shell_vars: Vec::new(),
            grader_python: None,
            host_python: None,
            workspace: None,
            short_timeout: None,
            long_timeout: None,
            no_output_timeout: None,
            container: None,
            gpus: GpuRequest::Count(0),
            gpu_wait: None,
            isolation: Isolation::Sandbox,
            grading_key: None,
        }
    }

    /// Checks what the type system cannot.
    pub fn validate(&self) -> Result<(), EnvError> {
        if self.max_steps == 0 {
            return Err(invalid("max_steps must be at least 1"));
        }
        if !self.failure_reward.is_finite() {
            return Err(invalid("failure_reward must be a finite number"));
        }
        for (name, value) in [
            ("short_timeout", self.short_timeout),
            ("long_timeout", self.long_timeout),
            ("no_output_timeout", self.no_output_timeout),
        ] {
            if let Some(s) = value {
                if !(s > 0.0 && s.is_finite()) {
                    return Err(invalid(format!(
                        "{name} must be a positive number of seconds, got {s}"
                    )));
                }
            }
        }
        for (name, value) in &self.shell_vars {
            check_shell_var(name, value)?;
        }
        for (name, value) in &self.process_env {
            if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
                return Err(invalid(format!(
                    "process_env: {name:?} is not a valid environment variable (no '=' or NUL \
                     in the name, no NUL in the value)"
                )));
            }
        }
        if self.container.is_some() && self.workspace.is_some() {
            return Err(invalid("workspace= is only for backend='local'"));
        }
        if let Some(key) = &self.grading_key {
            let ok = (1..=200).contains(&key.len())
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b));
            if !ok {
                return Err(invalid(
                    "grading_key must be 1 to 200 characters of letters, digits and _.:-",
                ));
            }
        }
        if self.container.is_some() && self.isolation == Isolation::None {
            return Err(invalid(
                "isolation='none' is only for backend='local' (containers are always isolated)",
            ));
        }
        Ok(())
    }

    /// `"sandbox"` or `"none"` (`info["isolation"]`); containers are sandboxes.
    pub fn isolation_name(&self) -> &'static str {
        match &self.container {
            None => self.isolation.name(),
            Some(_) => Isolation::Sandbox.name(),
        }
    }

    /// `local`, `docker` or `podman`.
    pub fn backend_name(&self) -> &'static str {
        match &self.container {
            None => "local",
            Some(c) => c.engine.name(),
        }
    }

    /// The process environment of the agent's shell and graders.
    ///
    /// Local: `PATH` (the caller's interpreter first), the locale and `TMPDIR` of the
    /// host, `CUDA_VISIBLE_DEVICES` for leased GPUs, then `process_env`. Containers:
    /// only `process_env`, since host paths mean nothing inside the image (GPUs are
    /// passed as devices).
    pub fn resolved_process_env(
        &self,
        host: &dyn Fn(&str) -> Option<String>,
        gpus: &[String],
    ) -> BTreeMap<String, String> {
        if self.container.is_some() {
            return self.process_env.clone();
        }
        local_process_env(self.host_python.as_deref(), host, gpus, &self.process_env)
    }

    /// The interpreter that runs graders: `grader_python`, else the caller's own
    /// interpreter on the local backend, else `python3` (the image's).
    pub fn resolved_grader_python(&self) -> String {
        if let Some(p) = &self.grader_python {
            return p.clone();
        }
        match (&self.container, &self.host_python) {
            (None, Some(p)) => p.clone(),
            _ => "python3".to_string(),
        }
    }

    /// The ACI's limits for `task`: MLGym's defaults and variables, the task's training
    /// timeout, then these options.
    pub fn aci_config(&self, task: &LoadedTask) -> AciConfig {
        let mut c = AciConfig::from_env(task.config.training_timeout);
        if let Some(s) = self.short_timeout {
            c.short_timeout = Duration::from_secs_f64(s);
        }
        if let Some(s) = self.long_timeout {
            c.long_timeout = Duration::from_secs_f64(s);
        }
        if let Some(s) = self.no_output_timeout {
            c.no_output_timeout = Duration::from_secs_f64(s);
        } else if self.long_timeout.is_some() {
            c.no_output_timeout = c.long_timeout;
        }
        c.observation_limit = self.observation_limit;
        c
    }
}

/// The process environment of a local shell: `PATH` with the folder of `host_python`
/// first, the host's locale and `TMPDIR`, `CUDA_VISIBLE_DEVICES` for `gpus`, then
/// `extra`. Nothing else of the host's environment (API keys) gets in.
pub fn local_process_env(
    host_python: Option<&str>,
    host: &dyn Fn(&str) -> Option<String>,
    gpus: &[String],
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let path = host("PATH").unwrap_or_else(|| FALLBACK_PATH.to_string());
    let bin = host_python
        .and_then(|p| Path::new(p).parent())
        .map(|d| d.to_string_lossy().into_owned())
        .filter(|d| !d.is_empty());
    let path = match bin {
        Some(bin) => format!("{bin}:{path}"),
        None => path,
    };
    env.insert("PATH".to_string(), path);
    for key in INHERITED_VARS {
        if let Some(v) = host(key) {
            env.insert(key.to_string(), v);
        }
    }
    if !gpus.is_empty() {
        env.insert("CUDA_VISIBLE_DEVICES".to_string(), gpus.join(","));
    }
    env.extend(extra.clone());
    env
}

/// Variables of bash that cannot or must not be assigned from `env_vars`.
const RESERVED_SHELL_VARS: [&str; 9] = [
    "BASHOPTS",
    "BASH_VERSINFO",
    "EUID",
    "PPID",
    "SHELLOPTS",
    "UID",
    "POSIXLY_CORRECT",
    "LAST_ACTION",
    "IFS",
];

/// An `env_vars` entry: a shell name (`[A-Za-z_][A-Za-z0-9_]*`) that the runtime does not
/// own, and a value without NUL bytes (values are single-quoted for bash).
pub(crate) fn check_shell_var(name: &str, value: &str) -> Result<(), EnvError> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(invalid(format!(
            "env_vars: {name:?} is not a shell variable name ([A-Za-z_][A-Za-z0-9_]*)"
        )));
    }
    if name.to_ascii_lowercase().starts_with("__mlgym") || RESERVED_SHELL_VARS.contains(&name) {
        return Err(invalid(format!(
            "env_vars: {name} is reserved for the shell or mlgym's runtime"
        )));
    }
    if value.contains('\0') {
        return Err(invalid(format!(
            "env_vars: the value of {name} contains a NUL byte"
        )));
    }
    Ok(())
}

fn invalid(msg: impl Into<String>) -> EnvError {
    EnvError::InvalidArgument(msg.into())
}

/// Container options as users give them (`backend="docker"`, `memory="4g"`, ...);
/// `Ok(None)` for the local backend.
#[derive(Debug, Clone, Default)]
pub struct ContainerRequest {
    /// `local`, `docker` or `podman`.
    pub backend: String,
    /// Image; `None` is the default image.
    pub image: Option<String>,
    /// Network mode; `None` or `"none"` is no network.
    pub network: Option<String>,
    /// Memory limit such as `512m` or `4g`.
    pub memory: Option<String>,
    /// CPU limit.
    pub cpus: Option<f64>,
    /// Process limit.
    pub pids_limit: Option<i64>,
}

impl ContainerRequest {
    /// The validated container configuration, `None` for the local backend.
    pub fn into_config(self) -> Result<Option<ContainerConfig>, EnvError> {
        if self.backend == "local" {
            return Ok(None);
        }
        let kind = EngineKind::parse(&self.backend).ok_or_else(|| {
            invalid(format!(
                "unknown backend '{}': use 'local', 'docker' or 'podman'",
                self.backend
            ))
        })?;
        let mut c = ContainerConfig::new(kind);
        if let Some(image) = self.image {
            c.image = image;
        }
        c.network = self.network.filter(|n| n != "none");
        if let Some(m) = self.memory {
            c.memory_bytes = Some(parse_memory(&m).ok_or_else(|| {
                invalid(format!("memory must look like '512m' or '4g', got '{m}'"))
            })?);
        }
        if let Some(cpu) = self.cpus {
            if !(cpu > 0.0 && cpu.is_finite()) {
                return Err(invalid(format!("cpus must be positive, got {cpu}")));
            }
            c.cpus = Some(cpu);
        }
        c.pids_limit = self.pids_limit;
        Ok(Some(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_names_are_shell_names_the_runtime_does_not_own() {
        for bad in [
            "X=1; touch f",
            "1X",
            "",
            "A-B",
            "__mlgym_cmd",
            "__MLGYM_STATE_FILE",
            "PPID",
        ] {
            let mut o = EnvOptions::new("t");
            o.shell_vars = vec![(bad.into(), "v".into())];
            assert!(
                matches!(o.validate(), Err(EnvError::InvalidArgument(_))),
                "{bad:?}"
            );
        }
        let mut o = EnvOptions::new("t");
        o.shell_vars = vec![
            ("WINDOW".into(), "10".into()),
            ("_x1".into(), "a'b; c".into()),
        ];
        assert!(o.validate().is_ok());
        o.shell_vars = vec![("X".into(), "a\0b".into())];
        assert!(o.validate().is_err());
        let mut o = EnvOptions::new("t");
        o.process_env.insert("A=B".into(), "v".into());
        assert!(o.validate().is_err());
    }

    fn host(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_string())
        }
    }

    #[test]
    fn local_process_env_is_minimal_and_puts_the_callers_python_first() {
        let mut o = EnvOptions::new("t");
        o.host_python = Some("/venv/bin/python".into());
        o.process_env.insert("EXTRA".into(), "1".into());
        let vars = &[
            ("PATH", "/usr/bin"),
            ("LANG", "C.UTF-8"),
            ("SECRET_KEY", "x"),
        ];
        let env = o.resolved_process_env(&host(vars), &["1".into(), "3".into()]);
        assert_eq!(env["PATH"], "/venv/bin:/usr/bin");
        assert_eq!(env["LANG"], "C.UTF-8");
        assert_eq!(env["CUDA_VISIBLE_DEVICES"], "1,3");
        assert_eq!(env["EXTRA"], "1");
        assert!(!env.contains_key("SECRET_KEY"));
        assert_eq!(o.resolved_grader_python(), "/venv/bin/python");
    }

    #[test]
    fn containers_get_only_what_was_asked_for() {
        let mut o = EnvOptions::new("t");
        o.host_python = Some("/venv/bin/python".into());
        o.container = ContainerRequest {
            backend: "docker".into(),
            ..Default::default()
        }
        .into_config()
        .unwrap();
        o.process_env.insert("A".into(), "b".into());
        let env = o.resolved_process_env(&host(&[("PATH", "/usr/bin")]), &["0".into()]);
        assert_eq!(env.len(), 1);
        assert_eq!(o.resolved_grader_python(), "python3");
        assert_eq!(o.backend_name(), "docker");
    }

    #[test]
    fn bad_options_are_refused() {
        let mut o = EnvOptions::new("t");
        o.max_steps = 0;
        assert!(o.validate().is_err());
        let mut o = EnvOptions::new("t");
        o.short_timeout = Some(-1.0);
        assert!(o
            .validate()
            .unwrap_err()
            .to_string()
            .contains("short_timeout"));
        let bad = ContainerRequest {
            backend: "lxc".into(),
            ..Default::default()
        };
        assert!(bad.into_config().unwrap_err().to_string().contains("lxc"));
        let bad = ContainerRequest {
            backend: "docker".into(),
            memory: Some("lots".into()),
            ..Default::default()
        };
        assert!(bad.into_config().is_err());
    }
}
