"""The training loop: data, model, Adam/AdamW with warmup + cosine/step schedule, gradient clipping, AMP (CUDA
only), TensorBoard, atomic checkpoints with exact resume, best checkpoint by SELD error, and DDP (torchrun).

Run folder (``runs/<timestamp>_<name>/``)::

    config.yaml              the full RunConfig (features resolved)
    train.log                the log
    tb/                      TensorBoard events: train/loss, train/lr, val/loss, val/{error_rate, f_score,
                             localization_error_deg, localization_recall, seld_error}, best/seld_error, class-wise
                             scalars, figures and the run's hparams (tags: util/tensorboard_log.py)
    checkpoints/last.pt      written every ``checkpoint_every`` iterations, at the end and on Ctrl-C
    checkpoints/best.pt      lowest validation SELD error so far
    best_scores.json         the scores of best.pt;  summary.json: written when the run has finished
    val/                     the latest validation outputs (npy, CSVs, metrics.json), doa_trajectory.png and
                             classwise.png
    val_history.jsonl        one line of scores per validation

Resume (``seld.py train --resume RUN_DIR_OR_CHECKPOINT``) restores model, optimiser, AMP scaler, iteration, epoch
position and every RNG state, so N iterations straight equal N/2 + resume N/2 (identical weights on CPU).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from feature.base import FeatureConfig, capability, extractor_class, with_official_val_padding
from feature.cache import FeatureCache, default_cache_dir
from feature.extract import CropFeatures, build_feature_cache
from net.adpit import ADPITLoss
from net.spec import InputSpec
from seld_data_loader import (SAMPLING_SCHEMES, SELDWindows, TimeFrequencyMasking, WindowSampler,
                              build_visual_source, make_train_loader, supported_augmentation)
from seld_model import ModelBundle, build_bundle, checkpoint_config, read_checkpoint, write_checkpoint
from util.checkpoint import rng_state, set_rng_state, state_dict_mismatch
from util.cli import add_quiet_argument
from util.config import RunConfig, TrainConfig, config_to_dict, resolve_run_paths, save_config
from util.errors import InputError
from util.fileio import remove_empty_folders, write_text_atomic
from util.layout import DatasetLayout
from util.runtime import DistInfo, barrier, init_distributed, resolve_device
from util.tensorboard_log import log_validation, write_hparams

log = logging.getLogger("seld")


# ----------------------------------------------------------------------------------------------- small helpers
def get_lr(it: int, cfg: TrainConfig) -> float:
    """Learning rate at iteration ``it``: linear warmup, then cosine to ``min_lr_ratio * lr``, step decay or
    constant."""
    if it < cfg.warmup_iters:
        return cfg.lr * (it + 1) / cfg.warmup_iters
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "step":
        return cfg.lr * cfg.gamma ** ((it - cfg.warmup_iters) // max(1, cfg.step_size))
    if cfg.schedule == "cosine":
        span = max(1, cfg.max_iters - cfg.warmup_iters)
        progress = min(1.0, (it - cfg.warmup_iters) / span)
        floor = cfg.min_lr_ratio * cfg.lr
        return floor + 0.5 * (cfg.lr - floor) * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown lr schedule {cfg.schedule!r} (cosine, step, constant)")


def parameter_groups(model: nn.Module, weight_decay: float, decay_all: bool = False) -> list[dict[str, Any]]:
    """Optimiser parameter groups: ``decay_all`` (the AV baseline's Adam) one group, weight decay on every
    parameter; else no decay on tensors of one dimension (biases, normalisation weights)."""
    if decay_all:
        return [{"params": list(model.parameters()), "weight_decay": weight_decay}]
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.dim() < 2 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_run_dir(out_root: str | Path, name: str, info: DistInfo) -> Path:
    """``<out_root>/<UTC timestamp>_<name>``, created by rank 0 and shared with the other ranks."""
    path = [str(Path(out_root) / f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}_{name}")]
    if info.enabled:
        dist.broadcast_object_list(path, src=0)
    run_dir = Path(path[0])
    if info.is_main:
        _mkdir_run_folder(run_dir, exist_ok=False)
    barrier(info)
    return run_dir


def _mkdir_run_folder(run_dir: Path, exist_ok: bool) -> None:
    """``mkdir -p`` of a run folder; InputError naming it when it cannot be made."""
    try:
        run_dir.mkdir(parents=True, exist_ok=exist_ok)
    except FileExistsError:
        raise
    except OSError as exc:
        raise InputError(run_dir, f"cannot create the run folder ({exc.strerror or exc})") from None


class ProgressSafeHandler(logging.Handler):
    """Console handler that writes through ``tqdm.write``: a message clears the progress bar, takes a line of its
    own, and the bar is redrawn below it (a plain StreamHandler glues messages onto the bar's ``\r`` frames)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def setup_logging(run_dir: Path | None, is_main: bool) -> None:
    """Log to the console (between progress-bar frames) and ``run_dir/train.log`` (rank 0 only; one line per
    message, no progress bars)."""
    log.setLevel(logging.INFO if is_main else logging.WARNING)
    log.handlers.clear()
    log.propagate = False
    fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    console = ProgressSafeHandler()
    console.setFormatter(fmt)
    log.addHandler(console)
    if run_dir is not None and is_main:
        fh = logging.FileHandler(run_dir / "train.log")
        fh.setFormatter(fmt)
        log.addHandler(fh)


# ------------------------------------------------------------------------------------------- data and model
def feature_config_of(cfg: RunConfig) -> FeatureConfig:
    """The feature settings of a run: the resolved ``cfg.features`` if present, else name + overrides."""
    if cfg.features:
        return FeatureConfig.from_dict(cfg.features)
    try:
        config = extractor_class(cfg.data.feature).default_config(**cfg.data.feature_overrides)
        config.validate()
    except (TypeError, ValueError) as exc:
        raise InputError(None, f"bad feature setting: {exc}") from exc
    return with_official_val_padding(config, cfg.data.official_val_padding)


def crop_features_of(cfg: RunConfig, cache: FeatureCache, recordings: list) -> CropFeatures | None:
    """Per-crop features of the training windows (``data.official_crop_stft``), else None (cache slices)."""
    if not cfg.data.official_crop_stft:
        return None
    from util.layout import DatasetLayout

    layout = DatasetLayout(cfg.data.data_dir)
    return CropFeatures(cache.feature_config, {r: layout.audio_path(cfg.data.audio_format, r) for r in recordings})


def cache_root(cfg: RunConfig) -> Path:
    """The run's feature-cache root: ``data.cache_dir``, else the default beside the dataset."""
    return Path(cfg.data.cache_dir) if cfg.data.cache_dir else default_cache_dir(cfg.data.data_dir)


def resolve_val_split(cfg: RunConfig) -> str:
    """The split that validates the run and picks its best checkpoint: ``data.val_split``, where ``auto`` means
    ``val`` when the dataset holds validation recordings (the synthetic dataset's dev-val-*, held apart from the
    reported dev-test), else ``test`` (STARSS23 has no validation split: the official practice validates on
    fold4 = dev-test)."""
    if cfg.data.val_split != "auto":
        return cfg.data.val_split
    has_val = bool(DatasetLayout(cfg.data.data_dir).recordings(cfg.data.audio_format, "val"))
    return "val" if has_val else "test"


def open_feature_cache(cfg: RunConfig, info: DistInfo, progress: bool) -> FeatureCache:
    """Build (or reuse: finished files are skipped) the feature cache of the train and validation splits."""
    splits = sorted({cfg.data.train_split, cfg.data.val_split})
    if info.is_main:
        build_feature_cache(cfg.data.data_dir, cfg.data.audio_format, feature_config_of(cfg), cache_dir=cache_root(cfg),
                            workers=max(1, cfg.data.num_workers), splits=splits, progress=progress)
    barrier(info)
    return build_feature_cache(cfg.data.data_dir, cfg.data.audio_format, feature_config_of(cfg),
                               cache_dir=cache_root(cfg), splits=splits, progress=False)


def open_visual_source(cfg: RunConfig, info: DistInfo, progress: bool):
    """The run's visual source (None for ``data.visual == none`` or an audio-only model)."""
    if cfg.data.visual == "none" or cfg.model.audio_only:
        return None
    if info.is_main:
        build_visual_source(cfg.data, cache_root(cfg), progress=progress)
    barrier(info)
    return build_visual_source(cfg.data, cache_root(cfg), progress=False)


def window_frames_of(window_s: float, cache_fps: float, output_hop: int, frames_per_label: int) -> int:
    """Feature frames of a window of ``window_s`` seconds, rounded down to whole output frames and label frames
    when the output is at the label rate."""
    frames = int(round(window_s * cache_fps))
    step = frames_per_label if output_hop == frames_per_label else output_hop
    frames -= frames % step
    if frames <= 0:
        raise InputError(None, f"window of {window_s} s is shorter than one output frame")
    return frames


def input_spec(cache: FeatureCache, cfg: RunConfig, window_frames: int, visual_shape: tuple[int, ...]) -> InputSpec:
    """The network's input sizes from the feature cache and the config."""
    channels, bins = cache.feature_shape
    visual = "none" if not visual_shape else cfg.data.visual
    intensity = capability(cache.feature_config.name, "intensity_channels")
    return InputSpec(audio_channels=channels, audio_bins=bins, window_frames=window_frames,
                     frames_per_label=cache.frames_per_label, visual=visual, visual_shape=tuple(visual_shape),
                     with_distance=cfg.model.with_distance, intensity_channels=tuple(intensity))


class WeightAverage:
    """Exponential moving average of a network's parameters and buffers (``train.ema``): after each step
    ``avg <- d * avg + (1 - d) * weights`` with ``d = min(decay, (1 + n) / (10 + n))`` at update n, so early
    averages are not dominated by the random initialisation. Buffers (batch-norm statistics) are copied."""

    def __init__(self, model: nn.Module, decay: float):
        import copy

        self.decay = float(decay)
        self.model = copy.deepcopy(model).eval()
        self.model.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for avg, p in zip(self.model.parameters(), model.parameters()):
            avg.lerp_(p.detach(), 1.0 - d)
        for avg, b in zip(self.model.buffers(), model.buffers()):
            avg.copy_(b)
        self.updates += 1

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.updates = int(state["updates"])


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


# ----------------------------------------------------------------------------------------------- the trainer
@dataclass
class TrainingData:
    """The data side of a run: feature cache, visual source, training windows with their sampler and loader, and
    the validation recordings."""

    cache: FeatureCache
    visual: Any                 # seld_data_loader visual source, or None
    window_frames: int          # training window in feature frames
    dataset: SELDWindows
    sampler: WindowSampler
    loader: Any                 # torch DataLoader over ``dataset`` drawn by ``sampler``
    val_recs: list


def build_training_data(cfg: RunConfig, cache: FeatureCache, visual, window_frames: int, output_hop: int,
                        info: DistInfo, device: torch.device) -> TrainingData:
    """The training windows of ``cfg`` over ``cache`` (augmentation the features allow, sampler, loader; a batch
    size larger than the windows of a tiny dataset is lowered, in ``cfg``) and the validation recordings."""
    tc = cfg.train
    train_recs = [r for r in cache.recordings(cfg.data.train_split) if cache.has_labels(r)]
    if not train_recs:
        raise InputError(cache.folder, f"no labelled recordings of split {cfg.data.train_split!r}")
    if visual is not None:
        kept = [r for r in train_recs if visual.has(r)]
        if len(kept) < len(train_recs):
            log.warning("%d training recordings without visual input left out", len(train_recs) - len(kept))
        train_recs = kept or train_recs
    val_recs = [r for r in cache.recordings(cfg.data.val_split) if cache.has_labels(r)]
    augment, equalize_db, notes = supported_augmentation(cfg.data, cache.feature_config.name, cache.folder)
    for note in notes:
        log.warning("%s", note)
    dataset = SELDWindows(cache, train_recs, window_frames, output_hop, visual,
                          augment=augment, masking=TimeFrequencyMasking() if cfg.data.masking else None,
                          equalize_db=equalize_db, official_label_offset=cfg.data.official_label_offset,
                          crop_features=crop_features_of(cfg, cache, train_recs))
    if cfg.data.sampling not in SAMPLING_SCHEMES:
        raise InputError(None, f"data.sampling must be one of {', '.join(SAMPLING_SCHEMES)}, "
                               f"got {cfg.data.sampling!r}")
    sampler = WindowSampler(dataset.num_frames, window_frames, cache.frames_per_label, tc.seed, info.rank,
                            info.world_size, dataset.num_augmentations, cfg.data.mix,
                            cfg.data.sampling, crop_step=output_hop)
    if len(sampler) < tc.batch_size:  # (a tiny dataset): the largest batch that fits, said and recorded
        log.info("only %d training windows per rank for batch size %d: training with batch size %d (choose "
                 "another with BATCH_SIZE= in the scripts, --batch-size in seld.py train)", len(sampler),
                 tc.batch_size, len(sampler))
        tc.batch_size = len(sampler)
    loader = make_train_loader(dataset, sampler, tc.batch_size, cfg.data.num_workers, seed=tc.seed,
                               pin_memory=device.type == "cuda")
    return TrainingData(cache, visual, window_frames, dataset, sampler, loader, val_recs)


def build_optimizer(model: nn.Module, tc: TrainConfig) -> torch.optim.Optimizer:
    """Adam or AdamW (``train.optimizer``) over :func:`parameter_groups` of ``model``."""
    groups = parameter_groups(model, tc.weight_decay, tc.decay_all_params)
    if tc.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=tc.lr)
    if tc.optimizer == "adam":
        return torch.optim.Adam(groups, lr=tc.lr)
    raise InputError(None, f"unknown optimizer {tc.optimizer!r} (adam, adamw)")


def build_trainer(cfg: RunConfig, run_dir: Path, info: DistInfo = DistInfo(), resume: dict | None = None,
                  progress: bool = True) -> Trainer:
    """The wiring of a run: device, seeds, validation split, feature cache (``cfg.features`` resolved), visual
    source, model bundle, training data and optimiser, handed to a :class:`Trainer` (which restores ``resume``)."""
    tc = cfg.train
    device = resolve_device(tc.device, info.local_rank)
    if tc.cpu_threads > 0:
        torch.set_num_threads(tc.cpu_threads)
    torch.manual_seed(tc.seed + info.rank)
    np.random.seed((tc.seed + info.rank) % 2**32)

    asked = cfg.data.val_split
    cfg.data.val_split = resolve_val_split(cfg)  # recorded in config.yaml and the checkpoints
    if asked == "auto":
        log.info("validation split (picks the best checkpoint): %s", {
            "val": "val (dev-val-*, held apart from the reported dev-test split)",
            "test": "test (dev-test: this dataset has no validation split; for STARSS23 that is the official "
                    "practice, fold4)"}.get(cfg.data.val_split, cfg.data.val_split))
    cache = open_feature_cache(cfg, info, progress)
    cfg.features = cache.feature_config.to_dict()
    visual = open_visual_source(cfg, info, progress)
    visual_shape = tuple(visual.frame_shape) if visual is not None else ()

    fpl = cache.frames_per_label
    fps = 1.0 / float(cache.meta["frame_shift_s"])
    probe = build_bundle(cfg, input_spec(cache, cfg, fpl, visual_shape), cache.stats).network  # its output hop
    window_frames = window_frames_of(cfg.data.window_s, fps, probe.output_hop, fpl)
    bundle = build_bundle(cfg, input_spec(cache, cfg, window_frames, visual_shape), cache.stats, device)
    data = build_training_data(cfg, cache, visual, window_frames, bundle.network.output_hop, info, device)
    optimizer = build_optimizer(bundle.network, tc)
    return Trainer(cfg, Path(run_dir), bundle, data, optimizer, info, resume, progress)


class Trainer:
    """One training run (see the module docstring) of built objects (:func:`build_trainer` wires them): the model
    bundle, the training data and the optimiser. ``run()`` trains until ``max_iters`` (or ``stop_after``)."""

    def __init__(self, cfg: RunConfig, run_dir: Path, bundle: ModelBundle, data: TrainingData,
                 optimizer: torch.optim.Optimizer, info: DistInfo = DistInfo(), resume: dict | None = None,
                 progress: bool = True):
        self.cfg, self.run_dir, self.info, self.progress = cfg, Path(run_dir), info, progress
        tc = cfg.train
        self.bundle, self.data, self.optimizer = bundle, data, optimizer
        self.device, self.spec = bundle.device, bundle.spec
        self.cache, self.visual, self.val_recs = data.cache, data.visual, data.val_recs
        self.window_frames, self.dataset, self.sampler, self.loader = (data.window_frames, data.dataset,
                                                                       data.sampler, data.loader)
        self.model = bundle.network  # wrapped for DDP below; the bundle keeps the plain network
        self.loss_fn = ADPITLoss(activity_weight=cfg.train.activity_loss).to(self.device)
        self.use_amp = tc.amp and self.device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if self.use_amp and torch.cuda.is_bf16_supported() else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and self.amp_dtype == torch.float16)

        self.ema = WeightAverage(self.model, tc.ema) if tc.ema > 0 else None
        self.iteration, self.epoch, self.batches_in_epoch = 0, 0, 0
        self.losses: list[float] = []  # training loss of every iteration of this session
        self.best: dict[str, Any] = {"SELD": float("inf"), "iteration": -1}
        self._elapsed_before = 0.0  # wall seconds spent in earlier sessions of this run (resume)
        self._session_start = time.monotonic()
        if resume is not None:
            self._load_state(resume)
        if info.enabled:
            self.model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.writer = SummaryWriter(str(self.run_dir / "tb")) if info.is_main else None
        if info.is_main:
            save_config(cfg, self.run_dir / "config.yaml")
            write_hparams(self.writer, config_to_dict(cfg))
            n_params = sum(p.numel() for p in self.model.parameters())
            seconds = self.window_frames * float(self.cache.meta["frame_shift_s"])
            log.info("model %s: %.2f M parameters; input %s; window %d frames (%.2f s); %d training windows per "
                     "epoch; device %s%s", cfg.model.name, n_params / 1e6, self.spec, self.window_frames, seconds,
                     len(self.sampler) * info.world_size, self.device,
                     f" x {info.world_size} ranks" if info.enabled else "")

    # ------------------------------------------------------------------------------------- checkpoints
    def training_state(self) -> dict[str, Any]:
        """The trainer's part of a checkpoint (the bundle writes the model's part): everything needed to resume."""
        return {
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "iteration": self.iteration,
            "epoch": self.epoch,
            "batches_in_epoch": self.batches_in_epoch,
            "rng": rng_state(),
            "best": dict(self.best),
            "elapsed_s": self.elapsed_s,
        }

    def save(self, name: str, rng_of_ranks: list[dict[str, Any]] | None = None) -> Path:
        """Write a checkpoint (rank 0); ``rng_of_ranks`` (from :meth:`rng_of_all_ranks`) lets every rank of a DDP
        run resume its own random stream."""
        path = self.run_dir / "checkpoints" / name
        if self.info.is_main:
            state = self.training_state()
            if rng_of_ranks is not None and self.info.enabled:
                state["rng_ranks"] = rng_of_ranks
            write_checkpoint(path, self.bundle, state)
        return path

    def rng_of_all_ranks(self) -> list[dict[str, Any]]:
        """Every rank's RNG state, in rank order (a collective under DDP: every rank must call it)."""
        own = rng_state()
        if not self.info.enabled:
            return [own]
        states: list[Any] = [None] * self.info.world_size
        dist.all_gather_object(states, own)
        return states

    def _load_state(self, ckpt: dict[str, Any]) -> None:
        mismatch = state_dict_mismatch(self.model.state_dict(), ckpt.get("model") or {})
        if mismatch:
            raise InputError(None, f"checkpoint does not fit this model: {mismatch}")
        try:
            self.model.load_state_dict(ckpt["model"])
            if self.ema is not None:
                if ckpt.get("ema") is None:
                    raise KeyError("no weight average (train.ema) in the checkpoint")
                self.ema.load_state_dict(ckpt["ema"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            if ckpt.get("scaler"):
                self.scaler.load_state_dict(ckpt["scaler"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise InputError(None, f"checkpoint does not fit this model/optimiser: {str(exc).splitlines()[0]}") from exc
        self.iteration = int(ckpt["iteration"])
        self.epoch, self.batches_in_epoch = int(ckpt["epoch"]), int(ckpt["batches_in_epoch"])
        self.best = dict(ckpt.get("best") or self.best)
        self._elapsed_before = float(ckpt.get("elapsed_s", 0.0))
        ranks = ckpt.get("rng_ranks") or []  # DDP: each rank's own stream when the world size is unchanged
        set_rng_state(ranks[self.info.rank] if len(ranks) == self.info.world_size else ckpt["rng"])

    @property
    def elapsed_s(self) -> float:
        """Wall-clock seconds this run has spent training (validation and checkpoints included), over all
        sessions of a resumed run."""
        return self._elapsed_before + time.monotonic() - self._session_start

    # ------------------------------------------------------------------------------------------ the loop
    def _loader(self):
        """The batches of the rest of the current epoch (one persistent DataLoader; the sampler picks the epoch)."""
        self.sampler.set_epoch(self.epoch, skip=self.batches_in_epoch * self.cfg.train.batch_size)
        return self.loader

    def train_step(self, batch: dict[str, torch.Tensor]) -> float:
        """One optimisation step; returns the loss."""
        tc = self.cfg.train
        for group in self.optimizer.param_groups:
            group["lr"] = get_lr(self.iteration, tc)
        audio = batch["audio"].to(self.device, non_blocking=True)
        target = batch["target"].to(self.device, non_blocking=True)
        visual = batch["visual"].to(self.device, non_blocking=True) if "visual" in batch else None
        self.model.train()
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            output = self.model(audio, visual)
        loss = self.loss_fn(output.float(), target)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if tc.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(unwrap(self.model))
        return float(loss.detach())

    def run(self, stop_after: int | None = None) -> dict[str, Any]:
        """Train to ``max_iters`` (or stop after ``stop_after`` iterations in total, saving last.pt)."""
        tc = self.cfg.train
        end = tc.max_iters if stop_after is None else min(tc.max_iters, stop_after)
        bar = tqdm(total=tc.max_iters, initial=self.iteration, desc="train", unit="it",
                   disable=not (self.progress and self.info.is_main), dynamic_ncols=True)
        running, count, t0 = 0.0, 0, time.time()
        self._session_start = time.monotonic()  # the clock counts from here (setup and caches excluded)
        try:
            while self.iteration < end:
                for batch in self._loader():
                    loss = self.train_step(batch)
                    self.losses.append(loss)
                    self.iteration += 1
                    self.batches_in_epoch += 1
                    running, count = running + loss, count + 1
                    bar.update()
                    if self.iteration % tc.log_every == 0 or self.iteration == end:
                        self._log_train(running / count, time.time() - t0, count)
                        bar.set_postfix(loss=f"{running / count:.4f}")
                        running, count, t0 = 0.0, 0, time.time()
                    if self.iteration % tc.val_every == 0 or self.iteration == tc.max_iters:
                        self.validate()
                    if self.iteration % tc.checkpoint_every == 0 or self.iteration == end:
                        self.save("last.pt", self.rng_of_all_ranks())
                    if self.iteration >= end:
                        break
                else:  # the epoch is exhausted
                    self.epoch += 1
                    self.batches_in_epoch = 0
        except KeyboardInterrupt:
            log.info("interrupted at iteration %d; saving checkpoints/last.pt (resume with --resume)", self.iteration)
            self.save("last.pt")  # no collective while ranks may be stopping: rank 0's RNG state only
            raise
        finally:
            bar.close()
            if self.writer is not None:
                self.writer.flush()
        return {"iteration": self.iteration, "best": self.best, "run_dir": str(self.run_dir), "losses": self.losses,
                "model_state": unwrap(self.model).state_dict()}

    def _log_train(self, loss: float, seconds: float, steps: int) -> None:
        lr = self.optimizer.param_groups[0]["lr"]
        if self.writer is not None:
            self.writer.add_scalar("train/loss", loss, self.iteration)
            self.writer.add_scalar("train/lr", lr, self.iteration)
        log.info("it %d  epoch %d  loss %.5f  lr %.2e  %.2f s/it", self.iteration, self.epoch, loss, lr,
                 seconds / max(1, steps))

    def validate(self) -> dict[str, Any] | None:
        """Score the validation split (rank 0), log it and keep the best checkpoint by SELD error."""
        import seld_validator

        result = None
        if self.info.is_main and self.val_recs:
            t0 = time.time()
            model = self.ema.model if self.ema is not None else unwrap(self.model)
            inference = dataclasses.replace(self.cfg.inference, tta=1)  # fast; evaluate / predict may average
            infer = seld_validator.model_inference(model, self.cache, inference, self.window_frames, self.device,
                                                   visual_kind=getattr(self.visual, "kind", "none"),
                                                   amp_dtype=self.amp_dtype if self.use_amp else None)
            result = seld_validator.validate(infer, self.cache, self.val_recs, self.visual, inference,
                                             self.run_dir / "val",
                                             loss=seld_validator.adpit_loss_function(self.loss_fn, self.device))
            scores = {k: result[k] for k in ("ER", "F", "LE", "LR", "SELD")}
            with open(self.run_dir / "val_history.jsonl", "a") as f:
                f.write(json.dumps({"iteration": self.iteration, "minutes": round(self.elapsed_s / 60, 2),
                                    **scores}) + "\n")
            log.info("validation at it %d (%.1f min): ER %.3f  F %.1f%%  LE %.1f  LR %.1f%%  SELD %.4f  (%.1f s)",
                     self.iteration, self.elapsed_s / 60, scores["ER"], 100 * scores["F"], scores["LE"],
                     100 * scores["LR"], scores["SELD"], time.time() - t0)
            if scores["SELD"] < self.best["SELD"]:
                self.best = {**scores, "iteration": self.iteration}
                self.save("best.pt")
                write_text_atomic(self.run_dir / "best_scores.json", json.dumps(self.best, indent=2) + "\n")
            log_validation(self.writer, result, self.iteration, self.best["SELD"], seld_validator.format_result(result))
            result.pop("figure", None)
            result.pop("classwise_figure", None)
        if self.info.enabled:  # every rank keeps the same best record (it is part of the checkpoint)
            box = [self.best]
            dist.broadcast_object_list(box, src=0)
            self.best = box[0]
        return result


# -------------------------------------------------------------------------------------------- entry points
def missing_folders(path: Path) -> list[Path]:
    """``path`` and those of its parents that do not exist yet, outermost first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return list(reversed(missing))


def undo_start(new_folders: list[Path], log_file: Path, log_size: int | None) -> None:
    """After a failed start: close the log file, cut ``train.log`` back to ``log_size`` (remove it when it did not
    exist) and remove the folders this start created (outermost first in ``new_folders``)."""
    for handler in list(log.handlers):
        if isinstance(handler, logging.FileHandler):
            handler.close()
            log.removeHandler(handler)
    if log_size is None:
        log_file.unlink(missing_ok=True)
    elif log_file.is_file():
        os.truncate(log_file, log_size)
    if new_folders:
        shutil.rmtree(new_folders[-1], ignore_errors=True)
        remove_empty_folders(new_folders[:-1])


def resolve_resume(path: str | Path) -> Path:
    """A checkpoint file, or a run folder (its checkpoints/last.pt)."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoints" / "last.pt"
    if not path.is_file():
        raise InputError(path, "no checkpoint to resume from")
    return path


def train(cfg: RunConfig | None, out_root: str | Path = "runs", resume: str | Path | None = None,
          stop_after: int | None = None, progress: bool = True, run_dir: str | Path | None = None,
          max_iters: int | None = None) -> dict[str, Any]:
    """Train a run from a config (new run folder under ``out_root``, or ``run_dir``) or resume one (``resume`` =
    run folder or checkpoint: its config and folder are reused; ``max_iters`` may extend it). Works alone or
    under torchrun (DDP)."""
    ckpt = None
    if resume is not None:
        ckpt_path = resolve_resume(resume)
        ckpt = read_checkpoint(ckpt_path)  # upgraded from older layouts (seld_model.upgrade_checkpoint)
        try:
            cfg = checkpoint_config(ckpt)
        except ValueError as exc:
            raise InputError(ckpt_path, f"checkpoint config does not match this version ({exc})") from exc
        run_dir = ckpt_path.parent.parent
        done, wanted = int(ckpt["iteration"]), cfg.train.max_iters if max_iters is None else max_iters
        if done >= wanted:
            raise InputError(ckpt_path, f"the run has already trained {done} iterations (of {cfg.train.max_iters}); "
                                        f"to train it on, give more: seld.py train --resume {run_dir} --max-iters N "
                                        f"with N > {done}")
    if cfg is None:
        raise ValueError("train() needs a config or a checkpoint to resume")
    resolve_run_paths(cfg)  # absolute dataset / cache paths in config.yaml: evaluate and resume from anywhere
    if max_iters is not None:
        cfg.train.max_iters = max_iters
    info = init_distributed(cfg.train.device)
    new_folders = [] if ckpt is not None else missing_folders(Path(run_dir) if run_dir is not None else Path(out_root))
    if ckpt is not None:
        pass
    elif run_dir is None:
        run_dir = make_run_dir(out_root, cfg.name, info)
        new_folders.append(Path(run_dir))
    else:
        run_dir = Path(run_dir)
        if info.is_main:
            _mkdir_run_folder(run_dir, exist_ok=True)
        barrier(info)
    log_file = Path(run_dir) / "train.log"
    log_size = log_file.stat().st_size if log_file.is_file() else None
    setup_logging(Path(run_dir), info.is_main)
    try:
        trainer = build_trainer(cfg, Path(run_dir), info, resume=ckpt, progress=progress)
    except BaseException as exc:  # a failed start leaves no run folder and no train.log lines behind
        if info.is_main:
            undo_start(new_folders, log_file, log_size)
        if ckpt is not None and isinstance(exc, InputError) and exc.path is None:
            raise InputError(ckpt_path, exc.problem) from exc
        raise
    if ckpt is not None:
        log.info("resumed %s at iteration %d", run_dir, ckpt["iteration"])
    result = trainer.run(stop_after)
    if info.is_main:
        log.info("done: %d iterations; best SELD %.4f at iteration %s; run folder %s", trainer.iteration,
                 trainer.best["SELD"], trainer.best["iteration"], run_dir)
        if trainer.iteration >= cfg.train.max_iters:  # marks a finished run (the scripts skip it)
            write_text_atomic(Path(run_dir) / "summary.json", json.dumps(
                {"iterations": trainer.iteration, "best": trainer.best, "run_dir": str(run_dir)}, indent=2) + "\n")
    return result


# ------------------------------------------------------------------------------------------- seld.py train
#: flag -> config key (section.field) of the common settings; anything else through --set section.key=value
TRAIN_FLAGS: dict[str, str] = {
    "data_dir": "data.data_dir", "format": "data.audio_format", "feature": "data.feature", "visual": "data.visual",
    "cache_dir": "data.cache_dir", "window": "data.window_s", "workers": "data.num_workers", "model": "model.name",
    "max_iters": "train.max_iters", "batch_size": "train.batch_size", "lr": "train.lr", "val_every": "train.val_every",
    "device": "train.device", "seed": "train.seed", "threshold": "inference.threshold",
}


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``seld.py train``."""
    from net import network_names

    parser.add_argument("--config", type=Path, default=None,
                        help="YAML/JSON run config, or the name of a preset in configs/ (e.g. baseline_official: "
                             "the official AV baseline); flags override it")
    parser.add_argument("--name", default=None, help="run name (folder runs/<timestamp>_<name>)")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="root of run folders (default runs)")
    parser.add_argument("--run-dir", type=Path, default=None, help="exact run folder instead of a timestamped one")
    parser.add_argument("--resume", type=Path, default=None, help="run folder or checkpoint to continue")
    parser.add_argument("--data-dir", help="dataset root (STARSS23 layout)")
    parser.add_argument("--format", choices=("foa", "mic", "binaural"), help="audio format")
    parser.add_argument("--feature", help="feature extractor name (see seld.py extract --help)")
    parser.add_argument("--visual", choices=("none", "vectors", "frames"), help="visual input")
    parser.add_argument("--cache-dir", help="feature cache root (default <data-dir>/cache)")
    parser.add_argument("--model", choices=network_names(), help="network")
    parser.add_argument("--audio-only", action="store_true", default=None, help="zero the visual embedding")
    parser.add_argument("--window", type=float, help="training window in seconds")
    parser.add_argument("--max-iters", type=int, help="training iterations")
    parser.add_argument("--batch-size", type=int, help="batch size per process")
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--val-every", type=int, help="validate every N iterations")
    parser.add_argument("--threshold", type=float, help="activity threshold of the decoding")
    parser.add_argument("--workers", type=int, help="DataLoader worker processes")
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="any config value, e.g. --set train.schedule=step --set model.params={gru_hidden: 64}")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="stop (and checkpoint) after N iterations in total")
    parser.add_argument("--print-config", nargs="*", default=None, metavar="KEY",
                        help="print the resolved config (defaults < --config < flags < --set) as YAML and exit without "
                             "training; with KEYs (e.g. data.feature model.name) only their values, one per line")
    add_quiet_argument(parser)
    defaults = config_to_dict(RunConfig())
    for action in parser._actions:  # the config value a flag overrides, as its shown default
        key = TRAIN_FLAGS.get(action.dest)
        if key and "default" not in (action.help or ""):
            section, name = key.split(".")
            action.help = f"{action.help} (default: {defaults[section][name]}, config {key})"


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The run config: defaults < --config file < flags < --set overrides."""
    from util.config import apply_overrides, load_config, resolve_config_path

    cfg = load_config(resolve_config_path(args.config)) if args.config is not None else RunConfig()
    items = [f"{key}={getattr(args, flag)}" for flag, key in TRAIN_FLAGS.items() if getattr(args, flag) is not None]
    if args.audio_only:
        items.append("model.audio_only=true")
    try:
        cfg = apply_overrides(cfg, [i for i in items] + list(args.overrides))
    except ValueError as exc:
        raise InputError(args.config, f"bad setting: {exc}") from exc
    if args.name:
        cfg.name = args.name
    return cfg


def config_text(cfg: RunConfig, keys: list[str]) -> str:
    """``cfg`` as YAML, or with ``keys`` (``section.name``, e.g. ``data.feature``) their values one per line
    (strings as they are, other values as YAML flow); InputError for an unknown key."""
    import yaml

    d = config_to_dict(cfg)
    if not keys:
        return yaml.safe_dump(d, sort_keys=False)
    lines = []
    for key in keys:
        value: object = d
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                raise InputError(None, f"--print-config: unknown config key {key!r} (sections: {', '.join(d)})")
            value = value[part]
        if not isinstance(value, str):  # a YAML flow value: true, 0.0005, {}, [128, 64] (no document end "...")
            value = yaml.safe_dump(value, default_flow_style=True, width=10**6).removesuffix("\n").removesuffix("\n...")
        lines.append(value)
    return "\n".join(lines) + "\n"


def run_train(args: argparse.Namespace) -> int:
    """Train a SELD network (or resume a run); writes a run folder with config, logs, TensorBoard, checkpoints.
    With ``--print-config``: prints the resolved config and returns without training."""
    if args.print_config is not None:
        if args.resume is not None:
            raise InputError(args.resume, "--print-config shows a new run's config; a resumed run keeps its "
                                          "config.yaml")
        sys.stdout.write(config_text(config_from_args(args), args.print_config))
        return 0
    try:
        if args.resume is not None:
            result = train(None, resume=args.resume, stop_after=args.stop_after, progress=not args.quiet,
                           max_iters=args.max_iters)
        else:
            result = train(config_from_args(args), args.out, stop_after=args.stop_after,
                           progress=not args.quiet, run_dir=args.run_dir)
    except KeyboardInterrupt:
        print("interrupted; continue with: seld.py train --resume <run folder>", file=sys.stderr)
        return 130
    if dist.is_initialized():
        dist.destroy_process_group()
    print(f"run folder: {result['run_dir']}")
    return 0
