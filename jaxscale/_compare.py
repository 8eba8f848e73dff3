"""Paired comparison of two fitting recipes (or two laws) on shared bootstrap draws.

A *recipe* is everything :func:`jaxscale.fit` takes besides the data: ``{"law": "chinchilla",
"loss": "huber", "delta": 1e-4, "fixed": {"E": 1.69}}``. :func:`compare` fits both recipes to the
same points and bootstraps both with the **same resample weights** (same seed, same points), so
resample ``i`` of recipe A and resample ``i`` of recipe B saw exactly the same data. Then

* for every derived quantity (:func:`jaxscale.derive` syntax), the distribution of the paired
  difference ``q_A - q_B`` over resamples where both converged: mean, SE, interval and
  ``P(q_A > q_B)``;
* with ``holdout``: both recipes are fitted on the points below the ``1 - holdout`` quantile of
  the ``scale`` column, bootstrapped on those points with shared weights, and scored on the held-out
  (largest) points by the RMS log error of their predictions; the table gives each recipe's error
  and ``P(A better)``, the share of resamples where A's held-out error is lower.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._bootstrap import bootstrap
from ._config import precision
from ._results import check_level, min_valid_draws, quantile_interval, warn_no_interval
from ._data import as_frame, load_data
from ._derive import parse_derived
from ._fit import fit as point_fit

__all__ = ["compare", "CompareResult", "parse_recipe"]


@dataclasses.dataclass(frozen=True, eq=False)
class CompareResult:
    """Outcome of :func:`compare`.

    Attributes:
      differences: per derived quantity: ``a``, ``b`` (point values), ``diff`` (``a - b``), ``se``,
        ``lo``, ``hi`` (interval of the paired difference), ``p_a_greater``, ``n_pairs``.
      heldout: ``None`` or one row: ``rmsle_a``, ``rmsle_b`` (point fits), their bootstrap means,
        ``p_a_better`` and ``n_pairs``, ``n_train``, ``n_test``.
      boot_a, boot_b: the paired bootstrap results on all points.
    """

    differences: pd.DataFrame
    heldout: pd.DataFrame | None
    boot_a: object
    boot_b: object
    level: float

    def to_dict(self) -> dict:
        def clean(v):
            if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
                return int(v)
            if isinstance(v, (float, np.floating)):
                return float(v) if np.isfinite(v) else None
            return v

        out = {"level": self.level, "differences": {q: {k: clean(v) for k, v in row.items()}
                                                    for q, row in self.differences.to_dict("index").items()}}
        if self.heldout is not None:
            out["heldout"] = {k: clean(v) for k, v in self.heldout.to_dict("records")[0].items()}
        return out

    def __str__(self):
        fmt = lambda v: f"{v:.6g}"  # noqa: E731
        text = (f"paired differences A - B ({100 * self.level:g}% intervals over shared resamples):\n"
                + self.differences.to_string(float_format=fmt))
        if self.heldout is not None:
            text += "\n\nheld-out error (RMS log error on the largest points):\n" + \
                    self.heldout.to_string(index=False, float_format=fmt)
        return text


def parse_recipe(text: str) -> dict:
    """A recipe from text, ``"law=chinchilla,loss=huber,delta=1e-4,fix=E:1.69,tie=beta:alpha"``."""
    out: dict = {}
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not value:
            raise ValueError(f"a recipe is KEY=VALUE pairs separated by commas, got {part!r}")
        if key in ("law", "loss", "solver"):
            out[key] = value
        elif key in ("delta", "asymmetry"):
            out[key] = float(value)
        elif key == "fix":
            name, _, v = value.partition(":")
            out.setdefault("fixed", {})[name] = float(v)
        elif key == "tie":
            name, _, src = value.partition(":")
            out.setdefault("tied", {})[name] = src
        elif key == "bound":
            name, _, rng = value.partition(":")
            lo, _, hi = rng.partition(":")
            out.setdefault("bounds", {})[name] = (float(lo), float(hi))
        else:
            raise ValueError(f"unknown recipe key {key!r}: use law, loss, delta, asymmetry, solver, fix, tie, bound")
    return out


def _fit(recipe, frame, inputs, target, fit_kwargs):
    r = dict(recipe)
    law = r.pop("law", None)
    if law is None:
        raise ValueError("a recipe needs a law")
    if "asymmetry" in r:
        from ._objectives import get_objective

        r["loss"] = get_objective(r.pop("loss", "huber"), r.pop("delta", None), asymmetry=r.pop("asymmetry"))
    return point_fit(law, frame, inputs=_inputs_for(law, inputs), target=target, progress=False,
                     **{"on_failure": "ignore", **fit_kwargs, **r})


def _inputs_for(law, inputs):
    from ._data import parse_mapping
    from .laws import get_law

    m = parse_mapping(inputs)
    if not m:
        return None
    names = get_law(law).inputs
    return {k: v for k, v in m.items() if k in names}


def _boot(fit, n, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bootstrap(fit, n, seed=seed, progress=False, on_failure="ignore")


def _all_draws(boot, fn):
    """``fn`` (for ONE parameter set) on every resample, converged or not: shape ``(R,)``."""
    with precision(boot.fit.dtype):
        return np.asarray(jax.jit(jax.vmap(fn))({k: jnp.asarray(v) for k, v in boot.draws.items()}), dtype=float)


def _rmsle(law, params, x, log_y):
    """RMS log error of the law at ``params`` (a dict of arrays over draws, or scalars) on ``x``."""
    def one(p):
        return jnp.sqrt(jnp.mean((law.log_predict(p, x) - log_y) ** 2))

    with precision():
        p = {k: jnp.asarray(v) for k, v in params.items()}
        x = {k: jnp.asarray(v) for k, v in x.items()}
        return np.asarray(jax.vmap(one)(p) if jnp.ndim(next(iter(p.values()))) else one(p))


def compare(recipe_a: Mapping, recipe_b: Mapping, data, *, derive=None, n_resamples: int = 200, seed: int = 0,
            holdout: float | None = 0.2, scale: str | None = None, inputs=None, target: str = "loss",
            level: float = 0.95, **fit_kwargs) -> CompareResult:
    """Compare two recipes (or laws) on shared bootstrap draws (see the module docstring).

    Args:
      recipe_a, recipe_b: :func:`jaxscale.fit` keyword arguments with a ``law``; text is parsed
        by :func:`parse_recipe`. Missing ``law`` in B: A's law.
      data, inputs, target: as in :func:`jaxscale.fit` (``inputs`` may name more inputs than one
        law needs; each takes its own).
      derive: quantities to compare (default: the parameters both laws share).
      n_resamples, seed: the shared bootstrap (identical weights for A and B).
      holdout, scale: the held-out share of points with the largest ``scale`` column (default:
        the first input's column); ``None`` skips the held-out comparison.
      fit_kwargs: passed to both fits (``starts``, ``n_steps``, ...).
    """
    frame = as_frame(data)
    a = parse_recipe(recipe_a) if isinstance(recipe_a, str) else dict(recipe_a)
    b = parse_recipe(recipe_b) if isinstance(recipe_b, str) else dict(recipe_b)
    if "law" not in a:
        raise ValueError("recipe A needs a law")
    b.setdefault("law", a["law"])
    fit_a, fit_b = _fit(a, frame, inputs, target, fit_kwargs), _fit(b, frame, inputs, target, fit_kwargs)
    if fit_a.data.n != fit_b.data.n:
        raise ValueError("the two recipes kept different points; compare them on the same data")
    boot_a, boot_b = _boot(fit_a, n_resamples, seed), _boot(fit_b, n_resamples, seed)
    if derive is None:
        shared = [k for k in fit_a.params if k in fit_b.params]
        if not shared:
            raise ValueError("the two laws share no parameter: give derive= quantities to compare")
        derive = {k: (lambda p, k=k: p[k]) for k in shared}
    fns_a, fns_b = parse_derived(derive, fit_a.law), parse_derived(derive, fit_b.law)
    both = boot_a.converged & boot_b.converged
    level = check_level(level)
    need = max(min_valid_draws(level), 2)
    if int(both.sum()) < need:
        warn_no_interval(f"too few valid paired resamples ({int(both.sum())} of {both.size}; {need} needed for a "
                         f"{100 * level:g}% interval)")
    rows = {}
    for name in fns_a:
        pa, pb = float(fit_a.estimate(fns_a[name])), float(fit_b.estimate(fns_b[name]))
        d = (_all_draws(boot_a, fns_a[name]) - _all_draws(boot_b, fns_b[name]))[both]
        lo, hi = quantile_interval(d, level) if d.size >= need else (np.nan, np.nan)
        rows[name] = {"a": pa, "b": pb, "diff": pa - pb, "se": float(np.std(d, ddof=1)) if d.size > 1 else np.nan,
                      "lo": float(lo), "hi": float(hi), "p_a_greater": float(np.mean(d > 0)) if d.size else np.nan,
                      "n_pairs": int(d.size)}
    differences = pd.DataFrame.from_dict(rows, orient="index")
    differences.index.name = "quantity"
    heldout = None if holdout is None else _heldout(a, b, frame, inputs, target, holdout, scale, n_resamples, seed,
                                                    fit_kwargs)
    return CompareResult(differences, heldout, boot_a, boot_b, float(level))


def _heldout(a, b, frame, inputs, target, holdout, scale, n_resamples, seed, fit_kwargs):
    from ._data import parse_mapping
    from .laws import get_law

    if not 0 < holdout < 1:
        raise ValueError("holdout must be a fraction in (0, 1)")
    law_a = get_law(a["law"])
    col = scale or parse_mapping(inputs).get(law_a.inputs[0], law_a.inputs[0])
    if col not in frame.columns:
        raise ValueError(f"unknown scale column {col!r}; available columns: {list(frame.columns)}")
    cut = np.quantile(frame[col].to_numpy(dtype=float), 1 - holdout)
    train, test = frame[frame[col] < cut], frame[frame[col] >= cut]
    if len(test) < 1 or len(train) < 2:
        raise ValueError(f"holdout={holdout} leaves {len(train)} training and {len(test)} held-out points")
    out = {}
    errs = {}
    for tag, recipe in (("a", a), ("b", b)):
        f = _fit(recipe, train, inputs, target, fit_kwargs)
        ds = load_data(test, f.law, inputs=_inputs_for(recipe["law"], inputs), target=target)
        log_y = np.log(ds.y)
        out[f"rmsle_{tag}"] = float(_rmsle(f.law, f.params, ds.inputs, log_y))
        boot = _boot(f, n_resamples, seed)
        errs[tag] = (_rmsle(f.law, boot.draws, ds.inputs, log_y), boot.converged)
    both = errs["a"][1] & errs["b"][1]
    ea, eb = errs["a"][0][both], errs["b"][0][both]
    out.update(boot_rmsle_a=float(np.mean(ea)) if ea.size else np.nan,
               boot_rmsle_b=float(np.mean(eb)) if eb.size else np.nan,
               p_a_better=float(np.mean(ea < eb)) if ea.size else np.nan, n_pairs=int(ea.size),
               n_train=int(len(train)), n_test=int(len(test)), scale=col)
    return pd.DataFrame([out])
