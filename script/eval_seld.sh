#!/usr/bin/env bash
# Evaluate a trained run (or checkpoint) on its test split (dev-test) and print the metrics table.
# Usage: bash script/eval_seld.sh RUN_DIR_OR_CHECKPOINT [MORE ...]
# The dataset, split, audio format and feature settings are the run's own (its saved config); DATA_DIR=... (or
# PRESET=... for a synthetic preset), SPLIT=val|test|train, CACHE_DIR=..., TTA, THRESHOLD override them. A table
# is reused only for the same checkpoint contents, dataset files, split and inference settings. Several run
# folders / checkpoints are evaluated as one ensemble (into <first run>/eval_ensemble<N>).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [[ $# -lt 1 ]]; then
  echo "usage: bash script/eval_seld.sh RUN_DIR_OR_CHECKPOINT [MORE ...]" >&2
  exit 2
fi
stage_setup
if [[ -n "${DATA_DIR:-}" || -n "${PRESET:-}" ]]; then
  stage_dataset  # the dataset asked for (a synthetic PRESET is made when missing)
fi
stage_evaluate "$@"
