"""torchvision COCO detectors (Faster R-CNN / SSDlite with a MobileNetV3 backbone) as person detectors.

Weights: ``weights=<file>`` (a state dict saved with ``torch.save`` or a ``.safetensors`` file), else the file
torchvision itself would cache, ``$TORCH_HOME/hub/checkpoints/<name>-<hash>.pth`` (``torch.hub.get_dir()``).
Nothing is downloaded here; without weights the error says how to fetch them. COCO class ``person`` is label 1.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from detection.base import Detector
from util.conventions import DETECTION_SCORE_THRESHOLD
from util.errors import InputError

#: torchvision's COCO label of ``person``
COCO_PERSON_LABEL = 1
#: COCO category count of torchvision detection models (with background and unused ids)
COCO_NUM_CLASSES = 91


def _builders() -> dict[str, tuple[Any, Any, str]]:
    """name -> (model builder, weights enum, keyword of the model's own score threshold)."""
    from torchvision.models import detection as d

    return {
        "fasterrcnn_mobilenet_v3_large_320_fpn": (d.fasterrcnn_mobilenet_v3_large_320_fpn,
                                                  d.FasterRCNN_MobileNet_V3_Large_320_FPN_Weights, "box_score_thresh"),
        "fasterrcnn_mobilenet_v3_large_fpn": (d.fasterrcnn_mobilenet_v3_large_fpn,
                                              d.FasterRCNN_MobileNet_V3_Large_FPN_Weights, "box_score_thresh"),
        "ssdlite320_mobilenet_v3_large": (d.ssdlite320_mobilenet_v3_large,
                                          d.SSDLite320_MobileNet_V3_Large_Weights, "score_thresh"),
    }


def build_model(name: str, score_threshold: float = DETECTION_SCORE_THRESHOLD) -> nn.Module:
    """The architecture of torchvision model ``name`` with COCO classes and random weights (nothing downloaded)."""
    builder, _, thresh_kw = _builders()[name]
    return builder(weights=None, weights_backbone=None, num_classes=COCO_NUM_CLASSES,
                   **{thresh_kw: score_threshold})


def default_weights_path(name: str) -> Path:
    """Where torchvision caches the COCO weights of ``name`` (``$TORCH_HOME/hub/checkpoints/...``)."""
    _, weights_enum, _ = _builders()[name]
    url = weights_enum.COCO_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def load_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a ``torch.save`` file (loaded with weights_only=True)."""
    if not path.is_file():
        raise InputError(path, "weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and safetensors errors differ
        raise InputError(path, f"cannot load weights with weights_only=True ({str(exc).splitlines()[0]}); if it is "
                               "a trusted checkpoint holding other Python objects, save only its state_dict "
                               "(torch.save(ckpt['state_dict'], 'weights.pth'))") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(path, "weights file does not hold a state dict")
    return state


def resolve_device(device: str) -> torch.device:
    """``cpu`` / ``cuda`` / ``cuda:N``; InputError when CUDA is asked for but absent."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(None, f"--device {device}: no CUDA GPU is available here (use --device cpu)")
    return dev


class TorchvisionDetector(Detector):
    """A torchvision COCO detector keeping class ``person``."""

    def __init__(self, name: str, weights: str | Path | None = None, config: str | None = None, device: str = "cpu",
                 score_threshold: float = DETECTION_SCORE_THRESHOLD, model: nn.Module | None = None):
        super().__init__(name, score_threshold, device)
        if name not in _builders():
            raise ValueError(f"unknown torchvision detector {name!r}")
        if config is not None:
            raise InputError(config, f"{name} takes no config file (only --weights)")
        self.torch_device = resolve_device(device)
        if model is None:
            path = Path(weights) if weights is not None else default_weights_path(name)
            if weights is None and not path.is_file():
                fetch = f"import torchvision.models.detection as d; d.{name}(weights='DEFAULT')"
                raise InputError(path, f"no COCO weights for {name}. Fetch them once with `python -c \"{fetch}\"` "
                                       "(saved under $TORCH_HOME/hub/checkpoints) or pass --weights FILE")
            model = build_model(name, self.score_threshold)
            missing, unexpected = model.load_state_dict(load_state_dict_file(path), strict=False)
            missing = [k for k in missing if not k.endswith("num_batches_tracked")]
            if missing or unexpected:
                raise InputError(path, f"weights do not fit {name}: {len(missing)} missing keys (e.g. "
                                       f"{missing[:1]}), {len(unexpected)} unexpected (e.g. {unexpected[:1]})")
            self.weights_path: Path | None = path
        else:
            self.weights_path = None
        self.model = model.to(self.torch_device).eval()

    @torch.inference_mode()
    def _predict(self, frames: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        batch = torch.from_numpy(np.ascontiguousarray(frames)).to(self.torch_device)
        images = list(batch.permute(0, 3, 1, 2).float().div_(255.0))
        outputs = self.model(images)
        return [(o["boxes"].float().cpu().numpy(), o["scores"].float().cpu().numpy(),
                 (o["labels"] == COCO_PERSON_LABEL).cpu().numpy()) for o in outputs]
