"""Learning-rate schedules and the builder of the annealing law's inputs.

Public module: ``jaxscale.laws.schedules.cosine_schedule(...)``. :func:`schedule_inputs` turns
schedules (a mapping of LR arrays) or long-format loss curves (columns ``run``, ``step``, ``lr``,
``loss``) into the inputs ``step`` and ``eta`` of :data:`jaxscale.laws.lr_annealing`.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["constant_schedule", "cosine_schedule", "wsd_schedule", "schedule_inputs"]


def constant_schedule(n_steps: int, peak: float, *, warmup: int = 0) -> np.ndarray:
    """Constant LR ``peak`` for ``n_steps`` steps (after an optional linear warmup from 0)."""
    return _with_warmup(np.full(int(n_steps), float(peak)), peak, warmup)


def cosine_schedule(n_steps: int, peak: float, *, final: float = 0.1, warmup: int = 0) -> np.ndarray:
    """Cosine decay from ``peak`` to ``final * peak`` over ``n_steps`` (after an optional warmup)."""
    t = np.arange(int(n_steps) - warmup) / max(int(n_steps) - warmup - 1, 1)
    lr = peak * (final + (1 - final) * 0.5 * (1 + np.cos(np.pi * t)))
    return _with_warmup(np.concatenate([np.zeros(warmup), lr]), peak, warmup)


def wsd_schedule(n_steps: int, peak: float, *, decay_frac: float = 0.2, final: float = 0.0,
                 warmup: int = 0) -> np.ndarray:
    """Warmup-stable-decay: ``peak`` until the last ``decay_frac`` of steps, then linear to ``final * peak``."""
    n_steps = int(n_steps)
    n_dec = int(round(decay_frac * n_steps))
    lr = np.full(n_steps, float(peak))
    if n_dec > 0:
        lr[n_steps - n_dec:] = peak * (1 - (1 - final) * np.arange(1, n_dec + 1) / n_dec)
    return _with_warmup(lr, peak, warmup)


def _with_warmup(lr: np.ndarray, peak: float, warmup: int) -> np.ndarray:
    if warmup < 0 or warmup >= lr.shape[0]:
        raise ValueError(f"warmup must be in [0, n_steps), got {warmup}")
    lr = lr.astype(float)
    lr[:warmup] = peak * np.arange(1, warmup + 1) / warmup if warmup else lr[:warmup]
    return lr


def schedule_inputs(data, steps=None, *, run: str = "run", step: str = "step", lr: str = "lr",
                    loss: str = "loss") -> dict:
    """Turn learning-rate schedules (and loss curves) into the inputs of :data:`lr_annealing`.

    ``data`` is either

    * a long-format DataFrame with columns ``run``, ``step`` (1, 2, ... consecutive within each
      run), ``lr`` (the LR at every step) and optionally ``loss`` (NaN where not evaluated): every
      row with a finite loss becomes a data point; or
    * a mapping ``{run_name: lr_array}`` of schedules (LR of steps 1..T): points at ``steps``
      (an int array of steps, default every step), for predicting whole curves.

    Returns a dict ready for :func:`jaxscale.fit` / ``FitResult.predict``: ``step`` (n,), ``eta``
    ``(n, T_max)`` (each point's schedule, padded with its last LR), ``run`` (n,), and ``loss``
    (n,) when the data have losses. Nothing passed in is modified.
    """
    import pandas as pd

    if isinstance(data, Mapping):
        scheds = {}
        for name, sched in data.items():
            a = np.array(sched, dtype=float, copy=True)
            if a.ndim != 1 or a.shape[0] < 1 or not np.all(np.isfinite(a)):
                raise ValueError(f"schedule {name!r} must be a non-empty 1-d array of finite LRs")
            scheds[name] = a
        rows = []
        for name, a in scheds.items():
            st = np.arange(1, a.shape[0] + 1) if steps is None else np.asarray(steps, dtype=int)
            if np.any(st < 1) or np.any(st > a.shape[0]):
                raise ValueError(f"steps must lie in [1, {a.shape[0]}] for schedule {name!r}")
            rows += [(name, s, np.nan) for s in st]
        has_loss = False
    elif isinstance(data, pd.DataFrame):
        missing = [c for c in (run, step, lr) if c not in data.columns]
        if missing:
            raise ValueError(f"missing column(s) {missing}; available columns: {list(map(str, data.columns))}")
        has_loss = loss in data.columns
        scheds, rows = {}, []
        for name, g in data.groupby(run, sort=False):
            g = g.sort_values(step)
            st = g[step].to_numpy()
            if not np.array_equal(st, np.arange(1, st.shape[0] + 1)):
                raise ValueError(f"column {step!r} of run {name!r} must hold every step 1, 2, ..., T once "
                                 "(the areas need the LR at every step)")
            a = g[lr].to_numpy(dtype=float)
            if not np.all(np.isfinite(a)):
                raise ValueError(f"column {lr!r} of run {name!r} has NaN or infinite values")
            scheds[name] = a
            ls = g[loss].to_numpy(dtype=float) if has_loss else np.full(st.shape[0], np.nan)
            keep = np.isfinite(ls) if has_loss else np.ones(st.shape[0], bool)
            rows += [(name, s, v) for s, v in zip(st[keep], ls[keep])]
    else:
        raise ValueError(f"data must be a DataFrame or a mapping of schedules, got {type(data).__name__}")
    if not rows:
        raise ValueError("no data points (no finite losses or no steps)")
    t_max = max(a.shape[0] for a in scheds.values())
    padded = {k: np.concatenate([a, np.full(t_max - a.shape[0], a[-1])]) for k, a in scheds.items()}
    out = {"step": np.array([r[1] for r in rows], dtype=float),
           "eta": np.stack([padded[r[0]] for r in rows]),
           "run": np.array([r[0] for r in rows])}
    if has_loss:
        out["loss"] = np.array([r[2] for r in rows], dtype=float)
    return out
