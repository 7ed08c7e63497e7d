#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need (a Python venv
# with PyPI's gguf 0.19.0, the independent GGUF reader), then cargo fmt/clippy and cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import gguf, numpy" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r tests/py/requirements.txt
fi
export DS2GGUF_PYTHON="$PWD/.venv/bin/python" DS2GGUF_REQUIRE_PYTHON=1
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
