"""The model bundle: a network with everything needed to run it (input spec, feature config and training feature
statistics, inference config, the network's resolved settings), and the one reader and writer of checkpoints.

Three doors: :func:`build_bundle` (training: from a run config), :func:`load_bundle` (evaluate, predict, resume
and the official importer: from a checkpoint of this project or an official AV-baseline state_dict) and
:func:`write_checkpoint`. ``util/checkpoint.py`` keeps the low-level safe ``torch.load`` and the atomic save.

Checkpoint layout, version :data:`CHECKPOINT_VERSION` (a dict of plain types and tensors)::

    format          util.checkpoint.CHECKPOINT_FORMAT (the file type)
    version         2
    config          the RunConfig as a dict; ``features`` is the resolved feature config, ``model.params`` holds
                    the network's resolved settings (``network.settings()``: e.g. the direction head "auto" chose)
    input_spec      the net.spec.InputSpec fields
    feature_stats   {"mean": (C, F) tensor, "std": (C, F) tensor}: the training feature statistics
    model           the network's state_dict
    ...             the trainer's own state (ema, optimizer, scaler, iteration, epoch, batches_in_epoch, rng,
                    rng_ranks, best, elapsed_s: seld_trainer.py), read back on resume

Files without ``version`` (version 1, written before the bundle) are brought up to date by
:func:`upgrade_checkpoint`, the one place that knows older layouts.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from feature.base import FeatureConfig, build_extractor, extractor_class, with_official_val_padding
from net import build_model
from net.avcrnn import OFFICIAL_NAMES, from_official_state_dict, is_official_state_dict
from net.spec import InputSpec
from util.checkpoint import load_checkpoint, read_state_dict, save_checkpoint
from util.config import InferenceConfig, RunConfig, config_from_dict, config_to_dict, load_config, resolve_config_path
from util.conventions import NUM_CLASSES, VISUAL_NUM_BOXES, VISUAL_NUM_POINTS
from util.errors import InputError

#: Layout version written by :func:`write_checkpoint` (files without a version are version 1).
CHECKPOINT_VERSION: int = 2


@dataclass
class ModelBundle:
    """A network with everything needed to run it on new audio (rebuilt from its checkpoint alone)."""

    network: nn.Module
    config: RunConfig          # features (resolved), inference settings and model.params (the resolved settings)
    spec: InputSpec
    mean: np.ndarray           # (C, F) training feature statistics
    std: np.ndarray
    device: torch.device = torch.device("cpu")

    @property
    def frames_per_label(self) -> int:
        return self.spec.frames_per_label

    @property
    def window_frames(self) -> int:
        """The training window in feature frames."""
        return self.spec.window_frames

    @property
    def feature_config(self) -> FeatureConfig:
        return FeatureConfig.from_dict(self.config.features)

    @property
    def feature_name(self) -> str:
        return str(self.config.features.get("name", ""))

    @property
    def frame_shift_s(self) -> float:
        """Seconds per feature frame."""
        feat = self.feature_config
        return feat.hop_length / feat.sample_rate

    @property
    def inference(self) -> InferenceConfig:
        return self.config.inference

    def settings(self) -> dict[str, Any]:
        """The network's resolved settings (what its constructor chose for options left open)."""
        return self.network.settings()


def _build_network(cfg: RunConfig, spec: InputSpec) -> nn.Module:
    """``cfg.model``'s network sized by ``spec``; ValueError / TypeError for settings it does not take."""
    return build_model(cfg.model.name, spec, cfg.model.audio_only, cfg.model.params)


def build_bundle(cfg: RunConfig, spec: InputSpec, stats: tuple[np.ndarray, np.ndarray],
                 device: str | torch.device = "cpu") -> ModelBundle:
    """A new (untrained) bundle for training: ``cfg.model``'s network for ``spec``, told the training feature
    statistics ``stats`` (mean, std); its resolved settings are recorded in ``cfg.model.params`` (so config.yaml
    and the checkpoints name them). InputError when the network does not take the settings."""
    try:
        network = _build_network(cfg, spec)
    except (TypeError, ValueError) as exc:
        raise InputError(None, f"cannot build network {cfg.model.name!r}: {exc}") from exc
    cfg.model.params.update(network.settings())
    mean, std = (np.asarray(s) for s in stats)
    network.set_feature_stats(mean, std)
    device = torch.device(device)
    return ModelBundle(network.to(device), cfg, spec, mean, std, device)


def checkpoint_payload(bundle: ModelBundle, training: dict[str, Any] | None = None,
                       weights: dict[str, torch.Tensor] | None = None) -> dict[str, Any]:
    """The checkpoint dict of ``bundle`` (layout: module docstring) with the trainer's ``training`` state;
    ``weights`` replaces the network's own state_dict (a DDP-wrapped copy's, say)."""
    return {
        "version": CHECKPOINT_VERSION,
        "config": config_to_dict(bundle.config),
        "input_spec": dataclasses.asdict(bundle.spec),
        "feature_stats": {"mean": torch.from_numpy(np.array(bundle.mean)),
                          "std": torch.from_numpy(np.array(bundle.std))},
        "model": bundle.network.state_dict() if weights is None else weights,
        **(training or {}),
    }


def write_checkpoint(path: str | Path, bundle: ModelBundle, training: dict[str, Any] | None = None) -> Path:
    """Write ``bundle`` (and the trainer's ``training`` state) as a checkpoint, atomically."""
    save_checkpoint(path, checkpoint_payload(bundle, training))
    return Path(path)


#: Options added after version-1 checkpoints were being written, with the value such a run trained with: a resumed
#: run whose config lacks the key goes on as it started rather than with the new default.
_V1_FORMER_DEFAULTS: dict[tuple[str, str], Any] = {("data", "equalize_db"): 0.0}
#: Networks with a choice of direction head (``model.params.doa``, net/seldnet.py).
_DOA_NETWORKS: tuple[str, ...] = ("seldnet", "av_vit")


def upgrade_checkpoint(ckpt: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint dict in the current layout (:data:`CHECKPOINT_VERSION`); older layouts are converted, the dict
    is updated in place. Version 1 (no ``version``): options added since get the value the run trained with
    (``data.equalize_db`` 0), and a config that does not name the network's resolved settings gets them from the
    weights (the direction head from ``head.*`` tensors, the intensity head's frame context from the size of
    ``head.frame_logits``, 0 without it)."""
    version = int(ckpt.get("version", 1))
    if version > CHECKPOINT_VERSION:
        raise ValueError(f"checkpoint version {version} is newer than this code's {CHECKPOINT_VERSION}")
    if version == 1:
        config = ckpt.setdefault("config", {})
        for (section, key), value in _V1_FORMER_DEFAULTS.items():
            config.setdefault(section, {}).setdefault(key, value)
        model = config.setdefault("model", {})
        params = model.setdefault("params", {})
        weights = (ckpt.get("ema") or ckpt).get("model") or {}  # the weight average when trained with one
        if model.get("name", "seldnet") in _DOA_NETWORKS and "doa" not in params:
            params["doa"] = "intensity" if any(k.startswith("head.") for k in weights) else "regress"
        if params.get("doa") == "intensity" and "doa_context" not in params:
            spec = ckpt.get("input_spec") or {}
            frames = weights.get("head.frame_logits.bias")
            tracks_classes = int(spec.get("num_tracks", 3)) * int(spec.get("num_classes", NUM_CLASSES))
            params["doa_context"] = 0 if frames is None else (frames.numel() // tracks_classes - 1) // 2
        ckpt["version"] = CHECKPOINT_VERSION
    return ckpt


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint of this project read safely and upgraded (:func:`upgrade_checkpoint`); InputError naming the
    file when it is not one or is newer than this code."""
    ckpt = load_checkpoint(path)
    try:
        return upgrade_checkpoint(ckpt)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InputError(path, f"checkpoint does not fit this version of the code ({exc})") from exc


def checkpoint_config(ckpt: dict[str, Any]) -> RunConfig:
    """The run config of an upgraded checkpoint dict (ValueError when it does not fit this code's options)."""
    return config_from_dict(ckpt["config"])


def _input_spec(fields: dict[str, Any]) -> InputSpec:
    spec = dict(fields)
    spec["visual_shape"] = tuple(spec.get("visual_shape") or ())
    spec["intensity_channels"] = tuple(spec.get("intensity_channels") or ())
    return InputSpec(**spec)


def bundle_from_checkpoint(ckpt: dict[str, Any], device: str | torch.device = "cpu",
                           source: str | Path | None = None) -> ModelBundle:
    """The bundle of an upgraded checkpoint dict, with the weight average's weights when trained with one, in
    evaluation mode on ``device``; InputError (naming ``source``) when it does not fit this code."""
    try:
        cfg = checkpoint_config(ckpt)
        spec = _input_spec(ckpt["input_spec"])
        network = _build_network(cfg, spec)
        network.load_state_dict((ckpt.get("ema") or ckpt)["model"])
        stats = ckpt["feature_stats"]
        mean, std = stats["mean"].numpy(), stats["std"].numpy()
        FeatureConfig.from_dict(cfg.features)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(source, f"checkpoint does not fit this version of the code ({detail})") from exc
    device = torch.device(device)
    network.to(device).eval()
    return ModelBundle(network, cfg, spec, mean, std, device)


OFFICIAL_PRESET = "baseline_official"  # configs/<name>.yaml: the official recipe


def official_baseline_config(audio_format: str = "foa") -> RunConfig:
    """The run config of a network trained by the official AV baseline (sony/audio-visual-seld-dcase2023): the
    preset ``configs/baseline_official.yaml`` (``avcrnn`` on amp_phasediff features, one Gaussian-vector set per
    1.27 s window, every official quirk on, threshold 0.3, unification 15 deg, the official window grid and
    decoding) for ``audio_format``, with its resolved feature config."""
    cfg = load_config(resolve_config_path(OFFICIAL_PRESET))
    cfg.name = "official_avcrnn"
    cfg.data.audio_format = audio_format
    cfg.features = with_official_val_padding(extractor_class(cfg.data.feature).default_config(),
                                             cfg.data.official_val_padding).to_dict()
    return cfg


def official_bundle(state: dict[str, torch.Tensor], audio_format: str = "foa",
                    device: str | torch.device = "cpu") -> ModelBundle:
    """The bundle of an official AudioVisualCRNN state_dict (its tensor names: net.avcrnn.OFFICIAL_NAMES) with
    the official settings (:func:`official_baseline_config`), zero-mean unit-variance feature statistics (the
    baseline does not standardise); ValueError when the names do not match."""
    weights = {k: v.float() if v.is_floating_point() else v for k, v in from_official_state_dict(state).items()}
    cfg = official_baseline_config(audio_format)
    extractor = build_extractor(FeatureConfig.from_dict(cfg.features))
    channels, bins = extractor.feature_shape
    spec = InputSpec(audio_channels=channels, audio_bins=bins, window_frames=128,
                     frames_per_label=extractor.frames_per_label, visual="vectors",
                     visual_shape=(2, VISUAL_NUM_BOXES, VISUAL_NUM_POINTS), num_classes=NUM_CLASSES)
    network = _build_network(cfg, spec)
    cfg.model.params.update(network.settings())
    network.load_state_dict(weights)
    device = torch.device(device)
    network.to(device).eval()
    mean, std = np.zeros((channels, bins), np.float32), np.ones((channels, bins), np.float32)
    return ModelBundle(network, cfg, spec, mean, std, device)


def load_bundle(checkpoint: str | Path, device: str | torch.device = "cpu") -> ModelBundle:
    """The bundle of a training checkpoint of this project or of an official AV-baseline state_dict
    (``params_*.pth`` or ``.safetensors``, detected by its tensor names), read safely; InputError naming the file
    when it is neither or does not fit this code."""
    state = read_state_dict(checkpoint)
    if state is None:
        return bundle_from_checkpoint(read_checkpoint(checkpoint), device, checkpoint)
    if not is_official_state_dict(state):
        known = len(set(state) & set(OFFICIAL_NAMES))
        raise InputError(checkpoint, f"a plain state_dict, but not the official AudioVisualCRNN's ({known} of its "
                                     f"{len(OFFICIAL_NAMES)} tensor names, {len(state)} tensors)")
    try:
        return official_bundle(state, device=device)
    except ValueError as exc:
        raise InputError(checkpoint, str(exc)) from exc


def load_ensemble(checkpoints: Sequence[str | Path], device: str | torch.device = "cpu") -> list[ModelBundle]:
    """Load one or several checkpoints to run as an ensemble (seld_inference.infer_ensemble); InputError naming
    the checkpoint when one was trained on other features, visual input or outputs than the first."""
    members = [load_bundle(c, device) for c in checkpoints]
    if not members:
        raise InputError(None, "no checkpoint given")
    first = members[0]
    for path, m in zip(checkpoints[1:], members[1:]):
        for what, mine, theirs in (("feature settings", m.config.features, first.config.features),
                                   ("visual input", (m.spec.visual, tuple(m.spec.visual_shape)),
                                    (first.spec.visual, tuple(first.spec.visual_shape))),
                                   ("output shape", (m.spec.num_tracks, m.spec.output_elements, m.spec.num_classes),
                                    (first.spec.num_tracks, first.spec.output_elements, first.spec.num_classes))):
            if mine != theirs:
                raise InputError(path, f"cannot join an ensemble with {checkpoints[0]}: its {what} differ "
                                       f"({mine} vs {theirs})")
    return members


def visual_member(members: Sequence[ModelBundle]) -> ModelBundle:
    """The ensemble member whose visual input settings to follow: the first that is not audio-only."""
    return next((m for m in members if not m.config.model.audio_only), members[0])
