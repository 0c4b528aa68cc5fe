"""benchmarks/oracle_doa.py: intensity-vector directions with known answers, and a free-field dataset on which
the oracle is exact."""
from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks import oracle_doa
from util.conventions import NUM_CLASSES


def test_intensity_direction_and_single_source_error():
    fpl = 5
    feats = np.zeros((7, 2 * fpl, 4), np.float32)
    feats[4], feats[6] = 0.5, 0.5              # intensity y = x: azimuth 45 deg
    dirs = oracle_doa.intensity_directions(feats, fpl)
    np.testing.assert_allclose(dirs, [[math.sqrt(0.5), math.sqrt(0.5), 0.0]] * 2, atol=1e-9)
    labels = np.zeros((2, 6, 5, NUM_CLASSES), np.float32)
    labels[0, 0, :4, 2] = [1.0, 1.0, 0.0, 0.0]  # frame 0: one source at +x -> 45 deg off
    labels[1, 0, :4, 2] = [1.0, 1.0, 0.0, 0.0]  # frame 1: two sources -> not scored
    labels[1, 0, :4, 5] = [1.0, 0.0, 1.0, 0.0]
    np.testing.assert_allclose(oracle_doa.single_source_errors(dirs, labels), [45.0], atol=1e-6)
    assert oracle_doa.format_row("test", np.array([10.0, 30.0])) == "| test | 2 | 20.0 | 20.0 | 50.0 % |"


@pytest.mark.parametrize("room", [False, True])
def test_free_field_oracle_is_exact_and_rooms_pull_it_off(tmp_path, capsys, room):
    from synth.config import SynthesisConfig
    from synth.dataset import synthesize_dataset

    cfg = SynthesisConfig.from_preset("tiny", seed=3, workers=1, formats=("foa",), video=False,
                                      room_acoustics=room, snr_db=25.0 if room else math.inf)
    root = synthesize_dataset(cfg, tmp_path / "ds", progress=False)
    assert oracle_doa.main(["--data-dir", str(root), "--workers", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| t")]
    medians = [float(r.split("|")[4]) for r in rows]
    assert len(rows) == 2
    if room:
        assert max(medians) > 3.0
    else:
        assert max(medians) < 1.0


def test_missing_audio_is_one_clear_error(tmp_path, capsys):
    assert oracle_doa.main(["--data-dir", str(tmp_path)]) == 2
    assert "no foa_dev folder" in capsys.readouterr().err
