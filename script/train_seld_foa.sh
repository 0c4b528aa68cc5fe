#!/usr/bin/env bash
# FOA audio-visual SELD: logmel + intensity vectors (20 ms hop), Gaussian person vectors, seldnet.
# Usage: bash script/train_seld_foa.sh        (DATA_DIR=/path/to/STARSS23 MAX_ITERS=20000 ... to override;
# MODEL=avcrnn FEATURE=amp_phasediff for the official AV baseline: preset configs/baseline_official.yaml, see
# docs/TRAINING.md "Baseline recipe"; RECIPE=NAME for another preset)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NAME=${NAME:-foa_${MODEL:-seldnet}}
run_recipe foa  # configs/foa.yaml (RECIPE=NAME for another preset)
