"""Tests of the FOA -> binaural renderer (wav_convertor.py)."""
from __future__ import annotations

import numpy as np
import pytest

import wav_convertor
from util.audio_io import read_audio, write_audio
from util.conventions import SAMPLE_RATE
from util.geometry import sph_to_cart
from util.layout import DatasetLayout, Recording

NOISE = np.random.default_rng(0).standard_normal(SAMPLE_RATE // 2) * 0.1


def encode(azimuth: float, elevation: float = 0.0) -> np.ndarray:
    x, y, z = sph_to_cart(azimuth, elevation)
    return np.stack([NOISE, y * NOISE, z * NOISE, x * NOISE]).astype(np.float32)


def interaural(binaural: np.ndarray) -> tuple[float, int]:
    """(level difference L - R in dB, lag in samples by which the right ear trails the left)."""
    left, right = binaural.astype(np.float64)
    ild = 10 * np.log10(np.sum(left ** 2) / np.sum(right ** 2))
    lags = np.arange(-20, 21)
    cc = [np.dot(left[100:-100], np.roll(right, -k)[100:-100]) for k in lags]
    return ild, int(lags[np.argmax(cc)])


@pytest.mark.parametrize("az, sign, min_itd", [(90, 1, 8), (-90, -1, 8), (60, 1, 5), (-135, -1, 0)])
def test_lateral_source_is_louder_and_earlier_in_the_near_ear(az, sign, min_itd):
    # first-order decoding spreads a source over several virtual loudspeakers: the broadband ITD is clear near
    # +-90 deg and collapses towards 0 behind the head, where the ILD still points to the correct side
    ild, itd = interaural(wav_convertor.render_binaural(encode(az), SAMPLE_RATE))
    assert sign * ild > 2.0 and sign * itd >= min_itd


@pytest.mark.parametrize("az, el", [(0, 0), (180, 0), (0, 90)])
def test_median_plane_source_is_balanced(az, el):
    ild, itd = interaural(wav_convertor.render_binaural(encode(az, el), SAMPLE_RATE))
    assert abs(ild) < 0.2 and itd == 0


def test_hrir_model_known_answers():
    h = wav_convertor.hrir(sph_to_cart([90, 0], [0, 0]), SAMPLE_RATE)  # (2 directions, 2 ears, taps)
    peak = np.argmax(np.abs(h), axis=-1)
    a_over_c = wav_convertor.HEAD_RADIUS_M / 343.0
    assert peak[1, 0] == peak[1, 1]  # front: equal delay
    assert peak[0, 0] < peak[0, 1]   # left source: left ear first
    # ears at +-100 deg: the source is 10 deg from the left ear axis and 170 deg from the right one (Woodworth)
    itd = a_over_c * (np.deg2rad(170 - 90) + np.cos(np.deg2rad(10)))
    assert peak[0, 1] - peak[0, 0] == pytest.approx(itd * SAMPLE_RATE, abs=0.6)
    # DC gain 1 (head shadow only attenuates high frequencies)
    np.testing.assert_allclose(h.sum(axis=-1), 1.0, atol=0.02)
    assert np.abs(np.fft.rfft(h[0, 1]))[-1] < np.abs(np.fft.rfft(h[0, 0]))[-1]


def test_convert_dataset_layout_and_skip(tmp_path):
    layout = DatasetLayout(tmp_path)
    recs = [Recording("dev-train-sony", "fold3_room21_mix001"), Recording("dev-test-tau", "fold4_room2_mix001")]
    for rec in recs:
        write_audio(layout.audio_path("foa", rec), encode(90), SAMPLE_RATE)
    done = wav_convertor.convert_dataset(tmp_path, progress=False)
    assert sorted(done) == sorted(recs)
    out, sr = read_audio(layout.audio_path("binaural", recs[0]), channels=2, sample_rate=SAMPLE_RATE)
    assert out.shape == (2, NOISE.size) and interaural(out)[0] > 2.0
    assert wav_convertor.convert_dataset(tmp_path, progress=False) == []  # finished files skipped
    bad = layout.audio_path("foa", Recording("dev-test-tau", "fold4_room2_mix002"))
    write_audio(bad, np.zeros((2, 100), np.float32), SAMPLE_RATE)
    assert wav_convertor.main(["--data-dir", str(tmp_path), "--workers", "1"]) == 2
