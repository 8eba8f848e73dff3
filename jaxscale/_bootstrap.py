"""Bootstrap: thousands of resamples fitted at once, each as carefully as the full data.

Every resample is a reweighting of the original points (multinomial counts), so all resamples
share one shape and run in one ``vmap`` batch, chunked to bound memory and sharded over all
devices. Schemes:

* ``"iid"``: points resampled with replacement (Epoch AI's bootstrap of Hoffmann et al.).
* ``"cluster"``: whole clusters (a column: model family, training run) resampled with replacement.
* ``"residual"``: fitted values plus residuals (in the objective's space) resampled with
  replacement.

**Start strategy.** For a fit made by variable projection (the default for laws with linear
parameters, see :mod:`jaxscale._varpro`) every resample runs its own variable projection: the
exponent grid is screened with the resample's weights (one matrix product for all resamples),
the best point is refined and polished by Levenberg-Marquardt, all batched over resamples.
For a grid fit each resample starts from the full-data optimum *and* from the end points of
the other distinct local minima that the full-data grid fit found (``n_basins``, default 4), so a
resample whose optimum moved to another basin still finds it. ``tests/test_bootstrap.py``
checks this against the exhaustive grid on sampled resamples.
"""

from __future__ import annotations

import dataclasses
import math
import statistics

import numpy as np
import pandas as pd

from ._config import precision
from ._engine import StartResults, model_output, solve_batch
from ._fit import FitResult
from ._results import Result, Status, check_level, quantile_interval
from ._status import BootstrapWarning, check_on_failure, fail
from ._varpro import VarPro, resolve_plan, varpro_starts

__all__ = ["bootstrap", "BootstrapResult", "BootstrapWarning", "basin_starts", "resample_weights"]



def basin_starts(fit: FitResult, n_basins: int = 4, rtol: float = 1e-3) -> np.ndarray:
    """The full-data optimum plus the end points of up to ``n_basins`` other distinct minima.

    Distinct: objective differing by more than ``rtol`` relative from every basin already kept,
    taken in order of objective among finite-objective starts. Shape ``(1 + k, P)``, k <= n_basins.
    """
    s = fit.starts
    order = np.argsort(np.where(np.isfinite(s.objective), s.objective, np.inf))
    kept_u, kept_f = [fit.u], [fit.objective]
    for i in order:
        if len(kept_u) > n_basins or not np.isfinite(s.objective[i]):
            break
        f = s.objective[i]
        if all(abs(f - g) > rtol * max(abs(g), 1e-300) for g in kept_f):
            kept_u.append(s.u[i])
            kept_f.append(f)
    return np.stack(kept_u)


def resample_weights(n: int, n_resamples: int, seed: int, clusters: np.ndarray | None = None) -> np.ndarray:
    """Multinomial bootstrap counts, shape ``(n_resamples, n)``; a fixed seed gives identical draws.

    With ``clusters`` (one label per point), whole clusters are drawn with replacement and every
    point of a cluster gets that cluster's count.
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    if clusters is None:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=n_resamples).astype(float)
    labels, idx = np.unique(clusters, return_inverse=True)
    k = labels.shape[0]
    if k < 2:
        raise ValueError("cluster bootstrap needs at least 2 clusters")
    counts = rng.multinomial(k, np.full(k, 1.0 / k), size=n_resamples).astype(float)
    return counts[:, idx]


def _normal_cdf(x):
    return 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(x) / math.sqrt(2.0)))


_inv_cdf = np.vectorize(statistics.NormalDist().inv_cdf)


@dataclasses.dataclass(frozen=True, eq=False)
class BootstrapResult(Result):
    """Bootstrap draws of a fit's parameters, with their status (results protocol, :mod:`jaxscale._results`).

    Attributes:
      fit: the full-data :class:`~jaxscale.FitResult` (its parameters are ``point``).
      draws: natural-space parameters, ``{name: array (n_resamples,)}`` (all resamples).
      converged: per-resample flag (``valid``); intervals and SEs use converged resamples only.
      objective: per-resample best objective.
      jackknife: leave-one-out (or leave-one-cluster-out) parameter estimates for BCa, or None.
      scheme, seed, level: how the draws were made and the default interval level.
      min_draws: fewest converged resamples an interval is made from (None: the default rule,
        100 at 95%; see :func:`jaxscale._results.min_valid_draws`).
    """

    fit: FitResult
    draws: dict
    converged: np.ndarray
    objective: np.ndarray
    starts_per_resample: int
    scheme: str
    seed: int
    level: float = 0.95
    jackknife: dict | None = None
    min_draws: int | None = None

    draw_kind = "resamples"

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
    def valid(self) -> np.ndarray:
        return np.asarray(self.converged, dtype=bool)

    @property
    def names(self) -> tuple[str, ...]:
        return self.law.param_names

    @property
    def dtype(self):
        return self.fit.dtype

    @property
    def status(self) -> Status:
        n_bad = self.n_resamples - self.n_converged
        own = (f"{n_bad}/{self.n_resamples} resamples not converged",) if n_bad else ()
        return Status("resamples", self.n_resamples, self.n_converged, {"did not converge": n_bad} if n_bad else {},
                      self.fit.status.problems + own, "converged")

    def observation_draws(self, mean_draws, rng):
        """A new run's scatter: the point fit's residual scale."""
        return self.fit.observation_draws(mean_draws, rng)

    @property
    def n_resamples(self) -> int:
        return int(self.converged.shape[0])

    @property
    def n_converged(self) -> int:
        return int(self.converged.sum())

    def interval(self, fn=None, level: float | None = None, method: str = "percentile") -> np.ndarray:
        """Equal-tailed interval ``[lo, hi]`` (last axis) for the parameters or for ``fn(params)``.

        ``fn`` is written for one parameter set (see :meth:`samples`). ``method`` is
        ``"percentile"`` or ``"bca"`` (bias-corrected and accelerated; needs the jackknife,
        computed by :func:`bootstrap` with ``bca=True``). Raises ``ValueError`` when fewer
        converged resamples than the minimum are available.
        """
        if method == "percentile":
            return super().interval(fn, level)
        if method != "bca":
            raise ValueError(f"method must be 'percentile' or 'bca', got {method!r}")
        if self.jackknife is None:
            raise ValueError("BCa intervals need the jackknife: run bootstrap(..., bca=True)")
        level = self._level(level)
        self._check_interval(level)
        alpha = (1 - level) / 2
        draws = self.samples(fn)
        est = self.estimate(fn)
        if fn is None:
            jack = np.stack([self.jackknife[k] for k in self.law.param_names], axis=-1)
        else:
            import jax
            import jax.numpy as jnp

            with self.precision():
                jack = np.asarray(jax.vmap(fn)({k: jnp.asarray(v) for k, v in self.jackknife.items()}))
        r = draws.shape[0]
        prop = np.clip(np.mean(draws < est, axis=0), 1.0 / (2 * r), 1 - 1.0 / (2 * r))
        z0 = _inv_cdf(prop)
        d = jack.mean(axis=0) - jack
        den = 6.0 * np.sum(d ** 2, axis=0) ** 1.5
        acc = np.where(den > 0, np.sum(d ** 3, axis=0) / np.where(den > 0, den, 1.0), 0.0)
        probs = [_normal_cdf(z0 + (z0 + z) / (1 - acc * (z0 + z))) for z in (_inv_cdf(alpha), _inv_cdf(1 - alpha))]
        return quantile_interval(draws, level, min_draws=self.min_draws_at(level), probs=probs,
                                 what="converged resamples")

    def _table_interval(self, level, method: str = "percentile"):
        return self.interval(level=level, method=method)

    def table(self, level: float | None = None, method: str = "percentile") -> pd.DataFrame:
        """Per parameter: estimate, standard error, interval (``method``) and a note (see :meth:`Result.table`)."""
        return super().table(level, method=method)

    def _header(self) -> list[str]:
        return self.fit._header() + ["", f"bootstrap: {self.scheme}, {self.n_converged}/{self.n_resamples} "
                                         f"resamples converged ({self.starts_per_resample} starts each); "
                                         "intervals are percentile, from converged resamples"]

    def to_dict(self, level: float | None = None) -> dict:
        return {
            **self.fit.to_dict(),
            **self.intervals_dict(level),
            "n_resamples": self.n_resamples,
            "n_resamples_converged": self.n_converged,
            "bootstrap_scheme": self.scheme,
            "bootstrap_seed": self.seed,
            "status": self.status.to_dict(),
        }

    def __repr__(self):
        return (f"BootstrapResult({self.law.name}, {self.scheme}: {self.n_converged}/{self.n_resamples} "
                f"resamples converged, {self.starts_per_resample} starts each)")


def bootstrap(fit: FitResult, n_resamples: int = 4000, *, scheme: str = "iid", cluster: np.ndarray | None = None,
              seed: int = 0, n_basins: int = 4, extra_starts: np.ndarray | None = None, n_steps: int | None = None,
              level: float = 0.95, bca: bool = False, chunk_size: int | None = None,
              progress: bool = True, on_failure: str = "warn", min_draws: int | None = None,
              plan=None) -> BootstrapResult:
    """Bootstrap a point fit: refit ``n_resamples`` resamples of its data at once.

    Args:
      fit: a :class:`~jaxscale.FitResult` (from :func:`jaxscale.fit`; its grid fit supplies
        the starts of every resample, see the module docstring).
      n_resamples: number of resamples (Epoch AI used 4,000).
      scheme: ``"iid"``, ``"cluster"`` (with ``cluster``: an array with one label per data point)
        or ``"residual"``.
      seed: the draws depend only on the seed and the data: identical for the same seed.
      n_basins: distinct local minima of the full-data fit used as starts (grid plan).
      extra_starts: optional more unconstrained starts ``(S, P)`` for every resample.
      plan: ``None`` (default: the plan of ``fit``), ``"varpro"`` / a :class:`~jaxscale.VarPro`
        (variable projection per resample, ``VarPro.n_best_resample`` starts each) or ``"grid"``
        (the full-data fit's basins as starts, see the module docstring).
      level: default interval level.
      bca: also compute the jackknife for BCa intervals.
      chunk_size: resamples per compiled batch (default: sized to bound memory).
      progress: progress bar when the work spans several chunks.
      on_failure: when any resample (or jackknife fit) did not converge: ``"warn"`` (default,
        :class:`BootstrapWarning` with the count), ``"raise"`` (:class:`~jaxscale.ConvergenceError`)
        or ``"ignore"``. Non-converged resamples are never used in intervals or SEs; their number
        is ``n_resamples - n_converged`` (also in ``to_dict``).
      min_draws: fewest converged resamples an interval is made from (default: 100 at 95%, see
        :func:`jaxscale._results.min_valid_draws`); below it ``interval()`` raises and tables show
        "too few valid resamples".
    """
    check_on_failure(on_failure)
    level = check_level(level)
    if int(n_resamples) < 1:
        raise ValueError("n_resamples must be >= 1")
    ds, law, obj = fit.data, fit.law, fit.loss
    plan = resolve_plan(fit.plan if plan is None else plan, law)
    starts = basin_starts(fit, n_basins)
    extra = None
    if extra_starts is not None:
        extra = np.atleast_2d(np.asarray(extra_starts, dtype=float))
        if extra.shape[1] != law.n_params:
            raise ValueError(f"extra_starts must have shape (S, {law.n_params})")
        starts = np.concatenate([starts, extra])
    y = obj.target(ds.y)
    base_w = ds.weights
    clusters = None
    if scheme == "cluster":
        clusters = _cluster_labels(fit, cluster)
    elif scheme not in ("iid", "residual"):
        raise ValueError(f"scheme must be 'iid', 'cluster' or 'residual', got {scheme!r}")
    if scheme == "residual":
        with precision(fit.dtype):
            fitted = np.asarray(model_output(law, obj, fit.params, fit.data.inputs))
        resid = y - fitted
        rng = np.random.Generator(np.random.PCG64(seed + 1))
        idx = rng.integers(0, ds.n, size=(n_resamples, ds.n))
        ys = fitted[None, :] + resid[idx]
        ws = np.broadcast_to(base_w, (n_resamples, ds.n))
    else:
        ys = np.broadcast_to(y, (n_resamples, ds.n))
        ws = resample_weights(ds.n, n_resamples, seed, clusters) * base_w[None, :]
    xs = {k: np.broadcast_to(v, (n_resamples,) + v.shape) for k, v in ds.inputs.items()}
    if isinstance(plan, VarPro):
        starts, _ = varpro_starts(law, obj, ds.inputs, ys, ws, batched_data=True, plan=plan,
                                  n_best=plan.n_best_resample, chunk_size=chunk_size, progress=progress,
                                  dtype=fit.dtype)
        if extra is not None:
            starts = np.concatenate([starts, np.broadcast_to(extra, (n_resamples,) + extra.shape)], axis=1)
    draws, conv, objective = _solve_resamples(fit, starts, xs, ys, ws, n_steps, chunk_size, progress)

    jack = None
    if bca:
        if scheme == "cluster":
            labels = np.unique(clusters)
            jw = np.stack([np.where(clusters == lab, 0.0, 1.0) for lab in labels]) * base_w[None, :]
        else:
            jw = (1.0 - np.eye(ds.n)) * base_w[None, :]
        m = jw.shape[0]
        jxs = {k: np.broadcast_to(v, (m,) + v.shape) for k, v in ds.inputs.items()}
        jys = np.broadcast_to(y, (m, ds.n))
        jack, jconv, _ = _solve_resamples(fit, fit.u[None], jxs, jys, jw, n_steps, chunk_size, progress)
        if not jconv.all():
            fail(f"{int((~jconv).sum())} of {m} jackknife fits of {law.name} did not converge; "
                  "BCa intervals may be off", BootstrapWarning, on_failure, stacklevel=2)
    n_bad = int((~conv).sum())
    if n_bad:
        fail(f"{n_bad} of {n_resamples} bootstrap resamples of {law.name} did not converge "
              f"({100 * n_bad / n_resamples:.3g}%); they are left out of intervals and SEs", BootstrapWarning,
              on_failure, stacklevel=2)
    return BootstrapResult(fit, draws, conv, objective, int(starts.shape[-2]), scheme, int(seed), level, jack,
                           None if min_draws is None else int(min_draws))


def _cluster_labels(fit: FitResult, cluster) -> np.ndarray:
    if cluster is None:
        raise ValueError("scheme='cluster' needs cluster= (an array with one label per data point)")
    if isinstance(cluster, str):
        raise ValueError("pass the cluster labels as an array, e.g. cluster=df['family'].to_numpy()")
    labels = np.asarray(cluster)
    if labels.shape != (fit.data.n,):
        raise ValueError(f"cluster labels must have shape ({fit.data.n},), got {labels.shape}")
    return labels


def _solve_resamples(fit, starts, xs, ys, ws, n_steps, chunk_size, progress):
    b = ws.shape[0]
    starts_b = starts if starts.ndim == 3 else np.broadcast_to(starts, (b,) + starts.shape)
    res: StartResults = solve_batch(fit.law, fit.loss, fit.solver, starts_b, xs, ys, ws,
                                    n_steps=fit.n_steps if n_steps is None else int(n_steps), xtol=1e-6,
                                    batched_data=True, chunk_size=chunk_size, progress=progress, dtype=fit.dtype)
    f = np.where(np.isfinite(res.objective), res.objective, np.inf)
    best = np.argmin(f, axis=1)
    rows = np.arange(b)
    u = res.u[rows, best]
    conv = res.converged[rows, best] & np.isfinite(f[rows, best])
    draws = {k: np.asarray(v) for k, v in fit.law.constrain(u).items()}
    return draws, conv, f[rows, best]
