"""Tiny end-to-end run (synthesise -> extract -> train -> evaluate -> predict) and known answers of the data
loader and of the sliding-window inference."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import seld
import seld_trainer
from feature.base import build_extractor, capability, features_with
from feature.cache import FeatureCache
from feature.labels import merge_adpit
from seld_data_loader import (RandomEqualizer, SELDWindows, TimeFrequencyMasking, WindowKey,
                              WindowSampler, crop_padded, epoch_windows, inference_windows)
from seld_inference import combine_outputs, sliding_window_inference
from util.checkpoint import load_checkpoint, save_checkpoint
from util.config import RunConfig, apply_overrides, load_config, save_config
from util.conventions import NUM_CLASSES, NUM_TRACKS

SMALL_NET = {"conv_channels": 16, "gru_hidden": 32, "gru_layers": 1, "attn_layers": 1, "attn_heads": 4,
             "fc_dim": 32, "visual_hidden": 16, "visual_embed": 16}


def tiny_config(data_dir: Path, cache_dir: Path, **train) -> RunConfig:
    """A fast CPU config for the tiny dataset (used by the resume / DDP tests too)."""
    cfg = RunConfig(name="tiny")
    cfg.data.data_dir, cfg.data.cache_dir = str(data_dir), str(cache_dir)
    cfg.data.window_s, cfg.data.num_workers = 2.0, 0
    cfg.data.masking = False  # 30 iterations on 2 clips: the loss check wants the unmasked, unfiltered signal
    cfg.data.equalize_db = 0.0
    cfg.model.params = dict(SMALL_NET)
    cfg.train.batch_size, cfg.train.lr, cfg.train.warmup_iters = 2, 3e-3, 2
    cfg.train.max_iters, cfg.train.val_every, cfg.train.checkpoint_every, cfg.train.log_every = 30, 1000, 1000, 10
    cfg.train.device = "cpu"
    for k, v in train.items():
        setattr(cfg.train, k, v)
    return cfg


# ------------------------------------------------------------------------------------------ pure known answers
def test_crop_padded():
    a = np.arange(10)
    assert crop_padded(a, -2, 5).tolist() == [0, 0, 0, 1, 2]
    assert crop_padded(a, 8, 4).tolist() == [8, 9, 0, 0]
    assert crop_padded(a, 3, 2).tolist() == [3, 4]


def test_epoch_windows_cover_every_frame_and_depend_on_seed_and_epoch():
    frames = [600, 455, 100]
    keys = epoch_windows(frames, 100, 5, seed=1, epoch=0)
    assert len(keys) == 6 + 5 + 1
    for r, total in enumerate(frames):
        covered = np.zeros(total, bool)
        for k in keys:
            if k.rec == r:
                assert k.start % 5 == 0
                covered[max(k.start, 0):k.start + 100] = True
        assert covered.all()
    assert keys == epoch_windows(frames, 100, 5, seed=1, epoch=0)
    assert keys != epoch_windows(frames, 100, 5, seed=1, epoch=1)
    assert keys != epoch_windows(frames, 100, 5, seed=2, epoch=0)
    # DDP: two ranks split one permutation; resume skips consumed windows
    s0, s1 = (WindowSampler(frames, 100, 5, seed=1, rank=r, world_size=2) for r in (0, 1))
    k0, k1 = list(s0), list(s1)
    assert len(k0) == len(k1) == len(s0) == 6 and sorted(k0 + k1, key=str) == sorted(keys, key=str)
    s0.set_epoch(0, skip=4)
    assert list(s0) == k0[4:] and len(s0) == 2


def test_epoch_windows_mixing():
    frames = [600, 455, 100]
    plain = epoch_windows(frames, 100, 5, seed=1, epoch=0, num_augmentations=16)
    assert all(k.partner is None for k in plain)
    mixed = epoch_windows(frames, 100, 5, seed=1, epoch=0, num_augmentations=16, mix_prob=0.5)
    # the windows themselves do not change; about half get a partner from the same epoch, never themselves
    assert [dataclasses.replace(k, partner=None, gain_db=0.0) for k in mixed] == plain
    partners = [(i, k) for i, k in enumerate(mixed) if k.partner is not None]
    assert 2 <= len(partners) <= 10
    assert all(k.partner in plain and k.partner != plain[i] and -3 <= k.gain_db <= 3 for i, k in partners)
    assert all(k.partner is not None for k in epoch_windows(frames, 100, 5, seed=1, epoch=0, mix_prob=1.0))
    assert mixed == epoch_windows(frames, 100, 5, seed=1, epoch=0, num_augmentations=16, mix_prob=0.5)


def test_time_frequency_masking_blanks_bands_in_every_channel():
    x = np.ones((7, 200, 64), dtype=np.float32)
    masking = TimeFrequencyMasking(time_masks=2, max_time_frac=0.1, freq_masks=1, max_freq_frac=0.25)
    y = masking(x.copy(), seed=3)
    assert np.array_equal(y, masking(x.copy(), seed=3)) and not np.array_equal(y, masking(x.copy(), seed=4))
    assert (y == y[:1]).all()  # the same cells are blanked in every channel
    zero_frames = np.flatnonzero((y[0] == 0).all(axis=1))
    zero_bins = np.flatnonzero((y[0] == 0).all(axis=0))
    assert len(zero_bins) <= 16 and len(zero_frames) <= 40  # at most 1 x 25 % of bins, 2 x 10 % of frames
    blanked = (y[0] == 0)
    blanked[zero_frames] = False
    blanked[:, zero_bins] = False
    assert not blanked.any()  # everything blanked lies in whole-frame or whole-bin bands
    keys = epoch_windows([600, 455], 100, 5, seed=1, epoch=0)
    assert len({k.mask_seed for k in keys}) == len(keys)  # every window its own masks
    assert np.array_equal(TimeFrequencyMasking(0, 0.1, 0, 0.1)(x.copy(), 1), x)


def test_random_equalizer_adds_one_bounded_smooth_curve_to_the_level_channels():
    x = np.random.default_rng(0).normal(size=(7, 30, 64)).astype(np.float32)
    eq = RandomEqualizer(max_gain_db=6.0, level_channels=4)
    y = eq(x.copy(), seed=3)
    assert np.array_equal(y, eq(x.copy(), seed=3)) and not np.array_equal(y, eq(x.copy(), seed=4))
    assert np.array_equal(y[4:], x[4:])  # the intensity channels are untouched
    curve = y[:4] - x[:4]
    assert np.allclose(curve, curve[:1, :1], atol=1e-5)  # one curve over the bins, same in every channel and frame
    assert np.abs(curve).max() <= 6.0 + 1e-5 and np.abs(curve).max() > 0.5
    assert np.abs(np.diff(curve[0, 0], 2)).max() > 1e-4  # not a flat gain: knots bend it


@pytest.mark.parametrize("name", features_with("level_channels"))
def test_level_channels_are_the_only_ones_a_gain_changes(name):
    """The premise of RandomEqualizer: scaling the audio by +6.02 dB shifts exactly the level channels of each
    feature by 6.02 dB and leaves its spatial channels unchanged."""
    extractor = build_extractor(name)
    audio = np.random.default_rng(1).normal(scale=0.05, size=(extractor.input_channels, 24000)).astype(np.float32)
    base, louder = extractor.extract(audio), extractor.extract(2.0 * audio)
    level = capability(name, "level_channels")
    assert np.allclose(louder[:level] - base[:level], 20 * np.log10(2.0), atol=0.02)
    assert np.allclose(louder[level:], base[level:], atol=1e-3)


def test_inference_windows():
    assert inference_windows(100, 40, 30, 5) == [0, 30, 60]
    assert inference_windows(40, 40, 30, 5) == [0]


class FrameIndexNet(torch.nn.Module):
    """Outputs, per output frame, the mean of its input frames' first feature value (x of every track/class)."""

    def __init__(self, output_hop: int):
        super().__init__()
        self.output_hop = output_hop

    def forward(self, audio, visual=None):
        b, _, t, _ = audio.shape
        v = audio[:, 0, :, 0].reshape(b, t // self.output_hop, self.output_hop).mean(-1)
        out = torch.zeros(b, t // self.output_hop, NUM_TRACKS, 3, NUM_CLASSES)
        out[:, :, :, 0, :] = v[:, :, None, None]
        return out


@pytest.mark.parametrize("output_hop,window,hop,margin", [(5, 50, 50, 0), (5, 50, 30, 10), (1, 64, 40, 12),
                                                          (1, 128, 120, 4)])
def test_sliding_window_inference_stitches_exactly(output_hop, window, hop, margin):
    fpl, t_label = 5 if output_hop == 5 else 10, 23
    total = t_label * fpl
    feats = np.zeros((1, total, 2), np.float32)
    feats[0, :, 0] = np.arange(total)
    out = sliding_window_inference(FrameIndexNet(output_hop), feats, None, window, hop, margin, fpl,
                                   torch.device("cpu"), batch_size=3)
    assert out.shape == (t_label, NUM_TRACKS, 3, NUM_CLASSES)
    expected = np.arange(total).reshape(t_label, fpl).mean(1)  # each label frame: its feature frames' mean index
    np.testing.assert_allclose(out[:, 1, 0, 4], expected, rtol=1e-6)


def test_weight_average_known_values():
    net = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.constant_(net.weight, 1.0)
    avg = seld_trainer.WeightAverage(net, decay=0.99)
    torch.nn.init.constant_(net.weight, 3.0)
    avg.update(net)                       # d = min(0.99, 1/10): 0.1 * 1 + 0.9 * 3
    assert avg.model.weight.item() == pytest.approx(2.8)
    torch.nn.init.constant_(net.weight, 0.0)
    avg.update(net)                       # d = 2/11
    assert avg.model.weight.item() == pytest.approx(2.8 * 2 / 11)
    assert not avg.model.weight.requires_grad and avg.updates == 2


def test_config_roundtrip_and_overrides(tmp_path):
    cfg = apply_overrides(RunConfig(), ["train.lr=1e-3", "model.params={gru_hidden: 64}", "data.visual=none"])
    assert cfg.train.lr == 1e-3 and cfg.model.params == {"gru_hidden": 64} and cfg.data.visual == "none"
    save_config(cfg, tmp_path / "c.yaml")
    save_config(cfg, tmp_path / "c.json")
    assert load_config(tmp_path / "c.yaml") == cfg == load_config(tmp_path / "c.json")
    with pytest.raises(ValueError, match="unknown config key"):
        apply_overrides(cfg, ["train.nope=1"])
    (tmp_path / "bad.yaml").write_text("train: {lr: fast}\n")
    with pytest.raises(seld.InputError, match="bad.yaml"):
        load_config(tmp_path / "bad.yaml")


# -------------------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def trained(tiny_dataset, tmp_path_factory):
    """Extract, then train the default network (small sizes) for 30 iterations on the tiny dataset."""
    work = tmp_path_factory.mktemp("pipeline")
    cache = work / "cache"
    assert seld.main(["extract", "--data-dir", str(tiny_dataset), "--format", "foa", "--feature", "logmel_iv",
                      "--cache-dir", str(cache), "--workers", "1"]) == 0
    cfg = tiny_config(tiny_dataset, cache)
    cfg.train.val_every = 15
    result = seld_trainer.train(cfg, run_dir=work / "run", progress=False)
    return tiny_dataset, work, result


def test_training_loss_falls_and_run_folder(trained):
    _, work, result = trained
    losses = result["losses"]
    assert len(losses) == 30 and np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])
    run = Path(result["run_dir"])
    for name in ("config.yaml", "train.log", "checkpoints/last.pt", "checkpoints/best.pt", "val/metrics.json",
                 "val/doa_trajectory.png", "val_history.jsonl"):
        assert (run / name).is_file(), name
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert load_config(run / "config.yaml").features["name"] == "logmel_iv"
    assert load_config(run / "config.yaml").model.params["doa"] == "intensity"  # what "auto" resolved to
    history = [json.loads(line) for line in (run / "val_history.jsonl").read_text().splitlines()]
    assert [h["iteration"] for h in history] == [15, 30]
    assert 0 < history[0]["minutes"] <= history[1]["minutes"]  # wall-clock training time at each validation


def test_mixed_window_item(trained):
    """A window with a partner: targets merged; where only the partner is inside its recording, the mixed
    intensity channels are the partner's own; frames outside both stay at the training mean (0)."""
    _, work, _ = trained
    cache = FeatureCache.open(next((work / "cache").glob("logmel_iv_foa_*")))
    recs = cache.recordings("train")
    dataset = SELDWindows(cache, recs, 100, 5, augment=True)
    first, second = WindowKey(0, -50, aug=3), WindowKey(1, 0, aug=9)
    both = dataset[WindowKey(0, -50, aug=3, partner=second, gain_db=-2.0)]
    alone_first, alone_second = dataset[first], dataset[second]
    assert np.array_equal(both["target"], merge_adpit(alone_first["target"], alone_second["target"]))
    assert np.allclose(both["audio"][4:, :50], alone_second["audio"][4:, :50], atol=1e-4)
    assert not np.allclose(both["audio"][:, 50:], alone_first["audio"][:, 50:], atol=1e-2)
    late = dataset[WindowKey(0, 10 ** 6, partner=WindowKey(1, 10 ** 6))]
    assert not late["audio"].any() and not late["target"].any()


def test_evaluate_writes_npy_csv_metrics(trained, capsys):
    data_dir, work, result = trained
    out = work / "eval"
    ckpt = Path(result["run_dir"]) / "checkpoints" / "best.pt"
    assert seld.main(["evaluate", "--checkpoint", str(ckpt), "--data-dir", str(data_dir), "--split", "test",
                      "--out", str(out), "--cache-dir", str(work / "cache"), "--device", "cpu"]) == 0
    assert "SELD" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_files"] == 2 and 0.0 <= metrics["SELD"] <= 1.5
    npys = sorted((out / "output").rglob("*.npy"))
    assert len(npys) == 2 and len(list((out / "pred").rglob("*.csv"))) == 2
    arr = np.load(npys[0])
    assert arr.shape == (60, NUM_TRACKS, 3, NUM_CLASSES)  # 6 s = 60 label frames


def test_predict_on_unlabelled_wavs(trained, tmp_path):
    data_dir, work, result = trained
    ckpt = Path(result["run_dir"]) / "checkpoints" / "last.pt"
    wav_dir = sorted((data_dir / "foa_dev").glob("dev-test-*"))[0]
    assert seld.main(["predict", "--checkpoint", str(ckpt), "--input", str(wav_dir), "--out", str(tmp_path / "p"),
                      "--detections", str(data_dir / "detections_dev"), "--device", "cpu", "--no-progress"]) == 0
    name = next(wav_dir.glob("*.wav")).stem
    for suffix in (".csv", ".npy", "_doa.png"):
        assert (tmp_path / "p" / f"{name}{suffix}").is_file()
    assert np.load(tmp_path / "p" / f"{name}.npy").shape[1:] == (NUM_TRACKS, 3, NUM_CLASSES)


def test_predict_on_real_foa_clip(trained, shared_data, tmp_path):
    _, _, result = trained
    clip = shared_data / "audio" / "starss23_foa_clip_5s.wav"
    assert seld.main(["predict", "--checkpoint", str(Path(result["run_dir"]) / "checkpoints" / "last.pt"),
                      "--input", str(clip), "--out", str(tmp_path), "--device", "cpu", "--no-progress",
                      "--tta", "1"]) == 0
    plain = np.load(tmp_path / f"{clip.stem}.npy")
    assert plain.shape == (50, NUM_TRACKS, 3, NUM_CLASSES)
    assert (tmp_path / f"{clip.stem}.csv").is_file() and (tmp_path / f"{clip.stem}_doa.png").is_file()
    # the default test-time augmentation (16 transforms for logmel_iv): same shape, a different output
    assert seld.main(["predict", "--checkpoint", str(Path(result["run_dir"]) / "checkpoints" / "last.pt"),
                      "--input", str(clip), "--out", str(tmp_path / "tta"), "--device", "cpu", "--no-progress"]) == 0
    averaged = np.load(tmp_path / "tta" / f"{clip.stem}.npy")
    assert averaged.shape == plain.shape and not np.allclose(averaged, plain)


def test_ensemble_of_checkpoints(trained, tmp_path, capsys):
    """evaluate / predict with several checkpoints: every member's output combined by combine_outputs; a member
    trained on other features is refused with one line naming it."""
    data_dir, work, result = trained
    last = Path(result["run_dir"]) / "checkpoints" / "last.pt"
    ckpt = load_checkpoint(last)
    ckpt["model"] = {k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v
                     for k, v in ckpt["model"].items()}
    other = tmp_path / "other.pt"
    save_checkpoint(other, ckpt)
    common = ["--data-dir", str(data_dir), "--split", "test", "--cache-dir", str(work / "cache"), "--device", "cpu",
              "--tta", "1"]
    for name, ckpts in (("a", [last]), ("b", [other]), ("ab", [last, other])):
        assert seld.main(["evaluate", "--checkpoint", *map(str, ckpts), "--out", str(tmp_path / name), *common]) == 0
    npy = sorted((tmp_path / "ab" / "output").rglob("*.npy"))[0].relative_to(tmp_path / "ab")
    a, b, ab = (np.load(tmp_path / name / npy) for name in ("a", "b", "ab"))
    assert not np.allclose(a, b, atol=1e-3)
    np.testing.assert_allclose(ab, combine_outputs([a, b]), atol=1e-5)
    wav_dir = sorted((data_dir / "foa_dev").glob("dev-test-*"))[0]
    assert seld.main(["predict", "--checkpoint", str(last), str(other), "--input", str(wav_dir), "--out",
                      str(tmp_path / "p"), "--device", "cpu", "--no-progress", "--tta", "1",
                      "--detections", str(data_dir / "detections_dev")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "p" / npy.name), ab, atol=1e-4)
    ckpt["config"]["features"]["n_mels"] = 32
    save_checkpoint(tmp_path / "mel32.pt", ckpt)
    capsys.readouterr()
    assert seld.main(["evaluate", "--checkpoint", str(last), str(tmp_path / "mel32.pt"), "--out",
                      str(tmp_path / "bad"), *common]) == 2
    err = capsys.readouterr().err.strip()
    assert "mel32.pt" in err and "feature settings differ" in err and len(err.splitlines()) == 1


def test_bad_checkpoint_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert seld.main(["predict", "--checkpoint", str(bad), "--input", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "bad.pt" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- spatial augmentation
def _foa(az: float, el: float, n: int = 4800) -> np.ndarray:
    s = np.random.default_rng(0).standard_normal(n).astype(np.float32) * 0.1
    a, e = np.deg2rad(az), np.deg2rad(el)
    return np.stack([s, s * np.sin(a) * np.cos(e), s * np.sin(e), s * np.cos(a) * np.cos(e)])


@pytest.mark.parametrize("t", range(16))
def test_foa_rotation_matches_a_rotated_source(t):
    from feature.base import build_extractor
    from feature.labels import events_to_adpit
    from feature.visual import gaussian_vectors
    from metrics.dcase_csv import Event
    from seld_data_loader import FoaRotations
    from util.geometry import cart_to_sph, direction_to_equirect, sph_to_cart

    rot, az, el = FoaRotations(), 30.0, 20.0
    new_az, new_el = (float(v) for v in cart_to_sph(rot.matrix(t) @ sph_to_cart(az, el)))
    ext = build_extractor("logmel_iv")
    np.testing.assert_allclose(rot.features(ext.extract(_foa(az, el)), t), ext.extract(_foa(new_az, new_el)),
                               rtol=1e-4, atol=1e-4)
    target = events_to_adpit([Event(0, 3, 0, az, el)], 1)
    np.testing.assert_allclose(rot.targets(target, t), events_to_adpit([Event(0, 3, 0, new_az, new_el)], 1),
                               atol=1e-6)

    def vectors(a: float, e: float) -> np.ndarray:  # one box centred on the direction, as (1, 2, 1, 37)
        cx, cy = (v / s for v, s in zip(direction_to_equirect(a, e, 360, 180), (360, 180)))
        box = np.array([[cx - 0.01, cy - 0.02, cx + 0.01, cy + 0.02]])  # narrow: no tails to wrap around
        return gaussian_vectors(box)[:, :, None, :]

    np.testing.assert_allclose(rot.visual(vectors(az, el), t, "vectors")[..., :36], vectors(new_az, new_el)[..., :36],
                               atol=1e-5)

    def frame(a: float, e: float) -> np.ndarray:  # a 72 x 36 equirectangular frame with one lit pixel
        img = np.zeros((1, 36, 72, 3), np.uint8)
        col, row = direction_to_equirect(a, e, 72, 36)
        img[0, int(row), int(col)] = 255
        return img

    # directions at pixel centres, so that the lit pixel is unambiguous
    az, el = 0.5 * 5 - 180 + 5 * 17, 90 - 2.5 - 5 * 13
    new_az, new_el = (float(v) for v in cart_to_sph(rot.matrix(t) @ sph_to_cart(az, el)))
    np.testing.assert_array_equal(rot.visual(frame(az, el), t, "frames"), frame(new_az, new_el))
