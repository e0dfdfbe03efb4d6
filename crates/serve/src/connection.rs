//! One client connection of the model server: HTTP/1.1 through hyper with a deadline for the
//! request headers and for reading answers ([`HeaderWatch`]: a slowloris client that trickles
//! its headers, or reads a trickle, is cut off) and a cap on header bytes; or a quick refusal
//! when the server already holds as many connections as it may. Its writes pass through
//! [`JsonProtocolErrors`], so hyper's own refusals carry the JSON error too.

use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

use super::header_watch::{HeaderClock, HeaderWatch};
use super::protocol_errors::JsonProtocolErrors;

/// The most a connection may buffer of a request's headers: far above any real client's.
pub(crate) const MAX_HEADER_BYTES: usize = 64 << 10;

/// Serves requests on `stream` until the client closes it or is late (with its headers, or in
/// reading an answer: `client_timeout`); `permit` is held meanwhile.
pub(crate) async fn serve(
    stream: TcpStream,
    app: Router,
    client_timeout: Duration,
    permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let clock = HeaderClock::new();
    let connection = hyper::server::conn::http1::Builder::new()
        // Kept by the HeaderWatch instead, without a timer per request.
        .header_read_timeout(None)
        // A request's headers past this are refused (431): hyper's default lets each of a
        // thousand connections hold 400 KB of headers that never end.
        .max_buf_size(MAX_HEADER_BYTES)
        .serve_connection(
            TokioIo::new(JsonProtocolErrors::new(HeaderWatch::new(stream, clock.clone()))),
            TowerToHyperService::new(app),
        );
    // A client's broken connection is its own business: nothing to report. Late headers drop
    // the connection, which closes it.
    tokio::select! {
        _ = connection => {}
        () = clock.overdue(client_timeout) => {}
    }
    drop(permit);
}

/// Answers 503 with the JSON error every refusal has, and closes.
pub(crate) async fn refuse(mut stream: TcpStream, limit: usize) {
    let body = serde_json::json!({
        "error": format!("the server holds its limit of {limit} connections: try again shortly")
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}
