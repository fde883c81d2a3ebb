#!/usr/bin/env bash
# Create (or reuse) .venv and install everything the book and the tests need.
# Sourced by scripts/book.sh and scripts/test.sh; safe to re-run (it only installs what is missing).
#   AMOS_TORCH_SPEC  pip spec used when torch is missing (default torch==2.13.0; e.g. "torch" on a GPU box)
#   PYTHON           interpreter used to create the venv (default python3, must be >= 3.10)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
py="${PYTHON:-python3}"
"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "amos_tutorial needs Python >= 3.10, found " + sys.version.split()[0])'
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $("$py" --version)"
  "$py" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
stamp=.venv/.amos_installed
if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  python -m pip install -q --upgrade pip
  # torch first and explicitly: left to requirements.txt it would resolve to a multi-GB CUDA build.
  if ! python -c "import torch" 2>/dev/null; then
    echo "setup: installing ${AMOS_TORCH_SPEC:-torch==2.13.0}"
    python -m pip install -q "${AMOS_TORCH_SPEC:-torch==2.13.0}"
  fi
  echo "setup: installing requirements.txt and the amos_tutorial package (editable)"
  python -m pip install -q -r requirements.txt
  python -m pip install -q --no-deps -e .
  touch "$stamp"
fi
