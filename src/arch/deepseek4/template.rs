//! The chat template ds2gguf writes for DeepSeek-V4, whose checkpoints ship none (the format
//! lives in Python code): our own Jinja rendering of DeepSeek-V4's conversation format, which
//! renders the same strings as the template llama.cpp's converter bundles.

/// The template for a V4 checkpoint; `flash_0731` selects the V4-Flash-0731 variant (chosen,
/// as the reference does, when the model directory's name contains "0731").
pub fn bundled(flash_0731: bool) -> &'static str {
    if flash_0731 {
        include_str!("deepseek4-0731.jinja")
    } else {
        include_str!("deepseek4.jinja")
    }
}

#[cfg(test)]
mod tests {
    use super::bundled;
    use minijinja::{Environment, Value as J};
    use serde_json::{Value as Json, json};

    /// The Jinja environment of the comparison: minijinja with Python-style methods and the
    /// `from_json` filter llama.cpp's template engine has.
    fn env() -> Environment<'static> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        minijinja_contrib::add_to_environment(&mut env);
        env.add_filter("from_json", |s: String| -> Result<J, minijinja::Error> {
            let v: Json = serde_json::from_str(&s).map_err(|e| {
                minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
            })?;
            Ok(to_j(&v))
        });
        env
    }

    fn to_j(v: &Json) -> J {
        match v {
            Json::Null => J::from(()),
            Json::Bool(b) => J::from(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => J::from(i),
                None => J::from(n.as_f64().unwrap_or(0.0)),
            },
            Json::String(s) => J::from(s.as_str()),
            Json::Array(a) => J::from(a.iter().map(to_j).collect::<Vec<_>>()),
            Json::Object(o) => J::from_pairs(o.iter().map(|(k, v)| (k.as_str(), to_j(v)))),
        }
    }

    fn render(src: &str, ctx: &Json) -> String {
        let env = env();
        let t = env.template_from_str(src).unwrap();
        t.render(to_j(ctx)).unwrap()
    }

    /// The conversations of the comparison (system prompts, several turns, thinking on and
    /// off, kept or dropped reasoning, tools, tool calls with object and string arguments,
    /// tool results, developer messages, a response format, reasoning effort).
    fn cases() -> Vec<(bool, Json)> {
        let weather = json!({"type": "function", "function": {"name": "get_weather",
            "description": "Weather for a city", "parameters": {"type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"]}}});
        let history = json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello.", "reasoning_content": "Greet back."},
            {"role": "user", "content": "2+2?"},
        ]);
        let tool_turns = json!([
            {"role": "user", "content": "Weather in Paris for 3 days, and in Rome?"},
            {"role": "assistant", "content": "", "reasoning_content": "Call the tool twice.",
             "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}},
                {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}]},
            {"role": "tool", "content": "sunny"},
            {"role": "tool", "content": "rain"},
            {"role": "assistant", "content": "Paris sunny, Rome rain.", "reasoning_content": "Summarise."},
        ]);
        vec![
            (false, json!({"messages": [{"role": "user", "content": "Hello"}], "add_generation_prompt": true})),
            (false, json!({"messages": history, "add_generation_prompt": true})),
            (false, json!({"messages": history, "add_generation_prompt": true, "thinking": true})),
            (false, json!({"messages": history, "add_generation_prompt": true, "enable_thinking": true, "drop_thinking": false})),
            (false, json!({"messages": tool_turns, "tools": [weather], "thinking": true})),
            (false, json!({"messages": tool_turns, "tools": [weather], "add_generation_prompt": true})),
            (false, json!({"messages": [
                {"role": "system", "content": "One."}, {"role": "system", "content": "Two."},
                {"role": "developer", "content": "Be exact."}, {"role": "user", "content": "Go"},
                {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "noop", "arguments": {}}}]},
                {"role": "tool", "content": "done"}],
                "response_format": {"type": "json_object"}, "thinking": true,
                "reasoning_effort": "max", "add_generation_prompt": true})),
            (true, json!({"messages": history, "thinking": true, "reasoning_effort": "high", "add_generation_prompt": true})),
            (true, json!({"messages": history, "thinking": true, "reasoning_effort": "max"})),
            (true, json!({"messages": history, "reasoning_effort": "max", "add_generation_prompt": true})),
        ]
        .into_iter()
        .map(|(v, mut c)| {
            c["bos_token"] = json!("<｜begin▁of▁sentence｜>");
            (v, c)
        })
        .collect()
    }

    /// Prints the reference template's renderings of [`cases`] as JSON (run once, with
    /// `DS2GGUF_V4_REF_TEMPLATES=DIR` naming llama.cpp's `models/templates`, to produce
    /// `template_expected.json`).
    #[test]
    #[ignore]
    fn print_reference_renderings() {
        let dir = std::env::var("DS2GGUF_V4_REF_TEMPLATES").unwrap();
        let read = |n: &str| std::fs::read_to_string(format!("{dir}/{n}")).unwrap();
        let (plain, flash) = (
            read("deepseek-ai-DeepSeek-V4.jinja"),
            read("deepseek-ai-DeepSeek-V4-Flash-0731.jinja"),
        );
        let out: Vec<String> = cases()
            .iter()
            .map(|(v, c)| render(if *v { &flash } else { &plain }, c))
            .collect();
        println!("{}", serde_json::to_string_pretty(&out).unwrap());
    }

    #[test]
    fn our_template_renders_what_the_reference_template_renders() {
        let expected: Vec<String> =
            serde_json::from_str(include_str!("template_expected.json")).unwrap();
        let cases = cases();
        assert_eq!(expected.len(), cases.len());
        for (i, ((v, c), want)) in cases.iter().zip(&expected).enumerate() {
            assert_eq!(&render(bundled(*v), c), want, "case {i}");
        }
        // a few facts of the format, independently of the reference
        assert!(expected[0].ends_with("<｜User｜>Hello<｜Assistant｜></think>"));
        assert!(expected[2].ends_with("<｜Assistant｜><think>"));
        assert!(expected[4].contains("<｜DSML｜invoke name=\"get_weather\">"));
    }
}
