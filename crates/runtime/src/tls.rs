//! A `tcp://` engine: the Engine API over TCP, with TLS (the engine's CA, the client's
//! certificate and key) when the engine's table names them, as `docker --tlsverify` does.

use std::path::PathBuf;

use bollard::Docker;

use crate::{Error, Result};

/// A client for the engine at `host:port`; over TLS with `tls` = [CA, certificate, key].
pub(crate) fn connect_tcp(host: &str, port: u16, tls: Option<&[PathBuf; 3]>, timeout: u64) -> Result<Docker> {
    let address = format!("tcp://{host}:{port}");
    let Some([ca, cert, key]) = tls else {
        return Ok(Docker::connect_with_http(
            &address,
            timeout,
            bollard::API_DEFAULT_VERSION,
        )?);
    };
    for file in [ca, cert, key] {
        if !file.is_file() {
            return Err(Error::NotFound(format!(
                "engine {address}: TLS file {} does not exist: name the engine's CA and your certificate and key in its table",
                file.display()
            )));
        }
    }
    // bollard asks rustls for the process's crypto provider before it builds a config, and
    // panics without one: building a config first installs the one the crate features name
    // (ring, the only one built).
    let _ = rustls::ClientConfig::builder();
    Ok(Docker::connect_with_ssl(
        &address,
        key,
        cert,
        ca,
        timeout,
        bollard::API_DEFAULT_VERSION,
    )?)
}
