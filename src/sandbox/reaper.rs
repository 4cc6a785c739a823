//! Leak protection for local episodes: every live shell is registered in a per-user
//! directory with its owner's pid; a later start removes what dead owners left behind.

use crate::sys::dirs::live_shells_dir as registry_dir;
use crate::sys::proc::{alive, kill_group};
use std::path::{Path, PathBuf};

/// Records that this process owns the shell `pgid` and the episode directory `root`.
pub fn register(pgid: i32, root: &Path) -> Option<PathBuf> {
    let dir = registry_dir();
    std::fs::create_dir_all(&dir).ok()?;
    let entry = dir.join(format!("{}-{pgid}", std::process::id()));
    std::fs::write(&entry, root.to_string_lossy().as_bytes()).ok()?;
    Some(entry)
}

/// Forgets an entry after a clean shutdown.
pub fn unregister(entry: &Path) {
    let _ = std::fs::remove_file(entry);
}

/// Kills the process groups and removes the episode directories of owners that are
/// gone. Returns how many entries were reaped.
pub fn reap_orphans() -> usize {
    let Ok(entries) = std::fs::read_dir(registry_dir()) else {
        return 0;
    };
    let mut reaped = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((owner, pgid)) = name.split_once('-') else {
            continue;
        };
        let (Ok(owner), Ok(pgid)) = (owner.parse::<i32>(), pgid.parse::<i32>()) else {
            continue;
        };
        if alive(owner) {
            continue;
        }
        kill_group(pgid);
        if let Ok(root) = std::fs::read_to_string(entry.path()) {
            let root = PathBuf::from(root);
            if root.join(".mlgym-episode").exists() {
                let _ = std::fs::remove_dir_all(&root);
            }
            // The episode's state folder on tmpfs (sandbox::local), same name.
            if let Some(name) = root.file_name() {
                let _ = std::fs::remove_dir_all(crate::sys::dirs::user_shm_dir().join(name));
            }
        }
        let _ = std::fs::remove_file(entry.path());
        reaped += 1;
    }
    reaped
}
