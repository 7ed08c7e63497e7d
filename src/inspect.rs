//! `ds2gguf inspect` (to be written).
