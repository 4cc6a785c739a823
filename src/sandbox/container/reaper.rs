//! No leaked containers: every container carries its owner's host, pid and pid start
//! time; containers whose owner is gone are removed at start-up (once per engine per
//! process) and by `mlgym gc`. Live containers are tracked so a signal handler or
//! `atexit` can remove them all.

use super::engine::Engine;
use super::runtime::block_on;
use super::{remove_container, OWNER_LABEL, OWNER_VALUE};
use crate::sandbox::fs::remove_tree;
use crate::sys::dirs::container_hosts_dir;
use crate::sys::proc::pid_start_time;
use bollard::query_parameters::ListContainersOptionsBuilder;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Live containers of this process: id -> (engine, host folder).
static LIVE: OnceLock<Mutex<HashMap<String, (Engine, PathBuf)>>> = OnceLock::new();
static REAPED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();

fn live() -> &'static Mutex<HashMap<String, (Engine, PathBuf)>> {
    LIVE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// This host's name, as stored in the labels.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The labels that name this process as the owner.
pub fn owner_labels(root: &Path) -> Vec<(String, String)> {
    let pid = std::process::id();
    vec![
        (OWNER_LABEL.into(), OWNER_VALUE.into()),
        ("mlgym.host".into(), hostname()),
        ("mlgym.pid".into(), pid.to_string()),
        (
            "mlgym.pid_start".into(),
            pid_start_time(pid).unwrap_or(0).to_string(),
        ),
        ("mlgym.root".into(), root.to_string_lossy().into_owned()),
    ]
}

/// Records a live container of this process and its host folder.
pub fn track(engine: &Engine, id: &str, root: &Path) {
    if let Ok(mut m) = live().lock() {
        m.insert(id.to_string(), (engine.clone(), root.to_path_buf()));
    }
}

/// Forgets a removed container.
pub fn untrack(id: &str) {
    if let Ok(mut m) = live().lock() {
        m.remove(id);
    }
}

/// Removes every container this process still has (for signal handlers and exit),
/// pooled ones included.
pub fn remove_all_tracked() -> usize {
    super::pool::drain();
    let all: Vec<(String, (Engine, PathBuf))> = match live().lock() {
        Ok(mut m) => m.drain().collect(),
        Err(_) => return 0,
    };
    all.iter()
        .filter(|(id, (engine, root))| {
            let removed = remove_container(engine, id);
            remove_tree(root);
            removed
        })
        .count()
}

fn owner_gone(labels: &HashMap<String, String>) -> bool {
    if labels.get("mlgym.host").map(String::as_str) != Some(hostname().as_str()) {
        return false; // another host's container: not ours to judge
    }
    let Some(pid) = labels.get("mlgym.pid").and_then(|p| p.parse::<u32>().ok()) else {
        return true;
    };
    let start: u64 = labels
        .get("mlgym.pid_start")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    match pid_start_time(pid) {
        None => true,
        Some(now) => start != 0 && now != start, // the pid was reused
    }
}

/// The host folder a container's `mlgym.root` label names, if it may be deleted: after
/// resolving every link and `..`, a real folder (not a link) directly inside our
/// (resolved) runtime folder `hosts`, named like the folders we create. Labels are only
/// text; anyone who can start a container can write them.
pub fn removable_root(label: &Path, hosts: &Path) -> Option<PathBuf> {
    let hosts = std::fs::canonicalize(hosts).ok()?;
    let meta = std::fs::symlink_metadata(label).ok()?;
    if !meta.is_dir() {
        return None; // a link (to anything) or a file
    }
    let real = std::fs::canonicalize(label).ok()?;
    if real.parent() != Some(hosts.as_path()) {
        return None;
    }
    let name = real.file_name()?.to_str()?;
    if !name.starts_with("mlgym-") {
        return None;
    }
    Some(real)
}

/// Removes our containers whose owner process is gone (and their host folders);
/// returns how many containers.
pub fn reap(engine: &Engine) -> usize {
    let docker = engine.docker.clone();
    let mut filters = HashMap::new();
    filters.insert(
        "label".to_string(),
        vec![format!("{OWNER_LABEL}={OWNER_VALUE}")],
    );
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let Some(Ok(list)) = block_on(async move { docker.list_containers(Some(opts)).await }) else {
        return 0;
    };
    let hosts = container_hosts_dir();
    let mut removed = 0;
    for c in list {
        let labels = c.labels.unwrap_or_default();
        let Some(id) = c.id else { continue };
        if !owner_gone(&labels) {
            continue;
        }
        if remove_container(engine, &id) {
            removed += 1;
        }
        if let Some(root) = labels
            .get("mlgym.root")
            .and_then(|label| removable_root(Path::new(label), &hosts))
        {
            remove_tree(&root);
        }
    }
    removed
}

/// Removes host folders of containers whose owner process is gone (their containers may
/// already be gone too, e.g. removed by hand); returns how many.
pub fn sweep_host_folders() -> usize {
    let dir = container_hosts_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Folders are named `mlgym-<owner pid>-<n>-<random>`.
        let owner = name
            .strip_prefix("mlgym-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = owner {
            if pid_start_time(pid).is_none() {
                remove_tree(&entry.path());
                removed += 1;
            }
        }
    }
    removed
}

/// Reaps once per engine socket per process.
pub fn reap_once(engine: &Engine) {
    let set = REAPED.get_or_init(|| Mutex::new(HashSet::new()));
    let first = set
        .lock()
        .map(|mut s| s.insert(engine.socket.clone()))
        .unwrap_or(false);
    if first {
        reap(engine);
        sweep_host_folders();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn only_real_folders_inside_the_runtime_folder_are_removable() {
        let base = std::env::temp_dir().join(format!(
            "mlgym-reaper-test-{}-{:08x}",
            std::process::id(),
            crate::sys::random::random_u32().unwrap_or(0)
        ));
        let hosts = base.join("containers");
        let ours = hosts.join("mlgym-1-0-abc");
        let outside = base.join("precious");
        std::fs::create_dir_all(&ours).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(hosts.join("other")).unwrap();
        std::fs::create_dir_all(base.join("containers-evil").join("mlgym-x")).unwrap();
        symlink(&outside, hosts.join("mlgym-link")).unwrap();
        assert_eq!(removable_root(&ours, &hosts), Some(ours.clone()));
        // Through `..`: resolves outside.
        let dotdot = hosts
            .join("mlgym-1-0-abc")
            .join("..")
            .join("..")
            .join("precious");
        assert_eq!(removable_root(&dotdot, &hosts), None);
        // A link inside the runtime folder to a folder outside it.
        assert_eq!(removable_root(&hosts.join("mlgym-link"), &hosts), None);
        // A sibling whose name only starts like ours, the runtime folder itself, a
        // folder not named like ours, a missing one, anything else outside.
        let sibling = base.join("containers-evil").join("mlgym-x");
        assert_eq!(removable_root(&sibling, &hosts), None);
        assert_eq!(removable_root(&hosts, &hosts), None);
        assert_eq!(removable_root(&hosts.join("other"), &hosts), None);
        assert_eq!(removable_root(&hosts.join("mlgym-gone"), &hosts), None);
        assert_eq!(removable_root(&outside, &hosts), None);
        assert_eq!(removable_root(Path::new("/"), &hosts), None);
        // Through a link to the runtime folder: resolves to ours.
        symlink(&hosts, base.join("hosts-link")).unwrap();
        let via = base.join("hosts-link").join("mlgym-1-0-abc");
        assert_eq!(removable_root(&via, &hosts), Some(ours.clone()));
        crate::sandbox::fs::remove_tree(&base);
        assert!(!base.exists());
    }
}
