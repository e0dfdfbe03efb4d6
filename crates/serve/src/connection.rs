//! One client connection of the model server: HTTP/1.1 through hyper with a deadline for the
//! request headers ([`HeaderWatch`]: a slowloris client that trickles them is cut off), or a
//! quick refusal when
//! the server already holds as many connections as it may. Its writes pass through
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

/// Serves requests on `stream` until the client closes it; `permit` is held meanwhile.
pub(crate) async fn serve(
    stream: TcpStream,
    app: Router,
    header_timeout: Duration,
    permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let clock = HeaderClock::new();
    let connection = hyper::server::conn::http1::Builder::new()
        // Kept by the HeaderWatch instead, without a timer per request.
        .header_read_timeout(None)
        .serve_connection(
            TokioIo::new(JsonProtocolErrors::new(HeaderWatch::new(stream, clock.clone()))),
            TowerToHyperService::new(app),
        );
    // A client's broken connection is its own business: nothing to report. Late headers drop
    // the connection, which closes it.
    tokio::select! {
        _ = connection => {}
        () = clock.overdue(header_timeout) => {}
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
