//! Open Inference Protocol v2: tensors in, tensors out.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::ml::model::{Model, ModelFile, Prediction};

#[derive(Deserialize)]
pub struct InferRequest {
    pub id: Option<String>,
    pub inputs: Vec<InputTensor>,
}

#[derive(Deserialize)]
pub struct InputTensor {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    pub data: Value,
}

pub const NUMERIC: [&str; 10] = [
    "FP64", "FP32", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
];

/// Model metadata: one input tensor of shape [-1, features], one output of shape [-1]; the
/// versions the server answers for.
pub fn metadata(name: &str, model: &ModelFile, versions: &[u32]) -> Value {
    let (platform, out_type) = match model.model {
        Model::Linear { .. } => ("mlbench-linear", "FP64"),
        Model::Tree { .. } => ("mlbench-tree", "BYTES"),
    };
    json!({
        "name": name,
        "versions": versions.iter().map(u32::to_string).collect::<Vec<_>>(),
        "platform": platform,
        "inputs": [{"name": "input", "datatype": "FP64", "shape": [-1, model.features.len()]}],
        "outputs": [{"name": "predict", "datatype": out_type, "shape": [-1]}],
    })
}

/// The rows of the request's one input tensor, checked against its shape and the model.
pub fn rows(request: &InferRequest, features: usize) -> Result<Vec<Vec<f64>>, String> {
    let [input] = request.inputs.as_slice() else {
        return Err(format!("expected one input tensor, got {}", request.inputs.len()));
    };
    if !NUMERIC.contains(&input.datatype.as_str()) {
        return Err(format!(
            "datatype {} is not supported: use FP64, FP32 or an INT type",
            input.datatype
        ));
    }
    let mut flat = Vec::new();
    flatten(&input.data, &mut flat).map_err(|e| format!("input {}: {e}", input.name))?;
    if input.datatype.contains("INT") && flat.iter().any(|v| v.fract() != 0.0) {
        return Err(format!(
            "input {}: {} data must be whole numbers",
            input.name, input.datatype
        ));
    }
    let (rows, width) = match input.shape.as_slice() {
        [n, f] if *n >= 0 && *f >= 0 => (*n as usize, *f as usize),
        [f] if *f >= 0 && features == *f as usize => (1, *f as usize),
        [n] if *n >= 0 && features == 1 => (*n as usize, 1),
        shape => return Err(format!("shape {shape:?} is not [rows, {features}]")),
    };
    if width != features {
        return Err(format!(
            "shape has {width} columns; the model takes {features} features"
        ));
    }
    if rows.checked_mul(width) != Some(flat.len()) {
        return Err(format!(
            "shape {:?} needs {} values, data has {}",
            input.shape,
            rows * width,
            flat.len()
        ));
    }
    Ok(flat.chunks(width.max(1)).map(<[f64]>::to_vec).collect())
}

fn flatten(value: &Value, out: &mut Vec<f64>) -> Result<(), String> {
    match value {
        Value::Array(items) => items.iter().try_for_each(|v| flatten(v, out)),
        Value::Number(n) => {
            let v = n.as_f64().ok_or("a number is out of range")?;
            out.push(v);
            Ok(())
        }
        other => Err(format!("{other} is not a number")),
    }
}

pub fn response(name: &str, version: Option<u32>, id: Option<&str>, predictions: &[Prediction]) -> Value {
    let datatype = match predictions.first() {
        Some(Prediction::Class(_)) => "BYTES",
        _ => "FP64",
    };
    let mut body = json!({
        "model_name": name,
        "outputs": [{"name": "predict", "shape": [predictions.len()], "datatype": datatype, "data": predictions}],
    });
    if let Some(version) = version {
        body["model_version"] = json!(version.to_string());
    }
    if let Some(id) = id {
        body["id"] = json!(id);
    }
    body
}
