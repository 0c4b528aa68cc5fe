"""The one interface of every audio feature extractor, its typed config and the name -> class registry.

An extractor turns audio ``(C_in, N)`` float32 at ``config.sample_rate`` into features ``(C_feat, T, F)``
float32 with ``T = num_frames(N)``: exactly ``frames_per_label`` feature frames per 100 ms label frame and
``ceil(N / label_hop_samples)`` label frames, so features and ADPIT labels of a recording always line up.

``official_val_padding`` (an ``extra`` setting, set by :func:`with_official_val_padding` from the run config
``data.official_val_padding``; official AV-baseline quirk) computes the frames as the official validation /
inference path (WavConvertor) does: audio trimmed to a multiple of the hop, ``n_fft - hop`` zeros prepended, STFT
without centring, so frame ``t`` covers samples ``[t hop - (n_fft - hop), t hop + hop)``, centred on
``t hop - (n_fft / 2 - hop)``: 16 samples earlier than the centred frames for n_fft 512 / hop 240. Frames past
the trimmed audio are zeros. The official array also has 4 leading and 128 trailing zero frames: those are the
windowing's business here (zeros outside this array; official array frame ``k`` = this array's frame ``k - 4``).
Equal to the official validation array within 1e-5 of the largest amplitude: tests/test_parity_official.py.

Extractors register themselves with :func:`register_extractor`; :func:`extractor_names` feeds the CLI choices
and :func:`build_extractor` makes one from a name and optional overrides of its config.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from util.conventions import LABEL_HOP_S, SAMPLE_RATE
from util.errors import InputError
from util.layout import AUDIO_CHANNELS


@dataclass(frozen=True)
class FeatureConfig:
    """Every setting of a feature; the cache key hashes all of them.

    ``n_fft``/``win_length``/``hop_length`` in samples; frequency limits in Hz (``fmax_hz`` None = Nyquist).
    ``extra`` holds extractor-specific settings (e.g. SALSA-lite's phase cut-off) as sorted (key, value) pairs.
    """

    name: str
    sample_rate: int = SAMPLE_RATE
    n_fft: int = 1024
    win_length: int = 960
    hop_length: int = 480
    n_mels: int = 64
    fmin_hz: float = 0.0
    fmax_hz: float | None = None
    top_db: float | None = 80.0
    extra: tuple[tuple[str, Any], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        # canonical types, so that e.g. fmin_hz=0 and fmin_hz=0.0 give the same digest (and the same cache)
        for name in ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not float(value).is_integer():
                raise ValueError(f"{name} must be an integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        for name in ("fmin_hz", "fmax_hz", "top_db"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))
        extra = dict(self.extra)
        object.__setattr__(self, "extra", tuple(sorted(
            (k, float(v) if isinstance(v, int) and not isinstance(v, bool) else v) for k, v in extra.items())))

    def get(self, key: str, default: Any = None) -> Any:
        """An extractor-specific setting from ``extra``."""
        return dict(self.extra).get(key, default)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["extra"] = {k: v for k, v in self.extra}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FeatureConfig":
        d = dict(d)
        d["extra"] = tuple(sorted(dict(d.get("extra") or {}).items()))
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def digest(self) -> str:
        """A short stable hash of every setting."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @property
    def label_hop_samples(self) -> int:
        return int(round(LABEL_HOP_S * self.sample_rate))

    @property
    def frames_per_label(self) -> int:
        """Feature frames per 100 ms label frame; the hop must divide the label hop."""
        lh = self.label_hop_samples
        if self.hop_length <= 0 or lh % self.hop_length:
            raise ValueError(f"feature hop {self.hop_length} samples does not divide the label hop of {lh} samples "
                             f"({LABEL_HOP_S} s at {self.sample_rate} Hz)")
        return lh // self.hop_length

    @property
    def num_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def nyquist_hz(self) -> float:
        return self.sample_rate / 2.0 if self.fmax_hz is None else min(self.fmax_hz, self.sample_rate / 2.0)

    def validate(self) -> None:
        """Raise ValueError on inconsistent settings."""
        _ = self.frames_per_label
        if not 0 < self.win_length <= self.n_fft:
            raise ValueError(f"win_length {self.win_length} must be in (0, n_fft={self.n_fft}]")
        if self.fmin_hz < 0 or self.fmin_hz >= self.nyquist_hz:
            raise ValueError(f"fmin_hz {self.fmin_hz} must be in [0, {self.nyquist_hz})")


#: ``extra`` key of the official validation padding (see the module docstring).
OFFICIAL_VAL_PADDING: str = "official_val_padding"


def with_official_val_padding(config: FeatureConfig, enabled: bool) -> FeatureConfig:
    """``config`` with the official validation padding switched on or off (off: the key is absent, so the
    settings and the cache key of the default features do not change)."""
    extra = {k: v for k, v in config.extra if k != OFFICIAL_VAL_PADDING}
    if enabled:
        extra[OFFICIAL_VAL_PADDING] = True
    return dataclasses.replace(config, extra=tuple(sorted(extra.items())))


def num_label_frames(num_samples: int, sample_rate: int) -> int:
    """Label frames of a recording: ``ceil(duration / 0.1 s)``."""
    return max(1, math.ceil(num_samples / (LABEL_HOP_S * sample_rate) - 1e-9))


class FeatureExtractor(ABC):
    """Audio ``(input_channels, N)`` -> features ``(num_channels, num_frames(N), num_features)``."""

    #: registry name
    name: ClassVar[str]
    #: audio formats this extractor accepts (see util.layout.AUDIO_FORMATS)
    formats: ClassVar[tuple[str, ...]]
    #: whether features are standardised with training statistics (False: raw, like the AV baseline)
    normalise: ClassVar[bool] = True
    #: default settings (the FeatureConfig fields this extractor uses differently from the dataclass defaults)
    defaults: ClassVar[dict[str, Any]] = {}
    # capabilities (see CAPABILITIES): what the augmentations and test-time transforms may do to these features
    #: the FOA rotations / reflections (seld_data_loader.FoaRotations) know the channel layout
    rotatable: ClassVar[bool] = False
    #: two windows can be mixed into one (feature.foa.mix_logmel_iv knows the layout)
    mixable: ClassVar[bool] = False
    #: leading channels that are log spectra in dB (0 = none): a filter applied to every microphone channel alike
    #: adds one dB curve to each of them and leaves the spatial channels (ratios, phases) as they are
    level_channels: ClassVar[int] = 0
    #: channels of the x, y, z components of a normalised intensity vector (empty = none)
    intensity_channels: ClassVar[tuple[int, ...]] = ()

    def __init__(self, config: FeatureConfig):
        config.validate()
        self.config = config

    @classmethod
    def default_config(cls, **overrides: Any) -> FeatureConfig:
        """This extractor's config with its defaults and ``overrides`` (unknown keys go to ``extra``)."""
        settings = dict(cls.defaults)
        settings.update(overrides)
        names = {f.name for f in dataclasses.fields(FeatureConfig)}
        unknown = sorted(set(settings) - names - set(cls.defaults))
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown} for feature {cls.name!r}; known: "
                             f"{sorted((names - {'name', 'extra'}) | set(cls.defaults))}")
        extra = dict(settings.pop("extra", {}) or {})
        extra.update({k: settings.pop(k) for k in list(settings) if k not in names})
        return FeatureConfig(name=cls.name, extra=tuple(sorted(extra.items())), **settings)

    @property
    def input_channels(self) -> int:
        """Audio channels expected: those of its audio formats (util.layout.AUDIO_CHANNELS)."""
        return AUDIO_CHANNELS[self.formats[0]]

    @property
    @abstractmethod
    def num_channels(self) -> int:
        """Feature channels produced."""

    @property
    @abstractmethod
    def num_features(self) -> int:
        """Feature bins per frame (mel bands, lags or STFT bins)."""

    @abstractmethod
    def _compute(self, audio: np.ndarray, num_frames: int) -> np.ndarray:
        """Features (num_channels, num_frames, num_features) of the first ``num_frames`` centred STFT frames."""

    @property
    def frame_shift_s(self) -> float:
        return self.config.hop_length / self.config.sample_rate

    @property
    def frames_per_label(self) -> int:
        return self.config.frames_per_label

    @property
    def feature_shape(self) -> tuple[int, int]:
        """(channels, bins) of one frame."""
        return self.num_channels, self.num_features

    def num_frames(self, num_samples: int) -> int:
        """Feature frames produced for ``num_samples`` of audio (a whole number of label frames)."""
        return num_label_frames(num_samples, self.config.sample_rate) * self.frames_per_label

    def extract(self, audio: np.ndarray) -> np.ndarray:
        """Features float32 (num_channels, num_frames(N), num_features) of audio (input_channels, N)."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 2 or audio.shape[0] != self.input_channels:
            raise ValueError(f"{self.name} expects audio ({self.input_channels}, N), got {audio.shape}")
        t = self.num_frames(audio.shape[1])
        hop = self.config.hop_length
        official = bool(self.config.get(OFFICIAL_VAL_PADDING, False))
        if official:  # trim to whole hops, then the frames are shifted by the prepended zeros (see stft)
            audio = audio[:, : audio.shape[1] - audio.shape[1] % hop]
        kept = audio.shape[1] // hop
        # silence up to a whole label frame, so that the last frames are computed from audio, not zero-filled
        total = t // self.frames_per_label * self.config.label_hop_samples
        if total > audio.shape[1]:
            audio = np.pad(audio, ((0, 0), (0, total - audio.shape[1])))
        feats = self._compute(audio, t)
        if feats.shape[1] != t:
            raise RuntimeError(f"{self.name} produced {feats.shape[1]} frames instead of {t}")
        if official:
            feats[:, kept:] = 0.0  # the official array has zero frames after the trimmed audio
        return np.ascontiguousarray(feats, dtype=np.float32)


class LogmelExtractor(FeatureExtractor):
    """Base of the log-mel + spatial-cue extractors: the baseline's STFT (1024 / 960 / 480) and 64 mel bands."""

    defaults: ClassVar[dict[str, Any]] = {"n_fft": 1024, "win_length": 960, "hop_length": 480, "n_mels": 64}

    @property
    def num_features(self) -> int:
        """Mel bands."""
        return self.config.n_mels


_REGISTRY: dict[str, type[FeatureExtractor]] = {}


def register_extractor(cls: type[FeatureExtractor]) -> type[FeatureExtractor]:
    """Class decorator adding an extractor to the registry under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"feature extractor {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def extractor_names(fmt: str | None = None) -> list[str]:
    """Registered extractor names, optionally only those accepting audio format ``fmt``."""
    import feature  # noqa: F401  (importing the package registers every extractor)

    return sorted(n for n, c in _REGISTRY.items() if fmt is None or fmt in c.formats)


def extractor_class(name: str) -> type[FeatureExtractor]:
    import feature  # noqa: F401

    if name not in _REGISTRY:
        raise ValueError(f"unknown feature {name!r}; choose from {sorted(_REGISTRY)}")
    return _REGISTRY[name]


#: capability (a FeatureExtractor class attribute) -> what needs it, for the messages of :func:`require_capability`
CAPABILITIES: dict[str, str] = {
    "rotatable": "spatial augmentation (data.augment) and test-time augmentation (inference.tta)",
    "mixable": "window mixing (data.mix)",
    "level_channels": "random equalisation (data.equalize_db)",
    "intensity_channels": "intensity-vector transforms",
}


def capability(feature_name: str, name: str) -> Any:
    """The value of capability ``name`` (see :data:`CAPABILITIES`) of feature ``feature_name``; its false value
    (False, 0, ()) for a name no extractor registered."""
    if name not in CAPABILITIES:
        raise ValueError(f"unknown feature capability {name!r}; known: {', '.join(CAPABILITIES)}")
    import feature  # noqa: F401

    cls = _REGISTRY.get(feature_name)
    return getattr(cls if cls is not None else FeatureExtractor, name)


def features_with(name: str) -> list[str]:
    """Registered feature names whose extractor has capability ``name``."""
    return [n for n in extractor_names() if capability(n, name)]


def capability_problem(feature_name: str, name: str, use: str | None = None) -> str | None:
    """None if feature ``feature_name`` has capability ``name``, else the one message saying so:
    ``<use> supports the features <those with it>, not '<feature_name>'`` (``use`` defaults to the capability's
    entry in :data:`CAPABILITIES`)."""
    if capability(feature_name, name):
        return None
    return f"{use or CAPABILITIES[name]} supports the features {', '.join(features_with(name))}, not {feature_name!r}"


def require_capability(feature_name: str, name: str, use: str | None = None, source: str | Path | None = None) -> None:
    """Raise InputError(source, :func:`capability_problem`) unless feature ``feature_name`` has capability
    ``name``."""
    problem = capability_problem(feature_name, name, use)
    if problem is not None:
        raise InputError(source, problem)


def build_extractor(name_or_config: str | FeatureConfig, **overrides: Any) -> FeatureExtractor:
    """An extractor from its name (plus config overrides) or from a full FeatureConfig."""
    if isinstance(name_or_config, FeatureConfig):
        if overrides:
            raise ValueError("pass overrides with a name, not with a FeatureConfig")
        return extractor_class(name_or_config.name)(name_or_config)
    cls = extractor_class(name_or_config)
    return cls(cls.default_config(**overrides))
