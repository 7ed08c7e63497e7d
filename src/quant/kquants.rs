//! ggml K-quants (256-element super-blocks): ports of the `_ref` quantizers and the decoders.

/// q2_k (to be ported).
pub fn quantize_row_q2_k(_x: &[f32], _out: &mut [u8]) {
    unimplemented!("q2_k")
}
/// q2_k decode (to be ported).
pub fn dequantize_row_q2_k(_d: &[u8], _out: &mut [f32]) {
    unimplemented!("q2_k")
}
/// q3_k (to be ported).
pub fn quantize_row_q3_k(_x: &[f32], _out: &mut [u8]) {
    unimplemented!("q3_k")
}
/// q3_k decode (to be ported).
pub fn dequantize_row_q3_k(_d: &[u8], _out: &mut [f32]) {
    unimplemented!("q3_k")
}
/// q4_k (to be ported).
pub fn quantize_row_q4_k(_x: &[f32], _out: &mut [u8]) {
    unimplemented!("q4_k")
}
/// q4_k decode (to be ported).
pub fn dequantize_row_q4_k(_d: &[u8], _out: &mut [f32]) {
    unimplemented!("q4_k")
}
/// q5_k (to be ported).
pub fn quantize_row_q5_k(_x: &[f32], _out: &mut [u8]) {
    unimplemented!("q5_k")
}
/// q5_k decode (to be ported).
pub fn dequantize_row_q5_k(_d: &[u8], _out: &mut [f32]) {
    unimplemented!("q5_k")
}
/// q6_k (to be ported).
pub fn quantize_row_q6_k(_x: &[f32], _out: &mut [u8]) {
    unimplemented!("q6_k")
}
/// q6_k decode (to be ported).
pub fn dequantize_row_q6_k(_d: &[u8], _out: &mut [f32]) {
    unimplemented!("q6_k")
}
