"""Checkpoint files: written atomically, read with ``torch.load(weights_only=True)``, with RNG state helpers.

A checkpoint is a dict tagged ``"format": CHECKPOINT_FORMAT`` holding at least ``config`` and ``model``, of plain
Python types and tensors only, so the safe loader reads it. Its layout (and its version) belongs to
``seld_model.py``, the one reader and writer of checkpoints; this module only saves and loads the files.

:func:`read_state_dict` reads a plain state_dict file (``{name: tensor}``: ``torch.save`` of a state_dict, as the
official AV baseline writes its ``params_*.pth``, or ``.safetensors``) for the import of official checkpoints
(seld_model.load_bundle).
"""
from __future__ import annotations

import pickle
import random
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from util.errors import InputError
from util.fileio import atomic_path

CHECKPOINT_FORMAT = "avseld-checkpoint-1"
REQUIRED_KEYS: tuple[str, ...] = ("format", "config", "model")


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (with the format tag added) atomically."""
    payload = {"format": CHECKPOINT_FORMAT, **payload}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def state_dict_mismatch(expected: Mapping[str, Any], found: Mapping[str, Any], limit: int = 4) -> str | None:
    """How the tensors of a checkpoint's state dict (``found``) differ from a model's (``expected``): names with
    other shapes (``name: checkpoint (a, b) vs model (c, d)``), missing and unexpected names, at most ``limit``
    of each; None when every tensor fits."""
    def shape(t: Any) -> str:
        return str(tuple(t.shape)) if hasattr(t, "shape") else type(t).__name__

    def listed(names: list[str]) -> str:
        more = f" and {len(names) - limit} more" if len(names) > limit else ""
        return ", ".join(names[:limit]) + more

    differ = [f"{k}: checkpoint {shape(found[k])} vs model {shape(v)}" for k, v in expected.items()
              if k in found and (not hasattr(found[k], "shape") or tuple(found[k].shape) != tuple(v.shape))]
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    parts = []
    if differ:
        parts.append(f"{len(differ)} tensor(s) of another shape ({listed(differ)})")
    if missing:
        parts.append(f"{len(missing)} missing ({listed(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({listed(unexpected)})")
    return "; ".join(parts) or None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint safely; InputError names the file when it is missing, unsafe, corrupt or foreign.

    A file that is not a ``torch.save`` zip archive (a text file, a wav, a truncated download) is refused before
    unpickling: the safe unpickler reports such bytes as IndexError / KeyError, not as a format error."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint not found")
    if not zipfile.is_zipfile(path):
        raise InputError(path, f"not a checkpoint file ({_describe_bytes(path)}; expected a torch.save archive)")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, LookupError,
            zipfile.BadZipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(path, f"not a readable checkpoint ({first})") from exc
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED_KEYS):
        raise InputError(path, f"not a checkpoint of this project (needs keys {', '.join(REQUIRED_KEYS)})")
    if ckpt["format"] != CHECKPOINT_FORMAT:
        raise InputError(path, f"checkpoint format {ckpt['format']!r} is not {CHECKPOINT_FORMAT!r}")
    return ckpt


def _describe_bytes(path: Path) -> str:
    """A short description of a file's start for error messages (size, and what it looks like)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(16)
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        kind = "a WAV file"
    elif head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        kind = "a text file"
    else:
        kind = "unknown content"
    return f"{kind} of {size} byte{'s' if size != 1 else ''}"


def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) RNG states as plain types and tensors (safe-loadable)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": _to_plain(random.getstate()),
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a state from :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _to_plain(obj: Any) -> Any:
    if isinstance(obj, tuple):
        return [_to_plain(o) for o in obj]
    return obj


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor] | None:
    """A plain state_dict (name -> tensor) from a ``.safetensors`` file or a ``torch.save`` file (read with
    ``weights_only=True``); None when the file holds something else or cannot be read that way (a training
    checkpoint, a corrupt file: :func:`load_checkpoint` reports those)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file is load_checkpoint's to report
        return None
    if not isinstance(state, dict) or not state or \
            not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        return None
    return dict(state)
