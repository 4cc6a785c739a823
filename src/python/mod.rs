//! Thin PyO3 bindings: conversion, GIL release, exception mapping. No logic.

mod containers;
mod convert;
mod env;
mod gpu;
mod session;
mod tasks;

use crate::env::EnvError;
use crate::sandbox::container::ContainerError;
use crate::task::TaskError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    mlgym,
    MLGymError,
    PyException,
    "Base class of every mlgym error."
);
create_exception!(
    mlgym,
    TaskNotFoundError,
    MLGymError,
    "No task with this id or path."
);
create_exception!(
    mlgym,
    TaskConfigError,
    MLGymError,
    "A task or dataset YAML is malformed or invalid."
);
create_exception!(
    mlgym,
    SandboxError,
    MLGymError,
    "The sandbox (workspace, processes) failed."
);
create_exception!(
    mlgym,
    EngineUnavailableError,
    SandboxError,
    "No Docker or Podman engine answered on any socket tried."
);
create_exception!(
    mlgym,
    SandboxUnavailableError,
    SandboxError,
    "This host cannot build the local sandbox: bubblewrap is missing or the kernel refuses \
     user namespaces (the message names the fix; isolation=\"none\" runs without one)."
);
create_exception!(
    mlgym,
    ShellError,
    MLGymError,
    "The persistent shell failed beyond recovery."
);
create_exception!(
    mlgym,
    ResetNeededError,
    MLGymError,
    "step() before reset(), or after the episode ended."
);
create_exception!(
    mlgym,
    EnvClosedError,
    MLGymError,
    "The environment or session was closed."
);

/// `mlgym.InvalidArgumentError`: an `MLGymError` that is also a `ValueError`. Two
/// bases need a class statement, so it is defined in `mlgym/errors.py`.
fn invalid_argument(py: Python<'_>, msg: String) -> PyErr {
    let made = py
        .import("mlgym.errors")
        .and_then(|m| m.getattr("InvalidArgumentError"))
        .and_then(|cls| cls.call1((msg.clone(),)));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(_) => pyo3::exceptions::PyValueError::new_err(msg),
    }
}

/// A bad argument, raised as `mlgym.InvalidArgumentError`.
pub(crate) fn value_error(msg: impl Into<String>) -> PyErr {
    Python::attach(|py| invalid_argument(py, msg.into()))
}

/// Maps the env layer's errors onto the Python exception tree.
pub(crate) fn to_py(err: EnvError) -> PyErr {
    let msg = err.to_string();
    match err {
        EnvError::Task(TaskError::NotFound { .. }) => TaskNotFoundError::new_err(msg),
        EnvError::Task(_) => TaskConfigError::new_err(msg),
        EnvError::Sandbox(crate::sandbox::SandboxError::Container(ref c))
            if matches!(**c, ContainerError::EngineUnavailable { .. }) =>
        {
            EngineUnavailableError::new_err(msg)
        }
        EnvError::Sandbox(crate::sandbox::SandboxError::Unavailable(_)) => {
            SandboxUnavailableError::new_err(msg)
        }
        EnvError::Sandbox(_) => SandboxError::new_err(msg),
        EnvError::Shell(_) => ShellError::new_err(msg),
        EnvError::Gpu(g) => gpu::to_py(g),
        EnvError::NotReset | EnvError::EpisodeOver => ResetNeededError::new_err(msg),
        EnvError::Closed => EnvClosedError::new_err(msg),
        EnvError::InvalidArgument(_) => value_error(msg),
    }
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
        "SandboxUnavailableError",
        py.get_type::<SandboxUnavailableError>(),
    )?;
    m.add(
        "EngineUnavailableError",
        py.get_type::<EngineUnavailableError>(),
    )?;
    m.add("ResetNeededError", py.get_type::<ResetNeededError>())?;
    m.add("EnvClosedError", py.get_type::<EnvClosedError>())?;
    env::register(m)?;
    session::register(m)?;
    tasks::register(m)?;
    containers::register(m)?;
    gpu::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
