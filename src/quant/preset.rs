//! llama-quantize presets (to be written).
