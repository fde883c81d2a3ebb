#!/usr/bin/env bash
# Main job: set up the environment, then build the executed book on synthetic mini-AMOS.
# Fails on any cell error. Output: _build/html/index.html
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
. "$repo/scripts/setup_env.sh"
cd "$repo"
bash scripts/build_book.sh "${1:-_build}"
