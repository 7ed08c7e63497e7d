#!/usr/bin/env python3
"""Make deepseek2 BF16 GGUF variants from the llama.cpp-converted tiny V3 fixture, run the real
llama-quantize on them, and write name -> type tables for ds2gguf's preset tests
(src/quant/preset.rs, test `matches_real_llama_quantize`).

Needs the conformance lab (/work/shared/lab/setup.sh). To regenerate:
    PY=~/.cache/ds2gguf-lab/venv/bin/python
    $PY /work/shared/lab/make_fixture.py v3 /tmp/pfx/v3
    $PY ~/.cache/ds2gguf-lab/lcp/vendor/llama.cpp/convert_hf_to_gguf.py /tmp/pfx/v3 \
        --outfile /tmp/pfx/v3.bf16.gguf --outtype bf16
    $PY tests/data/preset/variants.py tests/data/preset      # ~20 min on 2 cores
The variants only change names, shapes and metadata (new tensors are zeros): the type choice
does not depend on the data."""
import os, random, subprocess, sys
import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT, GGUFValueType as VT

LAB = os.path.expanduser("~/.cache/ds2gguf-lab")
QUANT = f"{LAB}/lcp/vendor/llama.cpp/build/bin/llama-quantize"
BASE = "/tmp/pfx/v3.bf16.gguf"
OUTDIR = sys.argv[1]
WORK = "/tmp/pfx/work"
os.makedirs(WORK, exist_ok=True)

PRESETS = ["Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0"]


def load(path):
    r = gguf.GGUFReader(path)
    kv = {}
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name == "general.architecture":
            continue
        vt = f.types[0]
        kv[f.name] = (f.contents(), vt, f.types[-1] if vt == VT.ARRAY else None)
    ts = {t.name: (t.tensor_type, np.array(t.data)) for t in r.tensors}
    return kv, ts


def bf16_zeros(ne):  # ne in ggml order -> uint8 byte array for a BF16 tensor
    shape = list(reversed(ne))
    shape[-1] *= 2
    return (QT.BF16, np.zeros(shape, dtype=np.uint8))


def set_u32(kv, k, v):
    kv[k] = (v, VT.UINT32, None)


def relayer(kv, ts, n, n_dense=1):
    out = {}
    for name, t in ts.items():
        if not name.startswith("blk."):
            out[name] = t
    for l in range(n):
        src = 0 if l < n_dense else 1 + (l - 1) % 3
        for name, t in ts.items():
            if name.startswith(f"blk.{src}."):
                out[f"blk.{l}." + name[len(f"blk.{src}."):]] = t
    set_u32(kv, "deepseek2.block_count", n)
    return out


def legacy(kv, ts, H=4, r=96, nope=32, v=32):
    for name in list(ts):
        if name.endswith("attn_k_b.weight"):
            del ts[name]
            ts[name.replace("attn_k_b", "attn_kv_b")] = bf16_zeros([r, H * (nope + v)])
        elif name.endswith("attn_v_b.weight"):
            del ts[name]
    set_u32(kv, "deepseek2.attention.head_count_kv", H)


def experts(kv, ts, n):
    for name, (ty, d) in list(ts.items()):
        if "_exps." in name or "ffn_gate_inp" in name or "exp_probs_b" in name:
            ts[name] = (ty, d[:n].copy())
    set_u32(kv, "deepseek2.expert_count", n)
    set_u32(kv, "deepseek2.expert_group_count", 2)
    set_u32(kv, "deepseek2.expert_group_used_count", 1)


def lite(kv, ts, E=256, H=4, qk=64):
    for name in list(ts):
        if "attn_q_a" in name or "attn_q_b" in name:
            del ts[name]
    layers = {n.split(".")[1] for n in ts if n.startswith("blk.")}
    for l in layers:
        ts[f"blk.{l}.attn_q.weight"] = bf16_zeros([E, H * qk])
    del kv["deepseek2.attention.q_lora_rank"]


def dense(kv, ts, n, E=256, F=512):
    for name in list(ts):
        if any(s in name for s in ("_exps.", "_shexp.", "ffn_gate_inp", "exp_probs_b")):
            del ts[name]
    for l in range(n):
        ts[f"blk.{l}.ffn_down.weight"] = bf16_zeros([F, E])
        ts[f"blk.{l}.ffn_gate.weight"] = bf16_zeros([E, F])
        ts[f"blk.{l}.ffn_up.weight"] = bf16_zeros([E, F])
    for k in ("expert_count", "expert_used_count", "expert_group_count", "expert_group_used_count"):
        del kv[f"deepseek2.{k}"]
    set_u32(kv, "deepseek2.leading_dense_block_count", n)


def write(path, kv, ts, seed):
    w = gguf.GGUFWriter(path, "deepseek2")
    for k, (val, vt, sub) in kv.items():
        w.add_key_value(k, val, vt, sub_type=sub)
    names = list(ts)
    random.Random(seed).shuffle(names)
    for name in names:
        ty, d = ts[name]
        if ty == QT.F32:
            w.add_tensor(name, d)
        else:
            w.add_tensor(name, d, raw_dtype=ty)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def model_line(kv):
    g = lambda k, d=0: kv.get("deepseek2." + k, (d,))[0]
    nh = g("attention.head_count")
    return (f"# model n_layer={g('block_count')} n_expert={g('expert_count')} "
            f"n_head={nh} n_head_kv={g('attention.head_count_kv', nh)}")


def variants():
    kv0, ts0 = load(BASE)
    yield "v3", "the llama.cpp conversion of make_fixture.py v3, as is", BASE, [
        ["Q4_K_M", "--tensor-type", "attn_k_b=q6_k", "--tensor-type", r"blk\.1\.ffn_down=q8_0",
         "--tensor-type", "ATTN_Q_B=Q8_0", "--tensor-type", "output=bf16"],
        ["Q4_K_M", "--pure"],
        ["Q6_K", "--leave-output-tensor"],
        ["Q4_K_M", "--output-tensor-type", "q8_0", "--token-embedding-type", "q5_k"],
    ]
    kv, ts = dict(kv0), relayer(dict(kv0), ts0, 20)
    set_u32(kv, "deepseek2.block_count", 20)
    p = f"{WORK}/mla20.gguf"; write(p, kv, ts, 1)
    yield "mla20", "v3 with 20 layers (blk.1-3 repeated)", p, []
    kv, ts = dict(kv0), relayer(dict(kv0), ts0, 20)
    set_u32(kv, "deepseek2.block_count", 20); legacy(kv, ts)
    p = f"{WORK}/legacy20.gguf"; write(p, kv, ts, 2)
    yield "legacy20", "20 layers, legacy attn_kv_b {96,256} instead of k_b/v_b, head_count_kv 4", p, [
        ["Q3_K_M", "--tensor-type", r"blk\.[01]\.attn_kv_b=q8_0"],
        ["Q4_K_M", "--tensor-type", r"blk\.[0-4]\.attn_kv_b=q8_0"],
    ]
    kv, ts = dict(kv0), relayer(dict(kv0), ts0, 12)
    set_u32(kv, "deepseek2.block_count", 12); legacy(kv, ts); experts(kv, ts, 8); del ts["output.weight"]
    p = f"{WORK}/e8tied12.gguf"; write(p, kv, ts, 3)
    yield "e8tied12", "12 layers, 8 experts, legacy attn_kv_b, no output.weight (tied)", p, []
    kv, ts = dict(kv0), relayer(dict(kv0), ts0, 27)
    set_u32(kv, "deepseek2.block_count", 27); lite(kv, ts)
    p = f"{WORK}/lite27.gguf"; write(p, kv, ts, 4)
    yield "lite27", "27 layers, attn_q {256,256} instead of q_a/q_b, no q_lora_rank (V2-Lite style)", p, []
    kv, ts = dict(kv0), relayer(dict(kv0), ts0, 10)
    set_u32(kv, "deepseek2.block_count", 10); dense(kv, ts, 10)
    p = f"{WORK}/dense10.gguf"; write(p, kv, ts, 5)
    yield "dense10", "10 dense layers, no expert_count (n_expert 0: ffn counters instead of names)", p, [
        ["Q3_K_M", "--tensor-type", r"blk\.0\.ffn_down=q8_0"],
        ["Q4_K_M", "--tensor-type", r"blk\.[0-2]\.ffn_down=q8_0"],
    ]


def quantize(inp, args):
    out = f"{WORK}/out.gguf"
    flags, preset = args[1:], args[0]
    cmd = [QUANT, *flags, inp, out, preset, "2"]
    res = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if res.returncode != 0:
        sys.exit(f"failed: {cmd}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    r = gguf.GGUFReader(out)
    ft = r.fields["general.file_type"].contents()
    got = [(t.name, t.tensor_type.name) for t in r.tensors]
    del r
    os.remove(out)
    return ft, got


for name, desc, path, extra in variants():
    kv, _ = load(path)
    r = gguf.GGUFReader(path)
    src = [(t.name, t.tensor_type.name, [int(x) for x in t.shape]) for t in r.tensors]
    runs = [[p] for p in PRESETS] + extra
    cols, order, fts = [], None, []
    for args in runs:
        ft, got = quantize(path, args)
        fts.append(ft)
        o = [n for n, _ in got]
        assert order is None or order == o
        order = o
        cols.append(dict(got))
        print(name, " ".join(args), "file_type", ft, file=sys.stderr)
    with open(f"{OUTDIR}/{name}.txt", "w") as f:
        f.write(f"# Tensor types written by llama.cpp 0c1e57098's llama-quantize (no imatrix) for variant {name}:\n")
        f.write(f"# {desc}.\n# Generated by tests/data/preset/variants.py; lines in the BF16 input's tensor order.\n")
        f.write(model_line(kv) + "\n")
        for i, args in enumerate(runs):
            f.write(f"# run r{i} file_type={fts[i]}: " + " ".join(args) + "\n")
        f.write("name src ne out_pos " + " ".join(f"r{i}" for i in range(len(runs))) + "\n")
        for n, ty, ne in src:
            f.write(f"{n} {ty} {','.join(map(str, ne))} {order.index(n)} " + " ".join(c[n] for c in cols) + "\n")
