"""Training and inference windows over the feature cache, ADPIT labels and cached visual inputs.

Nothing is decoded or detected here: features and labels come from ``feature.cache.FeatureCache`` memmaps (or, with
``data.official_crop_stft``, window features from the audio crop alone: ``feature.extract.CropFeatures``), visual
inputs (Gaussian vectors or video frames, one array per recording at the label rate) from a cached visual source.

A window is ``window_frames`` feature frames starting at feature frame ``start``, a multiple of the network's output
hop (a label-frame boundary for label-rate networks); it may start before 0 or run past the end: zero padding, i.e.
the training mean after standardisation, and inactive labels. One item is::

    audio   (C, window_frames, F) float32, standardised with the training statistics
    target  (window_frames / output_hop, 6, 5, 13) float32 ADPIT targets at the network's output rate
            (output frame j takes the label frame holding feature frame start + j * output_hop; with
            ``official_label_offset`` the official truncated offset: feature.labels.window_label_index)
    visual  (ceil(window_frames / frames_per_label), ...) visual inputs of the label frames of the window
            (absent when there is no visual input)

An epoch tiles every training recording with consecutive windows after a random shift (so it covers all training
audio once: ``len(sampler)`` windows), in a random order (``data.sampling: tiled``), or draws as many windows of
recordings chosen uniformly at uniform offsets on the output-frame grid (``random_crop``, the AV baseline's
sampling); both depend only on (seed, epoch), and an epoch can be resumed part-way (``skip``). With DDP every rank takes its own share of the same permutation. With
augmentation on, every window also draws one of 16 FOA rotations/reflections (:class:`FoaRotations`), applied
to features, targets and visual inputs alike; with mixing on (``mix_prob``), a share of the windows get a second
window of the epoch (with its own transform and a random level) played on top: features mixed as uncorrelated
scenes (:func:`feature.foa.mix_logmel_iv`), targets and person vectors merged (denser, more varied scenes); with
masking on, time and frequency bands of the features are blanked (:class:`TimeFrequencyMasking`).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from feature.base import capability, features_with, require_capability
from feature.cache import FeatureCache
from feature.extract import CropFeatures
from feature.foa import LogmelIV, mix_logmel_iv
from feature.labels import merge_adpit, window_targets
from feature.visual import merge_person_slots
from util.config import DataConfig
from util.conventions import LABEL_FPS, NUM_AUDIO_CHANNELS
from util.errors import InputError
from util.layout import Recording

#: Level range (dB) of a mixed-in window relative to the window it is added to.
MIX_GAIN_DB: tuple[float, float] = (-3.0, 3.0)
#: Log-mel level (dB) given to frames outside a recording before two windows are mixed (silence).
SILENT_DB: float = -200.0

def crop_padded(array: np.ndarray, start: int, length: int, axis: int = 0) -> np.ndarray:
    """``array[start:start + length]`` along ``axis`` with zeros where the range leaves the array."""
    n = array.shape[axis]
    lo, hi = max(start, 0), min(start + length, n)
    shape = list(array.shape)
    shape[axis] = length
    out = np.zeros(shape, dtype=array.dtype)
    if hi > lo:
        src = [slice(None)] * array.ndim
        dst = [slice(None)] * array.ndim
        src[axis] = slice(lo, hi)
        dst[axis] = slice(lo - start, hi - start)
        out[tuple(dst)] = array[tuple(src)]
    return out


@dataclass(frozen=True)
class WindowKey:
    """One window: recording index in the dataset, first feature frame, spatial augmentation (0 = none), the
    seed of its time-frequency masks (drawn with the epoch, so masking is deterministic too) and an optional
    second window mixed in at ``gain_db``."""

    rec: int
    start: int
    aug: int = 0
    mask_seed: int = 0
    partner: WindowKey | None = None
    gain_db: float = 0.0


@dataclass(frozen=True)
class TimeFrequencyMasking:
    """SpecAugment-style masking of a standardised window (C, T, F): ``time_masks`` bands of up to
    ``max_time_frac`` of the frames and ``freq_masks`` bands of up to ``max_freq_frac`` of the bins are set to 0
    (the training mean) in every channel at once, so level and spatial channels stay consistent. Targets are
    unchanged: the masks are short against events and the network learns to bridge them."""

    time_masks: int = 2
    max_time_frac: float = 0.1
    freq_masks: int = 2
    max_freq_frac: float = 0.15

    def __call__(self, feats: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        _, frames, bins = feats.shape
        for count, frac, size, axis in ((self.time_masks, self.max_time_frac, frames, 1),
                                        (self.freq_masks, self.max_freq_frac, bins, 2)):
            for _ in range(count):
                width = int(rng.integers(0, max(1, int(frac * size)) + 1))
                lo = int(rng.integers(0, size - width + 1))
                index = [slice(None)] * 3
                index[axis] = slice(lo, lo + width)
                feats[tuple(index)] = 0.0
        return feats


@dataclass(frozen=True)
class RandomEqualizer:
    """A random smooth filter (FilterAugment-style) on a raw window (C, T, F): a piecewise-linear gain curve over
    the bins, 2 to 5 inner knots at random bins plus both ends, each knot uniform in +-``max_gain_db``, added to
    the first ``level_channels`` channels (log spectra in dB; see ``FeatureExtractor.level_channels``). The scene's directions are
    untouched and so are the targets: the network sees each sound with other colourations (microphone, room,
    source), which the 20-clip training split otherwise repeats."""

    max_gain_db: float
    level_channels: int

    def __call__(self, feats: np.ndarray, seed: int) -> np.ndarray:
        rng = np.random.default_rng([seed, 1])  # a stream of its own: the masks use default_rng(seed)
        bins = feats.shape[2]
        inner = np.sort(rng.uniform(0, bins - 1, int(rng.integers(2, 6))))
        knots = np.concatenate([[0.0], inner, [bins - 1.0]])
        gains = rng.uniform(-self.max_gain_db, self.max_gain_db, len(knots))
        curve = np.interp(np.arange(bins), knots, gains).astype(feats.dtype)
        feats[: self.level_channels] += curve
        return feats


class FoaRotations:
    """The 16 spatial transforms of FOA scenes (azimuth rotations by k * 90 deg, with or without azimuth
    reflection, with or without elevation reflection), applied consistently to ``logmel_iv`` features (channel
    swaps of the log-mels, signed swaps of the intensity vectors), to ADPIT targets (xyz) and to the visual inputs
    (circular shifts / flips of the Gaussian azimuth vectors or of the equirectangular frames).
    Transform ``t``: k = t % 4, azimuth reflection = (t // 4) % 2, elevation reflection = t // 8; 0 = identity.
    """

    count = 16
    #: feature channels of x, y, z in logmel_iv (log-mels of W, Y, Z, X, then intensity y, z, x): see feature/foa.py
    LOGMEL_XYZ = (3, 1, 2)
    IV_XYZ = LogmelIV.intensity_channels

    @staticmethod
    def matrix(t: int) -> np.ndarray:
        """3x3 signed permutation acting on direction vectors (x, y, z)."""
        k, flip_az, flip_el = t % 4, (t // 4) % 2, t // 8
        c, s = [(1, 0), (0, 1), (-1, 0), (0, -1)][k]
        rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=np.float32)
        refl = np.diag([1.0, -1.0 if flip_az else 1.0, -1.0 if flip_el else 1.0]).astype(np.float32)
        return rot @ refl

    def features(self, feats: np.ndarray, t: int) -> np.ndarray:
        """Raw logmel_iv features (7, T, F) of the transformed scene."""
        m = self.matrix(t)
        out = feats.copy()
        for a in range(3):
            b = int(np.flatnonzero(m[a])[0])
            out[self.LOGMEL_XYZ[a]] = feats[self.LOGMEL_XYZ[b]]
            out[self.IV_XYZ[a]] = m[a, b] * feats[self.IV_XYZ[b]]
        return out

    def targets(self, target: np.ndarray, t: int) -> np.ndarray:
        """ADPIT targets (T, 6, 5, C) with directions transformed."""
        out = target.copy()
        out[:, :, 1:4] = np.einsum("ab,tkbc->tkac", self.matrix(t), target[:, :, 1:4])
        return out

    @staticmethod
    def _azimuth_map(t: int, n: int, pixel_centres: bool) -> np.ndarray:
        """Source index of every output column of a circular azimuth grid of ``n`` columns spanning 360 deg from
        +180 (at column 0) leftwards: the transform maps azimuth a to (flip ? -a : a) + 90 k. Grid points sit at
        the column positions (vectors) or at column centres (image pixels)."""
        k, flip_az = t % 4, (t // 4) % 2
        cols = np.arange(n)
        shift = k * n // 4
        if flip_az:
            return (n - int(pixel_centres) - cols - shift) % n
        return (cols + shift) % n

    def visual(self, visual: np.ndarray, t: int, kind: str) -> np.ndarray:
        """Gaussian vectors (T, 2, N, P) or frames (T, H, W, 3) of the transformed scene."""
        flip_el = t // 8
        if kind == "vectors":
            out = visual.copy()
            n = visual.shape[-1] - 1  # P points span [+180, -180]: the last repeats the first direction
            src = self._azimuth_map(t, n, pixel_centres=False)
            out[:, 0, :, :n] = visual[:, 0][..., src]
            out[:, 0, :, n] = out[:, 0, :, 0]
            if flip_el:
                out[:, 1] = visual[:, 1, :, ::-1]
            return out
        out = visual[:, :, self._azimuth_map(t, visual.shape[2], pixel_centres=True)]
        return np.ascontiguousarray(out[:, ::-1] if flip_el else out)



def supported_augmentation(data: DataConfig, feature_name: str,
                           source: str | Path | None = None) -> tuple[bool, float, list[str]]:
    """The training augmentation the features allow, checked against the extractor's capabilities (the one
    place): (spatial augmentation on, equalisation range dB, one warning per setting dropped). ``data.augment``
    and ``data.equalize_db`` are dropped with a warning on features without the capability; ``data.mix`` > 0 on
    features that cannot be mixed raises InputError(source, ...)."""
    notes = []
    augment = bool(data.augment) and bool(capability(feature_name, "rotatable"))
    if data.augment and not augment:
        notes.append(f"no spatial augmentation for feature {feature_name} "
                     f"(supported: {', '.join(features_with('rotatable'))})")
    equalize_db = float(data.equalize_db) if capability(feature_name, "level_channels") else 0.0
    if data.equalize_db > 0 and not equalize_db:
        notes.append(f"no random equalisation for feature {feature_name} "
                     f"(supported: {', '.join(features_with('level_channels'))})")
    if data.mix > 0:
        require_capability(feature_name, "mixable", "data.mix", source)
    return augment, equalize_db, notes


class SELDWindows(Dataset):
    """Map-style dataset over windows of cached recordings, indexed by :class:`WindowKey` (from
    :class:`WindowSampler`, whose ``len`` is the real epoch length)."""

    def __init__(self, cache: FeatureCache, recordings: Sequence[Recording], window_frames: int, output_hop: int,
                 visual: CachedVisualSource | None = None, with_labels: bool = True, augment: bool = False,
                 masking: TimeFrequencyMasking | None = None, equalize_db: float = 0.0,
                 official_label_offset: bool = False, crop_features: CropFeatures | None = None):
        fpl = cache.frames_per_label
        if window_frames % output_hop:
            raise ValueError(f"window of {window_frames} frames is not a multiple of the output hop {output_hop}")
        if output_hop > fpl or fpl % output_hop:
            raise ValueError(f"output hop {output_hop} must divide the {fpl} feature frames per label frame")
        self.cache = cache
        self.recordings = list(recordings)
        self.window_frames = window_frames
        self.output_hop = output_hop
        self.frames_per_label = fpl
        self.visual = visual
        self.with_labels = with_labels
        self.official_label_offset = official_label_offset  # data.official_label_offset (feature.labels)
        self.crop_features = crop_features                  # data.official_crop_stft (feature.extract)
        self.num_frames = [int(cache.features(r).shape[1]) for r in self.recordings]
        self.rotations = FoaRotations() if augment else None
        self.masking = masking
        self.equalizer = None
        name = cache.feature_config.name
        if equalize_db > 0:
            require_capability(name, "level_channels", source=cache.folder)
            self.equalizer = RandomEqualizer(equalize_db, capability(name, "level_channels"))
        self.can_mix = bool(capability(name, "mixable"))
        if augment:
            require_capability(name, "rotatable", source=cache.folder)

    @property
    def num_augmentations(self) -> int:
        """Distinct spatial transforms the sampler may draw (1 = none)."""
        return self.rotations.count if self.rotations is not None else 1

    @property
    def label_window(self) -> int:
        """Label frames (visual inputs) per window."""
        return math.ceil(self.window_frames / self.frames_per_label)

    def __getitem__(self, key: WindowKey) -> dict[str, np.ndarray]:
        item, inside = self._raw_window(key)
        if key.partner is not None:
            require_capability(self.cache.feature_config.name, "mixable", source=self.cache.folder)
            other, other_inside = self._raw_window(key.partner)
            item["audio"] = mix_logmel_iv(self._silence_outside(item["audio"], inside),
                                          self._silence_outside(other["audio"], other_inside), key.gain_db)
            inside = inside | other_inside
            if "target" in item:
                item["target"] = merge_adpit(item["target"], other["target"])
            if "visual" in item and self.visual.kind == "vectors":
                item["visual"] = merge_person_slots(item["visual"], other["visual"])
        if self.equalizer is not None:
            item["audio"] = self.equalizer(item["audio"], key.mask_seed)
        audio = self.cache.normalize(item["audio"])
        audio[:, ~inside] = 0.0  # frames outside the recording(s): the training mean
        item["audio"] = self.masking(audio, key.mask_seed) if self.masking is not None else audio
        return item

    def _raw_window(self, key: WindowKey) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The window's raw (unstandardised) features, targets and visual input, spatially transformed, and which
        of its feature frames lie inside the recording."""
        rec = self.recordings[key.rec]
        fpl = self.frames_per_label
        if key.start % self.output_hop:
            raise ValueError(f"window start {key.start} is not on the output-frame grid ({self.output_hop} frames)")
        if self.crop_features is not None:
            feats = self.crop_features(rec, key.start, self.window_frames)
        else:
            feats = crop_padded(np.asarray(self.cache.features(rec)), key.start, self.window_frames, axis=1)
        aug = key.aug if self.rotations is not None else 0
        if aug:
            feats = self.rotations.features(feats, aug)
        positions = key.start + np.arange(self.window_frames)
        inside = (positions >= 0) & (positions < self.num_frames[key.rec])
        item = {"audio": feats}
        if self.with_labels:
            feat = self.cache.feature_config
            target = window_targets(self.cache.labels(rec), key.start, self.window_frames, self.output_hop, fpl,
                                    feat.hop_length, feat.sample_rate, self.official_label_offset)
            item["target"] = self.rotations.targets(target, aug) if aug else target
        if self.visual is not None:
            visual = crop_padded(self.visual(rec), key.start // fpl, self.label_window)
            item["visual"] = self.rotations.visual(visual, aug, self.visual.kind) if aug else visual
        return item, inside

    @staticmethod
    def _silence_outside(feats: np.ndarray, inside: np.ndarray) -> np.ndarray:
        """Raw logmel_iv features with the frames outside the recording made silent (for mixing)."""
        out = feats.copy()
        out[:NUM_AUDIO_CHANNELS, ~inside] = SILENT_DB
        out[NUM_AUDIO_CHANNELS:, ~inside] = 0.0
        return out


#: Training window sampling schemes (``data.sampling``).
SAMPLING_SCHEMES: tuple[str, ...] = ("tiled", "random_crop")


def _tiled_keys(rng: np.random.Generator, num_frames: Sequence[int], window_frames: int,
                frames_per_label: int) -> list[WindowKey]:
    """Every recording tiled once with consecutive label-aligned windows after a random shift, shuffled."""
    keys = []
    for r, total in enumerate(num_frames):
        count = max(1, math.ceil(total / window_frames))
        slack = count * window_frames - total
        shift = int(rng.integers(0, slack + 1))
        for k in range(count):
            start = k * window_frames - shift
            keys.append(WindowKey(r, frames_per_label * math.floor(start / frames_per_label)))
    return [keys[i] for i in rng.permutation(len(keys))]


def _random_crop_keys(rng: np.random.Generator, num_frames: Sequence[int], window_frames: int, step: int,
                      count: int) -> list[WindowKey]:
    """``count`` windows, each of a recording drawn uniformly (with replacement) at a start drawn uniformly from
    the multiples of ``step`` that keep the window inside the recording (0 when it is shorter than a window): the
    AV baseline's sampling (a file by ``random.choice``, a crop offset by ``select_time``)."""
    recs = rng.integers(0, len(num_frames), count)
    slots = np.array([max(0, (n - window_frames) // step) for n in num_frames])
    starts = step * rng.integers(0, slots[recs] + 1)
    return [WindowKey(int(r), int(s)) for r, s in zip(recs, starts)]


def epoch_length(num_frames: Sequence[int], window_frames: int) -> int:
    """Windows per epoch: as many as tile every recording once (also for random crops, whose epochs are a
    bookkeeping unit of the same size)."""
    return sum(max(1, math.ceil(n / window_frames)) for n in num_frames)


def epoch_windows(num_frames: Sequence[int], window_frames: int, frames_per_label: int, seed: int,
                  epoch: int, num_augmentations: int = 1, mix_prob: float = 0.0, sampling: str = "tiled",
                  crop_step: int = 1) -> list[WindowKey]:
    """The windows of one epoch: ``tiled``, each recording tiled once after a random shift, then shuffled;
    ``random_crop``, :func:`epoch_length` windows of recordings drawn uniformly at uniform offsets on a grid of
    ``crop_step`` feature frames. Each window draws a spatial transform in [0, num_augmentations) and, with
    probability ``mix_prob``, another window of the epoch (as drawn) to mix in at a level in MIX_GAIN_DB (from a
    stream of its own: without mixing the windows are those of earlier versions)."""
    if sampling not in SAMPLING_SCHEMES:
        raise ValueError(f"unknown window sampling {sampling!r} ({', '.join(SAMPLING_SCHEMES)})")
    rng = np.random.default_rng([seed, epoch])
    if sampling == "tiled":
        keys = _tiled_keys(rng, num_frames, window_frames, frames_per_label)
    else:
        keys = _random_crop_keys(rng, num_frames, window_frames, crop_step, epoch_length(num_frames, window_frames))
    augs = rng.integers(0, num_augmentations, len(keys)) if num_augmentations > 1 else np.zeros(len(keys), int)
    mask_seeds = rng.integers(0, 2 ** 31, len(keys))
    windows = [dataclasses.replace(k, aug=int(a), mask_seed=int(m)) for k, a, m in zip(keys, augs, mask_seeds)]
    if mix_prob <= 0 or len(windows) < 2:
        return windows
    mix_rng = np.random.default_rng([seed, epoch, 1])
    mixed = mix_rng.random(len(windows)) < mix_prob
    offsets = mix_rng.integers(1, len(windows), len(windows))  # partner = another window of the epoch
    gains = mix_rng.uniform(*MIX_GAIN_DB, len(windows))
    return [dataclasses.replace(w, partner=windows[(i + offsets[i]) % len(windows)], gain_db=float(gains[i]))
            if mixed[i] else w for i, w in enumerate(windows)]


class WindowSampler(Sampler):
    """Yields the :class:`WindowKey` s of an epoch for one rank; ``set_epoch(epoch, skip)`` selects the epoch and
    how many of this rank's windows were already consumed (resume). ``sampling`` / ``crop_step``: see
    :func:`epoch_windows`."""

    def __init__(self, num_frames: Sequence[int], window_frames: int, frames_per_label: int, seed: int,
                 rank: int = 0, world_size: int = 1, num_augmentations: int = 1, mix_prob: float = 0.0,
                 sampling: str = "tiled", crop_step: int = 1):
        if sampling not in SAMPLING_SCHEMES:
            raise ValueError(f"unknown window sampling {sampling!r} ({', '.join(SAMPLING_SCHEMES)})")
        self.num_frames = list(num_frames)
        self.num_augmentations = num_augmentations
        self.mix_prob = mix_prob
        self.window_frames = window_frames
        self.frames_per_label = frames_per_label
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.sampling = sampling
        self.crop_step = crop_step
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch = epoch
        self.skip = skip

    def _rank_keys(self) -> list[WindowKey]:
        keys = epoch_windows(self.num_frames, self.window_frames, self.frames_per_label, self.seed, self.epoch,
                             self.num_augmentations, self.mix_prob, self.sampling, self.crop_step)
        per_rank = math.ceil(len(keys) / self.world_size)
        keys = keys + keys[: per_rank * self.world_size - len(keys)]  # pad so every rank gets the same count
        return keys[self.rank::self.world_size]

    def __iter__(self) -> Iterator[WindowKey]:
        return iter(self._rank_keys()[self.skip:])

    def __len__(self) -> int:
        return math.ceil(epoch_length(self.num_frames, self.window_frames) / self.world_size) - self.skip


def collate(items: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Stack the items' arrays into tensors."""
    return {k: torch.from_numpy(np.stack([it[k] for it in items])) for k in items[0]}


def make_train_loader(dataset: SELDWindows, sampler: WindowSampler, batch_size: int, num_workers: int,
                      seed: int, pin_memory: bool = False) -> DataLoader:
    """DataLoader over a sampler's windows (full batches only; persistent worker processes when ``num_workers`` > 0:
    iterate it again after ``sampler.set_epoch`` for the next epoch). Its own generator (from ``seed``) keeps the
    global torch RNG untouched, so resumed runs stay exact."""
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers, collate_fn=collate,
                      drop_last=True, pin_memory=pin_memory, persistent_workers=num_workers > 0,
                      generator=torch.Generator().manual_seed(seed),
                      multiprocessing_context="spawn" if num_workers > 0 else None)


def inference_windows(num_frames: int, window_frames: int, hop_frames: int, frames_per_label: int,
                      margin_frames: int = 0) -> list[int]:
    """Window starts covering a whole recording on the exact grid: window k starts at k * hop - margin, so that its
    kept part (the window less ``margin_frames`` at each end) begins at k * hop, label-aligned; windows follow
    until the kept parts reach the end. Negative starts and windows past the end are zero-padded."""
    if hop_frames <= 0 or hop_frames % frames_per_label:
        raise ValueError(f"inference hop of {hop_frames} frames must be a positive multiple of {frames_per_label}")
    starts = [-margin_frames]
    while starts[-1] + window_frames - margin_frames < num_frames:
        starts.append(starts[-1] + hop_frames)
    return starts


def official_window_times(duration_s: float, hop_s: float) -> np.ndarray:
    """The AV baseline's window start times (SELDDetector.set_duration): ``np.arange(0, duration, hop)``, or up to
    ``duration + hop`` when the duration is a multiple of the hop (float remainder 0 or within 1e-10 of the hop;
    then a window starts at the very end)."""
    rest = duration_s % hop_s
    if rest == 0 or abs(rest - hop_s) < 1e-10:
        return np.arange(0, duration_s + hop_s, hop_s)
    return np.arange(0, duration_s, hop_s)


@dataclass(frozen=True)
class WindowGrid:
    """The sliding windows over one recording, in feature frames: the network input of window k is
    ``features[starts[k] : starts[k] + window]`` (zero-padded outside the recording); its output frames from
    ``margin`` on are kept. ``label_starts`` is None on the exact grid (kept outputs are placed by their feature
    frame and overlaps averaged); on the AV baseline's float grid it is the label frame the kept block of ``hop``
    frames of window k is written to (its 100 ms groups become label frames label_starts[k], +1, ...)."""

    starts: tuple[int, ...]
    window: int
    hop: int
    margin: int
    label_starts: tuple[int, ...] | None = None

    @property
    def official(self) -> bool:
        return self.label_starts is not None


def window_grid(num_frames: int, window_frames: int, hop_frames: int, margin_frames: int, frames_per_label: int,
                official: bool = False) -> WindowGrid:
    """The windows of a recording of ``num_frames`` feature frames: the exact grid (:func:`inference_windows`), or
    with ``official`` the AV baseline's float grid: start times t = :func:`official_window_times` (duration =
    num_frames / frames per second, hop = hop_frames / frames per second, as the baseline's 1.2 s), network input
    from feature frame int(t * fps) - margin (the baseline's whole-file array has ``margin`` leading zero frames
    and is cut at int(t * fps)), kept block written to label frame int(t * 10). The float products truncate:
    int(3.5999999999999996 * 100) = 359, so some windows start one feature frame early and, from 10.8 s on,
    some blocks one label frame early (a frame written twice, the next block's last frame never); the last
    window's rows run past the end."""
    if not official:
        return WindowGrid(tuple(inference_windows(num_frames, window_frames, hop_frames, frames_per_label,
                                                  margin_frames)), window_frames, hop_frames, margin_frames)
    if hop_frames <= 0 or hop_frames % frames_per_label:
        raise ValueError(f"inference hop of {hop_frames} frames must be a positive multiple of {frames_per_label}")
    fps = frames_per_label * LABEL_FPS
    times = official_window_times(num_frames / fps, hop_frames / fps)
    return WindowGrid(tuple(int(t * fps) - margin_frames for t in times), window_frames, hop_frames, margin_frames,
                      tuple(int(t * LABEL_FPS) for t in times))


class CachedVisualSource:
    """Per-recording visual inputs at the label rate from a visual cache (``util.npy_cache.RecordingArrayCache``):
    Gaussian vectors (T_label, 2, N, P) from ``feature.visual.VisualCache`` or frames (T_label, H, W, 3) uint8
    from ``feature.frames.FrameCache``.
    Recordings without a cached input give an empty array (zeros after padding). Picklable for DataLoader workers."""

    def __init__(self, cache, kind: str):
        self.cache = cache
        self.kind = kind
        if kind == "vectors":
            self.frame_shape, self.dtype = tuple(cache.spec.frame_shape), np.float32
        elif kind == "frames":
            self.frame_shape, self.dtype = tuple(cache.frame_shape), np.uint8
        else:
            raise ValueError(f"unknown visual input kind {kind!r}")

    def has(self, rec: Recording) -> bool:
        return self.cache.array_path(rec).is_file()

    def __call__(self, rec: Recording) -> np.ndarray:
        if not self.has(rec):
            return np.zeros((0, *self.frame_shape), dtype=self.dtype)
        return self.cache.array(rec)


def build_visual_source(data: DataConfig, cache_root: str | Path, progress: bool = True) -> CachedVisualSource | None:
    """The visual inputs of a dataset (computed into the cache on first use, then reused): ``vectors`` =
    Gaussian vectors from ``detections_dev``; ``frames`` = 10 fps video frames of ``video_dev`` for the ViT;
    ``none`` = None."""
    if data.visual == "none":
        return None
    if data.visual == "vectors":
        from feature.visual import VisualSpec, build_visual_cache

        return CachedVisualSource(build_visual_cache(data.data_dir, cache_root, VisualSpec(), progress=progress),
                                  "vectors")
    if data.visual == "frames":
        from feature.frames import build_frame_cache

        return CachedVisualSource(build_frame_cache(data.data_dir, cache_root, tuple(data.frame_size),
                                                    progress=progress), "frames")
    raise InputError(None, f"unknown visual input {data.visual!r} (none, vectors, frames)")
