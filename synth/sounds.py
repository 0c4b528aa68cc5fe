"""Procedural sounds of the 13 STARSS23 classes (util.conventions.CLASS_NAMES).

``synthesize_event(cls, num_samples, sample_rate, rng)`` returns a mono float32 signal of exactly
``num_samples`` samples with unit RMS (or a peak of MAX_CREST for impulsive sounds). Every call draws its own
pitch, timbre, rhythm and level details from ``rng``, so two events of one class differ while the class
stays recognisable:

- speech (0 female, 1 male): glottal harmonics shaped by moving vowel formants, syllable rhythm, falling
  prosody and fricative noise; female f0 165-255 Hz, male 85-140 Hz.
- clapping (2), footsteps (6), knock (12): trains of impulses (bright noise bursts / low thuds / wooden modes).
- telephone (3): two-tone trill in a ring cadence; bell (11): inharmonic struck partials with long decays.
- laughter (4): bursty breathy voiced "ha" syllables with falling pitch.
- domestic (5): dishes clatter (random high pings) or an appliance hum (harmonic motor + filtered noise).
- door (7): a stick-slip creak followed by a low thud.
- music (8): chords, bass and a beat; musical instrument (9): one monophonic melodic voice (plucked or blown).
- water tap (10): band-limited noise with fluctuating level and bubble chirps.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import signal as sps

from util.conventions import NUM_CLASSES

#: Vowel formants (F1, F2, F3) in Hz of an adult male voice; female voices scale them by ~1.17.
VOWEL_FORMANTS_HZ = np.array([[730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410],
                              [300, 870, 2240], [660, 1720, 2410], [440, 1020, 2240]], dtype=np.float64)
FORMANT_BANDWIDTH_HZ = np.array([90.0, 110.0, 170.0])
#: Inharmonic partial ratios of a struck bell.
BELL_PARTIALS = np.array([0.5, 1.0, 1.183, 1.506, 2.0, 2.514, 2.662, 3.011])
FADE_S = 0.01
#: Amplitudes of additive partials are evaluated every this many samples.
CONTROL_DECIMATION = 32
#: Event signals are scaled to unit RMS, or lower so that the peak stays below this (impulsive classes).
MAX_CREST = 6.0


def _smooth_random(n: int, rate_hz: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random curve (n,) with about ``rate_hz`` independent values per second, zero mean, unit-ish scale."""
    knots = max(2, int(np.ceil(n / sr * rate_hz)) + 2)
    values = rng.standard_normal(knots)
    return np.interp(np.arange(n), np.linspace(0, n, knots), values)


def _bandpass(x: np.ndarray, lo: float, hi: float, sr: int, order: int = 2) -> np.ndarray:
    nyq = sr / 2
    lo, hi = max(lo, 20.0), min(hi, 0.95 * nyq)
    return sps.sosfilt(sps.butter(order, [lo / nyq, hi / nyq], btype="band", output="sos"), x)


def _lowpass(x: np.ndarray, f: float, sr: int, order: int = 2) -> np.ndarray:
    return sps.sosfilt(sps.butter(order, min(f, 0.45 * sr) / (sr / 2), output="sos"), x)


def _highpass(x: np.ndarray, f: float, sr: int, order: int = 2) -> np.ndarray:
    return sps.sosfilt(sps.butter(order, f / (sr / 2), btype="high", output="sos"), x)


def _decaying_modes(n: int, freqs: np.ndarray, decays_s: np.ndarray, amps: np.ndarray, sr: int) -> np.ndarray:
    """Sum of exponentially decaying sinusoids (a struck object's modes), (n,)."""
    t = np.arange(n) / sr
    out = np.zeros(n)
    for f, d, a in zip(freqs, decays_s, amps):
        if f < 0.45 * sr:
            out += a * np.exp(-t / d) * np.sin(2 * np.pi * f * t)
    return out


def _place(out: np.ndarray, x: np.ndarray, at: int) -> None:
    """Add ``x`` into ``out`` starting at sample ``at`` (clipped to the end)."""
    if at >= len(out):
        return
    m = min(len(x), len(out) - at)
    out[at:at + m] += x[:m]


def _onset_times(n: int, sr: int, rate_hz: float, jitter: float, rng: np.random.Generator,
                 first_s: float = 0.02) -> np.ndarray:
    """Sample indices of a roughly periodic impulse train at ``rate_hz`` with relative timing jitter."""
    times, t = [], first_s
    while t < n / sr:
        times.append(t)
        t += (1.0 / rate_hz) * (1.0 + jitter * rng.standard_normal())
        t = max(t, times[-1] + 0.03)
    return (np.array(times) * sr).astype(np.int64)


def _harmonic_tone(f0: np.ndarray, amp_of_freq: Callable[[np.ndarray, int], np.ndarray], sr: int,
                   max_freq: float = 5000.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """Additive harmonic tone following the f0 track (n,); harmonic k gets amplitude ``amp_of_freq(k*f0, k)``,
    evaluated at a control rate of ``sr / CONTROL_DECIMATION`` (amplitudes change slowly)."""
    n = len(f0)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    if rng is not None:
        phase = phase + rng.uniform(0, 2 * np.pi)
    z = np.exp(1j * phase).astype(np.complex64)
    zk = np.ones(n, dtype=np.complex64)
    f0_ctrl = f0[::CONTROL_DECIMATION]
    out = np.zeros(n, dtype=np.float32)
    kmax = int(max_freq / max(float(f0.min()), 20.0))
    for k in range(1, max(1, kmax) + 1):
        zk *= z
        fk = k * f0_ctrl
        a = amp_of_freq(fk, k) * (fk < max_freq)
        if np.any(a > 1e-4):
            out += np.repeat(a.astype(np.float32), CONTROL_DECIMATION)[:n] * zk.imag
    return out.astype(np.float64)


def _formant_gain(freq: np.ndarray, formants: np.ndarray) -> np.ndarray:
    """Spectral envelope at ``freq`` (n,) of formants (3, n): sum of resonance peaks over a -12 dB/oct tilt."""
    g = np.zeros_like(freq)
    for i in range(formants.shape[0]):
        bw = FORMANT_BANDWIDTH_HZ[i]
        g += (1.0 / (1 + i)) / (1.0 + ((freq - formants[i]) / bw) ** 2)
    return g * (100.0 / np.maximum(freq, 50.0)) ** 0.5


def _voice(n: int, sr: int, rng: np.random.Generator, f0_base: float, formant_scale: float, syllable_hz: float,
           breath: float, f0_drop: float) -> tuple[np.ndarray, np.ndarray]:
    """A voiced utterance (n,) and its syllable envelope (n,): harmonics of a glottal source filtered by
    formants that glide between random vowels, one vowel per syllable."""
    t = np.arange(n) / sr
    syl_len = 1.0 / syllable_hz
    n_syl = max(1, int(np.ceil(t[-1] / syl_len)) + 1) if n else 1
    vowels = VOWEL_FORMANTS_HZ[rng.integers(len(VOWEL_FORMANTS_HZ), size=n_syl)] * formant_scale
    centres = (np.arange(n_syl) + 0.5) * syl_len * (1 + 0.15 * rng.standard_normal(n_syl)).clip(0.6, 1.4)
    centres = np.sort(centres)
    formants = np.stack([np.interp(t, centres, vowels[:, i]) for i in range(3)])
    # Prosody: declination over each phrase plus slow random intonation and a little vibrato-free jitter.
    phrase = (t % rng.uniform(1.5, 3.0)) / 3.0
    f0 = f0_base * (1 - f0_drop * phrase) * (1 + 0.08 * _smooth_random(n, 3.0, sr, rng))
    f0 = np.clip(f0, 0.5 * f0_base, 1.8 * f0_base)
    formants_ctrl = formants[:, ::CONTROL_DECIMATION]
    voiced = _harmonic_tone(f0, lambda fk, k: _formant_gain(fk, formants_ctrl), sr, max_freq=4500.0, rng=rng)
    # Syllable envelope: raised-cosine bumps with random gaps (pauses between words).
    env = np.zeros(n)
    for c in centres:
        if rng.random() < 0.12:
            continue  # pause
        width = syl_len * rng.uniform(0.6, 0.95)
        lo, hi = max(0, int((c - width / 2) * sr)), min(n, int((c + width / 2) * sr) + 1)
        env[lo:hi] += np.clip(np.cos(np.pi * (t[lo:hi] - c) / width), 0, None) ** 1.5 * rng.uniform(0.6, 1.0)
    env = np.clip(env, 0, 1)
    noise = _bandpass(rng.standard_normal(n), 500 * formant_scale, 4000, sr) * breath
    return (voiced + noise) * env, env


def speech(n: int, sr: int, rng: np.random.Generator, female: bool) -> np.ndarray:
    """Voice-like speech: female f0 165-255 Hz, male 85-140 Hz, syllables at 3.5-5.5 Hz, fricatives."""
    f0 = rng.uniform(165, 255) if female else rng.uniform(85, 140)
    scale = rng.uniform(1.1, 1.25) if female else rng.uniform(0.92, 1.05)
    out, env = _voice(n, sr, rng, f0, scale, rng.uniform(3.5, 5.5), breath=0.02, f0_drop=0.25)
    # Fricatives (s, sh, f) in some gaps between syllables.
    fric = _highpass(rng.standard_normal(n), rng.uniform(2500, 4500), sr, order=4)
    gaps = np.clip(1 - 3 * env, 0, 1) * (_smooth_random(n, 6.0, sr, rng) > 0.8)
    return out + 0.3 * fric * _lowpass(gaps.astype(np.float64), 40, sr)


def laughter(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Bouts of breathy voiced 'ha' bursts at 4-6.5 Hz with high, falling pitch."""
    f0 = rng.uniform(180, 380)
    out, _ = _voice(n, sr, rng, f0, rng.uniform(1.0, 1.2), rng.uniform(4.0, 6.5), breath=0.25, f0_drop=0.4)
    bouts = (_smooth_random(n, 0.8, sr, rng) > -0.6).astype(np.float64)
    return out * _lowpass(bouts, 8, sr)


def clapping(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Hand claps: bright noise bursts (~5-15 ms decay) at 2.5-6 Hz, each with its own colour."""
    out = np.zeros(n)
    rate = rng.uniform(2.5, 6.0)
    for at in _onset_times(n, sr, rate, 0.08, rng):
        m = int(0.06 * sr)
        burst = rng.standard_normal(m) * np.exp(-np.arange(m) / (sr * rng.uniform(0.005, 0.015)))
        centre = rng.uniform(900, 2500)
        _place(out, _bandpass(burst, centre / 1.8, centre * 2.2, sr) * rng.uniform(0.6, 1.0), at)
    return out


def footsteps(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Footsteps: low thuds with a scuff at a walking pace of 1.5-2.3 steps/s, alternating feet."""
    out = np.zeros(n)
    shoe = rng.uniform(0.0, 1.0)  # soft (0) to hard (1) soles
    for i, at in enumerate(_onset_times(n, sr, rng.uniform(1.5, 2.3), 0.05, rng)):
        m = int(0.15 * sr)
        k = np.arange(m)
        thud = _lowpass(rng.standard_normal(m), rng.uniform(150, 400), sr) * np.exp(-k / (0.03 * sr)) * 4
        click = _highpass(rng.standard_normal(m), 2000, sr) * np.exp(-k / (0.004 * sr)) * shoe
        _place(out, (thud + click) * (1.0 if i % 2 else 0.75) * rng.uniform(0.8, 1.0), at)
    return out


def knock(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Knocking on wood: groups of 2-4 knocks, each a few decaying wooden modes plus a click."""
    out = np.zeros(n)
    modes = rng.uniform(180, 700) * np.array([1.0, 1.6, 2.3, 3.1])
    t = 0.02
    while t < n / sr:
        for _ in range(int(rng.integers(2, 5))):
            m = int(0.12 * sr)
            knk = _decaying_modes(m, modes * rng.uniform(0.97, 1.03), np.array([0.03, 0.02, 0.012, 0.008]),
                                  np.array([1.0, 0.6, 0.4, 0.25]), sr)
            knk += 0.3 * _highpass(rng.standard_normal(m), 1500, sr) * np.exp(-np.arange(m) / (0.002 * sr))
            _place(out, knk * rng.uniform(0.7, 1.0), int(t * sr))
            t += rng.uniform(0.12, 0.22)
        t += rng.uniform(0.5, 1.2)
    return out


def telephone(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Telephone ring: two tones alternating at 15-25 Hz (a trill), in ring/pause cadences."""
    t = np.arange(n) / sr
    f1 = rng.uniform(600, 1400)
    f2 = f1 * rng.uniform(1.1, 1.3)
    trill = (np.sin(2 * np.pi * rng.uniform(15, 25) * t) > 0).astype(np.float64)
    tone = trill * np.sin(2 * np.pi * f1 * t) + (1 - trill) * np.sin(2 * np.pi * f2 * t)
    tone += 0.3 * np.sin(2 * np.pi * 2 * f1 * t) * trill
    on, off = rng.uniform(0.8, 2.0), rng.uniform(0.4, 2.0)
    cadence = ((t % (on + off)) < on).astype(np.float64)
    return tone * _lowpass(cadence, 60, sr)


def bell(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Struck bell: inharmonic partials with 0.4-2 s decays, struck every 0.6-2.5 s."""
    out = np.zeros(n)
    f = rng.uniform(350, 1200)
    decay = rng.uniform(0.4, 2.0)
    amps = rng.uniform(0.3, 1.0, size=len(BELL_PARTIALS))
    for at in _onset_times(n, sr, 1.0 / rng.uniform(0.6, 2.5), 0.1, rng, first_s=0.01):
        m = min(n - at, int(4 * decay * sr))
        if m <= 0:
            break
        decays = decay / np.sqrt(BELL_PARTIALS / BELL_PARTIALS[1])
        _place(out, _decaying_modes(m, f * BELL_PARTIALS, decays, amps, sr), at)
    return out


def water_tap(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Running water: band-limited noise with a fluctuating level and short rising bubble chirps."""
    lo = rng.uniform(400, 1500)
    noise = _bandpass(rng.standard_normal(n), lo, lo * rng.uniform(3, 8), sr)
    noise *= 1 + 0.3 * _smooth_random(n, 8.0, sr, rng)
    bubbles = np.zeros(n)
    for at in np.sort(rng.integers(0, max(1, n), size=int(n / sr * rng.uniform(5, 25)))):
        m = int(rng.uniform(0.01, 0.04) * sr)
        k = np.arange(m) / sr
        f = rng.uniform(600, 3000) * (1 + 8 * k)
        _place(bubbles, np.sin(2 * np.pi * np.cumsum(f) / sr) * np.hanning(m), int(at))
    return noise + 0.5 * bubbles * np.std(noise) * 3


def domestic(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Domestic sounds: either dishes clattering (random high pings) or an appliance (motor hum + whoosh)."""
    if rng.random() < 0.5:
        out = np.zeros(n)
        for at in np.sort(rng.integers(0, max(1, n), size=max(1, int(n / sr * rng.uniform(4, 12))))):
            m = int(0.3 * sr)
            freqs = rng.uniform(1500, 6000) * np.array([1.0, 2.76, 5.4])
            ping = _decaying_modes(m, freqs, np.array([0.08, 0.05, 0.03]), np.array([1.0, 0.5, 0.3]), sr)
            _place(out, ping * rng.uniform(0.3, 1.0), int(at))
        return out
    t = np.arange(n) / sr
    f0 = rng.uniform(45, 130) * (1 + 0.01 * _smooth_random(n, 1.0, sr, rng))
    hum = _harmonic_tone(f0, lambda fk, k: 1.0 / k, sr, max_freq=2000.0, rng=rng)
    whoosh = _bandpass(rng.standard_normal(n), rng.uniform(300, 800), rng.uniform(2500, 6000), sr)
    ramp = np.clip(t / 0.3, 0, 1)
    return ramp * (0.5 * hum + whoosh)


def door(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Door: a creak (stick-slip pulses at 20-80 Hz through wooden resonances) ending in a thud."""
    out = np.zeros(n)
    thud_len = min(n, int(0.25 * sr))
    creak_len = n - thud_len
    if creak_len > 0 and rng.random() < 0.85:
        rate = rng.uniform(20, 80) * (1 + 0.4 * _smooth_random(creak_len, 2.0, sr, rng)).clip(0.3, 2)
        phase = np.cumsum(rate) / sr
        pulses = np.diff(np.floor(phase), prepend=0.0)
        res = rng.uniform(400, 1200)
        creak = _bandpass(pulses * 30.0, res, res * 2.5, sr, order=2)
        creak = creak + 0.6 * _bandpass(pulses * 30.0, res * 3, res * 5, sr, order=2)
        out[:creak_len] = creak * np.hanning(creak_len) ** 0.3
    k = np.arange(thud_len)
    thud = _lowpass(rng.standard_normal(thud_len), rng.uniform(120, 300), sr) * np.exp(-k / (0.05 * sr)) * 6
    thud += _decaying_modes(thud_len, np.array([rng.uniform(60, 110)]), np.array([0.06]), np.array([2.0]), sr)
    out[n - thud_len:] += thud * (3.0 if creak_len > 0 else 1.0)
    return out


def _note_freq(midi: np.ndarray) -> np.ndarray:
    return 440.0 * 2 ** ((np.asarray(midi, dtype=np.float64) - 69) / 12)


def _melody_f0(n: int, sr: int, rng: np.random.Generator, low_midi: int,
               note_s: float) -> tuple[np.ndarray, np.ndarray]:
    """A stepwise melody in a random major/minor scale: per-sample f0 and note-onset sample indices."""
    scale = np.array([0, 2, 4, 5, 7, 9, 11]) if rng.random() < 0.5 else np.array([0, 2, 3, 5, 7, 8, 10])
    root = low_midi + int(rng.integers(0, 12))
    onsets, f0 = [], np.zeros(n)
    pos, degree = 0, int(rng.integers(0, 7))
    while pos < n:
        length = int(note_s * rng.choice([0.5, 1.0, 1.0, 2.0]) * sr)
        degree = int(np.clip(degree + rng.integers(-2, 3), 0, 13))
        midi = root + 12 * (degree // 7) + scale[degree % 7]
        f0[pos:pos + length] = _note_freq(midi)
        onsets.append(pos)
        pos += length
    return f0, np.array(onsets)


def musical_instrument(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One monophonic instrument: plucked (decaying harmonics) or blown (sustained, vibrato) melody."""
    plucked = rng.random() < 0.5
    f0, onsets = _melody_f0(n, sr, rng, low_midi=int(rng.integers(48, 67)), note_s=rng.uniform(0.2, 0.5))
    t = np.arange(n) / sr
    since = t - np.repeat(onsets, np.diff(np.append(onsets, n))) / sr
    if plucked:
        bright = rng.uniform(0.5, 0.9)
        tone = _harmonic_tone(f0, lambda fk, k: bright ** k, sr, max_freq=6000.0, rng=rng)
        return tone * np.exp(-since / rng.uniform(0.15, 0.5))
    f0 = f0 * (1 + 0.006 * np.sin(2 * np.pi * rng.uniform(4.5, 6.5) * t))
    odd = rng.uniform(0.2, 1.0)  # odd-harmonic emphasis (clarinet-like) vs flute-like
    tone = _harmonic_tone(f0, lambda fk, k: (odd if k % 2 == 0 else 1.0) / k ** 1.5, sr, max_freq=6000.0, rng=rng)
    return tone * np.clip(since / 0.04, 0, 1) + 0.02 * _bandpass(rng.standard_normal(n), 1000, 5000, sr)


def music(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Reproduced music: chord pad, bass line and a kick/hi-hat beat at 80-140 BPM."""
    t = np.arange(n) / sr
    beat_s = 60.0 / rng.uniform(80, 140)
    root = int(rng.integers(45, 57))
    progression = rng.choice([0, 5, 7, 9, 3, 10], size=8)
    bar = 4 * beat_s
    chord_idx = (t // bar).astype(np.int64) % len(progression)
    chord_root = root + progression[chord_idx]
    pad = np.zeros(n)
    for interval in (0, 4 if rng.random() < 0.5 else 3, 7, 12):
        f = _note_freq(chord_root + interval)
        pad += _harmonic_tone(f, lambda fk, k: 0.6 ** k, sr, max_freq=3000.0, rng=rng)
    bass = np.sin(2 * np.pi * np.cumsum(_note_freq(chord_root - 12)) / sr)
    beat = np.zeros(n)
    for i, at in enumerate(_onset_times(n, sr, 1.0 / beat_s, 0.0, rng, first_s=0.0)):
        m = int(0.2 * sr)
        k = np.arange(m) / sr
        if i % 2 == 0:
            kick = np.sin(2 * np.pi * np.cumsum(50 + 120 * np.exp(-k / 0.03)) / sr) * np.exp(-k / 0.08)
            _place(beat, 2.0 * kick, at)
        hat = _highpass(rng.standard_normal(m), 6000, sr) * np.exp(-k / 0.015)
        _place(beat, 0.5 * hat, at + int(beat_s * sr / 2))
    return 0.35 * pad + 0.5 * bass * np.exp(-(t % beat_s) / 0.4) + beat


GENERATORS: dict[int, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    0: lambda n, sr, rng: speech(n, sr, rng, female=True),
    1: lambda n, sr, rng: speech(n, sr, rng, female=False),
    2: clapping,
    3: telephone,
    4: laughter,
    5: domestic,
    6: footsteps,
    7: door,
    8: music,
    9: musical_instrument,
    10: water_tap,
    11: bell,
    12: knock,
}
assert len(GENERATORS) == NUM_CLASSES


def synthesize_event(cls: int, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Mono float32 signal (num_samples,) of one event of class ``cls``: unit RMS (peak at most MAX_CREST),
    with short fades at both ends."""
    if not 0 <= cls < NUM_CLASSES:
        raise ValueError(f"class index {cls} outside [0, {NUM_CLASSES})")
    if num_samples <= 0:
        return np.zeros(0, dtype=np.float32)
    x = np.asarray(GENERATORS[cls](num_samples, sample_rate, rng), dtype=np.float64)[:num_samples]
    fade = min(int(FADE_S * sample_rate), num_samples // 2)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade)
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    scale = max(float(np.sqrt(np.mean(x ** 2))), float(np.abs(x).max()) / MAX_CREST)
    return (x / scale).astype(np.float32) if scale > 0 else x.astype(np.float32)
