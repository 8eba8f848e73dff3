"""Point fits: every start at once under ``jax.vmap``, the best one reported with its status.

``fit(law, data, ...)`` validates the data, builds the starts (the law's grid by default), runs
the chosen solver from every start in one compiled, fixed-shape batch (:mod:`jaxscale._engine`),
and returns a :class:`FitResult` with the best parameters and a status for every start.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._config import precision, resolve_dtype
from ._constraints import ConstrainedLaw, expand_params, restrict
from ._data import Dataset, load_data
from ._engine import StartResults, continue_batch, solve_batch
from ._objectives import Objective, get_objective
from ._results import DEFAULT_LEVEL, GroupedResult, Result, Status
from ._solvers import SolverSpec, get_solver
from ._starts import make_starts
from ._status import (BoundWarning, ConvergenceError, ConvergenceWarning, IdentifiabilityWarning, check_on_failure, fail,
                      params_at_bound)
from ._validate import (check_count, check_law, check_points, check_seed, data_sha256, degenerate_reason,
                        unidentified_params)
from ._varpro import VarPro, resolve_plan, supports_varpro, varpro_starts
from .laws import Law, get_law

__all__ = ["fit", "FitResult", "GroupedFit"]


# Results
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class FitResult(Result):
    """The best of all starts, plus the status of every start.

    Speaks the results protocol (:mod:`jaxscale._results`) as a result with one draw (its own
    parameters) and no spread: ``interval()`` raises, ``table()`` has no interval columns.

    Attributes:
      law: the fitted :class:`~jaxscale.laws.Law`.
      params: best parameters in natural space, ``{name: float}``.
      objective: objective value at ``params``.
      converged: whether the best start converged (see :mod:`jaxscale.solvers`).
      n_starts, n_converged: how many starts ran and how many converged.
      starts: per-start :class:`StartResults`.
      data: the validated :class:`~jaxscale.data.Dataset` that was fitted.
      seed: the seed of random or Halton starts. data_hash: sha256 of the fitted arrays.
      loss (with its ``delta``), solver (with its options), n_steps, xtol, starts_spec (how the
        starts were made: ``"grid"``, ``"halton:64"``, ``"given:12"``, ``"data-aware"``,
        ``"varpro"``), plan, seed, dtype: everything that produced the fit; :func:`bootstrap`
        reuses them for every resample and :func:`save` writes them.
      plan: ``"grid"`` (every start ran) or the :class:`~jaxscale.VarPro` settings of a variable
        projection fit (its ``starts`` are the polished variable-projection points).
      rounds: continuation rounds run after the first batch because the best start had not
        converged (0 when it converged at once; see ``max_rounds`` of :func:`fit`).
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
    plan: Any = "grid"
    xtol: float = 1e-6
    starts_spec: str = "grid"
    rounds: int = 0

    has_draws = False
    draw_kind = "starts"
    level = DEFAULT_LEVEL
    min_draws = None

    # -- results protocol ---------------------------------------------------------------------
    @property
    def point(self) -> dict:
        return dict(self.params)

    @property
    def draws(self) -> dict:
        """One draw: the fitted parameters, ``{name: array (1,)}``."""
        return {k: np.array([v]) for k, v in self.params.items()}

    @property
    def valid(self) -> np.ndarray:
        return np.array([True])

    @property
    def names(self) -> tuple[str, ...]:
        """Every parameter of the original law (a constrained law's fixed and tied ones too)."""
        return self._full_law.param_names

    @property
    def _full_law(self) -> Law:
        return self.law.base if isinstance(self.law, ConstrainedLaw) else self.law

    @property
    def status(self) -> Status:
        failures = {}
        if self.n_converged < self.n_starts:
            failures["starts did not converge"] = self.n_starts - self.n_converged
        problems = []
        if not self.converged:
            problems.append("best start not converged")
        if self.at_bound:
            problems.append(f"at bound: {', '.join(self.at_bound)}")
        return Status("starts", self.n_starts, self.n_converged, failures, tuple(problems), "converged")

    def observation_draws(self, mean_draws, rng):
        """A new run's scatter: the residual scale (see :func:`jaxscale._extrapolate.residual_noise`)."""
        from ._extrapolate import residual_noise

        return residual_noise(self, mean_draws, rng)

    def observation_band(self, est, level):
        from ._extrapolate import residual_band

        return residual_band(self, est, level)

    def _table_columns(self, level):
        cols = {"meaning": [p.doc for p in self._full_law.params]}
        if isinstance(self.law, ConstrainedLaw):
            how = self.law.how
            cols = {"constraint": [how.get(k, "") for k in self.names], **cols}
        return cols

    def _header(self) -> list[str]:
        lines = [f"law: {self.law.name}   {self.law.formula}",
                 f"loss: {self.loss.name}   points: {self.data.n}   solver: {self.solver.name}   "
                 f"plan: {self.plan if isinstance(self.plan, str) else self.plan.name}   "
                 f"steps: {self.n_steps}   continuation rounds: {self.rounds}",
                 f"starts: {self.n_starts}   converged: {self.n_converged}   at best objective: {self.n_at_best}",
                 f"objective: {self.objective:.10g}   best start converged: {'yes' if self.converged else 'NO'}"]
        if self.at_bound:
            lines.append(f"ON A BOUND (not determined by the data): {', '.join(self.at_bound)}")
        return lines

    @functools.cached_property
    def health(self):
        """How much to trust this fit: conditioning, trade-offs, basins, bounds, levels, residual
        trends (a :class:`~jaxscale.FitHealth`; computed on first use)."""
        from ._health import fit_health

        return fit_health(self)

    def summary(self, level: float | None = None) -> str:
        """The fit, its parameters and its health (:attr:`health`), as text."""
        return super().summary(level) + "\n\n" + "\n".join(self.health.lines())

    @property
    def data_hash(self) -> str:
        """sha256 of the data actually fitted (inputs in the law's order, target, weights; float64)."""
        return data_sha256(self.data, self.law.inputs)

    @property
    def at_bound(self) -> tuple[str, ...]:
        """Parameters that sit on a bound of their domain (see :func:`params_at_bound`)."""
        return params_at_bound(self.law, self.u)

    @functools.cached_property
    def unidentified(self) -> tuple[str, ...]:
        """Parameters the data do not identify: the objective is flat along them at the optimum
        (see :func:`jaxscale._validate.unidentified_params`); those on a bound are in ``at_bound``."""
        return unidentified_params(self.law, self.loss, self.data, self.u, self.dtype, exclude=self.at_bound)

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
            "delta": float(self.loss.delta),
            "solver": self.solver.name,
            "solver_options": {str(k): v for k, v in self.solver.options},
            "n_steps": self.n_steps,
            "xtol": float(self.xtol),
            "starts": self.starts_spec,
            "dtype": np.dtype(self.dtype).name,
            "rounds": self.rounds,
            "at_bound": list(self.at_bound),
            "seed": self.seed,
            "plan": self.plan if isinstance(self.plan, str) else self.plan.name,
            "data_sha256": self.data_hash,
            "status": self.status.to_dict(),
            "health": self.health.to_dict(),
            **({"constraints": self.law.how} if isinstance(self.law, ConstrainedLaw) else {}),
        }

    def __repr__(self):
        ps = ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
        return (f"FitResult({self.law.name}: {ps}; objective={self.objective:.6g}; "
                f"{self.n_converged}/{self.n_starts} starts converged; best converged={self.converged})")


class GroupedFit(GroupedResult):
    """One :class:`FitResult` per value of the group column (``fits[group_value]``), fitted in one
    batch; a :class:`~jaxscale._results.GroupedResult` (the results protocol, group by group)."""

    @property
    def fits(self) -> dict:
        return self.results


# ----------------------------------------------------------------------------------------------
# fit
# ----------------------------------------------------------------------------------------------
def _failures(out: FitResult, check_flat: bool = True) -> list:
    """``[(message, category, short)]``: what is wrong with a fit (empty when nothing is)."""
    law, res, params = out.law, out.starts, out.params
    i = int(np.argmin(np.where(np.isfinite(res.objective), res.objective, np.inf)))
    failures = []
    degenerate = degenerate_reason(law, out.u, out.data.inputs, out.dtype)
    if degenerate is not None:
        failures.append((f"the best start of the {law.name} fit did not converge: the fit is degenerate "
                         f"({degenerate}); not a usable fit", ConvergenceWarning, "degenerate"))
    elif not out.converged:
        failures.append((f"the best start of the {law.name} fit did not converge (Newton step "
                         f"{res.newton_step[i]:.2g} relative; {out.n_converged}/{out.n_starts} starts converged; "
                         f"parameters {', '.join(f'{k}={v:.6g}' for k, v in params.items())}; {out.rounds} "
                         "continuation round(s) of the best unconverged starts); raise n_steps or max_rounds, or "
                         "check the data", ConvergenceWarning, "not converged"))
    bound = out.at_bound
    if bound:
        failures.append((f"the {law.name} fit has parameter(s) {', '.join(bound)} on a bound of their domain "
                         f"({', '.join(f'{k}={params[k]:.3g}' for k in bound)}): the data do not determine them; "
                         "fit a simpler law or check the data", BoundWarning, f"on a bound: {', '.join(bound)}"))
    if check_flat:
        flat = out.unidentified
        if flat:
            failures.append((f"the data do not identify parameter(s) {', '.join(flat)} of the {law.name} fit: the "
                             "objective is flat along them at the optimum (a combination of them changes no "
                             f"prediction; {', '.join(f'{k}={params[k]:.6g}' for k in flat)} are arbitrary and "
                             "their intervals meaningless); fit a simpler law, fix one of them, or add data that "
                             "separate them", IdentifiabilityWarning, f"not identified: {', '.join(flat)}"))
    return failures


#: Objectives within this relative distance of the best are equal to rounding: :func:`_best` then
#: prefers a converged start (sums of a few hundred float64 terms agree to ~1e-14).
TIE_RTOL = 1e-12


def _best(law, objective, solver, n_steps, res: StartResults, data: Dataset, dtype, seed=None,
          on_failure="warn", plan="grid", what: str = "", xtol: float = 1e-6, starts_spec: str = "grid",
          rounds: int = 0) -> FitResult:
    f = np.where(np.isfinite(res.objective), res.objective, np.inf)
    if not np.isfinite(f).any():
        raise RuntimeError(f"every start of the {law.name} fit{what} gave a non-finite objective; "
                           "check the data and the starts")
    i = int(np.argmin(f))
    # a converged start whose objective equals the best to rounding (TIE_RTOL) is the same minimum
    # value, verified: prefer it to an unconverged one (on a flat plateau many starts tie)
    tied = (f <= f[i] + TIE_RTOL * abs(f[i])) & np.asarray(res.converged, dtype=bool)
    if tied.any() and not res.converged[i]:
        i = int(np.flatnonzero(tied)[np.argmin(f[tied])])
    params = {k: float(v) for k, v in expand_params(law, law.constrain(res.u[i])).items()}
    out = FitResult(law, objective, solver, int(n_steps), params, res.u[i], float(f[i]), bool(res.converged[i]),
                    res, data, dtype, seed, plan, float(xtol), starts_spec, int(rounds))
    if degenerate_reason(law, out.u, data.inputs, dtype) is not None:  # never returned as a good fit
        out = dataclasses.replace(out, converged=False)
    if on_failure == "ignore":
        return out
    failures = _failures(out)
    if failures and on_failure == "raise":
        raise ConvergenceError("; ".join(m for m, _, _ in failures))
    for message, category, _ in failures:
        fail(message, category, on_failure)
    return out


def _summarise_groups(law, column, failures: dict, n_groups: int, on_failure: str) -> None:
    """One warning per kind of failure over all groups, naming the groups (the first 10)."""
    if not failures or on_failure == "ignore":
        return
    by_kind: dict = {}
    for key, items in failures.items():
        for _, category, short in items:
            kind = "did not converge" if category is ConvergenceWarning else "have a parameter on a bound"
            by_kind.setdefault((kind, category), []).append((key, short))
    messages = []
    for (kind, category), items in by_kind.items():
        names = [f"{k}" if category is ConvergenceWarning else f"{k} ({short.split(': ', 1)[1]})"
                 for k, short in items]
        more = f", ... ({len(names) - 10:,} more)" if len(names) > 10 else ""
        messages.append((f"{len(items):,} of {n_groups:,} groups ({column}) of the {law.name} fit {kind}: "
                         f"{', '.join(names[:10])}{more}; see result.table()", category))
    if on_failure == "raise":
        raise ConvergenceError("; ".join(m for m, _ in messages))
    for message, category in messages:
        fail(message, category, on_failure, stacklevel=4)


def _group_layout(groups: np.ndarray):
    """Sort the rows by group once: ``(keys, idx (G, n_max), mask (G, n_max), counts)``.

    ``idx[g, j]`` is the row of the j-th point of group g (padded with the group's first row),
    ``mask`` marks the real points. Keys in order of first appearance. Memory ``O(G * n_max)``,
    with no per-group boolean mask over all rows."""
    codes, keys = pd.factorize(groups, sort=False)
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=len(keys))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    n_max = int(counts.max())
    sorted_codes = codes[order]
    pos = np.arange(order.shape[0]) - first[sorted_codes]
    idx = np.repeat(order[first][:, None], n_max, axis=1)
    idx[sorted_codes, pos] = order
    mask = np.zeros(idx.shape, dtype=bool)
    mask[sorted_codes, pos] = True
    return keys, idx, mask, counts


def _check_groups(law, ds: Dataset, keys, idx, mask, column) -> None:
    """Per-group point-count and identifiability checks, vectorised over groups (1-d inputs);
    laws with 2-d inputs are checked group by group."""
    keep = mask & (ds.weights[idx] > 0)
    n_pos = keep.sum(axis=1)
    bad = np.flatnonzero(n_pos < law.n_params)
    if bad.size:
        g = int(bad[0])
        raise ValueError(f"group {keys[g]!r} ({column}) has {int(n_pos[g])} point(s) with positive weight, fewer "
                         f"than the {law.n_params} parameters of law {law.name!r}"
                         + (f" ({bad.size:,} groups in all)" if bad.size > 1 else ""))
    if any(np.ndim(v) != 1 for v in ds.inputs.values()):
        for g, key in enumerate(keys):
            rows = idx[g][mask[g]]
            check_points(law, ds.weights[rows], f"group {key!r}", ds.subset(rows))
        return
    xs = {k: np.asarray(v)[idx] for k, v in ds.inputs.items()}
    col = lambda k: f"input {k} (column {ds.columns.get(k, k)!r})" if isinstance(ds.columns.get(k, k), str) else f"input {k}"
    for k, v in xs.items():
        hi = np.where(keep, v, -np.inf).max(axis=1)
        lo = np.where(keep, v, np.inf).min(axis=1)
        bad = np.flatnonzero(hi == lo)
        if bad.size:
            g = int(bad[0])
            raise ValueError(f"{col(k)} has the single value {lo[g]:g} in group {keys[g]!r}: law {law.name!r} cannot "
                             "be identified from a constant input")
    names = list(xs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            same = np.all(np.where(keep, xs[a] == xs[b], True), axis=1)
            bad = np.flatnonzero(same)
            if bad.size:
                raise ValueError(f"{col(a)} and {col(b)} are identical in group {keys[int(bad[0])]!r}: law "
                                 f"{law.name!r} cannot tell them apart")
    # distinct input points per group: sort the kept rows by (group, inputs) and count changes
    g_of = np.broadcast_to(np.arange(len(keys))[:, None], idx.shape)[keep]
    cols = [v[keep] for v in xs.values()]
    order = np.lexsort(tuple(reversed(cols)) + (g_of,)) if cols else np.argsort(g_of)
    g_sorted = g_of[order]
    new = np.ones(order.shape[0], dtype=bool)
    new[1:] = g_sorted[1:] != g_sorted[:-1]
    for c in cols:
        cs = c[order]
        new[1:] |= cs[1:] != cs[:-1]
    n_distinct = np.bincount(g_sorted[new], minlength=len(keys))
    bad = np.flatnonzero(n_distinct < law.n_params)
    if bad.size:
        g = int(bad[0])
        raise ValueError(f"group {keys[g]!r} has {int(n_distinct[g])} distinct input point(s) (duplicates of inputs "
                         f"{names}), fewer than the {law.n_params} parameters of law {law.name!r}")


def _built_starts(law, inputs, y) -> np.ndarray:
    """``law.start_builder``'s starts, unconstrained; a non-finite row is replaced by the first
    finite one (so every group gets the same number of starts), none finite: the default grid."""
    u = law.unconstrain(np.atleast_2d(np.asarray(law.start_builder(inputs, y), dtype=float)))
    ok = np.all(np.isfinite(u), axis=1)
    if not ok.any():
        return law.default_starts()
    return np.where(ok[:, None], u, u[np.argmax(ok)])


#: Above this many rows (and with the default plan and starts) the starts are chosen on a random
#: subsample of :data:`SUBSAMPLE_ROWS` rows and the best :data:`POLISH_STARTS` are polished on all rows.
LARGE_DATA_ROWS = 100_000
SUBSAMPLE_ROWS = 10_000
POLISH_STARTS = 4


def _distinct_best(res: StartResults, k: int, atol: float = 1e-3) -> np.ndarray:
    """Up to ``k`` end points, best objective first, each more than ``atol`` (max-abs, unconstrained)
    from those kept."""
    f = np.where(np.isfinite(res.objective), res.objective, np.inf)
    kept = []
    for i in np.argsort(f):
        if not np.isfinite(f[i]) or len(kept) == k:
            break
        if all(np.max(np.abs(res.u[i] - res.u[j])) > atol for j in kept):
            kept.append(i)
    if not kept:
        raise RuntimeError("every start gave a non-finite objective on the subsample; check the data and the starts")
    return res.u[np.asarray(kept)]


def _subsample_starts(law, objective, spec, ds, y, u0, built, plan, n_steps, xtol, chunk_size, progress, dtype, seed,
                      spec_text, record) -> np.ndarray:
    """The default plan for a large data set: every start on a random subsample of
    :data:`SUBSAMPLE_ROWS` rows (seeded), then the best :data:`POLISH_STARTS` distinct end points
    as the starts of the fit on all rows; says so with a :class:`~jaxscale.PlanWarning`. Memory is
    ``O(n)`` for the data plus one start's Jacobian per chunk, whatever the number of starts."""
    import warnings

    from ._status import PlanWarning
    from ._validate import seed_int

    rows = np.sort(np.random.Generator(np.random.PCG64(seed_int(seed))).choice(ds.n, SUBSAMPLE_ROWS, replace=False))
    sub, ysub = ds.subset(rows), y[rows]
    if built:
        u_sub = _built_starts(law, sub.inputs, sub.y)
    elif u0 is None:
        u_sub, _ = varpro_starts(law, objective, sub.inputs, ysub, sub.weights, plan=plan, dtype=dtype)
    else:
        u_sub = u0
    res = solve_batch(law, objective, spec, u_sub, sub.inputs, ysub, sub.weights, n_steps=n_steps, xtol=xtol,
                      chunk_size=chunk_size, progress=progress, dtype=dtype, what="starts (subsample)")
    best = _distinct_best(res, POLISH_STARTS)
    text = (f"{spec_text} starts ({u_sub.shape[0]:,}) fitted on a random {SUBSAMPLE_ROWS:,}-row subsample, the best "
            f"{best.shape[0]} polished on all {ds.n:,} rows")
    record["starts_spec"] = text
    warnings.warn(f"large data set: {text} (pass starts= or plan= to run every start on all rows)", PlanWarning,
                  stacklevel=4)
    return best


def fit(law, data, *, inputs=None, target="loss", weights=None, group: str | None = None,
        loss="huber", delta: float | None = None, solver="lm", starts=None, n_starts: int | None = None,
        start_method: str = "halton", n_steps: int | None = None, xtol: float = 1e-6, seed: int = 0,
        chunk_size: int | None = None, dtype="float64", progress: bool = True, on_failure: str = "warn",
        plan="auto", max_rounds: int = 8, continue_starts: int = 32, fixed: Mapping | None = None,
        tied: Mapping | None = None, bounds: Mapping | None = None):
    """Fit ``law`` to ``data`` from many starts at once and return the best fit with its status.

    Args:
      law: a :class:`~jaxscale.laws.Law` or the name of a built-in one (``"chinchilla"``, ...).
      data: DataFrame, CSV path, or mapping of column -> array.
      inputs: mapping (or ``"N=col,D=col"``) from the law's inputs to columns.
      target: target column (or array). weights: optional per-point weights (column or array).
      group: fit one law per value of this column, all in one batch; returns a :class:`GroupedFit`.
      loss: ``"huber"`` (on log residuals, with ``delta``, default 1e-3), ``"squared_log"``,
        ``"squared"`` or an :class:`~jaxscale.objectives.Objective`. A ``delta`` that the loss
        would ignore (a non-Huber loss, or an Objective with another delta) is a ``ValueError``.
      solver: ``"lm"`` (default), ``"newton"``, ``"adam"``, ``"lbfgs"`` or a ``SolverSpec``.
      starts: ``None`` (the law's grid), an ``(S, P)`` array or mapping of natural-space values,
        or ``"halton"``/``"random"`` with ``n_starts``.
      n_steps: solver iterations (fixed; default: the law's ``default_steps`` for ``lm``/``newton``
        when it sets one, else the solver's). xtol: convergence tolerance on the Newton step
        relative to ``1 + |u|``.
      max_rounds, continue_starts: auto-continue. When the best start has not converged, the
        ``continue_starts`` unconverged starts with the lowest objective run ``n_steps`` more steps
        from where they stopped (one batch of fixed shape per round), up to ``max_rounds`` rounds,
        until the best start converges (or a round improves nothing). ``max_rounds=0`` turns it
        off. The rounds run are in ``FitResult.rounds``.
      dtype: ``"float64"`` (default; computed under a scoped ``jax.enable_x64``) or ``"float32"``.
      plan: how the starts are found. ``"auto"`` (default): variable projection when the law declares
        linear parameters (``Law(linear=..., basis=...)``: ``chinchilla``, ``saturating_power_law``,
        ``power_law``, ``overtraining``) and no ``starts`` are given, else the start grid.
        ``"varpro"`` (or a :class:`~jaxscale.VarPro` with its settings): solve the linear
        parameters in closed form (non-negative, IRLS for Huber) over a grid of the others
        (32 x 32 for two), then polish the best few with ``solver`` on the full problem.
        ``"grid"``: every start of ``starts`` (default: the law's exhaustive Cartesian grid;
        ``starts="grid"`` is the same).
      progress: show a progress bar when the work is split into several chunks.
      fixed, tied, bounds: constraints (see :func:`jaxscale.restrict`): ``fixed={"E": 1.69}``
        holds parameters at values, ``tied={"beta": "alpha"}`` makes ``beta`` equal to ``alpha``,
        ``bounds={"alpha": (0.1, 0.9)}`` bounds free ones. The fit runs on the reduced law
        (``FitResult.law``) and ``params`` still reports every parameter.
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
    law = restrict(get_law(law), fixed=fixed, tied=tied, bounds=bounds)
    check_on_failure(on_failure)
    seed = check_seed(seed)
    objective = get_objective(loss, delta)
    spec = get_solver(solver)
    if n_steps is None:
        law_steps = getattr(law, "default_steps", None)
        n_steps = law_steps if (law_steps and spec.name in ("lm", "newton")) else spec.default_steps
    n_steps = check_count(n_steps, "n_steps")
    max_rounds = check_count(max_rounds, "max_rounds", minimum=0)
    continue_starts = check_count(continue_starts, "continue_starts", minimum=0)
    if chunk_size is not None:
        chunk_size = check_count(chunk_size, "chunk_size")
    dtype = resolve_dtype(dtype)
    more = dict(n_steps=n_steps, xtol=xtol, max_rounds=max_rounds, n_continue=continue_starts, chunk_size=chunk_size,
                dtype=dtype)
    ds = load_data(data, law, inputs=inputs, target=target, weights=weights, group=group,
                   log_target=objective.space == "log")
    # data-aware starts (Law.start_builder) under the default plan when no starts are given
    auto = isinstance(plan, str) and plan == "auto"
    built = starts is None and law.start_builder is not None and plan == "auto" and not supports_varpro(law)
    plan = resolve_plan(plan, law, starts)
    u0 = None if (built or isinstance(plan, VarPro)) else make_starts(law, starts, n=n_starts, method=start_method,
                                                                      seed=seed)
    check_law(law, objective, ds, make_starts(law, "halton", n=8, seed=0) if u0 is None else u0, dtype)
    spec_text = ("data-aware" if built else "varpro" if isinstance(plan, VarPro) else
                 "grid" if starts is None or (isinstance(starts, str) and starts == "grid") else
                 f"{starts}:{int(u0.shape[0])}" if isinstance(starts, str) else f"given:{int(u0.shape[0])}")
    record = {"xtol": float(xtol), "starts_spec": spec_text}
    y = objective.target(ds.y)
    if group is None:
        check_points(law, ds.weights, "the data", ds)
        if auto and starts is None and ds.n > LARGE_DATA_ROWS:
            u0 = _subsample_starts(law, objective, spec, ds, y, u0, built, plan, n_steps, xtol, chunk_size, progress,
                                   dtype, seed, spec_text, record)
        elif built:
            u0 = _built_starts(law, ds.inputs, ds.y)
        elif u0 is None:
            u0, _ = varpro_starts(law, objective, ds.inputs, y, ds.weights, plan=plan, dtype=dtype)
        res = solve_batch(law, objective, spec, u0, ds.inputs, y, ds.weights, n_steps=n_steps, xtol=xtol,
                          chunk_size=chunk_size, progress=progress, dtype=dtype, what="starts")
        res, rounds = continue_batch(law, objective, spec, res, ds.inputs, y, ds.weights, **more)
        return _best(law, objective, spec, n_steps, res, ds, dtype, seed, on_failure, plan, rounds=rounds, **record)

    keys, idx, mask, counts = _group_layout(ds.groups)
    _check_groups(law, ds, keys, idx, mask, group)
    xs = {k: np.asarray(v)[idx] for k, v in ds.inputs.items()}
    ys = y[idx]
    ws = np.where(mask, ds.weights[idx], 0.0)
    if built:
        u0 = np.stack([_built_starts(law, {k: np.asarray(v)[idx[j][mask[j]]] for k, v in ds.inputs.items()},
                                     ds.y[idx[j][mask[j]]]) for j in range(len(keys))])
    elif u0 is None:
        u0, _ = varpro_starts(law, objective, xs, ys, ws, batched_data=True, plan=plan, chunk_size=chunk_size,
                              progress=progress, dtype=dtype)
    res = solve_batch(law, objective, spec, u0, xs, ys, ws, n_steps=n_steps, xtol=xtol, batched_data=True,
                      chunk_size=chunk_size, progress=progress, dtype=dtype, what="groups")
    res, rounds = continue_batch(law, objective, spec, res, xs, ys, ws, batched_data=True, **more)
    fits, failures = {}, {}
    for j, k in enumerate(keys):
        r = StartResults(*(getattr(res, f.name)[j] for f in dataclasses.fields(StartResults)))
        key = k.item() if hasattr(k, "item") else k
        one = _best(law, objective, spec, n_steps, r, ds.subset(idx[j][mask[j]]), dtype, seed, "ignore", plan,
                    what=f" for group {key!r}", rounds=rounds, **record)
        fits[key] = one
        if on_failure != "ignore":
            bad = _failures(one, check_flat=False)  # per-group flatness: fits[k].unidentified
            if bad:
                failures[key] = bad
    _summarise_groups(law, group, failures, len(keys), on_failure)
    return GroupedFit(group, fits, np.asarray(ds.groups))
