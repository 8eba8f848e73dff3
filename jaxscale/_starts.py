"""Start strategies: the law's Cartesian grid, quasi-random (Halton) or random starts, user starts.

All return unconstrained starts of shape ``(S, P)``.

Memory: Halton and random starts never build the Cartesian grid (their box comes from each
parameter's grid separately), so they cost ``S * P`` floats whatever the number of parameters.
The default grid has ``prod(len(p.grid))`` points; above :data:`MAX_GRID_STARTS` (many-parameter
laws: 3^20 is 3.5e9 starts) it is replaced by :data:`MAX_GRID_STARTS` Halton starts in the
grid's box, with a :class:`StartsWarning` saying so.
"""

from __future__ import annotations

import math
import warnings
from typing import Mapping

import numpy as np

__all__ = ["make_starts", "grid_size", "StartsWarning", "MAX_GRID_STARTS"]

#: The largest default Cartesian start grid that is built; bigger grids become Halton starts.
MAX_GRID_STARTS = 20_000


class StartsWarning(UserWarning):
    """The default start grid was too large and was replaced by Halton starts."""


def grid_size(law) -> int:
    """Number of points of the law's default Cartesian start grid (computed, not built)."""
    return math.prod(len(p.grid) for p in law.params)

_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97)


def _halton(n: int, dim: int, skip: int = 1) -> np.ndarray:
    if dim > len(_PRIMES):
        raise ValueError(f"Halton starts support at most {len(_PRIMES)} parameters")
    out = np.empty((n, dim))
    idx = np.arange(skip, n + skip)
    for d in range(dim):
        base, x, f, k = _PRIMES[d], np.zeros(n), 1.0, idx.copy()
        while np.any(k > 0):
            f /= base
            x += f * (k % base)
            k //= base
        out[:, d] = x
    return out


def _box(law) -> tuple[np.ndarray, np.ndarray]:
    """Per-parameter range of the grid in unconstrained space (the grid itself is never built)."""
    cols = [np.asarray(p.unconstrain(np.asarray(p.grid, dtype=float)), dtype=float) for p in law.params]
    lo, hi = np.array([c.min() for c in cols]), np.array([c.max() for c in cols])
    flat = hi - lo < 1e-12
    return np.where(flat, lo - 1.0, lo), np.where(flat, hi + 1.0, hi)


def make_starts(law, starts=None, *, n: int | None = None, method: str = "halton", seed: int = 0) -> np.ndarray:
    """Build unconstrained starts.

    ``starts`` may be ``None`` or ``"grid"`` (the law's default Cartesian grid), an int ``n`` or
    ``"halton"``/``"random"`` with ``n`` (quasi-random or uniform random points in the box
    spanned by the grid, in unconstrained coordinates), an array ``(S, P)`` of natural-space
    values in the law's parameter order, or a mapping name -> values.
    """
    from ._validate import seed_int

    seed = seed_int(seed)
    if starts is None or (isinstance(starts, str) and starts == "grid"):
        size = grid_size(law)
        if size <= MAX_GRID_STARTS:
            return law.default_starts()
        warnings.warn(f"the default start grid of law {law.name!r} would have {size:.3g} points "
                      f"({law.n_params} parameters); using {MAX_GRID_STARTS:,} quasi-random starts in the grid's box "
                      "instead (pass starts='halton', n_starts=... to choose)", StartsWarning, stacklevel=3)
        n, starts = MAX_GRID_STARTS, ("halton" if law.n_params <= len(_PRIMES) else "random")
    if isinstance(starts, (int, np.integer)) and not isinstance(starts, bool):
        n, starts = int(starts), method
    if isinstance(starts, str):
        if starts not in ("halton", "random"):
            raise ValueError(f"unknown start strategy {starts!r}; use 'grid', 'halton', 'random', an int or an array")
        if n is None:
            raise ValueError(f"starts={starts!r} needs n_starts (a positive integer)")
        from ._validate import check_count

        n = check_count(n, "n_starts")
        lo, hi = _box(law)
        if starts == "halton":
            q = _halton(n, law.n_params, skip=1 + seed % 2 ** 62)
        else:
            q = np.random.Generator(np.random.PCG64(seed)).random((n, law.n_params))
        return lo + (hi - lo) * q
    if isinstance(starts, Mapping):
        cols = [np.atleast_1d(np.asarray(starts[p], dtype=float)) if p in starts else None for p in law.param_names]
        missing = [p for p, c in zip(law.param_names, cols) if c is None]
        if missing:
            raise ValueError(f"starts are missing parameter(s) {missing}")
        values = np.stack(np.broadcast_arrays(*cols), axis=-1)
    else:
        values = np.atleast_2d(np.asarray(starts, dtype=float))
        if values.ndim != 2 or values.shape[1] != law.n_params:
            raise ValueError(f"starts must have shape (S, {law.n_params}) for law {law.name!r}, got {np.shape(starts)}")
    u = law.unconstrain(values)
    if not np.all(np.isfinite(u)):
        raise ValueError("starts contain NaN, infinite or out-of-domain values")
    return u
