"""Direction conventions: spherical <-> Cartesian, great-circle distance, equirectangular mapping.

Azimuth counter-clockwise positive (0 = front, 90 = left), elevation up positive, degrees.
x = cos(az) cos(el) (front), y = sin(az) cos(el) (left), z = sin(el) (up).
Equirectangular image of width W and height H: column = (0.5 - az / 360) W, row = (0.5 - el / 180) H,
so the front is in the centre and the left half of the image holds positive azimuths.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def sph_to_cart(azimuth_deg: ArrayLike, elevation_deg: ArrayLike) -> np.ndarray:
    """Unit vectors (..., 3) for directions in degrees."""
    az = np.deg2rad(np.asarray(azimuth_deg, dtype=np.float64))
    el = np.deg2rad(np.asarray(elevation_deg, dtype=np.float64))
    return np.stack([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)], axis=-1)


def cart_to_sph(xyz: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Azimuth and elevation in degrees of vectors (..., 3); their length does not matter."""
    xyz = np.asarray(xyz, dtype=np.float64)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    azimuth = np.rad2deg(np.arctan2(y, x))
    elevation = np.rad2deg(np.arctan2(z, np.hypot(x, y)))
    return azimuth, elevation


def great_circle_deg(az1: ArrayLike, el1: ArrayLike, az2: ArrayLike, el2: ArrayLike) -> np.ndarray:
    """Great-circle angle in degrees between directions given in degrees (broadcasting)."""
    a = sph_to_cart(az1, el1)
    b = sph_to_cart(az2, el2)
    cos = np.clip(np.sum(a * b, axis=-1), -1.0, 1.0)
    return np.rad2deg(np.arccos(cos))


def angle_between_vectors_deg(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Angle in degrees between Cartesian vectors (..., 3), normalising both."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na = np.linalg.norm(a, axis=-1)
    nb = np.linalg.norm(b, axis=-1)
    cos = np.sum(a * b, axis=-1) / np.maximum(na * nb, 1e-12)
    return np.rad2deg(np.arccos(np.clip(cos, -1.0, 1.0)))


def wrap_azimuth(azimuth_deg: ArrayLike) -> np.ndarray:
    """Wrap azimuths to [-180, 180)."""
    return (np.asarray(azimuth_deg, dtype=np.float64) + 180.0) % 360.0 - 180.0


def direction_to_equirect(azimuth_deg: ArrayLike, elevation_deg: ArrayLike, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel (column, row) as floats of a direction in an equirectangular frame of ``width`` x ``height``."""
    column = (0.5 - wrap_azimuth(azimuth_deg) / 360.0) * width
    row = (0.5 - np.asarray(elevation_deg, dtype=np.float64) / 180.0) * height
    return column, row


def equirect_to_direction(column: ArrayLike, row: ArrayLike, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Direction (azimuth, elevation) in degrees of a pixel position (column, row) in an equirectangular frame."""
    azimuth = (0.5 - np.asarray(column, dtype=np.float64) / width) * 360.0
    elevation = (0.5 - np.asarray(row, dtype=np.float64) / height) * 180.0
    return wrap_azimuth(azimuth), elevation
