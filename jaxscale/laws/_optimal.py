"""Compute-optimal allocation of a law of ``N`` and ``D``: the law's closed form when it has one,
else the one numeric minimiser along the iso-compute curve.

:func:`optimal_allocation` is the single entry point for extrapolation and plots; it works on one
parameter set (pure JAX, so ``jax.vmap`` maps it over draws).
"""

from __future__ import annotations

from typing import Callable, Mapping

import jax
import jax.numpy as jnp

__all__ = ["optimal_allocation", "numeric_optimal_allocation", "check_nd_law"]


def check_nd_law(law) -> None:
    """ValueError unless ``law`` is a law of exactly ``N`` and ``D``."""
    if set(law.inputs) != {"N", "D"}:
        raise ValueError(f"compute-optimal allocation needs a law of N and D; {law.name!r} has inputs "
                         f"{list(law.inputs)}")


def optimal_allocation(law, params: Mapping, compute, *, tokens_for: Callable | None = None):
    """``(N_opt, D_opt)`` minimising ``law(N, D)`` at compute ``compute``.

    With the default cost ``C = 6 N D`` (``tokens_for=None``) the law's closed form
    (``law.optimal_allocation``) is used when it has one; otherwise, or for a user cost
    ``tokens_for(N, C) -> D``, :func:`numeric_optimal_allocation`. ``compute`` is a scalar
    (map over budgets and draws with ``jax.vmap``).
    """
    if tokens_for is None and law.optimal_allocation is not None:
        return law.optimal_allocation(params, compute)
    return numeric_optimal_allocation(law, params, compute, tokens_for or (lambda n, c: c / (6.0 * n)))


def numeric_optimal_allocation(law, params: Mapping, compute, tokens_for: Callable, *, n_grid: int = 512,
                               n_newton: int = 12):
    """argmin over ``log N`` of ``log L(N, tokens_for(N, C))``: a dense log grid, then fixed Newton steps.

    The grid spans ``N`` from 1e3 to ``C / (6e3)`` (at least 1e3 tokens); the Newton steps are
    clipped to 0.5 in ``log N`` and skipped where the curvature is not positive. Fixed shapes and
    no branches on traced values, so it jits and vmaps.
    """
    log_c = jnp.log(jnp.asarray(compute))

    def loss(log_n, lc):
        n = jnp.exp(log_n)
        return law.log_predict(params, {"N": n, "D": tokens_for(n, jnp.exp(lc))})

    grid = jnp.linspace(jnp.log(1e3), log_c - jnp.log(6.0) - jnp.log(1e3), n_grid)
    vals = jax.vmap(lambda g: loss(g, log_c))(grid)
    x = grid[jnp.argmin(jnp.where(jnp.isfinite(vals), vals, jnp.inf))]
    d1 = jax.grad(loss)
    d2 = jax.grad(d1)

    def step(x, _):
        h = d2(x, log_c)
        s = jnp.where(h > 0, -d1(x, log_c) / h, 0.0)
        return x + jnp.clip(s, -0.5, 0.5), None

    x, _ = jax.lax.scan(step, x, None, length=n_newton)
    n = jnp.exp(x)
    return n, tokens_for(n, jnp.exp(log_c))
