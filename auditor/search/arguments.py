"""Argument checks the search strategies share: start point, box bounds, step sizes, tell/ask pairing."""

from __future__ import annotations

import numpy as np

from auditor.errors import ArgumentError

Bounds = tuple[np.ndarray | float, np.ndarray | float]


def centre_point(x0: np.ndarray | None, dim: int) -> np.ndarray:
    """x0 as a float64 vector of length dim (zeros when None)."""
    if x0 is None:
        return np.zeros(dim)
    point = np.asarray(x0, dtype=np.float64)
    if point.shape != (dim,) or not np.isfinite(point).all():
        raise ArgumentError(f"x0 must be a finite vector of length {dim}, got shape {point.shape}")
    return point


def box_bounds(bounds: Bounds | None, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(lower, upper) broadcast to length dim, checked lower <= upper (infinite sides allowed)."""
    if bounds is None:
        return None
    if len(bounds) != 2:
        raise ArgumentError("bounds must be a pair (lower, upper)")
    try:
        lower, upper = (np.broadcast_to(np.asarray(side, dtype=np.float64), (dim,)).copy() for side in bounds)
    except ValueError as exc:
        raise ArgumentError(f"bounds must be scalars or vectors of length {dim}") from exc
    if np.isnan(lower).any() or np.isnan(upper).any() or not (lower <= upper).all():
        raise ArgumentError("bounds must satisfy lower <= upper in every coordinate")
    return lower, upper


def check_positive(name: str, value: float) -> None:
    """Raise ArgumentError unless value is a finite number > 0."""
    if not (np.isfinite(value) and value > 0):
        raise ArgumentError(f"{name} must be a finite number > 0, got {value}")


def check_told(z: np.ndarray, asked: np.ndarray | None) -> np.ndarray:
    """The latest ask; ArgumentError unless there is one and z has its shape."""
    if asked is None:
        raise ArgumentError("tell() was called without a matching ask()")
    if np.shape(z) != asked.shape:
        raise ArgumentError(f"tell() got {np.shape(z)} rows, the latest ask() gave {asked.shape}")
    return asked
