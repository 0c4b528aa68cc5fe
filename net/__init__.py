"""Networks (name -> class registry feeding the CLI choices) and the ADPIT loss.

Every network has ``from_spec(spec: InputSpec, audio_only=False, **params)``, ``output_hop`` (feature frames
per output frame), ``forward(audio, visual) -> (B, T_out, NUM_TRACKS, E, NUM_CLASSES)`` (see net/spec.py),
``settings() -> dict`` (the resolved values of the options it chose itself, recorded in the run's ``model.params``)
and ``set_feature_stats(mean, std)`` (the training feature statistics, for networks that read raw values).
"""
from __future__ import annotations

from typing import Any

from torch import nn

from net.avcrnn import AVCRNN
from net.av_vit import AVViT
from net.seldnet import SELDNet
from net.spec import InputSpec

NETWORKS: dict[str, type[nn.Module]] = {"avcrnn": AVCRNN, "seldnet": SELDNet, "av_vit": AVViT}


def network_names() -> list[str]:
    """Registered network names."""
    return sorted(NETWORKS)


def build_model(name: str, spec: InputSpec, audio_only: bool = False,
                params: dict[str, Any] | None = None) -> nn.Module:
    """A network by registry name, sized from ``spec``; ``params`` are the network's own keyword arguments."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; choose from {network_names()}")
    return NETWORKS[name].from_spec(spec, audio_only=audio_only, **(params or {}))
