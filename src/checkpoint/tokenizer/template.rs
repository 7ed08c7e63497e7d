//! The preflight check of chat templates: each one is rendered on a sample conversation.

use super::TokenizerMeta;
use crate::gguf::Value;

/// Renders the chat template on a sample conversation (for the preflight): Ok(()) or a message.
pub fn check_chat_template(meta: &TokenizerMeta) -> std::result::Result<(), String> {
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
        let Value::String(src) = value else {
            return Err(format!("{key}: expected a string value"));
        };
        render_sample(src, &bos, &eos)
            .map_err(|e| format!("chat template '{name}' ({key}) does not render: {e}"))?;
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
    tmpl.render(ctx).map_err(|e| e.to_string())
}
