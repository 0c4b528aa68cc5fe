"""Network registry and output shapes (sizes derived from the input spec and util/conventions)."""
from __future__ import annotations

import pytest
import torch

from net import build_model, network_names
from net.blocks import split_pooling
from net.spec import InputSpec
from util.conventions import NUM_CLASSES, NUM_TRACKS, VISUAL_NUM_BOXES, VISUAL_NUM_POINTS

VEC = (2, VISUAL_NUM_BOXES, VISUAL_NUM_POINTS)


def _vectors(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, frames, *VEC, generator=g)


def test_registry_names():
    assert {"avcrnn", "seldnet", "av_vit"} <= set(network_names())
    with pytest.raises(ValueError, match="unknown network"):
        build_model("nope", InputSpec(7, 64, 250, 5))


@pytest.mark.parametrize("total,stages,expected", [(5, 3, [5, 1, 1]), (10, 3, [5, 2, 1]), (16, 3, [4, 2, 2]),
                                                   (1, 3, [1, 1, 1]), (4, 2, [2, 2])])
def test_split_pooling(total, stages, expected):
    assert split_pooling(total, stages) == expected


def test_avcrnn_baseline_shapes_and_visual_use():
    torch.manual_seed(0)
    spec = InputSpec(audio_channels=7, audio_bins=257, window_frames=128, frames_per_label=10, visual="vectors",
                     visual_shape=VEC)
    model = build_model("avcrnn", spec).eval()
    assert model.visual.fc1.in_features == 444 and model.fc.out_features == 117
    assert model.gru.hidden_size == 256 and model.gru.input_size == 128
    audio = torch.randn(2, 7, 128, 257)
    out = model(audio, _vectors(2, spec.label_frames))
    assert out.shape == (2, 128, NUM_TRACKS, 3, NUM_CLASSES)
    # output repeated x16: constant over each block of 16 frames
    assert torch.equal(out[:, 0], out[:, 15]) and not torch.equal(out[:, 0], out[:, 16])
    # one visual vector per window: only the first label frame matters
    v1, v2 = _vectors(2, spec.label_frames, 1), _vectors(2, spec.label_frames, 2)
    v2[:, 0] = v1[:, 0]
    assert torch.allclose(model(audio, v1), model(audio, v2))
    assert not torch.allclose(model(audio, v1), model(audio, _vectors(2, spec.label_frames, 3)))
    only = build_model("avcrnn", spec, audio_only=True).eval()
    only.load_state_dict(model.state_dict())
    assert torch.allclose(only(audio, v1), only(audio, None))


@pytest.mark.parametrize("with_distance", [False, True])
def test_seldnet_shapes(with_distance):
    torch.manual_seed(0)
    spec = InputSpec(7, 64, 250, 5, "vectors", VEC, with_distance=with_distance)
    model = build_model("seldnet", spec, params={"conv_channels": 16, "gru_hidden": 32, "fc_dim": 32}).eval()
    assert model.output_hop == 5
    out = model(torch.randn(2, 7, 250, 64), _vectors(2, 50))
    elements = 4 if with_distance else 3
    assert out.shape == (2, 50, NUM_TRACKS, elements, NUM_CLASSES)
    assert out[:, :, :, :3].abs().max() <= 1.0
    if with_distance:
        assert (out[:, :, :, 3] >= 0).all()


def test_seldnet_per_block_widths_and_depths():
    spec = InputSpec(7, 64, 50, 5, "none")
    model = build_model("seldnet", spec, params={"conv_channels": [8, 16, 24], "convs_per_block": [1, 2, 2],
                                                 "gru_hidden": 16, "fc_dim": 16, "attn_heads": 4}).eval()
    convs = [m for m in model.convs.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(7, 8), (8, 16), (16, 16), (16, 24), (24, 24)]
    assert model.gru.input_size == 24 * 2  # 64 bins pooled by 4 * 4 * 2
    assert model(torch.randn(1, 7, 50, 64)).shape == (1, 10, NUM_TRACKS, 3, NUM_CLASSES)
    with pytest.raises(ValueError, match="one value per conv block"):
        build_model("seldnet", spec, params={"conv_channels": [8, 16]})


def test_seldnet_visual_per_label_frame_and_audio_only():
    torch.manual_seed(0)
    spec = InputSpec(7, 64, 50, 5, "vectors", VEC)
    model = build_model("seldnet", spec, params={"conv_channels": 8, "gru_hidden": 16, "fc_dim": 16,
                                                 "attn_heads": 4}).eval()
    audio = torch.randn(1, 7, 50, 64)
    v1 = _vectors(1, 10, 1)
    v2 = v1.clone()
    v2[:, 7] = 0.0  # changing a later label frame's vectors changes the output
    assert not torch.allclose(model(audio, v1), model(audio, v2))
    only = build_model("seldnet", spec, audio_only=True, params={"conv_channels": 8, "gru_hidden": 16, "fc_dim": 16,
                                                                 "attn_heads": 4}).eval()
    only.load_state_dict(model.state_dict())
    assert torch.allclose(only(audio, v1), only(audio, v2))
    # other feature shapes: MIC logmel_gcc (10 x 64), binaural, 10 ms hop (10 frames per label)
    for channels, bins, fpl in ((10, 64, 5), (4, 64, 5), (7, 64, 10)):
        m = build_model("seldnet", InputSpec(channels, bins, 10 * fpl, fpl, "none"),
                        params={"conv_channels": 8, "gru_hidden": 16, "fc_dim": 16, "attn_heads": 4}).eval()
        assert m(torch.randn(1, channels, 10 * fpl, bins)).shape == (1, 10, NUM_TRACKS, 3, NUM_CLASSES)


def test_av_vit_shapes():
    pytest.importorskip("net.vision_transformer")
    torch.manual_seed(0)
    spec = InputSpec(7, 64, 50, 5, "frames", (32, 64, 3))
    model = build_model("av_vit", spec, params={"conv_channels": 8, "gru_hidden": 16, "fc_dim": 16, "attn_heads": 4,
                                                "vit": {"patch_size": 16, "dim": 32, "depth": 1, "heads": 2}}).eval()
    frames = torch.randint(0, 256, (2, 10, 32, 64, 3), dtype=torch.uint8)
    assert model(torch.randn(2, 7, 50, 64), frames).shape == (2, 10, NUM_TRACKS, 3, NUM_CLASSES)


def _intensity_net(**params) -> torch.nn.Module:
    spec = InputSpec(7, 64, 100, 5, "vectors", VEC, intensity_channels=(6, 4, 5))
    return build_model("seldnet", spec, params={"conv_channels": 16, "gru_hidden": 32, "fc_dim": 32,
                                                "doa": "intensity", **params}).eval()


@pytest.mark.parametrize("t", [0, 1, 6, 13])
def test_intensity_doa_points_at_a_plane_wave_and_rotates_with_it(t):
    """With uniform band weights and a saturated activity, the intensity head outputs the unit mean intensity:
    the source's direction, transformed exactly like the scene (FOA rotations / reflections)."""
    from feature.base import build_extractor
    from seld_data_loader import FoaRotations
    from tests.test_features import foa_plane_wave
    from util.geometry import sph_to_cart

    model = _intensity_net()
    head = model.head
    with torch.no_grad():
        for layer in (head.band_logits, head.activity):
            layer.weight.zero_()
            layer.bias.zero_()
        head.activity.bias.fill_(20.0)  # |tanh(20)| = 1
    raw = build_extractor("logmel_iv").extract(foa_plane_wave(60, 20, seconds=2.0))[:, :100]
    mean, std = raw.mean(axis=1), raw.std(axis=1) + 1.0  # any statistics: the head undoes them
    model.set_feature_stats(mean, std)
    rotations = FoaRotations()
    scene = rotations.features(raw, t)
    out = model(torch.from_numpy((scene - mean[:, None]) / std[:, None])[None].float(), _vectors(1, 20))
    want = torch.from_numpy(rotations.matrix(t) @ sph_to_cart(60, 20)).float()
    got = out[0, 2:-2]  # (T, tracks, 3, classes), inner frames
    assert torch.allclose(got.norm(dim=2), torch.ones(()), atol=1e-4)
    cos = torch.einsum("tkxc,x->tkc", got, want)
    assert cos.min() > torch.cos(torch.deg2rad(torch.tensor(2.0)))


def _unit(az_deg: float, length: float = 1.0) -> torch.Tensor:
    az = torch.deg2rad(torch.tensor(az_deg))
    return length * torch.stack([torch.cos(az), torch.sin(az), torch.zeros(())])


@pytest.mark.parametrize("context", [0, 1, 2])
def test_intensity_context_bridges_a_diffuse_frame(context):
    """Five output frames whose intensity points at 40 deg with length 0.8, except frame 2: a diffuse frame (length
    0.05) pointing at -120 deg. Without context frame 2 gets -120 deg; with context (uniform frame weights, the
    initial state) the coherent neighbours win: 40 deg. At the window edge only real frames count (padding adds
    nothing), and frame logits that pick the centre give back the per-frame directions."""
    from net.seldnet import IntensityAttentionDOA

    head = IntensityAttentionDOA(dim=8, bins=4, num_tracks=1, num_classes=1, fc_dim=8, context=context)
    with torch.no_grad():
        head.band_logits.weight.zero_()
        head.band_logits.bias.zero_()
        head.activity.weight.zero_()
        head.activity.bias.fill_(20.0)  # |tanh(20)| = 1
    intensity = _unit(40.0, 0.8)[None, :, None, None].repeat(1, 1, 5, 4)  # (B, 3, T, F)
    intensity[0, :, 2] = _unit(-120.0, 0.05)[:, None]

    def azimuths() -> list[float]:
        with torch.no_grad():
            xyz = head(torch.zeros(1, 5, 8), intensity)[0, :, 0, :, 0]
        return torch.rad2deg(torch.atan2(xyz[:, 1], xyz[:, 0])).tolist()

    want = [40.0, 40.0, -120.0 if context == 0 else 40.0, 40.0, 40.0]
    assert azimuths() == pytest.approx(want, abs=1.5)  # neighbours of the diffuse frame move by < 1 deg
    if context:
        with torch.no_grad():  # all weight on offset 0 (the centre of the 2 * context + 1 frames)
            head.frame_logits.bias.copy_(torch.tensor([0.0] * context + [50.0] + [0.0] * context))
        assert azimuths() == pytest.approx([40.0, 40.0, -120.0, 40.0, 40.0], abs=0.5)
    with pytest.raises(ValueError, match="doa_context"):
        IntensityAttentionDOA(dim=8, bins=4, num_tracks=1, num_classes=1, fc_dim=8, context=-1)


def test_intensity_doa_needs_intensity_features():
    spec = InputSpec(10, 64, 100, 5, "vectors", VEC)  # e.g. MIC logmel_gcc: no intensity channels
    with pytest.raises(ValueError, match="intensity vectors"):
        build_model("seldnet", spec, params={"doa": "intensity"})
    with pytest.raises(ValueError, match="doa must be one of"):
        build_model("seldnet", InputSpec(7, 64, 100, 5, "vectors", VEC), params={"doa": "beam"})
    out = _intensity_net()(torch.randn(2, 7, 100, 64), _vectors(2, 20))
    assert out.shape == (2, 20, NUM_TRACKS, 3, NUM_CLASSES) and (out.norm(dim=3) <= 1.0 + 1e-5).all()


def test_doa_auto_uses_intensity_when_the_features_have_it():
    with_iv = InputSpec(7, 64, 100, 5, "vectors", VEC, intensity_channels=(6, 4, 5))
    assert build_model("seldnet", with_iv).doa == "intensity"
    assert build_model("seldnet", InputSpec(10, 64, 100, 5, "vectors", VEC)).doa == "regress"
    distance = InputSpec(7, 64, 100, 5, "vectors", VEC, with_distance=True, intensity_channels=(6, 4, 5))
    assert build_model("seldnet", distance).doa == "regress"
    assert build_model("seldnet", with_iv, params={"doa": "regress"}).doa == "regress"
