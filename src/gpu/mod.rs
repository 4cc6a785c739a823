//! GPU inventory and exclusive leases (see `docs/gpus.md`).
//!
//! [`GpuInventory`] lists the GPUs of this host: the ids in `MLGYM_GPUS` when that
//! variable is set, else what `nvidia-smi` reports. [`GpuLease`] holds a set of those
//! ids exclusively for as long as the value lives, against other threads of this
//! process and against other processes on the host. Each id has a lock file in the lock
//! directory (`MLGYM_GPU_LOCK_DIR`, default [`DEFAULT_LOCK_DIR`]); a lease keeps an
//! open descriptor with `flock(LOCK_EX)` on it, so the kernel frees the ids when the
//! holder exits, however it exits (`kill -9` included).
//!
//! `inventory.rs` finds the GPUs; `lease.rs` holds them.

mod inventory;
mod lease;

pub use inventory::{GpuInfo, GpuInventory, InventorySource};
pub use lease::{lock_dir_from_env, GpuLease, GpuRequest};

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Environment variable that lists the GPU ids of this host (comma-separated; empty
/// means none). When set, `nvidia-smi` is not consulted.
pub const GPUS_ENV: &str = crate::settings::MLGYM_GPUS;
/// Environment variable naming the directory of the per-GPU lock files.
pub const LOCK_DIR_ENV: &str = crate::settings::MLGYM_GPU_LOCK_DIR;
/// The lock directory when [`LOCK_DIR_ENV`] is unset or empty.
pub const DEFAULT_LOCK_DIR: &str = crate::settings::DEFAULT_GPU_LOCK_DIR;
/// How often [`GpuLease::acquire`] retries while it waits.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Errors of the GPU layer.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// Fewer GPUs are free than a count request needs (MLGym's message, verbatim).
    #[error("Not enough GPUs available. Required: {required}, Available: {available}")]
    NotEnoughGpus {
        /// GPUs requested.
        required: usize,
        /// GPUs that were free at the last attempt.
        available: usize,
    },
    /// Some of the GPUs requested by id are leased by someone else.
    #[error("GPUs already leased: {} (requested: {})", .busy.join(", "), .requested.join(", "))]
    Busy {
        /// The requested ids that another lease holds.
        busy: Vec<String>,
        /// Every id that was requested.
        requested: Vec<String>,
    },
    /// A GPU id that is not in this host's inventory.
    #[error("GPU {id:?} is not on this host (inventory: [{}])", .inventory.join(", "))]
    UnknownGpu {
        /// The id asked for.
        id: String,
        /// The ids of the inventory.
        inventory: Vec<String>,
    },
    /// The request itself is malformed (for example a repeated id).
    #[error("invalid GPU request: {0}")]
    InvalidRequest(String),
    /// The wait was cancelled by the caller before a lease was obtained.
    #[error("waiting for GPUs was cancelled")]
    Cancelled,
    /// The lock directory or a lock file could not be created or locked.
    #[error("GPU lock {path}: {source}")]
    Lock {
        /// The directory or file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl GpuError {
    /// True for the errors that mean "the GPUs exist but are taken right now", the ones
    /// that waiting can cure.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, GpuError::NotEnoughGpus { .. } | GpuError::Busy { .. })
    }
}
