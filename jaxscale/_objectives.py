"""Fitting objectives: weighted sums of a per-point loss on residuals.

Every objective has the form ``sum_i w_i * rho(r_i)`` (``reduction="sum"``, the default) or
``sum_i w_i * rho(r_i) / sum_i w_i`` (``reduction="mean"``; same optimum, a different scale) with
residual ``r_i = log y_i - log f_i`` (``space="log"``) or ``r_i = y_i - f_i`` (``space="linear"``).
An ``asymmetry`` ``a`` multiplies ``rho`` on over-estimates (prediction above the observation,
``r < 0``) by ``a``: ``a > 1`` penalises over-estimates more (OLMo-core's ``overestimate_penalty``,
for laws meant as a lower envelope), ``a < 1`` under-estimates; ``a = 1`` is symmetric. Besides ``rho`` each objective gives
``psi = rho'`` and an IRLS curvature ``kappa(r) = psi(r) / r``, which the Levenberg-Marquardt
solver uses for its Gauss-Newton model ``H = J^T diag(w * kappa) J``.

Objectives compare by value, so fits with equal objectives reuse one compiled solver.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

__all__ = ["Objective", "huber", "squared_log", "squared", "get_objective"]


@dataclasses.dataclass(frozen=True)
class Objective:
    """A weighted per-point loss; build one with :func:`huber`, :func:`squared_log` or :func:`squared`."""

    kind: str
    space: str
    delta: float = 0.0
    asymmetry: float = 1.0
    reduction: str = "sum"

    def __post_init__(self):
        if self.kind not in ("huber", "squared"):
            raise ValueError(f"unknown objective kind {self.kind!r}")
        if self.space not in ("log", "linear"):
            raise ValueError(f"objective space must be 'log' or 'linear', got {self.space!r}")
        if self.kind == "huber" and not self.delta > 0:
            raise ValueError(f"huber delta must be > 0, got {self.delta!r}")
        object.__setattr__(self, "asymmetry", float(self.asymmetry))
        if not (self.asymmetry > 0 and np.isfinite(self.asymmetry)):
            raise ValueError(f"asymmetry must be a finite number > 0, got {self.asymmetry!r}")
        if self.reduction not in ("sum", "mean"):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {self.reduction!r}")

    @property
    def name(self) -> str:
        extra = ("" if self.asymmetry == 1.0 else f", asymmetry={self.asymmetry:g}") + \
                ("" if self.reduction == "sum" else ", mean")
        if self.kind == "huber":
            return f"huber(delta={self.delta:g}{extra})" + ("" if self.space == "log" else ", linear")
        base = "squared_log" if self.space == "log" else "squared"
        return f"{base}({extra[2:]})" if extra else base

    def _side(self, r):
        """The asymmetry weight: ``asymmetry`` on over-estimates (``r < 0``), 1 otherwise."""
        if self.asymmetry == 1.0:
            return 1.0
        return jnp.where(r < 0, self.asymmetry, 1.0)

    def target(self, y):
        """The target in this objective's space: ``log y`` for log objectives, ``y`` otherwise."""
        return np.log(y) if self.space == "log" else y

    def model_output(self, law, params, x):
        """The law's output in this objective's space: its ``log`` prediction for log objectives."""
        return law.log_predict(params, x) if self.space == "log" else law.predict(params, x)

    def residual(self, y, model_out):
        """``r = y - f`` where both are in the objective's space (``log`` or linear)."""
        return y - model_out

    def rho(self, r):
        if self.kind == "huber":
            a = jnp.abs(r)
            return self._side(r) * jnp.where(a <= self.delta, 0.5 * r * r, self.delta * (a - 0.5 * self.delta))
        return self._side(r) * r * r

    def psi(self, r):
        if self.kind == "huber":
            return self._side(r) * jnp.clip(r, -self.delta, self.delta)
        return self._side(r) * 2.0 * r

    def kappa(self, r):
        if self.kind == "huber":
            return self._side(r) * jnp.minimum(1.0, self.delta / jnp.maximum(jnp.abs(r), jnp.finfo(r.dtype).tiny))
        return self._side(r) * jnp.full_like(r, 2.0)

    def value(self, y, model_out, weights):
        total = jnp.sum(weights * self.rho(self.residual(y, model_out)))
        return total if self.reduction == "sum" else total / jnp.sum(weights)


def huber(delta: float = 1e-3, *, asymmetry: float = 1.0, reduction: str = "sum", space: str = "log") -> Objective:
    r"""Huber loss on log residuals, summed: :math:`\sum_i w_i\,\mathrm{huber}_\delta(\log y_i - \log \hat y_i)`.

    ``huber_delta(r) = r^2/2`` for ``|r| <= delta`` and ``delta (|r| - delta/2)`` beyond, as in
    Hoffmann et al. (2022) and Epoch AI's replication (Besiroglu et al. 2024), who use
    ``delta = 1e-3``. Summed, not averaged: averaging rescales the objective by ``1/n`` and made
    their optimiser stop early. ``reduction="mean"`` divides by ``sum_i w_i`` (same optimum).

    ``asymmetry`` multiplies the loss of over-estimates (``log y_hat > log y``) by that factor:
    ``asymmetry=2`` penalises over-estimates twice as much, as OLMo-core's
    ``overestimate_penalty``; the fit then leans towards the lower edge of the data.
    """
    return Objective("huber", space, float(delta), float(asymmetry), reduction)


def squared_log(*, asymmetry: float = 1.0, reduction: str = "sum") -> Objective:
    r"""Sum of squared log residuals :math:`\sum_i w_i (\log y_i - \log \hat y_i)^2` (``asymmetry``
    and ``reduction`` as in :func:`huber`)."""
    return Objective("squared", "log", 0.0, float(asymmetry), reduction)


def squared(*, asymmetry: float = 1.0, reduction: str = "sum") -> Objective:
    r"""Sum of squared residuals :math:`\sum_i w_i (y_i - \hat y_i)^2` (``asymmetry`` and
    ``reduction`` as in :func:`huber`)."""
    return Objective("squared", "linear", 0.0, float(asymmetry), reduction)


def get_objective(loss: str | Objective, delta: float | None = None, *, asymmetry: float = 1.0,
                  reduction: str = "sum") -> Objective:
    """Objective from a name: ``"huber"`` (``delta``, default 1e-3), ``"squared_log"`` or ``"squared"``.

    A ``delta`` the loss would ignore is an error, never silently dropped: given with a non-Huber
    loss, or with an :class:`Objective` whose own ``delta`` differs. ``asymmetry`` and
    ``reduction``: see :func:`huber`.
    """
    if isinstance(loss, Objective):
        if delta is not None and float(delta) != float(loss.delta):
            raise ValueError(f"delta={delta!r} conflicts with the loss {loss.name}, which carries its own "
                             f"delta ({loss.delta!r}); pass one or the other")
        return loss
    if loss == "huber":
        return huber(1e-3 if delta is None else delta, asymmetry=asymmetry, reduction=reduction)
    if delta is not None and loss in ("squared_log", "mse_log", "log_squared", "squared", "mse"):
        raise ValueError(f"delta is the Huber loss's threshold; loss={loss!r} has none (drop delta= or use "
                         "loss='huber')")
    if loss in ("squared_log", "mse_log", "log_squared"):
        return squared_log(asymmetry=asymmetry, reduction=reduction)
    if loss in ("squared", "mse"):
        return squared(asymmetry=asymmetry, reduction=reduction)
    raise ValueError(f"unknown loss {loss!r}; choose huber, squared_log or squared")
