"""ADPIT loss (auxiliary duplicating permutation invariant training) for Multi-ACCDOA outputs.

Shapes (conventions in util/conventions.py):
  output  (B, T, NUM_TRACKS=3, E, C)      E = 3 (x, y, z) or 4 (x, y, z, distance); vector length = activity
  target  (B, T, NUM_ADPIT_TRACKS=6, 5, C) per dummy track [activity, x, y, z, distance_m]
Dummy tracks: A0 (a class with one instance), B0, B1 (two instances), C0, C1, C2 (three or more).

The candidate set is generated from a permutation table, not written out by hand: for each group
(A, B, C) every assignment of the group's dummy tracks to the 3 output tracks that uses each of them at least
once (A: 1, B: 6, C: 6 = 13 candidates, in the official order: A0A0A0; B0B0B1, B0B1B0, B0B1B1, B1B0B0, B1B0B1,
B1B1B0; C0C1C2, C0C2C1, C1C0C2, C1C2C0, C2C0C1, C2C1C0). A candidate is padded with the OTHER groups' FIRST
assignment (A0A0A0, B0B0B1, C0C1C2), track by track, so that a candidate of an inactive group reproduces the
active one (only one group is active per frame and class). The loss is the per (batch, frame, class) minimum over
the candidates of the MSE averaged over tracks and elements, then the mean.

This is the official ``MSELoss_ADPIT`` (sony/audio-visual-seld-dcase2023 seld_trainer.py): equal within 1e-5 on
the golden outputs and labels, tests/test_parity_official.py.
"""
from __future__ import annotations

import itertools

import torch
from torch import nn

from util.conventions import ADPIT_GROUPS, NUM_ADPIT_TRACKS, NUM_TRACKS


def permutation_table(num_tracks: int = NUM_TRACKS) -> torch.Tensor:
    """The ADPIT candidates as a table (K, G, num_tracks) of dummy-track indices: candidate k takes, for each
    group g (A, B, C) and output track j, the dummy track ``table[k, g, j]``; row g is the candidate's own
    assignment for its group and the group's first assignment for the others (the padding). The candidate target
    of output track j is the sum of its groups' dummy tracks."""
    assignments = [[combo for combo in itertools.product(members, repeat=num_tracks) if set(combo) == set(members)]
                   for members in ADPIT_GROUPS]
    firsts = [group[0] for group in assignments]
    table = [[combo if h == g else firsts[h] for h in range(len(ADPIT_GROUPS))]
             for g, group in enumerate(assignments) for combo in group]
    return torch.tensor(table, dtype=torch.long)


def accdoa_targets(target: torch.Tensor, with_distance: bool) -> torch.Tensor:
    """Activity-weighted vectors (B, T, 6, E, C) from ADPIT targets (B, T, 6, 5, C)."""
    act = target[:, :, :, :1]
    vec = target[:, :, :, 1:5] if with_distance else target[:, :, :, 1:4]
    return act * vec


class ADPITLoss(nn.Module):
    """Multi-ACCDOA ADPIT MSE loss (13 candidate assignments).

    ``activity_weight`` > 0 adds that weight times an activity term: the mean squared difference between each
    output track's xyz vector length and the class activity (1 when any instance of the class is active). Every
    ADPIT candidate already asks for exactly these lengths (active classes are duplicated over all tracks), so the
    optimum is unchanged; but the term rewards detecting a class before its direction is known, whereas the MSE
    alone keeps the vector short while the direction is uncertain (the mean of spread-out unit vectors is short).
    """

    def __init__(self, num_tracks: int = NUM_TRACKS, activity_weight: float = 0.0):
        super().__init__()
        self.activity_weight = activity_weight
        self.register_buffer("table", permutation_table(num_tracks), persistent=False)

    def candidate_losses(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """MSE of every candidate: (B, T, K, C)."""
        if output.dim() != 5 or target.dim() != 5 or target.shape[2] != NUM_ADPIT_TRACKS:
            raise ValueError(f"ADPIT expects output (B,T,{NUM_TRACKS},E,C) and target (B,T,6,5,C); "
                             f"got {tuple(output.shape)} and {tuple(target.shape)}")
        with_distance = output.shape[3] == 4
        tgt = accdoa_targets(target.to(output.dtype), with_distance)          # (B, T, 6, E, C)
        cand = sum(tgt[:, :, self.table[:, g]] for g in range(self.table.shape[1]))  # (B, T, K, 3, E, C)
        err = (output[:, :, None] - cand) ** 2
        return err.mean(dim=(3, 4))

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        loss = self.candidate_losses(output, target).min(dim=2).values.mean()
        if self.activity_weight > 0:
            loss = loss + self.activity_weight * self.activity_loss(output, target)
        return loss

    @staticmethod
    def activity_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean over (B, T, track, C) of (|xyz of the track| - class activity)^2."""
        length = torch.linalg.vector_norm(output[:, :, :, :3], dim=3)               # (B, T, 3, C)
        active = target[:, :, :, 0].amax(dim=2).to(output.dtype)                    # (B, T, C)
        return ((length - active[:, :, None]) ** 2).mean()
