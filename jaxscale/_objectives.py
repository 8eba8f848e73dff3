"""Fitting objectives: weighted sums of a per-point loss on residuals.

Every objective has the form ``sum_i w_i * rho(r_i)`` with residual ``r_i = log y_i - log f_i``
(``space="log"``) or ``r_i = y_i - f_i`` (``space="linear"``). Besides ``rho`` each objective gives
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

    def __post_init__(self):
        if self.kind not in ("huber", "squared"):
            raise ValueError(f"unknown objective kind {self.kind!r}")
        if self.space not in ("log", "linear"):
            raise ValueError(f"objective space must be 'log' or 'linear', got {self.space!r}")
        if self.kind == "huber" and not self.delta > 0:
            raise ValueError(f"huber delta must be > 0, got {self.delta!r}")

    @property
    def name(self) -> str:
        if self.kind == "huber":
            return f"huber(delta={self.delta:g})" + ("" if self.space == "log" else ", linear")
        return "squared_log" if self.space == "log" else "squared"

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
            return jnp.where(a <= self.delta, 0.5 * r * r, self.delta * (a - 0.5 * self.delta))
        return r * r

    def psi(self, r):
        if self.kind == "huber":
            return jnp.clip(r, -self.delta, self.delta)
        return 2.0 * r

    def kappa(self, r):
        if self.kind == "huber":
            return jnp.minimum(1.0, self.delta / jnp.maximum(jnp.abs(r), jnp.finfo(r.dtype).tiny))
        return jnp.full_like(r, 2.0)

    def value(self, y, model_out, weights):
        return jnp.sum(weights * self.rho(self.residual(y, model_out)))


def huber(delta: float = 1e-3, *, space: str = "log") -> Objective:
    r"""Huber loss on log residuals, summed: :math:`\sum_i w_i\,\mathrm{huber}_\delta(\log y_i - \log \hat y_i)`.

    ``huber_delta(r) = r^2/2`` for ``|r| <= delta`` and ``delta (|r| - delta/2)`` beyond, as in
    Hoffmann et al. (2022) and Epoch AI's replication (Besiroglu et al. 2024), who use
    ``delta = 1e-3``. Summed, not averaged: averaging rescales the objective by ``1/n`` and made
    their optimiser stop early.
    """
    return Objective("huber", space, float(delta))


def squared_log() -> Objective:
    r"""Sum of squared log residuals :math:`\sum_i w_i (\log y_i - \log \hat y_i)^2`."""
    return Objective("squared", "log")


def squared() -> Objective:
    r"""Sum of squared residuals :math:`\sum_i w_i (y_i - \hat y_i)^2`."""
    return Objective("squared", "linear")


def get_objective(loss: str | Objective, delta: float | None = None) -> Objective:
    """Objective from a name: ``"huber"`` (``delta``, default 1e-3), ``"squared_log"`` or ``"squared"``.

    A ``delta`` the loss would ignore is an error, never silently dropped: given with a non-Huber
    loss, or with an :class:`Objective` whose own ``delta`` differs.
    """
    if isinstance(loss, Objective):
        if delta is not None and float(delta) != float(loss.delta):
            raise ValueError(f"delta={delta!r} conflicts with the loss {loss.name}, which carries its own "
                             f"delta ({loss.delta!r}); pass one or the other")
        return loss
    if loss == "huber":
        return huber(1e-3 if delta is None else delta)
    if delta is not None and loss in ("squared_log", "mse_log", "log_squared", "squared", "mse"):
        raise ValueError(f"delta is the Huber loss's threshold; loss={loss!r} has none (drop delta= or use "
                         "loss='huber')")
    if loss in ("squared_log", "mse_log", "log_squared"):
        return squared_log()
    if loss in ("squared", "mse"):
        return squared()
    raise ValueError(f"unknown loss {loss!r}; choose huber, squared_log or squared")
