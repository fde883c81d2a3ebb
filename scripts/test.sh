#!/usr/bin/env bash
# Test job: set up the environment (Chromium too, when we may install it), then run the whole test suite:
# unit tests, CLI tests, training/DDP smoke runs, every chapter re-run with pytest-notebook, the book build
# and the rendered pages in headless Chromium. Extra arguments go to pytest (e.g. -m "not slow").
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC1091
. "$repo/scripts/setup_env.sh"
cd "$repo"
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test: installing Debian chromium and chromium-driver for the rendered-book test"
    # apt's chatter (debconf notes) goes to a log that is shown only if the install fails.
    apt_log="$(mktemp)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } >"$apt_log" 2>&1; then
      cat "$apt_log" >&2
      echo "test: installing chromium failed (see above)" >&2
      exit 1
    fi
    rm -f "$apt_log"
  else
    echo "test: chromium/chromedriver not found and not root: the browser test will be skipped (install Debian's chromium chromium-driver)"
  fi
fi
# Tests use their own data cache (synthetic set, preprocessed volumes, chapter runs) inside the checkout:
# they neither depend on nor touch the user's ~/.cache/amos_tutorial.
export AMOS_CACHE_DIR="${AMOS_CACHE_DIR:-$repo/.amos_cache}"
# One thread per process: two pytest workers share the two cores.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
python -m pytest -n "${AMOS_TEST_WORKERS:-2}" --dist loadgroup "$@"
