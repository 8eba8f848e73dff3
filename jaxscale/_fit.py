"""Point fits: every start at once under ``jax.vmap``, the best one reported with its status.

``fit(law, data, ...)`` validates the data, builds the starts (the law's grid by default), runs
the chosen solver from every start in one compiled, fixed-shape batch (chunked when large), and
returns a :class:`FitResult` with the best parameters and a status for every start.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import warnings
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._config import precision, resolve_dtype
from ._starts import make_starts
from ._data import Dataset, load_data
from .laws import Law, get_law
from ._objectives import Objective, get_objective
from ._solvers import Problem, SolverSpec, diagnose, get_solver, minimize

__all__ = ["fit", "FitResult", "GroupedFit", "StartResults", "solve_batch", "ConvergenceWarning", "BoundWarning",
           "ConvergenceError", "params_at_bound"]


class ConvergenceWarning(UserWarning):
    """The best start of a fit did not converge."""


class BoundWarning(UserWarning):
    """A fitted parameter sits on a bound of its domain (see :func:`params_at_bound`)."""


class ConvergenceError(RuntimeError):
    """A fit, bootstrap or posterior failed and the caller asked for ``on_failure="raise"``."""


ON_FAILURE = ("warn", "raise", "ignore")

#: A parameter is "on a bound" when its unconstrained value is more than ``log(1e6)`` beyond the
#: bound side: a positive parameter below 1e-6 times the smallest value of its start grid, a
#: bounded ``(lo, hi)`` parameter within 1e-6 (relative to ``hi - lo``) of ``lo`` or ``hi``.
BOUND_RTOL = 1e-6


def params_at_bound(law: Law, u) -> tuple[str, ...]:
    """Names of the parameters whose fitted value sits on a bound (see :data:`BOUND_RTOL`).

    ``"real"`` parameters have no bound. At a bound the objective no longer depends on the
    parameter's unconstrained coordinate, so its value there is arbitrary: the fit is degenerate
    (for example ``E -> 0`` when the data show no floor).
    """
    u = np.asarray(u, dtype=float)
    margin = -math.log(BOUND_RTOL)
    out = []
    for i, p in enumerate(law.params):
        if p.transform == "positive":
            hit = u[i] < float(np.min(np.log(p.grid))) - margin
        elif p.transform == "real":
            hit = False
        else:
            hit = abs(u[i]) > margin
        if hit or not np.isfinite(u[i]):
            out.append(p.name)
    return tuple(out)


def _check_on_failure(on_failure: str) -> str:
    if on_failure not in ON_FAILURE:
        raise ValueError(f"on_failure must be one of {ON_FAILURE}, got {on_failure!r}")
    return on_failure


def _fail(message: str, category, on_failure: str, stacklevel: int = 3) -> None:
    """Warn, raise :class:`ConvergenceError` or stay silent, as the caller chose."""
    if on_failure == "raise":
        raise ConvergenceError(message)
    if on_failure == "warn":
        warnings.warn(message, category, stacklevel=stacklevel + 1)


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


# ----------------------------------------------------------------------------------------------
# The compiled batch solve
# ----------------------------------------------------------------------------------------------
def model_output(law: Law, objective: Objective, params, x):
    """The law's output in the objective's space: ``log`` prediction for log objectives."""
    return law.log_predict(params, x) if objective.space == "log" else law.predict(params, x)


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


def _batch_sharding(size: int):
    """Shard the leading (resample or group) axis over all devices with a 1-d Mesh."""
    devices = jax.devices()
    if len(devices) < 2 or size % len(devices):
        return None
    mesh = jax.sharding.Mesh(np.asarray(devices), ("batch",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))


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
    shard = _batch_sharding(size) if batched_data else None
    with precision(dtype):
        for c in iterator:
            sl = slice(c * size, (c + 1) * size)
            if batched_data:
                args = (starts_p[sl], {k: v[sl] for k, v in xs.items()}, ys[sl], ws[sl])
                if shard is not None:
                    args = jax.device_put(args, shard)
            else:
                args = (starts_p[sl], xs, ys, ws)
            outs.append(jax.device_get(fn(*args)))
    u, f, g, s, conv = (np.concatenate([o[i] for o in outs], axis=0)[:total] for i in range(5))
    return StartResults(u, f, g, s, conv.astype(bool))


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class FitResult:
    """The best of all starts, plus the status of every start.

    Attributes:
      law: the fitted :class:`~jaxscale.laws.Law`.
      params: best parameters in natural space, ``{name: float}``.
      objective: objective value at ``params``.
      converged: whether the best start converged (see :mod:`jaxscale.solvers`).
      n_starts, n_converged: how many starts ran and how many converged.
      starts: per-start :class:`StartResults`.
      data: the validated :class:`~jaxscale.data.Dataset` that was fitted.
      seed: the seed of random or Halton starts. data_hash: sha256 of the fitted arrays.
    """

    law: Law
    loss: Objective
    solver: SolverSpec
    n_steps: int
    params: dict
    u: np.ndarray
    objective: float
    converged: bool
    starts: StartResults
    data: Dataset
    dtype: Any = np.float64
    seed: int | None = None

    @property
    def data_hash(self) -> str:
        """sha256 of the data actually fitted (inputs in the law's order, target, weights; float64)."""
        return data_sha256(self.data, self.law.inputs)

    @property
    def at_bound(self) -> tuple[str, ...]:
        """Parameters that sit on a bound of their domain (see :func:`params_at_bound`)."""
        return params_at_bound(self.law, self.u)

    @property
    def n_starts(self) -> int:
        return int(self.starts.objective.shape[0])

    @property
    def n_converged(self) -> int:
        return int(self.starts.converged.sum())

    @property
    def n_at_best(self) -> int:
        """Starts whose objective is within 1e-6 (relative) of the best."""
        f = self.starts.objective
        return int(np.sum(np.abs(f - self.objective) <= 1e-6 * max(abs(self.objective), 1e-300)))

    def predict(self, inputs: Mapping) -> np.ndarray:
        """The fitted law's prediction at ``inputs`` (a mapping of input name -> array)."""
        missing = [k for k in self.law.inputs if k not in inputs]
        if missing:
            raise ValueError(f"missing input(s) {missing} for law {self.law.name!r}")
        with precision(self.dtype):
            x = {k: jnp.asarray(np.asarray(inputs[k], dtype=float)) for k in self.law.inputs}
            p = {k: jnp.asarray(v) for k, v in self.params.items()}
            return np.asarray(self.law.predict(p, x))

    def table(self) -> pd.DataFrame:
        """One row per parameter: its value and what it means."""
        return pd.DataFrame(
            {"value": [self.params[p.name] for p in self.law.params],
             "meaning": [p.doc for p in self.law.params]},
            index=pd.Index(self.law.param_names, name="param"),
        )

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "law": self.law.name,
            "law_version": self.law.version,
            "params": {k: float(v) for k, v in self.params.items()},
            "objective": float(self.objective),
            "converged": bool(self.converged),
            "n_starts": self.n_starts,
            "n_converged": self.n_converged,
            "n_at_best": self.n_at_best,
            "n_points": self.data.n,
            "loss": self.loss.name,
            "solver": self.solver.name,
            "n_steps": self.n_steps,
            "at_bound": list(self.at_bound),
            "seed": self.seed,
            "data_sha256": self.data_hash,
        }

    def __repr__(self):
        ps = ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
        return (f"FitResult({self.law.name}: {ps}; objective={self.objective:.6g}; "
                f"{self.n_converged}/{self.n_starts} starts converged; best converged={self.converged})")


@dataclasses.dataclass(frozen=True, eq=False)
class GroupedFit:
    """One :class:`FitResult` per value of the group column (``fits[group_value]``)."""

    column: str
    fits: dict

    def __getitem__(self, key):
        return self.fits[key]

    def __len__(self):
        return len(self.fits)

    def to_dict(self) -> dict:
        return {"group": self.column, "groups": {str(k): v.to_dict() for k, v in self.fits.items()}}

    def table(self) -> pd.DataFrame:
        rows = {k: {**v.params, "objective": v.objective, "converged": v.converged} for k, v in self.fits.items()}
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis(self.column)


# ----------------------------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------------------------
def _target_space(objective: Objective, y: np.ndarray) -> np.ndarray:
    return np.log(y) if objective.space == "log" else y


def _best(law, objective, solver, n_steps, res: StartResults, data: Dataset, dtype, seed=None,
          on_failure="warn") -> FitResult:
    f = np.where(np.isfinite(res.objective), res.objective, np.inf)
    if not np.isfinite(f).any():
        raise RuntimeError(f"every start of the {law.name} fit gave a non-finite objective; "
                           "check the data and the starts")
    i = int(np.argmin(f))
    params = {k: float(v) for k, v in law.constrain(res.u[i]).items()}
    out = FitResult(law, objective, solver, int(n_steps), params, res.u[i], float(f[i]), bool(res.converged[i]),
                    res, data, dtype, seed)
    failures = []
    if not out.converged:
        failures.append((f"the best start of the {law.name} fit did not converge (Newton step "
                         f"{res.newton_step[i]:.2g} relative; {out.n_converged}/{out.n_starts} starts converged; "
                         f"parameters {', '.join(f'{k}={v:.6g}' for k, v in params.items())}); raise n_steps or "
                         "check the data", ConvergenceWarning))
    bound = out.at_bound
    if bound:
        failures.append((f"the {law.name} fit has parameter(s) {', '.join(bound)} on a bound of their domain "
                         f"({', '.join(f'{k}={params[k]:.3g}' for k in bound)}): the data do not determine them; "
                         "fit a simpler law or check the data", BoundWarning))
    if failures and on_failure == "raise":
        raise ConvergenceError("; ".join(m for m, _ in failures))
    for message, category in failures:
        _fail(message, category, on_failure)
    return out


def fit(law, data, *, inputs=None, target="loss", weights=None, group: str | None = None,
        loss="huber", delta: float = 1e-3, solver="lm", starts=None, n_starts: int | None = None,
        start_method: str = "halton", n_steps: int | None = None, xtol: float = 1e-6, seed: int = 0,
        chunk_size: int | None = None, dtype="float64", progress: bool = True, on_failure: str = "warn"):
    """Fit ``law`` to ``data`` from many starts at once and return the best fit with its status.

    Args:
      law: a :class:`~jaxscale.laws.Law` or the name of a built-in one (``"chinchilla"``, ...).
      data: DataFrame, CSV path, or mapping of column -> array.
      inputs: mapping (or ``"N=col,D=col"``) from the law's inputs to columns.
      target: target column (or array). weights: optional per-point weights (column or array).
      group: fit one law per value of this column, all in one batch; returns a :class:`GroupedFit`.
      loss: ``"huber"`` (on log residuals, with ``delta``), ``"squared_log"``, ``"squared"`` or an
        :class:`~jaxscale.objectives.Objective`.
      solver: ``"lm"`` (default), ``"newton"``, ``"adam"``, ``"lbfgs"`` or a ``SolverSpec``.
      starts: ``None`` (the law's grid), an ``(S, P)`` array or mapping of natural-space values,
        or ``"halton"``/``"random"`` with ``n_starts``.
      n_steps: solver iterations (fixed; default by solver). xtol: convergence tolerance on the
        Newton step relative to ``1 + |u|``.
      dtype: ``"float64"`` (default; computed under a scoped ``jax.enable_x64``) or ``"float32"``.
      progress: show a progress bar when the work is split into several chunks.
      on_failure: what happens when the best start did not converge (:class:`ConvergenceWarning`)
        or a parameter sits on a bound (:class:`BoundWarning`, naming it): ``"warn"`` (default),
        ``"raise"`` (:class:`ConvergenceError`) or ``"ignore"``. The status is kept either way
        (``converged``, ``n_converged``, ``at_bound``).

    Raises ``ValueError`` (naming the argument or column) for bad input: non-finite values, values
    <= 0 under a log, text in numeric columns, unknown law, column or input names, mismatched
    shapes, fewer points (or distinct input points) than parameters, a constant input column or
    two identical inputs; ``RuntimeError`` when every start gives a non-finite objective.
    Same seed, data and device kind: identical numbers (see README, "Reliability").
    Nothing passed in is modified.
    """
    law = get_law(law)
    _check_on_failure(on_failure)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    objective = get_objective(loss, delta)
    spec = get_solver(solver)
    n_steps = spec.default_steps if n_steps is None else int(n_steps)
    if n_steps < 1:
        raise ValueError("n_steps must be >= 1")
    dtype = resolve_dtype(dtype)
    ds = load_data(data, law, inputs=inputs, target=target, weights=weights, group=group,
                   log_target=objective.space == "log")
    u0 = make_starts(law, starts, n=n_starts, method=start_method, seed=seed)
    y = _target_space(objective, ds.y)
    if group is None:
        _check_points(law, ds.weights, "the data", ds)
        res = solve_batch(law, objective, spec, u0, ds.inputs, y, ds.weights, n_steps=n_steps, xtol=xtol,
                          chunk_size=chunk_size, progress=progress, dtype=dtype)
        return _best(law, objective, spec, n_steps, res, ds, dtype, int(seed), on_failure)

    keys = list(pd.unique(ds.groups))
    masks = [ds.groups == k for k in keys]
    for k, m in zip(keys, masks):
        _check_points(law, ds.weights[m], f"group {k!r}", ds.subset(m))
    n_max = max(int(m.sum()) for m in masks)

    def pad(a, m):
        v = a[m]
        return np.concatenate([v, np.repeat(v[:1], n_max - v.shape[0], axis=0)])  # points on axis 0

    xs = {k: np.stack([pad(v, m) for m in masks]) for k, v in ds.inputs.items()}
    ys = np.stack([pad(y, m) for m in masks])
    ws = np.stack([np.concatenate([ds.weights[m], np.zeros(n_max - int(m.sum()))]) for m in masks])
    starts_b = np.broadcast_to(u0, (len(keys),) + u0.shape)
    res = solve_batch(law, objective, spec, starts_b, xs, ys, ws, n_steps=n_steps, xtol=xtol, batched_data=True,
                      chunk_size=chunk_size, progress=progress, dtype=dtype)
    fits = {}
    for j, (k, m) in enumerate(zip(keys, masks)):
        r = StartResults(*(getattr(res, f.name)[j] for f in dataclasses.fields(StartResults)))
        fits[k.item() if hasattr(k, "item") else k] = _best(law, objective, spec, n_steps, r, ds.subset(m), dtype,
                                                                   int(seed), on_failure)
    return GroupedFit(group, fits)


def _check_points(law: Law, weights: np.ndarray, what: str, ds: Dataset | None = None) -> None:
    n = int(np.sum(weights > 0))
    if n < law.n_params:
        raise ValueError(f"{what} have {n} point(s) with positive weight, fewer than the {law.n_params} "
                         f"parameters of law {law.name!r}")
    if ds is not None:
        _check_identifiable(law, ds, weights > 0, what)


def _check_identifiable(law: Law, ds: Dataset, keep: np.ndarray, what: str) -> None:
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
