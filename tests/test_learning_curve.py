"""benchmarks/learning_curve.py: the table of a run's validations and when it reached the target."""
from __future__ import annotations

import json

from benchmarks import learning_curve


def test_curve_table_and_target(tmp_path, capsys):
    records = [{"iteration": 500, "minutes": 2.0, "ER": 1.0, "F": 0.0, "LE": 180.0, "LR": 0.0, "SELD": 1.0},
               {"iteration": 1000, "minutes": 4.1, "ER": 0.5, "F": 0.6, "LE": 20.0, "LR": 0.7, "SELD": 0.3528},
               {"iteration": 1500, "minutes": 6.2, "ER": 0.45, "F": 0.62, "LE": 19.0, "LR": 0.72, "SELD": 0.35}]
    (tmp_path / "val_history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert learning_curve.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| 1000 | 4.1 | 0.50 | 60.0 % | 20.0 | 70.0 % | 0.353 |" in out
    assert "best SELD 0.350 at iteration 1500; SELD <= 0.4 first at iteration 1000 (4.1 min)" in out
    assert learning_curve.main([str(tmp_path), "--target", "0.2"]) == 0
    assert "SELD <= 0.2 not reached" in capsys.readouterr().out


def test_missing_or_malformed_history_is_one_clear_error(tmp_path, capsys):
    assert learning_curve.main([str(tmp_path)]) == 2
    assert "val_history.jsonl: not found" in capsys.readouterr().err
    (tmp_path / "val_history.jsonl").write_text("{oops\n")
    assert learning_curve.main([str(tmp_path)]) == 2
    assert "line 1 is not JSON" in capsys.readouterr().err
