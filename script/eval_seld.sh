#!/usr/bin/env bash
# Evaluate a trained run (or checkpoint) on dev-test and print the metrics table.
# Usage: bash script/eval_seld.sh RUN_DIR_OR_CHECKPOINT [MORE ...]   (DATA_DIR as for training; unset = synthetic
# PRESET). Several run folders / checkpoints are evaluated as one ensemble (into <first run>/eval_ensemble<N>).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [[ $# -lt 1 ]]; then
  echo "usage: bash script/eval_seld.sh RUN_DIR_OR_CHECKPOINT [MORE ...]" >&2
  exit 2
fi
stage_setup
stage_dataset
stage_evaluate "$@"
