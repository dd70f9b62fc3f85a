#!/usr/bin/env bash
# Set up everything, then run the whole test suite (GUI tests on a virtual display).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
unset QT_QPA_PLATFORM  # offscreen has no OpenGL here; tests/conftest.py starts Xvfb
timeout 1500 .venv/bin/python -m pytest -q -ra --timeout=300 "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "[test] pytest collected no tests: treating as a failure" >&2
  exit 1
fi
exit "$rc"
