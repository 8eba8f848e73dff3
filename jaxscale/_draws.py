"""Shared behaviour of results that carry draws of the parameters (bootstrap, posterior).

Extrapolation (:mod:`jaxscale.extrapolate`) only needs ``fit``, ``level``, ``samples(fn)`` and
``interval(fn, level)``, so bootstrap and posterior results plug into it the same way.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from ._config import precision


class DrawsMixin:
    """Needs attributes ``fit`` (the point fit), ``level`` and a method ``_kept_draws()``
    returning ``{name: array (R,)}`` of the draws that count (converged resamples, or all
    posterior draws)."""

    @property
    def law(self):
        return self.fit.law

    def samples(self, fn: Callable[[Mapping], np.ndarray] | None = None) -> np.ndarray:
        """Draws of the parameters (``(R, P)``) or of ``fn(params)`` (``(R, ...)``).

        ``fn`` receives a dict of arrays over draws and must broadcast (NumPy or JAX ops).
        """
        params = self._kept_draws()
        if fn is None:
            return np.stack([params[k] for k in self.law.param_names], axis=-1)
        with precision(self.fit.dtype):
            return np.asarray(fn(params))

    def percentile_interval(self, fn=None, level: float | None = None) -> np.ndarray:
        """Equal-tailed ``[lo, hi]`` (last axis) at ``level`` from the draws."""
        level = self.level if level is None else float(level)
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        draws = self.samples(fn)
        if draws.shape[0] < 2:
            raise ValueError("fewer than 2 usable draws: no interval")
        alpha = (1 - level) / 2
        return np.moveaxis(np.quantile(draws, [alpha, 1 - alpha], axis=0), 0, -1)

    def se(self, fn=None) -> np.ndarray:
        """Standard deviation of the draws (ddof=1): the bootstrap SE or posterior sd."""
        return np.std(self.samples(fn), axis=0, ddof=1)

    def interval_table(self, level: float | None = None, intervals: np.ndarray | None = None):
        import pandas as pd

        level = self.level if level is None else level
        ci = self.percentile_interval(level=level) if intervals is None else intervals
        pct = f"{100 * level:g}%"
        return pd.DataFrame(
            {"value": [self.fit.params[k] for k in self.law.param_names], "se": self.se(),
             f"lo {pct}": ci[:, 0], f"hi {pct}": ci[:, 1]},
            index=pd.Index(self.law.param_names, name="param"),
        )

    def interval_dict(self, level: float | None = None) -> dict:
        ci = self.percentile_interval(level=level)
        se = self.se()
        names = self.law.param_names
        return {"intervals": {k: [float(ci[i, 0]), float(ci[i, 1])] for i, k in enumerate(names)},
                "se": {k: float(se[i]) for i, k in enumerate(names)},
                "level": self.level if level is None else level}
