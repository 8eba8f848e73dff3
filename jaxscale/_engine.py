"""The batch engine: one compiled, fixed-shape solve over many starts (and many data sets).

:func:`solve_batch` runs a solver from every start under ``jax.vmap`` (and over a leading batch
axis of data sets for groups and resamples), in equal padded chunks so that every chunk has one
shape and compiles once, sharded over all devices along the batch axis. The compiled programs are
cached per (law, objective, solver, steps, xtol, batched) configuration.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Mapping

import jax
import numpy as np

from ._config import precision, resolve_dtype
from ._objectives import Objective
from ._solvers import Problem, SolverSpec, diagnose, minimize
from .laws import Law

__all__ = ["StartResults", "model_output", "target_space", "solve_batch", "batch_sharding"]


@dataclasses.dataclass(frozen=True)
class StartResults:
    """Per-start outcome (arrays over starts): unconstrained parameters and status."""

    u: np.ndarray
    objective: np.ndarray
    grad_norm: np.ndarray
    newton_step: np.ndarray
    converged: np.ndarray

    @property
    def status(self) -> np.ndarray:
        """``"converged"``, ``"not_converged"`` or ``"nonfinite"`` for every start."""
        out = np.where(self.converged, "converged", "not_converged")
        return np.where(np.isfinite(self.objective), out, "nonfinite")


def model_output(law: Law, objective: Objective, params, x):
    """The law's output in the objective's space (see :meth:`Objective.model_output`)."""
    return objective.model_output(law, params, x)


def target_space(objective: Objective, y: np.ndarray) -> np.ndarray:
    """The target in the objective's space (see :meth:`Objective.target`)."""
    return objective.target(y)


def _problem(law: Law, objective: Objective, x, y, w) -> Problem:
    return Problem(lambda u: model_output(law, objective, law.constrain(u), x), y, w, objective)


@functools.lru_cache(maxsize=256)
def _compiled(law: Law, objective: Objective, solver: SolverSpec, n_steps: int, xtol: float, batched_data: bool):
    phases = solver.phases(n_steps)

    def one_start(u0, x, y, w):
        problem = _problem(law, objective, x, y, w)
        u, _ = minimize(phases, problem, u0)
        d = diagnose(problem, u, xtol)
        return u, d.objective, d.grad_norm, d.newton_step, d.converged

    over_starts = jax.vmap(one_start, in_axes=(0, None, None, None))
    if batched_data:
        over_starts = jax.vmap(over_starts, in_axes=(0, 0, 0, 0))
    return jax.jit(over_starts)


def _chunks(total: int, work_per_item: int, chunk_size: int | None, budget: int = 2**23) -> int:
    """Items per chunk: all at once while ``total * work_per_item`` fits the budget."""
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be a positive integer")
        return min(int(chunk_size), total)
    n_chunks = max(1, math.ceil(total * work_per_item / budget))
    return math.ceil(total / n_chunks)


def batch_sharding(size: int):
    """Shard the leading (resample or group) axis over all devices with a 1-d Mesh."""
    devices = jax.devices()
    if len(devices) < 2 or size % len(devices):
        return None
    mesh = jax.sharding.Mesh(np.asarray(devices), ("batch",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))


def fetch(tree):
    """Device arrays to NumPy; arrays sharded over several processes are all-gathered first."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        tree = jax.tree.map(lambda a: a if a.is_fully_addressable else
                            multihost_utils.process_allgather(a, tiled=True), tree)
    return jax.device_get(tree)


def solve_batch(law: Law, objective: Objective, solver: SolverSpec, starts, x: Mapping, y, w, *,
                n_steps: int, xtol: float, batched_data: bool = False, chunk_size: int | None = None,
                progress: bool = False, dtype=np.float64) -> StartResults:
    """Run the solver from every start; the engine behind :func:`fit` and the bootstrap.

    Without ``batched_data``: ``starts`` is ``(S, P)`` and ``x``/``y``/``w`` hold one data set of
    ``n`` points. With ``batched_data``: ``starts`` is ``(B, S, P)`` and the data have a leading
    batch axis ``B`` (groups or resamples). ``y`` is in the objective's space (log already taken
    for log objectives). Work is split into equal chunks along the leading axis (padded with
    copies of the first item, so every chunk has one shape and compiles once).
    Returns NumPy arrays with the leading axes of ``starts``.
    """
    dtype = resolve_dtype(dtype)
    fn = _compiled(law, objective, solver, int(n_steps), float(xtol), bool(batched_data))
    starts = np.asarray(starts, dtype=dtype)
    total = starts.shape[0]
    n = np.shape(y)[-1]
    per_item = n * law.n_params * (starts.shape[1] if batched_data else 1)
    size = _chunks(total, per_item, chunk_size)
    n_dev = jax.device_count()
    if batched_data and n_dev > 1:
        size = math.ceil(size / n_dev) * n_dev  # every device gets the same share of a chunk
    n_chunks = math.ceil(total / size)
    pad = n_chunks * size - total

    def padded(a, batched):
        a = np.asarray(a, dtype=dtype)
        if not batched or pad == 0:
            return a
        return np.concatenate([a, np.repeat(a[:1], pad, axis=0)], axis=0)

    starts_p = padded(starts, True)
    xs = {k: padded(v, batched_data) for k, v in x.items()}
    ys, ws = padded(y, batched_data), padded(w, batched_data)
    outs = []
    iterator = range(n_chunks)
    if progress and n_chunks > 1:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"fitting {law.name}", unit="chunk")
    shard = batch_sharding(size) if batched_data else None
    with precision(dtype):
        for c in iterator:
            sl = slice(c * size, (c + 1) * size)
            if batched_data:
                args = (starts_p[sl], {k: v[sl] for k, v in xs.items()}, ys[sl], ws[sl])
                if shard is not None:
                    args = jax.device_put(args, shard)
            else:
                args = (starts_p[sl], xs, ys, ws)
            outs.append(fetch(fn(*args)))
    u, f, g, s, conv = (np.concatenate([o[i] for o in outs], axis=0)[:total] for i in range(5))
    return StartResults(u, f, g, s, conv.astype(bool))

