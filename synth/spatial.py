"""Spatial rendering of scene events to FOA or MIC: ONE rendering path, two steering functions.

Every event is rendered as a set of propagation paths (the direct sound plus the shoebox image sources of
the first-order wall reflections), each with a per-frame direction, delay and gain interpolated to the sample
rate (so moving sources glide without clicks). A format is only an :class:`Encoder`: per-direction channel
gains and extra per-channel delays (FOA: spherical-harmonic gains, no delays; MIC: free-field arrival-time
differences over the tetrahedral array plus a mild directivity of the capsules on the rigid sphere),
and the channel gains of a diffuse field. The late reverberation (an exponentially decaying noise tail per
room) and the background noise are diffuse: independent noise per channel times the diffuse gains.

Shapes: signals (samples,), directions (frames, 3) unit vectors, rendered audio (channels, samples).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from synth.scenes import Scene, SceneEvent
from util.conventions import (LABEL_HOP_S, MIC_ARRAY_RADIUS_M, MIC_CAPSULE_DIRECTIONS_DEG, NUM_AUDIO_CHANNELS,
                              SPEED_OF_SOUND_M_S)
from util.geometry import sph_to_cart

#: Distance (m) at which a source is rendered at its nominal level (direct gain = REFERENCE_DISTANCE / d).
REFERENCE_DISTANCE_M = 1.0
#: Capsule directivity of the MIC format: gain 1 + MIC_DIRECTIVITY * cos(angle to the source), normalised.
MIC_DIRECTIVITY = 0.3
#: Moving paths: samples between control points of direction, delay and gain.
CONTROL_HOP = 16
#: Diffuse tail starts this long after the direct sound (after the early reflections).
TAIL_ONSET_S = 0.02


class Encoder:
    """How a format picks up a plane wave from a direction. Subclasses define :meth:`steer`."""

    name: str = ""
    #: Channel gains (channels,) of a diffuse (isotropic, uncorrelated) field.
    diffuse_gains: np.ndarray = np.ones(NUM_AUDIO_CHANNELS)

    def steer(self, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-channel gains (channels, N) and extra delays in seconds (channels, N) or None for unit
        direction vectors (N, 3)."""
        raise NotImplementedError


class FoaEncoder(Encoder):
    """First-order Ambisonics, ACN order W, Y, Z, X, SN3D: gains (1, y, z, x) of the unit direction."""

    name = "foa"
    diffuse_gains = np.array([1.0, 1 / np.sqrt(3), 1 / np.sqrt(3), 1 / np.sqrt(3)])

    def steer(self, directions: np.ndarray) -> tuple[np.ndarray, None]:
        d = np.asarray(directions, dtype=np.float64)
        return np.stack([np.ones(len(d)), d[:, 1], d[:, 2], d[:, 0]]), None


class MicEncoder(Encoder):
    """Tetrahedral array (util.conventions capsule directions, radius): plane-wave arrival-time differences
    ``-r cos(theta) / c`` (a capsule facing the source hears it first) and gains ``(1 + a cos(theta)) / (1 + a)``."""

    name = "mic"
    diffuse_gains = np.ones(NUM_AUDIO_CHANNELS)

    def __init__(self, radius_m: float = MIC_ARRAY_RADIUS_M, directivity: float = MIC_DIRECTIVITY):
        az, el = np.array(MIC_CAPSULE_DIRECTIONS_DEG).T
        self.capsules = sph_to_cart(az, el)  # (channels, 3)
        self.radius_m = radius_m
        self.directivity = directivity

    def steer(self, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cos = self.capsules @ np.asarray(directions, dtype=np.float64).T  # (channels, N)
        gains = (1.0 + self.directivity * cos) / (1.0 + self.directivity)
        return gains, -self.radius_m * cos / SPEED_OF_SOUND_M_S


ENCODERS: dict[str, Encoder] = {"foa": FoaEncoder(), "mic": MicEncoder()}


@dataclass(frozen=True)
class Room:
    """A shoebox room: size (m), listener position (m), wall reflection coefficient, reverberation time (s),
    late-reverberation level relative to a source at the reference distance, and background-noise colour
    (spectral slope in dB/octave)."""

    size: tuple[float, float, float]
    listener: tuple[float, float, float]
    reflection: float
    rt60_s: float
    reverb_level: float
    noise_slope_db_oct: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Room":
        """A plausible room (4-12 m x 4-10 m x 2.6-4 m, RT60 0.25-0.9 s)."""
        size = (rng.uniform(4.0, 12.0), rng.uniform(4.0, 10.0), rng.uniform(2.6, 4.0))
        listener = tuple(float(s * rng.uniform(0.35, 0.65)) for s in size[:2]) + (float(rng.uniform(1.2, 1.7)),)
        rt60 = rng.uniform(0.25, 0.9)
        return cls(tuple(float(s) for s in size), listener, float(rng.uniform(0.5, 0.85)), float(rt60),
                   float(rng.uniform(0.15, 0.35)), float(rng.uniform(-4.0, -1.0)))


@dataclass
class Path:
    """One propagation path of an event: per-frame unit directions (F, 3), delays (F,) s and gains (F,)."""

    directions: np.ndarray
    delays_s: np.ndarray
    gains: np.ndarray


def event_paths(event: SceneEvent, room: Room | None) -> list[Path]:
    """The direct path and, in a room, the six first-order image-source reflections of an event."""
    dirs = sph_to_cart(event.azimuth, event.elevation)
    dist = np.maximum(event.distance, 0.1)
    paths = [Path(dirs, dist / SPEED_OF_SOUND_M_S, REFERENCE_DISTANCE_M / dist)]
    if room is None:
        return paths
    size = np.array(room.size)
    listener = np.array(room.listener)
    # Source positions, kept inside the room (the direct path keeps its true direction).
    pos = np.clip(listener + dirs * dist[:, None], 0.05 * size, 0.95 * size)
    for axis in range(3):
        for wall in (0.0, size[axis]):
            image = pos.copy()
            image[:, axis] = 2 * wall - pos[:, axis]
            vec = image - listener
            d = np.linalg.norm(vec, axis=1)
            paths.append(Path(vec / d[:, None], d / SPEED_OF_SOUND_M_S, room.reflection * REFERENCE_DISTANCE_M / d))
    return paths


def _frame_times(num_frames: int) -> np.ndarray:
    """Centre times (s) of label frames relative to the event start."""
    return (np.arange(num_frames) + 0.5) * LABEL_HOP_S


def _lagrange_weights(frac: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """4-point Lagrange (cubic) interpolation weights of samples -1, 0, 1, 2 for fractional positions ``frac``."""
    f_m1, f_p1, f_m2 = frac - 1, frac + 1, frac - 2
    return (-frac * f_m1 * f_m2 / 6, f_p1 * f_m1 * f_m2 / 2, -f_p1 * frac * f_m2 / 2, f_p1 * frac * f_m1 / 6)


def _delayed(signal: np.ndarray, read_times: np.ndarray, sample_rate: int) -> np.ndarray:
    """``signal`` (float32) read at fractional times (s), zero outside it: 4-point Lagrange (cubic)
    interpolation, flat to within 1 dB up to ~0.6 x Nyquist for every fractional delay, so channels with
    different sub-sample delays keep the same spectrum (linear interpolation would low-pass them unequally)."""
    pad = 3  # taps base-1 .. base+2 must exist for every base that touches the signal (-2 .. len)
    padded = np.concatenate([np.zeros(pad, np.float32), signal, np.zeros(pad, np.float32)])
    pos = read_times * sample_rate
    base = np.floor(pos)
    i = np.clip(base.astype(np.int64) + pad, 1, len(padded) - 3)
    w = _lagrange_weights((pos - base).astype(np.float32))
    out = w[0] * padded[i - 1] + w[1] * padded[i] + w[2] * padded[i + 1] + w[3] * padded[i + 2]
    outside = (base < -2) | (base > len(signal))
    out[outside] = 0.0
    return out


def _static_impulse_responses(offsets_s: list[np.ndarray], gains: list[np.ndarray], channels: int,
                              sample_rate: int) -> np.ndarray:
    """(channels, taps) FIRs of fixed paths: per path a fractional delay (the same Lagrange kernel as
    :func:`_delayed`) times a gain. ``offsets_s[p]`` is (1 or channels,), ``gains[p]`` (channels,)."""
    longest = max(float(np.max(o)) for o in offsets_s)
    ir = np.zeros((channels, int(np.ceil(longest * sample_rate)) + 3))
    for off, g in zip(offsets_s, gains):
        off = np.broadcast_to(off, (channels,))
        for c in range(channels):
            pos = -off[c] * sample_rate  # where output sample 0 reads the signal, as in _delayed
            base = int(np.floor(pos))
            for k, w in zip(range(-1, 3), _lagrange_weights(np.float64(pos - base))):
                if -(base + k) >= 0:
                    ir[c, -(base + k)] += g[c] * w
    return ir


def _path_controls(path: Path, event: SceneEvent, encoder: Encoder, n_out: int, sample_rate: int,
                   moving: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Control grid of a path: times (m,) s, channel gains (channels, m) and read offsets (rows, m) s, where rows
    is 1 when the encoder adds no per-channel delays. A fixed path (not ``moving``) has one control point."""
    if moving:
        tc = np.arange(0, n_out + CONTROL_HOP, CONTROL_HOP) / sample_rate
        ft = _frame_times(event.num_frames)
        dirs = np.stack([np.interp(tc, ft, path.directions[:, i]) for i in range(3)], axis=1)
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        delay, gain = np.interp(tc, ft, path.delays_s), np.interp(tc, ft, path.gains)
    else:  # one direction, delay and gain for the whole event
        tc, dirs, delay, gain = np.zeros(1), path.directions[:1], path.delays_s[:1], path.gains[:1]
    ch_gains, ch_delays = encoder.steer(dirs)
    offsets = delay[None, :] if ch_delays is None else delay[None, :] + ch_delays
    return tc, ch_gains * gain[None, :], offsets


def _upsample_linear(ctrl: np.ndarray, n: int) -> np.ndarray:
    """Linear interpolation of control values (rows, m), spaced CONTROL_HOP samples apart, to (rows, n)."""
    w = np.arange(CONTROL_HOP) / CONTROL_HOP
    up = ctrl[:, :-1, None] + np.diff(ctrl, axis=1)[:, :, None] * w
    return up.reshape(len(ctrl), -1)[:, :n]


def render_event(signal: np.ndarray, event: SceneEvent, encoder: Encoder, sample_rate: int,
                 room: Room | None = None, tail_s: float = 0.0, fir: bool | None = None) -> np.ndarray:
    """Render one event's mono ``signal`` (which starts at the event's first frame) to (channels,
    len(signal) + tail) samples: every path's direction, delay and gain move smoothly between label-frame
    centres (linear interpolation, evaluated every CONTROL_HOP samples and interpolated per sample), are
    steered by ``encoder`` and summed. Static events take the equivalent, faster FIR route (``fir`` None = auto;
    True forces it, using the first frame's paths; False forces the per-sample route)."""
    signal = np.asarray(signal, dtype=np.float32)
    n_out = len(signal) + int(round(tail_s * sample_rate))
    t = np.arange(n_out) / sample_rate
    channels = len(encoder.diffuse_gains)
    out = np.zeros((channels, n_out))
    paths = event_paths(event, room)
    if fir if fir is not None else not event.is_moving:  # fixed paths: one FIR per channel, one FFT convolution
        controls = [_path_controls(p, event, encoder, n_out, sample_rate, moving=False) for p in paths]
        ir = _static_impulse_responses([o[:, 0] for _, _, o in controls], [g[:, 0] for _, g, _ in controls],
                                       channels, sample_rate)
        for c in range(channels):
            wet = sps.oaconvolve(signal, ir[c])[:n_out]
            out[c, :len(wet)] = wet
        return out
    for path in paths:
        _, gains, offsets = _path_controls(path, event, encoder, n_out, sample_rate, moving=True)
        gains = _upsample_linear(gains, n_out)
        reads = t - _upsample_linear(offsets, n_out)
        if len(reads) == 1:
            out += gains * _delayed(signal, reads[0], sample_rate)
        else:
            for c in range(channels):
                out[c] += gains[c] * _delayed(signal, reads[c], sample_rate)
    return out


def diffuse_noise(num_samples: int, num_channels: int, rng: np.random.Generator, slope_db_oct: float,
                  sample_rate: int) -> np.ndarray:
    """Independent coloured noise per channel (channels, samples), unit power, spectral slope in dB/octave."""
    bins = num_samples // 2 + 1  # white noise drawn directly as a spectrum (one inverse FFT)
    spec = rng.standard_normal((num_channels, bins)) + 1j * rng.standard_normal((num_channels, bins))
    f = np.fft.rfftfreq(num_samples, 1.0 / sample_rate)
    shape = (np.maximum(f, 50.0) / 1000.0) ** (slope_db_oct / (20 * np.log10(2)))
    noise = np.fft.irfft(spec * shape, n=num_samples, axis=1)
    return noise / np.sqrt(np.mean(noise ** 2, axis=1, keepdims=True))


def reverb_tails(room: Room, num_channels: int, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Late-reverberation impulse responses (channels, samples): independent noise decaying by 60 dB in
    RT60, low-passed as it decays little by little (air and wall absorption), starting after TAIL_ONSET_S."""
    n = int(room.rt60_s * sample_rate)
    onset = int(TAIL_ONSET_S * sample_rate)
    t = np.arange(n) / sample_rate
    noise = rng.standard_normal((num_channels, n))
    noise = 0.6 * noise + 0.4 * sps.sosfilt(sps.butter(1, 0.25, output="sos"), noise, axis=1)
    ir = noise * np.exp(-6.91 * t / room.rt60_s)
    ir[:, :onset] *= np.linspace(0, 1, onset)
    # Normalise so that the tail's energy relative to a unit-gain direct path equals reverb_level^2.
    energy = np.sum(ir ** 2, axis=1, keepdims=True)
    return ir * room.reverb_level / np.sqrt(energy)


@dataclass
class DiffuseParts:
    """Format-independent random parts of a clip: late-reverb IRs and background noise, per channel."""

    tails: np.ndarray | None
    noise: np.ndarray | None


def render_scene(scene: Scene, signals: list[np.ndarray], encoder: Encoder, sample_rate: int,
                 num_samples: int, room: Room | None = None, diffuse: DiffuseParts | None = None,
                 snr_db: float | None = None) -> np.ndarray:
    """Mix of all events of ``scene`` (``signals[i]`` belongs to ``scene.events[i]``) as (channels, num_samples):
    direct sound and early reflections per event, plus (when given) the late reverberation of the reverb send
    and diffuse background noise at ``snr_db`` below the mix's omnidirectional power."""
    channels = len(encoder.diffuse_gains)
    mix = np.zeros((channels, num_samples))
    send = np.zeros(num_samples)
    tail_s = max(max_path_delay_s(room), 0.0)
    hop = int(round(LABEL_HOP_S * sample_rate))
    for ev, sig in zip(scene.events, signals):
        start = ev.start_frame * hop
        if start >= num_samples:
            continue
        rendered = render_event(sig, ev, encoder, sample_rate, room, tail_s)
        m = min(rendered.shape[1], num_samples - start)
        mix[:, start:start + m] += rendered[:, :m]
        k = min(len(sig), num_samples - start)
        send[start:start + k] += sig[:k]
    if diffuse is not None and diffuse.tails is not None:
        for c in range(channels):
            mix[c] += encoder.diffuse_gains[c] * sps.oaconvolve(send, diffuse.tails[c])[:num_samples]
    if diffuse is not None and diffuse.noise is not None and snr_db is not None:
        omni = np.mean(np.mean(mix ** 2, axis=1) / encoder.diffuse_gains ** 2)
        active = max(float(np.mean(np.abs(send) > 0)), 1e-3)  # power over the active part of the clip
        noise_power = (omni / active) * 10 ** (-snr_db / 10) if omni > 0 else 1e-6
        mix += encoder.diffuse_gains[:, None] * diffuse.noise[:, :num_samples] * np.sqrt(noise_power)
    return mix


def max_path_delay_s(room: Room | None) -> float:
    """Longest propagation delay (s) a reflection can have in ``room`` (0 in free field), plus a margin."""
    if room is None:
        return 0.02
    return float(2 * np.linalg.norm(room.size) / SPEED_OF_SOUND_M_S) + 0.005
