//! A container gets exactly its GPUs: the created container's HostConfig carries a
//! device request (Docker) or CDI devices (Podman) for exactly the leased ids. No GPU
//! is needed: the container is created, inspected and removed, never started.

use mlgym::gpu::{GpuInventory, GpuLease, GpuRequest};
use mlgym::sandbox::container::{runtime, Engine};
use mlgym::sandbox::{ContainerConfig, ContainerSandbox, EngineKind, Sandbox};

fn engine_or_skip(kind: EngineKind) -> Option<Engine> {
    let var = if kind == EngineKind::Podman {
        std::env::var("MLGYM_TEST_PODMAN").or_else(|_| std::env::var("MLGYM_TEST_DOCKER"))
    } else {
        std::env::var("MLGYM_TEST_DOCKER")
    };
    match Engine::connect(kind) {
        Ok(e) => Some(e),
        Err(err) if var.as_deref() == Ok("required") => panic!("{err}"),
        Err(err) => {
            eprintln!("skipping: {err}");
            None
        }
    }
}

fn created_host_config(kind: EngineKind, gpus: &[&str]) -> Option<serde_json::Value> {
    let engine = engine_or_skip(kind)?;
    let mut config = ContainerConfig::new(kind);
    config.gpus = gpus.iter().map(|s| s.to_string()).collect();
    config.start = false;
    let mut sandbox = match ContainerSandbox::create(&config) {
        Ok(s) => s,
        // Podman resolves CDI names at create time; without a CDI spec on this host it
        // must refuse, naming the device, rather than give the container other GPUs.
        Err(e) if kind == EngineKind::Podman => {
            let msg = e.to_string();
            assert!(msg.contains("nvidia.com/gpu="), "{msg}");
            return None;
        }
        Err(e) => panic!("{e}"),
    };
    let docker = engine.docker.clone();
    let id = sandbox.id().to_string();
    let inspect = runtime::block_on(async move { docker.inspect_container(&id, None).await })
        .expect("runtime")
        .expect("inspect");
    sandbox.stop();
    Some(serde_json::to_value(inspect.host_config).expect("json"))
}

#[test]
fn docker_device_request_names_exactly_the_leased_gpus() {
    // Four fake GPUs; another holder takes 0 and 2, so our lease of two gets 1 and 3.
    let locks = std::env::temp_dir().join(format!("mlgym-gpu-test-{}", std::process::id()));
    let inventory = GpuInventory::from_id_list("0,1,2,3");
    let never = || false;
    let other = GpuLease::acquire_in(
        &inventory,
        &locks,
        GpuRequest::Ids(vec!["0".into(), "2".into()]),
        None,
        never,
    )
    .expect("lease 0,2");
    let ours = GpuLease::acquire_in(&inventory, &locks, GpuRequest::Count(2), None, never)
        .expect("lease two");
    assert_eq!(ours.ids(), ["1", "3"]);
    let ids: Vec<&str> = ours.ids().iter().map(String::as_str).collect();
    let host = created_host_config(EngineKind::Docker, &ids);
    drop((other, ours));
    let _ = std::fs::remove_dir_all(&locks);
    let Some(host) = host else {
        return;
    };
    let requests = host["DeviceRequests"].as_array().expect("device requests");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["Driver"], "nvidia");
    assert_eq!(requests[0]["DeviceIDs"], serde_json::json!(["1", "3"]));
    assert_eq!(requests[0]["Capabilities"], serde_json::json!([["gpu"]]));
    assert_eq!(host["NetworkMode"], "none");
}

#[test]
fn no_gpus_no_device_request() {
    let Some(host) = created_host_config(EngineKind::Docker, &[]) else {
        return;
    };
    assert!(host["DeviceRequests"].is_null() || host["DeviceRequests"] == serde_json::json!([]));
}

#[test]
fn podman_gets_cdi_names() {
    let Some(host) = created_host_config(EngineKind::Podman, &["2"]) else {
        return;
    };
    let devices = host["Devices"].as_array().expect("devices");
    let names: Vec<&str> = devices
        .iter()
        .filter_map(|d| d["PathOnHost"].as_str())
        .collect();
    assert_eq!(names, vec!["nvidia.com/gpu=2"]);
}
