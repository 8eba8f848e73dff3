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

__all__ = ["predict", "compute_optimal", "chinchilla_optimal"]


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
