//! Processes through `/proc` and signals: parent and start time of a pid, the tree
//! below a pid, killing trees and groups, and exit codes as shells report them.

use std::process::ExitStatus;
use std::time::Duration;

/// The fields of `/proc/<pid>/stat` that mlgym uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Parent pid (field 4).
    pub ppid: i32,
    /// Start time in clock ticks since boot (field 22): with the pid, it names one
    /// process even after the pid is reused.
    pub start_time: u64,
}

/// Parses the text of `/proc/<pid>/stat`.
pub fn parse_stat(stat: &str) -> Option<ProcStat> {
    // The command name (field 2) is in parentheses and may contain spaces and `)`:
    // the fields after it start two bytes after the last `)`.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so field k is at index k - 3.
    Some(ProcStat {
        ppid: fields.get(1)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// `/proc/<pid>/stat` of a live process; `None` when there is no such process.
pub fn read_stat(pid: u32) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Start time (clock ticks since boot) of a process; `None` when it does not exist.
pub fn pid_start_time(pid: u32) -> Option<u64> {
    read_stat(pid).map(|s| s.start_time)
}

/// Whether a process with this pid exists (ours or another user's).
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence; errno is read right after the call.
    unsafe { libc::kill(pid, 0) == 0 || *libc::__errno_location() == libc::EPERM }
}

/// The pid of a process in the PID namespace one level below ours (the third word of
/// `NSpid:` in `/proc/<pid>/status`: our pid, then the child namespace's, then any
/// deeper ones); `None` when it is gone or lives in our own namespace.
pub fn child_ns_pid(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Every process whose parent chain leads to `root`, found by one scan of /proc.
pub fn descendants(root: i32) -> Vec<i32> {
    let mut parents: Vec<(i32, i32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let (Some(stat), Ok(pid)) = (read_stat(pid), i32::try_from(pid)) {
                parents.push((pid, stat.ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found.remove(0);
    found
}

/// SIGKILLs whatever `victims` lists, again and again (a dying process may fork) until
/// it lists nothing, for at most 20 rounds. Returns how many signals were sent.
pub fn kill_until_gone(mut victims: impl FnMut() -> Vec<i32>) -> usize {
    let mut total = 0;
    for _ in 0..20 {
        let pids = victims();
        if pids.is_empty() {
            break;
        }
        for pid in &pids {
            // SAFETY: sending a signal has no memory-safety preconditions.
            unsafe {
                libc::kill(*pid, libc::SIGKILL);
            }
        }
        total += pids.len();
        std::thread::sleep(Duration::from_millis(2));
    }
    total
}

/// Kills every descendant of `root` (and `root` itself when `include_root`), repeating
/// until none is left, since a dying child may fork. Returns how many were signalled.
pub fn kill_tree(root: i32, include_root: bool) -> usize {
    let total = kill_until_gone(|| descendants(root));
    if include_root {
        // SAFETY: as above.
        unsafe {
            libc::kill(root, libc::SIGKILL);
        }
    }
    total
}

/// Sends SIGKILL to the process group `pgid` (what a tree walk cannot see: members
/// that were re-parented away from the leader).
pub fn kill_group(pgid: i32) {
    // SAFETY: signalling a process group has no memory-safety preconditions.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Kills a process that leads its own group, everything below it, and the rest of its
/// group: the tree first (descendants may have left the group), then the group.
pub fn kill_tree_and_group(leader: i32) {
    kill_tree(leader, true);
    kill_group(leader);
}

/// The exit code as a shell reports it: the code, or 128 + the signal that killed it.
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parsing_survives_odd_command_names() {
        let mut fields: Vec<String> = (3..=52).map(|k| k.to_string()).collect();
        fields[0] = "S".into();
        fields[1] = "4242".into(); // field 4: ppid
        fields[19] = "987654".into(); // field 22: start time
        let stat = format!("77 (a) b ) c) {}", fields.join(" "));
        assert_eq!(
            parse_stat(&stat),
            Some(ProcStat {
                ppid: 4242,
                start_time: 987_654
            })
        );
        assert_eq!(parse_stat("77 (truncated"), None);
        assert_eq!(parse_stat("77 (x) S 1"), None);
    }

    #[test]
    fn this_process_is_alive_and_has_a_start_time() {
        let me = std::process::id();
        assert!(alive(i32::try_from(me).expect("pid fits in i32")));
        assert!(pid_start_time(me).is_some());
        assert_eq!(child_ns_pid(i32::try_from(me).expect("pid fits")), None);
        assert_eq!(
            read_stat(me).map(|s| s.ppid),
            Some(i32::try_from(std::os::unix::process::parent_id()).expect("pid fits"))
        );
    }

    #[test]
    fn exit_codes_of_signals_are_128_plus() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(libc::SIGKILL)), 128 + 9);
    }

    #[test]
    fn kill_tree_reaches_grandchildren() {
        let mut child = std::process::Command::new("/bin/bash")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .spawn()
            .expect("bash runs");
        let pid = i32::try_from(child.id()).expect("pid fits");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while descendants(pid).len() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(descendants(pid).len(), 2);
        assert!(kill_tree(pid, true) >= 2);
        // bash may exit on its own once its children die, before its own SIGKILL lands.
        child.wait().expect("the child is reaped");
        assert!(descendants(pid).is_empty());
    }
}
