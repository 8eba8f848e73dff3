"""Checks that the data can identify a law, and the data hash that results record."""

from __future__ import annotations

import hashlib

import numpy as np

from ._data import Dataset
from .laws import Law

__all__ = ["check_points", "check_identifiable", "data_sha256"]


def check_points(law: Law, weights: np.ndarray, what: str, ds: Dataset | None = None) -> None:
    n = int(np.sum(weights > 0))
    if n < law.n_params:
        raise ValueError(f"{what} have {n} point(s) with positive weight, fewer than the {law.n_params} "
                         f"parameters of law {law.name!r}")
    if ds is not None:
        check_identifiable(law, ds, weights > 0, what)


def check_identifiable(law: Law, ds: Dataset, keep: np.ndarray, what: str) -> None:
    """Reject inputs that make the law unidentifiable: a constant 1-d input, two identical
    inputs, or fewer distinct input points than parameters (among points with positive weight)."""
    xs = {k: np.asarray(v)[keep] for k, v in ds.inputs.items()}
    col = lambda k: f"input {k} (column {ds.columns.get(k, k)!r})" if isinstance(ds.columns.get(k, k), str) else f"input {k}"
    for k, v in xs.items():
        if v.ndim == 1 and np.unique(v).shape[0] < 2:
            raise ValueError(f"{col(k)} has the single value {v[0]:g} in {what}: law {law.name!r} cannot be "
                             "identified from a constant input")
    names = list(xs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if xs[a].shape == xs[b].shape and np.array_equal(xs[a], xs[b]):
                raise ValueError(f"{col(a)} and {col(b)} are identical in {what}: law {law.name!r} cannot "
                                 "tell them apart")
    rows = np.concatenate([v.reshape(v.shape[0], -1) for v in xs.values()], axis=1)
    n_distinct = np.unique(rows, axis=0).shape[0]
    if n_distinct < law.n_params:
        raise ValueError(f"{what} have {n_distinct} distinct input point(s) (duplicates of inputs "
                         f"{names}), fewer than the {law.n_params} parameters of law {law.name!r}")


def data_sha256(ds: Dataset, inputs=None) -> str:
    """sha256 of a data set as fitted: each input (in ``inputs`` order), target and weights as
    little-endian float64 with their names and shapes. Same arrays, same hash, on any machine."""
    h = hashlib.sha256()
    items = [(k, ds.inputs[k]) for k in (inputs or sorted(ds.inputs))] + [("__y__", ds.y), ("__w__", ds.weights)]
    for name, arr in items:
        a = np.ascontiguousarray(np.asarray(arr, dtype="<f8"))
        h.update(f"{name}:{a.shape}:".encode())
        h.update(a.tobytes())
    return h.hexdigest()
