"""Person detectors: the shared post-processing, each backend end to end with random weights saved to a file,
and object_detection.py over a small dataset (answers known by construction)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import object_detection
from detection.base import backend_names, build_detector
from detection.torchvision_backend import COCO_PERSON_LABEL, TorchvisionDetector, build_model, default_weights_path
from util.detection_io import read_detections
from util.errors import InputError
from util.layout import DatasetLayout, Recording
from util.video_io import STARSS_VIDEO_RATE, write_video

FPS = STARSS_VIDEO_RATE
TV_NAME = "fasterrcnn_mobilenet_v3_large_320_fpn"


class _FixedModel(torch.nn.Module):
    """Returns the same torchvision-style output for every image."""

    def __init__(self, out: dict[str, torch.Tensor]):
        super().__init__()
        self.out = out

    def forward(self, images):
        return [dict(self.out) for _ in images]


def test_postprocessing_filters_normalises_and_sorts():
    out = {"boxes": torch.tensor([[0, 0, 36, 18], [180, 90, 360, 180], [10, 10, 20, 20], [-5, 0, 400, 90]],
                                 dtype=torch.float32),
           "scores": torch.tensor([0.5, 0.9, 0.95, 0.3]),
           "labels": torch.tensor([COCO_PERSON_LABEL, COCO_PERSON_LABEL, 3, COCO_PERSON_LABEL])}
    det = TorchvisionDetector(TV_NAME, model=_FixedModel(out), score_threshold=0.4)
    (boxes, scores), = det.detect(np.zeros((1, 180, 360, 3), dtype=np.uint8))
    np.testing.assert_allclose(scores, [0.9, 0.5])  # label 3 and score 0.3 dropped; descending
    np.testing.assert_allclose(boxes, [[0.5, 0.5, 1.0, 1.0], [0.0, 0.0, 0.1, 0.1]])
    low = TorchvisionDetector(TV_NAME, model=_FixedModel(out), score_threshold=0.1)
    (boxes, scores), = low.detect(np.zeros((1, 180, 360, 3), dtype=np.uint8))
    assert len(scores) == 3 and boxes.min() >= 0 and boxes.max() <= 1  # clipped to the image


def test_registry_and_missing_weights(tmp_path, monkeypatch):
    assert {"yolox-tiny", TV_NAME, "ssdlite320_mobilenet_v3_large"} <= set(backend_names())
    with pytest.raises(ValueError, match="unknown detector backend"):
        build_detector("nope")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    assert default_weights_path(TV_NAME).parent == tmp_path / "torch_home" / "hub" / "checkpoints"
    with pytest.raises(InputError, match="no COCO weights.*--weights"):
        build_detector(TV_NAME)
    with pytest.raises(InputError, match="weights file not found"):
        build_detector(TV_NAME, weights=str(tmp_path / "missing.pth"))
    bad = tmp_path / "bad.pth"
    torch.save({"not": torch.zeros(1)}, bad)
    with pytest.raises(InputError, match="weights do not fit"):
        build_detector(TV_NAME, weights=str(bad))


def _person_biased_fasterrcnn(seed: int = 0) -> torch.nn.Module:
    """Random weights, except that the classifier calls every proposal a confident person."""
    torch.manual_seed(seed)
    model = build_model(TV_NAME)
    cls = model.roi_heads.box_predictor.cls_score
    with torch.no_grad():
        cls.weight.zero_()
        cls.bias.fill_(-10.0)
        cls.bias[COCO_PERSON_LABEL] = 10.0
    return model


@pytest.fixture(scope="module")
def person_weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "fasterrcnn_person.pth"
    torch.save(_person_biased_fasterrcnn().state_dict(), path)
    return path


def _make_dataset(root: Path, size=(96, 48), seconds: float = 0.2) -> list[Recording]:
    layout = DatasetLayout(root)
    recs = [Recording("dev-train-sony", "fold3_room21_mix001"), Recording("dev-test-tau", "fold4_room2_mix002")]
    rng = np.random.default_rng(0)
    n = int(round(seconds * float(FPS)))
    for rec in recs:
        frames = rng.integers(0, 255, (n, size[1], size[0], 3), dtype=np.uint8)
        write_video(layout.video_path(rec, size), frames, FPS)
    return recs


def test_torchvision_backend_end_to_end(tmp_path, monkeypatch, capsys, person_weights):
    from util.video_io import read_sampled_frames

    recs = _make_dataset(tmp_path / "data")
    layout = DatasetLayout(tmp_path / "data")
    # weights found in torchvision's cache folder ($TORCH_HOME/hub/checkpoints)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    cached = default_weights_path(TV_NAME)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(person_weights.read_bytes())
    args = ["--data-dir", str(tmp_path / "data"), "--video-size", "96x48", "--backend", TV_NAME, "--batch-size", "2"]
    assert object_detection.main(args + ["--split", "train"]) == 0
    assert layout.detection_path(recs[0]).is_file() and not layout.detection_path(recs[1]).exists()
    # second run over all: the done file is skipped, a corrupt video fails with a clear line, the rest is written
    bad = Recording("dev-test-tau", "fold4_room2_mix009")
    layout.video_path(bad, (96, 48)).write_bytes(b"\x00" * 2000)
    assert object_detection.main(args + ["--split", "all"]) == 1
    captured = capsys.readouterr()
    assert "fold4_room2_mix009.mp4: cannot open video" in captured.err
    assert "1 written, 1 already done, 1 failed" in captured.out
    assert not layout.detection_path(bad).exists()
    for rec in recs:
        det = read_detections(layout.detection_path(rec))
        assert det.source == TV_NAME and det.rate_hz == 10 and det.num_frames == 2
        assert det.video == f"video_96x48_dev/{rec.split_dir}/{rec.name}.mp4"
        assert len(det.frames) > 0 and set(det.labels) == {"person"}
        assert det.scores.min() > 0.1 and det.boxes.min() >= 0 and det.boxes.max() <= 1
        assert set(det.frames.tolist()) <= set(range(2))
    # the same frames through the detector (explicit --weights path) give the file's content
    detector = build_detector(TV_NAME, weights=str(person_weights))
    direct = detector.detect(read_sampled_frames(layout.video_path(recs[0], (96, 48)), 10))
    det = read_detections(layout.detection_path(recs[0]))
    for k, (b, s) in enumerate(direct):
        fb, fs = det.frame_boxes(k)
        np.testing.assert_allclose(fb, b, atol=1e-4)
        np.testing.assert_allclose(fs, s, atol=1e-3)
    # missing resized folder: one clear error before any model is loaded, exit 2
    assert object_detection.main(["--data-dir", str(tmp_path / "data"), "--video-size", "360x180"]) == 2
    assert "video_360x180_dev: video folder not found" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("mmdet") is None, reason="mmdet not installed (script/install_mmdet.sh)")
def test_yolox_tiny_backend_end_to_end(tmp_path):
    from detection.mmdet_backend import MMDetDetector, build_model as build_mmdet_model

    torch.manual_seed(0)
    model = build_mmdet_model()
    head = model.bbox_head
    with torch.no_grad():  # random weights, except: every prior is a confident person of the prior's size
        for conv in [*head.multi_level_conv_cls, *head.multi_level_conv_obj, *head.multi_level_conv_reg]:
            conv.weight.zero_()
            conv.bias.fill_(10.0 if conv in head.multi_level_conv_obj else -10.0 if conv in head.multi_level_conv_cls
                            else 0.0)
        for conv in head.multi_level_conv_cls:
            conv.bias[0] = 10.0
    weights = tmp_path / "yolox.pth"
    torch.save({"state_dict": model.state_dict()}, weights)
    recs = _make_dataset(tmp_path / "data", seconds=0.3)
    rc = object_detection.main(["--data-dir", str(tmp_path / "data"), "--video-size", "96x48",
                                "--backend", "yolox-tiny", "--weights", str(weights), "--split", "train"])
    assert rc == 0
    det = read_detections(DatasetLayout(tmp_path / "data").detection_path(recs[0]))
    assert det.source == "yolox-tiny" and det.num_frames == 3
    assert set(det.frames.tolist()) == set(range(3)) and set(det.labels) == {"person"}
    assert det.scores.min() > 0.9 and det.boxes.min() >= 0 and det.boxes.max() <= 1
    with pytest.raises(InputError, match="checkpoint"):
        MMDetDetector("yolox-tiny", weights=None)
    # batched inference equals mmdet's own one-image inference_detector, boxes in the input's pixels
    from mmdet.apis import inference_detector

    detector = MMDetDetector("yolox-tiny", weights=str(weights))
    frames = np.random.default_rng(1).integers(0, 255, (2, 48, 96, 3), dtype=np.uint8)
    for frame, (boxes, scores, person) in zip(frames, detector._predict(frames)):
        ref = inference_detector(detector.model, np.ascontiguousarray(frame[..., ::-1])).pred_instances
        assert len(boxes) > 0 and person.all()
        np.testing.assert_allclose(boxes, ref.bboxes.numpy(), atol=1e-3)
        np.testing.assert_allclose(scores, ref.scores.numpy(), atol=1e-5)


@pytest.mark.parametrize("name", ["ssdlite320_mobilenet_v3_large", "fasterrcnn_mobilenet_v3_large_fpn"])
def test_other_torchvision_backends_load_and_run(tmp_path, name):
    torch.manual_seed(0)
    weights = tmp_path / f"{name}.pth"
    torch.save(build_model(name).state_dict(), weights)
    detector = build_detector(name, weights=str(weights))
    (boxes, scores), = detector.detect(np.random.default_rng(0).integers(0, 255, (1, 48, 96, 3), dtype=np.uint8))
    assert boxes.shape == (len(scores), 4) and np.all(np.diff(scores) <= 0)
    assert (len(scores) == 0 or (boxes.min() >= 0 and boxes.max() <= 1))
