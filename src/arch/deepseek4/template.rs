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
