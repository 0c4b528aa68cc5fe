"""Feature extraction of a dataset into the cache (``python seld.py extract``) and of single wav files.

``build_feature_cache(data_dir, "foa", "logmel_iv", cache_dir="cache", workers=2)`` extracts every recording of
``<data_dir>/foa_dev`` and ``<data_dir>/foa_eval`` (split "eval", no labels) into one cache (in parallel,
resumable: finished files whose sources did not change are skipped, every file is written atomically), the ADPIT labels of those with ``metadata_dev`` CSVs, the training statistics, and
returns the :class:`feature.cache.FeatureCache`. ``extract_file(path, extractor)`` featurises one recording
(e.g. a user's recording for ``seld.py predict``). :class:`CropFeatures` featurises crops of recordings on the fly
(the STFT of the crop alone, as the official AV baseline's training windows: ``data.official_crop_stft``).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import yaml
from tqdm import tqdm

from feature.base import (FeatureConfig, FeatureExtractor, build_extractor, extractor_class, extractor_names,
                          with_official_val_padding)
from feature.cache import FEATURE_DTYPES, STATS_FILE, FeatureCache, cache_folder, default_cache_dir
from feature.labels import read_adpit_targets
from util.audio_io import audio_info, read_audio
from util.cli import add_quiet_argument
from util.errors import InputError
from util.fileio import atomic_path, make_folder
from util.layout import AUDIO_FORMATS, SPLITS, DatasetLayout, Recording
from util.npy_cache import save_npy_atomic, stamp_matches, write_config, write_stamp
from util.parallel import run_parallel

#: dataset stages read into one cache: ``<fmt>_dev/`` and ``<fmt>_eval/`` (evaluation recordings, split "eval")
STAGES: tuple[str, ...] = ("dev", "eval")
#: floor of the standard deviation in the normalisation statistics
STD_FLOOR: float = 1e-6


def extract_file(path: str | Path, extractor: FeatureExtractor) -> np.ndarray:
    """Features (C, T, F) float32 of one wav file; InputError on a wrong channel count / sample rate / corrupt file."""
    audio, _ = read_audio(path, channels=extractor.input_channels, sample_rate=extractor.config.sample_rate)
    return extractor.extract(audio)


class CropFeatures:
    """Features of a window computed from its audio crop alone, as the official AV baseline's training data loader
    does (SELDDataSet._wav2spec: STFT with center=True of ``wav[o : o + (T - 1) hop]``, zero padded at the crop
    edges), instead of a slice of the whole-recording features (which differs in the 2 first and 2 last frames).

    ``crop(rec, start, frames)`` -> (C, frames, F) float32: frame m centred on sample ``(start + m) hop`` of the
    recording, computed from samples ``[start hop, (start + frames - 1) hop)`` only (zeros outside the file). The
    official validation padding is never applied here (training crops are centred). Picklable (DataLoader
    workers): the extractor is built on first use. Equal to the official crops within 1e-5 of the largest
    amplitude: tests/test_parity_official.py."""

    def __init__(self, config: FeatureConfig, audio_paths: dict[Recording, Path]):
        self.config = with_official_val_padding(config, False)
        self.audio_paths = {rec: Path(p) for rec, p in audio_paths.items()}
        self._extractor: FeatureExtractor | None = None
        self._lengths: dict[Recording, int] = {}

    def _audio(self, rec: Recording, lo: int, hi: int, channels: int) -> np.ndarray:
        """Samples [lo, hi) of a recording (channels, hi - lo) float32, zeros outside the file."""
        path = self.audio_paths[rec]
        if rec not in self._lengths:
            self._lengths[rec] = int(audio_info(path).frames)
        n = self._lengths[rec]
        out = np.zeros((channels, hi - lo), dtype=np.float32)
        a, b = max(lo, 0), min(hi, n)
        if b > a:
            try:
                data, _ = sf.read(str(path), start=a, stop=b, dtype="float32", always_2d=True)
            except Exception as exc:  # soundfile raises several types for corrupt files
                raise InputError(path, f"corrupt or truncated audio ({exc})") from exc
            out[:, a - lo:a - lo + len(data)] = data.T
        return out

    def __call__(self, rec: Recording, start: int, frames: int) -> np.ndarray:
        """Features of the window of ``frames`` frames starting at feature frame ``start``."""
        return self.at_sample(rec, start * self.config.hop_length, frames)

    def at_sample(self, rec: Recording, start_sample: int, frames: int) -> np.ndarray:
        """Features (C, frames, F) of the crop starting at any sample (the official offsets are sample-exact)."""
        if self._extractor is None:
            self._extractor = build_extractor(self.config)
        hop = self.config.hop_length
        crop = self._audio(rec, start_sample, start_sample + (frames - 1) * hop, self._extractor.input_channels)
        # one hop of zeros more: the centred STFT pads with zeros anyway, and the extractor then yields >= frames
        crop = np.pad(crop, ((0, 0), (0, hop)))
        return self._extractor.extract(crop)[:, :frames]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_extractor": None}


def _source_signature(*paths: Path | None) -> list[Any]:
    sig = []
    for p in paths:
        if p is None or not p.is_file():
            sig.append(None)
        else:
            st = p.stat()
            sig.append([p.name, st.st_size, st.st_mtime_ns])
    return sig


def _is_finished(cache: FeatureCache, rec: Recording, signature: list[Any]) -> bool:
    return stamp_matches(cache.feature_path(rec), cache.stamp_path(rec), signature)


def _extract_recording(extractor: FeatureExtractor, cache: FeatureCache, rec: Recording, audio_path: Path,
                       csv_path: Path | None, signature: list[Any]) -> None:
    """Features, labels and stamp of one recording (run in a worker). Labels are read before anything is
    written, and a failure removes the recording's files from the cache (none are left half-valid)."""
    try:
        feats = extract_file(audio_path, extractor)
        labels = None
        if csv_path is not None:
            labels = read_adpit_targets(csv_path, feats.shape[1] // extractor.frames_per_label)
        save_npy_atomic(cache.feature_path(rec), feats.astype(cache.dtype, copy=False))
        if labels is not None:
            save_npy_atomic(cache.label_path(rec), labels)
        elif cache.label_path(rec).exists():
            cache.label_path(rec).unlink()
        write_stamp(cache.stamp_path(rec), signature)
    except BaseException:
        for path in (cache.stamp_path(rec), cache.feature_path(rec), cache.label_path(rec)):
            path.unlink(missing_ok=True)
        raise


_WORKER_EXTRACTOR: FeatureExtractor | None = None


def _init_worker(config_dict: dict[str, Any]) -> None:
    global _WORKER_EXTRACTOR
    _WORKER_EXTRACTOR = build_extractor(FeatureConfig.from_dict(config_dict))


def _worker_job(folder: str, rec: Recording, audio_path: Path, csv_path: Path | None, signature: list[Any]) -> None:
    assert _WORKER_EXTRACTOR is not None
    _extract_recording(_WORKER_EXTRACTOR, FeatureCache.open(folder), rec, audio_path, csv_path, signature)


#: feature frames read at a time when accumulating statistics (bounded memory for long recordings)
STATS_BLOCK_FRAMES: int = 4096


def compute_stats(cache: FeatureCache, recordings: list[Recording], progress: bool = True
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (C, F) over every frame of ``recordings`` (float64 accumulation)."""
    channels, bins = cache.feature_shape
    total, total_sq = np.zeros((channels, bins)), np.zeros((channels, bins))
    count = 0
    for rec in tqdm(recordings, desc="statistics", unit="file", leave=False, disable=not progress):
        feats = cache.features(rec)
        for start in range(0, feats.shape[1], STATS_BLOCK_FRAMES):
            x = np.asarray(feats[:, start:start + STATS_BLOCK_FRAMES], dtype=np.float64)
            total += x.sum(axis=1)
            total_sq += np.square(x).sum(axis=1)
        count += feats.shape[1]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0.0))
    return mean.astype(np.float32), np.maximum(std, STD_FLOOR).astype(np.float32)


def _read_stamp(cache: FeatureCache, rec: Recording) -> str:
    path = cache.stamp_path(rec)
    return path.read_text() if path.is_file() else ""


def _update_stats(cache: FeatureCache, progress: bool) -> None:
    """(Re)write stats.npz when the set of cached training recordings changed."""
    path = cache.folder / STATS_FILE
    train = cache.recordings("train")
    # keyed by the training recordings and their source stamps: a re-extracted file refreshes the statistics
    names = np.array([f"{r.split_dir}/{r.name}:{_read_stamp(cache, r)}" for r in train])
    if path.is_file():
        with np.load(path) as z:
            if np.array_equal(z["recordings"], names):
                return
    channels, bins = cache.feature_shape
    if not cache.normalised_by_stats:
        mean, std = np.zeros((channels, bins), np.float32), np.ones((channels, bins), np.float32)
    elif not train:
        return
    else:
        mean, std = compute_stats(cache, train, progress)
    with atomic_path(path) as tmp:
        np.savez(tmp, mean=mean, std=std, recordings=names)
    cache._stats = None


def build_feature_cache(data_dir: str | Path, audio_format: str, feature: str | FeatureConfig,
                        cache_dir: str | Path = "cache", workers: int = 1, splits: list[str] | None = None,
                        dtype: str = "float32", progress: bool = True) -> FeatureCache:
    """Extract features (+ labels, + training statistics) of a STARSS23-layout dataset into the cache.

    ``feature`` is an extractor name (default settings) or a full FeatureConfig; ``splits`` a subset of
    train/test/eval (None = all). Returns the cache; a second call with the same settings skips finished files.
    """
    if audio_format not in AUDIO_FORMATS:
        raise ValueError(f"unknown audio format {audio_format!r}; choose from {AUDIO_FORMATS}")
    if dtype not in FEATURE_DTYPES:
        raise ValueError(f"dtype must be one of {FEATURE_DTYPES}")
    extractor = build_extractor(feature)
    if audio_format not in extractor.formats:
        raise ValueError(f"feature {extractor.name!r} does not accept {audio_format} audio "
                         f"(choose from {extractor_names(audio_format)})")
    sources: dict[Recording, DatasetLayout] = {}  # dev stage (foa_dev/...) and evaluation stage (foa_eval/...)
    for stage in STAGES:
        layout = DatasetLayout(data_dir, stage)
        for rec in layout.recordings(audio_format):
            if (splits is None or rec.split in splits) and rec not in sources:
                sources[rec] = layout
    recordings = sorted(sources)
    if not recordings:
        raise InputError(DatasetLayout(data_dir).audio_dir(audio_format),
                         f"no .wav recordings found (splits: {splits or 'all'})")

    folder = cache_folder(cache_dir, extractor.config, audio_format, data_dir, dtype)
    meta = {"feature": extractor.config.to_dict(), "format": audio_format, "dtype": dtype,
            "data_dir": str(Path(data_dir).resolve()), "frames_per_label": extractor.frames_per_label,
            "frame_shift_s": extractor.frame_shift_s, "feature_shape": list(extractor.feature_shape),
            "normalise": extractor.normalise}
    make_folder(folder, "feature cache folder")  # one clear line when the cache cannot be made, before any work
    write_config(folder, meta, end="\n")
    cache = FeatureCache.open(folder)
    # recordings of the chosen splits that are no longer in the dataset (regenerated, deleted) leave the cache
    cache.prune(r for r in cache.recordings() if r in sources or (splits is not None and r.split not in splits))

    jobs = []
    for rec in recordings:
        layout = sources[rec]
        audio_path = layout.audio_path(audio_format, rec)
        csv_path = layout.metadata_path(rec)
        csv_path = csv_path if csv_path.is_file() else None
        signature = _source_signature(audio_path, csv_path)
        if not _is_finished(cache, rec, signature):
            jobs.append((rec, audio_path, csv_path, signature))

    if workers <= 1 or len(jobs) <= 1:
        jobs = [(extractor, cache, *job) for job in jobs]
        run_parallel(_extract_recording, jobs, 1, f"extract {extractor.name}", len(recordings), progress)
    else:
        jobs = [(str(folder), *job) for job in jobs]
        run_parallel(_worker_job, jobs, workers, f"extract {extractor.name}", len(recordings), progress,
                     initializer=_init_worker, initargs=(extractor.config.to_dict(),))
    _update_stats(cache, progress)
    return cache


# command line -------------------------------------------------------------------------------------------------
def _parse_setting(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    return key.strip(), yaml.safe_load(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``seld.py extract``."""
    parser.add_argument("--data-dir", required=True, type=Path, help="dataset root (STARSS23 layout)")
    parser.add_argument("--format", required=True, choices=AUDIO_FORMATS, help="audio format to featurise")
    parser.add_argument("--feature", required=True, choices=extractor_names(), help="feature extractor")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="root of feature caches (default: <data-dir>/cache, where training looks too)")
    parser.add_argument("--workers", type=int, default=max(1, min(4, os.cpu_count() or 1)), help="parallel processes")
    parser.add_argument("--split", "--splits", dest="splits", default="all", metavar="SPLIT",
                        help=f"split to featurise: {', '.join(SPLITS)} or all (or a comma-separated list)")
    parser.add_argument("--dtype", choices=FEATURE_DTYPES, default="float32", help="storage type of features")
    parser.add_argument("--set", dest="settings", action="append", type=_parse_setting, default=[], metavar="KEY=VALUE",
                        help="override a feature setting, e.g. --set n_mels=128 --set fmax_hz=12000 (repeatable)")
    add_quiet_argument(parser)


def run(args: argparse.Namespace) -> int:
    """Extract features and ADPIT labels of a dataset into a feature cache."""
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    splits = list(SPLITS) if splits == ["all"] else splits
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise InputError(None, f"unknown split(s) {sorted(unknown)}; choose from {', '.join(SPLITS)}")
    try:
        config = extractor_class(args.feature).default_config(**dict(args.settings))
        config.validate()
    except (TypeError, ValueError) as exc:
        raise InputError(None, f"bad feature setting: {exc}") from exc
    if args.format not in extractor_class(args.feature).formats:
        raise InputError(None, f"feature {args.feature} does not accept {args.format} audio; "
                               f"choose from {extractor_names(args.format)}")
    cache_dir = args.cache_dir if args.cache_dir is not None else default_cache_dir(args.data_dir)
    cache = build_feature_cache(args.data_dir, args.format, config, cache_dir=cache_dir, workers=args.workers,
                                splits=splits, dtype=args.dtype, progress=not args.quiet)
    counts = {s: len(cache.recordings(s)) for s in SPLITS}
    print(f"feature cache: {cache.folder}  ({', '.join(f'{k} {v}' for k, v in counts.items() if v)} recordings, "
          f"feature shape {cache.feature_shape}, {cache.frames_per_label} frames per label frame)")
    return 0
