"""The detector interface and the backend registry.

A detector takes a batch of RGB frames ``(B, H, W, 3)`` uint8 and returns, per frame, the *person* boxes with
score > its threshold: ``(boxes (K, 4) float32 normalised xyxy in [0, 1] (x right, y down), scores (K,)
float32)``, sorted by descending score. Backends implement ``_predict`` (raw boxes in pixels, scores and a
person mask); the normalisation, filtering and sorting live here, once.

Registry: ``BACKENDS`` maps a name to the module and class that implement it (imported lazily, so that mmdet
is needed only for ``yolox-tiny``); ``backend_names()`` feeds the CLI choices.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from util.conventions import DETECTION_SCORE_THRESHOLD

FrameResult = tuple[np.ndarray, np.ndarray]

#: name -> (module, class, one-line description)
BACKENDS: dict[str, tuple[str, str, str]] = {
    "yolox-tiny": ("detection.mmdet_backend", "MMDetDetector",
                   "YOLOX-tiny (COCO) through mmdet 3.x, as in the AV baseline; needs script/install_mmdet.sh"),
    "fasterrcnn_mobilenet_v3_large_320_fpn": ("detection.torchvision_backend", "TorchvisionDetector",
                                              "torchvision Faster R-CNN, MobileNetV3-Large 320 FPN (COCO)"),
    "fasterrcnn_mobilenet_v3_large_fpn": ("detection.torchvision_backend", "TorchvisionDetector",
                                          "torchvision Faster R-CNN, MobileNetV3-Large FPN (COCO)"),
    "ssdlite320_mobilenet_v3_large": ("detection.torchvision_backend", "TorchvisionDetector",
                                      "torchvision SSDlite 320, MobileNetV3-Large (COCO)"),
}

#: The detector used when none is named (object_detection.py, seld.py predict --video, the recipes): a
#: torchvision backend, which needs no mmcv build (YOLOX-tiny, the AV baseline's, needs script/install_mmdet.sh).
DEFAULT_DETECTOR: str = "fasterrcnn_mobilenet_v3_large_320_fpn"


class Detector(ABC):
    """Person detector over batches of RGB uint8 frames (see the module docstring)."""

    def __init__(self, name: str, score_threshold: float = DETECTION_SCORE_THRESHOLD, device: str = "cpu"):
        self.name = name
        self.score_threshold = float(score_threshold)
        self.device = device

    @abstractmethod
    def _predict(self, frames: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per frame: boxes (K, 4) in pixels xyxy, scores (K,), person mask (K,) bool."""

    def detect(self, frames: np.ndarray) -> list[FrameResult]:
        """Person boxes (normalised xyxy) and scores > threshold, per frame of ``frames`` (B, H, W, 3) uint8."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected RGB frames (B, H, W, 3), got shape {frames.shape}")
        if len(frames) == 0:
            return []
        height, width = frames.shape[1:3]
        scale = np.array([width, height, width, height], dtype=np.float32)
        results = []
        for boxes, scores, person in self._predict(frames):
            boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
            scores = np.asarray(scores, dtype=np.float32).reshape(-1)
            keep = np.flatnonzero(np.asarray(person, dtype=bool) & (scores > self.score_threshold))
            keep = keep[np.argsort(-scores[keep], kind="stable")]
            results.append((np.clip(boxes[keep] / scale, 0.0, 1.0), scores[keep]))
        return results


def backend_names() -> list[str]:
    """Registered backend names (CLI choices)."""
    return list(BACKENDS)


def build_detector(name: str, weights: str | None = None, config: str | None = None, device: str = "cpu",
                   score_threshold: float = DETECTION_SCORE_THRESHOLD, **kwargs: Any) -> Detector:
    """Build backend ``name`` with its weights file (see each backend for where weights are looked up)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown detector backend {name!r}; choose from {backend_names()}")
    module_name, class_name, _ = BACKENDS[name]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(name, weights=weights, config=config, device=device, score_threshold=score_threshold, **kwargs)
