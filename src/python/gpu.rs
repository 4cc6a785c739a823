//! Bindings of [`crate::gpu`]: `acquire_gpus`, `GpuLease`, `gpu_inventory`.

use super::MLGymError;
use crate::gpu::{GpuError, GpuInventory, GpuLease as CoreLease, GpuRequest};
use pyo3::create_exception;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Mutex;
use std::time::Duration;

create_exception!(
    mlgym,
    GpuUnavailableError,
    MLGymError,
    "The GPUs asked for are not free (or not on this host)."
);

pub(super) fn to_py(err: GpuError) -> PyErr {
    let msg = err.to_string();
    match err {
        GpuError::NotEnoughGpus { .. } | GpuError::Busy { .. } | GpuError::UnknownGpu { .. } => {
            GpuUnavailableError::new_err(msg)
        }
        GpuError::InvalidRequest(_) => super::value_error(msg),
        GpuError::Cancelled | GpuError::Lock { .. } => MLGymError::new_err(msg),
    }
}

/// An exclusive lease on GPU ids (`mlgym.gpus.GpuLease`).
#[pyclass(module = "mlgym._core", name = "GpuLease")]
pub struct PyGpuLease {
    ids: Vec<String>,
    inner: Mutex<Option<CoreLease>>,
}

#[pymethods]
impl PyGpuLease {
    /// The leased ids, in id order (kept after release).
    #[getter]
    fn ids(&self) -> Vec<String> {
        self.ids.clone()
    }

    /// The value for `CUDA_VISIBLE_DEVICES`, e.g. `"0,1"`.
    #[getter]
    fn cuda_visible_devices(&self) -> String {
        self.ids.join(",")
    }

    /// True once `release()` ran.
    #[getter]
    fn released(&self) -> bool {
        self.inner.lock().map(|l| l.is_none()).unwrap_or(true)
    }

    /// Frees the GPUs. Idempotent.
    fn release(&self) {
        let lease = self.inner.lock().ok().and_then(|mut l| l.take());
        drop(lease);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, _args: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.release();
        false
    }

    fn __repr__(&self) -> String {
        let state = if self.released() { "released" } else { "held" };
        let ids: Vec<String> = self.ids.iter().map(|i| format!("'{i}'")).collect();
        format!("GpuLease(ids=[{}], {state})", ids.join(", "))
    }
}

/// Leases GPUs: `count` of them (the lowest free ids) or exactly `ids`. `wait` is how
/// many seconds to keep retrying (`None` or 0: try once; `inf`: until it succeeds).
/// The GIL is released while waiting; Ctrl-C interrupts the wait.
#[pyfunction]
#[pyo3(signature = (count=None, ids=None, wait=None))]
fn acquire_gpus(
    py: Python<'_>,
    count: Option<usize>,
    ids: Option<Vec<String>>,
    wait: Option<f64>,
) -> PyResult<PyGpuLease> {
    let request = match (count, ids) {
        (Some(n), None) => GpuRequest::Count(n),
        (None, Some(ids)) => GpuRequest::Ids(ids),
        _ => return Err(super::value_error("give exactly one of count= and ids=")),
    };
    let wait = match wait {
        None => None,
        Some(s) if s.is_nan() || s < 0.0 => {
            return Err(super::value_error(format!(
                "wait must be a non-negative number of seconds, got {s}"
            )))
        }
        Some(s) => Some(Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)),
    };
    let mut interrupt: Option<PyErr> = None;
    let result = py.detach(|| {
        CoreLease::acquire_in(
            &GpuInventory::detect(),
            &crate::gpu::lock_dir_from_env(),
            request,
            wait,
            || match Python::attach(|py| py.check_signals()) {
                Ok(()) => false,
                Err(e) => {
                    interrupt = Some(e);
                    true
                }
            },
        )
    });
    match result {
        Ok(lease) => Ok(PyGpuLease {
            ids: lease.ids().to_vec(),
            inner: Mutex::new(Some(lease)),
        }),
        Err(GpuError::Cancelled) => Err(interrupt
            .take()
            .unwrap_or_else(|| to_py(GpuError::Cancelled))),
        Err(e) => Err(to_py(e)),
    }
}

/// The GPUs of this host as dicts (`id`, `name`, `memory_total_mb`, `memory_used_mb`,
/// `utilization`; unknown values are `None`).
#[pyfunction]
fn gpu_inventory(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    let inventory = py.detach(GpuInventory::detect);
    inventory
        .gpus()
        .iter()
        .map(|g| {
            let d = PyDict::new(py);
            d.set_item("id", &g.id)?;
            d.set_item("name", &g.name)?;
            d.set_item("memory_total_mb", g.memory_total_mb)?;
            d.set_item("memory_used_mb", g.memory_used_mb)?;
            d.set_item("utilization", g.utilization)?;
            Ok(d)
        })
        .collect()
}

/// Adds the GPU classes, functions and exception to `_core`.
pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("GpuUnavailableError", py.get_type::<GpuUnavailableError>())?;
    m.add_class::<PyGpuLease>()?;
    m.add_function(wrap_pyfunction!(acquire_gpus, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_inventory, m)?)?;
    Ok(())
}
