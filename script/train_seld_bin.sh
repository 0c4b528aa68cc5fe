#!/usr/bin/env bash
# Binaural audio-visual SELD: FOA rendered to binaural (wav_convertor.py), logmel + ILD/IPD, person vectors.
# Usage: bash script/train_seld_bin.sh        (see docs/TRAINING.md)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NAME=${NAME:-bin_${MODEL:-seldnet}}
run_recipe binaural  # configs/binaural.yaml (RECIPE=NAME for another preset)
