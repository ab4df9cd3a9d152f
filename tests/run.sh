#!/usr/bin/env bash
# Sets up everything the tests need on a fresh machine, then runs the whole suite.
# Usage: bash tests/run.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
if [[ ! -x $VENV/bin/python ]]; then
  python3 -m venv "$VENV"
fi
# uv installs in seconds rather than minutes, but ignores pip's configuration:
# hand it the same find-links directory (where the local torch wheel lives).
"$VENV/bin/python" -m pip install -q --disable-pip-version-check uv
find_links=()
for dir in $("$VENV/bin/python" -m pip config list 2>/dev/null | sed -n "s/.*find-links='\(.*\)'/\1/p" | sort -u); do
  find_links+=(--find-links "$dir")
done
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --compile-bytecode "${find_links[@]}" \
  -r requirements.txt -r tests/requirements.txt -e .

# The browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
if ! command -v chromium >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
      || echo "warning: could not install chromium; browser tests will be skipped" >&2
  else
    echo "warning: chromium is not installed; browser tests will be skipped" >&2
  fi
fi

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec "$VENV/bin/python" -m pytest tests -ra --timeout=900 "$@"
