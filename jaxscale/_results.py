"""The results protocol: one small surface that every result of jaxscale speaks.

A point fit (:class:`~jaxscale.FitResult`), a grouped fit, a bootstrap
(:class:`~jaxscale.BootstrapResult`), a posterior (:class:`~jaxscale.PosteriorResult`) and an
isoFLOP analysis (:class:`~jaxscale.IsoflopResult`) all expose:

* ``point``: ``{name: float}``, the point estimate (the fit the draws are centred on).
* ``draws``: ``{name: array (R, ...)}``, every draw that was made, with a leading draw axis;
  ``valid`` (``(R,)`` bool) says which of them count (converged resamples; every posterior
  draw). A point fit has one draw, its own parameters, and ``has_draws`` is False: it has no
  spread to make an interval from.
* ``status``: a :class:`Status`: how many draws (or starts) were made, how many are valid, the
  reason for every failure with its count, and the problems that make the result questionable
  (``status.ok`` when there are none).
* ``samples(fn)``: ``jit(vmap(fn))`` over the valid draws, where ``fn`` is written for ONE
  parameter set (as NumPyro's ``Predictive``): ``fn({name: scalar}) -> array``; the result has a
  leading draw axis. ``samples()`` stacks the parameters, ``(R, P)``.
* ``estimate(fn)``: ``fn(point)``, the point estimate of any derived quantity.
* ``interval(fn=None, level=None)``: the equal-tailed interval ``[lo, hi]`` (last axis) of the
  parameters or of ``fn``, from the valid draws; ``se(fn=None)``: their standard deviation.
* ``table()``, ``summary()`` (text), ``to_dict()`` (JSON-ready), ``save(path)``.
* ``parts()``: ``((None, self),)``, or ``((group, result), ...)`` for a grouped result
  (:class:`GroupedResult`, ``group_column`` names the column); consumers map over the parts
  with :func:`per_part`.
* ``law``: the fitted :class:`~jaxscale.Law`, or None for results without one (isoFLOP);
  ``data``: the fitted :class:`~jaxscale.Dataset` (or None); ``inference_data``: ArviZ
  InferenceData of a posterior (None otherwise).
* capabilities for extrapolation: ``inputs``, ``positive_inputs`` and ``predict_fn(p, x)`` (the
  prediction for ONE parameter set at inputs ``x``; the law's for law results) and
  ``optimal_allocation(p, C)`` (``(N_opt, D_opt)`` for one parameter set and a scalar budget;
  the law's closed form or numeric minimum for law results, the fitted frontier for an
  isoFLOP analysis; ``check_allocation()`` says up front when it cannot);
  ``observation_draws(mean_draws, rng)`` / ``observation_band(est, level)`` (a new run's
  scatter: the likelihood's noise for a posterior, the residual scale otherwise).
  ``describe()`` names the result in messages.
* ``level``: the default interval level; ``min_draws``: the minimum number of valid draws for an
  interval (None: :func:`min_valid_draws` of the level).

Consumers (:func:`~jaxscale.predict`, :func:`~jaxscale.compute_optimal`, the plots, the CLI, the
file writer) use only this surface: no type tests, no "is it batched?" branches.

**Minimum valid draws.** No interval is made from fewer valid draws than
:func:`min_valid_draws`: ``ceil(5 / (1 - level))``, at least 20 (100 draws at 95%, 50 at 90%, 500
at 99%), so that on average at least 2.5 valid draws lie beyond each end of the interval. Below
it, :meth:`Result.interval` raises ``ValueError`` naming the counts (a caller who asks for
numbers gets none rather than wrong ones), while :meth:`Result.table`, ``to_dict``, ``predict``
and ``compute_optimal`` show the count and "too few valid resamples" (NaN in the numeric
columns; the tables also warn). An interval that excludes its own point estimate is flagged in
the table's ``note`` column. Override per result with ``min_draws=`` (e.g.
``dataclasses.replace(result, min_draws=20)``) when you know what you are doing.

There is one interval implementation (:func:`quantile_interval`) and one level check
(:func:`check_level`) in the package.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Callable, Mapping

import numpy as np

__all__ = ["Result", "GroupedResult", "Status", "IntervalWarning", "check_level", "min_valid_draws",
           "quantile_interval", "interval_or_nan", "warn_no_interval", "per_part", "DEFAULT_LEVEL"]

DEFAULT_LEVEL = 0.95


class IntervalWarning(UserWarning):
    """A table could not show an interval (too few valid draws) or an interval excludes its estimate."""


def check_level(level) -> float:
    """The one level check: ``level`` as a float in (0, 1), else ``ValueError``."""
    try:
        out = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"level must be a number in (0, 1), got {level!r}") from None
    if not 0 < out < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return out


def min_valid_draws(level: float) -> int:
    """Fewest valid draws an equal-tailed interval at ``level`` is made from: ``max(20, ceil(5 / (1 - level)))``.

    100 at 95%, 50 at 90%, 500 at 99%: on average at least 2.5 draws lie beyond each end.
    """
    level = check_level(level)
    return max(20, math.ceil(round(5.0 / (1.0 - level), 9)))


def quantile_interval(draws, level: float, *, min_draws: int | None = None, probs=None,
                      what: str = "valid draws") -> np.ndarray:
    """Equal-tailed ``[lo, hi]`` (last axis) of ``draws`` (``(R, ...)``): the package's one interval.

    ``probs``: optional ``(p_lo, p_hi)``, each a scalar or an array of the shape of one draw, in
    place of ``((1 - level) / 2, (1 + level) / 2)`` (BCa adjusts them per quantity). Raises
    ``ValueError`` when ``R`` is below ``min_draws`` (default :func:`min_valid_draws`).
    """
    level = check_level(level)
    need = min_valid_draws(level) if min_draws is None else int(min_draws)
    draws = np.asarray(draws, dtype=float)
    r = draws.shape[0]
    if r < max(need, 2):
        raise ValueError(f"too few {what} for a {100 * level:g}% interval: {r} (at least {max(need, 2)} needed; "
                         "see jaxscale._results.min_valid_draws)")
    if probs is None:
        return np.moveaxis(np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0), 0, -1)
    shape = draws.shape[1:]
    flat = draws.reshape(r, -1)
    out = []
    for p in probs:
        p = np.broadcast_to(np.asarray(p, dtype=float), shape).ravel()
        out.append(np.array([np.quantile(flat[:, j], p[j]) for j in range(flat.shape[1])]).reshape(shape))
    return np.stack(out, axis=-1)


@dataclasses.dataclass(frozen=True)
class Status:
    """How a result's draws (or starts) went.

    Attributes:
      kind: what was counted: ``"starts"``, ``"resamples"``, ``"draws"``, ``"groups"``.
      n: how many were made. n_valid: how many count (converged, or every posterior draw).
      failures: ``{reason: count}`` for every failure (empty when none).
      problems: what makes the result questionable, one line each (best start not converged,
        parameters on a bound, failed resamples, r-hat, divergences); ``ok`` when there are none.
      word: how a valid one is called in text (``"converged"``, ``"valid"``).
    """

    kind: str
    n: int
    n_valid: int
    failures: Mapping = dataclasses.field(default_factory=dict)
    problems: tuple = ()
    word: str = "valid"

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"kind": self.kind, "n": int(self.n), "n_valid": int(self.n_valid),
                "failures": {str(k): int(v) for k, v in self.failures.items()}, "problems": list(self.problems)}

    def __str__(self) -> str:
        out = f"{self.n_valid}/{self.n} {self.kind} {self.word}"
        if self.failures:
            out += "; " + "; ".join(f"{v} {k}" for k, v in self.failures.items())
        if self.problems:
            out += "; " + "; ".join(self.problems)
        return out


def _pct(level: float) -> str:
    return f"{100 * level:g}%"


class Result:
    """Mixin implementing the protocol from a few attributes (see the module docstring).

    A class using it provides ``point``, ``draws``, ``valid``, ``status``, ``names`` (the ordered
    names of ``samples()`` and ``table()``), ``law`` (or None), ``level``, ``min_draws`` and
    ``dtype``, and may override :meth:`_table_columns`, :meth:`_header` and :meth:`_extra_dict`.
    """

    #: False for results without spread (a point fit): they have no interval.
    has_draws: bool = True
    #: what one draw is, in messages and tables.
    draw_kind: str = "resamples"
    #: why a result without draws has no interval.
    no_draws_reason = ("a point fit has no draws to make an interval from: bootstrap it (jaxscale.bootstrap) or "
                       "sample its posterior (jaxscale.bayes_fit)")
    #: None for a plain result; the group column of a grouped one (see :class:`GroupedResult`).
    group_column = None
    #: the fitted :class:`~jaxscale.Dataset` (None when the result does not keep it).
    data = None
    #: ArviZ InferenceData of a Bayesian result (None for the others).
    inference_data = None

    def parts(self) -> tuple:
        """``((group, result), ...)``: ``((None, self),)`` for a plain result (see :func:`per_part`)."""
        return ((None, self),)

    # -- draws --------------------------------------------------------------------------------
    def _count_valid(self) -> int:
        return int(np.sum(self.valid))

    def valid_draws(self) -> dict:
        """``{name: array (n_valid, ...)}``: the draws that count."""
        keep = np.asarray(self.valid, dtype=bool)
        return {k: np.asarray(v)[keep] for k, v in self.draws.items()}

    def precision(self):
        """The scoped JAX precision (x64 or not) this result computes in."""
        from ._config import precision

        return precision(self.dtype)

    def _as_fn(self, fn):
        if isinstance(fn, str):
            if fn not in self.draws:
                raise ValueError(f"unknown quantity {fn!r}; available: {sorted(self.draws)}")
            return lambda p, name=fn: p[name]
        return fn

    def samples(self, fn: Callable[[Mapping], object] | str | None = None) -> np.ndarray:
        """``fn`` over every valid draw: ``jit(vmap(fn))``; ``fn`` takes ONE parameter set.

        Without ``fn``: the parameters stacked in the order of ``names``, shape ``(R, P)``.
        ``fn`` must be traceable by JAX (``jax.numpy`` operations); a name (``"alpha"``) stands
        for ``lambda p: p["alpha"]``.
        """
        fn = self._as_fn(fn)
        params = self.valid_draws()
        if fn is None:
            return np.stack([params[k] for k in self.names], axis=-1)
        import jax
        import jax.numpy as jnp

        with self.precision():
            p = {k: jnp.asarray(v) for k, v in params.items()}
            r = next(iter(params.values())).shape[0]
            if r == 0:
                one = {k: jax.ShapeDtypeStruct(v.shape[1:], v.dtype) for k, v in p.items()}
                shape = jax.eval_shape(fn, one)
                return np.empty((0,) + tuple(shape.shape))
            return np.asarray(jax.jit(jax.vmap(fn))(p))

    def estimate(self, fn: Callable[[Mapping], object] | None = None) -> np.ndarray:
        """``fn(point)``: the point estimate of a derived quantity (the parameters without ``fn``)."""
        fn = self._as_fn(fn)
        if fn is None:
            return np.array([self.point[k] for k in self.names])
        import jax
        import jax.numpy as jnp

        with self.precision():
            return np.asarray(jax.jit(fn)({k: jnp.asarray(v) for k, v in self.point.items()}))

    # -- capabilities used by extrapolation (law results; others override) --------------------
    def describe(self) -> str:
        """A short name for messages: ``"law 'chinchilla'"``."""
        return f"law {self.law.name!r}" if self.law is not None else type(self).__name__

    def _need_law(self, what: str):
        if self.law is None:
            raise ValueError(f"{self.describe()} has no law: it cannot {what}")
        return self.law

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of the inputs :meth:`predict_fn` takes (the law's inputs)."""
        return tuple(self._need_law("predict").inputs)

    @property
    def positive_inputs(self) -> tuple[str, ...]:
        """Inputs that must be > 0."""
        return tuple(self._need_law("predict").positive_inputs)

    def predict_fn(self, p: Mapping, x: Mapping):
        """Prediction for ONE parameter set ``p`` at inputs ``x`` (JAX arrays): the law's ``predict``."""
        return self._need_law("predict").predict(p, x)

    def optimal_allocation(self, p: Mapping, compute, *, tokens_for: Callable | None = None):
        """``(N_opt, D_opt)`` at a scalar budget ``compute`` for ONE parameter set ``p``.

        Law results: :func:`jaxscale.laws.optimal_allocation` (the law's closed form when it has
        one, else the numeric minimum along the iso-compute curve); see :meth:`check_allocation`.
        """
        from .laws import optimal_allocation

        return optimal_allocation(self._need_law("allocate compute"), p, compute, tokens_for=tokens_for)

    def check_allocation(self, *, tokens_for: Callable | None = None) -> None:
        """``ValueError`` (with the reason) unless :meth:`optimal_allocation` can work."""
        from .laws._optimal import check_nd_law

        check_nd_law(self._need_law("allocate compute"))

    def observation_draws(self, mean_draws: np.ndarray, rng) -> np.ndarray:
        """Draws of a new observation from draws of the mean ``(R, ...)`` (each with its own noise)."""
        raise ValueError(f"{self.describe()} has no model of run-to-run scatter")

    def observation_band(self, est: np.ndarray, level: float):
        """``(lo, hi)`` of a new observation around ``est`` for a result without draws."""
        raise ValueError(f"{self.describe()} has no model of run-to-run scatter")

    # -- intervals ----------------------------------------------------------------------------
    def _level(self, level) -> float:
        return check_level(self.level if level is None else level)

    def min_draws_at(self, level: float) -> int:
        return min_valid_draws(level) if self.min_draws is None else int(self.min_draws)

    def interval_reason(self, level: float | None = None) -> str | None:
        """Why no interval can be made at ``level`` (None when one can)."""
        level = self._level(level)
        if not self.has_draws:
            return self.no_draws_reason
        need = max(self.min_draws_at(level), 2)
        if self._count_valid() < need:
            return (f"too few valid {self.draw_kind} ({self._count_valid()} of {self.status.n}; {need} needed for a "
                    f"{_pct(level)} interval)")
        return None

    def _check_interval(self, level: float) -> None:
        reason = self.interval_reason(level)
        if reason is not None:
            raise ValueError(f"no {_pct(level)} interval: {reason}")

    def interval(self, fn=None, level: float | None = None) -> np.ndarray:
        """Equal-tailed interval ``[lo, hi]`` (last axis) of the parameters or of ``fn(params)``.

        Raises ``ValueError`` for a point fit and when fewer valid draws than the minimum
        (module docstring) are available.
        """
        level = self._level(level)
        self._check_interval(level)
        return quantile_interval(self.samples(fn), level, min_draws=self.min_draws_at(level))

    def se(self, fn=None) -> np.ndarray:
        """Standard deviation (ddof=1) of the valid draws: the bootstrap SE or posterior sd."""
        self._check_interval(self.level)
        return np.std(self.samples(fn), axis=0, ddof=1)

    # -- tables and text ----------------------------------------------------------------------
    def _table_columns(self, level: float) -> dict:
        """Extra columns of :meth:`table` (name -> list over ``names``), after the interval."""
        return {}

    def table(self, level: float | None = None, **interval_kw) -> "pd.DataFrame":  # noqa: F821
        """One row per quantity: ``value`` and, for results with draws, ``se``, ``lo``/``hi`` at
        ``level`` and a ``note`` ("too few valid resamples ..." or "interval excludes the estimate")."""
        import pandas as pd

        level = self._level(level)
        names = list(self.names)
        value = self.estimate()
        cols = {"value": value}
        if self.has_draws:
            pct = _pct(level)
            reason = self.interval_reason(level)
            if reason is None:
                ci, se = self._table_interval(level, **interval_kw), self.se()
                notes = ["" if ci[i, 0] <= value[i] <= ci[i, 1] else "interval excludes the estimate"
                         for i in range(len(names))]
            else:
                ci, se = np.full((len(names), 2), np.nan), np.full(len(names), np.nan)
                notes = [reason] * len(names)
            cols.update({"se": se, f"lo {pct}": ci[:, 0], f"hi {pct}": ci[:, 1]})
            cols.update(self._table_columns(level))
            cols["note"] = notes
        else:
            cols.update(self._table_columns(level))
        return pd.DataFrame(cols, index=pd.Index(names, name="param"))

    def _table_interval(self, level: float, **interval_kw) -> np.ndarray:
        return self.interval(level=level, **interval_kw)

    def _header(self) -> list[str]:
        return [f"{type(self).__name__}: {self.status}"]

    def summary(self, level: float | None = None) -> str:
        """Human-readable text: what was fitted, its status and the table."""
        table = self.table(level)
        text = table.to_string(float_format=lambda v: f"{v:.6g}")
        return "\n".join(self._header() + ["", text])

    def intervals_dict(self, level: float | None = None) -> dict:
        """``{"level", "intervals", "se", "interval_note"}`` for ``to_dict`` (intervals None when too few)."""
        level = self._level(level)
        reason = self.interval_reason(level)
        out = {"level": level, "min_draws": max(self.min_draws_at(level), 2), "n_valid": self._count_valid()}
        if reason is not None:
            return {**out, "intervals": None, "se": None, "interval_note": reason}
        ci, se = self._table_interval(level), self.se()
        value = self.estimate()
        names = list(self.names)
        excl = [k for i, k in enumerate(names) if not ci[i, 0] <= value[i] <= ci[i, 1]]
        return {**out, "intervals": {k: [float(ci[i, 0]), float(ci[i, 1])] for i, k in enumerate(names)},
                "se": {k: float(se[i]) for i, k in enumerate(names)},
                "interval_note": f"interval excludes the estimate for {excl}" if excl else None}

    def save(self, path) -> str:
        """Write this result to ``path`` atomically (see :func:`jaxscale.save`)."""
        from ._io import save

        return save(self, path)


def warn_no_interval(reason: str, stacklevel: int = 3) -> None:
    """The warning a table-making consumer gives when it shows NaN for an interval."""
    warnings.warn(f"no interval: {reason}", IntervalWarning, stacklevel=stacklevel)


def interval_or_nan(result, fn, level: float, shape) -> tuple[np.ndarray | None, str | None]:
    """For table-making consumers: ``(interval, None)``, ``(None, None)`` for a point fit, or
    ``(NaN array, reason)`` (with an :class:`IntervalWarning`) when there are too few valid draws."""
    if not result.has_draws:
        return None, None
    reason = result.interval_reason(level)
    if reason is None:
        return result.interval(fn, level), None
    warn_no_interval(reason, stacklevel=4)
    return np.full(tuple(shape) + (2,), np.nan), reason


def per_part(result, fn) -> "pd.DataFrame":  # noqa: F821
    """``fn(part)`` for every part of ``result`` (one for a plain result, one per group for a
    grouped one), concatenated with the group column first."""
    import pandas as pd

    parts = result.parts()
    if result.group_column is None:
        return fn(parts[0][1])
    frames = []
    for key, part in parts:
        df = fn(part)
        df.insert(0, result.group_column, key)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


class DrawsOfFit(Result):
    """A :class:`Result` whose draws spread around a point fit (bootstrap, posterior): the law,
    data, point, names and dtype are the fit's (the class keeps it as ``fit``)."""

    @property
    def law(self):
        return self.fit.law

    @property
    def data(self):
        return self.fit.data

    @property
    def point(self) -> dict:
        return dict(self.fit.params)

    @property
    def names(self) -> tuple[str, ...]:
        return self.law.param_names

    @property
    def dtype(self):
        return self.fit.dtype


@dataclasses.dataclass(frozen=True, eq=False)
class GroupedResult:
    """One result per value of a group column (``results[group_value]``), all of one law.

    It speaks the protocol group by group: ``point``, ``draws``, ``samples(fn)``,
    ``estimate(fn)``, ``interval(fn)`` and ``se(fn)`` return ``{group: value}``; ``status`` counts
    the groups whose result is without problems (and lists the problems, by group); ``table()``
    stacks the groups' tables (index ``(group, param)``); ``summary()``, ``to_dict()`` and
    ``save(path)`` (one file) cover every group. :func:`~jaxscale.predict`,
    :func:`~jaxscale.compute_optimal` and the plots take it through ``parts()`` and add a group
    column. ``labels``: the group of every row of the fitted data, in order (for cluster labels).
    """

    column: str
    results: dict
    labels: np.ndarray | None = None

    group_column = property(lambda self: self.column)

    def parts(self) -> tuple:
        return tuple(self.results.items())

    def __getitem__(self, key):
        return self.results[key]

    def __len__(self):
        return len(self.results)

    def _first(self):
        return next(iter(self.results.values()))

    @property
    def law(self):
        return self._first().law

    @property
    def level(self) -> float:
        return self._first().level

    @property
    def has_draws(self) -> bool:
        return all(r.has_draws for r in self.results.values())

    def describe(self) -> str:
        return f"{self._first().describe()} by {self.column!r} ({len(self)} groups)"

    # -- the protocol, group by group -----------------------------------------------------------
    @property
    def point(self) -> dict:
        return {k: r.point for k, r in self.results.items()}

    @property
    def draws(self) -> dict:
        return {k: r.draws for k, r in self.results.items()}

    def samples(self, fn=None) -> dict:
        return {k: r.samples(fn) for k, r in self.results.items()}

    def estimate(self, fn=None) -> dict:
        return {k: r.estimate(fn) for k, r in self.results.items()}

    def interval(self, fn=None, level: float | None = None, **kw) -> dict:
        return {k: r.interval(fn, level, **kw) for k, r in self.results.items()}

    def se(self, fn=None) -> dict:
        return {k: r.se(fn) for k, r in self.results.items()}

    @property
    def status(self) -> Status:
        problems = tuple(f"{self.column}={k}: {p}" for k, r in self.results.items() for p in r.status.problems)
        bad = {f"{self.column}={k}": 1 for k, r in self.results.items() if not r.status.ok}
        return Status("groups", len(self), len(self) - len(bad), bad, problems, "without problems")

    def table(self, level: float | None = None, **kw) -> "pd.DataFrame":  # noqa: F821
        import pandas as pd

        tables = {k: r.table(level, **kw) for k, r in self.results.items()}
        return pd.concat(tables, names=[self.column])

    def summary(self, level: float | None = None) -> str:
        return "\n\n".join(f"== {self.column} = {k}\n{r.summary(level)}" for k, r in self.results.items())

    def to_dict(self) -> dict:
        return {"group": self.column, "status": self.status.to_dict(),
                "groups": {str(k): r.to_dict() for k, r in self.results.items()}}

    def save(self, path) -> str:
        from ._io import save

        return save(self, path)
