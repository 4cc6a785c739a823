//! The GPUs of this host: from `MLGYM_GPUS`, else from `nvidia-smi`.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `nvidia-smi` may take before the inventory gives up on it.
const NVIDIA_SMI_TIMEOUT: Duration = Duration::from_secs(30);

/// One GPU of the inventory. Fields other than `id` are `None` when unknown (always so
/// when the inventory comes from `MLGYM_GPUS`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GpuInfo {
    /// The id that `CUDA_VISIBLE_DEVICES` and `docker --gpus device=` accept (an index).
    pub id: String,
    /// The product name, e.g. `NVIDIA H200`.
    pub name: Option<String>,
    /// Total memory in MiB.
    pub memory_total_mb: Option<u64>,
    /// Memory in use in MiB, when the inventory was taken.
    pub memory_used_mb: Option<u64>,
    /// GPU utilisation in percent, when the inventory was taken.
    pub utilization: Option<f64>,
}

impl GpuInfo {
    /// A GPU known by its id only.
    pub fn from_id(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            name: None,
            memory_total_mb: None,
            memory_used_mb: None,
            utilization: None,
        }
    }
}

/// Where an inventory came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InventorySource {
    /// The `MLGYM_GPUS` variable.
    Env,
    /// `nvidia-smi --query-gpu`.
    NvidiaSmi,
    /// Neither: `nvidia-smi` is missing or failed.
    None,
}

/// The GPUs of this host, sorted by id (numeric ids first, in numeric order).
#[derive(Debug, Clone, PartialEq)]
pub struct GpuInventory {
    gpus: Vec<GpuInfo>,
    source: InventorySource,
}

impl GpuInventory {
    /// The inventory of this host: `MLGYM_GPUS` when set, else `nvidia-smi`, else empty.
    pub fn detect() -> Self {
        match crate::settings::Settings::from_env().gpus {
            Some(list) => Self::from_id_list(&list),
            None => Self::from_nvidia_smi(),
        }
    }

    /// An inventory of the given ids (duplicates dropped).
    pub fn from_ids<I, S>(ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(
            ids.into_iter().map(|s| GpuInfo::from_id(s)).collect(),
            InventorySource::Env,
        )
    }

    /// An inventory parsed from a comma-separated id list such as `0,1,2,3` (the
    /// format of `MLGYM_GPUS`; blanks are ignored, an empty string means no GPUs).
    pub fn from_id_list(list: &str) -> Self {
        Self::from_ids(list.split(',').map(str::trim).filter(|s| !s.is_empty()))
    }

    /// The inventory `nvidia-smi` reports; empty when it is missing, fails or hangs.
    pub fn from_nvidia_smi() -> Self {
        match run_nvidia_smi() {
            Some(csv) => {
                let mut inv = Self::from_nvidia_smi_csv(&csv);
                inv.source = InventorySource::NvidiaSmi;
                inv
            }
            None => Self::new(Vec::new(), InventorySource::None),
        }
    }

    /// Parses the output of `nvidia-smi --query-gpu=index,name,memory.total,memory.used,
    /// utilization.gpu --format=csv,noheader,nounits`. Lines that do not parse are
    /// skipped; `[N/A]` values become `None`.
    pub fn from_nvidia_smi_csv(csv: &str) -> Self {
        let gpus = csv.lines().filter_map(parse_nvidia_smi_line).collect();
        Self::new(gpus, InventorySource::NvidiaSmi)
    }

    fn new(mut gpus: Vec<GpuInfo>, source: InventorySource) -> Self {
        gpus.sort_by(|a, b| id_order(&a.id, &b.id));
        gpus.dedup_by(|a, b| a.id == b.id);
        Self { gpus, source }
    }

    /// Every GPU, in id order.
    pub fn gpus(&self) -> &[GpuInfo] {
        &self.gpus
    }

    /// Every id, in id order.
    pub fn ids(&self) -> Vec<String> {
        self.gpus.iter().map(|g| g.id.clone()).collect()
    }

    /// Whether `id` is one of this host's GPUs.
    pub fn contains(&self, id: &str) -> bool {
        self.gpus.iter().any(|g| g.id == id)
    }

    /// The number of GPUs.
    pub fn len(&self) -> usize {
        self.gpus.len()
    }

    /// True when the host has no GPU.
    pub fn is_empty(&self) -> bool {
        self.gpus.is_empty()
    }

    /// Where the list came from.
    pub fn source(&self) -> InventorySource {
        self.source
    }
}

/// Numeric ids in numeric order, then the others in lexicographic order.
pub(super) fn id_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

fn parse_nvidia_smi_line(line: &str) -> Option<GpuInfo> {
    let parts: Vec<&str> = line.split(',').map(str::trim).collect();
    if parts.len() < 5 || parts[0].is_empty() {
        return None;
    }
    let n = parts.len();
    let name = parts[1..n - 3].join(", ");
    let value = |s: &str| {
        let s = s.trim();
        if s.is_empty() || s.starts_with('[') {
            None
        } else {
            s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
        }
    };
    Some(GpuInfo {
        id: parts[0].to_string(),
        name: (!name.is_empty()).then_some(name),
        memory_total_mb: value(parts[n - 3]).map(|v| v as u64),
        memory_used_mb: value(parts[n - 2]).map(|v| v as u64),
        utilization: value(parts[n - 1]),
    })
}

/// Runs `nvidia-smi`; `None` when it is missing, exits non-zero or outlives the timeout.
fn run_nvidia_smi() -> Option<String> {
    let mut child = Command::new("nvidia-smi")
        .args([
            "--query-gpu=index,name,memory.total,memory.used,utilization.gpu",
            "--format=csv,noheader,nounits",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        stdout.read_to_string(&mut out).map(|_| out)
    });
    let deadline = Instant::now() + NVIDIA_SMI_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let out = reader.join().ok()?.ok()?;
    status.filter(|s| s.success()).map(|_| out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn id_list_parsing() {
        assert!(GpuInventory::from_id_list("").is_empty());
        assert!(GpuInventory::from_id_list(" , ").is_empty());
        let inv = GpuInventory::from_id_list("3, 1,10,2,1,,GPU-abc");
        assert_eq!(inv.ids(), ids(&["1", "2", "3", "10", "GPU-abc"]));
        assert_eq!(inv.source(), InventorySource::Env);
        assert_eq!(inv.gpus()[0], GpuInfo::from_id("1"));
    }

    #[test]
    fn nvidia_smi_csv_parsing() {
        let csv = "0, NVIDIA H200, 143771, 1024, 37\n\
                   1, NVIDIA H200, 143771, [N/A], [N/A]\n\
                   garbage\n\
                   \n";
        let inv = GpuInventory::from_nvidia_smi_csv(csv);
        assert_eq!(inv.len(), 2);
        let g0 = &inv.gpus()[0];
        assert_eq!(g0.id, "0");
        assert_eq!(g0.name.as_deref(), Some("NVIDIA H200"));
        assert_eq!(g0.memory_total_mb, Some(143771));
        assert_eq!(g0.memory_used_mb, Some(1024));
        assert_eq!(g0.utilization, Some(37.0));
        let g1 = &inv.gpus()[1];
        assert_eq!(g1.memory_used_mb, None);
        assert_eq!(g1.utilization, None);
    }
}
