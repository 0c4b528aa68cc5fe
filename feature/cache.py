"""The feature cache: one memory-mappable ``.npy`` per recording for features and for ADPIT labels.

Layout (written by :func:`feature.extract.build_feature_cache` / ``python seld.py extract``)::

    <cache_dir>/<feature>_<format>_<key>/      key = hash of every feature setting, format, dtype and the
      config.json                               resolved dataset path, so a changed setting never reuses stale
      features/<split_dir>/<name>.npy           features; (C, T, F) float32 or float16, raw (not normalised)
      labels/<split_dir>/<name>.npy             (T_label, 6, 5, 13) float32 ADPIT targets (only with metadata)
      stamps/<split_dir>/<name>.json            size + mtime of the sources; a file is redone when they change
      stats.npz                                 mean, std (C, F) float32 over the TRAINING split's frames
                                                (mean 0, std 1 for features the baseline leaves raw)

``T = T_label * frames_per_label``, ``T_label = ceil(duration / 0.1 s)``: feature frame ``t`` belongs to label
frame ``t // frames_per_label``.

API for the data loader::

    cache = FeatureCache.open(folder)        # or build_feature_cache(...) which returns it
    cache.recordings("train")                # [Recording(split_dir, name), ...] (split: train/test/eval/None)
    x = cache.features(rec)                  # np.memmap (C, T, F), raw
    y = cache.labels(rec)                    # np.memmap (T_label, 6, 5, 13); cache.has_labels(rec)
    mean, std = cache.stats                  # (C, F) float32 each
    x_norm = cache.normalize(x[:, t0:t1])    # (x - mean) / std as float32
    cache.frames_per_label, cache.feature_config, cache.audio_format, cache.feature_shape
    cache.extractor()                        # the FeatureExtractor that made the cache (for new recordings)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from feature.base import FeatureConfig, FeatureExtractor, build_extractor
from util.errors import InputError
from util.layout import Recording
from util.npy_cache import CONFIG_FILE, RecordingArrayCache, settings_key  # noqa: F401 (CONFIG_FILE: re-exported)

#: bump when the on-disk format changes (part of the cache key)
CACHE_VERSION: int = 1
FEATURE_DTYPES: tuple[str, ...] = ("float32", "float16")
STATS_FILE = "stats.npz"


def default_cache_dir(data_dir: str | Path) -> Path:
    """The feature-cache root used when none is given: ``<data_dir>/cache`` (by extract, train and evaluate)."""
    return Path(data_dir) / "cache"


def cache_key(config: FeatureConfig, audio_format: str, data_dir: str | Path, dtype: str) -> str:
    """Hash of everything that determines the cached values."""
    return settings_key({"feature": config.to_dict(), "format": audio_format, "dtype": dtype,
                         "version": CACHE_VERSION, "data_dir": str(Path(data_dir).resolve())})


def cache_folder(cache_dir: str | Path, config: FeatureConfig, audio_format: str, data_dir: str | Path,
                 dtype: str = "float32") -> Path:
    """The folder ``<cache_dir>/<feature>_<format>_<key>`` of one feature setting of one dataset."""
    return Path(cache_dir) / f"{config.name}_{audio_format}_{cache_key(config, audio_format, data_dir, dtype)}"


def normalize_features(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(x - mean) / std for features (C, T, F) or batches (..., C, T, F) with stats (C, F)."""
    return ((np.asarray(x, dtype=np.float32) - mean[:, None, :]) / std[:, None, :]).astype(np.float32, copy=False)


class FeatureCache(RecordingArrayCache):
    """Read access to a cache folder (see the module docstring)."""

    kind = "feature"
    array_dir = "features"
    build_hint = "run `seld.py extract` first"

    def __init__(self, folder: str | Path, meta: dict[str, Any]):
        super().__init__(folder, meta)
        self.feature_config = FeatureConfig.from_dict(meta["feature"])
        self.audio_format: str = meta["format"]
        self.dtype: str = meta["dtype"]
        self.frames_per_label: int = int(meta["frames_per_label"])
        self.feature_shape: tuple[int, int] = tuple(meta["feature_shape"])  # (C, F)
        self.normalised_by_stats: bool = bool(meta["normalise"])
        self._stats: tuple[np.ndarray, np.ndarray] | None = None

    # paths (stamp_path and recordings() come from RecordingArrayCache) -----------------------------------
    def feature_path(self, rec: Recording) -> Path:
        """``features/<split_dir>/<name>.npy``."""
        return self.array_path(rec)

    def label_path(self, rec: Recording) -> Path:
        """``labels/<split_dir>/<name>.npy``."""
        return self.npy_path("labels", rec)

    # contents --------------------------------------------------------------------------------------------
    def has_labels(self, rec: Recording) -> bool:
        """Whether the recording has cached ADPIT targets (it had metadata)."""
        return self.label_path(rec).is_file()

    def features(self, rec: Recording) -> np.ndarray:
        """Raw features, memory-mapped, (C, T, F)."""
        return self.load(self.feature_path(rec))

    def labels(self, rec: Recording) -> np.ndarray:
        """ADPIT targets, memory-mapped, (T_label, 6, 5, 13); InputError when the recording has no metadata."""
        return self.load(self.label_path(rec))

    @property
    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std), each (C, F) float32, of the training split (identity for un-normalised features)."""
        if self._stats is None:
            path = self.folder / STATS_FILE
            if not path.is_file():
                raise InputError(path, "no normalisation statistics: extract the train split into this cache first")
            with np.load(path) as z:
                self._stats = (z["mean"].astype(np.float32), z["std"].astype(np.float32))
        return self._stats

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Standardise features (C, T, F) (or (..., C, T, F)) with the training statistics."""
        return normalize_features(x, *self.stats)

    def extractor(self) -> FeatureExtractor:
        """The extractor that produced this cache (to featurise new recordings identically)."""
        return build_extractor(self.feature_config)

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.folder)!r}, {self.feature_config.name}, {self.audio_format})"
