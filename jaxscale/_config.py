"""Numerical precision scope.

jaxscale computes in float64 by default. It never flips JAX's global ``jax_enable_x64`` flag:
every public entry point runs its JAX work inside the scoped context manager
``jax.enable_x64(True)`` and hands back NumPy arrays, so the caller's global configuration is
untouched. Pass ``dtype="float32"`` to a fitting function to run in single precision instead.
"""

from __future__ import annotations

import contextlib

import jax
import numpy as np

_DTYPES = {"float64": np.float64, "float32": np.float32}


def resolve_dtype(dtype) -> type:
    """Return ``np.float64`` or ``np.float32`` for a user-given dtype, else raise ValueError."""
    try:
        name = np.dtype(dtype).name if dtype is not None else "float64"
    except TypeError:
        name = None
    if name not in _DTYPES:
        raise ValueError(f"dtype must be float64 or float32, got {dtype!r}")
    return _DTYPES[name]


@contextlib.contextmanager
def precision(dtype=np.float64):
    """Scope JAX to 64-bit (float64) or 32-bit types without touching the global config."""
    with jax.enable_x64(resolve_dtype(dtype) is np.float64):
        yield
