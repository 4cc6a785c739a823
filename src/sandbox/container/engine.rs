//! Finding and connecting to a container engine (Docker, or Podman through its
//! Docker-compatible API), negotiating the API version the daemon speaks.

use super::runtime::block_on;
use super::ContainerError;
use bollard::Docker;
use std::time::Duration;

/// Which engine a container sandbox talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineKind {
    /// Docker Engine.
    Docker,
    /// Podman's Docker-compatible service.
    Podman,
}

impl EngineKind {
    /// Parses `docker` or `podman`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "docker" => Some(Self::Docker),
            "podman" => Some(Self::Podman),
            _ => None,
        }
    }

    /// `docker` or `podman`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Podman => "podman",
        }
    }

    /// Socket addresses to try: the engine's variable alone when set, else the usual paths.
    pub fn candidate_sockets(self) -> Vec<String> {
        let mut out = Vec::new();
        let var = match self {
            Self::Docker => "DOCKER_HOST",
            Self::Podman => "CONTAINER_HOST",
        };
        if let Ok(v) = std::env::var(var) {
            if !v.trim().is_empty() {
                // An explicit address is what the user wants, as with the engines' CLIs.
                return vec![v.trim().to_string()];
            }
        }
        match self {
            Self::Docker => out.push("unix:///var/run/docker.sock".into()),
            Self::Podman => {
                out.push("unix:///run/podman/podman.sock".into());
                if let Ok(dir) = std::env::var("XDG_RUNTIME_DIR") {
                    out.push(format!("unix://{dir}/podman/podman.sock"));
                }
            }
        }
        out.dedup();
        out
    }
}

/// A connected engine.
#[derive(Clone)]
pub struct Engine {
    /// Which engine.
    pub kind: EngineKind,
    /// The socket it answered on.
    pub socket: String,
    /// The bollard client (version negotiated).
    pub docker: Docker,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Seconds bollard waits for one request; long commands go through exec streams.
const REQUEST_TIMEOUT_S: u64 = 600;

fn connect_one(addr: &str) -> Result<Docker, String> {
    let docker = if let Some(path) = addr.strip_prefix("unix://") {
        if !std::path::Path::new(path).exists() {
            return Err(format!("{path} does not exist"));
        }
        Docker::connect_with_unix(path, REQUEST_TIMEOUT_S, bollard::API_DEFAULT_VERSION)
    } else if addr.starts_with("tcp://") || addr.starts_with("http://") {
        Docker::connect_with_http(addr, REQUEST_TIMEOUT_S, bollard::API_DEFAULT_VERSION)
    } else if addr.starts_with('/') {
        Docker::connect_with_unix(addr, REQUEST_TIMEOUT_S, bollard::API_DEFAULT_VERSION)
    } else {
        return Err("unsupported address scheme".into());
    }
    .map_err(|e| e.to_string())?;
    let negotiated = block_on(async move {
        tokio::time::timeout(CONNECT_TIMEOUT, async move {
            let d = docker
                .negotiate_version()
                .await
                .map_err(|e| e.to_string())?;
            d.ping().await.map_err(|e| e.to_string())?;
            Ok::<_, String>(d)
        })
        .await
    })
    .ok_or_else(|| "no async runtime".to_string())?;
    match negotiated {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs())),
    }
}

impl Engine {
    /// Connects to the first candidate socket that answers a ping.
    pub fn connect(kind: EngineKind) -> Result<Self, ContainerError> {
        let mut tried = Vec::new();
        for socket in kind.candidate_sockets() {
            match connect_one(&socket) {
                Ok(docker) => {
                    return Ok(Self {
                        kind,
                        socket,
                        docker,
                    })
                }
                Err(why) => tried.push(format!("{socket} ({why})")),
            }
        }
        Err(ContainerError::EngineUnavailable {
            engine: kind.name(),
            tried: tried.join("; "),
        })
    }
}
