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

/// The ready containers of one kind, how many are wanted, and how many are on their way.
struct Shelf {
    ready: Vec<ContainerSandbox>,
    target: usize,
    filling: usize,
}

impl Shelf {
    fn new(target: usize) -> Self {
        Self {
            ready: Vec::new(),
            target,
            filling: 0,
        }
    }

    /// How many more must be started to reach the target; counts them as on their way.
    fn start_filling(&mut self) -> usize {
        let missing = self.target.saturating_sub(self.ready.len() + self.filling);
        self.filling += missing;
        missing
    }

    /// One creation finished: keeps the container if it is still wanted, else hands it
    /// back (dropping it removes it).
    fn finish_one(&mut self, made: Option<ContainerSandbox>) -> Option<ContainerSandbox> {
        self.filling = self.filling.saturating_sub(1);
        match made {
            Some(sandbox) if self.ready.len() < self.target => {
                self.ready.push(sandbox);
                None
            }
            other => other,
        }
    }
}

/// The shelf for `key`, created with the default target on first use.
fn shelf<'a>(map: &'a mut HashMap<PoolKey, Shelf>, key: &PoolKey) -> &'a mut Shelf {
    map.entry(key.clone())
        .or_insert_with(|| Shelf::new(default_target()))
}

static POOL: OnceLock<Mutex<HashMap<PoolKey, Shelf>>> = OnceLock::new();

fn pool() -> &'static Mutex<HashMap<PoolKey, Shelf>> {
    POOL.get_or_init(|| Mutex::new(HashMap::new()))
}

fn default_target() -> usize {
    crate::settings::Settings::from_env().container_pool
}

/// Starts background creation until the shelf holds its target.
fn refill(key: PoolKey, config: ContainerConfig) {
    let missing = {
        let Ok(mut map) = pool().lock() else { return };
        shelf(&mut map, &key).start_filling()
    };
    for _ in 0..missing {
        let key = key.clone();
        let config = config.clone();
        std::thread::spawn(move || {
            let made = ContainerSandbox::create_fresh(&config).ok();
            // Not wanted any more (drained or shrunk meanwhile): dropping removes it.
            let _unwanted = match pool().lock() {
                Ok(mut map) => match map.get_mut(&key) {
                    Some(shelf) => shelf.finish_one(made),
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
        shelf(&mut map, &key).ready.pop()
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
        shelf(&mut map, &key).target = n;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shelf_starts_only_what_is_missing() {
        let mut shelf = Shelf::new(3);
        assert_eq!(shelf.start_filling(), 3);
        // Nothing more while the first three are on their way.
        assert_eq!(shelf.start_filling(), 0);
        // A failed creation frees its slot, and the next refill starts one again.
        assert!(shelf.finish_one(None).is_none());
        assert_eq!(shelf.filling, 2);
        assert_eq!(shelf.start_filling(), 1);
        // Draining (target 0) never goes below zero.
        shelf.target = 0;
        for _ in 0..5 {
            assert!(shelf.finish_one(None).is_none());
        }
        assert_eq!(shelf.filling, 0);
        assert_eq!(shelf.start_filling(), 0);
    }

    #[test]
    fn gpu_and_create_only_configs_are_never_pooled() {
        let mut config = ContainerConfig::new(super::super::EngineKind::Docker);
        assert!(PoolKey::of(&config).is_some());
        config.gpus = vec!["0".into()];
        assert!(PoolKey::of(&config).is_none());
        config.gpus.clear();
        config.start = false;
        assert!(PoolKey::of(&config).is_none());
    }
}
