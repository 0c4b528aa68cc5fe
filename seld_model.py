"""Trained models: rebuild a network with its input spec, feature statistics and config from a checkpoint of this
project or from an official AV-baseline state_dict (safe loading), and ensembles of such models."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from net import build_model
from net.spec import InputSpec
from util.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, read_state_dict
from util.config import RunConfig, config_from_dict, config_to_dict
from util.errors import InputError


@dataclass
class LoadedModel:
    """A trained network with everything needed to run it on new audio (rebuilt from the checkpoint alone)."""

    model: torch.nn.Module
    config: RunConfig
    spec: InputSpec
    mean: np.ndarray           # (C, F) training feature statistics
    std: np.ndarray
    window_frames: int
    frame_shift_s: float
    device: torch.device

    @property
    def frames_per_label(self) -> int:
        return self.spec.frames_per_label

    @property
    def feature_name(self) -> str:
        return str(self.config.features.get("name", ""))



#: Networks with a choice of direction head (``model.params.doa``, net/seldnet.py).
DOA_NETWORKS: tuple[str, ...] = ("seldnet", "av_vit")


OFFICIAL_PRESET = "baseline_official"  # configs/<name>.yaml: the official recipe


def official_baseline_config(audio_format: str = "foa") -> RunConfig:
    """The run config of a network trained by the official AV baseline (sony/audio-visual-seld-dcase2023): the
    preset ``configs/baseline_official.yaml`` (``avcrnn`` on amp_phasediff features, one Gaussian-vector set per
    1.27 s window, every official quirk on, threshold 0.3, unification 15 deg, the official window grid and
    decoding) for ``audio_format``, with its resolved feature config."""
    from feature.base import extractor_class, with_official_val_padding
    from util.config import load_config, resolve_config_path

    cfg = load_config(resolve_config_path(OFFICIAL_PRESET))
    cfg.name = "official_avcrnn"
    cfg.data.audio_format = audio_format
    cfg.features = with_official_val_padding(extractor_class(cfg.data.feature).default_config(),
                                             cfg.data.official_val_padding).to_dict()
    return cfg


def official_checkpoint(state: dict[str, torch.Tensor], audio_format: str = "foa") -> dict:
    """A checkpoint of this project (the dict :func:`load_model` reads) from an official AudioVisualCRNN
    state_dict (its tensor names: net.avcrnn.OFFICIAL_NAMES); ValueError when the names do not match."""
    from feature.base import FeatureConfig, build_extractor
    from net.avcrnn import from_official_state_dict
    from util.conventions import NUM_CLASSES, VISUAL_NUM_BOXES, VISUAL_NUM_POINTS

    weights = {k: v.float() if v.is_floating_point() else v for k, v in from_official_state_dict(state).items()}
    cfg = official_baseline_config(audio_format)
    extractor = build_extractor(FeatureConfig.from_dict(cfg.features))
    channels, bins = extractor.feature_shape
    spec = InputSpec(audio_channels=channels, audio_bins=bins, window_frames=128,
                     frames_per_label=extractor.frames_per_label, visual="vectors",
                     visual_shape=(2, VISUAL_NUM_BOXES, VISUAL_NUM_POINTS), num_classes=NUM_CLASSES)
    return {"format": CHECKPOINT_FORMAT, "config": config_to_dict(cfg), "model": weights,
            "input_spec": dataclasses.asdict(spec),
            "feature_stats": {"mean": torch.zeros(channels, bins), "std": torch.ones(channels, bins)}}


def read_model_checkpoint(checkpoint: str | Path) -> dict:
    """A training checkpoint of this project, or an official AV-baseline state_dict (``params_*.pth`` or
    ``.safetensors``, detected by its tensor names) converted by :func:`official_checkpoint`."""
    from net.avcrnn import OFFICIAL_NAMES, is_official_state_dict

    state = read_state_dict(checkpoint)
    if state is None:
        return load_checkpoint(checkpoint)
    if not is_official_state_dict(state):
        known = len(set(state) & set(OFFICIAL_NAMES))
        raise InputError(checkpoint, f"a plain state_dict, but not the official AudioVisualCRNN's ({known} of its "
                                     f"{len(OFFICIAL_NAMES)} tensor names, {len(state)} tensors)")
    try:
        return official_checkpoint(state)
    except ValueError as exc:
        raise InputError(checkpoint, str(exc)) from exc


def load_model(checkpoint: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild a network, its input spec and feature statistics from a training checkpoint or an official
    AV-baseline state_dict (safe loading); InputError when the checkpoint does not fit this code."""
    ckpt = read_model_checkpoint(checkpoint)
    try:
        cfg = config_from_dict(ckpt["config"])
        spec_d = dict(ckpt["input_spec"])
        spec_d["visual_shape"] = tuple(spec_d.get("visual_shape") or ())
        spec_d["intensity_channels"] = tuple(spec_d.get("intensity_channels") or ())
        spec = InputSpec(**spec_d)
        weights = (ckpt.get("ema") or ckpt)["model"]  # the weight average when trained with one
        if cfg.model.name in DOA_NETWORKS and "doa" not in cfg.model.params:  # config without the head: the weights
            cfg.model.params["doa"] = "intensity" if any(k.startswith("head.") for k in weights) else "regress"
        if cfg.model.params.get("doa") == "intensity" and "doa_context" not in cfg.model.params:
            # from before the option: frame context only if the weights have its layer (its size gives the span)
            frames = weights.get("head.frame_logits.bias")
            tracks_classes = spec.num_tracks * spec.num_classes
            cfg.model.params["doa_context"] = 0 if frames is None else (frames.numel() // tracks_classes - 1) // 2
        model = build_model(cfg.model.name, spec, cfg.model.audio_only, cfg.model.params)
        model.load_state_dict(weights)
        stats = ckpt["feature_stats"]
        mean, std = stats["mean"].numpy(), stats["std"].numpy()
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(checkpoint, f"checkpoint does not fit this version of the code ({detail})") from exc
    from feature.base import FeatureConfig  # the seld_* layer may use feature/

    feat = FeatureConfig.from_dict(cfg.features)
    device = torch.device(device)
    model.to(device).eval()
    return LoadedModel(model, cfg, spec, mean, std, spec.window_frames, feat.hop_length / feat.sample_rate, device)


def load_ensemble(checkpoints: Sequence[str | Path], device: str | torch.device = "cpu") -> list[LoadedModel]:
    """Load one or several checkpoints to run as an ensemble (:func:`infer_ensemble`); InputError naming the
    checkpoint when one was trained on other features, visual input or outputs than the first."""
    members = [load_model(c, device) for c in checkpoints]
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


def visual_member(members: Sequence[LoadedModel]) -> LoadedModel:
    """The ensemble member whose visual input settings to follow: the first that is not audio-only."""
    return next((m for m in members if not m.config.model.audio_only), members[0])
