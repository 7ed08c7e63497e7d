//! MXFP4 (ggml `block_mxfp4`: one E8M0 exponent byte and 32 FP4 e2m1 codes in 16 bytes, element
//! `j` in the low nibble of byte `j`, element `j + 16` in its high nibble), the lossless repack
//! of checkpoint FP4 e2m1 weights into it, and the I32 element type's row codecs.

/// ggml's `kvalues_mxfp4`: the e2m1 values doubled (the block scale is halved to match).
pub const KVALUES_MXFP4: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// Elements per MXFP4 block.
pub const QK_MXFP4: usize = 32;

/// Bytes per MXFP4 block.
pub const BLOCK_BYTES: usize = 17;

/// ggml's `ggml_e8m0_to_fp32_half`: `2^(e-128)`, with the two subnormal cases spelled out
/// (NaN is not handled, as in ggml).
#[inline]
pub fn e8m0_to_f32_half(e: u8) -> f32 {
    let bits = if e < 2 {
        0x0020_0000u32 << e
    } else {
        ((e as u32) - 1) << 23
    };
    f32::from_bits(bits)
}

#[inline]
fn best_index(x: f32, d: f32) -> u8 {
    let mut best = 0u8;
    let mut best_err = (KVALUES_MXFP4[0] as f32 * d - x).abs();
    for (i, &k) in KVALUES_MXFP4.iter().enumerate().skip(1) {
        let err = (k as f32 * d - x).abs();
        if err < best_err {
            best = i as u8;
            best_err = err;
        }
    }
    best
}

/// Encodes one row as ggml's `quantize_row_mxfp4_ref` does (`x.len()` a multiple of 32).
pub fn quantize_row_mxfp4(x: &[f32], out: &mut [u8]) {
    for (xb, ob) in x
        .chunks_exact(QK_MXFP4)
        .zip(out.chunks_exact_mut(BLOCK_BYTES))
    {
        let mut amax = 0.0f32;
        for &v in xb {
            if amax < v.abs() {
                amax = v.abs();
            }
        }
        let e = if amax > 0.0 {
            let l = amax.log2().floor() - 2.0 + 127.0;
            // C converts through int on x86; out-of-range values (infinite input) give 0
            if l.is_finite() { (l as i32) as u8 } else { 0 }
        } else {
            0
        };
        let d = e8m0_to_f32_half(e);
        ob[0] = e;
        for j in 0..QK_MXFP4 / 2 {
            let x0 = best_index(xb[j], d);
            let x1 = best_index(xb[QK_MXFP4 / 2 + j], d);
            ob[1 + j] = x0 | (x1 << 4);
        }
    }
}

/// Decodes one row as ggml's `dequantize_row_mxfp4` does.
pub fn dequantize_row_mxfp4(data: &[u8], out: &mut [f32]) {
    for (b, o) in data
        .chunks_exact(BLOCK_BYTES)
        .zip(out.chunks_exact_mut(QK_MXFP4))
    {
        let d = e8m0_to_f32_half(b[0]);
        for j in 0..QK_MXFP4 / 2 {
            let q = b[1 + j];
            o[j] = KVALUES_MXFP4[(q & 0x0f) as usize] as f32 * d;
            o[j + QK_MXFP4 / 2] = KVALUES_MXFP4[(q >> 4) as usize] as f32 * d;
        }
    }
}

/// Repacks one row of checkpoint FP4 e2m1 codes into MXFP4 blocks, byte for byte: `packed`
/// holds two codes per byte (element `2i` in the low nibble), `scales` one E8M0 byte per 32
/// elements; each output block is the scale byte unchanged, then `c[j] | c[j+16] << 4`.
/// `packed.len() == 16 · scales.len()`, `out.len() == 17 · scales.len()`.
pub fn repack_fp4_row(packed: &[u8], scales: &[u8], out: &mut [u8]) {
    for ((p, &e), o) in packed
        .chunks_exact(16)
        .zip(scales)
        .zip(out.chunks_exact_mut(BLOCK_BYTES))
    {
        o[0] = e;
        let code = |i: usize| (p[i / 2] >> ((i & 1) * 4)) & 0x0f;
        for j in 0..16 {
            o[1 + j] = code(j) | (code(j + 16) << 4);
        }
    }
}

/// Decodes one row of checkpoint FP4 e2m1 codes with E8M0 scales to f32: the values of the
/// MXFP4 blocks [`repack_fp4_row`] makes (`e2m1(c) · 2^(e-127)`).
pub fn fp4_row_to_f32(packed: &[u8], scales: &[u8], out: &mut [f32]) {
    let mut blk = [0u8; BLOCK_BYTES];
    for ((p, e), o) in packed
        .chunks_exact(16)
        .zip(scales.chunks_exact(1))
        .zip(out.chunks_exact_mut(QK_MXFP4))
    {
        repack_fp4_row(p, e, &mut blk);
        dequantize_row_mxfp4(&blk, o);
    }
}

/// The I32 "encoder": values (integers stored as f32) to little-endian i32, truncating.
pub fn i32_row(x: &[f32], out: &mut [u8]) {
    for (o, v) in out.chunks_exact_mut(4).zip(x) {
        o.copy_from_slice(&(*v as i32).to_le_bytes());
    }
}

/// The I32 "decoder": little-endian i32 to f32.
pub fn i32_row_decode(data: &[u8], out: &mut [f32]) {
    for (o, b) in out.iter_mut().zip(data.chunks_exact(4)) {
        *o = i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// e2m1 as the OCP MX specification defines it.
    fn e2m1(c: u8) -> f32 {
        const V: [f32; 8] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];
        let v = V[(c & 7) as usize];
        if c & 8 != 0 { -v } else { v }
    }

    #[test]
    fn repack_moves_nibbles_and_keeps_the_scale_byte() {
        // element i has code i % 16; two blocks with different scales
        let mut packed = vec![0u8; 32];
        for i in 0..64usize {
            packed[i / 2] |= ((i % 16) as u8) << ((i & 1) * 4);
        }
        let scales = [127u8, 120];
        let mut out = [0u8; 34];
        repack_fp4_row(&packed, &scales, &mut out);
        assert_eq!(out[0], 127);
        assert_eq!(out[17], 120);
        // byte j holds element j (low) and element j + 16 (high): both code j here
        for j in 0..16 {
            assert_eq!(out[1 + j], (j as u8) | ((j as u8) << 4));
        }
        let mut vals = [0f32; 64];
        fp4_row_to_f32(&packed, &scales, &mut vals);
        for (i, v) in vals.iter().enumerate() {
            let s = if i < 32 { 1.0 } else { 2f32.powi(-7) };
            assert_eq!(*v, e2m1((i % 16) as u8) * s, "element {i}");
        }
    }

    #[test]
    fn mxfp4_quantize_round_trips_representable_values() {
        let x: Vec<f32> = (0..32).map(|i| e2m1((i % 16) as u8) * 0.25).collect();
        let mut q = [0u8; 17];
        quantize_row_mxfp4(&x, &mut q);
        // amax 1.5 → floor(log2) 0 → e = 125, d = 2^-3
        assert_eq!(q[0], 125);
        let mut y = [0f32; 32];
        dequantize_row_mxfp4(&q, &mut y);
        for (a, b) in x.iter().zip(&y) {
            assert_eq!(a.abs(), b.abs());
        }
        assert_eq!(e8m0_to_f32_half(0), 2f32.powi(-128));
        assert_eq!(e8m0_to_f32_half(1), 2f32.powi(-127));
        assert_eq!(e8m0_to_f32_half(128), 1.0);
    }

    /// Golden bytes from gguf-py 0.19.0's MXFP4 quantizer (a port of ggml's reference code),
    /// on a row with a zero, a tiny-value block and a block whose maximum is -7.5.
    #[test]
    fn mxfp4_quantize_matches_golden_bytes() {
        const X: [u32; 64] = [
            0x3ca7312d, 0xbcd15c2e, 0x3b8900ac, 0xbbba0bf7, 0xbb9452fa, 0x00000000, 0xbca57a2e,
            0xbb17ffcc, 0xbc0dc1ab, 0x3d081c2d, 0x3b13f8b5, 0xbb6719a1, 0xbb385833, 0xbbdae7ca,
            0xbc2ce039, 0xbb800ec3, 0x3b9dec82, 0xbb1c56a7, 0x3c1ceb50, 0xbb02f13c, 0x397e6146,
            0x3c7d446d, 0x3bb29ec4, 0xbba58da8, 0xbaefa694, 0x3bb11e89, 0x3c9e85bd, 0xbb30b2c9,
            0xbb1f9e5e, 0x3c243814, 0xbc113cd3, 0xbb3f2e89, 0x4029728e, 0x3fdedaba, 0x3e8c91d5,
            0x4000a8f8, 0xc107c075, 0x40441746, 0xc0384076, 0xc0a03000, 0xc0f00000, 0x4006812f,
            0xbfaaca6c, 0xc04eab80, 0x3da082cf, 0xbe220a2c, 0x4086effb, 0x400f8099, 0x3f14d9b5,
            0x40556eff, 0xbf1dd77a, 0xc031c5d1, 0x3fe04745, 0x3fdfb1db, 0xbf24fd15, 0xc0164c9b,
            0x3f2ffd7e, 0xc0ef69f2, 0x40048103, 0x3fbcaf77, 0xc09d548e, 0x3e3c7a5d, 0xc0391b6d,
            0x401162ee,
        ];
        const Q: [u8; 34] = [
            120, 21, 157, 33, 153, 9, 64, 29, 153, 10, 22, 65, 153, 153, 58, 171, 153, 128, 19, 50,
            144, 178, 46, 35, 155, 173, 30, 226, 41, 27, 192, 0, 180, 34,
        ];
        let x: Vec<f32> = X.iter().map(|b| f32::from_bits(*b)).collect();
        let mut q = [0u8; 34];
        quantize_row_mxfp4(&x, &mut q);
        assert_eq!(q, Q);
    }

    #[test]
    fn i32_rows() {
        let mut b = [0u8; 8];
        i32_row(&[7.0, -3.0], &mut b);
        let mut v = [0f32; 2];
        i32_row_decode(&b, &mut v);
        assert_eq!(v, [7.0, -3.0]);
    }
}
