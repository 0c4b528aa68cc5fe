"""Typed run configuration (dataclasses), read from / written to YAML or JSON.

One :class:`RunConfig` describes a training run: ``data`` (dataset, features, visual input, windows),
``model`` (network name and its own arguments), ``train`` (optimiser, schedule, logging) and ``inference``
(sliding windows and decoding). It is written into every run folder (config.yaml) and every checkpoint, so a
checkpoint alone rebuilds its model and feature settings. ``features`` holds the resolved feature config
(feature.base.FeatureConfig.to_dict()), filled at train time.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from util.conventions import FRAME_CACHE_SIZE
from util.errors import InputError
from util.fileio import write_text_atomic


@dataclass
class DataConfig:
    """Dataset, features and training windows."""

    data_dir: str = "data/synthetic_small"   # recorded absolute (resolve_run_paths)
    audio_format: str = "foa"               # foa | mic | binaural
    feature: str = "logmel_iv"              # feature extractor name (feature/ registry)
    feature_overrides: dict[str, Any] = field(default_factory=dict)  # FeatureConfig settings to change
    cache_dir: str = ""                     # feature cache root; "" = <data_dir>/cache
    visual: str = "vectors"                 # none | vectors (Gaussian vectors) | frames (video frames, av_vit)
    frame_size: list[int] = field(default_factory=lambda: list(FRAME_CACHE_SIZE))  # W, H of cached frames (av_vit)
    window_s: float = 1.5                   # training window (SELDnet: 5 s; AV baseline: 1.28 s = 128 x 10 ms);
    #                                         short windows give more updates per second (docs/TRAINING.md)
    augment: bool = True                    # FOA rotations/reflections of audio, labels and video (logmel_iv only)
    masking: bool = True                    # SpecAugment-style time/frequency masks on the training features
    equalize_db: float = 6.0                # random smooth filter of up to +-this dB on the log spectra; 0 = off
    #                                         (features with FeatureExtractor.level_channels)
    mix: float = 0.0                        # share of training windows with a second window mixed in (logmel_iv only)
    sampling: str = "tiled"                 # tiled: each epoch tiles every recording once (shuffled);
    #                                         random_crop: the AV baseline's, a recording drawn uniformly and a
    #                                         uniform crop offset on the output-frame grid (seld_data_loader)
    train_split: str = "train"
    val_split: str = "auto"                 # split that picks the best checkpoint: auto = "val" when the dataset
    #                                         has validation recordings (dev-val-*, synthetic), else "test"
    #                                         (STARSS23: fold4, the official practice); resolved at train time
    test_split: str = "test"                # split that evaluate reports by default
    num_workers: int = 1                    # DataLoader worker processes (0 = load in the training process)
    # official AV-baseline quirks (sony/audio-visual-seld-dcase2023; on in the baseline recipe, off = corrected):
    official_label_offset: bool = False     # training-window labels with get_label's truncated sub-frame offset
    #                                         int(frac(start_s * 10) * 10): some windows get the labels of a
    #                                         window one 10 ms frame earlier (feature.labels.window_label_index)
    official_val_padding: bool = False      # whole-recording features (validation, evaluate, predict) as the
    #                                         official WavConvertor: n_fft - hop zeros prepended, no centring, so
    #                                         frames are centred 16 samples earlier than training crops
    #                                         (feature.base); stored in the resolved feature config (so also the
    #                                         training windows' source unless official_crop_stft)
    official_crop_stft: bool = False        # training windows = STFT of the audio crop alone (centred, zero padded
    #                                         at the crop edges) as the official data loader, not slices of the
    #                                         whole-recording features (feature.extract.CropFeatures)


@dataclass
class ModelConfig:
    """Network by registry name (net/__init__.py) and its own keyword arguments."""

    name: str = "seldnet"
    audio_only: bool = False
    with_distance: bool = False
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """Optimisation, schedule and bookkeeping; counted in iterations."""

    optimizer: str = "adamw"                # adam | adamw
    lr: float = 5e-4                        # 1e-3 peaks early and drifts with the seed (docs/TRAINING.md)
    weight_decay: float = 1e-4
    decay_all_params: bool = False          # weight decay on every parameter (the AV baseline's Adam); False: not
    #                                         on biases and normalisation weights (tensors of one dimension)
    batch_size: int = 16
    max_iters: int = 3000
    schedule: str = "cosine"                # cosine | step | constant (all after a linear warmup)
    warmup_iters: int = 100
    min_lr_ratio: float = 0.05              # cosine floor as a fraction of lr
    step_size: int = 1000                   # step schedule: multiply by gamma every step_size iterations
    gamma: float = 0.5
    activity_loss: float = 0.5              # weight of the ADPIT activity term (net/adpit.py); 0 = plain ADPIT
    grad_clip: float = 5.0                  # max gradient norm; 0 = off
    ema: float = 0.0                        # decay of an exponential moving average of the weights (validated,
                                            # checkpointed and used for inference); 0 = off
    amp: bool = True                        # mixed precision, used on CUDA only
    val_every: int = 500
    checkpoint_every: int = 500
    log_every: int = 20
    seed: int = 1234
    device: str = "auto"                    # auto | cpu | cuda | cuda:N
    cpu_threads: int = 0                    # torch CPU threads; 0 = torch's default (1 is fastest on a busy 2-core CPU)


@dataclass
class InferenceConfig:
    """Sliding-window inference over whole recordings and Multi-ACCDOA decoding."""

    window_s: float = 0.0                   # 0 = the training window
    hop_s: float = 0.0                      # 0 = window minus the margins below
    keep_margin_s: float = 0.0              # output discarded at each inner window edge (overlap keeps the centre)
    threshold: float = 0.5                  # track activity threshold (AV baseline: 0.3)
    merge_deg: float = 15.0                 # same-class tracks closer than this are merged
    smooth_frames: int = 5                  # moving average of the output over this many label frames before
    #                                         decoding (odd; 1 = none, as in the DCASE baselines)
    official_decoding: bool = False         # the AV baseline's SELDDetector rule on the output-rate frames (mean
    #                                         clipped length, length-weighted mean azimuth / elevation ANGLES); False:
    #                                         the label-frame mean vector (seld_decoding.decode_recording)
    official_grid: bool = False             # the AV baseline's float window grid np.arange(0, duration, hop_s):
    #                                         truncated starts, rows written twice / past the end; False: exact grid
    batch_size: int = 8
    tta: int = 0                            # test-time augmentation of evaluate / predict: mean over 1 (none), 4, 8
                                            # or 16 FOA transforms; 0 = 16 for logmel_iv features, else 1
                                            # (validation during training always runs without)


@dataclass
class RunConfig:
    """Everything of one run."""

    name: str = "seld"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    features: dict[str, Any] = field(default_factory=dict)   # resolved feature config, filled at train time
    workdir: str = ""   # working directory the run was started from (relative paths are resolved against it;
    #                     "" in runs made before it was recorded: the current directory)


def _from_dict(cls: type, d: dict[str, Any], where: str) -> Any:
    if not isinstance(d, dict):
        raise ValueError(f"{where or 'config'}: expected a mapping, got {type(d).__name__}")
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join(where + k for k in unknown)}")
    kwargs = {}
    for k, v in d.items():
        t = hints[k]
        if dataclasses.is_dataclass(t):
            kwargs[k] = _from_dict(t, v, f"{where}{k}.")
        else:
            kwargs[k] = _coerce(t, v, where + k)
    return cls(**kwargs)


def _coerce(t: Any, v: Any, key: str) -> Any:
    if t is float and isinstance(v, str):  # YAML 1.1 reads 1e-3 as a string
        try:
            return float(v)
        except ValueError:
            pass
    if t is float and isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if t in (int, float, str, bool) and not isinstance(v, t):
        raise ValueError(f"{key}: expected {t.__name__}, got {v!r}")
    if t is int and isinstance(v, bool):
        raise ValueError(f"{key}: expected int, got {v!r}")
    return v


def config_from_dict(d: dict[str, Any]) -> RunConfig:
    """A RunConfig from a nested dict (missing keys take defaults; unknown keys raise ValueError)."""
    return _from_dict(RunConfig, d, "")


def config_to_dict(cfg: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


#: Named run presets (``seld.py train --config NAME``, ``RECIPE=NAME`` for the scripts): ``configs/NAME.yaml``.
PRESET_DIR: Path = Path(__file__).resolve().parents[1] / "configs"


def preset_names() -> list[str]:
    """The names of the presets in :data:`PRESET_DIR`."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A config file: ``name_or_path`` itself when it is a file, else the preset ``configs/<name>.yaml``;
    InputError when neither exists."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    preset = PRESET_DIR / f"{path.name}.yaml"
    if path.suffix == "" and path.name == str(name_or_path) and preset.is_file():
        return preset
    raise InputError(path, f"config file not found (presets: {', '.join(preset_names()) or 'none'})")


def resolve_run_path(cfg: RunConfig, path: str) -> str:
    """``path`` of a run's config made absolute: unchanged when absolute (or empty), else resolved against the
    directory the run was started from (``cfg.workdir``; runs that did not record it: the current directory)."""
    if not path or Path(path).is_absolute():
        return path
    return str((Path(cfg.workdir or os.getcwd()) / path).resolve())


def resolve_run_paths(cfg: RunConfig) -> RunConfig:
    """Make the dataset and cache paths of ``cfg`` absolute (:func:`resolve_run_path`), in place, and record the
    working directory of a run that has none yet; a run folder can then be evaluated or resumed from any
    directory."""
    cfg.data.data_dir = resolve_run_path(cfg, cfg.data.data_dir)
    cfg.data.cache_dir = resolve_run_path(cfg, cfg.data.cache_dir)
    cfg.workdir = cfg.workdir or os.getcwd()
    return cfg


def load_config(path: str | Path) -> RunConfig:
    """Read a YAML or JSON config; InputError names the file on bad content."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "config file not found")
    try:
        text = path.read_text()
        d = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        return config_from_dict(d or {})
    except (ValueError, yaml.YAMLError, TypeError) as exc:
        raise InputError(path, f"bad config ({exc})") from exc


def save_config(cfg: RunConfig, path: str | Path) -> None:
    """Write a config as YAML (or JSON for a .json path), atomically."""
    d = config_to_dict(cfg)
    text = json.dumps(d, indent=2) if Path(path).suffix == ".json" else yaml.safe_dump(d, sort_keys=False)
    write_text_atomic(path, text)

#: Config dicts whose keys are not fixed by this module (network keyword arguments, feature settings).
FREE_FORM_SECTIONS: tuple[list[str], ...] = (["model", "params"], ["data", "feature_overrides"])


def apply_overrides(cfg: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply ``section.key=value`` strings (values parsed as YAML, e.g. ``train.lr=3e-4``,
    ``model.params={conv_channels: 32}``, or one network parameter: ``model.params.doa=intensity``); raises
    ValueError on unknown keys (the free-form ``model.params`` and ``data.feature_overrides`` take any key)."""
    d = config_to_dict(cfg)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        node = d
        parts = key.strip().split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                raise ValueError(f"unknown config section {p!r} in {item!r}")
            node = node[p]
        if parts[-1] not in node and parts[:-1] not in FREE_FORM_SECTIONS:
            raise ValueError(f"unknown config key {key!r}")
        node[parts[-1]] = yaml.safe_load(value)
    return config_from_dict(d)
