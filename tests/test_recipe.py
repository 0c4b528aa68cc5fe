"""The official AV-baseline recipe (configs/baseline_official.yaml): the preset's values, the options it turns on
(random-crop window sampling, weight decay on every parameter), the scripts' choice of it, and a tiny training
run with it (exact resume included)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

import seld
import seld_trainer
from seld_data_loader import SELDWindows, WindowSampler, epoch_length, epoch_windows
from util.checkpoint import load_checkpoint
from util.config import DataConfig, PRESET_DIR, apply_overrides, load_config, resolve_config_path
from util.errors import InputError

REPO = Path(__file__).resolve().parents[1]

#: Every setting of the official system (sony/audio-visual-seld-dcase2023 d712445e) the preset must hold.
OFFICIAL = {
    "data.audio_format": "foa", "data.feature": "amp_phasediff", "data.visual": "vectors", "data.window_s": 1.28,
    "data.sampling": "random_crop", "data.augment": False, "data.masking": False, "data.equalize_db": 0.0,
    "data.mix": 0.0, "model.name": "avcrnn", "model.audio_only": False,
    "train.optimizer": "adam", "train.lr": 1e-3, "train.weight_decay": 1e-6, "train.decay_all_params": True,
    "train.batch_size": 16, "train.max_iters": 20000, "train.schedule": "constant", "train.warmup_iters": 0,
    "train.activity_loss": 0.0, "train.grad_clip": 0.0, "train.ema": 0.0, "train.amp": False,
    "train.val_every": 1000, "train.checkpoint_every": 1000,
    "inference.window_s": 1.28, "inference.hop_s": 1.2, "inference.keep_margin_s": 0.04, "inference.threshold": 0.3,
    "inference.merge_deg": 15.0, "inference.smooth_frames": 1, "inference.tta": 1,
    "inference.official_decoding": True, "inference.official_grid": True,
}
#: Quirk options of the feature / label branch: checked when this branch's config knows them.
OTHER_BRANCH_QUIRKS = ("official_label_offset", "official_val_padding")


def value(cfg, key: str):
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def test_preset_holds_the_official_settings():
    cfg = load_config(resolve_config_path("baseline_official"))
    assert resolve_config_path("baseline_official") == PRESET_DIR / "baseline_official.yaml"
    for key, expected in OFFICIAL.items():
        assert value(cfg, key) == expected, key
    for name in OTHER_BRANCH_QUIRKS:
        if hasattr(DataConfig(), name):
            assert getattr(cfg.data, name) is True, f"data.{name}"
    with pytest.raises(InputError, match="presets: .*baseline_official"):
        resolve_config_path("no_such_preset")


def test_scripts_use_the_preset_for_the_baseline_network_and_features():
    def recipe(env: str) -> str:
        cmd = f'source script/lib.sh; {env}; recipe_of "$M" "$F"'
        return subprocess.run(["bash", "-c", cmd], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()

    assert recipe("M=avcrnn F=amp_phasediff") == "baseline_official"
    assert recipe("M=seldnet F=logmel_iv") == "none"
    assert recipe("RECIPE=none M=avcrnn F=amp_phasediff") == "none"
    assert recipe("RECIPE=my_preset M=seldnet F=logmel_iv") == "my_preset"


def test_random_crop_windows():
    frames, window = [600, 455, 100], 128
    keys = epoch_windows(frames, window, 10, seed=1, epoch=0, sampling="random_crop", crop_step=1)
    assert len(keys) == epoch_length(frames, window) == 5 + 4 + 1
    for k in keys:
        n = frames[k.rec]
        assert (0 <= k.start <= n - window) if n >= window else k.start == 0
    assert any(k.start % 10 for k in keys)  # offsets on the 10 ms grid, not only on label frames
    assert keys == epoch_windows(frames, window, 10, seed=1, epoch=0, sampling="random_crop", crop_step=1)
    assert keys != epoch_windows(frames, window, 10, seed=1, epoch=1, sampling="random_crop", crop_step=1)
    stepped = epoch_windows(frames, window, 10, seed=1, epoch=0, sampling="random_crop", crop_step=5)
    assert all(k.start % 5 == 0 for k in stepped)
    # files uniformly, offsets uniformly: over many epochs, every file ~1/3 of the windows, offsets spread evenly
    many = [k for e in range(300) for k in epoch_windows(frames, window, 10, 3, e, sampling="random_crop")]
    share = np.bincount([k.rec for k in many], minlength=3) / len(many)
    np.testing.assert_allclose(share, 1 / 3, atol=0.03)
    starts = np.array([k.start for k in many if k.rec == 0])
    assert starts.min() == 0 and starts.max() == 600 - window
    assert abs(np.mean(starts) - (600 - window) / 2) < 15
    # resume: skipping consumed windows gives the rest of the same epoch
    sampler = WindowSampler(frames, window, 10, seed=1, sampling="random_crop")
    full = list(sampler)
    sampler.set_epoch(0, skip=4)
    assert list(sampler) == full[4:] and len(sampler) == len(full) - 4
    with pytest.raises(ValueError, match="sampling"):
        epoch_windows(frames, window, 10, 1, 0, sampling="shuffled")


def test_decay_all_params_puts_every_parameter_in_one_decayed_group():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    (group,) = seld_trainer.parameter_groups(net, 1e-6, decay_all=True)
    assert group["weight_decay"] == 1e-6 and len(group["params"]) == 4
    decay, no_decay = seld_trainer.parameter_groups(net, 1e-6)
    assert len(decay["params"]) == 1 and len(no_decay["params"]) == 3 and no_decay["weight_decay"] == 0.0
    # Adam's weight decay is L2 in the gradient: a bias with zero gradient still moves
    bias = torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.Adam(seld_trainer.parameter_groups(torch.nn.ParameterList([bias]), 0.5, decay_all=True), lr=0.1)
    bias.grad = torch.zeros(1)
    opt.step()
    assert bias.item() == pytest.approx(0.9)


# ---------------------------------------------------------------------------------------- tiny training
@pytest.fixture(scope="module")
def baseline_cache(tiny_dataset, tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("baseline_cache")
    assert seld.main(["extract", "--data-dir", str(tiny_dataset), "--format", "foa", "--feature", "amp_phasediff",
                      "--cache-dir", str(cache), "--workers", "1"]) == 0
    return cache


def tiny_baseline(data_dir: Path, cache: Path, iters: int):
    cfg = load_config(resolve_config_path("baseline_official"))
    return apply_overrides(cfg, [f"data.data_dir={data_dir}", f"data.cache_dir={cache}", "data.num_workers=0",
                                 "train.batch_size=4", f"train.max_iters={iters}", f"train.val_every={iters}",
                                 "train.log_every=1", "train.device=cpu", "train.cpu_threads=1"])


def test_tiny_training_run_with_the_preset(tiny_dataset, baseline_cache, tmp_path):
    cfg = tiny_baseline(tiny_dataset, baseline_cache, 3)
    trainer = seld_trainer.build_trainer(cfg, tmp_path / "run", progress=False)
    assert type(trainer.optimizer) is torch.optim.Adam and len(trainer.optimizer.param_groups) == 1
    assert trainer.optimizer.param_groups[0]["weight_decay"] == 1e-6
    assert trainer.sampler.sampling == "random_crop" and trainer.sampler.crop_step == 1
    assert trainer.window_frames == 128 and not trainer.use_amp and trainer.ema is None
    assert isinstance(trainer.dataset, SELDWindows) and trainer.dataset.rotations is None
    assert trainer.dataset.masking is None and trainer.dataset.equalizer is None
    result = trainer.run()
    assert len(result["losses"]) == 3 and np.isfinite(result["losses"]).all()
    run = tmp_path / "run"
    assert (run / "val_history.jsonl").read_text().count("\n") == 1
    csvs = sorted((run / "val" / "pred").rglob("*.csv"))
    assert len(csvs) == 1 and csvs[0].parent.name.startswith("dev-val-")  # the tiny dataset's one validation clip
    # the official grid writes the whole last window: 6 s -> windows at 0 .. 4.8 s -> rows up to frame 59
    npy = sorted((run / "val" / "output").rglob("*.npy"))[0]
    assert np.load(npy).shape[0] == 60


def test_preset_run_resumes_exactly(tiny_dataset, baseline_cache, tmp_path):
    straight = seld_trainer.train(tiny_baseline(tiny_dataset, baseline_cache, 4), run_dir=tmp_path / "a",
                                  progress=False)
    seld_trainer.train(tiny_baseline(tiny_dataset, baseline_cache, 4), run_dir=tmp_path / "b", stop_after=2,
                       progress=False)
    resumed = seld_trainer.train(None, resume=tmp_path / "b", progress=False)
    assert resumed["iteration"] == 4
    a = load_checkpoint(tmp_path / "a/checkpoints/last.pt")["model"]
    b = load_checkpoint(tmp_path / "b/checkpoints/last.pt")["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert straight["losses"][2:] == resumed["losses"]
