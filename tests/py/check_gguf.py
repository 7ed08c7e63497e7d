#!/usr/bin/env python3
"""Independent check of a ds2gguf output with PyPI's gguf 0.19.0.

usage: check_gguf.py OUT.gguf F32.gguf
F32.gguf is the same checkpoint converted with --outtype f32 (the exact values before
encoding). For every tensor of OUT: the reader must parse it; the shape must match; the
dequantized values must be close to F32's (per-type bound); and for the types gguf-py can
quantize itself (BF16, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1), our bytes must equal gguf-py's
quantization of the F32 values (after the bf16 rounding the K-quant presets apply, when
--round-bf16 is given). Prints 'N passed, M failed' last; exit 1 on any failure.
"""
import sys
import numpy as np
import gguf
from gguf import GGUFReader, GGMLQuantizationType as Q
from gguf.quants import dequantize, quantize

# relative RMS error bound per type (generous: these are sanity bounds, exactness is
# checked by byte equality where gguf-py can quantize)
BOUND = {Q.F32: 0.0, Q.F16: 1e-3, Q.BF16: 1e-2, Q.Q8_0: 1e-2, Q.Q6_K: 3e-2, Q.Q5_K: 5e-2,
         Q.Q5_0: 6e-2, Q.Q5_1: 6e-2, Q.Q4_K: 1e-1, Q.Q4_0: 1.2e-1, Q.Q4_1: 1.2e-1,
         Q.Q3_K: 2.2e-1, Q.Q2_K: 4.5e-1}
REQUANT = {Q.BF16, Q.F16, Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1}


def main():
    out, ref = sys.argv[1], sys.argv[2]
    round_bf16 = "--round-bf16" in sys.argv
    ro, rr = GGUFReader(out), GGUFReader(ref)
    ref_t = {t.name: t for t in rr.tensors}
    passed = failed = 0
    for t in ro.tensors:
        r = ref_t.get(t.name)
        problems = []
        if r is None:
            problems.append("not in the f32 reference")
        else:
            want = np.asarray(r.data, dtype=np.float32).reshape(-1)
            got = dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32).reshape(-1)
            if list(t.shape) != list(r.shape):
                problems.append(f"shape {list(t.shape)} vs {list(r.shape)}")
            elif got.size != want.size:
                problems.append("element count differs")
            else:
                denom = float(np.sqrt(np.mean(want.astype(np.float64) ** 2))) or 1.0
                rel = float(np.sqrt(np.mean((got.astype(np.float64) - want) ** 2))) / denom
                if rel > BOUND.get(t.tensor_type, 0.5) + 1e-7:
                    problems.append(f"{t.tensor_type.name} rel rms error {rel:.3g}")
                if t.tensor_type in REQUANT:
                    src = want
                    if round_bf16 and t.tensor_type != Q.BF16 and r.tensor_type == Q.F32 and t.name.endswith(".weight") and "norm" not in t.name and "ffn_gate_inp" not in t.name:
                        src = dequantize(quantize(want.reshape(-1, int(r.shape[0])), Q.BF16), Q.BF16).reshape(-1)
                    mine = np.asarray(t.data).tobytes()
                    theirs = quantize(src.reshape(-1, int(t.shape[0])), t.tensor_type).tobytes()
                    if mine != theirs:
                        nb = sum(a != b for a, b in zip(mine, theirs))
                        problems.append(f"{t.tensor_type.name} bytes differ from gguf-py's quantize ({nb} bytes)")
        if problems:
            failed += 1
            print(f"FAIL {t.name}: {'; '.join(problems)}")
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
