#!/usr/bin/env bash
# FOA audio-visual SELD with a ViT over 10 fps video frames (av_vit) instead of person vectors.
# Usage: bash script/train_seld_vit.sh        (see docs/TRAINING.md)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NAME=${NAME:-foa_av_vit}
run_recipe vit  # configs/vit.yaml (RECIPE=NAME for another preset)
