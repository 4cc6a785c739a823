//! GPU leases across processes: children of this test binary take leases on a shared
//! lock directory, and no id is ever held by two of them at once.
//!
//! The child side is the `child_holder` test: it does nothing unless
//! `MLGYM_GPU_TEST_CHILD` is set, in which case it takes the lease described by
//! `MLGYM_GPU_TEST_REQUEST` (`count:N` or `ids:A,B`), reports `LEASED <ids>` or
//! `FAILED <message>` on stderr, holds the lease until its stdin closes, then releases
//! it and reports `RELEASED`.

use mlgym::gpu::{GpuLease, GpuRequest};
use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "MLGYM_GPU_TEST_CHILD";
const REQUEST_ENV: &str = "MLGYM_GPU_TEST_REQUEST";
const WAIT_ENV: &str = "MLGYM_GPU_TEST_WAIT_MS";
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn child_holder() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let spec = std::env::var(REQUEST_ENV).unwrap();
    let request = match spec.split_once(':').unwrap() {
        ("count", n) => GpuRequest::Count(n.parse().unwrap()),
        ("ids", ids) => GpuRequest::Ids(ids.split(',').map(String::from).collect()),
        other => panic!("bad request {other:?}"),
    };
    let wait = std::env::var(WAIT_ENV)
        .ok()
        .map(|ms| Duration::from_millis(ms.parse().unwrap()));
    match GpuLease::acquire(request, wait) {
        Ok(mut lease) => {
            eprintln!("LEASED {}", lease.cuda_visible_devices());
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            lease.release();
            eprintln!("RELEASED");
        }
        Err(err) => eprintln!("FAILED {err}"),
    }
}

/// A lock directory removed at the end of the test.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "mlgym-gpu-it-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Leased(Vec<String>),
    Failed(String),
    Released,
    Exited,
}

/// Children of one test, killed and reaped when the test ends, however it ends.
struct Children {
    lock_dir: PathBuf,
    procs: HashMap<usize, Child>,
    next: usize,
    tx: Sender<(usize, Event)>,
    rx: Receiver<(usize, Event)>,
}

impl Children {
    fn new(lock_dir: &TempDir) -> Self {
        let (tx, rx) = channel();
        Self {
            lock_dir: lock_dir.0.clone(),
            procs: HashMap::new(),
            next: 0,
            tx,
            rx,
        }
    }

    /// Starts a child that requests `request` (`count:N` / `ids:..`), waiting `wait_ms`.
    fn spawn(&mut self, request: &str, wait_ms: Option<u64>) -> usize {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "child_holder", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, "1")
            .env(REQUEST_ENV, request)
            .env("MLGYM_GPUS", "0,1,2,3")
            .env("MLGYM_GPU_LOCK_DIR", &self.lock_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match wait_ms {
            Some(ms) => cmd.env(WAIT_ENV, ms.to_string()),
            None => cmd.env_remove(WAIT_ENV),
        };
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (i, tx) = (self.next, self.tx.clone());
        self.next += 1;
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let event = if let Some(ids) = line.strip_prefix("LEASED ") {
                    Event::Leased(ids.split(',').map(String::from).collect())
                } else if let Some(msg) = line.strip_prefix("FAILED ") {
                    Event::Failed(msg.to_string())
                } else if line == "RELEASED" {
                    Event::Released
                } else {
                    continue;
                };
                let _ = tx.send((i, event));
            }
            let _ = tx.send((i, Event::Exited));
        });
        self.procs.insert(i, child);
        i
    }

    /// The next `LEASED` or `FAILED` report, from any child.
    fn next_outcome(&self) -> (usize, Event) {
        let deadline = Instant::now() + EVENT_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (i, event) = self
                .rx
                .recv_timeout(left)
                .expect("no child reported in time");
            if matches!(event, Event::Leased(_) | Event::Failed(_)) {
                return (i, event);
            }
        }
    }

    /// Closes the child's stdin (it then releases) and reaps it.
    fn finish(&mut self, i: usize) {
        let mut child = self.procs.remove(&i).unwrap();
        drop(child.stdin.take());
        let status = child.wait().unwrap();
        assert!(status.success(), "child {i} exited with {status}");
    }

    /// `kill -9` of the child, then reap it.
    fn kill9(&mut self, i: usize) {
        let mut child = self.procs.remove(&i).unwrap();
        // SAFETY: plain syscall on the pid of a child we have not reaped yet.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
        assert_eq!(rc, 0);
        let _ = child.wait();
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for (_, mut child) in self.procs.drain() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn concurrent_processes_split_the_gpus_and_kill_9_frees_them() {
    let dir = TempDir::new("split");
    let mut kids = Children::new(&dir);
    for _ in 0..4 {
        kids.spawn("count:2", None);
    }
    let mut won: HashMap<usize, Vec<String>> = HashMap::new();
    let mut failed = Vec::new();
    for _ in 0..4 {
        match kids.next_outcome() {
            (i, Event::Leased(ids)) => {
                won.insert(i, ids);
            }
            (i, Event::Failed(msg)) => failed.push((i, msg)),
            _ => unreachable!(),
        }
    }
    assert_eq!(
        won.len(),
        2,
        "two leases of 2 fit in 4 GPUs: {won:?} {failed:?}"
    );
    for (_, msg) in &failed {
        assert_eq!(msg, "Not enough GPUs available. Required: 2, Available: 0");
    }
    let all: BTreeSet<&String> = won.values().flatten().collect();
    assert_eq!(all.len(), 4, "no id leased twice: {won:?}");
    for (i, _) in failed {
        kids.finish(i);
    }

    // Asking by id for a held GPU fails and names it.
    let (&victim, victim_ids) = won.iter().min_by_key(|(i, _)| **i).unwrap();
    let victim_ids = victim_ids.clone();
    kids.spawn(&format!("ids:{}", victim_ids[0]), None);
    let (i, event) = kids.next_outcome();
    assert!(
        matches!(&event, Event::Failed(m) if m.starts_with(&format!("GPUs already leased: {}", victim_ids[0]))),
        "{event:?}"
    );
    kids.finish(i);

    // kill -9 of a holder frees exactly its ids, with no cleanup by anyone.
    kids.kill9(victim);
    kids.spawn("count:2", None);
    let (i, event) = kids.next_outcome();
    assert_eq!(event, Event::Leased(victim_ids.clone()));
    kids.finish(i);
    let survivors: Vec<usize> = won.keys().copied().filter(|i| *i != victim).collect();
    for i in survivors {
        kids.finish(i);
    }
}

#[test]
fn waiting_processes_take_turns_without_overlap() {
    let dir = TempDir::new("turns");
    let mut kids = Children::new(&dir);
    const N: usize = 8;
    for _ in 0..N {
        kids.spawn("count:2", Some(EVENT_TIMEOUT.as_millis() as u64));
    }
    // Children the test has not reaped yet, in the order they got their lease. An id
    // reported by a new holder must not be held by any of them.
    let mut holding: Vec<(usize, Vec<String>)> = Vec::new();
    let mut served = 0;
    while served < N {
        let (i, event) = kids.next_outcome();
        let Event::Leased(ids) = event else {
            panic!("child {i}: {event:?}");
        };
        for (j, held) in &holding {
            assert!(
                ids.iter().all(|id| !held.contains(id)),
                "child {i} got {ids:?} while child {j} holds {held:?}"
            );
        }
        holding.push((i, ids));
        served += 1;
        if holding.len() == 2 {
            let (oldest, _) = holding.remove(0);
            kids.finish(oldest);
        }
    }
    for (i, _) in holding {
        kids.finish(i);
    }
}

#[test]
fn a_waiting_process_gets_the_gpus_when_the_holder_exits() {
    let dir = TempDir::new("wait");
    let mut kids = Children::new(&dir);
    let holder = kids.spawn("count:4", None);
    let (i, event) = kids.next_outcome();
    assert_eq!(
        (i, event),
        (
            holder,
            Event::Leased(vec!["0".into(), "1".into(), "2".into(), "3".into()])
        )
    );
    let waiter = kids.spawn("ids:2,3", Some(20_000));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        kids.rx.try_recv().is_err(),
        "the waiter must not report while the holder holds"
    );
    kids.finish(holder);
    let (i, event) = kids.next_outcome();
    assert_eq!(
        (i, event),
        (waiter, Event::Leased(vec!["2".into(), "3".into()]))
    );
    kids.finish(waiter);
}
