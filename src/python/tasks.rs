//! Task knowledge for Python's tools: ids, configs, metrics, MLGym-Bench's table.

use super::convert::to_py_object;
use super::to_py;
use crate::task::{LoadedTask, TaskRegistry, MLGYM_BENCH};
use pyo3::prelude::*;
use std::path::PathBuf;

/// Every task id under the roots: list of (id, yaml path).
#[pyfunction]
fn list_tasks(config_roots: Vec<PathBuf>) -> Vec<(String, String)> {
    TaskRegistry::new(config_roots)
        .list()
        .into_iter()
        .map(|(id, p)| (id, p.to_string_lossy().into_owned()))
        .collect()
}

fn load(task: &str, config_roots: Vec<PathBuf>) -> PyResult<LoadedTask> {
    TaskRegistry::new(config_roots)
        .load(task)
        .map_err(|e| to_py(e.into()))
}

/// A task's config as a dict (description rendered).
#[pyfunction]
fn load_task<'py>(
    py: Python<'py>,
    task: &str,
    config_roots: Vec<PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    to_py_object(py, &load(task, config_roots)?.config)
}

/// A task's facts (`mlgym.task_info`).
#[pyfunction]
fn task_info<'py>(
    py: Python<'py>,
    task: &str,
    config_roots: Vec<PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    to_py_object(py, &load(task, config_roots)?.info())
}

/// How a task is scored (`mlgym.task_metric`), or `None`.
#[pyfunction]
fn task_metric<'py>(
    py: Python<'py>,
    task_id: &str,
    config_roots: Vec<PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    let metric = TaskRegistry::new(config_roots)
        .task_metric(task_id)
        .map_err(|e| to_py(e.into()))?;
    to_py_object(py, &metric)
}

/// MLGym-Bench's tasks in the published table order.
#[pyfunction]
fn mlgym_bench_tasks(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    to_py_object(py, &MLGYM_BENCH)
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(list_tasks, m)?)?;
    m.add_function(wrap_pyfunction!(load_task, m)?)?;
    m.add_function(wrap_pyfunction!(task_info, m)?)?;
    m.add_function(wrap_pyfunction!(task_metric, m)?)?;
    m.add_function(wrap_pyfunction!(mlgym_bench_tasks, m)?)?;
    Ok(())
}
