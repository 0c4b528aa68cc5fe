"""YOLOX-tiny (COCO) through mmdet 3.x, the AV baseline's person detector.

Install mmcv/mmdet with ``bash script/install_mmdet.sh``. Weights are the user's download of the official
checkpoint (``--weights``), e.g.
https://download.openmmlab.com/mmdetection/v2.0/yolox/yolox_tiny_8x8_300e_coco/yolox_tiny_8x8_300e_coco_20211124_171234-b4047906.pth
loaded with ``torch.load(weights_only=True)`` (never unpickled arbitrarily). The config defaults to the one
shipped inside mmdet (``configs/yolox/yolox_tiny_8xb8-300e_coco.py``, test size 416x416); COCO class
``person`` is index 0. Frames go through the config's test pipeline in one batch (``model.test_step``).
"""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from detection.base import Detector
from detection.torchvision_backend import load_state_dict_file, resolve_device
from util.conventions import DETECTION_SCORE_THRESHOLD
from util.errors import InputError

DEFAULT_CONFIG = "yolox/yolox_tiny_8xb8-300e_coco.py"
CHECKPOINT_URL = ("https://download.openmmlab.com/mmdetection/v2.0/yolox/yolox_tiny_8x8_300e_coco/"
                  "yolox_tiny_8x8_300e_coco_20211124_171234-b4047906.pth")


def _import_mmdet():
    try:
        import mmdet.apis  # noqa: F401
        from mmcv.ops import nms  # noqa: F401  (mmcv with compiled ops)
    except ImportError as exc:
        raise InputError(None, f"backend yolox-tiny needs mmcv 2.1 and mmdet 3.3 ({exc}); "
                               "install them with `bash script/install_mmdet.sh`") from exc
    return mmdet.apis


def default_config_path() -> Path:
    """mmdet's shipped YOLOX-tiny config."""
    import mmdet

    root = Path(mmdet.__file__).parent
    for candidate in (root / ".mim" / "configs" / DEFAULT_CONFIG, root.parent / "configs" / DEFAULT_CONFIG):
        if candidate.is_file():
            return candidate
    raise InputError(root, f"mmdet installation has no {DEFAULT_CONFIG}; pass --config")


def build_model(config: str | Path | None = None, device: str = "cpu") -> torch.nn.Module:
    """The detector of ``config`` (default YOLOX-tiny) with random weights and COCO class names."""
    apis = _import_mmdet()
    path = Path(config) if config is not None else default_config_path()
    if not path.is_file():
        raise InputError(path, "mmdet config not found")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "checkpoint is None, use COCO classes by default"
        return apis.init_detector(str(path), checkpoint=None, device=device)


class MMDetDetector(Detector):
    """An mmdet 3.x detector (default YOLOX-tiny) keeping class ``person``."""

    def __init__(self, name: str, weights: str | Path | None = None, config: str | Path | None = None,
                 device: str = "cpu", score_threshold: float = DETECTION_SCORE_THRESHOLD):
        super().__init__(name, score_threshold, device)
        if weights is None:
            raise InputError(None, f"{name} needs --weights: download the COCO checkpoint from {CHECKPOINT_URL}")
        dev = resolve_device(device)
        state = load_state_dict_file(Path(weights))
        self.model = build_model(config, str(dev))
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise InputError(weights, f"checkpoint does not fit the config: {len(missing)} missing keys (e.g. "
                                      f"{missing[:1]}), {len(unexpected)} unexpected (e.g. {unexpected[:1]})")
        self.model.eval()
        classes = list(self.model.dataset_meta.get("classes", ()))
        if "person" not in classes:
            raise InputError(weights, "the detector's classes have no 'person'")
        self.person_index = classes.index("person")
        self._pipeline = self._test_pipeline()

    def _test_pipeline(self):
        from mmcv.transforms import Compose

        steps = copy.deepcopy(self.model.cfg.test_dataloader.dataset.pipeline)
        steps[0].type = "mmdet.LoadImageFromNDArray"  # frames come as arrays, not files
        steps = [s for s in steps if "LoadAnnotations" not in s.type]
        return Compose(steps)

    @torch.inference_mode()
    def _predict(self, frames: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        samples = [self._pipeline({"img": np.ascontiguousarray(f[..., ::-1]), "img_id": i})  # mmdet wants BGR
                   for i, f in enumerate(frames)]
        batch = {"inputs": [s["inputs"] for s in samples], "data_samples": [s["data_samples"] for s in samples]}
        results = self.model.test_step(batch)
        out = []
        for r in results:
            inst = r.pred_instances
            out.append((inst.bboxes.float().cpu().numpy(), inst.scores.float().cpu().numpy(),
                        (inst.labels == self.person_index).cpu().numpy()))
        return out
