//! `mlbench serve`: a model server on axum. The tutorial's routes (`GET /sal/{x}`,
//! `POST /predict`), the Open Inference Protocol v2, and a model file that is reloaded when a
//! new training run replaces it.

mod connection;
mod metrics;
pub(crate) mod oip;
mod protocol_errors;
mod reload;
mod routes;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::ml::model::ModelFile;
use crate::{Error, Result};

pub use routes::router;

/// What every request reads: the model (swapped whole on reload) and its name; and what
/// `/metrics` reports.
pub struct Served {
    pub name: String,
    model: RwLock<Arc<ModelFile>>,
    metrics: metrics::ServeMetrics,
}

impl Served {
    pub fn new(name: String, model: ModelFile) -> Served {
        Served {
            name,
            model: RwLock::new(Arc::new(model)),
            metrics: metrics::ServeMetrics::default(),
        }
    }

    pub fn model(&self) -> Arc<ModelFile> {
        // A poisoned lock still holds a whole model: the swap is a single assignment.
        match self.model.read() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, model: ModelFile) {
        let mut slot = match self.model.write() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(model);
    }
}

pub struct ServeOptions {
    pub model: PathBuf,
    pub name: Option<String>,
    pub host: String,
    pub port: u16,
    pub access_log: bool,
    /// How long a client may take to send a request's headers, or its body.
    pub client_timeout: Duration,
    /// Connections served at once; `None`: as many as the open-file limit allows.
    pub max_connections: Option<usize>,
}

/// The model's name when none is given: its folder's (`/storage/salary/model.json` → salary).
pub fn default_name(model: &Path) -> String {
    model
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "model".to_string())
}

/// Serves until SIGTERM or SIGINT; then stops taking connections and exits within a second.
pub async fn serve(options: ServeOptions) -> Result<()> {
    let model_path = crate::ml::train::resolve_output(&options.model);
    let model = ModelFile::load(&model_path)?;
    let name = options.name.clone().unwrap_or_else(|| default_name(&model_path));
    let served = Arc::new(Served::new(name.clone(), model));
    let addr: SocketAddr = format!("{}:{}", options.host, options.port)
        .parse()
        .map_err(|_| {
            Error::Invalid(format!(
                "{}:{} is not an address to listen on",
                options.host, options.port
            ))
        })?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Invalid(format!("cannot listen on {addr}: {e}")))?;
    // The port the system gave, when asked for port 0.
    let addr = listener.local_addr().unwrap_or(addr);
    tokio::spawn(reload::watch(model_path.clone(), served.clone()));
    eprintln!(
        "serving model {name} from {} on http://{addr}",
        model_path.display()
    );
    let app = router(served, options.access_log, options.client_timeout);
    let limit = options.max_connections.unwrap_or_else(connection_limit);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let connections = Arc::new(tokio::sync::Semaphore::new(limit));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                match connections.clone().try_acquire_owned() {
                    Ok(permit) => {
                        tokio::spawn(connection::serve(stream, app.clone(), options.client_timeout, permit));
                    }
                    Err(_) => {
                        tokio::spawn(connection::refuse(stream, limit));
                    }
                }
            }
            _ = stop_rx.wait_for(|s| *s) => break,
        }
    }
    // Graceful, but not at any cost: connections still open a moment later are dropped.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(700);
    while connections.available_permits() < limit && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("stopped serving {name}");
    Ok(())
}

/// Connections at once when none is set: what the open-file limit leaves after the model,
/// the listener and a margin, at most 4096.
fn connection_limit() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<usize>().ok())
        });
    soft.map_or(1024, |n| n.saturating_sub(32)).clamp(16, 4096)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}
