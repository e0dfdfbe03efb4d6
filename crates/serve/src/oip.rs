//! Open Inference Protocol v2: tensors in, tensors out. A request is read straight from its
//! bytes into one flat `Vec<f64>` and an answer written straight from the predictions: the
//! JSON of 1,000-row tensors is most of a request's cost, so no tree of JSON values is built.

use std::fmt;

use mlbench_ml::model::{Model, ModelFile, Prediction};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Deserialize)]
pub(crate) struct InferRequest {
    pub(crate) id: Option<String>,
    pub(crate) inputs: Vec<InputTensor>,
}

#[derive(Deserialize)]
pub(crate) struct InputTensor {
    pub(crate) name: String,
    pub(crate) shape: Vec<i64>,
    pub(crate) datatype: String,
    pub(crate) data: Flat,
}

/// A tensor's data, flattened row-major as it is read (nested or flat); the first element
/// that is not a number is kept, to be named in the refusal.
#[derive(Default)]
pub(crate) struct Flat {
    pub(crate) values: Vec<f64>,
    pub(crate) not_a_number: Option<String>,
}

impl<'de> Deserialize<'de> for Flat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Flat, D::Error> {
        let mut flat = Flat::default();
        FlatSeed(&mut flat).deserialize(deserializer)?;
        Ok(flat)
    }
}

/// Reads one element (a number, or an array of elements) into the flat data.
struct FlatSeed<'a>(&'a mut Flat);

impl FlatSeed<'_> {
    fn not_a_number(&mut self, shown: impl fmt::Display) {
        if self.0.not_a_number.is_none() {
            self.0.not_a_number = Some(format!("{shown} is not a number"));
        }
    }
}

impl<'de> DeserializeSeed<'de> for FlatSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FlatSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("numbers, or arrays of numbers")
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.0.values.push(v);
        Ok(())
    }

    #[allow(clippy::cast_precision_loss)] // a JSON number is an f64 to the model
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.values.push(v as f64);
        Ok(())
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.values.push(v as f64);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(FlatSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_str<E>(mut self, v: &str) -> Result<(), E> {
        self.not_a_number(Value::from(v));
        Ok(())
    }

    fn visit_bool<E>(mut self, v: bool) -> Result<(), E> {
        self.not_a_number(v);
        Ok(())
    }

    fn visit_unit<E>(mut self) -> Result<(), E> {
        self.not_a_number("null");
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<(), A::Error> {
        let object = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        self.not_a_number(object);
        Ok(())
    }
}

pub(crate) const NUMERIC: [&str; 10] = [
    "FP64", "FP32", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
];

/// Model metadata: one input tensor of shape [-1, features], one output of shape [-1]; the
/// versions the server answers for.
pub(crate) fn metadata(name: &str, model: &ModelFile, versions: &[u32]) -> Value {
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

/// The request's rows: its one input tensor's data, checked against its shape and the model.
pub(crate) fn rows(request: &InferRequest, features: usize) -> Result<std::slice::Chunks<'_, f64>, String> {
    let [input] = request.inputs.as_slice() else {
        return Err(format!("expected one input tensor, got {}", request.inputs.len()));
    };
    if !NUMERIC.contains(&input.datatype.as_str()) {
        return Err(format!(
            "datatype {} is not supported: use FP64, FP32 or an INT type",
            input.datatype
        ));
    }
    if let Some(why) = &input.data.not_a_number {
        return Err(format!("input {}: {why}", input.name));
    }
    let flat = &input.data.values;
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
            rows.saturating_mul(width),
            flat.len()
        ));
    }
    Ok(flat.chunks(width.max(1)))
}

/// An inference answer, written as JSON straight from the predictions.
#[derive(Serialize)]
pub(crate) struct InferResponse<'a> {
    model_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    outputs: [Output<'a>; 1],
}

#[derive(Serialize)]
struct Output<'a> {
    name: &'static str,
    shape: [usize; 1],
    datatype: &'static str,
    data: &'a Predictions,
}

/// A request's answers: a linear model's numbers, in one vector, or a tree's labels.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum Predictions {
    Values(Vec<f64>),
    Labels(Vec<Prediction>),
}

impl Predictions {
    pub(crate) fn count(&self) -> usize {
        match self {
            Predictions::Values(v) => v.len(),
            Predictions::Labels(l) => l.len(),
        }
    }
}

pub(crate) fn response<'a>(
    name: &'a str,
    version: Option<u32>,
    id: Option<&'a str>,
    predictions: &'a Predictions,
) -> InferResponse<'a> {
    let datatype = match predictions {
        Predictions::Labels(labels) if matches!(labels.first(), Some(Prediction::Class(_))) => "BYTES",
        _ => "FP64",
    };
    InferResponse {
        model_name: name,
        model_version: version.map(|n| n.to_string()),
        id,
        outputs: [Output {
            name: "predict",
            shape: [predictions.count()],
            datatype,
            data: predictions,
        }],
    }
}
