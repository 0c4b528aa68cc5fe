"""Shared test fixtures: the project's shared data folder (skips cleanly when absent)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} not present")
    return SHARED_DATA


#: Seed of the session's tiny synthetic dataset.
TINY_DATASET_SEED = 1234


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic STARSS23-format dataset (preset tiny: 2 train + 1 validation + 2 test clips of 6 s; FOA +
    MIC, video, simulated detections, list files, synthesis.json), made once per test session with a fixed seed;
    scenes are scripted from the shared STARSS22 annotations when present, else random."""
    from synth.config import SynthesisConfig, default_annotations
    from synth.dataset import synthesize_dataset

    config = SynthesisConfig.from_preset("tiny", seed=TINY_DATASET_SEED, workers=1, annotations=default_annotations())
    return synthesize_dataset(config, tmp_path_factory.mktemp("tiny_dataset") / "synth_tiny", progress=False)
