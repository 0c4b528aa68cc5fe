"""Feature capabilities: declared by each extractor, checked in one place (feature.base / seld_data_loader)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from feature.base import build_extractor, capability, features_with, require_capability
from seld_data_loader import FoaRotations, supported_augmentation
from util.config import DataConfig
from util.errors import InputError


def test_declared_capabilities():
    assert features_with("rotatable") == ["logmel_iv"]
    assert features_with("mixable") == ["logmel_iv"]
    assert features_with("level_channels") == ["logmel_gcc", "logmel_ild_ipd", "logmel_iv", "salsalite"]
    assert [capability(n, "level_channels") for n in features_with("level_channels")] == [4, 2, 4, 4]
    assert features_with("intensity_channels") == ["logmel_iv"]
    assert capability("amp_phasediff", "rotatable") is False and capability("amp_phasediff", "level_channels") == 0
    assert capability("no_such_feature", "mixable") is False  # unknown names: no capability, no error
    with pytest.raises(ValueError, match="unknown feature capability 'loud'"):
        capability("logmel_iv", "loud")


def test_intensity_channels_point_at_the_source():
    """A plane wave from +x (azimuth 0, elevation 0; FOA channels W, Y, Z, X = s, 0, 0, s): the declared x channel
    of the intensity vector is positive, y and z are zero; the rotations use the same channels."""
    extractor = build_extractor("logmel_iv")
    s = np.random.default_rng(0).normal(scale=0.1, size=24000).astype(np.float32)
    feats = extractor.extract(np.stack([s, 0 * s, 0 * s, s]))
    x, y, z = extractor.intensity_channels
    assert (feats[x] > 0.01).all() and np.abs(feats[y]).max() < 1e-6 and np.abs(feats[z]).max() < 1e-6
    assert FoaRotations.IV_XYZ == extractor.intensity_channels


def test_one_message_for_a_missing_capability():
    with pytest.raises(InputError) as err:
        require_capability("logmel_gcc", "mixable", "data.mix", "cache/x")
    assert str(err.value) == "cache/x: data.mix supports the features logmel_iv, not 'logmel_gcc'"
    require_capability("logmel_iv", "mixable")  # no error


def test_supported_augmentation():
    data = DataConfig()
    assert supported_augmentation(data, "logmel_iv") == (True, data.equalize_db, [])
    augment, equalize_db, notes = supported_augmentation(data, "amp_phasediff")
    assert (augment, equalize_db) == (False, 0.0)
    assert notes == ["no spatial augmentation for feature amp_phasediff (supported: logmel_iv)",
                     "no random equalisation for feature amp_phasediff "
                     "(supported: logmel_gcc, logmel_ild_ipd, logmel_iv, salsalite)"]
    assert supported_augmentation(data, "logmel_gcc")[:2] == (False, data.equalize_db)
    with pytest.raises(InputError, match="data.mix supports the features logmel_iv, not 'salsalite'"):
        supported_augmentation(dataclasses.replace(data, mix=0.5), "salsalite")
