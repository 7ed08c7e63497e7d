//! `config.json`, read without transformers: the architecture name, the whole JSON object (with
//! `text_config` merged onto the root), the weight quantization the checkpoint declares, typed
//! accessors that name the key in their errors, and the rope dictionary as llama.cpp's converter
//! assembles it. What the values mean is up to each architecture (`crate::arch`).

use crate::{Error, Result};
use serde_json::{Map, Value as Json};
use std::path::{Path, PathBuf};

/// The FP8 block quantisation described by `quantization_config` (`quant_method: fp8`).
#[derive(Clone, Debug, PartialEq)]
pub struct Fp8Config {
    /// Rows and columns covered by one scale (`weight_block_size`, usually 128×128).
    pub block: [u64; 2],
    /// `scale_fmt` (`"ue8m0"` for V3.1), if given.
    pub scale_fmt: Option<String>,
}

/// How the checkpoint's weights are stored, per `quantization_config`.
#[derive(Clone, Debug, PartialEq)]
pub enum Quantization {
    /// No `quantization_config`: plain float tensors.
    None,
    /// Block-scaled FP8 e4m3 weights.
    Fp8(Fp8Config),
    /// compressed-tensors `pack-quantized` integer weights (Kimi-K2-Thinking's INT4 experts).
    PackedInt(PackedIntConfig),
}

/// The one weight group of a compressed-tensors `pack-quantized` checkpoint: every
/// `X.weight_packed` (I32 words, low bits first along the input dimension) with its
/// `X.weight_scale` per group of `group` inputs and its `X.weight_shape`.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedIntConfig {
    /// Bits per value (`num_bits`; only 4 is accepted).
    pub bits: u32,
    /// Inputs per scale (`group_size`).
    pub group: u64,
}

/// A parsed `config.json`.
#[derive(Clone, Debug)]
pub struct RawConfig {
    /// Where it was read from.
    pub path: PathBuf,
    /// `architectures[0]`.
    pub architecture: String,
    /// The whole JSON object (with `text_config` merged onto the root).
    pub raw: Map<String, Json>,
    /// The weight quantization the checkpoint declares.
    pub quantization: Quantization,
}

impl RawConfig {
    /// Reads `dir/config.json`.
    pub fn read(dir: &Path) -> Result<RawConfig> {
        let path = dir.join("config.json");
        let json = super::read_json(&path)?;
        RawConfig::from_json(&path, json)
    }

    /// Interprets an already parsed `config.json` (`path` is used in messages).
    pub fn from_json(path: &Path, json: Json) -> Result<RawConfig> {
        let Json::Object(mut raw) = json else {
            return Err(Error::bad_file(
                path,
                "expected a JSON object at the top level",
            ));
        };
        if let Some(Json::Object(text)) = raw.get("text_config").cloned() {
            for (k, v) in text {
                raw.insert(k, v);
            }
        }
        let architecture = match raw.get("architectures") {
            Some(Json::Array(a)) if !a.is_empty() => a[0]
                .as_str()
                .ok_or_else(|| Error::bad_file(path, "'architectures' must be a list of strings"))?
                .to_string(),
            Some(_) => {
                return Err(Error::bad_file(
                    path,
                    "'architectures' must be a non-empty list",
                ));
            }
            None => {
                return Err(Error::bad_file(
                    path,
                    "no 'architectures' entry: cannot tell what model this is",
                ));
            }
        };
        Ok(RawConfig {
            path: path.to_path_buf(),
            architecture,
            raw,
            quantization: Quantization::None,
        })
    }

    /// Reads `quantization_config`. Separate from [`RawConfig::from_json`] so that an unknown
    /// architecture is reported before an unsupported quantization method.
    pub fn read_quantization(&mut self) -> Result<()> {
        self.quantization = parse_quantization(&self.path, self.raw.get("quantization_config"))?;
        Ok(())
    }

    /// An optional non-negative integer; any other JSON type is an error naming the key.
    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>> {
        match self.raw.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) => Ok(Some(n)),
                None => Err(Error::bad_file(
                    &self.path,
                    format!("'{key}' must be a non-negative integer, found {v}"),
                )),
            },
        }
    }

    /// A required non-negative integer.
    pub fn req_u64(&self, key: &str) -> Result<u64> {
        self.opt_u64(key)?
            .ok_or_else(|| Error::bad_file(&self.path, format!("required key '{key}' is missing")))
    }

    /// An optional number; any other JSON type is an error naming the key.
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        opt_of(&self.path, &self.raw, key, "a number", Json::as_f64)
    }

    /// An optional boolean; any other JSON type is an error naming the key.
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        opt_of(&self.path, &self.raw, key, "true or false", Json::as_bool)
    }

    /// An optional string; any other JSON type is an error naming the key.
    pub fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        opt_of(&self.path, &self.raw, key, "a string", Json::as_str)
    }

    /// A number from the config (integers and floats alike), if present and numeric.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.raw.get(key).and_then(Json::as_f64)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.raw.get(key)
    }

    /// The rope dictionary exactly as llama.cpp's `TextModel.__init__` assembles it
    /// (`rope_parameters` or `rope_scaling`, with `rope_theta`, `rope_type` and
    /// `original_max_position_embeddings` mirrored in).
    pub fn rope_dict(&self) -> Map<String, Json> {
        let raw = &self.raw;
        let mut rope = match raw
            .get("rope_parameters")
            .or_else(|| raw.get("rope_scaling"))
        {
            Some(Json::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        if !rope.contains_key("full_attention") && !rope.contains_key("sliding_attention") {
            if !rope.contains_key("rope_theta")
                && let Some(t) = raw.get("rope_theta").filter(|v| !v.is_null())
            {
                rope.insert("rope_theta".into(), t.clone());
            }
            if !rope.contains_key("rope_type")
                && let Some(t) = rope.get("type").cloned().filter(|v| !v.is_null())
            {
                rope.insert("rope_type".into(), t);
            }
            if !rope.contains_key("original_max_position_embeddings")
                && let Some(t) = raw
                    .get("original_max_position_embeddings")
                    .filter(|v| !v.is_null())
            {
                rope.insert("original_max_position_embeddings".into(), t.clone());
            }
        }
        rope
    }
}

/// `map[key]` converted by `conv`: `None` when absent or null, an error naming the key (as
/// `prefix.key` when `map` is nested) when present with another JSON type.
pub fn opt_of<'a, T>(
    path: &Path,
    map: &'a Map<String, Json>,
    key: &str,
    want: &str,
    conv: impl Fn(&'a Json) -> Option<T>,
) -> Result<Option<T>> {
    match map.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => conv(v)
            .map(Some)
            .ok_or_else(|| Error::bad_file(path, format!("'{key}' must be {want}, found {v}"))),
    }
}

fn parse_quantization(path: &Path, q: Option<&Json>) -> Result<Quantization> {
    let q = match q {
        None | Some(Json::Null) => return Ok(Quantization::None),
        Some(Json::Object(q)) => q,
        Some(_) => {
            return Err(Error::bad_file(
                path,
                "quantization_config must be an object",
            ));
        }
    };
    let method = q.get("quant_method").and_then(Json::as_str).unwrap_or("");
    if method == "compressed-tensors" {
        return parse_compressed_tensors(path, q).map(Quantization::PackedInt);
    }
    if method != "fp8" {
        return Err(Error::Unsupported(format!(
            "{}: quantization_config.quant_method '{method}'; ds2gguf reads unquantized, block-FP8 ('fp8') and INT4 'compressed-tensors' (pack-quantized) checkpoints",
            path.display()
        )));
    }
    let block = match q.get("weight_block_size") {
        Some(Json::Array(a)) if a.len() == 2 => {
            let r = a[0].as_u64().filter(|v| *v > 0);
            let c = a[1].as_u64().filter(|v| *v > 0);
            match (r, c) {
                (Some(r), Some(c)) => [r, c],
                _ => {
                    return Err(Error::bad_file(
                        path,
                        "quantization_config.weight_block_size must be two positive integers",
                    ));
                }
            }
        }
        None => [128, 128],
        Some(other) => {
            return Err(Error::bad_file(
                path,
                format!(
                    "quantization_config.weight_block_size must be [rows, cols], found {other}"
                ),
            ));
        }
    };
    let scale_fmt = q
        .get("scale_fmt")
        .and_then(Json::as_str)
        .map(str::to_string);
    Ok(Quantization::Fp8(Fp8Config { block, scale_fmt }))
}

/// `quant_method: compressed-tensors`: what llama.cpp's converter accepts for `pack-quantized`
/// (one config group, strategy `group`, type `int`), narrowed to what ds2gguf decodes
/// (4 bits; zero points, when a tensor has them, are read from the checkpoint as the reference does).
fn parse_compressed_tensors(path: &Path, q: &Map<String, Json>) -> Result<PackedIntConfig> {
    let unsupported = |what: String| {
        Err(Error::Unsupported(format!(
            "{}: quantization_config (compressed-tensors): {what}",
            path.display()
        )))
    };
    let format = q.get("format").and_then(Json::as_str).unwrap_or("");
    if format != "pack-quantized" {
        return unsupported(format!(
            "format {format:?}; ds2gguf reads only 'pack-quantized' (INT4 groups)"
        ));
    }
    let groups = match q.get("config_groups") {
        Some(Json::Object(g)) => g,
        _ => return unsupported("config_groups must be an object".into()),
    };
    if groups.len() != 1 {
        return unsupported(format!(
            "{} config groups; ds2gguf (like llama.cpp's converter) handles exactly one",
            groups.len()
        ));
    }
    let Some(Json::Object(w)) = groups.values().next().and_then(|g| g.get("weights")) else {
        return unsupported("the config group has no 'weights' object".into());
    };
    let strategy = w.get("strategy").and_then(Json::as_str).unwrap_or("");
    if strategy != "group" {
        return unsupported(format!("weights.strategy {strategy:?}; expected \"group\""));
    }
    let ty = w.get("type").and_then(Json::as_str).unwrap_or("int");
    if ty != "int" {
        return unsupported(format!("weights.type {ty:?}; expected \"int\""));
    }
    let bits = match w.get("num_bits").and_then(Json::as_u64) {
        Some(4) => 4,
        Some(b) => {
            return unsupported(format!(
                "weights.num_bits {b}; ds2gguf decodes 4-bit groups only"
            ));
        }
        None => return unsupported("weights.num_bits must be an integer".into()),
    };
    let group = match w.get("group_size").and_then(Json::as_u64) {
        Some(g) if g > 0 => g,
        _ => return unsupported("weights.group_size must be a positive integer".into()),
    };
    Ok(PackedIntConfig { bits, group })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_architecture_text_config_and_fp8() {
        let j = json!({"architectures": ["X"], "text_config": {"hidden_size": 8},
            "quantization_config": {"quant_method": "fp8", "weight_block_size": [64, 32]}});
        let mut c = RawConfig::from_json(Path::new("config.json"), j).unwrap();
        c.read_quantization().unwrap();
        assert_eq!(c.architecture, "X");
        assert_eq!(c.req_u64("hidden_size").unwrap(), 8);
        assert_eq!(
            c.quantization,
            Quantization::Fp8(Fp8Config {
                block: [64, 32],
                scale_fmt: None
            })
        );
    }

    #[test]
    fn typed_accessors_name_the_key() {
        let c = RawConfig::from_json(
            Path::new("m/config.json"),
            json!({"architectures": ["X"], "hidden_size": "big"}),
        )
        .unwrap();
        let e = c.req_u64("hidden_size").unwrap_err().to_string();
        assert!(e.contains("hidden_size") && e.contains("\"big\"") && e.contains("m/config.json"));
        let e = c.req_u64("vocab_size").unwrap_err().to_string();
        assert!(e.contains("vocab_size") && e.contains("missing"), "{e}");
        let e = RawConfig::from_json(Path::new("config.json"), json!([1]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("object"), "{e}");
    }

    #[test]
    fn rope_parameters_form() {
        let c = RawConfig::from_json(
            Path::new("config.json"),
            json!({"architectures": ["X"], "rope_parameters": {"rope_type": "yarn", "factor": 40.0, "rope_theta": 10000.0}}),
        )
        .unwrap();
        let r = c.rope_dict();
        assert_eq!(r.get("rope_theta").unwrap(), 10000.0);
        assert_eq!(r.get("factor").unwrap(), 40.0);
        let c = RawConfig::from_json(
            Path::new("config.json"),
            json!({"architectures": ["X"], "rope_theta": 5, "rope_scaling": {"type": "yarn", "factor": 4}}),
        )
        .unwrap();
        let r = c.rope_dict();
        assert_eq!(r.get("rope_type").unwrap(), "yarn");
        assert_eq!(r.get("rope_theta").unwrap(), 5);
    }

    #[test]
    fn unsupported_quantization_is_reported() {
        let mut c = RawConfig::from_json(
            Path::new("config.json"),
            json!({"architectures": ["X"], "quantization_config": {"quant_method": "awq"}}),
        )
        .unwrap();
        let e = c.read_quantization().unwrap_err().to_string();
        assert!(e.contains("awq"), "{e}");
    }
}
