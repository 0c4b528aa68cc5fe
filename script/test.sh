#!/usr/bin/env bash
# Sets everything up (./.venv) and runs the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash script/setup.sh requirements-test.txt
exec .venv/bin/python -m pytest "$@"
