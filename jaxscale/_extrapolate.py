"""Uncertainty-aware extrapolation: predictions and compute-optimal allocations with intervals.

Both accept a point fit (no interval) or any result with draws (``BootstrapResult`` now;
posterior results later through the same ``samples(fn)`` / ``interval(fn)`` interface).
"""

from __future__ import annotations

from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._config import precision

__all__ = ["predict", "compute_optimal", "chinchilla_optimal", "predict_chain"]


def _point_fit(result):
    return getattr(result, "fit", result)


def _as_inputs(law, inputs: Mapping) -> dict:
    missing = [k for k in law.inputs if k not in inputs]
    if missing:
        raise ValueError(f"missing input(s) {missing} for law {law.name!r}")
    xs = {k: np.atleast_1d(np.asarray(inputs[k], dtype=float)) for k in law.inputs}
    try:
        shape = np.broadcast_shapes(*(v.shape for v in xs.values()))
    except ValueError:
        raise ValueError(f"inputs have mismatched shapes: { {k: v.shape for k, v in xs.items()} }") from None
    for k in law.positive_inputs:
        if np.any(~np.isfinite(xs[k])) or np.any(xs[k] <= 0):
            raise ValueError(f"input {k} must be finite and > 0")
    return {k: np.broadcast_to(v, shape) for k, v in xs.items()}


def _with_interval(result, fn, level):
    fit = _point_fit(result)
    with precision(fit.dtype):
        est = np.asarray(fn({k: jnp.asarray(v) for k, v in fit.params.items()}))
    if result is fit:
        return est, None
    return est, result.interval(fn, level=level)


def predict(result, inputs: Mapping, level: float | None = None) -> pd.DataFrame:
    """The law's prediction at ``inputs`` with an equal-tailed interval from the draws.

    Returns a DataFrame with the inputs, ``prediction`` and (for results with draws) ``lo`` and
    ``hi`` at ``level`` (default: the result's level, 0.95).
    """
    fit = _point_fit(result)
    law = fit.law
    xs = _as_inputs(law, inputs)

    def fn(p):
        x = {k: jnp.asarray(v) for k, v in xs.items()}
        batched = {k: jnp.asarray(v)[..., None] for k, v in p.items()}  # draws broadcast over inputs
        return law.predict(batched, x) if np.ndim(next(iter(p.values()))) else law.predict(p, x)

    est, ci = _with_interval(result, fn, level)
    out = pd.DataFrame({k: v.ravel() for k, v in xs.items()})
    out["prediction"] = est.ravel()
    if ci is not None:
        out["lo"], out["hi"] = ci[..., 0].ravel(), ci[..., 1].ravel()
    return out


def chinchilla_optimal(p: Mapping, compute):
    r"""Closed-form compute-optimal allocation of the Chinchilla law under ``C = 6 N D``.

    :math:`G = (\alpha A / (\beta B))^{1/(\alpha+\beta)}`,
    :math:`N_{opt} = G (C/6)^{\beta/(\alpha+\beta)}`, :math:`D_{opt} = (C/6)^{\alpha/(\alpha+\beta)} / G`
    (Hoffmann et al. 2022, Eq. 4). Computed in logs; works on arrays of draws (broadcasting).
    """
    a, b = p["alpha"], p["beta"]
    log_g = (jnp.log(a) + jnp.log(p["A"]) - jnp.log(b) - jnp.log(p["B"])) / (a + b)
    log_c6 = jnp.log(jnp.asarray(compute) / 6.0)
    return jnp.exp(log_g + b / (a + b) * log_c6), jnp.exp(a / (a + b) * log_c6 - log_g)


def _numeric_optimal(law, p, compute, tokens_for: Callable, n_grid: int = 512, n_newton: int = 12):
    """argmin over log N of L(N, tokens_for(N, C)): dense log grid, then fixed Newton steps."""
    log_c = jnp.log(jnp.asarray(compute))

    def loss(log_n, params, lc):
        n = jnp.exp(log_n)
        return law.log_predict(params, {"N": n, "D": tokens_for(n, jnp.exp(lc))})

    def one(params, lc):
        grid = jnp.linspace(jnp.log(1e3), lc - jnp.log(6.0) - jnp.log(1e3), n_grid)
        vals = jax.vmap(lambda g: loss(g, params, lc))(grid)
        x = grid[jnp.argmin(jnp.where(jnp.isfinite(vals), vals, jnp.inf))]
        d1 = jax.grad(loss)
        d2 = jax.grad(d1)

        def step(x, _):
            h = d2(x, params, lc)
            s = jnp.where(h > 0, -d1(x, params, lc) / h, 0.0)
            return x + jnp.clip(s, -0.5, 0.5), None

        x, _ = jax.lax.scan(step, x, None, length=n_newton)
        n = jnp.exp(x)
        return n, tokens_for(n, jnp.exp(lc))

    return one(p, log_c)


def compute_optimal(result, compute, *, level: float | None = None, tokens_for: Callable | None = None) -> pd.DataFrame:
    """Compute-optimal ``N_opt(C)`` and ``D_opt(C)`` with intervals from the draws.

    Uses the closed form for the Chinchilla law with the default cost ``C = 6 N D``; for other
    laws with inputs ``N`` and ``D``, or a user cost given as ``tokens_for(N, C) -> D``, it
    minimises the law numerically along the iso-compute curve.
    """
    fit = _point_fit(result)
    law = fit.law
    if set(law.inputs) != {"N", "D"}:
        raise ValueError(f"compute-optimal allocation needs a law of N and D; {law.name!r} has inputs {list(law.inputs)}")
    cs = np.atleast_1d(np.asarray(compute, dtype=float))
    if np.any(~np.isfinite(cs)) or np.any(cs <= 0):
        raise ValueError("compute must be finite and > 0")
    closed = law.name == "chinchilla" and tokens_for is None
    tokens = tokens_for or (lambda n, c: c / (6.0 * n))
    rows = []
    for c in cs:
        out = {"C": c}
        for j, name in enumerate(("N_opt", "D_opt")):
            def fn(p, j=j, c=c):
                if closed:
                    return chinchilla_optimal(p, c)[j]
                if np.ndim(next(iter(p.values()))):
                    return jax.vmap(lambda q: _numeric_optimal(law, q, c, tokens)[j])(p)
                return _numeric_optimal(law, p, c, tokens)[j]

            est, ci = _with_interval(result, fn, level)
            out[name] = float(est)
            if ci is not None:
                out[f"{name}_lo"], out[f"{name}_hi"] = float(ci[0]), float(ci[1])
        rows.append(out)
    return pd.DataFrame(rows)


def _stage_draws(result, fn) -> np.ndarray | None:
    """``fn(params)`` for every kept draw of ``result`` (``(R, ...)``), or None for a point fit."""
    return None if result is _point_fit(result) else result.samples(fn)


def predict_chain(loss_fit, error_fit, inputs: Mapping, level: float | None = None, *,
                  link_input: str | None = None) -> pd.DataFrame:
    """Chain two fitted laws, e.g. compute -> loss -> downstream error, with intervals carried through.

    ``loss_fit`` predicts an intermediate quantity (the loss) from ``inputs``; ``error_fit`` is a
    law of one input (``link_input``, default its only input) that maps that quantity to the final
    one (Gadre et al. 2024: ``Err = eps - k exp(-gamma L)`` of the predicted C4 loss). Either may
    be a point fit or a result with draws (``BootstrapResult``, ``PosteriorResult``). Draw ``r`` of
    the loss law gives a predicted loss ``L_r``; it is passed through draw ``r`` of the error law
    (draws are paired in order; when the counts differ, the shorter set is reused cyclically; a
    point fit counts as one draw), so the interval of the error reflects both stages.

    Returns a DataFrame with the inputs, ``loss`` and ``error`` (the point fits chained) and, for
    each stage that has draws upstream, ``loss_lo``/``loss_hi`` and ``error_lo``/``error_hi`` at
    ``level`` (default: the results' level, else 0.95).
    """
    lfit, efit = _point_fit(loss_fit), _point_fit(error_fit)
    llaw, elaw = lfit.law, efit.law
    if link_input is None:
        if len(elaw.inputs) != 1:
            raise ValueError(f"error law {elaw.name!r} has inputs {list(elaw.inputs)}; pass link_input=")
        link_input = elaw.inputs[0]
    elif link_input not in elaw.inputs or len(elaw.inputs) != 1:
        raise ValueError(f"link_input must be the single input of {elaw.name!r}: {list(elaw.inputs)}")
    xs = _as_inputs(llaw, inputs)
    shape = next(iter(xs.values())).shape
    if level is None:
        level = getattr(loss_fit, "level", None) or getattr(error_fit, "level", None) or 0.95
    level = float(level)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")

    def loss_fn(p):
        x = {k: jnp.asarray(v) for k, v in xs.items()}
        if np.ndim(next(iter(p.values()))):
            p = {k: jnp.asarray(v).reshape((-1,) + (1,) * len(shape)) for k, v in p.items()}
        return llaw.predict(p, x)

    with precision(lfit.dtype):
        loss = np.asarray(loss_fn({k: jnp.asarray(v) for k, v in lfit.params.items()}))
        err = np.asarray(elaw.predict({k: jnp.asarray(v) for k, v in efit.params.items()},
                                      {link_input: jnp.asarray(loss)}))
    loss_draws = _stage_draws(loss_fit, loss_fn)
    err_params = None if error_fit is efit else error_fit._kept_draws()
    out = pd.DataFrame({k: v.ravel() for k, v in xs.items()})
    out["loss"], out["error"] = loss.ravel(), err.ravel()
    if loss_draws is None and err_params is None:
        return out
    ld = loss[None] if loss_draws is None else loss_draws
    ep = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in (err_params or efit.params).items()}
    r_err = next(iter(ep.values())).shape[0]
    r = max(ld.shape[0], r_err)
    if min(ld.shape[0], r_err) < 1:
        raise ValueError("no usable draws (no converged resamples)")
    ld = ld[np.arange(r) % ld.shape[0]]
    ep = {k: v[np.arange(r) % r_err].reshape((-1,) + (1,) * len(shape)) for k, v in ep.items()}
    with precision(efit.dtype):
        err_draws = np.asarray(elaw.predict({k: jnp.asarray(v) for k, v in ep.items()},
                                            {link_input: jnp.asarray(ld)}))
    q = [(1 - level) / 2, (1 + level) / 2]
    if loss_draws is not None:
        lo, hi = np.quantile(loss_draws, q, axis=0)
        out["loss_lo"], out["loss_hi"] = lo.ravel(), hi.ravel()
    lo, hi = np.quantile(err_draws, q, axis=0)
    out["error_lo"], out["error_hi"] = lo.ravel(), hi.ravel()
    return out
