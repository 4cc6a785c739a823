//! The per-user runtime folders on this host. The reapers find what dead owners left
//! behind by these layouts, so every writer and every sweeper takes them from here.
//!
//! ```text
//! <temp_dir>/mlgym-<uid>/episodes/<id>/   local episodes (sandbox::local)
//! <temp_dir>/mlgym-<uid>/live/            registry of live local shells (sandbox::reaper)
//! <temp_dir>/mlgym-<uid>/containers/<n>/  containers' host folders (sandbox::container)
//! <temp_dir>/mlgym-<uid>/grading/<random>/ local graders' private folders (0700, never
//!                                         inside an episode folder or a sandbox)
//! /dev/shm/mlgym-<uid>/<id>/              a local episode's shell state (tmpfs: it is
//!                                         rewritten after every step)
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

/// Where local graders' private folders live, one random name each (see
/// `sandbox::local`): outside every episode folder, so no sandbox ever binds it.
pub fn grading_dir() -> PathBuf {
    user_dir().join("grading")
}

/// `/dev/shm/mlgym-<uid>`: this user's folder on tmpfs, for files rewritten every step
/// (one sub-folder per local episode, removed with it).
pub fn user_shm_dir() -> PathBuf {
    Path::new("/dev/shm").join(format!("mlgym-{}", uid()))
}

/// Creates `dir` (and [`user_dir`]) if missing and makes both private to this user
/// (mode 0700), so other users of the host cannot look inside.
pub fn ensure_private(dir: &Path) -> std::io::Result<()> {
    ensure_private_dirs(&[user_dir().as_path(), dir])
}

/// Creates each folder if missing and makes it private to this user (mode 0700),
/// refusing a symlink or a file in its place.
pub fn ensure_private_dirs(dirs: &[&Path]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for &d in dirs {
        std::fs::create_dir_all(d)?;
        let meta = std::fs::symlink_metadata(d)?;
        if !meta.is_dir() {
            return Err(std::io::Error::other(format!(
                "{} is not a folder",
                d.display()
            )));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_per_user_and_nested() {
        let user = user_dir();
        let name = user.file_name().map(|n| n.to_string_lossy().into_owned());
        assert_eq!(name, Some(format!("mlgym-{}", uid())));
        for sub in [
            episodes_dir(),
            live_shells_dir(),
            container_hosts_dir(),
            grading_dir(),
        ] {
            assert_eq!(sub.parent(), Some(user.as_path()));
        }
        assert!(user_shm_dir().starts_with("/dev/shm"));
    }
}
