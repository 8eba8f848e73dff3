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
           "ON_FAILURE", "BOUND_RTOL", "bound_limits", "bound_mask", "params_at_bound", "check_on_failure", "fail", "Interrupted"]


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


def bound_limits(law: Law) -> tuple[np.ndarray, np.ndarray]:
    """Unconstrained thresholds ``(lower, upper)``, shape ``(P,)``, beyond which a parameter is on a
    bound (see :data:`BOUND_RTOL`): ``u < lower`` is on the lower bound, ``u > upper`` on the upper.
    ``-inf`` / ``inf`` where the domain has no such finite bound (``"real"``; the top of ``"positive"``).
    """
    margin = -math.log(BOUND_RTOL)
    lower, upper = [], []
    for p in law.params:
        if p.transform == "positive":
            lower.append(float(np.min(np.log(p.grid))) - margin)
            upper.append(math.inf)
        elif p.transform == "real":
            lower.append(-math.inf)
            upper.append(math.inf)
        else:
            lower.append(-margin)
            upper.append(margin)
    return np.asarray(lower), np.asarray(upper)


def bound_mask(law: Law, u) -> np.ndarray:
    """Per parameter (last axis of ``u[..., P]``): whether it sits on a bound of its domain, or is
    not finite (see :func:`params_at_bound`)."""
    u = np.asarray(u, dtype=float)
    lower, upper = bound_limits(law)
    with np.errstate(invalid="ignore"):
        return (u < lower) | (u > upper) | ~np.isfinite(u)


def params_at_bound(law: Law, u) -> tuple[str, ...]:
    """Names of the parameters whose fitted value sits on a bound (see :data:`BOUND_RTOL`).

    ``"real"`` parameters have no bound. At a bound the objective no longer depends on the
    parameter's unconstrained coordinate, so its value there is arbitrary: the fit is degenerate
    (for example ``E -> 0`` when the data show no floor). Such a point can still be a certified
    minimum of the constrained problem (:func:`jaxscale._solvers.diagnose` checks the KKT conditions).
    """
    hit = bound_mask(law, u)
    return tuple(p.name for p, h in zip(law.params, hit) if h)


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
