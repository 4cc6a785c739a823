//! Exclusive GPU leases: one `flock`ed lock file per id, so the kernel frees a lease
//! however its holder exits.

use super::inventory::id_order;
use super::{GpuError, GpuInventory, POLL_INTERVAL};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The lock file that makes one acquisition attempt atomic across processes.
const ACQUIRE_LOCK_NAME: &str = "acquire.lock";

/// What a lease asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuRequest {
    /// Any `n` GPUs: the `n` lowest free ids.
    Count(usize),
    /// Exactly these ids (each must be in the inventory).
    Ids(Vec<String>),
}

impl GpuRequest {
    /// The number of GPUs requested.
    pub fn len(&self) -> usize {
        match self {
            GpuRequest::Count(n) => *n,
            GpuRequest::Ids(ids) => ids.len(),
        }
    }

    /// True when no GPU is requested (the lease is then empty).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The lock directory of this host: `MLGYM_GPU_LOCK_DIR`, or [`DEFAULT_LOCK_DIR`].
pub fn lock_dir_from_env() -> PathBuf {
    crate::settings::Settings::from_env().gpu_lock_dir
}

/// Lock files held by leases of this process. `flock` already excludes two open file
/// descriptions of one file, in one process as in two; this set is the in-process
/// record that makes the rule explicit and lets a lease skip its own process's GPUs
/// without touching the file system.
static HELD: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

fn held() -> MutexGuard<'static, Option<HashSet<PathBuf>>> {
    // A panic while the set was locked leaves it consistent (every change is one call).
    HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An exclusive lease on a set of GPU ids. The ids are free again when the lease is
/// released, dropped, or its process exits.
#[derive(Debug)]
pub struct GpuLease {
    ids: Vec<String>,
    lock_dir: PathBuf,
    /// `(lock file path, open descriptor holding flock)` per id, in `ids` order.
    locks: Vec<(PathBuf, File)>,
}

impl GpuLease {
    /// Leases GPUs of this host ([`GpuInventory::detect`], lock dir from
    /// [`lock_dir_from_env`]). Without `wait` it tries once; with `wait` it retries every
    /// [`POLL_INTERVAL`] until it succeeds or the time is up, then returns the last error.
    pub fn acquire(request: GpuRequest, wait: Option<Duration>) -> Result<Self, GpuError> {
        Self::acquire_in(
            &GpuInventory::detect(),
            &lock_dir_from_env(),
            request,
            wait,
            || false,
        )
    }

    /// Like [`GpuLease::acquire`], on a given inventory and lock directory, with a
    /// `cancelled` check that runs between attempts (returning true ends the wait with
    /// [`GpuError::Cancelled`]). An unknown id or a malformed request fails at once.
    pub fn acquire_in(
        inventory: &GpuInventory,
        lock_dir: &Path,
        request: GpuRequest,
        wait: Option<Duration>,
        mut cancelled: impl FnMut() -> bool,
    ) -> Result<Self, GpuError> {
        validate(inventory, &request)?;
        let lock_dir = prepare_lock_dir(lock_dir)?;
        let deadline = wait.map(|w| Instant::now().checked_add(w));
        loop {
            let err = match try_acquire(inventory, &lock_dir, &request) {
                Ok(lease) => {
                    tracing::debug!(ids = ?lease.ids, "GPU lease acquired");
                    return Ok(lease);
                }
                Err(err) if err.is_unavailable() => err,
                Err(err) => return Err(err),
            };
            let now = Instant::now();
            let remaining = match deadline {
                None => return Err(err),
                Some(None) => POLL_INTERVAL,
                Some(Some(d)) if d <= now => return Err(err),
                Some(Some(d)) => d - now,
            };
            if cancelled() {
                return Err(GpuError::Cancelled);
            }
            std::thread::sleep(remaining.min(POLL_INTERVAL));
        }
    }

    /// The leased ids, in id order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The value for `CUDA_VISIBLE_DEVICES`, e.g. `0,1` (empty for an empty lease).
    pub fn cuda_visible_devices(&self) -> String {
        self.ids.join(",")
    }

    /// The lock directory the lease was taken in.
    pub fn lock_dir(&self) -> &Path {
        &self.lock_dir
    }

    /// True once [`GpuLease::release`] ran (an empty lease also counts as released).
    pub fn is_released(&self) -> bool {
        self.locks.is_empty()
    }

    /// Frees the GPUs. Idempotent; also runs on drop. `ids()` keeps reporting what was
    /// leased.
    pub fn release(&mut self) {
        if self.locks.is_empty() {
            return;
        }
        let locks = std::mem::take(&mut self.locks);
        let mut set = held();
        for (path, file) in locks {
            // Closing the descriptor drops the flock; unlock first for clarity.
            // SAFETY: `file` owns a valid open descriptor for the duration of the call.
            unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
            drop(file);
            if let Some(set) = set.as_mut() {
                set.remove(&path);
            }
        }
        tracing::debug!(ids = ?self.ids, "GPU lease released");
    }
}

impl Drop for GpuLease {
    fn drop(&mut self) {
        self.release();
    }
}

fn validate(inventory: &GpuInventory, request: &GpuRequest) -> Result<(), GpuError> {
    if let GpuRequest::Ids(ids) = request {
        let mut seen = HashSet::new();
        for id in ids {
            if !seen.insert(id.as_str()) {
                return Err(GpuError::InvalidRequest(format!(
                    "GPU {id:?} is requested twice"
                )));
            }
            if !inventory.contains(id) {
                return Err(GpuError::UnknownGpu {
                    id: id.clone(),
                    inventory: inventory.ids(),
                });
            }
        }
    }
    Ok(())
}

/// Creates the lock directory (world-writable with the sticky bit, like `/tmp`, so that
/// every user of the host shares it) and returns its canonical path.
fn prepare_lock_dir(dir: &Path) -> Result<PathBuf, GpuError> {
    let lock_err = |source| GpuError::Lock {
        path: dir.to_path_buf(),
        source,
    };
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(lock_err)?;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o1777));
    }
    dir.canonicalize().map_err(lock_err)
}

/// The lock file of one id; bytes other than `[A-Za-z0-9._-]` are percent-encoded so
/// that any id (a MIG UUID with `/`, say) maps to one distinct file name.
fn lock_path(lock_dir: &Path, id: &str) -> PathBuf {
    let mut name = String::from("gpu-");
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name.push_str(".lock");
    lock_dir.join(name)
}

/// Opens (creating if need be) a lock file. Existing files are opened read-only, which
/// is enough for `flock` and works on files another user created.
fn open_lock_file(path: &Path) -> Result<File, GpuError> {
    let lock_err = |source| GpuError::Lock {
        path: path.to_path_buf(),
        source,
    };
    match File::open(path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o666)
                .open(path)
                .map_err(lock_err)?;
            let _ = f.set_permissions(std::fs::Permissions::from_mode(0o666));
            Ok(f)
        }
        Err(e) => Err(lock_err(e)),
    }
}

/// `flock(fd, op)`, retried on EINTR. `Ok(false)` when a non-blocking lock is taken.
fn flock(file: &File, op: libc::c_int, path: &Path) -> Result<bool, GpuError> {
    loop {
        // SAFETY: `file` owns a valid open descriptor for the duration of the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), op) };
        if rc == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => {
                return Err(GpuError::Lock {
                    path: path.to_path_buf(),
                    source: err,
                })
            }
        }
    }
}

/// Takes the lock of one id unless this process or another holds it.
fn try_lock(
    lock_dir: &Path,
    id: &str,
    held: &HashSet<PathBuf>,
) -> Result<Option<(PathBuf, File)>, GpuError> {
    let path = lock_path(lock_dir, id);
    if held.contains(&path) {
        return Ok(None);
    }
    let file = open_lock_file(&path)?;
    if flock(&file, libc::LOCK_EX | libc::LOCK_NB, &path)? {
        Ok(Some((path, file)))
    } else {
        Ok(None)
    }
}

/// One attempt, atomic with respect to other attempts on this host: the in-process set
/// and an exclusive lock on `acquire.lock` are held while ids are probed, so a failing
/// attempt never makes another one fail by holding ids it will give back.
fn try_acquire(
    inventory: &GpuInventory,
    lock_dir: &Path,
    request: &GpuRequest,
) -> Result<GpuLease, GpuError> {
    let mut guard = held();
    let set = guard.get_or_insert_with(HashSet::new);
    let gate_path = lock_dir.join(ACQUIRE_LOCK_NAME);
    let gate = open_lock_file(&gate_path)?;
    flock(&gate, libc::LOCK_EX, &gate_path)?;

    let mut taken: Vec<(String, (PathBuf, File))> = Vec::new();
    match request {
        GpuRequest::Count(n) => {
            for gpu in inventory.gpus() {
                if taken.len() == *n {
                    break;
                }
                if let Some(lock) = try_lock(lock_dir, &gpu.id, set)? {
                    taken.push((gpu.id.clone(), lock));
                }
            }
            if taken.len() < *n {
                // Every id was probed, so `taken` holds all the free ones.
                return Err(GpuError::NotEnoughGpus {
                    required: *n,
                    available: taken.len(),
                });
            }
        }
        GpuRequest::Ids(ids) => {
            let mut busy = Vec::new();
            for id in ids {
                match try_lock(lock_dir, id, set)? {
                    Some(lock) => taken.push((id.clone(), lock)),
                    None => busy.push(id.clone()),
                }
            }
            if !busy.is_empty() {
                return Err(GpuError::Busy {
                    busy,
                    requested: ids.clone(),
                });
            }
        }
    }
    taken.sort_by(|a, b| id_order(&a.0, &b.0));
    let mut ids = Vec::with_capacity(taken.len());
    let mut locks = Vec::with_capacity(taken.len());
    for (id, (path, file)) in taken {
        set.insert(path.clone());
        ids.push(id);
        locks.push((path, file));
    }
    // `gate` closes here, after the ids are recorded; it unlocks on close.
    drop(gate);
    Ok(GpuLease {
        ids,
        lock_dir: lock_dir.to_path_buf(),
        locks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::GpuInventory;
    use std::sync::Arc;
    use std::sync::Barrier;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let dir = std::env::temp_dir()
                .join(format!("mlgym-gpu-unit-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn four() -> GpuInventory {
        GpuInventory::from_id_list("0,1,2,3")
    }

    fn lease(inv: &GpuInventory, dir: &TempDir, req: GpuRequest) -> Result<GpuLease, GpuError> {
        GpuLease::acquire_in(inv, &dir.0, req, None, || false)
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn count_takes_lowest_free_ids_and_excludes_in_process() {
        let dir = TempDir::new("count");
        let inv = four();
        let a = lease(&inv, &dir, GpuRequest::Count(2)).unwrap();
        assert_eq!(a.ids(), ids(&["0", "1"]));
        assert_eq!(a.cuda_visible_devices(), "0,1");
        let b = lease(&inv, &dir, GpuRequest::Count(1)).unwrap();
        assert_eq!(b.ids(), ids(&["2"]));
        let err = lease(&inv, &dir, GpuRequest::Count(2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Not enough GPUs available. Required: 2, Available: 1"
        );
        assert!(err.is_unavailable());
        drop(a);
        let c = lease(&inv, &dir, GpuRequest::Count(3)).unwrap();
        assert_eq!(c.ids(), ids(&["0", "1", "3"]));
    }

    #[test]
    fn zero_count_is_an_empty_lease() {
        let dir = TempDir::new("zero");
        let l = lease(&GpuInventory::from_id_list(""), &dir, GpuRequest::Count(0)).unwrap();
        assert!(l.ids().is_empty());
        assert_eq!(l.cuda_visible_devices(), "");
        let err = lease(&GpuInventory::from_id_list(""), &dir, GpuRequest::Count(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Not enough GPUs available. Required: 1, Available: 0"
        );
    }

    #[test]
    fn ids_request() {
        let dir = TempDir::new("ids");
        let inv = four();
        let a = lease(&inv, &dir, GpuRequest::Ids(ids(&["3", "1"]))).unwrap();
        assert_eq!(a.ids(), ids(&["1", "3"]));
        let err = lease(&inv, &dir, GpuRequest::Ids(ids(&["0", "1", "3"]))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "GPUs already leased: 1, 3 (requested: 0, 1, 3)"
        );
        // The failed attempt gave 0 back.
        let b = lease(&inv, &dir, GpuRequest::Ids(ids(&["0"]))).unwrap();
        assert_eq!(b.ids(), ids(&["0"]));

        let err = lease(&inv, &dir, GpuRequest::Ids(ids(&["7"]))).unwrap_err();
        assert!(matches!(err, GpuError::UnknownGpu { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "GPU \"7\" is not on this host (inventory: [0, 1, 2, 3])"
        );
        let err = lease(&inv, &dir, GpuRequest::Ids(ids(&["2", "2"]))).unwrap_err();
        assert!(matches!(err, GpuError::InvalidRequest(_)), "{err}");
    }

    #[test]
    fn release_is_idempotent() {
        let dir = TempDir::new("release");
        let inv = four();
        let mut a = lease(&inv, &dir, GpuRequest::Count(4)).unwrap();
        assert!(!a.is_released());
        a.release();
        a.release();
        assert!(a.is_released());
        assert_eq!(a.ids(), ids(&["0", "1", "2", "3"]));
        let b = lease(&inv, &dir, GpuRequest::Count(4)).unwrap();
        drop(a);
        // Dropping the released lease did not free b's ids.
        let err = lease(&inv, &dir, GpuRequest::Count(1)).unwrap_err();
        assert!(err.is_unavailable());
        drop(b);
    }

    #[test]
    fn lock_dirs_are_independent_namespaces() {
        let (d1, d2) = (TempDir::new("ns1"), TempDir::new("ns2"));
        let inv = four();
        let a = lease(&inv, &d1, GpuRequest::Count(4)).unwrap();
        let b = lease(&inv, &d2, GpuRequest::Count(4)).unwrap();
        assert_eq!(a.ids(), b.ids());
    }

    #[test]
    fn lock_file_names_are_distinct_and_safe() {
        let d = Path::new("/x");
        assert_eq!(lock_path(d, "0"), PathBuf::from("/x/gpu-0.lock"));
        assert_eq!(
            lock_path(d, "MIG-GPU-1/2/0"),
            PathBuf::from("/x/gpu-MIG-GPU-1%2F2%2F0.lock")
        );
        assert_ne!(lock_path(d, "a/b"), lock_path(d, "a%2Fb"));
    }

    #[test]
    fn threads_never_share_an_id() {
        let dir = Arc::new(TempDir::new("threads"));
        let inv = Arc::new(GpuInventory::from_id_list("0,1,2,3,4,5,6,7"));
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (dir, inv, barrier) = (dir.clone(), inv.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let l = lease(&inv, &dir, GpuRequest::Count(2)).ok();
                    let got = l.as_ref().map(|l| l.ids().to_vec());
                    barrier.wait(); // everyone holds (or failed) at once
                    got
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let won: Vec<_> = results.into_iter().flatten().collect();
        assert_eq!(won.len(), 4, "exactly 8/2 leases fit: {won:?}");
        let mut all: Vec<_> = won.concat();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 8, "no id in two leases: {won:?}");
    }

    #[test]
    fn wait_succeeds_when_the_holder_releases() {
        let dir = Arc::new(TempDir::new("wait"));
        let inv = four();
        let holder = lease(&inv, &dir, GpuRequest::Count(4)).unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(holder);
        });
        let start = Instant::now();
        let l = GpuLease::acquire_in(
            &inv,
            &dir.0,
            GpuRequest::Ids(ids(&["2"])),
            Some(Duration::from_secs(10)),
            || false,
        )
        .unwrap();
        assert_eq!(l.ids(), ids(&["2"]));
        assert!(start.elapsed() >= Duration::from_millis(150));
        t.join().unwrap();
    }

    #[test]
    fn wait_times_out_and_cancels() {
        let dir = TempDir::new("timeout");
        let inv = four();
        let _holder = lease(&inv, &dir, GpuRequest::Count(3)).unwrap();
        let start = Instant::now();
        let err = GpuLease::acquire_in(
            &inv,
            &dir.0,
            GpuRequest::Count(2),
            Some(Duration::from_millis(200)),
            || false,
        )
        .unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert_eq!(
            err.to_string(),
            "Not enough GPUs available. Required: 2, Available: 1"
        );
        let mut calls = 0;
        let err = GpuLease::acquire_in(
            &inv,
            &dir.0,
            GpuRequest::Count(2),
            Some(Duration::MAX),
            || {
                calls += 1;
                calls > 2
            },
        )
        .unwrap_err();
        assert!(matches!(err, GpuError::Cancelled), "{err}");
        // Unknown ids fail at once even with a wait.
        let start = Instant::now();
        let err = GpuLease::acquire_in(
            &inv,
            &dir.0,
            GpuRequest::Ids(ids(&["9"])),
            Some(Duration::from_secs(10)),
            || false,
        )
        .unwrap_err();
        assert!(matches!(err, GpuError::UnknownGpu { .. }));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn unusable_lock_dir_is_an_error() {
        let dir = TempDir::new("file");
        std::fs::write(&dir.0, b"not a dir").unwrap();
        let err = lease(&four(), &dir, GpuRequest::Count(1)).unwrap_err();
        assert!(matches!(err, GpuError::Lock { .. }), "{err}");
        let _ = std::fs::remove_file(&dir.0);
    }
}
