#!/usr/bin/env bash
# MIC (tetrahedral array) audio-visual SELD: logmel + GCC-PHAT, Gaussian person vectors, seldnet.
# Usage: bash script/train_seld_mic.sh        (FEATURE=salsalite for SALSA-lite; see docs/TRAINING.md)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NAME=${NAME:-mic_${MODEL:-seldnet}}
run_recipe mic  # configs/mic.yaml (RECIPE=NAME for another preset)
