//! The HTTP routes. Every client mistake is a 4xx with `{"error": "..."}`; nothing a client
//! sends can make a handler panic.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mlbench_ml::model::{ModelFile, Prediction};
use serde_json::{Value, json};

use super::{Served, oip};

pub(crate) const MAX_BODY: usize = 1 << 20;

type Shared = State<Arc<Served>>;

fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    reply(status, json!({ "error": message.into() }))
}

/// A client's mistake: answered with its status and `{"error": ...}`.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

fn bad_request(message: impl Into<String>) -> Refusal {
    Refusal(StatusCode::BAD_REQUEST, message.into())
}

/// The server's routes. `body_timeout` bounds how long a client may take to send a body.
pub fn router(served: Arc<Served>, access_log: bool, body_timeout: Duration) -> Router {
    let router =
        Router::new()
            .route("/", get(index))
            .route("/sal/{x}", get(sal))
            .route("/predict", post(predict))
            .route("/metrics", get(super::metrics::scrape))
            .route(
                "/openapi.json",
                get(|State(served): Shared| async move {
                    reply(StatusCode::OK, super::openapi::document(&served))
                }),
            )
            .route(
                "/v2/health/live",
                get(|| async { reply(StatusCode::OK, json!({"live": true})) }),
            )
            .route(
                "/v2/health/ready",
                get(|| async { reply(StatusCode::OK, json!({"ready": true})) }),
            )
            .route("/v2/models/{name}", get(model_metadata))
            .route("/v2/models/{name}/ready", get(model_ready))
            .route("/v2/models/{name}/infer", post(infer))
            .route("/v2/models/{name}/versions/{version}", get(version_metadata))
            .route("/v2/models/{name}/versions/{version}/ready", get(version_ready))
            .route("/v2/models/{name}/versions/{version}/infer", post(version_infer))
            .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route: see GET / for the routes") })
            .method_not_allowed_fallback(|| async {
                error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this route")
            })
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .layer(middleware::from_fn_with_state(
                (served.clone(), body_timeout),
                admit,
            ))
            .with_state(served);
    if access_log {
        router.layer(middleware::from_fn(log_request))
    } else {
        router
    }
}

/// Every request's way in, one layer (each layer costs a boxed future a request): it is
/// counted and timed for `/metrics`, whatever answers it, and its body is read.
async fn admit(
    State((served, timeout)): State<(Arc<Served>, Duration)>,
    request: Request,
    next: Next,
) -> Response {
    let timer = served.metrics.start(request.uri().path());
    let response = read_body(request, next, timeout).await;
    served.metrics.finish(timer, &response);
    response
}

/// A body over the limit by its declared length is refused before a byte of it is read; any
/// other body must arrive within `timeout`. Requests without a body pass straight through.
async fn read_body(request: Request, next: Next, timeout: Duration) -> Response {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {MAX_BODY} bytes"),
        );
    }
    let chunked = request
        .headers()
        .contains_key(axum::http::header::TRANSFER_ENCODING);
    if declared.unwrap_or(0) == 0 && !chunked {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY)).await {
        Err(_) => error(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body did not arrive within {} s", timeout.as_secs_f64()),
        ),
        Ok(Err(_)) => error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {MAX_BODY} bytes"),
        ),
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
    }
}

async fn log_request(request: Request, next: Next) -> Response {
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    eprintln!(
        "{method} {uri} {} {:.3} ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1e3
    );
    response
}

async fn index(State(served): Shared) -> Response {
    let model = served.model();
    reply(
        StatusCode::OK,
        json!({
            "model": served.name,
            "kind": match model.model { mlbench_ml::model::Model::Linear { .. } => "linear", _ => "tree" },
            "inputs": model.features,
            "target": model.target,
            "metrics": model.metrics,
            "version": model.version,
            "versions": served.versions(),
            "routes": ["GET /sal/{x}", "POST /predict {\"exp\": x}", "GET /v2/health/ready", "GET /metrics", "GET /openapi.json",
                       format!("GET /v2/models/{}", served.name), format!("POST /v2/models/{}/infer", served.name)],
        }),
    )
}

fn parse_value(text: &str) -> Result<f64, Refusal> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(bad_request(format!("{text:?} is not a finite number"))),
        Err(_) => Err(bad_request(format!("{text:?} is not a number"))),
    }
}

/// The model's answer for one row; an answer that is not a finite number (inputs far outside
/// what the model was trained on) is refused with 422, never sent as `null`.
fn finite_prediction(model: &ModelFile, row: &[f64]) -> Result<Prediction, Refusal> {
    match model.predict(row).map_err(|e| bad_request(e.to_string()))? {
        Prediction::Value(v) if !v.is_finite() => {
            Err(Refusal(StatusCode::UNPROCESSABLE_ENTITY, not_finite(row)))
        }
        prediction => Ok(prediction),
    }
}

fn not_finite(row: &[f64]) -> String {
    format!("the prediction for {row:?} is not a finite number: the inputs are too large for this model")
}

/// One input value → `{"salary": ...}`, the tutorial's answer (for one-feature linear models).
fn salary(served: &Served, x: f64) -> Result<Response, Refusal> {
    let model = served.model();
    if model.features.len() != 1 {
        let routes = format!("use POST /v2/models/{}/infer", served.name);
        return Err(bad_request(format!(
            "the model takes {} features: {routes}",
            model.features.len()
        )));
    }
    match finite_prediction(&model, &[x])? {
        // Written straight, not through a JSON tree: this is the hot route.
        Prediction::Value(v) => {
            let mut body = Vec::with_capacity(40);
            body.extend_from_slice(b"{\"salary\":");
            serde_json::to_writer(&mut body, &v)
                .map_err(|e| Refusal(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
            body.push(b'}');
            let json = HeaderValue::from_static("application/json");
            Ok(([(header::CONTENT_TYPE, json)], body).into_response())
        }
        Prediction::Class(c) => Ok(reply(StatusCode::OK, json!({ "class": c }))),
    }
}

async fn sal(State(served): Shared, Path(x): Path<String>) -> Result<Response, Refusal> {
    salary(&served, parse_value(&x)?)
}

fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, Refusal> {
    let bytes = body_bytes(body)?;
    serde_json::from_slice(&bytes).map_err(|e| bad_request(format!("the body is not JSON: {e}")))
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Refusal> {
    body.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            format!("the body is over {MAX_BODY} bytes")
        } else {
            rejection.body_text()
        };
        Refusal(status, message)
    })
}

async fn predict(State(served): Shared, body: Result<Bytes, BytesRejection>) -> Result<Response, Refusal> {
    let x = match json_body(body)?.get("exp") {
        None => return Err(bad_request("the body needs a field \"exp\", e.g. {\"exp\": 25}")),
        Some(Value::Number(n)) => n.as_f64().ok_or_else(|| bad_request("\"exp\" is out of range"))?,
        Some(Value::String(s)) => parse_value(s)?,
        Some(other) => return Err(bad_request(format!("\"exp\" is {other}, not a number"))),
    };
    salary(&served, x)
}

fn check_name(served: &Served, name: &str) -> Result<(), Refusal> {
    if name == served.name {
        return Ok(());
    }
    Err(Refusal(
        StatusCode::NOT_FOUND,
        format!("model {name:?} is not served here: {} is", served.name),
    ))
}

async fn model_metadata(State(served): Shared, Path(name): Path<String>) -> Result<Response, Refusal> {
    check_name(&served, &name)?;
    Ok(reply(
        StatusCode::OK,
        oip::metadata(&served.name, &served.model(), &served.versions()),
    ))
}

async fn model_ready(State(served): Shared, Path(name): Path<String>) -> Result<Response, Refusal> {
    check_name(&served, &name)?;
    Ok(reply(StatusCode::OK, json!({"name": served.name, "ready": true})))
}

/// A kept version of the served model, by the number in the path.
fn kept_version(served: &Served, name: &str, version: &str) -> Result<Arc<ModelFile>, Refusal> {
    check_name(served, name)?;
    let missing = || {
        let kept: Vec<String> = served.versions().iter().map(u32::to_string).collect();
        Refusal(
            StatusCode::NOT_FOUND,
            format!(
                "model {name} has no version {version:?}: versions here: [{}]",
                kept.join(", ")
            ),
        )
    };
    let n = version.parse::<u32>().map_err(|_| missing())?;
    served.version(n).ok_or_else(missing)
}

async fn version_metadata(
    State(served): Shared,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, Refusal> {
    let model = kept_version(&served, &name, &version)?;
    let numbers: Vec<u32> = model.version.into_iter().collect();
    Ok(reply(
        StatusCode::OK,
        oip::metadata(&served.name, &model, &numbers),
    ))
}

async fn version_ready(
    State(served): Shared,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, Refusal> {
    kept_version(&served, &name, &version)?;
    Ok(reply(
        StatusCode::OK,
        json!({"name": served.name, "version": version, "ready": true}),
    ))
}

async fn infer(
    State(served): Shared,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    check_name(&served, &name)?;
    infer_with(&served, &served.model(), body)
}

async fn version_infer(
    State(served): Shared,
    Path((name, version)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let model = kept_version(&served, &name, &version)?;
    infer_with(&served, &model, body)
}

fn infer_with(
    served: &Served,
    model: &ModelFile,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Refusal> {
    let request: oip::InferRequest = serde_json::from_slice(&body_bytes(body)?).map_err(|e| {
        if e.classify() == serde_json::error::Category::Data {
            bad_request(format!("not an inference request: {e}"))
        } else {
            bad_request(format!("the body is not JSON: {e}"))
        }
    })?;
    let rows = oip::rows(&request, model.features.len()).map_err(bad_request)?;
    // JSON has no infinities, so every input is finite; only an answer can overflow.
    let predictions = match model.linear_values(rows.clone()) {
        Some(values) => {
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                let row = rows.clone().nth(i).unwrap_or_default();
                return Err(Refusal(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("row {i}: {}", not_finite(row)),
                ));
            }
            oip::Predictions::Values(values)
        }
        None => oip::Predictions::Labels(
            rows.enumerate()
                .map(|(i, row)| {
                    finite_prediction(model, row)
                        .map_err(|Refusal(status, text)| Refusal(status, format!("row {i}: {text}")))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let answer = oip::response(&served.name, model.version, request.id.as_deref(), &predictions);
    // Sized for the answer up front: growing the buffer as numbers are written copied it over
    // and over (a number is at most 24 bytes and a comma).
    let mut body = Vec::with_capacity(256 + 25 * predictions.count());
    serde_json::to_writer(&mut body, &answer).map_err(|e| {
        Refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write the answer: {e}"),
        )
    })?;
    Ok((
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}
