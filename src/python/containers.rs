//! Container housekeeping: the reaper, the pool, the exit hooks' clean-up.

use super::{to_py, EngineUnavailableError};
use crate::env::ContainerRequest;
use crate::sandbox::container::{pool, reaper, Engine};
use crate::sandbox::EngineKind;
use pyo3::prelude::*;
use std::collections::BTreeMap;

/// Removes the containers of `backend` whose owner process is gone; returns how many.
#[pyfunction]
fn reap_containers(py: Python<'_>, backend: &str) -> PyResult<usize> {
    let kind = EngineKind::parse(backend).ok_or_else(|| {
        super::value_error(format!(
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
    backend: String,
    n: usize,
    image: Option<String>,
    network: Option<String>,
    memory: Option<String>,
    cpus: Option<f64>,
    pids_limit: Option<i64>,
    process_env: BTreeMap<String, String>,
) -> PyResult<usize> {
    let request = ContainerRequest {
        backend,
        image,
        network,
        memory,
        cpus,
        pids_limit,
    };
    let Some(mut config) = request.into_config().map_err(to_py)? else {
        return Err(super::value_error(
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

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(reap_containers, m)?)?;
    m.add_function(wrap_pyfunction!(remove_live_containers, m)?)?;
    m.add_function(wrap_pyfunction!(prewarm_containers, m)?)?;
    Ok(())
}
