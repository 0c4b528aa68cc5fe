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


def test_table_has_13_candidates_1_6_6():
    assign, pad = permutation_table()
    assert assign.shape == (13, 3) and pad.shape == (13, 6)
    rows = [tuple(r) for r in assign.tolist()]
    assert len(set(rows)) == 13
    assert sum(set(r) == {A0} for r in rows) == 1
    assert sum(set(r) == {B0, B1} for r in rows) == 6
    assert sorted(r for r in rows if set(r) == {C0, C1, C2}) == sorted(itertools.permutations((C0, C1, C2)))
    # padding: A candidates add B0 + C0, B candidates A0 + C0, C candidates A0 + B0
    assert pad[0].nonzero().flatten().tolist() == [B0, C0]
    assert all(p.nonzero().flatten().tolist() == [A0, C0] for p in pad[1:7])
    assert all(p.nonzero().flatten().tolist() == [A0, B0] for p in pad[7:])


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
