//! `GET /openapi.json`: an OpenAPI 3.1 description of what this server answers, made from the
//! model it serves (its name, input width, output type and kept versions), so a client
//! generator or a validator sees this model's API, not a generic one.

use mlbench_ml::model::Model;
use serde_json::{Value, json};

use super::Served;
use super::oip::NUMERIC;

fn error_responses(codes: &[&str]) -> Value {
    let reasons = |code: &str| match code {
        "400" => "The request is not one this model can answer.",
        "404" => "No such model or version here.",
        "408" => "The body did not arrive in time.",
        "413" => "The body is too large.",
        "415" => "The body is not JSON.",
        "422" => "The prediction is not a finite number: inputs too far out.",
        _ => "Refused.",
    };
    let mut responses = serde_json::Map::new();
    for code in codes {
        responses.insert(
            (*code).to_string(),
            json!({"description": reasons(code), "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    Value::Object(responses)
}

fn json_response(description: &str, schema: Value, errors: &[&str]) -> Value {
    let mut responses = error_responses(errors);
    responses["200"] =
        json!({"description": description, "content": {"application/json": {"schema": schema}}});
    responses
}

fn path_parameter(name: &str, schema: Value) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": schema})
}

fn json_body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

/// The document, for the model served now.
pub(crate) fn document(served: &Served) -> Value {
    let model = served.model();
    let features = model.features.len();
    let (kind, prediction, output_type) = match model.model {
        Model::Linear { .. } => ("linear regression", json!({"type": "number"}), "FP64"),
        Model::Tree { ref classes, .. } => (
            "decision tree",
            json!({"type": "string", "enum": classes}),
            "BYTES",
        ),
    };
    let name = json!({"type": "string", "enum": [served.name]});
    let versions: Vec<String> = served.versions().iter().map(u32::to_string).collect();
    let version = json!({"type": "string", "enum": versions});
    let sal_answer = match model.model {
        Model::Linear { .. } => {
            json!({"type": "object", "required": ["salary"], "properties": {"salary": {"type": "number"}}})
        }
        Model::Tree { .. } => {
            json!({"type": "object", "required": ["class"], "properties": {"class": prediction}})
        }
    };
    let metadata = json_response(
        "The model's inputs, outputs and versions.",
        json!({"$ref": "#/components/schemas/MetadataResponse"}),
        &["404"],
    );
    let ready = json_response(
        "Ready.",
        json!({"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}}),
        &["404"],
    );
    let infer_errors = ["400", "404", "408", "413", "422"];
    let infer = json!({
        "requestBody": json_body(json!({"$ref": "#/components/schemas/InferenceRequest"})),
        "responses": json_response("One prediction per row.", json!({"$ref": "#/components/schemas/InferenceResponse"}), &infer_errors),
    });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": format!("mlbench serve: {}", served.name),
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!(
                "A {kind} of {} predicting {}, served by mlbench{}.",
                model.features.join(", "),
                model.target,
                model.version.map_or_else(String::new, |n| format!(" (version {n})"))
            ),
        },
        "paths": {
            "/": {"get": {"summary": "What is served and the routes", "responses": json_response("The model and its routes.", json!({"type": "object"}), &[])}},
            "/sal/{x}": {"get": {
                "summary": "The tutorial's prediction for one input value",
                "parameters": [path_parameter("x", json!({"type": "number"}))],
                "responses": json_response("The prediction.", sal_answer.clone(), &["400", "422"]),
            }},
            "/predict": {"post": {
                "summary": "The tutorial's prediction for {\"exp\": x}",
                "requestBody": json_body(json!({
                    "type": "object",
                    "required": ["exp"],
                    "properties": {"exp": {"type": ["number", "string"], "description": format!("{}, as a number or its text", model.features.first().map_or("the input", String::as_str))}},
                })),
                "responses": json_response("The prediction.", sal_answer, &["400", "408", "413", "422"]),
            }},
            "/metrics": {"get": {
                "summary": "Prometheus metrics",
                "responses": {"200": {"description": "Prometheus text format 0.0.4.", "content": {"text/plain": {"schema": {"type": "string"}}}}},
            }},
            "/openapi.json": {"get": {"summary": "This document", "responses": json_response("OpenAPI 3.1.", json!({"type": "object"}), &[])}},
            "/v2/health/live": {"get": {"summary": "OIP liveness", "responses": json_response("Live.", json!({"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}}), &[])}},
            "/v2/health/ready": {"get": {"summary": "OIP readiness", "responses": json_response("Ready.", json!({"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}}), &[])}},
            "/v2/models/{name}": {"get": {"summary": "OIP model metadata", "parameters": [path_parameter("name", name.clone())], "responses": metadata.clone()}},
            "/v2/models/{name}/ready": {"get": {"summary": "OIP model readiness", "parameters": [path_parameter("name", name.clone())], "responses": ready.clone()}},
            "/v2/models/{name}/infer": {"post": {
                "summary": "OIP inference with the model served now",
                "parameters": [path_parameter("name", name.clone())],
                "requestBody": infer["requestBody"],
                "responses": infer["responses"],
            }},
            "/v2/models/{name}/versions/{version}": {"get": {"summary": "OIP metadata of a kept version", "parameters": [path_parameter("name", name.clone()), path_parameter("version", version.clone())], "responses": metadata}},
            "/v2/models/{name}/versions/{version}/ready": {"get": {"summary": "OIP readiness of a kept version", "parameters": [path_parameter("name", name.clone()), path_parameter("version", version.clone())], "responses": ready}},
            "/v2/models/{name}/versions/{version}/infer": {"post": {
                "summary": "OIP inference with a kept version",
                "parameters": [path_parameter("name", name), path_parameter("version", version)],
                "requestBody": infer["requestBody"],
                "responses": infer["responses"],
            }},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            "Tensor": {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
                "name": {"type": "string"},
                "datatype": {"type": "string"},
                "shape": {"type": "array", "items": {"type": "integer"}},
            }},
            "MetadataResponse": {"type": "object", "required": ["name", "versions", "platform", "inputs", "outputs"], "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/Tensor"}},
                "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/Tensor"}},
            }},
            "InferenceRequest": {"type": "object", "required": ["inputs"], "properties": {
                "id": {"type": ["string", "null"]},
                "inputs": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
                    "type": "object",
                    "required": ["name", "shape", "datatype", "data"],
                    "description": format!("Rows of the model's {features} features: {}.", model.features.join(", ")),
                    "properties": {
                        "name": {"type": "string", "examples": ["input"]},
                        "shape": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "integer", "minimum": 0}, "examples": [[1, features]]},
                        "datatype": {"type": "string", "enum": NUMERIC},
                        "data": {"$ref": "#/components/schemas/Numbers"},
                    },
                }},
            }},
            "Numbers": {"anyOf": [{"type": "number"}, {"type": "array", "items": {"$ref": "#/components/schemas/Numbers"}}]},
            "InferenceResponse": {"type": "object", "required": ["model_name", "outputs"], "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "outputs": {"type": "array", "items": {
                    "type": "object",
                    "required": ["name", "shape", "datatype", "data"],
                    "properties": {
                        "name": {"type": "string", "const": "predict"},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                        "datatype": {"type": "string", "const": output_type},
                        "data": {"type": "array", "items": prediction},
                    },
                }},
            }},
        }},
    })
}
