"""The model bundle (seld_model.py): build -> write -> load gives the same network, settings and statistics;
checkpoints of the version-1 layout (before the bundle) are upgraded; a newer version is refused in one line."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from feature.base import extractor_class
from net.spec import InputSpec
from seld_model import CHECKPOINT_VERSION, build_bundle, load_bundle, upgrade_checkpoint, write_checkpoint
from util.checkpoint import load_checkpoint, save_checkpoint
from util.config import RunConfig, config_to_dict
from util.errors import InputError

#: logmel_iv sizes: 7 channels (4 log-mel + 3 intensity), intensity x, y, z in channels 6, 4, 5
SPEC = InputSpec(audio_channels=7, audio_bins=32, window_frames=20, frames_per_label=5, visual="none",
                 intensity_channels=(6, 4, 5))


def _config(**params) -> RunConfig:
    cfg = RunConfig()
    cfg.features = extractor_class("logmel_iv").default_config(n_mels=32).to_dict()
    cfg.model.params.update(gru_hidden=8, fc_dim=8, attn_layers=1, conv_channels=8, **params)
    return cfg


def _stats() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(7, 32)).astype(np.float32), rng.uniform(0.5, 2, size=(7, 32)).astype(np.float32)


def test_build_records_the_resolved_settings_and_round_trips(tmp_path):
    torch.manual_seed(0)
    cfg = _config()
    assert "doa" not in cfg.model.params
    bundle = build_bundle(cfg, SPEC, _stats())
    assert cfg.model.params["doa"] == "intensity" and cfg.model.params["doa_context"] == 2  # "auto" resolved
    assert bundle.settings() == {"doa": "intensity", "doa_context": 2}
    path = write_checkpoint(tmp_path / "a.pt", bundle, {"iteration": 3})
    raw = load_checkpoint(path)
    assert raw["version"] == CHECKPOINT_VERSION and raw["iteration"] == 3
    loaded = load_bundle(path)
    assert loaded.spec == SPEC and loaded.settings() == bundle.settings() and not loaded.network.training
    np.testing.assert_array_equal(loaded.mean, _stats()[0])
    assert torch.equal(loaded.network.intensity_mean, torch.from_numpy(_stats()[0][[6, 4, 5]]))
    for name, value in bundle.network.state_dict().items():
        assert torch.equal(loaded.network.state_dict()[name], value), name
    assert loaded.frame_shift_s == pytest.approx(0.02) and loaded.feature_name == "logmel_iv"  # 480 samples, 24 kHz


def _version_1(bundle, drop_params: tuple[str, ...]) -> dict:
    """The dict the trainer wrote before the bundle (no version; here without some resolved settings)."""
    config = config_to_dict(bundle.config)
    for key in drop_params:
        del config["model"]["params"][key]
    del config["data"]["equalize_db"]
    return {"config": config, "input_spec": dataclasses.asdict(bundle.spec),
            "feature_stats": {"mean": torch.from_numpy(bundle.mean), "std": torch.from_numpy(bundle.std)},
            "model": bundle.network.state_dict(), "ema": None, "iteration": 1}


@pytest.mark.parametrize("doa, context", [("regress", None), ("intensity", 2), ("intensity", 0)])
def test_version_1_checkpoints_load_through_the_upgrade(tmp_path, doa, context):
    params = {"doa": doa} if context is None else {"doa": doa, "doa_context": context}
    bundle = build_bundle(_config(**params), SPEC, _stats())
    save_checkpoint(tmp_path / "old.pt", _version_1(bundle, ("doa", "doa_context") if context else ("doa",)))
    loaded = load_bundle(tmp_path / "old.pt")
    assert loaded.settings() == bundle.settings()
    assert loaded.config.data.equalize_db == 0.0  # the value such a run trained with, not today's default
    upgraded = upgrade_checkpoint(_version_1(bundle, ()))
    assert upgraded["version"] == CHECKPOINT_VERSION and upgraded["config"]["model"]["params"]["doa"] == doa


def test_a_newer_checkpoint_is_one_clear_error(tmp_path):
    bundle = build_bundle(_config(doa="regress"), SPEC, _stats())
    path = write_checkpoint(tmp_path / "new.pt", bundle)
    ckpt = load_checkpoint(path)
    ckpt["version"] = CHECKPOINT_VERSION + 1
    save_checkpoint(path, ckpt)
    with pytest.raises(InputError, match="newer than this code"):
        load_bundle(path)
