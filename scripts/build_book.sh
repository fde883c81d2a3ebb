#!/usr/bin/env bash
# Build the executed book on the synthetic mini-AMOS set.
#
#   scripts/build_book.sh [OUTDIR]        (default OUTDIR: _build; the HTML lands in OUTDIR/html, the executed
#                                          chapters in OUTDIR/executed)
#
# Every chapter is executed (AMOS_SMOKE=1: the small CPU version of each chapter); the build fails
# on any cell error, on any Sphinx warning (-W) and on a missing page. Assumes the project's venv is
# active. AMOS_BOOK_SOURCE (default: the repository root) builds another book folder with the same
# rules; the tests use it to check that a broken notebook fails the build.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source_dir="${AMOS_BOOK_SOURCE:-$repo}"
out="${1:-_build}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

command -v jupyter-book >/dev/null 2>&1 || { echo "build_book: jupyter-book not found: activate the venv (scripts/setup_env.sh)" >&2; exit 2; }
[ -f "$source_dir/_config.yml" ] && [ -f "$source_dir/_toc.yml" ] || { echo "build_book: $source_dir: no _config.yml/_toc.yml" >&2; exit 2; }

export AMOS_SMOKE="${AMOS_SMOKE:-1}"
# Pages must never depend on an interactive widget.
export AMOS_VIEWER=static
# Kernels must draw inline; an inherited MPLBACKEND (e.g. Agg from a test run) would hide figures.
unset MPLBACKEND
export PYDEVD_DISABLE_FILE_VALIDATION=1

stage="$out/.jupyter_book"
rm -rf "$stage" "$out/html"
start=$(date +%s)
# -W: warnings (including "Executing notebook failed") are errors; --keep-going reports them all.
# nb_execution_raise_on_error in _config.yml makes a failing cell abort the build as well.
if ! jupyter-book build "$source_dir" --path-output "$stage" -W -n --keep-going --quiet; then
  echo "build_book: FAILED: see the errors above (a failing cell shows its traceback)" >&2
  exit 1
fi
mv "$stage/_build/html" "$out/html"
# The executed chapters (with their glued values) feed the Colab edition: amos book colab OUT --executed OUTDIR/executed
rm -rf "$out/executed"
if [ -d "$stage/_build/jupyter_execute" ]; then mv "$stage/_build/jupyter_execute" "$out/executed"; fi
rm -rf "$stage"
[ -f "$out/html/index.html" ] || { echo "build_book: $out/html/index.html missing" >&2; exit 1; }
echo "build_book: built in $(( $(date +%s) - start )) s"
echo "build_book: open $out/html/index.html"
