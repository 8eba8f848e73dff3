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
from .laws._optimal import check_nd_law, optimal_allocation

__all__ = ["predict", "compute_optimal", "predict_chain", "residual_scale",
           "observation_draws", "predictive_draws", "KINDS"]

#: What a prediction interval covers: the law's mean curve, or a new observation (a new run).
KINDS = ("mean", "observation")


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


def residual_scale(fit) -> tuple[float, str]:
    """The run-to-run scatter of a point fit in its objective's space, and how it was measured.

    Residuals ``r_i`` (``log y_i - log f_i`` for log objectives, ``y_i - f_i`` otherwise) of the
    points with positive weight. Huber fits: the robust ``1.4826 * MAD(r)`` (Huber's loss
    ignores the size of outliers, so their residuals must not set the scale). Squared fits:
    ``sqrt(sum w r^2 / (sum w - P))`` with ``P`` parameters (the usual unbiased estimate).
    """
    keep = fit.data.weights > 0
    with precision(fit.dtype):
        x = {k: jnp.asarray(v) for k, v in fit.data.inputs.items()}
        p = {k: jnp.asarray(v) for k, v in fit.params.items()}
        out = np.asarray(fit.loss.model_output(fit.law, p, x))
    r = (fit.loss.target(fit.data.y) - out)[keep]
    if fit.loss.kind == "huber":
        scale = 1.4826 * float(np.median(np.abs(r - np.median(r))))
        how = "1.4826*MAD of residuals"
    else:
        w = fit.data.weights[keep]
        dof = max(float(w.sum()) - fit.law.n_params, 1.0)
        scale = float(np.sqrt(np.sum(w * r * r) / dof))
        how = "rms of residuals (dof-corrected)"
    space = "log" if fit.loss.space == "log" else "linear"
    return scale, f"{how}, {space} space"


def _add_noise(mean, noise, space):
    return mean * np.exp(noise) if space == "log" else mean + noise


def observation_draws(result, mean_draws: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Turn draws of the law's mean ``(R, ...)`` into draws of a new observation.

    Each draw gets its own noise, added in the space where the fit measured its residuals:
    * a posterior (:func:`~jaxscale.bayes_fit`): noise from the likelihood with that draw's
      ``sigma`` (and ``nu`` for Student-t) on log values;
    * bootstrap draws: Gaussian noise with the point fit's residual scale
      (:func:`residual_scale`; robust for Huber fits), multiplicative for log objectives.
    """
    mean_draws = np.asarray(mean_draws, dtype=float)
    rng = np.random.Generator(np.random.PCG64(seed))
    shape = mean_draws.shape
    extra = (1,) * (len(shape) - 1)
    likelihood = getattr(result, "likelihood", None)
    if likelihood is not None and "sigma" in getattr(result, "draws", {}):
        take = np.arange(shape[0]) % np.shape(result.draws["sigma"])[0]  # draws reused cyclically
        sig = np.asarray(result.draws["sigma"], dtype=float)[take].reshape((-1,) + extra)
        if likelihood == "gaussian":
            noise = sig * rng.standard_normal(shape)
        elif likelihood == "student_t":
            nu = np.asarray(result.draws["nu"], dtype=float)[take].reshape((-1,) + extra)
            noise = sig * rng.standard_t(np.broadcast_to(nu, shape))
        else:  # huber density: truncated-normal core, exponential tails (see HuberDensity)
            loss = result.fit.loss  # bayes_fit's default init for a Huber likelihood: huber(delta)
            noise = _huber_noise(rng, sig, float(loss.delta) if loss.kind == "huber" else 1e-3, shape)
        return mean_draws * np.exp(noise)
    fit = _point_fit(result)
    scale, _ = residual_scale(fit)
    return _add_noise(mean_draws, scale * rng.standard_normal(shape), fit.loss.space)


def _huber_noise(rng, s, delta, shape):
    import math
    from statistics import NormalDist

    sig = np.broadcast_to(s * delta, shape)
    sd = np.sqrt(sig)
    erf = np.vectorize(math.erf)
    core = np.sqrt(2 * np.pi * sig) * erf(delta / np.sqrt(2 * sig))
    tails = 2 * sig / delta * np.exp(-delta ** 2 / (2 * sig))
    in_core = rng.uniform(size=shape) < core / (core + tails)
    nd = NormalDist()
    lo = np.vectorize(nd.cdf)(-delta / sd)
    u = lo + (1 - 2 * lo) * rng.uniform(size=shape)
    r_core = sd * np.vectorize(nd.inv_cdf)(np.clip(u, 1e-300, 1 - 1e-16))
    r_tail = delta + rng.exponential(size=shape) * sig / delta
    sign = np.where(rng.uniform(size=shape) < 0.5, -1.0, 1.0)
    return np.where(in_core, r_core, sign * r_tail)


def _mean_fn(law, xs):
    def fn(p):
        x = {k: jnp.asarray(v) for k, v in xs.items()}
        batched = {k: jnp.asarray(v)[..., None] for k, v in p.items()}  # draws broadcast over inputs
        return law.predict(batched, x) if np.ndim(next(iter(p.values()))) else law.predict(p, x)

    return fn


def predictive_draws(result, inputs: Mapping, *, kind: str = "observation", seed: int = 0):
    """Point prediction and draws of the mean or of a new observation at ``inputs``.

    Returns ``(prediction (n,), draws (R, n) or None, label)``. A point fit has no draws: ``None``
    (use :func:`residual_scale` for an observation band). ``label`` names what the draws are.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    fit = _point_fit(result)
    xs = _as_inputs(fit.law, inputs)
    fn = _mean_fn(fit.law, xs)
    with precision(fit.dtype):
        est = np.asarray(fn({k: jnp.asarray(v) for k, v in fit.params.items()})).reshape(-1)
    if result is fit:
        return est, None, "point fit (no draws)"
    draws = np.asarray(result.samples(fn)).reshape(-1, est.shape[0])
    if draws.shape[0] < 2:
        return est, None, "no usable draws (point fit only)"
    if kind == "mean":
        return est, draws, "mean (parameter uncertainty)"
    return est, observation_draws(result, draws, seed=seed), "observation (parameters + run-to-run scatter)"


def _point_band(fit, est, level):
    """Observation band of a point fit from the residual scale alone (no parameter uncertainty)."""
    from statistics import NormalDist

    scale, _ = residual_scale(fit)
    z = NormalDist().inv_cdf((1 + level) / 2)
    return _add_noise(est, -z * scale, fit.loss.space), _add_noise(est, z * scale, fit.loss.space)


def predict(result, inputs: Mapping, level: float | None = None, *, kind: str = "mean", seed: int = 0) -> pd.DataFrame:
    """The law's prediction at ``inputs`` with an equal-tailed interval.

    ``kind="mean"`` (default): a confidence (credible) interval for the law's curve, from the
    draws of the parameters. ``kind="observation"``: a prediction interval for a new run, which
    adds the run-to-run scatter to every draw (:func:`observation_draws`: the likelihood's noise
    for posteriors, the fitted residual scale for bootstrap draws, robust for Huber fits). A point
    fit has no interval for ``"mean"``; for ``"observation"`` its band comes from the residual
    scale alone (no parameter uncertainty). ``seed`` fixes the noise draws.

    Returns a DataFrame with the inputs, ``prediction`` and, when there is an interval, ``lo`` and
    ``hi`` at ``level`` (default: the result's level, else 0.95) and ``band``, which names the
    kind of interval (also in ``DataFrame.attrs["band"]``).
    """
    fit = _point_fit(result)
    law = fit.law
    xs = _as_inputs(law, inputs)
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if level is None:
        level = getattr(result, "level", None) or 0.95
    level = float(level)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    out = pd.DataFrame({k: v.ravel() for k, v in xs.items()})
    if kind == "mean":
        est, ci = _with_interval(result, _mean_fn(law, xs), level)
        out["prediction"] = est.ravel()
        if ci is None:
            return out
        lo, hi, band = ci[..., 0].ravel(), ci[..., 1].ravel(), f"mean {100 * level:g}%"
    else:
        est, draws, _ = predictive_draws(result, xs, kind=kind, seed=seed)
        out["prediction"] = est
        if draws is None:  # a point fit, or draws none of which converged
            lo, hi = _point_band(fit, est, level)
            band = f"observation {100 * level:g}% (residual scale only)"
        else:
            lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
            band = f"observation {100 * level:g}%"
    out["lo"], out["hi"], out["band"] = lo, hi, band
    out.attrs["band"] = band
    return out


def compute_optimal(result, compute, *, level: float | None = None, tokens_for: Callable | None = None) -> pd.DataFrame:
    """Compute-optimal ``N_opt(C)`` and ``D_opt(C)`` with intervals from the draws.

    Uses the law's closed form (``law.optimal_allocation``, e.g. Chinchilla's) with the default
    cost ``C = 6 N D``; for other laws of ``N`` and ``D``, or a user cost given as
    ``tokens_for(N, C) -> D``, it minimises the law numerically along the iso-compute curve.
    """
    fit = _point_fit(result)
    law = fit.law
    check_nd_law(law)
    cs = np.atleast_1d(np.asarray(compute, dtype=float))
    if np.any(~np.isfinite(cs)) or np.any(cs <= 0):
        raise ValueError("compute must be finite and > 0")
    rows = []
    for c in cs:
        out = {"C": c}
        for j, name in enumerate(("N_opt", "D_opt")):
            def fn(p, j=j, c=c):
                def one(q):
                    return optimal_allocation(law, q, c, tokens_for=tokens_for)[j]

                return jax.vmap(one)(p) if np.ndim(next(iter(p.values()))) else one(p)

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
                  link_input: str | None = None, kind: str = "mean", seed: int = 0) -> pd.DataFrame:
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

    ``kind="observation"`` gives prediction intervals for a new run: each stage's draws get that
    stage's run-to-run scatter (:func:`observation_draws`) before they are passed on, so the
    error band holds the loss scatter propagated through the link plus the link's own scatter.
    A stage given as a point fit adds no scatter of its own there. ``DataFrame.attrs["band"]``
    names the kind.
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
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

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
    if kind == "observation" and loss_draws is not None:
        loss_draws = observation_draws(loss_fit, loss_draws, seed=seed)
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
    if kind == "observation" and err_params is not None:
        err_draws = observation_draws(error_fit, err_draws, seed=seed + 1)
    out.attrs["band"] = f"{kind} {100 * level:g}%"
    q = [(1 - level) / 2, (1 + level) / 2]
    if loss_draws is not None:
        lo, hi = np.quantile(loss_draws, q, axis=0)
        out["loss_lo"], out["loss_hi"] = lo.ravel(), hi.ravel()
    lo, hi = np.quantile(err_draws, q, axis=0)
    out["error_lo"], out["error_hi"] = lo.ravel(), hi.ravel()
    return out
