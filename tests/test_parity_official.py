"""Numerical parity with the official AV baseline (sony/audio-visual-seld-dcase2023 @ d712445e), against the golden
outputs of its own code in ../shared/data/seed_parity/ (README.md there); skipped when that folder is absent.

Every comparison runs the code paths training / evaluation use: the extractors and CropFeatures (features), the
importer of official checkpoints (network), feature.labels + window_targets (labels), ADPITLoss (loss) and
feature.visual (box vectors). Tolerance 1e-5: features relative to the largest amplitude (phase differences
weighted by the amplitudes of their two channels), everything else absolute.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import seld
from feature.base import build_extractor, extractor_class, with_official_val_padding
from feature.extract import CropFeatures
from feature.labels import read_adpit_targets, window_label_index, window_targets
from net.adpit import ADPITLoss
from net.avcrnn import AVCRNN, to_official_state_dict
from seld_model import load_bundle
from util.audio_io import read_audio
from util.layout import Recording

TOL = 1e-5
CLIP = "audio/starss23_foa_clip_5s.wav"


@pytest.fixture(scope="module")
def golden(shared_data: Path) -> Path:
    folder = shared_data / "seed_parity"
    if not (folder / "README.md").is_file():
        pytest.skip(f"{folder} not present")
    return folder


def _feature_error(mine: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    """(max amplitude error, max amplitude-weighted phase-difference error), both relative to the largest
    amplitude; arrays (7, F, T) amp_phasediff (4 magnitudes, 3 phase differences in [0, 2 pi))."""
    assert mine.shape == gold.shape
    peak = float(np.abs(gold[:4]).max())
    amp = float(np.abs(mine[:4] - gold[:4]).max()) / peak
    dphi = np.abs(mine[4:] - gold[4:])
    dphi = np.minimum(dphi, 2 * np.pi - dphi)  # 0 and 2 pi are the same phase
    weight = np.sqrt(gold[1:4] * gold[:1])     # amplitudes of the channel and of the reference channel 0
    return amp, float((dphi * weight).max()) / peak


def _amp_phasediff(official_val_padding: bool = False):
    return build_extractor(with_official_val_padding(extractor_class("amp_phasediff").default_config(),
                                                     official_val_padding))


# ------------------------------------------------------------------------------------------------ features
def test_training_crops_equal_the_official(golden, shared_data):
    z = np.load(golden / "features.npz")
    rec = Recording("audio", "clip")
    # the validation padding of the run's feature config never reaches the training crops
    crops = CropFeatures(_amp_phasediff(True).config, {rec: shared_data / CLIP})
    frames = z["train"].shape[-1]
    assert int(z["train_len_samples"]) == (frames - 1) * crops.config.hop_length
    for gold, offset in zip(z["train"], z["train_offsets"].tolist()):
        mine = crops.at_sample(rec, offset, frames).transpose(0, 2, 1)   # (C, T, F) -> the seed's (C, F, T)
        amp, phase = _feature_error(mine, gold)
        assert amp < TOL and phase < TOL, (offset, amp, phase)
        if offset % crops.config.hop_length == 0:  # the windows the data loader asks for (frame starts)
            np.testing.assert_array_equal(crops(rec, offset // crops.config.hop_length, frames).transpose(0, 2, 1),
                                          mine)


def test_validation_array_equals_the_official(golden, shared_data):
    z = np.load(golden / "features.npz")
    audio, _ = read_audio(shared_data / CLIP)
    mine = _amp_phasediff(True).extract(audio).transpose(0, 2, 1)
    lead, tail = int(z["val_pad_init"]), int(z["val_pad_end"])
    gold = z["val"]
    assert not gold[:, :, :lead].any() and not gold[:, :, gold.shape[2] - tail:].any()  # the windowing's zeros
    amp, phase = _feature_error(mine, gold[:, :, lead:gold.shape[2] - tail])
    assert amp < TOL and phase < TOL
    # the centred features are the other frame grid (16 samples later): far from the official validation array
    amp_centred, _ = _feature_error(_amp_phasediff(False).extract(audio).transpose(0, 2, 1),
                                    gold[:, :, lead:gold.shape[2] - tail])
    assert amp_centred > 1e-2


def test_validation_padding_trims_to_whole_hops(shared_data):
    """Audio of a length that is no multiple of the hop: the official code drops the tail samples, so the frames
    up to the trimmed end equal those of the longer audio and later frames are zeros."""
    audio, _ = read_audio(shared_data / CLIP)
    ex = _amp_phasediff(True)
    hop = ex.config.hop_length
    short = audio[:, : audio.shape[1] - 100]
    kept = short.shape[1] // hop
    full, cut = ex.extract(audio), ex.extract(short)
    np.testing.assert_array_equal(cut[:, :kept], full[:, :kept])
    assert not cut[:, kept:].any() and full[:, kept:].any()


# ------------------------------------------------------------------------------------------------- network
@pytest.fixture(scope="module")
def official_pth(golden, tmp_path_factory) -> Path:
    """The golden weights saved as the official trainer saves them: torch.save of the state_dict (seed names,
    seed order)."""
    from safetensors.torch import load_file

    names = [str(n) for n in np.load(golden / "network_io.npz")["state_names"]]
    state = load_file(str(golden / "seed_avcrnn.safetensors"))
    path = tmp_path_factory.mktemp("official") / "params_swa_20000.pth"
    torch.save({n: state[n] for n in names}, path)
    return path


@pytest.mark.parametrize("source", ["pth", "safetensors"])
def test_network_outputs_equal_the_official_through_the_importer(golden, official_pth, source):
    z = np.load(golden / "network_io.npz")
    path = official_pth if source == "pth" else golden / "seed_avcrnn.safetensors"
    loaded = load_bundle(path)
    model = loaded.network
    assert isinstance(model, AVCRNN) and not model.training
    assert sum(p.numel() for p in model.parameters()) == int(z["n_params"])
    audio = torch.from_numpy(z["audio"].astype(np.float32)).transpose(2, 3)   # seed (B, C, F, T) -> (B, C, T, F)
    visual = torch.from_numpy(z["visual"])[:, None]                             # one vector set per window
    with torch.no_grad():
        for vis, key in ((visual, "out_av"), (torch.zeros_like(visual), "out_zero_visual")):
            out = model(audio, vis).permute(0, 2, 3, 4, 1).numpy()              # -> seed (B, track, xyz, class, T)
            assert np.abs(out - z[key]).max() < TOL, key
    assert np.abs(z["out_av"] - z["out_zero_visual"]).max() > 1e-3  # the visual branch matters
    # the baseline settings come with it
    cfg = loaded.config
    assert cfg.model.name == "avcrnn" and cfg.features["name"] == "amp_phasediff"
    assert cfg.inference.threshold == 0.3 and cfg.inference.merge_deg == 15.0
    assert loaded.spec.visual == "vectors" and loaded.spec.visual_shape == (2, 6, 37)


def test_random_official_state_dict_round_trips(tmp_path):
    """Any official-format state_dict (here a random avcrnn written with the official names) loads with exactly
    its weights."""
    torch.manual_seed(3)
    model = AVCRNN(7, 13, 3, 3, 444)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    state = to_official_state_dict(model.state_dict())
    path = tmp_path / "params_random.pth"
    torch.save(state, path)
    loaded = load_bundle(path).network.state_dict()
    for name, value in model.state_dict().items():
        assert torch.equal(loaded[name], value), name
    # converted to a project checkpoint, it loads the same
    out = tmp_path / "imported.pt"
    assert seld.main(["import-official", "--checkpoint", str(path), "--out", str(out)]) == 0
    again = load_bundle(out).network.state_dict()
    assert all(torch.equal(again[n], v) for n, v in model.state_dict().items())


def test_foreign_state_dict_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(2)}, path)
    assert seld.main(["evaluate", "--checkpoint", str(path), "--data-dir", str(tmp_path), "--out",
                      str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "other.pth" in err and "AudioVisualCRNN" in err and "\n" not in err
    assert not (tmp_path / "o").exists()


def test_official_checkpoint_evaluates_end_to_end(official_pth, tiny_dataset, tmp_path, capsys):
    out = tmp_path / "eval"
    assert seld.main(["evaluate", "--checkpoint", str(official_pth), "--data-dir", str(tiny_dataset), "--split",
                      "test", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--device", "cpu"]) == 0
    assert "SELD" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_files"] == 2 and 0.0 <= metrics["SELD"] <= 1.5
    assert len(list((out / "pred").rglob("*.csv"))) == 2
    wav_dir = sorted((tiny_dataset / "foa_dev").glob("dev-test-*"))[0]
    assert seld.main(["predict", "--checkpoint", str(official_pth), "--input", str(wav_dir), "--out",
                      str(tmp_path / "p"), "--detections", str(tiny_dataset / "detections_dev"), "--device", "cpu",
                      "--no-progress"]) == 0
    assert len(list((tmp_path / "p").glob("*.csv"))) == len(list(wav_dir.glob("*.wav")))


# -------------------------------------------------------------------------------------------- labels, loss
def _window_labels(golden: Path, shared_data: Path, official_offset: bool, shift: int = 0) -> np.ndarray:
    """The 6 golden windows' targets through the training path, as the seed's (W, 6, xyz, class, T) vectors."""
    z = np.load(golden / "adpit.npz")
    ex = _amp_phasediff()
    out = []
    for csv, start in zip(z["csv"], z["start_frame_10ms"].tolist()):
        labels = read_adpit_targets(shared_data / "starss22_metadata_dev" / str(csv))
        t = window_targets(labels, start + shift, z["labels"].shape[-1], 1, ex.frames_per_label,
                           ex.config.hop_length, ex.config.sample_rate, official_offset)
        out.append((t[:, :, :1] * t[:, :, 1:4]).transpose(1, 2, 3, 0))
    return np.stack(out)


def test_window_labels_equal_the_official_with_the_official_offset(golden, shared_data):
    z = np.load(golden / "adpit.npz")
    assert z["max_same_class"].tolist() == [4, 3, 2, 4, 3, 2]
    mine = _window_labels(golden, shared_data, official_offset=True)
    assert np.abs(mine - z["labels"]).max() < TOL


def test_corrected_offset_gives_the_labels_of_the_true_offset(golden, shared_data):
    """Windows 4 and 5 start 3 and 7 frames into a label frame; the official offset truncates to 2 and 6, i.e. it
    gives the labels of the window one frame earlier. The corrected default equals the official labels on the
    label grid (windows 0-3) and, for windows 4 and 5, the official labels of the window one frame earlier are
    what it gives one frame earlier (its own labels at the true start are shifted by that frame)."""
    z = np.load(golden / "adpit.npz")
    assert z["seed_index_diff"].tolist() == [0, 0, 0, 0, 2, 6]
    corrected = _window_labels(golden, shared_data, official_offset=False)
    earlier = _window_labels(golden, shared_data, official_offset=False, shift=-1)
    assert np.abs(corrected[:4] - z["labels"][:4]).max() < TOL
    assert np.abs(earlier[4:] - z["labels"][4:]).max() < TOL
    assert np.abs(corrected[4:] - z["labels"][4:]).max() > 0.5


def test_adpit_loss_equals_the_official(golden, shared_data):
    z = np.load(golden / "adpit.npz")
    ex = _amp_phasediff()
    targets = []
    for csv, start in zip(z["csv"], z["start_frame_10ms"].tolist()):
        labels = read_adpit_targets(shared_data / "starss22_metadata_dev" / str(csv))
        targets.append(window_targets(labels, start, z["labels"].shape[-1], 1, ex.frames_per_label,
                                      ex.config.hop_length, ex.config.sample_rate, official_offset=True))
    target = torch.from_numpy(np.stack(targets))                                      # (W, T, 6, 5, C)
    loss = ADPITLoss()
    for kind in range(2):
        out = torch.from_numpy(z["outputs"][kind].astype(np.float32)).permute(0, 4, 1, 2, 3)  # -> (W, T, 3, 3, C)
        for w in range(out.shape[0]):
            assert abs(loss(out[w:w + 1], target[w:w + 1]).item() - z["loss_window"][kind, w]) < TOL, (kind, w)
        assert abs(loss(out, target).item() - z["loss_batch"][kind]) < TOL


# ------------------------------------------------------------------------------------------------- vectors
def test_box_vectors_equal_the_official(golden):
    """Boxes -> Gaussian vectors through frame_vectors (what the visual cache computes per detection frame; the
    boxes of a set are given in slot order with descending scores, so they keep their slots)."""
    from feature.visual import VisualSpec, frame_vectors

    z = np.load(golden / "boxes.npz")
    spec = VisualSpec()
    assert spec.frame_shape == z["dist"].shape[1:]
    for boxes, n, gold in zip(z["boxes"], z["n_boxes"].tolist(), z["dist"]):
        scores = np.linspace(0.9, 0.5, n) if n else np.zeros(0)
        mine = frame_vectors(boxes[:n], scores, spec)
        assert np.abs(mine - gold).max() < TOL
    assert z["n_boxes"].min() == 0 and z["n_boxes"].max() == spec.num_boxes


# --------------------------------------------------------------------------- the official options in training
def test_training_with_the_official_options(tiny_dataset, tmp_path):
    """avcrnn on amp_phasediff with data.official_crop_stft / official_label_offset / official_val_padding: the
    dataset's windows are the crops' own STFT and the official labels at any start frame, the validation cache
    holds the officially padded features, and a few iterations train and validate."""
    import seld_trainer
    from feature.base import FeatureConfig
    from seld_data_loader import WindowKey
    from util.config import RunConfig
    from util.layout import DatasetLayout

    cfg = RunConfig(name="official")
    cfg.data.data_dir, cfg.data.cache_dir = str(tiny_dataset), str(tmp_path / "cache")
    cfg.data.feature, cfg.data.window_s, cfg.data.num_workers = "amp_phasediff", 1.28, 0
    cfg.data.augment, cfg.data.masking, cfg.data.equalize_db = False, False, 0.0
    cfg.data.official_crop_stft = cfg.data.official_label_offset = cfg.data.official_val_padding = True
    cfg.model.name = "avcrnn"
    cfg.train.batch_size, cfg.train.max_iters, cfg.train.val_every, cfg.train.device = 2, 3, 3, "cpu"
    cfg.train.warmup_iters, cfg.train.checkpoint_every, cfg.train.log_every = 1, 1000, 1000
    cfg.inference.hop_s, cfg.inference.keep_margin_s = 1.2, 0.04
    trainer = seld_trainer.build_trainer(cfg, tmp_path / "run", progress=False)
    features = FeatureConfig.from_dict(cfg.features)
    assert features.get("official_val_padding") is True and trainer.window_frames == 128

    dataset, rec = trainer.dataset, trainer.dataset.recordings[0]
    start = 10 * 13 + 3                                       # 1.33 s: 3 frames into a label frame
    item = dataset[WindowKey(0, start)]
    audio_path = DatasetLayout(tiny_dataset).audio_path("foa", rec)
    crops = CropFeatures(features, {rec: audio_path})
    np.testing.assert_array_equal(item["audio"], crops(rec, start, 128))
    official = window_targets(dataset.cache.labels(rec), start, 128, 1, 10, 240, 24000, official_offset=True)
    np.testing.assert_array_equal(item["target"], official)
    # known answers of the official offset: at 1.43 s it truncates 3 to 2 (the label frames of the start one frame
    # earlier); at 1.33 s it does not, but the last frame (wide index 130) lies past the 13 filled label frames
    frames = np.arange(128)
    idx, labelled = window_label_index(143, frames, 10, 240, 24000, 1.27, official_offset=True)
    assert np.array_equal(idx, (142 + frames) // 10) and labelled.all()
    idx, labelled = window_label_index(133, frames, 10, 240, 24000, 1.27, official_offset=True)
    assert np.array_equal(idx, (133 + frames) // 10) and labelled[:127].all() and not labelled[127]
    assert not item["target"][127].any()
    idx, labelled = window_label_index(143, frames, 10, 240, 24000, 1.27)   # the corrected default
    assert np.array_equal(idx, (143 + frames) // 10) and labelled.all()
    # the cache (validation) holds the officially padded whole-recording features
    audio, _ = read_audio(audio_path)
    np.testing.assert_array_equal(np.asarray(dataset.cache.features(rec)), _amp_phasediff(True).extract(audio))

    result = trainer.run()
    assert len(result["losses"]) == 3 and all(np.isfinite(result["losses"]))
    assert (Path(result["run_dir"]) / "val" / "metrics.json").is_file()
