"""ADPIT loss: known answers by construction."""
from __future__ import annotations

import itertools

import pytest
import torch

from net.adpit import ADPITLoss, permutation_table
from util.conventions import ADPIT_GROUPS, NUM_CLASSES

A0, (B0, B1), (C0, C1, C2) = ADPIT_GROUPS[0][0], ADPIT_GROUPS[1], ADPIT_GROUPS[2]


def _unit(*v: float) -> torch.Tensor:
    t = torch.tensor(v, dtype=torch.float32)
    return t / t.norm()


def _target(frames: int = 1) -> torch.Tensor:
    return torch.zeros(1, frames, 6, 5, NUM_CLASSES)


def _set(target: torch.Tensor, frame: int, slot: int, cls: int, vec: torch.Tensor, dist: float = 0.0) -> None:
    target[0, frame, slot, 0, cls] = 1.0
    target[0, frame, slot, 1:4, cls] = vec
    target[0, frame, slot, 4, cls] = dist


def test_table_has_13_candidates_1_6_6_padded_with_the_other_groups_first_assignment():
    table = permutation_table()
    assert table.shape == (13, 3, 3)
    own = [tuple(table[k, 0 if k == 0 else 1 if k < 7 else 2].tolist()) for k in range(13)]
    assert own[0] == (A0, A0, A0)
    # the official order: B0B0B1, B0B1B0, B0B1B1, B1B0B0, B1B0B1, B1B1B0; C as itertools.permutations
    assert own[1:7] == [(B0, B0, B1), (B0, B1, B0), (B0, B1, B1), (B1, B0, B0), (B1, B0, B1), (B1, B1, B0)]
    assert own[7:] == list(itertools.permutations((C0, C1, C2)))
    # padding: the other groups' FIRST assignment, track by track (A0A0A0, B0B0B1, C0C1C2), as MSELoss_ADPIT
    for k in range(13):
        g = 0 if k == 0 else 1 if k < 7 else 2
        for h, first in enumerate([(A0, A0, A0), (B0, B0, B1), (C0, C1, C2)]):
            if h != g:
                assert tuple(table[k, h].tolist()) == first


def test_padding_gives_b0b0b1_not_b0b0b0_when_only_b_is_active():
    """With two instances (B active), the A candidate is A0A0A0 (zeros) + B0B0B1 + C0C1C2 (zeros): an output of
    (B0, B0, B1) scores 0 with it as with the first B candidate; (B0, B0, B0) is no valid candidate."""
    loss = ADPITLoss()
    target = _target()
    u, w = _unit(1, 0, 0), _unit(0, 1, 0)
    _set(target, 0, B0, 4, u)
    _set(target, 0, B1, 4, w)
    out = torch.zeros(1, 1, 3, 3, NUM_CLASSES)
    out[0, 0, :, :, 4] = torch.stack([u, u, w])
    per_candidate = loss.candidate_losses(out, target)[0, 0, :, 4]
    assert per_candidate[0].item() == pytest.approx(0.0, abs=1e-7)
    out[0, 0, :, :, 4] = torch.stack([u, u, u])
    assert loss(out, target).item() == pytest.approx((2 / 9) / NUM_CLASSES, rel=1e-6)


def test_zero_when_output_is_any_valid_assignment():
    loss = ADPITLoss()
    torch.manual_seed(0)
    target = _target(frames=2)
    vecs = [_unit(*torch.randn(3).tolist()) for _ in range(6)]
    _set(target, 0, A0, 0, vecs[0])
    _set(target, 0, B0, 1, vecs[1])
    _set(target, 0, B1, 1, vecs[2])
    for s, v in zip((C0, C1, C2), vecs[3:]):
        _set(target, 1, s, 5, v)
    out = torch.zeros(1, 2, 3, 3, NUM_CLASSES)
    out[0, 0, :, :, 0] = vecs[0]                                  # A0 on every track
    out[0, 0, :, :, 1] = torch.stack([vecs[2], vecs[1], vecs[2]])  # (B1, B0, B1)
    out[0, 1, :, :, 5] = torch.stack([vecs[5], vecs[3], vecs[4]])  # (C2, C0, C1)
    assert loss(out, target).item() == pytest.approx(0.0, abs=1e-7)
    out[0, 1, :, :, 5] = torch.stack([vecs[3], vecs[3], vecs[4]])  # not a permutation of C: positive
    assert loss(out, target).item() > 1e-3


def test_hand_built_minimum():
    loss = ADPITLoss()
    target = _target()
    v = _unit(1, 0, 0)
    _set(target, 0, A0, 3, v)
    out = torch.zeros(1, 1, 3, 3, NUM_CLASSES)
    # all-zero output: every candidate puts v on all 3 tracks -> 3 / 9 for class 3, averaged over 13 classes
    assert loss(out, target).item() == pytest.approx((3 / 9) / NUM_CLASSES, rel=1e-6)
    out[0, 0, 0, :, 3] = v  # one track right, two silent -> 2 / 9
    assert loss(out, target).item() == pytest.approx((2 / 9) / NUM_CLASSES, rel=1e-6)
    # two instances u, w; output (w, u, 0): the best candidates (B1, B0, B0) / (B1, B0, B1) miss one track -> 1 / 9
    target = _target()
    u, w = _unit(0, 1, 0), _unit(0, 0, 1)
    _set(target, 0, B0, 7, u)
    _set(target, 0, B1, 7, w)
    out = torch.zeros(1, 1, 3, 3, NUM_CLASSES)
    out[0, 0, 0, :, 7], out[0, 0, 1, :, 7] = w, u
    per_candidate = loss.candidate_losses(out, target)[0, 0, :, 7]
    assert per_candidate.min().item() == pytest.approx(1 / 9, rel=1e-6)
    assert loss(out, target).item() == pytest.approx((1 / 9) / NUM_CLASSES, rel=1e-6)


def test_distance_and_gradient():
    loss = ADPITLoss()
    target = _target()
    _set(target, 0, A0, 2, _unit(0, 1, 0), dist=2.5)
    out = torch.zeros(1, 1, 3, 4, NUM_CLASSES)
    out[0, 0, :, :3, 2] = _unit(0, 1, 0)
    # xyz right, distance 0 instead of 2.5 on 3 tracks: 3 * 2.5^2 / 12 elements
    assert loss(out, target).item() == pytest.approx(3 * 2.5 ** 2 / 12 / NUM_CLASSES, rel=1e-6)
    out.requires_grad_(True)
    loss(out, target).backward()
    assert out.grad is not None and out.grad.abs().sum() > 0


def test_activity_term_known_answers():
    target = _target(frames=2)
    _set(target, 0, A0, 3, _unit(1, 0, 0))
    _set(target, 1, B0, 5, _unit(0, 1, 0))
    _set(target, 1, B1, 5, _unit(0, 0, 1))
    # any output whose track vectors have length 1 for active classes and 0 elsewhere: no activity loss,
    # whatever the directions
    out = torch.zeros(1, 2, 3, 3, NUM_CLASSES)
    out[0, 0, :, :, 3] = _unit(-1, 2, 0)
    out[0, 1, :, :, 5] = _unit(0, 0, -1)
    assert ADPITLoss.activity_loss(out, target).item() == pytest.approx(0.0, abs=1e-7)
    # silence everywhere: (3 tracks of frame 0 + 3 of frame 1) misses of 1 over 2 x 3 x 13 cells
    zeros = torch.zeros_like(out)
    assert ADPITLoss.activity_loss(zeros, target).item() == pytest.approx(6 / (2 * 3 * NUM_CLASSES))
    plain, weighted = ADPITLoss(), ADPITLoss(activity_weight=0.5)
    assert weighted(zeros, target).item() == pytest.approx(plain(zeros, target).item() + 0.5 * 6 / 78)
    # a valid ADPIT assignment scores 0 with the activity term too
    valid = torch.zeros_like(out)
    valid[0, 0, :, :, 3] = _unit(1, 0, 0)
    valid[0, 1, 0, :, 5], valid[0, 1, 1, :, 5], valid[0, 1, 2, :, 5] = _unit(0, 1, 0), _unit(0, 0, 1), _unit(0, 1, 0)
    assert weighted(valid, target).item() == pytest.approx(0.0, abs=1e-7)
