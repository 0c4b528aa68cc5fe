#!/usr/bin/env bash
# Stage functions shared by script/train_seld_{foa,mic,bin,vit}.sh and script/eval_seld.sh (sourced, not run).
# Every stage is cached: a second run skips finished work (the tools themselves skip finished files; the
# training stage resumes an unfinished run and skips a finished one).
#
# Environment overrides (defaults in brackets):
#   DATA_DIR      STARSS23-layout dataset; unset -> synthesise data/synthetic_${PRESET} [unset] (eval_seld.sh:
#                 unset -> the dataset the run was trained on)
#   PRESET        synthetic dataset preset: tiny | small | full [small]
#   CACHE_DIR     feature / visual caches [${DATA_DIR}/cache]
#   RUN_ROOT      root of run folders [runs]
#   NAME          run name; runs/<timestamp>_${NAME} [per script]
#   MAX_ITERS, BATCH_SIZE, LR, WINDOW, VAL_EVERY, DEVICE, WORKERS, SEED, MODEL, FEATURE, THRESHOLD
#   RECIPE        the run preset configs/${RECIPE}.yaml that the training stage starts from (flags above still
#                 override it); none = no preset [baseline_official when MODEL=avcrnn FEATURE=amp_phasediff, else the
#                 script's own: foa | mic | binaural | vit]
#   FORMAT, VISUAL  audio format and visual input instead of the recipe's
#   TTA           test-time augmentation of the evaluation stage: 1, 4, 8 or 16 FOA transforms [checkpoint's]
#   SPLIT         split the evaluation stage reports: test | val | train [the run's data.test_split, test]
#   CPU_THREADS   torch CPU threads [1 on machines without CUDA, else torch's default]
#   TRAIN_ARGS    extra arguments for `seld.py train` (e.g. "--set model.params={gru_hidden: 128}") [empty]
#   DETECTOR, DETECTOR_WEIGHTS   person detector for STARSS23 videos without detections_dev [object_detection.py's
#                 default, detection.base.DEFAULT_DETECTOR]
#   TORCHRUN_NPROC  >1: train with torchrun on that many processes (DDP) [1]
#   ENSEMBLE      >1: train that many models at once (seeds SEED, SEED+1, ...; runs *_${NAME}_m<k>) and evaluate
#                 them as an ensemble (seld.py evaluate with several checkpoints) [1]
set -euo pipefail

SELD_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$SELD_ROOT"
PY="$SELD_ROOT/.venv/bin/python"

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# copy stdin to stdout unchanged (progress bars and all) and append it to file $1 as plain lines: of every line,
# only what follows its last carriage return (a progress bar's final frame, or the message written after it)
tee_log() {  # FILE
  "$PY" -u -c '
import sys
out, rest = sys.stdout.buffer, b""
with open(sys.argv[1], "ab") as log:
    while chunk := sys.stdin.buffer.read1(65536):
        out.write(chunk)
        out.flush()
        *lines, rest = (rest + chunk).split(b"\n")
        log.writelines(line.rsplit(b"\r", 1)[-1] + b"\n" for line in lines)
        log.flush()
    if rest.rsplit(b"\r", 1)[-1].strip():
        log.write(rest.rsplit(b"\r", 1)[-1] + b"\n")
' "$1"
}

# stage 0: the environment
stage_setup() {
  bash script/setup.sh
}

# true when $DATA_DIR/synthesis.json was written by the current generator version (an older one is remade)
synthetic_dataset_current() {
  "$PY" - "$DATA_DIR/synthesis.json" <<'PYEOF'
import json, sys
from synth.dataset import GENERATOR_VERSION
made = json.load(open(sys.argv[1])).get("generator_version")
if made != GENERATOR_VERSION:
    print(f"dataset: {sys.argv[1]} is from generator version {made}, current is {GENERATOR_VERSION}: remaking it")
    sys.exit(1)
PYEOF
}

# stage 1: the dataset (synthetic small preset unless DATA_DIR points at STARSS23)
stage_dataset() {
  if [[ -z "${DATA_DIR:-}" ]]; then
    PRESET=${PRESET:-small}
    DATA_DIR="data/synthetic_${PRESET}"
    if [[ -f "$DATA_DIR/synthesis.json" && -d "$DATA_DIR/metadata_dev" ]] && synthetic_dataset_current; then
      log "dataset: $DATA_DIR exists (synthetic, preset $PRESET, scenes $("$PY" -c 'import json, sys
print(json.load(open(sys.argv[1])).get("scene_source", "unknown"))' "$DATA_DIR/synthesis.json")); skipped"
    else
      log "dataset: synthesising preset $PRESET into $DATA_DIR"
      "$PY" synthesize_dataset.py --out "$DATA_DIR" --preset "$PRESET"
    fi
  else
    [[ -d "$DATA_DIR" ]] || { echo "error: DATA_DIR=$DATA_DIR is not a folder" >&2; exit 2; }
    log "dataset: $DATA_DIR"
  fi
  CACHE_DIR=${CACHE_DIR:-$DATA_DIR/cache}
  export DATA_DIR CACHE_DIR
}

# stage 2 (binaural only): render foa_dev to binaural_dev
stage_binaural() {
  if [[ -d "$DATA_DIR/binaural_dev" && $(find "$DATA_DIR/binaural_dev" -name '*.wav' | wc -l) -ge \
        $(find "$DATA_DIR/foa_dev" -name '*.wav' | wc -l) ]]; then
    log "binaural: $DATA_DIR/binaural_dev complete; skipped"
  else
    log "binaural: rendering foa_dev -> binaural_dev"
    "$PY" wav_convertor.py --data-dir "$DATA_DIR"
  fi
}

# stage 3: features and ADPIT labels into the cache (finished files are skipped)
stage_features() {  # FORMAT FEATURE
  log "features: $2 of $1 audio"
  "$PY" seld.py extract --data-dir "$DATA_DIR" --format "$1" --feature "$2" --cache-dir "$CACHE_DIR" \
    --workers "${WORKERS:-2}"
}

# stage 4: visual inputs: person detections (STARSS23 without detections_dev) -> Gaussian vectors, or frames.
# The caches themselves are filled (once) by the training stage from detections_dev / video_dev.
stage_visual() {  # none | vectors | frames
  case "$1" in
    none) log "visual: none" ;;
    vectors)
      if [[ -d "$DATA_DIR/detections_dev" ]]; then
        log "visual: detections in $DATA_DIR/detections_dev"
      else
        log "visual: running the person detector over $DATA_DIR/video_dev"
        "$PY" object_detection.py --data-dir "$DATA_DIR" --split all ${DETECTOR:+--backend "$DETECTOR"} \
          ${DETECTOR_WEIGHTS:+--weights "$DETECTOR_WEIGHTS"}
      fi ;;
    frames)
      [[ -d "$DATA_DIR/video_dev" ]] || { echo "error: $DATA_DIR/video_dev not found (frames need videos)" >&2; exit 2; }
      log "visual: video frames from $DATA_DIR/video_dev (decoded once into the frame cache)" ;;
    *) echo "error: unknown visual input $1" >&2; exit 2 ;;
  esac
}

# the newest run folder named *_$NAME whose config trained on $DATA_DIR (empty if none): seld.py runs latest
latest_run() {
  "$PY" seld.py runs latest --out "$RUN_ROOT" --name "$NAME" --data-dir "$DATA_DIR"
}

# the run preset of the training stage: $RECIPE, or baseline_official for the AV baseline's network and features,
# else DEFAULT (the script's own preset; none = no preset)
recipe_of() {  # MODEL FEATURE [DEFAULT]
  if [[ -n "${RECIPE:-}" ]]; then
    echo "$RECIPE"
  elif [[ "$1" == avcrnn && "$2" == amp_phasediff ]]; then
    echo baseline_official
  else
    echo "${3:-none}"
  fi
}

# the settings of a recipe (configs/$1.yaml, or the defaults for none) with the FEATURE / MODEL / VISUAL / FORMAT
# overrides, resolved by seld.py train --print-config: prints "FORMAT FEATURE MODEL VISUAL"
recipe_settings() {  # RECIPE
  local -a preset=()
  if [[ "$1" != none ]]; then preset=(--config "$1"); fi
  "$PY" seld.py train "${preset[@]}" ${FORMAT:+--format "$FORMAT"} ${FEATURE:+--feature "$FEATURE"} \
    ${MODEL:+--model "$MODEL"} ${VISUAL:+--visual "$VISUAL"} \
    --print-config data.audio_format data.feature model.name data.visual | paste -sd' '
}

# stage 5: training; sets RUN_DIR. Resumes the latest unfinished run of this NAME on this dataset, skips a
# finished one.
stage_train() {  # FORMAT FEATURE MODEL VISUAL
  local format=$1 feature=$2 model=$3 visual=$4 latest
  RUN_ROOT=${RUN_ROOT:-runs}
  latest=$(latest_run)
  local -a launch=("$PY")
  if [[ "${TORCHRUN_NPROC:-1}" -gt 1 ]]; then
    launch=("$SELD_ROOT/.venv/bin/torchrun" --standalone --nproc_per_node "$TORCHRUN_NPROC")
  fi
  if [[ -n "$latest" && -f "$latest/summary.json" ]]; then
    RUN_DIR=$latest
    local trained
    trained=$("$PY" seld.py runs iterations "$RUN_DIR")
    if [[ -n "${MAX_ITERS:-}" && "$MAX_ITERS" -gt "$trained" ]]; then
      log "train: $RUN_DIR has finished after $trained iterations, fewer than MAX_ITERS=$MAX_ITERS; skipped. To train" \
          "it on to $MAX_ITERS: .venv/bin/python seld.py train --resume $RUN_DIR --max-iters $MAX_ITERS (or set NAME" \
          "to train a new run)"
    else
      log "train: $RUN_DIR has finished ($trained iterations); skipped (remove it or set NAME to train again)"
    fi
  elif [[ -n "$latest" && -f "$latest/checkpoints/last.pt" ]]; then
    RUN_DIR=$latest
    log "train: resuming $RUN_DIR"
    "${launch[@]}" seld.py train --resume "$RUN_DIR" ${MAX_ITERS:+--max-iters "$MAX_ITERS"} 2>&1 | tee_log "$RUN_DIR/stdout.log"
  else
    RUN_DIR="$RUN_ROOT/$(date -u +%Y%m%d-%H%M%S)_$NAME"
    mkdir -p "$RUN_DIR"
    local threads=${CPU_THREADS:-}
    if [[ -z "$threads" ]]; then
      threads=$("$PY" -c 'import torch; print(0 if torch.cuda.is_available() else 1)')
    fi
    local recipe
    recipe=$(recipe_of "$model" "$feature")
    local -a preset=()
    if [[ "$recipe" != none ]]; then preset=(--config "$recipe"); fi
    log "train: $model on $feature ($format), visual $visual, recipe $recipe -> $RUN_DIR"
    # shellcheck disable=SC2086
    "${launch[@]}" seld.py train "${preset[@]}" --run-dir "$RUN_DIR" --name "$NAME" --data-dir "$DATA_DIR" --cache-dir "$CACHE_DIR" \
      --format "$format" --feature "$feature" --model "$model" --visual "$visual" \
      --set "train.cpu_threads=$threads" \
      ${MAX_ITERS:+--max-iters "$MAX_ITERS"} ${BATCH_SIZE:+--batch-size "$BATCH_SIZE"} ${LR:+--lr "$LR"} \
      ${WINDOW:+--window "$WINDOW"} ${VAL_EVERY:+--val-every "$VAL_EVERY"} ${DEVICE:+--device "$DEVICE"} \
      ${WORKERS:+--workers "$WORKERS"} ${SEED:+--seed "$SEED"} ${THRESHOLD:+--threshold "$THRESHOLD"} \
      ${TRAIN_ARGS:-} 2>&1 | tee_log "$RUN_DIR/stdout.log"
  fi
  export RUN_DIR
}

# stage 5 with ENSEMBLE=K > 1: K members trained at the same time (seeds SEED .. SEED+K-1, one CPU thread each on
# a CPU machine), each cached / resumed like a single run; sets RUN_DIRS (and RUN_DIR = the first member).
stage_train_ensemble() {  # FORMAT FEATURE MODEL VISUAL
  local k base_name=$NAME base_seed=${SEED:-1234} dirs pids=() failed=0
  RUN_ROOT=${RUN_ROOT:-runs}
  dirs=$(mktemp -d)
  for ((k = 0; k < ENSEMBLE; k++)); do
    (
      NAME="${base_name}_m$k" SEED=$((base_seed + k))
      if [[ $k -gt 0 ]]; then exec >/dev/null; fi  # one progress bar in the terminal; every member has its stdout.log
      stage_train "$@"
      echo "$RUN_DIR" > "$dirs/$k"
    ) &
    pids+=($!)
  done
  for k in "${!pids[@]}"; do wait "${pids[$k]}" || failed=1; done
  [[ $failed -eq 0 ]] || { echo "error: an ensemble member failed to train (see its stdout.log)" >&2; exit 1; }
  RUN_DIRS=()
  for ((k = 0; k < ENSEMBLE; k++)); do RUN_DIRS+=("$(cat "$dirs/$k")"); done
  rm -rf "$dirs"
  RUN_DIR=${RUN_DIRS[0]}
  export RUN_DIR
}

# stage 6: evaluation of the best checkpoint on the run's test split (dev-test); prints the metrics table. The
# dataset, split and cache are the run's own (its config.yaml) unless DATA_DIR / PRESET, SPLIT or CACHE_DIR say
# otherwise. `seld.py evaluate --cached` reuses eval/metrics.json only when eval/evaluation.json shows the same
# checkpoint contents, dataset files, split and inference settings. Several run folders or checkpoints: evaluated
# as one ensemble, into <first run>/eval_ensemble<N>.
stage_evaluate() {  # [RUN_DIR or checkpoint ...]
  local targets=("$@") target out ckpts=()
  [[ ${#targets[@]} -gt 0 ]] || targets=("$RUN_DIR")
  for target in "${targets[@]}"; do
    if [[ -f "$target" ]]; then ckpts+=("$target"); else ckpts+=("$target/checkpoints/best.pt"); fi
  done
  target=${targets[0]}
  if [[ -f "$target" ]]; then out="$(dirname "$(dirname "$target")")/eval"; else out="$target/eval"; fi
  [[ ${#ckpts[@]} -eq 1 ]] || out="${out}_ensemble${#ckpts[@]}"
  out="$out${TTA:+_tta$TTA}"
  for target in "${ckpts[@]}"; do
    [[ -f "$target" ]] || { echo "error: no checkpoint $target" >&2; exit 2; }
  done
  log "evaluate: ${ckpts[*]} on ${DATA_DIR:-the dataset of the run} (split ${SPLIT:-test split of the run}) -> $out"
  "$PY" seld.py evaluate --cached --checkpoint "${ckpts[@]}" ${DATA_DIR:+--data-dir "$DATA_DIR"} \
    ${CACHE_DIR:+--cache-dir "$CACHE_DIR"} ${SPLIT:+--split "$SPLIT"} --out "$out" ${DEVICE:+--device "$DEVICE"} \
    ${THRESHOLD:+--threshold "$THRESHOLD"} ${TTA:+--tta "$TTA"} | tee "$out.log"
}

# the whole recipe of one training script: the preset RECIPE (default: the script's own, configs/<DEFAULT>.yaml;
# baseline_official for MODEL=avcrnn FEATURE=amp_phasediff) with the FORMAT / FEATURE / MODEL / VISUAL overrides
run_recipe() {  # DEFAULT_RECIPE
  local format feature model visual
  stage_setup
  RECIPE=$(recipe_of "${MODEL:-}" "${FEATURE:-}" "$1")
  export RECIPE
  read -r format feature model visual < <(recipe_settings "$RECIPE")
  [[ -n "$visual" ]] || { echo "error: could not resolve the settings of recipe $RECIPE" >&2; exit 2; }
  NAME=${NAME:-${RECIPE}}
  stage_dataset
  if [[ "$format" == binaural ]]; then stage_binaural; fi
  stage_features "$format" "$feature"
  stage_visual "$visual"
  if [[ "${ENSEMBLE:-1}" -gt 1 ]]; then
    stage_train_ensemble "$format" "$feature" "$model" "$visual"
    stage_evaluate "${RUN_DIRS[@]}"
    log "done: run folders ${RUN_DIRS[*]} (tensorboard --logdir $RUN_ROOT)"
  else
    stage_train "$format" "$feature" "$model" "$visual"
    stage_evaluate "$RUN_DIR"
    log "done: run folder $RUN_DIR (tensorboard --logdir $RUN_DIR/tb)"
  fi
}
