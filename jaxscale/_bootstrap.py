"""Bootstrap: thousands of resamples fitted at once, each as carefully as the full data.

Every resample has the data's shape (a reweighting of the points by multinomial counts, or the
fitted values plus resampled residuals), so all resamples share one shape and run in one ``vmap`` batch, chunked to bound memory and sharded over all
devices. Schemes:

* ``"iid"``: points resampled with replacement (Epoch AI's bootstrap of Hoffmann et al.).
* ``"cluster"``: whole clusters (a column: model family, training run) resampled with replacement.
* ``"residual"``: the design kept, fitted values plus *modified residuals* (in the objective's
  space, :func:`modified_residuals`) resampled with replacement.

**Which scheme.** Measured on simulated data sets of the synthetic isoFLOP design
(``python -m benchmarks.coverage --method bootstrap``: 400 data sets, 400 resamples each,
``benchmarks/results/coverage_bootstrap_cpu2.json``), 95% percentile intervals:

* ``"residual"`` answers the fixed-design question (another set of runs at these sizes) and
  covered 94.0-94.8% of the true parameters and of the true loss at 10x and 100x the largest
  budget (binomial SE 1.1-1.2 points), its SEs 1.02-1.05 of the true spread of the estimates
  (1,000 data sets, ``coverage_design_cpu2.json``). It assumes the law is right and every run
  scatters alike.
  Its residuals are modified: each point's deletion residual (against the fit without it, ``n``
  leave-one-out refits in one batch) times ``sqrt(1 - h_ii)``, recentred. The fit's raw residuals
  made every SE 0.91-0.93 of the true spread (100 data sets,
  ``benchmarks/results/coverage_residuals_cpu2.json``): a Huber(1e-3) fit of 1% scatter is nearly
  an L1 fit, which passes through about ``P`` points, so 15.5 of 135 raw residuals lie within
  ``delta`` where 10.8 are expected (deletion residuals: 10.8), and resamples built from them are
  too easy to fit. Leverage alone (Davison and Hinkley's ``r_i / sqrt(1 - h_ii)``,
  ``residuals="linearised"``) recovers only 2 of the missing 8 points: ``h_ii`` averages ``P/n =
  0.037`` (largest 0.21).
* ``"iid"`` (pairs; the default, as in Epoch AI's replication) covered 95.5-97.2%, its SEs
  1.09-1.18 of the true spread: a pairs resample redraws the design, which spreads the estimates
  3-7% more than the fixed design (``--method design``); the rest is not traced (no resample
  failed to converge). It stays the default because it assumes neither a
  right law nor equal scatter, which real ladders break (see the backtests); choose
  ``"residual"`` for a designed sweep fitted by a law you trust, ``"cluster"`` when runs share a
  family or a training run.

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
from ._constraints import expand_params
from ._engine import StartResults, chunk_rows, continue_batch, model_output, solve_batch
from ._fit import FitResult
from ._results import DrawsOfFit, GroupedResult, Status, check_level, quantile_interval, warn_no_interval
from ._status import BootstrapWarning, bound_mask, check_on_failure, fail
from ._varpro import VarPro, resolve_plan, varpro_starts
from ._validate import check_count, check_seed, seed_int

__all__ = ["bootstrap", "BootstrapResult", "BootstrapWarning", "basin_starts", "resample_weights", "ResampleStream",
           "leverages", "leave_one_out", "modified_residuals", "objective_location", "precision_scale",
           "LOO_MAX_POINTS"]



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
    point of a cluster gets that cluster's count. The same counts come from
    :class:`ResampleStream` one chunk at a time.
    """
    return ResampleStream(n, seed, "iid", clusters).next(n_resamples)


class ResampleStream:
    """Bootstrap draws generated one chunk at a time from one seeded generator.

    ``next(k)`` returns the next ``k`` resamples: multinomial counts ``(k, n)`` (``"iid"`` and
    ``"cluster"``) or indices ``(k, n)`` into the ``n_pool`` (default ``n``) residuals
    (``"residual"``). NumPy's generators draw row after
    row from one bit stream, so the draws are bit for bit the same whatever the chunk sizes (and
    the same as drawing all ``R`` at once): memory is ``O(chunk * n)``, not ``O(R * n)``.
    """

    def __init__(self, n: int, seed: int, scheme: str = "iid", clusters: np.ndarray | None = None,
                 n_pool: int | None = None):
        self.n, self.scheme = int(n), scheme
        self.n_pool = self.n if n_pool is None else int(n_pool)  # residual: indices drawn from range(n_pool)
        self.rng = np.random.Generator(np.random.PCG64(seed_int(seed) + (1 if scheme == "residual" else 0)))
        self.idx = None
        if clusters is not None:
            labels, self.idx = np.unique(clusters, return_inverse=True)
            self.k = labels.shape[0]
            if self.k < 2:
                raise ValueError("cluster bootstrap needs at least 2 clusters")

    def next(self, k: int) -> np.ndarray:
        if self.scheme == "residual":
            return self.rng.integers(0, self.n_pool, size=(k, self.n))
        if self.idx is None:
            return self.rng.multinomial(self.n, np.full(self.n, 1.0 / self.n), size=k).astype(float)
        counts = self.rng.multinomial(self.k, np.full(self.k, 1.0 / self.k), size=k).astype(float)
        return counts[:, self.idx]


#: Largest number of points for which the residual scheme refits every leave-one-out data set
#: (``n`` more fits, batched like resamples); above it the deletion residuals come from the
#: linearised model, ``r_i / (1 - h_ii)`` (exact for linear least squares).
LOO_MAX_POINTS = 2000


def leverages(fit: FitResult) -> np.ndarray:
    r"""Leverages ``h_ii`` of the fit's linearised model, shape ``(n,)``.

    ``h_ii`` is the diagonal of the hat matrix :math:`H = W^{1/2} J (J^T W J)^{+} J^T W^{1/2}`, with
    ``J`` the Jacobian of the law's output in the objective's space (``log`` predictions for log
    objectives) with respect to the parameters at the fit and ``W`` the data weights; ``J^T W J``
    is inverted on its numerical range (SVD, singular values above ``1e-10`` of the largest), so a
    flat direction adds nothing. ``sum_i h_ii`` is the number of identified parameters. These are
    the design's leverages, independent of the Huber weights of a robust fit (see
    :func:`modified_residuals`).
    """
    import jax
    import jax.numpy as jnp

    ds, law, obj = fit.data, fit.law, fit.loss
    with precision(fit.dtype):
        x = {k: jnp.asarray(v) for k, v in ds.inputs.items()}
        jac = np.asarray(jax.jacfwd(lambda u: obj.model_output(law, law.constrain(u), x))(jnp.asarray(fit.u)),
                         dtype=float).reshape(ds.n, -1)
    jw = jac * np.sqrt(np.asarray(ds.weights, dtype=float))[:, None]
    if not np.all(np.isfinite(jw)):
        raise ValueError(f"the Jacobian of {law.name} is not finite at the fit; no leverages")
    u, sv, _ = np.linalg.svd(jw, full_matrices=False)
    keep = sv > 1e-10 * sv.max() if sv.size and sv.max() > 0 else np.zeros(sv.shape, bool)
    return np.clip(np.sum(u[:, keep] ** 2, axis=1), 0.0, 1.0)


def leave_one_out(fit: FitResult, n_steps: int | None = None, chunk_size: int | None = None,
                  progress: bool = False, max_rounds: int = 8, keep: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
    """The fit refitted without each point in turn (weight 0), all ``n`` in one batch from the fit's
    optimum: ``({name: array (n,)}, converged (n,))``. Also the jackknife of BCa intervals.

    ``keep`` ``(m, n)``: one refit per row, keeping the points where it is 1 (default: the identity's
    complement, each point left out once; a leave-one-cluster-out jackknife passes one row per cluster).
    """
    ds = fit.data
    jw = (1.0 - np.eye(ds.n) if keep is None else np.asarray(keep, dtype=float)) * ds.weights[None, :]
    y = fit.loss.target(ds.y)

    def data_fn(lo, hi):
        k = hi - lo
        return ({name: np.broadcast_to(v, (k,) + v.shape) for name, v in ds.inputs.items()},
                np.broadcast_to(y, (k, ds.n)), jw[lo:hi])

    draws, conv, _, _ = _solve_resamples(fit, fit.u[None], data_fn, jw.shape[0], ds.n, n_steps, chunk_size, progress,
                                         max_rounds)
    return draws, conv


def objective_location(objective, e: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The location ``c`` the objective assigns to the sample ``e``: ``sum_i w_i psi(e_i - c) = 0``
    (the weighted mean for squared objectives; Huber's M-estimate of location, with the
    objective's ``delta`` and ``asymmetry``, for Huber objectives), by bisection."""
    import jax.numpy as jnp

    e = np.asarray(e, dtype=float)
    w = np.ones_like(e) if weights is None else np.asarray(weights, dtype=float)
    if objective.kind == "squared" and objective.asymmetry == 1.0:
        return float(np.sum(w * e) / np.sum(w))
    lo, hi = float(e.min()), float(e.max())
    with precision(np.float64):
        for _ in range(200):  # psi is monotone: sum w psi(e - c) falls as c rises
            mid = 0.5 * (lo + hi)
            if mid in (lo, hi):
                break
            if float(np.sum(w * np.asarray(objective.psi(jnp.asarray(e - mid))))) > 0:
                lo = mid
            else:
                hi = mid
    return 0.5 * (lo + hi)


def modified_residuals(fit: FitResult, loo: tuple[dict, np.ndarray] | None = None) -> np.ndarray:
    r"""The residuals that the ``"residual"`` scheme resamples, in the objective's space, shape ``(n,)``.

    .. math:: m_i = (y_i - \hat f_{(-i)}(x_i))\,\sqrt{1 - h_{ii}}\,s_i - c

    with :math:`\hat f_{(-i)}` the fit without point ``i`` (``loo``, from :func:`leave_one_out`;
    without it, or where that refit did not converge, the linearised deletion residual
    :math:`r_i / (1 - h_{ii})`), :math:`h_{ii}` the :func:`leverages`, :math:`s_i` the
    :func:`precision_scale` of the fit's weights (1 without weights) and ``c`` the
    objective's own location of the :math:`m_i` (:func:`objective_location`), so that
    resampled errors have location 0 under the fit's objective. For linear least squares
    :math:`y_i - \hat f_{(-i)}(x_i) = r_i / (1 - h_{ii})`, so ``m_i`` are exactly Davison and
    Hinkley's modified residuals :math:`r_i / \sqrt{1 - h_{ii}}` (recentred; *Bootstrap Methods and
    their Application*, 1997, Sec. 6.2.3, Algorithm 6.3), whose variance is :math:`\sigma^2` where
    the raw residuals' is :math:`(1 - h_{ii})\sigma^2`.

    Why deletion residuals: a Huber fit with a small ``delta`` (``1e-3`` against a scatter of
    ``1e-2``) is close to an L1 fit, which passes through about ``P`` points. Their raw residuals
    sit at 0, the resampled errors then have too much mass near 0, and every resample's fit is too
    precise. On the synthetic isoFLOP design (``python -m benchmarks.coverage``, 100 data sets,
    ``benchmarks/results/coverage_residuals_cpu2.json``) 15.5 raw residuals of 135 lie within
    ``delta`` where 10.8 are expected from the true errors, and the raw-residual bootstrap SEs are
    0.91-0.93 of the true spread of the estimates (1,000 data sets, ``coverage_design_cpu2.json``)
    for every parameter. Leverage alone explains little: ``h_ii`` averages ``P/n = 0.037``
    (largest 0.21) and ``r_i / sqrt(1 - h_ii)`` gives 0.93-0.95. A point's deletion residual is
    measured by a fit that did not see it: 10.8 of them lie within ``delta``, and the SEs come out
    1.02-1.05 of the true spread (400 data sets, ``coverage_bootstrap_cpu2.json``).
    """
    ds = fit.data
    with precision(fit.dtype):
        fitted = np.asarray(model_output(fit.law, fit.loss, fit.params, ds.inputs), dtype=float)
    y = np.asarray(fit.loss.target(ds.y), dtype=float)
    h = np.minimum(leverages(fit), 1.0 - 1e-12)
    deleted = (y - fitted) / (1.0 - h)
    if loo is not None:
        import jax
        import jax.numpy as jnp

        params, conv = loo
        law, obj = fit.law, fit.loss
        with precision(fit.dtype):
            one = jax.vmap(lambda p, x: obj.model_output(law, p, {k: v[None] for k, v in x.items()})[0])
            out = np.asarray(one({k: jnp.asarray(v) for k, v in params.items()},
                                 {k: jnp.asarray(v) for k, v in ds.inputs.items()}), dtype=float)
        ok = np.asarray(conv, dtype=bool) & np.isfinite(out)
        deleted = np.where(ok, y - np.where(ok, out, 0.0), deleted)
    m = deleted * np.sqrt(1.0 - h) * precision_scale(ds.weights)
    return m - objective_location(fit.loss, m[ds.weights > 0])


def precision_scale(weights) -> np.ndarray:
    """``sqrt(w_i / mean(w))`` over the points with positive weight (1 elsewhere, and exactly 1
    everywhere when those weights are all equal): the factor that makes residuals of points with
    different weights exchangeable when the weights are precisions (``w_i`` proportional to
    ``1 / sigma_i^2``). The ``"residual"`` scheme resamples ``r_i * s_i`` and puts a draw on point
    ``j`` as ``draw / s_j``, so a noisy point's residual is not planted on a precise one."""
    w = np.asarray(weights, dtype=float)
    pos = w > 0
    if not pos.any() or np.all(w[pos] == w[pos][0]):
        return np.ones_like(w)
    return np.where(pos, np.sqrt(np.where(pos, w, 1.0) / np.mean(w[pos])), 1.0)


def _normal_cdf(x):
    return 0.5 * (1.0 + np.vectorize(math.erf)(np.asarray(x) / math.sqrt(2.0)))


_inv_cdf = np.vectorize(statistics.NormalDist().inv_cdf)


@dataclasses.dataclass(frozen=True, eq=False)
class BootstrapResult(DrawsOfFit):
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
      rounds: continuation rounds each resample ran (0: its best start converged at once; see
        ``max_rounds`` of :func:`bootstrap`), or None (not recorded, e.g. loaded from a file).
      residuals: the residual scheme's residuals (``"modified"``, ``"linearised"``, ``"raw"``; see
        :func:`bootstrap`), None for the other schemes.

    A converged resample may sit on a bound of a parameter's domain (a minimum certified there,
    see :func:`jaxscale._solvers.diagnose`): it is a valid draw, counted in ``n_at_bound`` and
    named in the status.
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
    rounds: np.ndarray | None = None
    residuals: str | None = None

    draw_kind = "resamples"

    @property
    def valid(self) -> np.ndarray:
        return np.asarray(self.converged, dtype=bool)

    @property
    def on_bound(self) -> np.ndarray:
        """``(n_resamples, P)`` over the fitted law's parameters: whether each resample's parameter sits
        on a bound of its domain (see :func:`jaxscale._status.params_at_bound`)."""
        law = self.fit.law
        return bound_mask(law, law.unconstrain({k: np.asarray(self.draws[k]) for k in law.param_names}))

    @property
    def n_at_bound(self) -> int:
        """Converged resamples with a parameter on a bound of its domain (valid draws)."""
        return int(np.sum(self.valid & self.on_bound.any(axis=1)))

    def _bound_counts(self) -> dict:
        """``{parameter: converged resamples with it on a bound}`` (nonzero only)."""
        counts = np.sum(self.on_bound & self.valid[:, None], axis=0)
        return {p.name: int(c) for p, c in zip(self.fit.law.params, counts) if c}

    def _counts_text(self) -> str:
        """"131 converged, 52 converged at a bound (E), 17 not converged" (of the resamples)."""
        n_b = self.n_at_bound
        parts = [f"{self.n_converged - n_b} converged"]
        if n_b:
            parts.append(f"{n_b} converged at a bound ({', '.join(self._bound_counts())})")
        n_bad = self.n_resamples - self.n_converged
        if n_bad:
            parts.append(f"{n_bad} not converged")
        return f"{', '.join(parts)} (of {self.n_resamples} resamples)"

    @property
    def status(self) -> Status:
        n_bad = self.n_resamples - self.n_converged
        own = (f"{n_bad}/{self.n_resamples} resamples not converged",) if n_bad else ()
        bound = self._bound_counts()
        if bound:
            own += (f"resamples converged at a bound: {', '.join(f'{k} {v}' for k, v in bound.items())}",)
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
        """Per parameter: estimate, standard error, interval (``method``) and a note (see :meth:`jaxscale._results.Result.table`)."""
        return super().table(level, method=method)

    def _header(self) -> list[str]:
        rounds = "" if self.rounds is None else (f"; {int(np.sum(self.rounds > 0))} continued "
                                                 f"(up to {int(np.max(self.rounds, initial=0))} rounds)")
        scheme = f"{self.scheme} ({self.residuals} residuals)" if self.residuals else self.scheme
        return self.fit._header() + ["", f"bootstrap: {scheme}, {self._counts_text()}, "
                                         f"{self.starts_per_resample} starts each{rounds}; "
                                         "intervals are percentile, from converged resamples"]

    def to_dict(self, level: float | None = None) -> dict:
        return {
            **self.fit.to_dict(),
            **self.intervals_dict(level),
            "n_resamples": self.n_resamples,
            "n_resamples_converged": self.n_converged,
            "n_resamples_at_bound": self.n_at_bound,
            "resamples_at_bound": self._bound_counts(),
            "bootstrap_scheme": self.scheme,
            **({"bootstrap_residuals": self.residuals} if self.residuals else {}),
            "bootstrap_seed": self.seed,
            "status": self.status.to_dict(),
        }

    def __repr__(self):
        return (f"BootstrapResult({self.law.name}, {self.scheme}: {self._counts_text()}, "
                f"{self.starts_per_resample} starts each)")


def bootstrap(fit, n_resamples: int = 4000, *, scheme: str = "iid", cluster: np.ndarray | None = None,
              seed: int = 0, n_basins: int = 4, extra_starts: np.ndarray | None = None, n_steps: int | None = None,
              level: float = 0.95, bca: bool = False, chunk_size: int | None = None,
              progress: bool = True, on_failure: str = "warn", min_draws: int | None = None,
              plan=None, max_rounds: int = 8, residuals: str = "modified"):
    """Bootstrap a point fit: refit ``n_resamples`` resamples of its data at once.

    Args:
      fit: a :class:`~jaxscale.FitResult` (from :func:`jaxscale.fit`; its grid fit supplies
        the starts of every resample, see the module docstring), or a grouped fit
        (``fit(..., group=COL)``): then every group's resamples run in one batch (group ``j``
        with seed ``seed + j``; ``cluster`` labels over all rows of the grouped data) and the
        result is a grouped result of one :class:`BootstrapResult` per group.
      n_resamples: number of resamples (Epoch AI used 4,000).
      scheme: ``"iid"``, ``"cluster"`` (with ``cluster``: an array with one label per data point)
        or ``"residual"``.
      seed: the draws depend only on the seed and the data: identical for the same seed.
      n_basins: distinct local minima of the full-data fit used as starts (grid plan).
      extra_starts: optional more unconstrained starts ``(S, P)`` for every resample.
      residuals: what the ``"residual"`` scheme resamples: ``"modified"`` (default: deletion residuals
        from ``n`` leave-one-out refits, scaled by ``sqrt(1 - h_ii)`` and recentred, see
        :func:`modified_residuals`; above :data:`LOO_MAX_POINTS` points the linearised ones),
        ``"linearised"`` (``r_i / sqrt(1 - h_ii)``, recentred: Davison and Hinkley's modified
        residuals, no refits) or ``"raw"`` (the fit's residuals as they are; too narrow for Huber
        fits, kept for comparison). With ``weights``, the scheme treats them as precisions
        (``w_i`` proportional to ``1 / sigma_i^2``) and resamples standardised residuals (see
        :func:`precision_scale`); the ``"iid"`` scheme assumes nothing about them.
      plan: ``None`` (default: the plan of ``fit``), ``"varpro"`` / a :class:`~jaxscale.VarPro`
        (variable projection per resample, ``VarPro.n_best_resample`` starts each) or ``"grid"``
        (the full-data fit's basins as starts, see the module docstring).
      level: default interval level.
      bca: also compute the jackknife for BCa intervals.
      chunk_size: resamples per compiled batch (default: sized to bound memory).
      progress: progress bar (resamples done, rate, ETA) when the work spans several chunks.
      on_failure: when any resample (or jackknife fit) did not converge: ``"warn"`` (default,
        :class:`BootstrapWarning` with the count), ``"raise"`` (:class:`~jaxscale.ConvergenceError`)
        or ``"ignore"``. Non-converged resamples are never used in intervals or SEs; their number
        is ``n_resamples - n_converged`` (also in ``to_dict``).
      min_draws: fewest converged resamples an interval is made from (default: 100 at 95%, see
        :func:`jaxscale._results.min_valid_draws`); below it ``interval()`` raises and tables show
        "too few valid resamples".
      max_rounds: continuation, as in :func:`jaxscale.fit`: a resample whose best start has not
        converged runs ``n_steps`` more steps from every one of its starts, up to ``max_rounds``
        rounds, until it converges (or a round improves no resample of the chunk); ``0`` turns it
        off. The rounds each resample ran are in ``BootstrapResult.rounds``.

    A resample whose optimum sits on a bound of a parameter's domain (``E = 0``) is a valid draw
    when the bound is a certified minimum (:func:`jaxscale._solvers.diagnose`); the status counts
    those separately (``BootstrapResult.n_at_bound``).

    Memory: the draws are generated one chunk at a time (:class:`ResampleStream`; the same draws
    bit for bit as drawing them all at once) and only each resample's best start is kept, so a run
    needs ``O(chunk * (n + S * P))`` working memory plus ``O(n_resamples * (P + 2))`` numbers for the
    result: 10^7 resamples of a 5-parameter law keep about 0.5 GB of draws.

    Raises ``TypeError`` for a non-integer ``n_resamples`` (``1e3``), seed, ``n_basins``, ``n_steps``
    or ``chunk_size`` and ``ValueError`` for values out of range (``n_resamples < 1``, ``level``
    outside (0, 1)), before any work. Any Python int is a valid seed (see :func:`jaxscale.fit`).
    Ctrl-C raises :class:`~jaxscale.Interrupted`, saying how many resamples were done.
    """
    check_on_failure(on_failure)
    grouped = isinstance(fit, GroupedResult)
    if not (isinstance(fit, FitResult) or grouped):
        raise TypeError(f"fit must be a jaxscale.FitResult or a grouped fit (from jaxscale.fit), got "
                        f"{type(fit).__name__}")
    n_resamples = check_count(n_resamples, "n_resamples")
    n_basins = check_count(n_basins, "n_basins", minimum=0)
    seed = check_seed(seed)
    level = check_level(level)
    if n_steps is not None:
        n_steps = check_count(n_steps, "n_steps")
    if chunk_size is not None:
        chunk_size = check_count(chunk_size, "chunk_size")
    max_rounds = check_count(max_rounds, "max_rounds", minimum=0)
    if scheme not in ("iid", "cluster", "residual"):
        raise ValueError(f"scheme must be 'iid', 'cluster' or 'residual', got {scheme!r}")
    if residuals not in ("modified", "linearised", "raw"):
        raise ValueError(f"residuals must be 'modified', 'linearised' or 'raw', got {residuals!r}")
    min_draws = None if min_draws is None else check_count(min_draws, "min_draws")
    if grouped:
        return _bootstrap_groups(fit, n_resamples, scheme, cluster, seed, n_basins, extra_starts, n_steps, level,
                                 bca, chunk_size, progress, on_failure, min_draws, plan, max_rounds, residuals)
    prob = _Problem(fit, n_resamples, scheme, cluster, seed, n_basins, extra_starts, plan, n_steps, chunk_size,
                    progress, residuals, max_rounds)
    draws, conv, objective, rounds = _solve_resamples(fit, prob.template, prob.data_fn, n_resamples, fit.data.n,
                                                      n_steps, chunk_size, progress, max_rounds)
    return _finish(fit, prob, draws, conv, objective, rounds, n_resamples, scheme, seed, level, bca, n_steps,
                   chunk_size, progress, on_failure, min_draws, max_rounds)


class _Problem:
    """One fit's resamples, drawn one chunk at a time: ``data_fn(lo, hi)`` gives ``(x, y, w)`` (or
    ``(x, y, w, starts)`` under variable projection) of resamples ``lo:hi``, called in order."""

    def __init__(self, fit, n_resamples, scheme, cluster, seed, n_basins, extra_starts, plan, n_steps=None,
                 chunk_size=None, progress=False, residuals="modified", max_rounds=8):
        ds, law, obj = fit.data, fit.law, fit.loss
        self.fit, self.plan = fit, resolve_plan(fit.plan if plan is None else plan, law)
        starts = basin_starts(fit, n_basins)
        self.extra = None
        if extra_starts is not None:
            self.extra = np.atleast_2d(np.asarray(extra_starts, dtype=float))
            if self.extra.shape[1] != law.n_params:
                raise ValueError(f"extra_starts must have shape (S, {law.n_params})")
            starts = np.concatenate([starts, self.extra])
        self.y = obj.target(ds.y)
        self.clusters = _cluster_labels(fit, cluster) if scheme == "cluster" else None
        self.fitted = self.residuals = self.loo = self.kind = self.scale = None
        if scheme == "residual":
            with precision(fit.dtype):
                self.fitted = np.asarray(model_output(law, obj, fit.params, fit.data.inputs))
            self.kind = "linearised" if residuals == "modified" and ds.n > LOO_MAX_POINTS else residuals
            if self.kind == "modified":  # deletion residuals from n leave-one-out refits, one batch
                self.loo = leave_one_out(fit, n_steps, chunk_size, progress, max_rounds)
            # the pool: residuals of the points with positive weight (a zero weight masks a point out)
            self.scale = precision_scale(ds.weights)  # residuals are resampled standardised
            pool = ((self.y - self.fitted) * self.scale if self.kind == "raw" else modified_residuals(fit, self.loo))
            self.residuals = pool[ds.weights > 0]
        self.scheme = scheme
        self.stream = ResampleStream(ds.n, seed, scheme, self.clusters,
                                     None if self.residuals is None else self.residuals.shape[0])
        self.starts = starts
        self.n_starts = starts.shape[0]
        self.template = starts
        if isinstance(self.plan, VarPro):  # the per-resample starts come from data_fn; this sizes the chunks
            self.template = np.zeros((self.plan.n_best_resample + (0 if self.extra is None else self.extra.shape[0]),
                                      law.n_params))

    def data_fn(self, lo, hi):
        """The resamples lo:hi, drawn now, with their starts when each resample runs its own
        variable projection."""
        fit, ds, k = self.fit, self.fit.data, hi - lo
        draw = self.stream.next(k)
        xs = {name: np.broadcast_to(v, (k,) + v.shape) for name, v in ds.inputs.items()}
        if self.scheme == "residual":
            cy = self.fitted[None, :] + self.residuals[draw] / self.scale[None, :]
            cw = np.broadcast_to(ds.weights, (k, ds.n))
        else:
            cy, cw = np.broadcast_to(self.y, (k, ds.n)), draw * ds.weights[None, :]
        if not isinstance(self.plan, VarPro):
            return xs, cy, cw
        cs, _ = varpro_starts(fit.law, fit.loss, ds.inputs, cy, cw, batched_data=True, plan=self.plan,
                              n_best=self.plan.n_best_resample, dtype=fit.dtype)
        if self.extra is not None:
            cs = np.concatenate([cs, np.broadcast_to(self.extra, (k,) + self.extra.shape)], axis=1)
        self.n_starts = cs.shape[1]
        return xs, cy, cw, cs


def _finish(fit, prob, draws, conv, objective, rounds, n_resamples, scheme, seed, level, bca, n_steps, chunk_size,
            progress, on_failure, min_draws, max_rounds, where="") -> BootstrapResult:
    """The jackknife (``bca``), the failure report and the :class:`BootstrapResult` of one fit."""
    ds, law = fit.data, fit.law
    jack = None
    if bca:
        if prob.loo is not None:  # the residual scheme's leave-one-out fits are the jackknife
            jack, jconv = prob.loo
        else:  # leave one point out (iid) or one cluster out (cluster)
            keep = (None if scheme != "cluster" else
                    np.stack([prob.clusters != lab for lab in np.unique(prob.clusters)]))
            jack, jconv = leave_one_out(fit, n_steps, chunk_size, progress, max_rounds, keep=keep)
        if not jconv.all():
            fail(f"{int((~jconv).sum())} of {jconv.size} jackknife fits of {law.name}{where} did not converge; "
                 "BCa intervals may be off", BootstrapWarning, on_failure, stacklevel=3)
    if prob.loo is not None and not prob.loo[1].all():
        fail(f"{int((~prob.loo[1]).sum())} of {ds.n} leave-one-out fits of {law.name}{where} did not converge; "
             "their points' residuals use the linearised deletion residual r_i / (1 - h_ii) instead",
             BootstrapWarning, on_failure, stacklevel=3)
    n_bad = int((~conv).sum())
    if n_bad:
        fail(f"{n_bad} of {n_resamples} bootstrap resamples of {law.name}{where} did not converge "
             f"({100 * n_bad / n_resamples:.3g}%); they are left out of intervals and SEs", BootstrapWarning,
             on_failure, stacklevel=3)
    out = BootstrapResult(fit, draws, conv, objective, int(prob.n_starts), scheme, int(seed), level, jack, min_draws,
                          np.asarray(rounds), prob.kind)
    reason = out.interval_reason(level)
    if reason is not None and not where:  # e.g. bootstrap(fit, 2): say so now (groups: their table says it)
        warn_no_interval(f"{reason}{where} (asked for {n_resamples:,} resamples)", stacklevel=3)
    return out


def _pad_points(a, n_max: int, fill_zero: bool = False) -> np.ndarray:
    """Pad axis 1 (points) of ``(k, n, ...)`` to ``n_max``: copies of the first point, or zeros (weights)."""
    a = np.asarray(a)
    extra = n_max - a.shape[1]
    if extra == 0:
        return a
    pad = np.zeros_like(a[:, :1]) if fill_zero else a[:, :1]
    return np.concatenate([a, np.repeat(pad, extra, axis=1)], axis=1)


def _pad_starts(s, s_max: int) -> np.ndarray:
    """Pad axis 1 (starts) of ``(k, S, P)`` to ``s_max`` with copies of the first start."""
    return s if s.shape[1] == s_max else np.concatenate([s, np.repeat(s[:, :1], s_max - s.shape[1], axis=1)], axis=1)


def _bootstrap_groups(grouped, n_resamples, scheme, cluster, seed, n_basins, extra_starts, n_steps, level, bca,
                      chunk_size, progress, on_failure, min_draws, plan, max_rounds, residuals):
    """Every group's resamples in one batch (points padded with zero weight, starts with copies):
    group ``j`` draws with ``seed + j``, so it equals :func:`bootstrap` of that group's fit alone
    (to the solver's tolerance: the padded sums run in another order)."""
    parts = grouped.parts()
    labels = None if grouped.labels is None else np.asarray(grouped.labels)
    probs = []
    for j, (key, f) in enumerate(parts):
        cl = None if cluster is None else np.asarray(cluster)[labels == key]
        probs.append(_Problem(f, n_resamples, scheme, cl, seed + j, n_basins, extra_starts, plan, n_steps, chunk_size,
                              progress, residuals, max_rounds))
    n_max = max(p.fit.data.n for p in probs)
    s_max = max(p.template.shape[0] for p in probs)
    n_params = parts[0][1].law.n_params

    def data_fn(lo, hi):
        xs, ys, ws, ss = [], [], [], []
        for j, p in enumerate(probs):
            a, b = max(lo, j * n_resamples), min(hi, (j + 1) * n_resamples)
            if a >= b:
                continue
            chunk = p.data_fn(a - j * n_resamples, b - j * n_resamples)
            cx, cy, cw = chunk[:3]
            cs = chunk[3] if len(chunk) == 4 else np.broadcast_to(p.starts, (b - a,) + p.starts.shape)
            xs.append({k: _pad_points(v, n_max) for k, v in cx.items()})
            ys.append(_pad_points(cy, n_max))
            ws.append(_pad_points(cw, n_max, fill_zero=True))
            ss.append(_pad_starts(np.asarray(cs), s_max))
        return ({k: np.concatenate([x[k] for x in xs]) for k in xs[0]}, np.concatenate(ys), np.concatenate(ws),
                np.concatenate(ss))

    first = parts[0][1]
    draws, conv, objective, rounds = _solve_resamples(first, np.zeros((s_max, n_params)), data_fn,
                                                      len(parts) * n_resamples, n_max, n_steps, chunk_size, progress,
                                                      max_rounds)
    out = {}
    for j, ((key, f), p) in enumerate(zip(parts, probs)):
        rows = slice(j * n_resamples, (j + 1) * n_resamples)
        out[key] = _finish(f, p, {k: v[rows] for k, v in draws.items()}, conv[rows], objective[rows], rounds[rows],
                           n_resamples, scheme, seed + j, level, bca, n_steps, chunk_size, progress, on_failure,
                           min_draws, max_rounds,
                           where=f" ({grouped.column}={key})")
    return GroupedResult(grouped.column, out, grouped.labels)


def _cluster_labels(fit: FitResult, cluster) -> np.ndarray:
    if cluster is None:
        raise ValueError("scheme='cluster' needs cluster= (an array with one label per data point)")
    if isinstance(cluster, str):
        raise ValueError("pass the cluster labels as an array, e.g. cluster=df['family'].to_numpy()")
    labels = np.asarray(cluster)
    if labels.shape != (fit.data.n,):
        raise ValueError(f"cluster labels must have shape ({fit.data.n},), got {labels.shape}")
    return labels


#: Largest block of resamples a continuation round solves at once (see :func:`_solve_resamples`).
#: Chunks of at most this many reuse the chunk's compiled program; larger ones compile one more
#: shape. Measured on 4,000 resamples of the 240 Chinchilla points (one chunk; 25 resamples
#: continued for 2 rounds, 2-core CPU under load): padding the rounds to the whole chunk took the
#: warm bootstrap from 9.8 to 17.5 s.
CONTINUE_ROWS = 256


def _solve_resamples(fit, starts, data_fn, n_batch, n_points, n_steps, chunk_size, progress, max_rounds):
    """Every resample from every start, then the same continuation rounds as :func:`jaxscale.fit`
    (:func:`jaxscale._engine.continue_batch`) for the resamples whose best start has not converged,
    chunk by chunk; only the best start of each resample is kept. Returns ``(draws, converged,
    objective, rounds)`` (``rounds``: continuation rounds per resample)."""
    steps = fit.n_steps if n_steps is None else int(n_steps)
    starts = np.asarray(starts)
    # continuation rounds run in blocks of the chunk size solve_batch uses (its compiled program is
    # reused), or of CONTINUE_ROWS when chunks are larger (one more compiled shape, so that a few
    # unconverged resamples do not re-solve a whole chunk of thousands)
    size = min(chunk_rows(fit.law, n_batch, starts.shape[-2], n_points, chunk_size, True), CONTINUE_ROWS)
    current = {}

    def chunk_data(lo, hi):
        current["data"] = data_fn(lo, hi)
        return current["data"]

    def best_of_chunk(res: StartResults):
        cx, cy, cw = current.pop("data")[:3]
        res, rounds = continue_batch(fit.law, fit.loss, fit.solver, res, cx, cy, cw, n_steps=steps, xtol=fit.xtol,
                                     max_rounds=max_rounds, n_continue=res.objective.shape[-1], batched_data=True,
                                     dtype=fit.dtype, rows_per_batch=size, per_item=True)
        f = np.where(np.isfinite(res.objective), res.objective, np.inf)
        best = np.argmin(f, axis=1)
        rows = np.arange(f.shape[0])
        return (res.u[rows, best], f[rows, best], res.converged[rows, best] & np.isfinite(f[rows, best]), rounds)

    u, f, conv, rounds = solve_batch(fit.law, fit.loss, fit.solver, starts, None, None, None, n_steps=steps,
                                     xtol=fit.xtol, batched_data=True, chunk_size=chunk_size, progress=progress,
                                     dtype=fit.dtype, n_batch=n_batch, data_fn=chunk_data, n_points=n_points,
                                     reduce=best_of_chunk, what="resamples")
    draws = {k: np.asarray(v) for k, v in expand_params(fit.law, fit.law.constrain(u)).items()}
    return draws, conv, f, rounds
