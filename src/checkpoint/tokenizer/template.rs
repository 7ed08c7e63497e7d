//! The preflight check of chat templates: each one is rendered on a sample conversation.

use super::TokenizerMeta;
use crate::gguf::Value;
use crate::{Error, Result};

/// Steps of template evaluation the check allows (minijinja fuel): a real chat template needs a
/// few thousand for the sample; a runaway loop stops here instead of hanging.
const TEMPLATE_FUEL: u64 = 2_000_000;
/// Largest rendering of the sample conversation the check accepts.
const TEMPLATE_OUTPUT_MAX: usize = 1 << 20;

/// Renders every chat template on a sample conversation (for the preflight), with a step
/// budget and an output-size cap.
pub fn check_chat_template(meta: &TokenizerMeta) -> Result<()> {
    let token_of = |key: &str| -> String {
        match meta.get(key) {
            Some(Value::U32(id)) => meta.token_text(*id).unwrap_or("").to_string(),
            _ => String::new(),
        }
    };
    let bos = token_of("tokenizer.ggml.bos_token_id");
    let eos = token_of("tokenizer.ggml.eos_token_id");
    for (key, value) in &meta.kvs {
        let name = if key == "tokenizer.chat_template" {
            "default".to_string()
        } else if let Some(n) = key.strip_prefix("tokenizer.chat_template.") {
            n.to_string()
        } else {
            continue;
        };
        let err = |msg: String| Error::ChatTemplate {
            name: name.clone(),
            key: key.clone(),
            msg,
        };
        let Value::String(src) = value else {
            return Err(err("expected a string value".into()));
        };
        render_sample(src, &bos, &eos).map_err(|e| err(format!("does not render: {e}")))?;
    }
    Ok(())
}

pub(super) fn render_sample(
    src: &str,
    bos: &str,
    eos: &str,
) -> std::result::Result<String, String> {
    use minijinja::{Environment, ErrorKind, Value as J};
    let mut env = Environment::new();
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    // transformers renders chat templates with trim_blocks and lstrip_blocks
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    minijinja_contrib::add_to_environment(&mut env);
    env.add_function(
        "raise_exception",
        |msg: String| -> std::result::Result<J, minijinja::Error> {
            Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                format!("raise_exception: {msg}"),
            ))
        },
    );
    env.add_function("strftime_now", |_fmt: Option<String>| -> String {
        "01 Jan 2025".to_string()
    });
    let tmpl = env.template_from_str(src).map_err(|e| e.to_string())?;
    let msg = |role: &str, content: &str| minijinja::context! { role => role, content => content };
    let messages: Vec<J> = vec![
        msg("system", "You are a helpful assistant."),
        msg("user", "Hello! What is 2 + 2?"),
        msg("assistant", "2 + 2 = 4."),
    ];
    let ctx = minijinja::context! {
        messages => messages,
        add_generation_prompt => true,
        bos_token => bos,
        eos_token => eos,
    };
    let mut out = CappedWriter(Vec::new());
    if let Err(e) = tmpl.render_captured_to(ctx, &mut out) {
        if out.0.len() >= TEMPLATE_OUTPUT_MAX / 2 {
            return Err(format!(
                "the rendering of a 3-message conversation exceeds {TEMPLATE_OUTPUT_MAX} bytes"
            ));
        }
        return Err(e.to_string());
    }
    String::from_utf8(out.0).map_err(|e| e.to_string())
}

/// A byte sink that refuses to grow past [`TEMPLATE_OUTPUT_MAX`].
struct CappedWriter(Vec<u8>);

impl std::io::Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > TEMPLATE_OUTPUT_MAX {
            self.0.resize(TEMPLATE_OUTPUT_MAX, 0);
            return Err(std::io::Error::other("output cap"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
