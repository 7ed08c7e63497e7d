#!/usr/bin/env python3
"""Regenerates fuzz/seeds/* from synthetic checkpoints.

Usage (from the repository root, after `cargo build --release`):
    ./target/release/ds2gguf synth /tmp/fz2 --hidden 64 --layers 2 --dense-layers 1 --experts 2 \
        --heads 1 --moe-ff 16 --vocab 300 --shards 1 --no-mtp
    ./target/release/ds2gguf synth /tmp/fz3 --v2 --no-q-lora --dtype fp8 --hidden 64 --layers 2 \
        --dense-layers 1 --experts 2 --heads 1 --moe-ff 16 --vocab 300 --shards 1
    ./target/release/ds2gguf convert /tmp/fz2 -o /tmp/fz2.gguf --outtype q8_0
    python3 fuzz/gen_seeds.py /tmp/fz2 /tmp/fz3 /tmp/fz2.gguf
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def out(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def st_seed(hdr, data_len):
    # fuzz input = u64 data-section length (top bit clear) + header JSON
    return struct.pack("<Q", data_len) + hdr


def safetensors_seeds(dirs):
    h = (b'{"__metadata__":{"format":"pt"},"b":{"dtype":"BF16","shape":[2,3],"data_offsets":[16,28]},'
         b'"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}')
    out("safetensors_header", "small", st_seed(h, 28))
    h = b'{"w":{"dtype":"F8_E4M3","shape":[2,2],"data_offsets":[0,4]},"s":{"dtype":"F32","shape":[1,1],"data_offsets":[4,8]}}'
    out("safetensors_header", "fp8", st_seed(h, 8))
    for i, d in enumerate(dirs):
        raw = open(os.path.join(d, "model.safetensors"), "rb").read()
        (n,) = struct.unpack("<Q", raw[:8])
        hdr = raw[8:8 + n]
        out("safetensors_header", f"synth{i}", st_seed(hdr, len(raw) - 8 - n))


def config_seeds(dirs):
    for i, d in enumerate(dirs):
        out("config_json", f"synth{i}", open(os.path.join(d, "config.json"), "rb").read())
    # DeepSeek-V3 widths (as in synth's v3 presets / the real config.json)
    v3 = json.load(open(os.path.join(dirs[0], "config.json")))
    v3.update({"hidden_size": 7168, "intermediate_size": 18432, "kv_lora_rank": 512, "q_lora_rank": 1536,
               "moe_intermediate_size": 2048, "n_routed_experts": 256, "n_shared_experts": 1,
               "num_attention_heads": 128, "num_key_value_heads": 128, "num_experts_per_tok": 8,
               "num_hidden_layers": 61, "first_k_dense_replace": 3, "n_group": 8, "topk_group": 4,
               "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "vocab_size": 129280,
               "max_position_embeddings": 163840,
               "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0,
                                "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096,
                                "type": "yarn"}})
    out("config_json", "v3", json.dumps(v3).encode())


def tokenizer_seeds(dirs):
    for i, d in enumerate(dirs):
        cfg = json.load(open(os.path.join(d, "config.json")))
        tj = open(os.path.join(d, "tokenizer.json"), "rb").read()
        out("tokenizer_json", f"synth{i}", struct.pack("<H", cfg["vocab_size"]) + tj)


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_kv_end(raw):
    """Offset just past the KV section of a GGUF v3 file, and the KV count."""
    pos = 8
    n_t, n_kv = struct.unpack_from("<QQ", raw, pos)
    pos += 16
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip(t, pos):
        if t in sizes:
            return pos + sizes[t]
        if t == 8:
            (n,) = struct.unpack_from("<Q", raw, pos)
            return pos + 8 + n
        if t == 9:
            et, n = struct.unpack_from("<IQ", raw, pos)
            pos += 12
            for _ in range(n):
                pos = skip(et, pos)
            return pos
        raise ValueError(t)

    for _ in range(n_kv):
        (n,) = struct.unpack_from("<Q", raw, pos)
        pos += 8 + n
        (t,) = struct.unpack_from("<I", raw, pos)
        pos = skip(t, pos + 4)
    return pos, n_kv


def gguf_seeds(gguf_path):
    # 1. A tiny hand-made file: a few KVs of several types, an F32 [4] and a Q8_0 [32] tensor.
    kvs = b""
    kvs += gguf_str("general.architecture") + struct.pack("<I", 8) + gguf_str("deepseek2")
    kvs += gguf_str("general.alignment") + struct.pack("<II", 4, 32)
    kvs += gguf_str("deepseek2.block_count") + struct.pack("<II", 4, 2)
    kvs += gguf_str("deepseek2.rope.freq_base") + struct.pack("<If", 6, 10000.0)
    kvs += gguf_str("deepseek2.expert_weights_norm") + struct.pack("<IB", 7, 1)
    kvs += gguf_str("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3) + gguf_str("a") + gguf_str("b") + gguf_str("<s>")
    kvs += gguf_str("tokenizer.ggml.token_type") + struct.pack("<IIQ", 9, 5, 3) + struct.pack("<iii", 1, 1, 3)
    kvs += gguf_str("general.size") + struct.pack("<IQ", 10, 12345)
    kvs += gguf_str("general.f64") + struct.pack("<Id", 12, 0.5)
    kvs += gguf_str("general.u16s") + struct.pack("<IIQ", 9, 2, 2) + struct.pack("<HH", 1, 2)
    n_kv = 10
    tis = b""
    tis += gguf_str("a.weight") + struct.pack("<I", 1) + struct.pack("<Q", 4) + struct.pack("<IQ", 0, 0)
    tis += gguf_str("b.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 32, 1) + struct.pack("<IQ", 8, 32)
    hdr = b"GGUF" + struct.pack("<IQQ", 3, 2, n_kv) + kvs + tis
    hdr += b"\0" * (-len(hdr) % 32)
    data = struct.pack("<ffff", 1.0, -2.0, 0.5, 3.0) + b"\0" * 16  # F32 [4], padded to 32
    data += struct.pack("<e", 0.125) + bytes(range(32))  # one Q8_0 block
    out("gguf_reader", "tiny", hdr + data)
    # 2. The real metadata of a converted synthetic model, with the tensor infos dropped.
    raw = open(gguf_path, "rb").read()
    end, n_kv = gguf_kv_end(raw)
    meta = b"GGUF" + struct.pack("<IQQ", 3, 0, n_kv) + raw[24:end]
    meta += b"\0" * (-len(meta) % 32)
    out("gguf_reader", "synth_meta", meta)


if __name__ == "__main__":
    d2, d3, g = sys.argv[1:4]
    safetensors_seeds([d2, d3])
    config_seeds([d2, d3])
    tokenizer_seeds([d2, d3])
    gguf_seeds(g)
