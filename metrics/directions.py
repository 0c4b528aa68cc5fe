"""Direction arithmetic of the official DCASE scorers, operation for operation, so that angles (and therefore
Hungarian tie-breaks and threshold decisions) agree with them to the last bit.

The official code converts degrees to radians as ``x * np.pi / 180.`` and radians to degrees as
``x * 180 / np.pi`` (not ``np.deg2rad`` / ``np.rad2deg``, which round differently), and uses numpy, not
``math`` (``math.acos`` and ``np.arccos`` differ in the last bit). Two angle formulas exist:

- ``polar`` (DCASE2022/2023 scorer ``distance_between_spherical_coordinates_rad``, the STARSS23 AV baseline):
  ``arccos(clip(sin e1 sin e2 + cos e1 cos e2 cos |a1 - a2|, -1, 1)) * 180 / pi`` on azimuth / elevation in
  radians;
- ``cartesian`` (DCASE2024 scorer ``distance_between_cartesian_coordinates``): unit vectors from
  ``convert_output_format_polar_to_cartesian``, each divided again by ``sqrt(x^2 + y^2 + z^2 + 1e-10)``, then
  ``arccos(clip(dot, -1, 1)) * 180 / pi``; a direction compared with itself gives about 8.1e-4 degrees.

Arrays are float64; every function is element-wise (broadcasting), so a batch gives the same bits as the
official per-pair arrays.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

#: The angle formulas of the official scorers (see the module docstring).
FORMS: tuple[str, ...] = ("polar", "cartesian")
#: Added to the squared norm before normalising in the DCASE2024 scorer.
CARTESIAN_NORM_EPS: float = 1e-10


def degrees_to_radians(deg: ArrayLike) -> np.ndarray:
    """``deg * np.pi / 180.`` as the official scorers compute it."""
    return np.asarray(deg, dtype=np.float64) * np.pi / 180.0


def cartesian_to_polar_deg(x: float, y: float, z: float) -> tuple[float, float]:
    """Azimuth and elevation in degrees of a Cartesian direction (any length) with the official scorers'
    ``convert_output_format_cartesian_to_polar`` arithmetic (scalars, as they apply it row by row)."""
    azimuth = np.arctan2(y, x) * 180 / np.pi
    elevation = np.arctan2(z, np.sqrt(x ** 2 + y ** 2)) * 180 / np.pi
    return float(azimuth), float(elevation)


def polar_to_unit_xyz(azimuth_deg: ArrayLike, elevation_deg: ArrayLike) -> np.ndarray:
    """Unit vectors (..., 3) of directions in degrees with the DCASE2024 scorer's
    ``convert_output_format_polar_to_cartesian`` arithmetic."""
    ele = degrees_to_radians(elevation_deg)
    azi = degrees_to_radians(azimuth_deg)
    cos_ele = np.cos(ele)
    return np.stack([np.cos(azi) * cos_ele, np.sin(azi) * cos_ele, np.sin(ele)], axis=-1)


def polar_angle_deg(az1: ArrayLike, el1: ArrayLike, az2: ArrayLike, el2: ArrayLike) -> np.ndarray:
    """Great-circle angle in degrees between directions given in **radians** (DCASE2023 formula)."""
    az1, el1, az2, el2 = (np.asarray(v, dtype=np.float64) for v in (az1, el1, az2, el2))
    dist = np.sin(el1) * np.sin(el2) + np.cos(el1) * np.cos(el2) * np.cos(np.abs(az1 - az2))
    return np.arccos(np.clip(dist, -1, 1)) * 180 / np.pi


def cartesian_angle_deg(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Angle in degrees between Cartesian vectors (..., 3) with the DCASE2024 formula (norms padded by 1e-10)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    x1, y1, z1 = a[..., 0], a[..., 1], a[..., 2]
    x2, y2, z2 = b[..., 0], b[..., 1], b[..., 2]
    n1 = np.sqrt(x1 ** 2 + y1 ** 2 + z1 ** 2 + CARTESIAN_NORM_EPS)
    n2 = np.sqrt(x2 ** 2 + y2 ** 2 + z2 ** 2 + CARTESIAN_NORM_EPS)
    x1, y1, z1, x2, y2, z2 = x1 / n1, y1 / n1, z1 / n1, x2 / n2, y2 / n2, z2 / n2
    dist = x1 * x2 + y1 * y2 + z1 * z2
    return np.arccos(np.clip(dist, -1, 1)) * 180 / np.pi


def direction_table(azimuth_deg: ArrayLike, elevation_deg: ArrayLike, form: str) -> np.ndarray:
    """Per-event direction rows for :func:`pair_angles`: (n, 2) azimuth / elevation in radians for ``polar``,
    (n, 3) unit vectors for ``cartesian``."""
    if form == "polar":
        return np.stack([degrees_to_radians(azimuth_deg), degrees_to_radians(elevation_deg)], axis=-1)
    if form == "cartesian":
        return polar_to_unit_xyz(azimuth_deg, elevation_deg)
    raise ValueError(f"form must be one of {FORMS}, not {form!r}")


def pair_angles(ref: np.ndarray, pred: np.ndarray, form: str) -> np.ndarray:
    """Angles in degrees between rows of two :func:`direction_table` arrays of the same ``form`` (paired
    row by row, broadcasting)."""
    if form == "polar":
        return polar_angle_deg(ref[..., 0], ref[..., 1], pred[..., 0], pred[..., 1])
    if form == "cartesian":
        return cartesian_angle_deg(ref, pred)
    raise ValueError(f"form must be one of {FORMS}, not {form!r}")
