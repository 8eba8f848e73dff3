"""Generic fixed-iteration Newton root solver with implicit-function derivatives.

Used by the implicit laws (``m4``, ``kaplan_ns``): the primal runs a static number of Newton steps
in a ``lax.fori_loop`` (no ``while_loop``, no Python branching on traced values), derivatives come
from the implicit function theorem through ``jax.custom_jvp``, so the laws jit, vmap and
differentiate (to any order) like closed-form ones.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["newton_root"]


def newton_root(residual, init, n_iter):
    """``solve(*args)``: the root ``u`` of the elementwise ``residual(u, *args) = 0``.

    The primal runs ``n_iter`` Newton steps from ``init(*args)`` in a ``lax.fori_loop`` (static
    trip count). Derivatives come from the implicit function theorem through ``custom_jvp``,
    ``du = -(dG/dargs . dargs) / (dG/du)``, not from unrolling the loop: they are exact at the
    root, to every order (the rule is itself differentiable and calls ``solve`` again), and the
    loop is never differentiated, which keeps compile times low. ``residual`` must be
    elementwise in ``u`` (diagonal Jacobian) and increasing or decreasing in it.
    """

    @jax.custom_jvp
    def solve(*args):
        def step(_, u):
            g, dg = jax.jvp(lambda v: residual(v, *args), (u,), (jnp.ones_like(u),))
            return u - g / dg

        return jax.lax.fori_loop(0, n_iter, step, init(*args))

    @solve.defjvp
    def solve_jvp(primals, tangents):
        u = solve(*primals)
        g_u = jax.jvp(lambda v: residual(v, *primals), (u,), (jnp.ones_like(u),))[1]
        g_args = jax.jvp(lambda *a: residual(u, *a), primals, tangents)[1]
        return u, -g_args / g_u

    return solve
