//! `mlgym._core.Env`: the Rust env, wrapped by `mlgym.MLGymEnv`.

use super::convert::to_py_object;
use super::{to_py, value_error};
use crate::env::options::{DEFAULT_FAILURE_REWARD, DEFAULT_MAX_STEPS};
use crate::env::{ContainerRequest, Env, EnvError, EnvOptions, RewardMode, EXIT_ACTIONS};
use crate::gpu::GpuRequest;
use crate::sandbox::Isolation;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

const DEFAULT_OBSERVATION_LIMIT: usize = crate::aci::session::DEFAULT_OBSERVATION_LIMIT;

/// The Rust env. Python's `mlgym.MLGymEnv` wraps it as a `gymnasium.Env`.
#[pyclass(module = "mlgym._core", name = "Env")]
pub struct PyEnv {
    inner: Mutex<Env>,
}

fn gpu_request(count: Option<usize>, ids: Option<Vec<String>>) -> PyResult<GpuRequest> {
    match (count, ids) {
        (None, None) => Ok(GpuRequest::Count(0)),
        (Some(n), None) => Ok(GpuRequest::Count(n)),
        (None, Some(ids)) => Ok(GpuRequest::Ids(ids)),
        _ => Err(value_error("give at most one of gpu_count= and gpu_ids=")),
    }
}

fn wait(seconds: Option<f64>) -> PyResult<Option<Duration>> {
    match seconds {
        None => Ok(None),
        Some(s) if s.is_nan() || s < 0.0 => Err(value_error(format!(
            "gpu_wait must be a non-negative number of seconds, got {s}"
        ))),
        Some(s) => Ok(Some(
            Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX),
        )),
    }
}

#[pymethods]
impl PyEnv {
    #[new]
    #[pyo3(signature = (
        task, *, config_roots=Vec::new(), max_steps=DEFAULT_MAX_STEPS, reward_mode="final",
        failure_reward=DEFAULT_FAILURE_REWARD, observation_limit=Some(DEFAULT_OBSERVATION_LIMIT),
        process_env=BTreeMap::new(), shell_vars=Vec::new(), grader_python=None,
        host_python=None, workspace=None, short_timeout=None, long_timeout=None,
        no_output_timeout=None, backend="local".to_string(), image=None, network=None,
        memory=None, cpus=None, pids_limit=None, gpu_count=None, gpu_ids=None, gpu_wait=None,
        isolation="sandbox", grading_key=None
    ))]
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
        grader_python: Option<String>,
        host_python: Option<String>,
        workspace: Option<PathBuf>,
        short_timeout: Option<f64>,
        long_timeout: Option<f64>,
        no_output_timeout: Option<f64>,
        backend: String,
        image: Option<String>,
        network: Option<String>,
        memory: Option<String>,
        cpus: Option<f64>,
        pids_limit: Option<i64>,
        gpu_count: Option<usize>,
        gpu_ids: Option<Vec<String>>,
        gpu_wait: Option<f64>,
        isolation: &str,
        grading_key: Option<String>,
    ) -> PyResult<Self> {
        let mut options = EnvOptions::new(task);
        options.container = ContainerRequest {
            backend,
            image,
            network,
            memory,
            cpus,
            pids_limit,
        }
        .into_config()
        .map_err(to_py)?;
        options.config_roots = config_roots;
        options.max_steps = max_steps;
        options.reward_mode = RewardMode::parse(reward_mode).ok_or_else(|| {
            value_error(format!(
                "unknown reward mode '{reward_mode}': use 'final', 'improvement', 'raw' or a callable"
            ))
        })?;
        options.failure_reward = failure_reward;
        options.observation_limit = observation_limit;
        options.process_env = process_env;
        options.shell_vars = shell_vars;
        options.grader_python = grader_python;
        options.host_python = host_python;
        options.workspace = workspace;
        options.short_timeout = short_timeout;
        options.long_timeout = long_timeout;
        options.no_output_timeout = no_output_timeout;
        options.gpus = gpu_request(gpu_count, gpu_ids)?;
        options.gpu_wait = wait(gpu_wait)?;
        options.isolation = Isolation::parse(isolation).ok_or_else(|| {
            value_error(format!(
                "unknown isolation '{isolation}': use 'sandbox' (default) or 'none' (no \
                 sandbox, unsafe for training)"
            ))
        })?;
        options.grading_key = grading_key;
        let sandboxes = crate::env::HostSandboxes::for_options(&options);
        sandboxes.check_available().map_err(to_py)?;
        let sandboxes = Box::new(sandboxes);
        let mut interrupt: Option<PyErr> = None;
        let built = py.detach(|| {
            Env::with_sandboxes(options, sandboxes, &mut || match Python::attach(|py| {
                py.check_signals()
            }) {
                Ok(()) => false,
                Err(e) => {
                    interrupt = Some(e);
                    true
                }
            })
        });
        match built {
            Ok(env) => Ok(Self {
                inner: Mutex::new(env),
            }),
            Err(err) => Err(interrupt.take().unwrap_or_else(|| to_py(err))),
        }
    }

    /// Starts an episode; returns (observation, info).
    #[pyo3(signature = (seed=None))]
    fn reset<'py>(
        &self,
        py: Python<'py>,
        seed: Option<u64>,
    ) -> PyResult<(String, Bound<'py, PyAny>)> {
        let (obs, info) = py
            .detach(|| self.lock().and_then(|mut env| env.reset(seed)))
            .map_err(to_py)?;
        Ok((obs, to_py_object(py, &info)?))
    }

    /// Runs one action; returns (observation, reward, terminated, truncated, info).
    fn step<'py>(
        &self,
        py: Python<'py>,
        action: String,
    ) -> PyResult<(String, f64, bool, bool, Bound<'py, PyAny>)> {
        let r = py
            .detach(|| self.lock().and_then(|mut env| env.step(&action)))
            .map_err(to_py)?;
        let info = to_py_object(py, &r.info)?;
        Ok((r.observation, r.reward, r.terminated, r.truncated, info))
    }

    /// Stops the episode's processes, removes its files, frees its GPUs. Idempotent.
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
        Ok(self.lock().map_err(to_py)?.options().max_steps)
    }

    #[getter]
    fn observation_limit(&self) -> PyResult<Option<usize>> {
        Ok(self.lock().map_err(to_py)?.options().observation_limit)
    }

    #[getter]
    fn backend(&self) -> PyResult<&'static str> {
        Ok(self.lock().map_err(to_py)?.options().backend_name())
    }

    #[getter]
    fn workspace(&self) -> PyResult<Option<String>> {
        Ok(self.lock().map_err(to_py)?.workspace())
    }

    #[getter]
    fn workspace_on_host(&self) -> PyResult<Option<PathBuf>> {
        Ok(self.lock().map_err(to_py)?.workspace_on_host())
    }

    #[getter]
    fn isolation(&self) -> PyResult<&'static str> {
        Ok(self.lock().map_err(to_py)?.options().isolation_name())
    }

    #[getter]
    fn gpus(&self) -> PyResult<Vec<String>> {
        Ok(self.lock().map_err(to_py)?.gpus().to_vec())
    }

    #[getter]
    fn episode(&self) -> PyResult<u64> {
        Ok(self.lock().map_err(to_py)?.episode())
    }

    #[getter]
    fn last_elapsed(&self) -> PyResult<f64> {
        Ok(self.lock().map_err(to_py)?.last_elapsed().as_secs_f64())
    }

    /// The task config as a dict (description rendered).
    fn task_config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let env = self.lock().map_err(to_py)?;
        to_py_object(py, &env.task().config)
    }
}

impl PyEnv {
    fn lock(&self) -> Result<MutexGuard<'_, Env>, EnvError> {
        self.inner
            .lock()
            .map_err(|_| EnvError::InvalidArgument("env lock poisoned".into()))
    }
}

/// The env's defaults, for the Python signature and its test.
fn defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("max_steps", DEFAULT_MAX_STEPS)?;
    d.set_item("reward_mode", "final")?;
    d.set_item("failure_reward", DEFAULT_FAILURE_REWARD)?;
    d.set_item("observation_limit", DEFAULT_OBSERVATION_LIMIT)?;
    d.set_item("isolation", Isolation::default().name())?;
    Ok(d)
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEnv>()?;
    m.add("ENV_DEFAULTS", defaults(m.py())?)?;
    m.add("EXIT_ACTIONS", EXIT_ACTIONS.to_vec())?;
    Ok(())
}
