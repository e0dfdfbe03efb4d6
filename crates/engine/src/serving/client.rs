//! A small HTTP/1.1 client for talking to model servers on this machine: health checks and
//! `mlbench predict`. Plain HTTP, one request per connection.

use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use mlbench_domain::FromIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Error, Result};

pub struct Response {
    pub status: u16,
    pub body: String,
}

/// Sends one request to `http://host:port/path` and reads the whole response.
pub fn send<'a>(
    url: &'a str,
    method: &'a str,
    body: Option<&'a str>,
    timeout: Duration,
) -> LocalBoxFuture<'a, Result<Response>> {
    Box::pin(async move {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| Error::Invalid(format!("{url} is not an http:// URL")))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(authority)
                .await
                .map_err(|e| Error::Other(format!("cannot connect to {authority}: {e}")))?;
            let body = body.unwrap_or("");
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            stream
                .write_all(request.as_bytes())
                .await
                .map_err(|e| Error::io(format!("cannot send to {url}"), e))?;
            let mut raw = Vec::new();
            stream
                .read_to_end(&mut raw)
                .await
                .map_err(|e| Error::io(format!("cannot read from {url}"), e))?;
            parse(&raw).ok_or_else(|| Error::Other(format!("{url} answered with something that is not HTTP")))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Error::Other(format!("{url} did not answer within {} s", timeout.as_secs_f64())))?
    })
}

/// The answer of a model server to one input.
pub struct Prediction {
    /// The server's JSON, e.g. `{"salary": 149146.57}`.
    pub output: serde_json::Value,
    pub latency_ms: f64,
}

impl Prediction {
    /// The answer's single number, if it is one (`{"salary": …}` → its value).
    pub fn number(&self) -> Option<f64> {
        let values = self.output.as_object()?;
        if values.len() != 1 {
            None
        } else {
            values.values().next()?.as_f64()
        }
    }
}

/// Asks `url` (the tutorial's `POST /predict {"exp": input}`) for one prediction; the
/// server's refusal is the error, in its own words.
pub fn predict<'a>(url: &'a str, input: &'a str) -> LocalBoxFuture<'a, Result<Prediction>> {
    Box::pin(async move {
        let body = serde_json::json!({ "exp": input }).to_string();
        let started = std::time::Instant::now();
        let response = send(
            &format!("{url}/predict"),
            "POST",
            Some(&body),
            Duration::from_secs(10),
        )
        .await?;
        let latency_ms = started.elapsed().as_secs_f64() * 1e3;
        let output: serde_json::Value = serde_json::from_str(&response.body).map_err(|_| {
            Error::Other(format!(
                "{url} answered {}: {}",
                response.status,
                response.body.trim()
            ))
        })?;
        if !(200..300).contains(&response.status) {
            let message = output
                .get("error")
                .and_then(|e| e.as_str())
                .map_or(response.body.trim().to_string(), str::to_string);
            return Err(Error::Invalid(format!("the server refused {input}: {message}")));
        }
        Ok(Prediction { output, latency_ms })
    })
}

fn parse(raw: &[u8]) -> Option<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body)? } else { body.to_string() };
    Some(Response { status, body })
}

fn dechunk(mut body: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(rest.get(..size)?);
        body = rest.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_plain_and_chunked() {
        let plain = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap();
        assert_eq!((plain.status, plain.body.as_str()), (200, "ok"));
        let chunked = parse(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((chunked.status, chunked.body.as_str()), (404, "abcde"));
        assert!(parse(b"garbage").is_none());
    }
}
