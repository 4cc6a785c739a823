//! `mlgym._core.Session`: a bare ACI session on a workspace (`mlgym.Session`).

use super::to_py;
use crate::aci::{AciConfig, StepOutput};
use crate::env::options::local_process_env;
use crate::env::EnvError;
use crate::session::{Session, SessionConfig};
use pyo3::prelude::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

#[pyclass(module = "mlgym._core", name = "Session")]
pub struct PySession {
    inner: Mutex<Session>,
}

fn positive(v: Option<f64>, name: &str) -> PyResult<()> {
    match v {
        Some(s) if !(s > 0.0 && s.is_finite()) => Err(super::value_error(format!(
            "{name} must be a positive number of seconds, got {s}"
        ))),
        _ => Ok(()),
    }
}

#[pymethods]
impl PySession {
    #[new]
    #[pyo3(signature = (workspace, *, shell_vars=Vec::new(), process_env=BTreeMap::new(), host_python=None, observation_limit=None, timeout=25.0, long_timeout=3600.0, no_output_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        workspace: PathBuf,
        shell_vars: Vec<(String, String)>,
        process_env: BTreeMap<String, String>,
        host_python: Option<String>,
        observation_limit: Option<usize>,
        timeout: f64,
        long_timeout: f64,
        no_output_timeout: Option<f64>,
    ) -> PyResult<Self> {
        positive(Some(timeout), "timeout")?;
        positive(Some(long_timeout), "long_timeout")?;
        positive(no_output_timeout, "no_output_timeout")?;
        let aci = AciConfig {
            short_timeout: Duration::from_secs_f64(timeout),
            long_timeout: Duration::from_secs_f64(long_timeout),
            no_output_timeout: Duration::from_secs_f64(no_output_timeout.unwrap_or(long_timeout)),
            observation_limit,
        };
        let process_env = local_process_env(
            host_python.as_deref(),
            &|k| std::env::var(k).ok(),
            &[],
            &process_env,
        );
        let config = SessionConfig {
            workspace,
            shell_vars,
            process_env,
            aci,
        };
        let session = py.detach(|| Session::start(config)).map_err(to_py)?;
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

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySession>()
}
