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

/// The most of one answer (a prediction, a model's description, a `/metrics` scrape) that is
/// read: far above any real one.
const MAX_RESPONSE: u64 = 16 << 20;

/// Sends one request to `http://host:port/path` and reads the whole response, up to
/// [`MAX_RESPONSE`].
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
            // Capped: a server that answers without end must not grow this process without end.
            let mut raw = Vec::new();
            (&mut stream)
                .take(MAX_RESPONSE + 1)
                .read_to_end(&mut raw)
                .await
                .map_err(|e| Error::io(format!("cannot read from {url}"), e))?;
            if raw.len() as u64 > MAX_RESPONSE {
                return Err(Error::Invalid(format!(
                    "{url} answered more than {}: mlbench reads at most that of an answer",
                    mlbench_domain::numfmt::human_bytes(MAX_RESPONSE)
                )));
            }
            parse(&raw).ok_or_else(|| Error::Other(format!("{url} answered with something that is not HTTP")))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Error::Other(format!("{url} did not answer within {} s", timeout.as_secs_f64())))?
    })
}

/// The answer of a model server to one input.
pub struct Prediction {
    /// The server's JSON, e.g. `{"salary": 149146.57}` or `{"Species": "Iris-setosa"}`.
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

    /// The answer as people read it: its single value, else the whole JSON.
    pub fn shown(&self) -> String {
        match self.output.as_object().map(|o| o.values().collect::<Vec<_>>()) {
            Some(values) if values.len() == 1 => match values[0] {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Number(n) => n
                    .as_f64()
                    .map_or_else(|| n.to_string(), mlbench_domain::numfmt::compact),
                other => other.to_string(),
            },
            _ => self.output.to_string(),
        }
    }
}

/// What a served model takes and answers, from its server's `GET /`. A server that does not
/// say (the tutorial's own Flask app) takes one value, through `POST /predict`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInputs {
    /// The model's name for the Open Inference Protocol's routes.
    pub name: String,
    pub inputs: Vec<String>,
    pub target: String,
}

impl ModelInputs {
    /// The prompt's label: the inputs' names, in order (`sqft bedrooms age`).
    pub fn label(&self) -> String {
        self.inputs.join(" ")
    }

    /// Typed inputs as rows of values in the model's order. Values are positional (`1500 3
    /// 20`: as many per row as the model has inputs), named in any order (`sqft=1500
    /// bedrooms=3 age=20`: a name seen again starts the next row) or JSON objects
    /// (`{"sqft": 1500, …}`); commas separate like spaces.
    pub fn rows(&self, typed: &[String]) -> Result<Vec<Vec<f64>>> {
        let width = self.inputs.len().max(1);
        let mut rows = Vec::new();
        let mut positional = Vec::new();
        let mut named: Vec<Option<f64>> = vec![None; width];
        let mut any_named = false;
        let finish_named = |named: &mut Vec<Option<f64>>, rows: &mut Vec<Vec<f64>>| -> Result<()> {
            if named.iter().all(Option::is_none) {
                return Ok(());
            }
            let row = self.complete(named)?;
            rows.push(row);
            named.iter_mut().for_each(|v| *v = None);
            Ok(())
        };
        for argument in typed {
            if argument.trim_start().starts_with('{') {
                let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(argument)
                    .map_err(|e| Error::Invalid(format!("{argument} is not a JSON object of inputs: {e}")))?;
                let mut row = vec![None; width];
                for (name, value) in &object {
                    let value = match value {
                        serde_json::Value::Number(n) => n.as_f64(),
                        serde_json::Value::String(text) => text.trim().parse().ok(),
                        _ => None,
                    }
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| Error::Invalid(format!("{name}: {value} is not a number")))?;
                    row[self.position(name)?] = Some(value);
                }
                rows.push(self.complete(&row)?);
                any_named = true;
                continue;
            }
            for word in argument.split([' ', '\t', ',']).filter(|w| !w.is_empty()) {
                match word.split_once('=') {
                    Some((name, value)) => {
                        let i = self.position(name.trim())?;
                        if named[i].is_some() {
                            finish_named(&mut named, &mut rows)?;
                        }
                        named[i] = Some(number(name.trim(), value)?);
                        any_named = true;
                    }
                    None => {
                        let name = self
                            .inputs
                            .get(positional.len() % width)
                            .map_or("input", String::as_str);
                        positional.push(number(name, word)?);
                    }
                }
            }
        }
        finish_named(&mut named, &mut rows)?;
        if any_named && !positional.is_empty() {
            return Err(Error::Invalid(format!(
                "give every value by name or none: {}",
                self.example()
            )));
        }
        if positional.len() % width != 0 {
            return Err(Error::Invalid(format!(
                "the model takes {width} inputs ({}) per prediction, got {} values: {}",
                self.inputs.join(", "),
                positional.len(),
                self.example()
            )));
        }
        rows.extend(positional.chunks(width).map(<[f64]>::to_vec));
        if rows.is_empty() {
            return Err(Error::Invalid(format!("type the inputs: {}", self.example())));
        }
        Ok(rows)
    }

    fn position(&self, name: &str) -> Result<usize> {
        self.inputs.iter().position(|i| i == name).ok_or_else(|| {
            Error::Invalid(format!(
                "the model has no input {name:?}: its inputs are {}",
                self.inputs.join(", ")
            ))
        })
    }

    fn complete(&self, row: &[Option<f64>]) -> Result<Vec<f64>> {
        row.iter()
            .zip(&self.inputs)
            .map(|(v, name)| {
                v.ok_or_else(|| Error::Invalid(format!("input {name} is missing: {}", self.example())))
            })
            .collect()
    }

    /// What to type, for a prompt that has no history yet.
    pub fn hint(&self) -> String {
        format!(
            "type the model's inputs for its {}: {}",
            self.target,
            self.example()
        )
    }

    /// How to type one prediction for this model.
    fn example(&self) -> String {
        let positional: Vec<&str> = self.inputs.iter().map(|_| "N").collect();
        let named: Vec<String> = self.inputs.iter().map(|i| format!("{i}=N")).collect();
        if self.inputs.len() == 1 {
            format!("e.g. {} (the model's input: {})", positional[0], self.inputs[0])
        } else {
            format!("e.g. {} or {}", positional.join(" "), named.join(" "))
        }
    }
}

fn number(name: &str, text: &str) -> Result<f64> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(Error::Invalid(format!("{name}: {text:?} is not a number"))),
    }
}

/// What the model served at `url` takes, from its `GET /`; a server that does not say is
/// taken to be the tutorial's: one input, `exp`.
pub fn describe(url: &str) -> LocalBoxFuture<'_, Result<ModelInputs>> {
    Box::pin(async move {
        let response = send(&format!("{url}/"), "GET", None, Duration::from_secs(10)).await?;
        let said: Option<serde_json::Value> = serde_json::from_str(&response.body).ok();
        let field = |key: &str| said.as_ref().and_then(|v| v.get(key).cloned());
        let inputs: Option<Vec<String>> = field("inputs").and_then(|v| serde_json::from_value(v).ok());
        Ok(match inputs {
            Some(inputs) if (200..300).contains(&response.status) && !inputs.is_empty() => ModelInputs {
                name: field("model")
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                target: field("target")
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "prediction".into()),
                inputs,
            },
            _ => ModelInputs {
                name: String::new(),
                inputs: vec!["exp".into()],
                target: "prediction".into(),
            },
        })
    })
}

/// Asks the model served at `url` for one row's prediction: a one-input model through the
/// tutorial's `POST /predict {"exp": x}`, any other through the Open Inference Protocol's
/// infer. The server's refusal is the error, in its own words.
pub fn predict<'a>(
    url: &'a str,
    model: &'a ModelInputs,
    row: &'a [f64],
) -> LocalBoxFuture<'a, Result<Prediction>> {
    Box::pin(async move {
        let shown = row.iter().map(f64::to_string).collect::<Vec<_>>().join(" ");
        let (path, body) = if model.inputs.len() == 1 {
            ("/predict".to_string(), serde_json::json!({ "exp": row[0] }))
        } else {
            (
                format!("/v2/models/{}/infer", model.name),
                serde_json::json!({"inputs": [{"name": "input-0", "shape": [1, row.len()], "datatype": "FP64", "data": row}]}),
            )
        };
        let started = std::time::Instant::now();
        let response = send(
            &format!("{url}{path}"),
            "POST",
            Some(&body.to_string()),
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
            return Err(Error::Invalid(format!("the server refused {shown}: {message}")));
        }
        if model.inputs.len() == 1 {
            return Ok(Prediction { output, latency_ms });
        }
        // OIP: the first output's first value is this row's answer.
        let value = output
            .pointer("/outputs/0/data/0")
            .cloned()
            .ok_or_else(|| Error::Other(format!("{url} answered without outputs: {output}")))?;
        Ok(Prediction {
            output: serde_json::json!({ model.target.clone(): value }),
            latency_ms,
        })
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

    fn house() -> ModelInputs {
        ModelInputs {
            name: "house".into(),
            inputs: vec!["sqft".into(), "bedrooms".into(), "age".into()],
            target: "price".into(),
        }
    }

    fn typed(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_string()).collect()
    }

    #[test]
    fn inputs_are_read_positional_named_or_as_json() {
        let model = house();
        let row = vec![1500.0, 3.0, 20.0];
        let one = vec![row.clone()];
        assert_eq!(model.rows(&typed(&["1500", "3", "20"])).unwrap(), one);
        assert_eq!(model.rows(&typed(&["1500 3 20"])).unwrap(), one);
        assert_eq!(
            model.rows(&typed(&["1500,3,20", "900 1 5"])).unwrap()[1],
            [900.0, 1.0, 5.0]
        );
        assert_eq!(model.rows(&typed(&["age=20 sqft=1500 bedrooms=3"])).unwrap(), one);
        assert_eq!(
            model
                .rows(&typed(&[
                    "sqft=1500",
                    "bedrooms=3",
                    "age=20",
                    "sqft=1",
                    "bedrooms=1",
                    "age=1"
                ]))
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            model
                .rows(&typed(&[r#"{"sqft": 1500, "bedrooms": "3", "age": 20}"#]))
                .unwrap(),
            one
        );
        let refusals = [
            (
                &["1500", "3"][..],
                "the model takes 3 inputs (sqft, bedrooms, age) per prediction, got 2 values: e.g. N N N or sqft=N bedrooms=N age=N",
            ),
            (&["sqft=1500", "bedrooms=3"], "input age is missing"),
            (
                &["rooms=3"],
                "the model has no input \"rooms\": its inputs are sqft, bedrooms, age",
            ),
            (&["1500", "x", "20"], "bedrooms: \"x\" is not a number"),
            (
                &["sqft=1500 bedrooms=3 age=20", "7"],
                "give every value by name or none",
            ),
            (&[r#"{"sqft": true}"#], "sqft: true is not a number"),
        ];
        for (words, expected) in refusals {
            let err = model.rows(&typed(words)).unwrap_err().to_string();
            assert!(err.contains(expected), "{words:?}: {err}");
        }
    }

    #[tokio::test]
    async fn an_endless_answer_is_cut_at_the_cap_and_said() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await;
            let chunk = vec![b'x'; 1 << 20];
            // Without end, until the reader hangs up.
            while socket.write_all(&chunk).await.is_ok() {}
        });
        let err = send(&url, "GET", None, Duration::from_secs(30))
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("answered more than 16.0 MiB"), "{err}");
    }

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
