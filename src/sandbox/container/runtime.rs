//! The one tokio runtime behind every container call. Sandboxes are driven from plain
//! (non-runtime) threads, so each call blocks its caller on the runtime, never a worker.

use std::future::Future;
use std::sync::OnceLock;

static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();

fn runtime() -> Option<&'static tokio::runtime::Runtime> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("mlgym-engine")
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
}

/// Runs `fut` to completion on the shared runtime; `None` if no runtime could start.
pub fn block_on<F: Future>(fut: F) -> Option<F::Output> {
    runtime().map(|rt| rt.block_on(fut))
}

/// Starts `fut` on the shared runtime in the background.
pub fn spawn<F>(fut: F) -> bool
where
    F: Future<Output = ()> + Send + 'static,
{
    match runtime() {
        Some(rt) => {
            rt.spawn(fut);
            true
        }
        None => false,
    }
}
