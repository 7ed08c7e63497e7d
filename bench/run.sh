#!/usr/bin/env bash
# Benchmark ds2gguf on generated DeepSeek-V3-shaped checkpoints and, when the conformance lab
# is installed ($LAB, see ../shared/lab), against llama.cpp's converter in the same run.
#
#   bench/run.sh [all|medium|slice|full|v4]      (default: all)
#
# Cases:
#   medium: ~6.9 GB random bf16 (the lab's make_big.py --preset medium shape) → bf16 and q8_0,
#           warm page cache; also q4_k_m against convert(bf16) + llama-quantize; and `cp` of a
#           file as large as the output, the physical floor.
#   slice:  DeepSeek-V3's real widths, one 256-expert MoE layer, FP8, sparse → q8_0 and bf16 to
#           stdout; peak RSS.
#   full:   all of DeepSeek-V3 671B (688 GB FP8 as sparse holes) → q8_0 to stdout.
#   v4:     all of DeepSeek-V4-Flash 284B (FP8 + FP4 experts as sparse holes) → auto to stdout.
# Inputs go to $BENCH_DIR (default /tmp/ds2gguf-bench). Prints one line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH=${1:-all}
BENCH_DIR=${BENCH_DIR:-/tmp/ds2gguf-bench}
LAB=${LAB:-$HOME/.cache/ds2gguf-lab}
LAB_SCRIPTS=${LAB_SCRIPTS:-$PWD/../shared/lab}
THREADS=${THREADS:-$(nproc)}
mkdir -p "$BENCH_DIR"
cargo build --release --quiet
BIN=$PWD/target/release/ds2gguf
M="python3 $PWD/bench/measure.py"
have_lab() { [ -x "$LAB/venv/bin/python" ] && [ -f "$LAB/lcp/vendor/llama.cpp/convert_hf_to_gguf.py" ]; }
say() { printf '%-44s %s\n' "$1" "$2"; }
run() { # label command → prints wall, CPU, peak RSS
  local label=$1; shift
  read -r wall rss rc cpu < <($M "$*" | tail -1)
  say "$label" "wall ${wall}s  cpu ${cpu}s  peak_rss ${rss}MB  exit $rc" >&2
  echo "$wall"
}
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GB RAM, $(uname -r); threads $THREADS; $(date -u +%F)"

if [[ $WHICH == all || $WHICH == medium ]]; then
  # with the lab, its generator (real DeepSeek-V3 tokenizer, which llama.cpp's converter
  # recognises); without it, our own generator of the same shape
  if have_lab && [ -f "$LAB_SCRIPTS/make_big.py" ]; then
    D=$BENCH_DIR/medium-lab
    [ -f "$D/config.json" ] || LAB=$LAB "$LAB/venv/bin/python" "$LAB_SCRIPTS/make_big.py" "$D" --preset medium >/dev/null
  else
    D=$BENCH_DIR/medium
    [ -f "$D/config.json" ] || $BIN synth "$D" --preset medium --dtype bf16 >/dev/null
  fi
  cat "$D"/*.safetensors > /dev/null  # warm the page cache
  for t in bf16 q8_0 q4_k_m; do
    ours=$(run "medium ds2gguf → $t" "$BIN convert $D -o $BENCH_DIR/out.$t.gguf --outtype $t --quiet --threads $THREADS")
    size=$(stat -c %s "$BENCH_DIR/out.$t.gguf")
    cpt=$(run "  cp of a ${size}-byte file" "cp $BENCH_DIR/out.$t.gguf $BENCH_DIR/copy.gguf")
    rm -f "$BENCH_DIR/copy.gguf"
    say "  ratio ds2gguf / cp" "$(python3 -c "print(f'{$ours/$cpt:.2f}')")"
    if have_lab; then
      if [[ $t == q4_k_m ]]; then
        ref=$(run "  llama.cpp convert bf16 + llama-quantize" "$LAB/venv/bin/python $LAB/lcp/vendor/llama.cpp/convert_hf_to_gguf.py $D --outfile $BENCH_DIR/ref.bf16.gguf --outtype bf16 >/dev/null 2>&1 && $LAB/lcp/vendor/llama.cpp/build/bin/llama-quantize $BENCH_DIR/ref.bf16.gguf $BENCH_DIR/ref.q4km.gguf Q4_K_M $THREADS >/dev/null 2>&1")
        rm -f "$BENCH_DIR/ref.bf16.gguf" "$BENCH_DIR/ref.q4km.gguf"
      else
        ref=$(run "  llama.cpp convert_hf_to_gguf → $t" "$LAB/venv/bin/python $LAB/lcp/vendor/llama.cpp/convert_hf_to_gguf.py $D --outfile $BENCH_DIR/ref.$t.gguf --outtype $t >/dev/null 2>&1")
        rm -f "$BENCH_DIR/ref.$t.gguf"
      fi
      say "  speed-up vs llama.cpp" "$(python3 -c "print(f'{$ref/$ours:.1f}x')")"
    fi
    rm -f "$BENCH_DIR/out.$t.gguf"
  done
fi

if [[ $WHICH == all || $WHICH == slice ]]; then
  D=$BENCH_DIR/v3-slice
  [ -f "$D/config.json" ] || $BIN synth "$D" --preset v3-slice --dtype fp8 --sparse >/dev/null
  for t in q8_0 bf16; do
    run "v3-slice fp8 sparse ds2gguf → $t (stdout)" "$BIN convert $D -o - --outtype $t --quiet --threads $THREADS > /dev/null" >/dev/null
  done
fi

if [[ $WHICH == all || $WHICH == full ]]; then
  D=$BENCH_DIR/v3-full
  [ -f "$D/config.json" ] || $BIN synth "$D" --preset v3-full --dtype fp8 --sparse >/dev/null
  run "v3-full plan" "$BIN plan $D --outtype q8_0 > /dev/null" >/dev/null
  run "v3-full fp8 sparse ds2gguf → q8_0 (stdout)" "$BIN convert $D -o - --outtype q8_0 --quiet --threads $THREADS > /dev/null" >/dev/null
fi

if [[ $WHICH == all || $WHICH == v4 ]]; then
  D=$BENCH_DIR/v4-flash
  [ -f "$D/config.json" ] || $BIN synth "$D" --preset v4-flash --sparse >/dev/null
  run "v4-flash plan" "$BIN plan $D > /dev/null" >/dev/null
  run "v4-flash fp8+fp4 sparse ds2gguf → auto (stdout)" "$BIN convert $D -o - --quiet --threads $THREADS > /dev/null" >/dev/null
fi
