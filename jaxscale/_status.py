"""Status and failure policy: the warnings and error every fit, bootstrap and posterior uses.

``on_failure`` is ``"warn"`` (default), ``"raise"`` (:class:`ConvergenceError`) or ``"ignore"``;
:func:`fail` applies it. Every failure is still recorded on the result (its ``status``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .laws import Law

__all__ = ["ConvergenceWarning", "IdentifiabilityWarning", "PlanWarning", "BoundWarning", "BootstrapWarning", "SamplingWarning", "ConvergenceError",
           "ON_FAILURE", "BOUND_RTOL", "params_at_bound", "check_on_failure", "fail", "Interrupted"]


class ConvergenceWarning(UserWarning):
    """The best start of a fit did not converge."""


class IdentifiabilityWarning(UserWarning):
    """The data do not identify some parameters: the objective is flat along them at the optimum."""


class PlanWarning(UserWarning):
    """Says which plan a fit chose by itself (for example starts chosen on a subsample of a large data set)."""


class BoundWarning(UserWarning):
    """A fitted parameter sits on a bound of its domain (see :func:`params_at_bound`)."""


class ConvergenceError(RuntimeError):
    """A fit, bootstrap or posterior failed and the caller asked for ``on_failure="raise"``."""


ON_FAILURE = ("warn", "raise", "ignore")

#: A parameter is "on a bound" when its unconstrained value is more than ``log(1e6)`` beyond the
#: bound side: a positive parameter below 1e-6 times the smallest value of its start grid, a
#: bounded ``(lo, hi)`` parameter within 1e-6 (relative to ``hi - lo``) of ``lo`` or ``hi``.
BOUND_RTOL = 1e-6


def params_at_bound(law: Law, u) -> tuple[str, ...]:
    """Names of the parameters whose fitted value sits on a bound (see :data:`BOUND_RTOL`).

    ``"real"`` parameters have no bound. At a bound the objective no longer depends on the
    parameter's unconstrained coordinate, so its value there is arbitrary: the fit is degenerate
    (for example ``E -> 0`` when the data show no floor).
    """
    u = np.asarray(u, dtype=float)
    margin = -math.log(BOUND_RTOL)
    out = []
    for i, p in enumerate(law.params):
        if p.transform == "positive":
            hit = u[i] < float(np.min(np.log(p.grid))) - margin
        elif p.transform == "real":
            hit = False
        else:
            hit = abs(u[i]) > margin
        if hit or not np.isfinite(u[i]):
            out.append(p.name)
    return tuple(out)


def check_on_failure(on_failure: str) -> str:
    if on_failure not in ON_FAILURE:
        raise ValueError(f"on_failure must be one of {ON_FAILURE}, got {on_failure!r}")
    return on_failure


def fail(message: str, category, on_failure: str, stacklevel: int = 3) -> None:
    """Warn, raise :class:`ConvergenceError` or stay silent, as the caller chose."""
    if on_failure == "raise":
        raise ConvergenceError(message)
    if on_failure == "warn":
        warnings.warn(message, category, stacklevel=stacklevel + 1)



class BootstrapWarning(UserWarning):
    """Some bootstrap resamples did not converge (they are left out of intervals and SEs)."""


class SamplingWarning(UserWarning):
    """NUTS diagnostics failed: r-hat above 1.01 or divergent transitions."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a batch solve: a ``KeyboardInterrupt`` that says how far the work got.

    ``done`` of ``total`` items (``what``: starts, groups, resamples) had finished; nothing is
    returned and nothing the caller passed was changed."""

    def __init__(self, done: int, total: int, what: str):
        super().__init__(f"interrupted after {done:,} of {total:,} {what}")
        self.done, self.total, self.what = int(done), int(total), what
