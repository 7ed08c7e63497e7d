#!/usr/bin/env python3
"""Lossless INT4 -> Q4_0 check with PyPI's gguf and torch (the conformance lab's venv).

usage: check_int4_repack.py OUT.gguf CHECKPOINT_DIR
OUT.gguf is a ds2gguf conversion of a compressed-tensors pack-quantized checkpoint with its
routed experts written as Q4_0 (e.g. --tensor-type 'ffn_.*_exps=q4_0'). Every expert value
gguf-py dequantizes from OUT must equal, bit for bit, the checkpoint's value dequantized the
way llama.cpp's converter does ((q - 8) * f32(scale), low nibbles first). Exit 1 otherwise.
"""
import sys, json, os, numpy as np, torch
from safetensors import safe_open
from gguf import GGUFReader
from gguf.quants import dequantize
gg, fx = sys.argv[1], sys.argv[2]
r = GGUFReader(gg)
tensors = {t.name: t for t in r.tensors}
idx = json.load(open(os.path.join(fx, "model.safetensors.index.json")))["weight_map"]
def load(name):
    with safe_open(os.path.join(fx, idx[name]), "pt") as f:
        return f.get_tensor(name)
cfg = json.load(open(os.path.join(fx, "config.json")))
E = cfg["n_routed_experts"]; L = cfg["num_hidden_layers"]; k = cfg["first_k_dense_replace"]
checked = 0; bad = 0
for l in range(k, L):
    for p, gname in (("down_proj", "down"), ("gate_proj", "gate"), ("up_proj", "up")):
        t = tensors[f"blk.{l}.ffn_{gname}_exps.weight"]
        assert t.tensor_type.name == "Q4_0", t.tensor_type
        got = dequantize(t.data, t.tensor_type).reshape(E, -1)
        for e in range(E):
            b = f"model.layers.{l}.mlp.experts.{e}.{p}.weight"
            w = load(b + "_packed"); s = load(b + "_scale"); shp = load(b + "_shape").tolist()
            sh = torch.arange(0, 29, 4, dtype=torch.int32)
            u = ((w.unsqueeze(-1) >> sh.reshape(1, 1, -1)) & 15).reshape(shp[0], -1)[:, :shp[1]]
            u = u.reshape(shp[0], -1, 32) - 8
            ref = (u * s.unsqueeze(-1).float()).reshape(shp).numpy().astype(np.float32).reshape(-1)
            g = got[e].astype(np.float32)
            checked += ref.size
            bad += int((g != ref).sum())
print(f"checked {checked} expert values, {bad} differ")
sys.exit(1 if bad else 0)
