"""Test-time augmentation (seld_inference.infer_recording): known answers with hand-built networks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from seld_inference import combine_outputs, infer_recording, resolved_tta
from util.config import InferenceConfig
from util.conventions import NUM_CLASSES, NUM_TRACKS
from util.errors import InputError

FPL, T_LABEL, BINS = 5, 12, 4
PLAN = (20, 20, 0)  # window, hop, margin in feature frames


class IntensityNet(torch.nn.Module):
    """Outputs, for class 3 on every track, the frame's mean intensity vector (x, y, z) = logmel_iv channels
    (6, 4, 5): a rotation-equivariant 'network', so averaging over transforms must change nothing."""

    output_hop = FPL

    def forward(self, audio: torch.Tensor, visual=None) -> torch.Tensor:
        b, _, t, _ = audio.shape
        iv = audio[:, [6, 4, 5]].mean(dim=3)                              # (B, 3, T)
        iv = iv.reshape(b, 3, t // FPL, FPL).mean(dim=3).permute(0, 2, 1)  # (B, T_out, 3)
        out = torch.zeros(b, t // FPL, NUM_TRACKS, 3, NUM_CLASSES)
        out[..., 3] = iv[:, :, None, :]
        return out


class ConstantNet(torch.nn.Module):
    """Always outputs the direction +x for class 0: not equivariant."""

    output_hop = FPL

    def forward(self, audio: torch.Tensor, visual=None) -> torch.Tensor:
        out = torch.zeros(audio.shape[0], audio.shape[2] // FPL, NUM_TRACKS, 3, NUM_CLASSES)
        out[:, :, :, 0, 0] = 1.0
        return out


def scene(seed: int = 0) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(7, T_LABEL * FPL, BINS)).astype(np.float32)
    mean = rng.normal(size=(7, BINS)).astype(np.float32)
    std = rng.uniform(0.5, 2.0, size=(7, BINS)).astype(np.float32)
    std[4:] = 1.0   # equivariance needs the intensity channels scaled alike and centred
    mean[4:] = 0.0
    return feats, (mean, std)


def run(net: torch.nn.Module, tta: int, feats, stats, feature: str = "logmel_iv") -> np.ndarray:
    return infer_recording(net, feats, stats, None, "none", PLAN, FPL, torch.device("cpu"),
                           InferenceConfig(tta=tta), feature).label_rate()


@pytest.mark.parametrize("tta", [4, 8, 16])
def test_tta_leaves_an_equivariant_network_unchanged(tta):
    feats, stats = scene()
    plain = run(IntensityNet(), 1, feats, stats)
    assert np.abs(plain[..., 3]).max() > 0.1
    np.testing.assert_allclose(run(IntensityNet(), tta, feats, stats), plain, atol=1e-5)


class TiltedNet(ConstantNet):
    """Always outputs (0.6, 0, 0.3) for class 0: length 0.671, not equivariant."""

    def forward(self, audio: torch.Tensor, visual=None) -> torch.Tensor:
        out = super().forward(audio, visual) * 0.6
        out[:, :, :, 2, 0] = 0.3
        return out


def test_tta_keeps_mean_length_along_mean_direction():
    feats, stats = scene()
    length = np.hypot(0.6, 0.3)
    # 4 azimuth rotations, mapped back: (+-0.6, 0, 0.3), (0, +-0.6, 0.3) -> mean direction +z, mean length kept
    out = run(TiltedNet(), 4, feats, stats)[..., 0]
    np.testing.assert_allclose(out[:, :, 2], length, rtol=1e-6)
    np.testing.assert_allclose(out[:, :, :2], 0.0, atol=1e-6)
    # with the elevation reflections too, the mean vector cancels: no direction, length 0
    np.testing.assert_allclose(run(TiltedNet(), 16, feats, stats)[..., 0], 0.0, atol=1e-6)
    plain = run(TiltedNet(), 1, feats, stats)
    assert np.allclose(plain[:, :, 0, 0], 0.6) and np.allclose(plain[:, :, 2, 0], 0.3)


def test_tta_refuses_features_it_cannot_transform():
    feats, stats = scene()
    with pytest.raises(InputError, match="logmel_gcc"):
        run(ConstantNet(), 4, feats, stats, feature="logmel_gcc")
    with pytest.raises(InputError, match="tta"):
        run(ConstantNet(), 3, feats, stats)
    assert run(ConstantNet(), 1, feats, stats, feature="logmel_gcc").shape == (T_LABEL, NUM_TRACKS, 3, NUM_CLASSES)


def test_tta_auto_is_16_for_logmel_iv_and_off_otherwise():
    assert resolved_tta(0, "logmel_iv") == 16 and resolved_tta(0, "logmel_gcc") == 1 and resolved_tta(4, "x") == 4
    feats, stats = scene()
    # auto on logmel_gcc runs plain (no error); auto on logmel_iv averages (differs from plain)
    np.testing.assert_array_equal(run(TiltedNet(), 0, feats, stats, feature="logmel_gcc"),
                                  run(TiltedNet(), 1, feats, stats))
    assert not np.allclose(run(TiltedNet(), 0, feats, stats), run(TiltedNet(), 1, feats, stats))


def test_combine_outputs_known_answer():
    """Mean direction with the mean length; the distance axis is averaged; one output comes back unchanged."""
    a = np.zeros((2, NUM_TRACKS, 4, NUM_CLASSES))
    b = np.zeros_like(a)
    a[:, 0, :, 5] = [0.8, 0.0, 0.0, 2.0]
    b[:, 0, :, 5] = [0.0, 0.6, 0.0, 4.0]
    out = combine_outputs([a, b])
    # mean vector (0.4, 0.3, 0) has length 0.5; the mean length is 0.7 -> (0.56, 0.42, 0); distance (2 + 4) / 2
    np.testing.assert_allclose(out[:, 0, :, 5], [[0.56, 0.42, 0.0, 3.0]] * 2, rtol=1e-6)
    assert not out[:, 1:].any() and not np.delete(out, 5, axis=3).any()
    np.testing.assert_array_equal(combine_outputs([a]), a.astype(np.float32))
    with pytest.raises(ValueError):
        combine_outputs([])
