//! Pre-started containers: a new env takes a ready container instead of waiting for
//! create + start (hundreds of milliseconds). The pool is off until asked for, by
//! `MLGYM_CONTAINER_POOL=N` or by [`prewarm`]; each taken container is replaced in the
//! background. Pooled containers are tracked like any other, so exit removes them.

use super::{ContainerConfig, ContainerSandbox};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// What makes two pooled containers interchangeable (labels excluded: they only
/// describe, and a pooled container keeps the ones it was created with).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey(String);

impl PoolKey {
    fn of(c: &ContainerConfig) -> Option<Self> {
        if !c.gpus.is_empty() || !c.start {
            return None; // GPU leases and create-only containers are never pooled
        }
        Some(Self(format!(
            "{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}",
            c.engine.name(),
            c.image,
            c.network,
            c.memory_bytes,
            c.cpus,
            c.pids_limit,
            c.env
        )))
    }
}

struct Shelf {
    ready: Vec<ContainerSandbox>,
    target: usize,
    filling: usize,
}

static POOL: OnceLock<Mutex<HashMap<PoolKey, Shelf>>> = OnceLock::new();

fn pool() -> &'static Mutex<HashMap<PoolKey, Shelf>> {
    POOL.get_or_init(|| Mutex::new(HashMap::new()))
}

fn default_target() -> usize {
    std::env::var("MLGYM_CONTAINER_POOL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Starts background creation until the shelf holds its target.
fn refill(key: PoolKey, config: ContainerConfig) {
    let missing = {
        let Ok(mut map) = pool().lock() else { return };
        let shelf = map.entry(key.clone()).or_insert_with(|| Shelf {
            ready: Vec::new(),
            target: default_target(),
            filling: 0,
        });
        let missing = shelf
            .target
            .saturating_sub(shelf.ready.len() + shelf.filling);
        shelf.filling += missing;
        missing
    };
    for _ in 0..missing {
        let key = key.clone();
        let config = config.clone();
        std::thread::spawn(move || {
            let made = ContainerSandbox::create_fresh(&config).ok();
            // Not wanted any more (drained or shrunk meanwhile): dropping removes it.
            let _unwanted = match pool().lock() {
                Ok(mut map) => match map.get_mut(&key) {
                    Some(shelf) => {
                        shelf.filling = shelf.filling.saturating_sub(1);
                        match made {
                            Some(sandbox) if shelf.ready.len() < shelf.target => {
                                shelf.ready.push(sandbox);
                                None
                            }
                            other => other,
                        }
                    }
                    None => made,
                },
                Err(_) => made,
            };
        });
    }
}

/// A ready container for `config`, if the pool has one (and a replacement is started).
pub fn take(config: &ContainerConfig) -> Option<ContainerSandbox> {
    let key = PoolKey::of(config)?;
    let taken = {
        let mut map = pool().lock().ok()?;
        let shelf = map.entry(key.clone()).or_insert_with(|| Shelf {
            ready: Vec::new(),
            target: default_target(),
            filling: 0,
        });
        shelf.ready.pop()
    };
    refill(key, config.clone());
    // A pooled container can have died meanwhile (removed by hand, engine restart).
    taken.filter(ContainerSandbox::is_running)
}

/// Keeps `n` started containers of `config` ready; returns once they are all up.
pub fn prewarm(config: &ContainerConfig, n: usize) -> usize {
    let Some(key) = PoolKey::of(config) else {
        return 0;
    };
    if let Ok(mut map) = pool().lock() {
        let shelf = map.entry(key.clone()).or_insert_with(|| Shelf {
            ready: Vec::new(),
            target: n,
            filling: 0,
        });
        shelf.target = n;
    }
    refill(key.clone(), config.clone());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (ready, filling) = pool()
            .lock()
            .ok()
            .and_then(|m| m.get(&key).map(|s| (s.ready.len(), s.filling)))
            .unwrap_or((0, 0));
        if filling == 0 || ready >= n || std::time::Instant::now() >= deadline {
            return ready;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Removes every pooled container (exit handlers), after waiting (briefly) for those
/// still being created, so none is left behind.
pub fn drain() -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let filling = match pool().lock() {
            Ok(mut map) => map
                .values_mut()
                .map(|s| {
                    s.target = 0;
                    s.filling
                })
                .sum::<usize>(),
            Err(_) => return 0,
        };
        if filling == 0 || std::time::Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let all: Vec<ContainerSandbox> = match pool().lock() {
        Ok(mut map) => map
            .values_mut()
            .flat_map(|s| std::mem::take(&mut s.ready))
            .collect(),
        Err(_) => return 0,
    };
    let n = all.len();
    drop(all); // Drop stops and removes each
    n
}
