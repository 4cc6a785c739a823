//! Thin PyO3 bindings: conversion, GIL release, exception mapping. No logic.

mod gpu;

use crate::aci::{AciConfig, StepOutput};
use crate::env::{Env as CoreEnv, EnvConfig, EnvError, RewardMode};
use crate::sandbox::container::{pool, reaper, ContainerError, Engine};
use crate::sandbox::{ContainerConfig, EngineKind};
use crate::session::{Session as CoreSession, SessionConfig};
use crate::task::config::parse_memory;
use crate::task::{TaskError, TaskRegistry};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

create_exception!(
    _core,
    MLGymError,
    PyException,
    "Base class of every mlgym error."
);
create_exception!(
    _core,
    TaskNotFoundError,
    MLGymError,
    "No task with this id or path."
);
create_exception!(
    _core,
    TaskConfigError,
    MLGymError,
    "A task or dataset YAML is malformed or invalid."
);
create_exception!(
    _core,
    SandboxError,
    MLGymError,
    "The sandbox (workspace, processes) failed."
);
create_exception!(
    _core,
    EngineUnavailableError,
    SandboxError,
    "No Docker or Podman engine answered on any socket tried."
);
create_exception!(
    _core,
    ShellError,
    MLGymError,
    "The persistent shell failed beyond recovery."
);
create_exception!(
    _core,
    ResetNeededError,
    MLGymError,
    "step() before reset(), or after the episode ended."
);
create_exception!(
    _core,
    EnvClosedError,
    MLGymError,
    "The environment or session was closed."
);

fn to_py(err: EnvError) -> PyErr {
    let msg = err.to_string();
    match err {
        EnvError::Task(TaskError::NotFound { .. }) => TaskNotFoundError::new_err(msg),
        EnvError::Task(_) => TaskConfigError::new_err(msg),
        EnvError::Sandbox(crate::sandbox::SandboxError::Container(ref c))
            if matches!(**c, ContainerError::EngineUnavailable { .. }) =>
        {
            EngineUnavailableError::new_err(msg)
        }
        EnvError::Sandbox(_) => SandboxError::new_err(msg),
        EnvError::Shell(_) => ShellError::new_err(msg),
        EnvError::NotReset | EnvError::EpisodeOver => ResetNeededError::new_err(msg),
        EnvError::Closed => EnvClosedError::new_err(msg),
        EnvError::InvalidArgument(_) => pyo3::exceptions::PyValueError::new_err(msg),
    }
}

/// `None` for the local backend, else the container options (validated).
fn container_config(
    backend: &str,
    image: Option<String>,
    network: Option<String>,
    memory: Option<String>,
    cpus: Option<f64>,
    pids_limit: Option<i64>,
    gpus: Vec<String>,
) -> PyResult<Option<ContainerConfig>> {
    let value_err = pyo3::exceptions::PyValueError::new_err;
    if backend == "local" {
        return Ok(None);
    }
    let kind = EngineKind::parse(backend).ok_or_else(|| {
        value_err(format!(
            "unknown backend '{backend}': use 'local', 'docker' or 'podman'"
        ))
    })?;
    let mut c = ContainerConfig::new(kind);
    if let Some(image) = image {
        c.image = image;
    }
    c.network = network.filter(|n| n != "none");
    if let Some(m) = memory {
        c.memory_bytes = Some(parse_memory(&m).ok_or_else(|| {
            value_err(format!("memory must look like '512m' or '4g', got '{m}'"))
        })?);
    }
    if let Some(cpu) = cpus {
        if !(cpu > 0.0 && cpu.is_finite()) {
            return Err(value_err(format!("cpus must be positive, got {cpu}")));
        }
        c.cpus = Some(cpu);
    }
    c.pids_limit = pids_limit;
    c.gpus = gpus;
    Ok(Some(c))
}

fn secs(v: Option<f64>, name: &str) -> PyResult<Option<f64>> {
    match v {
        Some(s) if !(s > 0.0 && s.is_finite()) => Err(pyo3::exceptions::PyValueError::new_err(
            format!("{name} must be a positive number of seconds, got {s}"),
        )),
        other => Ok(other),
    }
}

/// The Rust env. Python's `mlgym.MLGymEnv` wraps it as a `gymnasium.Env`.
#[pyclass(module = "mlgym._core", name = "Env")]
pub struct PyEnv {
    inner: Mutex<CoreEnv>,
}

#[pymethods]
impl PyEnv {
    #[new]
    #[pyo3(signature = (task, *, config_roots=Vec::new(), max_steps=50, reward_mode="final", failure_reward=-1.0, observation_limit=Some(crate::aci::session::DEFAULT_OBSERVATION_LIMIT), process_env=BTreeMap::new(), shell_vars=Vec::new(), python="python3".to_string(), workspace=None, short_timeout=None, long_timeout=None, no_output_timeout=None, backend="local", image=None, network=None, memory=None, cpus=None, pids_limit=None, gpus=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        task: String,
        config_roots: Vec<PathBuf>,
        max_steps: u32,
        reward_mode: &str,
        failure_reward: f64,
        observation_limit: Option<usize>,
        process_env: BTreeMap<String, String>,
        shell_vars: Vec<(String, String)>,
        python: String,
        workspace: Option<PathBuf>,
        short_timeout: Option<f64>,
        long_timeout: Option<f64>,
        no_output_timeout: Option<f64>,
        backend: &str,
        image: Option<String>,
        network: Option<String>,
        memory: Option<String>,
        cpus: Option<f64>,
        pids_limit: Option<i64>,
        gpus: Vec<String>,
    ) -> PyResult<Self> {
        let mut config = EnvConfig::new(task);
        config.container =
            container_config(backend, image, network, memory, cpus, pids_limit, gpus)?;
        config.config_roots = config_roots;
        config.max_steps = max_steps;
        config.reward_mode = reward_mode.parse::<RewardMode>().map_err(to_py)?;
        config.failure_reward = failure_reward;
        config.observation_limit = observation_limit;
        config.process_env = process_env;
        config.shell_vars = shell_vars;
        config.python = python;
        config.workspace = workspace;
        config.short_timeout = secs(short_timeout, "short_timeout")?;
        config.long_timeout = secs(long_timeout, "long_timeout")?;
        config.no_output_timeout = secs(no_output_timeout, "no_output_timeout")?;
        let env = py.detach(|| CoreEnv::new(config)).map_err(to_py)?;
        Ok(Self {
            inner: Mutex::new(env),
        })
    }

    /// Starts an episode; returns (observation, info as JSON).
    #[pyo3(signature = (seed=None))]
    fn reset(&self, py: Python<'_>, seed: Option<u64>) -> PyResult<(String, String)> {
        let (obs, info) = py
            .detach(|| self.lock().and_then(|mut env| env.reset(seed)))
            .map_err(to_py)?;
        Ok((obs, json(&info)))
    }

    /// Runs one action; returns (observation, reward, terminated, truncated, info JSON).
    fn step(&self, py: Python<'_>, action: String) -> PyResult<(String, f64, bool, bool, String)> {
        let r = py
            .detach(|| self.lock().and_then(|mut env| env.step(&action)))
            .map_err(to_py)?;
        Ok((
            r.observation,
            r.reward,
            r.terminated,
            r.truncated,
            json(&r.info),
        ))
    }

    /// Stops the episode's processes and removes its files. Idempotent.
    fn close(&self, py: Python<'_>) {
        py.detach(|| {
            if let Ok(mut env) = self.inner.lock() {
                env.close();
            }
        });
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.lock().map(|e| e.is_closed()).unwrap_or(true)
    }

    #[getter]
    fn task_id(&self) -> PyResult<String> {
        Ok(self.lock().map_err(to_py)?.task().config.id.clone())
    }

    #[getter]
    fn description(&self) -> PyResult<String> {
        Ok(self
            .lock()
            .map_err(to_py)?
            .task()
            .config
            .description
            .clone())
    }

    #[getter]
    fn max_steps(&self) -> PyResult<u32> {
        Ok(self.lock().map_err(to_py)?.config().max_steps)
    }

    #[getter]
    fn workspace(&self) -> PyResult<Option<String>> {
        Ok(self.lock().map_err(to_py)?.workspace())
    }

    /// The task config as JSON (after description rendering).
    fn task_config_json(&self) -> PyResult<String> {
        let env = self.lock().map_err(to_py)?;
        Ok(serde_json::to_string(&env.task().config).unwrap_or_default())
    }
}

impl PyEnv {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, CoreEnv>, EnvError> {
        self.inner
            .lock()
            .map_err(|_| EnvError::InvalidArgument("env lock poisoned".into()))
    }
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".into())
}

/// A bare ACI session on a workspace (`mlgym.Session`).
#[pyclass(module = "mlgym._core", name = "Session")]
pub struct PySession {
    inner: Mutex<CoreSession>,
}

#[pymethods]
impl PySession {
    #[new]
    #[pyo3(signature = (workspace, *, shell_vars=Vec::new(), process_env=BTreeMap::new(), observation_limit=None, timeout=25.0, long_timeout=3600.0, no_output_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        workspace: PathBuf,
        shell_vars: Vec<(String, String)>,
        process_env: BTreeMap<String, String>,
        observation_limit: Option<usize>,
        timeout: f64,
        long_timeout: f64,
        no_output_timeout: Option<f64>,
    ) -> PyResult<Self> {
        secs(Some(timeout), "timeout")?;
        secs(Some(long_timeout), "long_timeout")?;
        secs(no_output_timeout, "no_output_timeout")?;
        let aci = AciConfig {
            short_timeout: Duration::from_secs_f64(timeout),
            long_timeout: Duration::from_secs_f64(long_timeout),
            no_output_timeout: Duration::from_secs_f64(no_output_timeout.unwrap_or(long_timeout)),
            observation_limit,
        };
        let config = SessionConfig {
            workspace,
            shell_vars,
            process_env,
            aci,
        };
        let session = py.detach(|| CoreSession::start(config)).map_err(to_py)?;
        Ok(Self {
            inner: Mutex::new(session),
        })
    }

    /// Runs one action: (observation, exit_code, open_file, working_dir, timed_out,
    /// shell_restarted, elapsed seconds).
    #[allow(clippy::type_complexity)]
    fn run(
        &self,
        py: Python<'_>,
        action: String,
    ) -> PyResult<(String, Option<i32>, String, String, bool, bool, f64)> {
        let out: StepOutput = py
            .detach(|| {
                let mut s = self
                    .inner
                    .lock()
                    .map_err(|_| EnvError::InvalidArgument("session lock poisoned".into()))?;
                s.run(&action)
            })
            .map_err(to_py)?;
        Ok((
            out.observation,
            out.exit_code,
            out.state.open_file,
            out.state.working_dir,
            out.timed_out.is_some(),
            out.shell_restarted.is_some(),
            out.elapsed.as_secs_f64(),
        ))
    }

    /// Stops the shell. Idempotent.
    fn close(&self, py: Python<'_>) {
        py.detach(|| {
            if let Ok(mut s) = self.inner.lock() {
                s.close();
            }
        });
    }

    #[getter]
    fn closed(&self) -> bool {
        self.inner.lock().map(|s| s.is_closed()).unwrap_or(true)
    }

    #[getter]
    fn workspace(&self) -> String {
        self.inner.lock().map(|s| s.workspace()).unwrap_or_default()
    }
}

/// Every task id under the roots: list of (id, yaml path).
#[pyfunction]
#[pyo3(signature = (config_roots))]
fn list_tasks(config_roots: Vec<PathBuf>) -> Vec<(String, String)> {
    TaskRegistry::new(config_roots)
        .list()
        .into_iter()
        .map(|(id, p)| (id, p.to_string_lossy().into_owned()))
        .collect()
}

/// Loads a task and returns its config as JSON (errors are mapped like `Env`).
#[pyfunction]
#[pyo3(signature = (task, config_roots))]
fn load_task_json(task: &str, config_roots: Vec<PathBuf>) -> PyResult<String> {
    let loaded = TaskRegistry::new(config_roots)
        .load(task)
        .map_err(|e| to_py(e.into()))?;
    Ok(serde_json::to_string(&loaded.config).unwrap_or_default())
}

/// Removes the containers of `backend` whose owner process is gone; returns how many.
#[pyfunction]
fn reap_containers(py: Python<'_>, backend: &str) -> PyResult<usize> {
    let kind = EngineKind::parse(backend).ok_or_else(|| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "unknown container backend '{backend}': use 'docker' or 'podman'"
        ))
    })?;
    py.detach(|| {
        Engine::connect(kind).map(|e| {
            let n = reaper::reap(&e);
            reaper::sweep_host_folders();
            n
        })
    })
    .map_err(|e| EngineUnavailableError::new_err(e.to_string()))
}

/// Keeps `n` started containers ready for new envs with these options; returns how
/// many are ready.
#[pyfunction]
#[pyo3(signature = (backend, n, *, image=None, network=None, memory=None, cpus=None, pids_limit=None, process_env=BTreeMap::new()))]
#[allow(clippy::too_many_arguments)]
fn prewarm_containers(
    py: Python<'_>,
    backend: &str,
    n: usize,
    image: Option<String>,
    network: Option<String>,
    memory: Option<String>,
    cpus: Option<f64>,
    pids_limit: Option<i64>,
    process_env: BTreeMap<String, String>,
) -> PyResult<usize> {
    let Some(mut config) = container_config(
        backend,
        image,
        network,
        memory,
        cpus,
        pids_limit,
        Vec::new(),
    )?
    else {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "prewarm needs a container backend: 'docker' or 'podman'",
        ));
    };
    config.env = process_env;
    Engine::connect(config.engine).map_err(|e| EngineUnavailableError::new_err(e.to_string()))?;
    Ok(py.detach(|| pool::prewarm(&config, n)))
}

/// Removes every container this process still owns (exit and signal handlers).
#[pyfunction]
fn remove_live_containers(py: Python<'_>) -> usize {
    py.detach(reaper::remove_all_tracked)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("MLGymError", py.get_type::<MLGymError>())?;
    m.add("TaskNotFoundError", py.get_type::<TaskNotFoundError>())?;
    m.add("TaskConfigError", py.get_type::<TaskConfigError>())?;
    m.add("SandboxError", py.get_type::<SandboxError>())?;
    m.add("ShellError", py.get_type::<ShellError>())?;
    m.add(
        "EngineUnavailableError",
        py.get_type::<EngineUnavailableError>(),
    )?;
    m.add_function(wrap_pyfunction!(reap_containers, m)?)?;
    m.add_function(wrap_pyfunction!(remove_live_containers, m)?)?;
    m.add_function(wrap_pyfunction!(prewarm_containers, m)?)?;
    m.add("ResetNeededError", py.get_type::<ResetNeededError>())?;
    m.add("EnvClosedError", py.get_type::<EnvClosedError>())?;
    m.add_class::<PyEnv>()?;
    m.add_class::<PySession>()?;
    gpu::register(m)?;
    m.add_function(wrap_pyfunction!(list_tasks, m)?)?;
    m.add_function(wrap_pyfunction!(load_task_json, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
