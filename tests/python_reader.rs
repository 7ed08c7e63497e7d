//! PyPI's gguf 0.19.0 as an independent reader: it must parse our files, dequantize every
//! type close to the f32 values, and re-quantize BF16/F16/Q8_0 to the very same bytes.
//! Needs `python3` with `gguf` (set DS2GGUF_PYTHON to choose the interpreter); when
//! DS2GGUF_REQUIRE_PYTHON=1 (as in CI) a missing `gguf` fails the test instead of skipping.

mod common;
use common::*;
use ds2gguf::synth::{SynthDtype, SynthSpec};
use std::process::Command;

fn python() -> Option<String> {
    let py = std::env::var("DS2GGUF_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import gguf, numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(py);
    }
    if std::env::var("DS2GGUF_REQUIRE_PYTHON").as_deref() == Ok("1") {
        panic!("{py} cannot import gguf and numpy; run scripts/test.sh, which installs them");
    }
    eprintln!("skipping: {py} has no gguf module (DS2GGUF_REQUIRE_PYTHON=1 makes this a failure)");
    None
}

fn check(py: &str, out: &std::path::Path, f32: &std::path::Path, round_bf16: bool) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/check_gguf.py");
    let mut c = Command::new(py);
    c.arg(script).arg(out).arg(f32);
    if round_bf16 {
        c.arg("--round-bf16");
    }
    let o = c.output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{}: {text}\n{}",
        out.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    let last = text.lines().last().unwrap_or_default();
    assert!(
        last.ends_with(" 0 failed") && !last.starts_with("0 passed"),
        "{last}"
    );
}

#[test]
fn gguf_py_reads_and_agrees() {
    let Some(py) = python() else { return };
    for dtype in [SynthDtype::Bf16, SynthDtype::Fp8] {
        // widths that exercise the 256-element K-quant rows and the fallbacks
        let spec = SynthSpec {
            dtype,
            hidden: 512,
            moe_ff: 256,
            ff: 768,
            kv_lora: 96,
            nope: 32,
            rope: 32,
            v: 32,
            ..SynthSpec::default()
        };
        let dir = synth(&spec);
        let (t, f32) = out_path("f32.gguf");
        convert(dir.path(), &f32, "f32", &[]);
        for ty in ["bf16", "f16", "q8_0"] {
            let out = t.path().join(format!("{ty}.gguf"));
            convert(dir.path(), &out, ty, &[]);
            check(&py, &out, &f32, false);
        }
        for ty in ["q2_k", "q3_k_m", "q4_k_m", "q5_k_s", "q6_k"] {
            let out = t.path().join(format!("{ty}.gguf"));
            convert(dir.path(), &out, ty, &[]);
            check(&py, &out, &f32, true);
        }
    }
}
