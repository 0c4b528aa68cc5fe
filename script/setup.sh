#!/usr/bin/env bash
# Creates ./.venv and installs requirements.txt (or the requirements file given, e.g. requirements-test.txt, which
# includes it) into it. Idempotent: a second run only checks a stamp.
# Usage: bash script/setup.sh [requirements-test.txt]   (PYTHON=python3.12 bash script/setup.sh to choose the interpreter)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

requirements=${1:-requirements.txt}
if [[ ! -f "$requirements" ]]; then
  echo "[setup] error: $requirements: no such requirements file" >&2
  exit 1
fi
venv=.venv
stamp="$venv/.requirements.sha256"
# the stamp hashes every requirements file installed so far (requirements-test.txt includes requirements.txt): a
# plain setup after the test setup installs nothing new and keeps the test stamp
want=$(cat requirements.txt "$requirements" | sha256sum | cut -d' ' -f1)
test_want=$(cat requirements.txt requirements-test.txt | sha256sum | cut -d' ' -f1)

if [[ -f "$stamp" && -x "$venv/bin/python" ]] && { [[ "$(cat "$stamp")" == "$want" ]] ||
     [[ "$requirements" == requirements.txt && "$(cat "$stamp")" == "$test_want" ]]; }; then
  exit 0
fi

python_bin=${PYTHON:-}
if [[ -z "$python_bin" ]]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python_bin=$candidate; break; fi
  done
fi
# torch with its CUDA libraries makes the environment ~6.5 GB on x86_64; a full disk would otherwise stop pip half way
# with "No space left on device". SETUP_MIN_FREE_GB=0 skips the check.
min_free_gb=${SETUP_MIN_FREE_GB:-7}
free_gb=$(df -Pk . | awk 'NR == 2 {printf "%d", $4 / 1048576}')
if [[ ! -d "$venv/lib" ]] && (( free_gb < min_free_gb )); then
  echo "[setup] error: only ${free_gb} GB free on the disk holding $(pwd); the virtual environment needs about" \
       "${min_free_gb} GB (free space, or set SETUP_MIN_FREE_GB to lower the check)" >&2
  exit 1
fi
echo "[setup] creating $venv with $python_bin and installing $requirements (about a minute on first run)"
[[ -x "$venv/bin/python" ]] || "$python_bin" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null
"$venv/bin/python" -m pip install --quiet -r "$requirements" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
echo "$want" > "$stamp"
echo "[setup] done"
