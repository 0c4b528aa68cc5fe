#!/usr/bin/env bash
# Installs mmcv 2.1.0 (with compiled ops, built from source for the installed torch) and mmdet 3.3.0 into ./.venv,
# so that object_detection.py can run the baseline's YOLOX-tiny detector (backend `yolox-tiny`).
#
# Idempotent: exits at once when mmdet and mmcv's compiled ops already import. The built mmcv wheel is cached in
# ${AVSELD_WHEEL_CACHE:-~/.cache/avseld-wheels}/torch-<version>/ and reused by later runs (a fresh venv then takes
# seconds instead of ~7 minutes of compiling on 2 cores).
#
# Usage: bash script/install_mmdet.sh            (MAX_JOBS=4 bash script/install_mmdet.sh to compile faster)
# Needs: a C++ compiler (g++ >= 10) and the Python headers; CPU only (FORCE_CUDA=0).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.venv
py="$venv/bin/python"
mmcv_version=2.1.0
mmdet_version=3.3.0
mmengine_version=0.10.7

if [[ ! -x "$py" ]]; then
  echo "[install_mmdet] $venv not found: run 'bash script/setup.sh' first" >&2
  exit 1
fi

check() {
  "$py" - <<'EOF' >/dev/null 2>&1
import mmcv, mmdet  # noqa: F401
from mmcv.ops import nms  # noqa: F401  (fails without the compiled ops, e.g. with mmcv-lite)
assert mmcv.__version__ == "2.1.0" and mmdet.__version__ == "3.3.0"
EOF
}

if check; then
  echo "[install_mmdet] mmcv $mmcv_version and mmdet $mmdet_version already installed"
  exit 0
fi

pip_install() { "$py" -m pip install --quiet --disable-pip-version-check "$@"; }

echo "[install_mmdet] build tools and mmengine $mmengine_version"
# setuptools < 81 still ships pkg_resources, which mmcv's setup.py imports.
pip_install 'setuptools>=77,<81' wheel ninja psutil "mmengine==$mmengine_version"

torch_version=$("$py" -c 'import torch; print(torch.__version__)')
cache_root=${AVSELD_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/avseld-wheels}
cache_dir="$cache_root/torch-$torch_version"
mkdir -p "$cache_dir"
wheel=$(ls "$cache_dir"/mmcv-"$mmcv_version"-*.whl 2>/dev/null | head -n 1 || true)

if [[ -z "$wheel" ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  echo "[install_mmdet] downloading the mmcv $mmcv_version source"
  # --no-build-isolation: preparing the sdist's metadata runs mmcv's setup.py, which needs the pinned setuptools
  # (< 81, with pkg_resources) installed above rather than the newest one pip would put in an isolated build env.
  "$py" -m pip download --quiet --disable-pip-version-check --no-deps --no-build-isolation --no-binary :all: \
    "mmcv==$mmcv_version" -d "$work"
  tar -xzf "$work"/mmcv-"$mmcv_version".tar.gz -C "$work"
  src="$work/mmcv-$mmcv_version"
  # Recent torch headers (2.14+) refuse to compile below C++20, while mmcv's setup.py forces -std=c++17.
  torch_include=$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "include"))')
  if grep -q "C++20 or later" "$torch_include/ATen/ATen.h" 2>/dev/null; then
    echo "[install_mmdet] torch $torch_version needs C++20: patching mmcv's setup.py"
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
  fi
  echo "[install_mmdet] compiling mmcv $mmcv_version for torch $torch_version (CPU ops; ~7 min on 2 cores)"
  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-2} \
    "$py" -m pip wheel --disable-pip-version-check --no-build-isolation --no-deps "$src" -w "$work/wheels"
  built=$(ls "$work"/wheels/mmcv-"$mmcv_version"-*.whl | head -n 1)
  # Copy under a temporary name, then rename: a killed run never leaves a half-written wheel in the cache.
  cp "$built" "$cache_dir/.partial.tmp"
  mv "$cache_dir/.partial.tmp" "$cache_dir/$(basename "$built")"
  wheel="$cache_dir/$(basename "$built")"
else
  echo "[install_mmdet] reusing cached $wheel"
fi

echo "[install_mmdet] installing mmcv and mmdet $mmdet_version"
pip_install "$wheel"
pip_install "mmdet==$mmdet_version"

if check; then
  echo "[install_mmdet] done: mmcv $mmcv_version (with ops) and mmdet $mmdet_version import"
else
  echo "[install_mmdet] installed, but 'import mmdet; from mmcv.ops import nms' still fails:" >&2
  "$py" -c 'import mmdet; from mmcv.ops import nms' >&2 || true
  exit 1
fi
