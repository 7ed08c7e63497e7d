//! Tokenizer files → `tokenizer.*` GGUF metadata (to be written).
