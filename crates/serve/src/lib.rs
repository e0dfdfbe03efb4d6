//! `mlbench serve`: a model server on axum. The tutorial's routes (`GET /sal/{x}`,
//! `POST /predict`), the Open Inference Protocol v2, and a model file that is reloaded when a
//! new training run replaces it.

mod connection;
mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod header_watch;
mod metrics;
pub(crate) mod oip;
mod openapi;
mod protocol_errors;
mod reload;
mod routes;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use mlbench_ml::model::{FILE_NAME, ModelFile};
use mlbench_ml::versions;

pub use error::{Error, Result};
pub use routes::router;

/// What every request reads: the model (swapped whole on reload) and its name; the kept
/// versions beside it; and what `/metrics` reports.
pub struct Served {
    pub(crate) name: String,
    model: RwLock<Arc<ModelFile>>,
    /// The model's folder, where its kept versions are read from (none: only the model given).
    folder: Option<PathBuf>,
    /// Kept versions asked for by number, each loaded once: a kept version never changes.
    kept: Mutex<HashMap<u32, Arc<ModelFile>>>,
    metrics: metrics::ServeMetrics,
}

impl Served {
    pub fn new(name: String, model: ModelFile) -> Served {
        Served {
            name,
            model: RwLock::new(Arc::new(model)),
            folder: None,
            kept: Mutex::new(HashMap::new()),
            metrics: metrics::ServeMetrics::default(),
        }
    }

    /// Serves the kept versions in `folder` too.
    #[must_use]
    pub(crate) fn with_folder(self, folder: PathBuf) -> Served {
        Served {
            folder: Some(folder),
            ..self
        }
    }

    pub(crate) fn model(&self) -> Arc<ModelFile> {
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

    /// Kept version `n`: the one served now, or one read from the folder.
    pub(crate) fn version(&self, n: u32) -> Option<Arc<ModelFile>> {
        let current = self.model();
        if current.version == Some(n) {
            return Some(current);
        }
        let folder = self.folder.as_ref()?;
        let mut kept = match self.kept.lock() {
            Ok(k) => k,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(model) = kept.get(&n) {
            return Some(model.clone());
        }
        let model = Arc::new(versions::load(folder, Some(n)).ok()?);
        kept.insert(n, model.clone());
        Some(model)
    }

    /// The version numbers this server answers for.
    pub(crate) fn versions(&self) -> Vec<u32> {
        let mut numbers = self.folder.as_deref().map(versions::numbers).unwrap_or_default();
        if let Some(n) = self.model().version.filter(|n| !numbers.contains(n)) {
            numbers.push(n);
            numbers.sort_unstable();
        }
        numbers
    }
}

pub struct ServeOptions {
    /// `model.json`, or the folder holding it and its kept versions.
    pub model: PathBuf,
    /// A kept version to serve instead of the current `model.json`.
    pub version: Option<u32>,
    /// A file naming the version to serve (a number, or `current`), read again whenever it
    /// changes: how `mlbench deploy rollback` moves a running server.
    pub pin_file: Option<PathBuf>,
    pub name: Option<String>,
    pub host: String,
    pub port: u16,
    pub access_log: bool,
    /// How long a client may take to send a request's headers or its body, or to read an
    /// answer.
    pub client_timeout: Duration,
    /// Connections served at once; `None`: as many as the open-file limit allows.
    pub max_connections: Option<usize>,
}

/// The model's name when none is given: its folder's (`/storage/salary/model.json` → salary).
pub(crate) fn default_name(model: &Path) -> String {
    model
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "model".to_string())
}

/// Serves until SIGTERM or SIGINT; then stops taking connections and exits within a second.
pub fn serve(options: ServeOptions) -> LocalBoxFuture<'static, Result<()>> {
    Box::pin(async move {
        let given = mlbench_ml::train::resolve_output(&options.model);
        let model_path = if given.is_dir() {
            given.join(FILE_NAME)
        } else {
            given
        };
        let folder = model_path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let pin = reload::Pin {
            file: options.pin_file.clone(),
            fixed: options.version,
        };
        let chosen = pin.read(options.version);
        let model = versions::load(&folder, chosen)?;
        let name = options.name.clone().unwrap_or_else(|| default_name(&model_path));
        let served = Arc::new(Served::new(name.clone(), model).with_folder(folder.clone()));
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
        let what = chosen.map_or_else(
            || model_path.display().to_string(),
            |n| versions::path(&folder, n).display().to_string(),
        );
        tokio::spawn(reload::watch(folder, pin, chosen, served.clone()));
        eprintln!("serving model {name} from {what} on http://{addr}");
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
    })
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
