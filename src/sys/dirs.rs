//! The per-user runtime folders on this host. The reapers find what dead owners left
//! behind by these layouts, so every writer and every sweeper takes them from here.
//!
//! ```text
//! <temp_dir>/mlgym-<uid>/episodes/<id>/   local episodes (sandbox::local)
//! <temp_dir>/mlgym-<uid>/live/            registry of live local shells (sandbox::reaper)
//! <temp_dir>/mlgym-<uid>/containers/<n>/  containers' host folders (sandbox::container)
//! /dev/shm/mlgym-<uid>/                   local shells' per-step state files (tmpfs)
//! ```

use std::path::{Path, PathBuf};

fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// `<temp_dir>/mlgym-<uid>`: this user's folder for everything mlgym creates on disk.
pub fn user_dir() -> PathBuf {
    std::env::temp_dir().join(format!("mlgym-{}", uid()))
}

/// Where local episodes live, one folder each.
pub fn episodes_dir() -> PathBuf {
    user_dir().join("episodes")
}

/// The registry of live local shells, one entry per shell (see `sandbox::reaper`).
pub fn live_shells_dir() -> PathBuf {
    user_dir().join("live")
}

/// Where containers' host folders (bind-mounted workspace, FIFOs) live, one each.
pub fn container_hosts_dir() -> PathBuf {
    user_dir().join("containers")
}

/// `/dev/shm/mlgym-<uid>`: this user's folder on tmpfs, for files rewritten every step.
pub fn user_shm_dir() -> PathBuf {
    Path::new("/dev/shm").join(format!("mlgym-{}", uid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_per_user_and_nested() {
        let user = user_dir();
        let name = user.file_name().map(|n| n.to_string_lossy().into_owned());
        assert_eq!(name, Some(format!("mlgym-{}", uid())));
        for sub in [episodes_dir(), live_shells_dir(), container_hosts_dir()] {
            assert_eq!(sub.parent(), Some(user.as_path()));
        }
        assert!(user_shm_dir().starts_with("/dev/shm"));
    }
}
