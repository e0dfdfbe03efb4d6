//! `mlbench serve`: the model server's flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use mlbench_serve::ServeOptions;

use crate::{Error, Result};

#[derive(Args)]
pub struct ServeArgs {
    /// The model file (model.json) to serve, or the folder holding it and its versions.
    #[arg(short, long)]
    model: PathBuf,
    /// Serve this kept version (DIR/versions/N/model.json) instead of the current model.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    version: Option<u32>,
    /// A file naming the version to serve (N or `current`), followed as it changes: what
    /// `mlbench deploy rollback` writes.
    #[arg(long, value_name = "FILE")]
    pin_file: Option<PathBuf>,
    /// The model's name in URLs (default: its folder's name).
    #[arg(long)]
    name: Option<String>,
    /// The address to listen on; 0.0.0.0 reaches other machines too (serving jobs use it inside
    /// their container, where the port mapping decides who reaches it).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// 0 takes a free port, and says which.
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Log every request (off by default: it would dominate throughput).
    #[arg(long)]
    access_log: bool,
    /// Seconds a client may take to send a request's headers or its body, or to read an answer.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    client_timeout: f64,
    /// Connections served at once (default: what the open-file limit allows, at most 4096).
    #[arg(long)]
    max_connections: Option<usize>,
}

/// Serves the model as the flags say until the process is stopped.
pub(crate) async fn serve(args: ServeArgs) -> Result<()> {
    let options = ServeOptions {
        model: args.model,
        version: args.version,
        pin_file: args.pin_file,
        name: args.name,
        host: args.host,
        port: args.port,
        access_log: args.access_log,
        client_timeout: Duration::try_from_secs_f64(args.client_timeout)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| Error::Invalid("--client-timeout must be a number of seconds above 0".into()))?,
        max_connections: match args.max_connections {
            Some(0) => return Err(Error::Invalid("--max-connections must be at least 1".into())),
            other => other,
        },
    };
    Ok(mlbench_serve::serve(options).await?)
}
