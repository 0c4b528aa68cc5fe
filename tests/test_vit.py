"""The frame ViT: shapes, dtype handling, per-frame independence and gradient flow."""
from __future__ import annotations

import pytest
import torch

from net.vision_transformer import FrameViT, build_frame_vit


def _vit(**kw) -> FrameViT:
    torch.manual_seed(0)
    args = dict(image_size=(32, 64), patch_size=16, embed_dim=32, depth=2, num_heads=4, out_dim=24, dropout=0.0)
    args.update(kw)
    return FrameViT(**args)


def test_output_shape_and_tokens():
    vit = _vit()
    assert vit.grid == (2, 4) and vit.num_patches == 8
    x = torch.randint(0, 256, (2, 5, 3, 32, 64), dtype=torch.uint8)
    emb, tokens = vit.forward_tokens(x)
    assert emb.shape == (2, 5, 24) and tokens.shape == (2, 5, 8, 32)
    assert vit(x).shape == (2, 5, 24)
    assert _vit(pool="mean", patch_size=(8, 16))(x).shape == (2, 5, 24)


def test_uint8_equals_float_in_unit_range():
    vit = _vit().eval()
    x = torch.randint(0, 256, (1, 3, 3, 32, 64), dtype=torch.uint8)
    torch.testing.assert_close(vit(x), vit(x.float() / 255.0))


def test_frames_are_embedded_independently():
    vit = _vit().eval()
    x = torch.rand(2, 4, 3, 32, 64)
    full = vit(x)
    torch.testing.assert_close(vit(x[:, 2:3]), full[:, 2:3], rtol=1e-4, atol=1e-5)
    # a frame's content matters: changing frame 1 changes only embedding 1
    y = x.clone()
    y[:, 1] = torch.rand(2, 3, 32, 64)
    out = vit(y)
    assert not torch.allclose(out[:, 1], full[:, 1])
    torch.testing.assert_close(out[:, [0, 2, 3]], full[:, [0, 2, 3]], rtol=1e-4, atol=1e-5)


def test_gradient_reaches_every_parameter():
    vit = _vit().train()
    x = torch.rand(2, 3, 3, 32, 64)
    vit(x).pow(2).mean().backward()
    for name, p in vit.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="multiple of the patch size"):
        FrameViT(image_size=(30, 64), patch_size=16)
    with pytest.raises(ValueError, match="expected frames"):
        _vit()(torch.zeros(2, 3, 32, 64, 3))


def test_build_frame_vit_from_config_keys():
    vit, dim = build_frame_vit(32, 64, patch_size=16, dim=32, depth=1, heads=2)
    assert dim == 32 and vit.image_size == (32, 64)
    assert vit(torch.rand(1, 2, 3, 32, 64)).shape == (1, 2, 32)
    assert build_frame_vit(32, 64, dim=32, heads=2, out_dim=8)[1] == 8
