"""Known-answer tests of the feature extractors (feature/)."""
from __future__ import annotations

import numpy as np
import pytest

from feature.base import FeatureConfig, build_extractor, extractor_names
from feature.extract import extract_file
from feature.foa import mix_logmel_iv
from util.audio_io import write_audio
from util.conventions import SAMPLE_RATE
from util.errors import InputError
from util.geometry import sph_to_cart

RNG = np.random.default_rng(0)


def foa_plane_wave(azimuth: float, elevation: float, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """White noise from one direction, FOA-encoded (ACN W, Y, Z, X; SN3D) with the util conventions."""
    s = np.random.default_rng(seed).standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32) * 0.1
    x, y, z = sph_to_cart(azimuth, elevation)
    return np.stack([s, y * s, z * s, x * s]).astype(np.float32)


def test_registry_and_config():
    assert {"logmel_iv"} <= set(extractor_names("foa"))
    ex = build_extractor("logmel_iv")
    assert ex.feature_shape == (7, 64) and ex.frames_per_label == 5 and ex.frame_shift_s == pytest.approx(0.02)
    assert ex.num_frames(SAMPLE_RATE * 5) == 250 and ex.num_frames(SAMPLE_RATE * 5 + 1) == 255
    cfg = ex.config
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg
    assert build_extractor("logmel_iv", n_mels=32).config.digest() != cfg.digest()
    with pytest.raises(ValueError, match="does not divide"):
        build_extractor("logmel_iv", hop_length=700)
    with pytest.raises(ValueError, match="unknown setting"):
        build_extractor("logmel_iv", n_mel=32)
    assert build_extractor("logmel_iv", fmin_hz=0, n_fft=1024.0).config.digest() == cfg.digest()  # canonical types


@pytest.mark.parametrize("az, el, axis, sign", [(90, 0, 0, 1), (-90, 0, 0, -1), (0, 45, 1, 1), (0, 0, 2, 1),
                                                 (180, -45, 1, -1)])
def test_intensity_vectors_point_to_source(az, el, axis, sign):
    ex = build_extractor("logmel_iv")
    feats = ex.extract(foa_plane_wave(az, el))
    assert feats.shape == (7, 50, 64)
    iv = feats[4:, 2:-2].sum(axis=(1, 2))  # (y, z, x) summed over interior frames and bands
    assert np.sign(iv[axis]) == sign
    direction = np.array([iv[2], iv[0], iv[1]])  # -> (x, y, z)
    expected = sph_to_cart(az, el)
    assert np.dot(direction / np.linalg.norm(direction), expected) > np.cos(np.deg2rad(1.0))


def test_logmel_matches_known_level():
    ex = build_extractor("logmel_iv", top_db=None)
    tone = np.zeros((4, SAMPLE_RATE), np.float32)
    f = 1500.0
    tone[0] = np.sin(2 * np.pi * f * np.arange(SAMPLE_RATE) / SAMPLE_RATE)
    feats = ex.extract(tone)
    # W carries the tone; the other channels are silent -> floor of -100 dB
    assert feats[0, 10:-10].max() > 20.0 and np.all(feats[1:4] == pytest.approx(-100.0))


def test_real_foa_clip_is_finite(shared_data):
    path = shared_data / "audio" / "starss23_foa_clip_5s.wav"
    for name in extractor_names("foa"):
        ex = build_extractor(name)
        feats = extract_file(path, ex)
        assert feats.shape == (ex.num_channels, 50 * ex.frames_per_label, ex.num_features)
        assert np.isfinite(feats).all() and feats.std() > 0


def test_real_foa_clip_rendered_binaural_is_finite(shared_data):
    from util.audio_io import read_audio
    from wav_convertor import render_binaural

    foa, sr = read_audio(shared_data / "audio" / "starss23_foa_clip_5s.wav", channels=4, sample_rate=SAMPLE_RATE)
    feats = build_extractor("logmel_ild_ipd").extract(render_binaural(foa, sr))
    assert feats.shape == (5, 250, 64) and np.isfinite(feats).all() and np.abs(feats[3:]).max() <= 1 + 1e-5


def test_bad_input_files(tmp_path):
    ex = build_extractor("logmel_iv")
    stereo = tmp_path / "stereo.wav"
    write_audio(stereo, np.zeros((2, 2400), np.float32), SAMPLE_RATE)
    with pytest.raises(InputError, match=r"stereo\.wav: expected 4 audio channels, found 2"):
        extract_file(stereo, ex)
    hi = tmp_path / "hi.wav"
    write_audio(hi, np.zeros((4, 4800), np.float32), 48000)
    with pytest.raises(InputError, match=r"hi\.wav: expected sample rate 24000"):
        extract_file(hi, ex)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    with pytest.raises(InputError, match=r"corrupt\.wav"):
        extract_file(corrupt, ex)
    with pytest.raises(ValueError, match=r"expects audio \(4, N\)"):
        ex.extract(np.zeros((2, 100), np.float32))


def mic_plane_wave(azimuth: float, elevation: float, seconds: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """White noise from one direction at the free-field tetrahedral capsules; returns audio (4, N) and the
    arrival times (4,) in seconds relative to the array centre (fractional delays applied in the frequency domain)."""
    from util.conventions import MIC_ARRAY_RADIUS_M, MIC_CAPSULE_DIRECTIONS_DEG, SPEED_OF_SOUND_M_S

    n = int(seconds * SAMPLE_RATE)
    positions = MIC_ARRAY_RADIUS_M * sph_to_cart(*np.array(MIC_CAPSULE_DIRECTIONS_DEG).T)
    tau = -(positions @ sph_to_cart(azimuth, elevation)) / SPEED_OF_SOUND_M_S
    s = np.fft.rfft(RNG.standard_normal(n))
    omega = 2 * np.pi * np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    audio = np.fft.irfft(s[None] * np.exp(-1j * omega[None] * tau[:, None]), n=n, axis=-1)
    return (0.05 * audio).astype(np.float32), tau


def test_gcc_phat_peaks_at_geometric_delay():
    from feature.mic import MIC_PAIRS

    ex = build_extractor("logmel_gcc")
    assert ex.feature_shape == (10, 64)
    for az, el in [(45, 35), (-120, 10), (170, -40)]:
        audio, tau = mic_plane_wave(az, el)
        gcc = ex.extract(audio)[4:, 5:-5].mean(axis=1)  # (6 pairs, 64 lags)
        for p, (m, n) in enumerate(MIC_PAIRS):
            expected_lag = (tau[n] - tau[m]) * SAMPLE_RATE
            assert abs(np.argmax(gcc[p]) - 32 - expected_lag) <= 0.5 + 1e-6, (az, el, m, n)


def test_salsalite_phase_is_path_difference():
    from util.conventions import MIC_ARRAY_RADIUS_M, MIC_CAPSULE_DIRECTIONS_DEG

    ex = build_extractor("salsalite")
    assert ex.feature_shape == (7, 382) and ex.bin_range == (2, 384)
    audio, _ = mic_plane_wave(-60, 20)
    feats = ex.extract(audio)
    positions = MIC_ARRAY_RADIUS_M * sph_to_cart(*np.array(MIC_CAPSULE_DIRECTIONS_DEG).T)
    expected = (positions[1:] - positions[0]) @ sph_to_cart(-60, 20)
    low = feats[4:, 5:-5, :60]  # bins 2..61 (< 1.5 kHz)
    np.testing.assert_allclose(np.median(low, axis=(1, 2)), expected, atol=2e-3)
    assert np.all(feats[4:, :, 85 - 2:] == 0)  # zeroed from 2 kHz up


def test_amp_phasediff_of_pure_delay():
    ex = build_extractor("amp_phasediff")
    assert ex.feature_shape == (7, 257) and ex.frames_per_label == 10 and not ex.normalise
    n_fft, n = 512, SAMPLE_RATE
    bins = np.arange(4, 250, 4)  # tones on every 4th bin: no leakage between them through the Hann window
    t = np.arange(-64, n)
    phases = RNG.uniform(0, 2 * np.pi, bins.size)
    delays = np.array([0, 3, 7, 11])
    audio = np.stack([np.cos(2 * np.pi * bins[:, None] / n_fft * (t[None] - d) + phases[:, None]).sum(0)
                      for d in delays])[:, 64:].astype(np.float32) * 0.01
    feats = ex.extract(audio)
    assert feats.shape == (7, 100, 257) and feats[4:].min() >= 0 and feats[4:].max() < 2 * np.pi
    np.testing.assert_allclose(feats[:4, 10:-10][..., bins], feats[0, 10:-10][..., bins][None].repeat(4, 0), rtol=1e-3)
    for c in (1, 2, 3):
        expected = np.mod(-2 * np.pi * bins * delays[c] / n_fft, 2 * np.pi)
        got = feats[3 + c, 10:-10][:, bins]
        err = np.angle(np.exp(1j * (got - expected[None])))
        assert np.abs(err).max() < 1e-3


def test_binaural_feature_cues():
    ex = build_extractor("logmel_ild_ipd")
    assert ex.input_channels == 2 and ex.feature_shape == (5, 64)
    s = RNG.standard_normal(SAMPLE_RATE).astype(np.float32) * 0.1
    d = 5  # right ear 5 samples later and 6 dB quieter: a source on the left
    right = 0.5 * np.concatenate([np.zeros(d, np.float32), s[:-d]])
    feats = ex.extract(np.stack([s, right]))
    ild, cos_ipd, sin_ipd = feats[2, 5:-5], feats[3, 5:-5], feats[4, 5:-5]
    assert np.median(ild) == pytest.approx(20 * np.log10(2), abs=0.3)
    # IPD = angle(X_L conj X_R) = +omega d: positive sine at low bands, cos near 1 at the lowest
    assert np.median(sin_ipd[:, 2:10]) > 0.1 and np.median(cos_ipd[:, :3]) > 0.9
    assert np.all(np.abs(feats[3:]) <= 1 + 1e-5)


@pytest.mark.parametrize("name", ["logmel_iv", "logmel_gcc", "salsalite", "amp_phasediff", "logmel_ild_ipd"])
def test_matches_plain_librosa_reference(name):
    from benchmarks.librosa_reference import REFERENCES

    ex = build_extractor(name)
    audio = (0.1 * RNG.standard_normal((ex.input_channels, SAMPLE_RATE // 2))).astype(np.float32)
    ours = ex.extract(audio)
    ref = REFERENCES[name](ex.config, audio)[:, :ours.shape[1]]
    if name == "amp_phasediff":  # compare phases on the circle
        np.testing.assert_allclose(ours[:4], ref[:4], rtol=1e-3, atol=1e-5)
        assert np.abs(np.angle(np.exp(1j * (ours[4:] - ref[4:])))).max() < 1e-3
    else:
        np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=2e-3)


def test_mixed_features_match_features_of_the_mixed_audio():
    """mix_logmel_iv of two scenes' features ~ the features of the summed audio (uncorrelated sources)."""
    ex = build_extractor("logmel_iv", top_db=None)
    first, second = foa_plane_wave(90, 0, 2.0, seed=1), foa_plane_wave(0, 30, 2.0, seed=2)
    gain_db = -3.0
    mixed = ex.extract(first + second * 10 ** (gain_db / 20))
    estimate = mix_logmel_iv(ex.extract(first), ex.extract(second), gain_db)
    inner = slice(2, -2)
    level_error = np.abs(estimate[:4, inner, 4:] - mixed[:4, inner, 4:])
    iv_error = np.abs(estimate[4:, inner, 4:] - mixed[4:, inner, 4:])
    assert np.median(level_error) < 1.0 and np.median(iv_error) < 0.05
    # energy-weighted intensity: the mean direction lies between the sources, nearer the louder first one
    iv = estimate[4:, inner].sum(axis=(1, 2))
    azimuth = np.degrees(np.arctan2(iv[0], iv[2]))
    assert 45.0 < azimuth < 90.0 and iv[1] > 0
    # a silent second scene (log-mels at -200 dB, no intensity) leaves the first unchanged
    alone = ex.extract(first)
    silence = np.zeros_like(alone)
    silence[:4] = -200.0
    assert np.allclose(mix_logmel_iv(alone, silence), alone, atol=1e-3)
