"""Batched, fixed-shape solvers.

Every solver is an Optax ``GradientTransformationExtraArgs`` and runs through one fixed-iteration
``lax.scan`` loop (:func:`minimize`), so thousands of starts run at once under ``jax.vmap`` with no
``while_loop`` waiting for its slowest member and no ``cond`` computing both branches.

* :func:`levenberg_marquardt` (default): Gauss-Newton model ``H = J^T diag(w kappa) J`` from the
  Jacobian of the law's output (``kappa`` is the objective's IRLS curvature, 1 for squared losses,
  ``min(1, delta/|r|)`` for Huber), damped ``(H + lambda D) s = -g``, and masked acceptance: a
  step is kept only if it lowers the objective, otherwise ``lambda`` grows. The Jacobian taken at
  each trial point also gives the trial's objective, and becomes the next step's model when the
  step is kept: one Jacobian per step, nothing else.
* :func:`damped_newton`: the same loop with the exact Hessian of the objective.
* Optax's ``adam`` and ``lbfgs`` through the same loop (:func:`get_solver`).

After the loop, :func:`diagnose` measures each start: objective, gradient norm, and the length of
the Newton step to the nearest stationary point. A start is *converged* when the objective is
finite and either

* the exact Hessian is positive definite and that Newton step is below ``xtol`` (relative to
  ``1 + |u|`` in unconstrained coordinates): the parameters are within ``xtol`` of a local
  minimum by Newton's own estimate; or
* the gradient is zero relative to the data's own scale: ``|sum_i g_i| <= GTOL * sum_i |g_i|``
  for every coordinate, where ``g_i = w_i psi(r_i) J_i`` is point i's pull, and the Hessian has
  no direction of negative curvature. This is the scale-aware test for minima the Newton test
  cannot see: a Huber fit whose points all sit in the linear part of the loss or on its kink
  (4 points, 2 parameters, residuals larger than ``delta``) has a singular Hessian at an exact
  minimum; so does an exact fit of a flat direction, which :func:`jaxscale.fit` reports
  separately (parameters not identified).

A start whose parameters sit on a bound of their domain (``E -> 0``) is converged *at the bound*
when the Karush-Kuhn-Tucker conditions hold there (see :func:`diagnose`): in unconstrained
coordinates such a parameter runs to infinity and neither test above can see the minimum.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

__all__ = [
    "Problem",
    "SolverSpec",
    "levenberg_marquardt",
    "damped_newton",
    "get_solver",
    "minimize",
    "diagnose",
    "Diagnostics",
    "spd_solve",
]


class Problem(NamedTuple):
    """A single fitting problem in unconstrained coordinates ``u``.

    ``model(u)`` returns the law's output in the objective's space (log or linear) at every data
    point; ``value(u)`` the weighted objective.
    """

    model: Callable[[jax.Array], jax.Array]
    y: jax.Array
    weights: jax.Array
    objective: Any

    def value(self, u):
        return self.objective.value(self.y, self.model(u), self.weights)


# Largest size solved by the fully unrolled Cholesky; larger systems use a column loop
# (:func:`_cholesky_solve_loop`). Set by measurement (benchmarks/bench_varpro.py ->
# results/varpro_cpu2.json): at 3 parameters the unrolled solve compiled and ran fastest; above it
# the unrolled program grows as ``P^3`` and its compile time with it.
UNROLL_MAX = 3


def spd_solve(a, b, *, unroll: bool | None = None):
    """Solve ``a x = b`` for a small symmetric positive definite ``a`` by Cholesky.

    Returns NaN (not an error) when ``a`` is not positive definite, so callers can reject the
    step branch-free. Systems of up to ``UNROLL_MAX`` unknowns (or any size with
    ``unroll=True``) use a fully unrolled factorisation, which vectorises well under ``vmap`` for
    millions of tiny systems; larger ones a loop over columns (``O(P)`` program size).

    Neither path calls LAPACK. jaxlib's CPU LAPACK kernels (``potrf``, ``getrf``, ...) split a
    batch over XLA's intra-op thread pool and block until the pieces finish; when two such kernels
    run concurrently in one program and together occupy every pool thread (two on a 2-core
    machine), each waits for work that no free thread can run, and the program deadlocks with idle
    CPU (seen with jaxlib 0.10.2: a batched bootstrap chunk that never returned).
    ``tests/test_threading.py`` checks that the compiled programs contain no LAPACK calls.
    """
    p = a.shape[-1]
    if not (p <= UNROLL_MAX if unroll is None else unroll):
        return _cholesky_solve_loop(a, b)
    L = [[None] * p for _ in range(p)]
    for j in range(p):
        s = a[j, j] - sum(L[j][k] ** 2 for k in range(j))
        L[j][j] = jnp.sqrt(jnp.where(s > 0, s, jnp.nan))
        for i in range(j + 1, p):
            L[i][j] = (a[i, j] - sum(L[i][k] * L[j][k] for k in range(j))) / L[j][j]
    z = [None] * p
    for i in range(p):
        z[i] = (b[i] - sum(L[i][k] * z[k] for k in range(i))) / L[i][i]
    x = [None] * p
    for i in reversed(range(p)):
        x[i] = (z[i] - sum(L[k][i] * x[k] for k in range(i + 1, p))) / L[i][i]
    return jnp.stack(x)


def _cholesky_solve_loop(a, b):
    """Cholesky solve of ``a x = b`` (``a``: ``(P, P)``, ``b``: ``(P,)``) as three ``fori_loop``
    passes over columns/rows, each step a masked ``O(P^2)`` vector update; NaN when ``a`` is not
    positive definite (a non-positive pivot becomes NaN and propagates to every later entry)."""
    p = a.shape[-1]
    idx = jnp.arange(p)

    def column(j, L):  # columns < j of L are final, the rest zero
        lj = L[j]
        s = a[j, j] - jnp.dot(lj, lj)
        d = jnp.sqrt(jnp.where(s > 0, s, jnp.nan))
        col = (a[:, j] - L @ lj) / d
        return L.at[:, j].set(jnp.where(idx > j, col, jnp.where(idx == j, d, 0.0)))

    L = jax.lax.fori_loop(0, p, column, jnp.zeros_like(a))
    diag = jnp.diagonal(L)

    def forward(i, z):  # z[k] final for k < i, zero otherwise
        return z.at[i].set((b[i] - jnp.dot(L[i], z)) / diag[i])

    def backward(k, x):  # i = p-1-k; x[m] final for m > i, zero otherwise
        i = p - 1 - k
        return x.at[i].set((z[i] - jnp.dot(L[:, i], x)) / diag[i])

    z = jax.lax.fori_loop(0, p, forward, jnp.zeros_like(b))
    return jax.lax.fori_loop(0, p, backward, jnp.zeros_like(b))


class DampedState(NamedTuple):
    """State of the damped solvers: damping, and the objective, gradient and curvature model at the
    current point (``value`` is ``inf`` until the first update has evaluated them)."""

    damping: jax.Array
    value: jax.Array
    n_accepted: jax.Array
    grad: jax.Array
    curvature: jax.Array


def _damped_step(evaluate, init_damping, increase, decrease, min_damping, max_damping):
    """Shared Optax transformation for LM and damped Newton: solve, try, accept or damp more.

    ``evaluate(problem, u) -> (value, grad, curvature)``. Each update evaluates the trial point
    once, and that one evaluation serves twice: its value decides acceptance, and its gradient and
    curvature are the model for the next step when the step is kept (a rejected step keeps the
    current ones). So a step costs one Jacobian (or Hessian) evaluation, not that plus a separate
    objective evaluation. The first update evaluates the starting point itself (zero step), so a
    phase of ``n`` steps runs ``n + 1`` updates (:func:`minimize` does this).
    """

    def init(params):
        dtype = params.dtype
        p = params.shape[-1]
        return DampedState(jnp.asarray(init_damping, dtype), jnp.asarray(jnp.inf, dtype), jnp.asarray(0, jnp.int32),
                           jnp.zeros_like(params), jnp.eye(p, dtype=dtype))

    def update(updates, state, params, *, problem, **extra):
        del updates, extra
        value, g, h = state.value, state.grad, state.curvature
        priming = ~jnp.isfinite(value)
        diag = jnp.diagonal(h)
        scale = diag + 1e-9 * jnp.max(jnp.abs(diag)) + jnp.finfo(diag.dtype).tiny
        step = -spd_solve(h + state.damping * jnp.diag(scale), g)
        step = jnp.where(priming, jnp.zeros_like(step), step)
        trial, g_new, h_new = evaluate(problem, params + step)
        ok = jnp.isfinite(trial) & jnp.all(jnp.isfinite(step)) & (trial < value)
        step = jnp.where(ok, step, jnp.zeros_like(step))
        damping = jnp.clip(jnp.where(ok, state.damping * decrease, state.damping * increase),
                           min_damping, max_damping)
        damping = jnp.where(priming, state.damping, damping)
        return step, DampedState(damping, jnp.where(ok, trial, value),
                                 state.n_accepted + (ok & ~priming).astype(jnp.int32),
                                 jnp.where(ok, g_new, g), jnp.where(ok, h_new, h))

    return optax.GradientTransformationExtraArgs(init, update)


def _jacobian(problem, u):
    """``(J, model(u))``: the Jacobian of the law's output, forward mode, and the output itself
    from the same pass."""

    def model_aux(v):
        m = problem.model(v)
        return m, m

    return jax.jacfwd(model_aux, has_aux=True)(u)


def _gauss_newton(problem, u):
    """Objective, gradient and Gauss-Newton curvature ``J^T diag(w kappa) J`` at ``u``."""
    jac, m = _jacobian(problem, u)
    r = problem.objective.residual(problem.y, m)
    w = problem.weights
    # Parameters first, points last: the reductions run along the contiguous axis. Elementwise
    # products and one reduction vectorise better under vmap on CPU than a batched matmul
    # (4,500 Chinchilla starts on 240 points: 2.2 s for the whole grid fit against 3.2 s with the
    # points-first layout).
    jt = jac.T
    g = -jnp.sum(jt * (w * problem.objective.psi(r))[None, :], axis=-1)
    h = jnp.sum(jt[:, None, :] * jt[None, :, :] * (w * problem.objective.kappa(r))[None, None, :], axis=-1)
    return problem.objective.value(problem.y, m, w), g, h


def value_grad_hessian(fn, u):
    """``(fn(u), grad, Hessian)`` of a scalar function of a few parameters, forward over forward.

    For the handful of parameters of a law this is cheaper than reverse mode (``jax.hessian`` is
    forward over reverse): 61 against 86 ms for the 4,500 Chinchilla grid starts on 240 points.
    """

    def grad_aux(v):
        def value_aux(w):
            f = fn(w)
            return f, f

        g, f = jax.jacfwd(value_aux, has_aux=True)(v)
        return g, (g, f)

    h, (g, f) = jax.jacfwd(grad_aux, has_aux=True)(u)
    return f, g, h


def _exact_hessian(problem, u):
    return value_grad_hessian(problem.value, u)


def levenberg_marquardt(init_damping=1e-3, increase=4.0, decrease=0.3, min_damping=1e-12,
                        max_damping=1e12) -> optax.GradientTransformationExtraArgs:
    """Levenberg-Marquardt with Marquardt scaling and masked acceptance, as an Optax transformation.

    ``update`` needs the extra arguments ``value`` (objective at ``params``) and ``problem``
    (a :class:`Problem`); it returns the accepted step (zero when rejected).
    """
    return _damped_step(_gauss_newton, init_damping, increase, decrease, min_damping, max_damping)


def damped_newton(init_damping=1e-3, increase=4.0, decrease=0.3, min_damping=1e-12,
                  max_damping=1e12) -> optax.GradientTransformationExtraArgs:
    """Newton's method on the exact Hessian with Marquardt damping and masked acceptance."""
    return _damped_step(_exact_hessian, init_damping, increase, decrease, min_damping, max_damping)


@dataclasses.dataclass(frozen=True)
class SolverSpec:
    """A hashable solver description: ``name`` and keyword options (compared by value)."""

    name: str
    options: tuple = ()

    def phases(self, n_steps: int) -> tuple:
        """``((transformation, steps), ...)`` for :func:`minimize`.

        ``lm`` runs ``n_steps`` Levenberg-Marquardt steps, then ``polish_steps`` (default 8)
        damped-Newton steps on the exact Hessian, which converge quadratically once LM has found
        the basin (Huber's Gauss-Newton model alone converges only linearly).
        """
        opts = dict(self.options)
        if self.name == "lm":
            polish = int(opts.pop("polish_steps", 8))
            return ((levenberg_marquardt(**opts), n_steps), (damped_newton(), polish))
        if self.name == "newton":
            return ((damped_newton(**opts), n_steps),)
        if self.name == "adam":
            return ((optax.with_extra_args_support(optax.adam(opts.pop("learning_rate", 1e-2), **opts)), n_steps),)
        if self.name == "lbfgs":
            return ((optax.lbfgs(**opts), n_steps),)
        raise ValueError(f"unknown solver {self.name!r}; choose lm, newton, adam or lbfgs")

    @property
    def default_steps(self) -> int:
        return {"lm": 40, "newton": 60, "adam": 3000, "lbfgs": 300}[self.name]


def get_solver(solver="lm", **options) -> SolverSpec:
    """A :class:`SolverSpec` from a name (``lm``, ``newton``, ``adam``, ``lbfgs``) and options."""
    if isinstance(solver, SolverSpec):
        return solver
    if solver not in ("lm", "newton", "adam", "lbfgs"):
        raise ValueError(f"unknown solver {solver!r}; choose lm, newton, adam or lbfgs")
    return SolverSpec(solver, tuple(sorted(options.items())))


def _run_phase(tx, problem: Problem, u0, n_steps: int):
    state = tx.init(u0)
    if isinstance(state, DampedState):
        # Monotone solvers carry the objective and their step model in their state; the first
        # update evaluates the start (see _damped_step), so n_steps steps take n_steps + 1 updates.

        def damped_body(carry, _):
            u, st = carry
            updates, st = tx.update(jnp.zeros_like(u), st, u, problem=problem)
            return (u + updates, st), None

        (u, state), _ = jax.lax.scan(damped_body, (u0, state), None, length=n_steps + 1)
        return u, state.value

    value_and_grad = jax.value_and_grad(problem.value)

    def body(carry, _):
        u, st, best_u, best_f = carry
        f, g = value_and_grad(u)
        better = jnp.isfinite(f) & (f < best_f)
        best_u = jnp.where(better, u, best_u)
        best_f = jnp.where(better, f, best_f)
        g = jnp.where(jnp.isfinite(g), g, 0.0)
        updates, st = tx.update(g, st, u, value=f, grad=g, value_fn=problem.value)
        return (optax.apply_updates(u, updates), st, best_u, best_f), None

    inf = jnp.asarray(jnp.inf, u0.dtype)
    (u, _, best_u, best_f), _ = jax.lax.scan(body, (u0, state, u0, inf), None, length=n_steps)
    f = problem.value(u)
    better = jnp.isfinite(f) & (f < best_f)
    return jnp.where(better, u, best_u), jnp.where(better, f, best_f)


def minimize(phases, problem: Problem, u0):
    """Run fixed-length phases ``((tx, n_steps), ...)`` in turn, each a ``lax.scan``.

    Every phase starts where the previous one ended. Returns ``(u_best, f_best)``: the point
    with the lowest finite objective seen (the start included), so solvers that do not descend
    monotonically (Adam) lose nothing.
    """
    u, f = u0, problem.value(u0)
    for tx, n_steps in phases:
        if n_steps <= 0:
            continue
        u_new, f_new = _run_phase(tx, problem, u, n_steps)
        better = jnp.isfinite(f_new) & ~(f_new > f)
        u, f = jnp.where(better, u_new, u), jnp.where(better, f_new, f)
    return u, f


class Diagnostics(NamedTuple):
    """Per-start status: objective, max-abs gradient, Newton step length, converged flag."""

    objective: jax.Array
    grad_norm: jax.Array
    newton_step: jax.Array
    converged: jax.Array


#: Relative gradient below which a point is stationary whatever the Hessian (see the module docstring).
GTOL = 1e-6


#: How far (in unconstrained units) beyond its bound threshold an active coordinate is pulled back
#: before its one-sided derivative is taken: far enough to be on the bound (``exp(-10)`` of the
#: threshold), near enough that ``d theta / d u`` does not underflow to zero.
KKT_DEPTH = 10.0


def diagnose(problem: Problem, u, xtol: float, lower=None, upper=None) -> Diagnostics:
    """Measure how close ``u`` is to a local minimum (see the module docstring).

    ``lower`` / ``upper`` (``(P,)``, unconstrained; ``-inf`` / ``inf`` where there is no bound):
    coordinates beyond them sit on a bound of the parameter's domain (the *active set*, see
    :func:`jaxscale._status.bound_limits`). There the objective stops depending on ``u``, so the
    Newton test cannot see a minimum; instead a start with an active set is converged *at a bound*
    when the Karush-Kuhn-Tucker conditions hold:

    * every active parameter's derivative in natural coordinates pushes into its bound:
      ``d obj / d theta_i >= -GTOL * pull_i`` on a lower bound (``<= GTOL * pull_i`` on an upper),
      with ``pull_i`` the sum of the points' separate pulls, as in the stationarity test. The
      chain rule ``d theta / d u > 0`` keeps the sign, and the ratio to the pull is the same in
      either coordinates; it is taken with the coordinate pulled back to ``KKT_DEPTH`` beyond its
      threshold so that ``d theta / d u`` has not underflowed, and that pull must be a normal
      float (above ``tiny / eps``): an active parameter whose term underflowed entirely has no
      measurable derivative and is not certified;
    * the free parameters pass the interior test (Newton step below ``xtol`` or scale-aware
      stationarity) on the free block, the active rows and columns masked out.

    A start that passes the interior test on all coordinates is converged as before.
    """
    f, g, h = value_grad_hessian(problem.value, u)
    p = u.shape[-1]
    eye = jnp.eye(p, dtype=h.dtype)
    tiny = jnp.finfo(h.dtype).tiny

    def interior(h, g, pull, mask):
        """(Newton step length, stationary) on the coordinates ``mask``, the others masked out."""
        both = mask[:, None] & mask[None, :]
        hm = jnp.where(both, h, eye)
        gm = jnp.where(mask, g, 0.0)
        step = spd_solve(hm, gm)
        rel = _masked_max(jnp.abs(step) / (1.0 + jnp.abs(u)), mask)
        g_rel = _masked_max(jnp.abs(g) / (pull + tiny), mask)
        diag = jnp.where(mask, jnp.abs(jnp.diagonal(h)), 0.0)
        psd = jnp.all(jnp.isfinite(spd_solve(hm + (1e-10 * jnp.max(diag) + tiny) * eye, gm)))
        stationary = jnp.isfinite(g_rel) & (g_rel <= GTOL) & psd
        return rel, stationary

    def pulls(v):
        # scale-aware stationarity: the gradient against the sum of the points' separate pulls
        jac, m = _jacobian(problem, v)
        r = problem.objective.residual(problem.y, m)
        return jnp.sum(jnp.abs((problem.weights * problem.objective.psi(r))[:, None] * jac), axis=0)

    everything = jnp.ones((p,), dtype=bool)
    if lower is None and upper is None:
        rel, stationary = interior(h, g, pulls(u), everything)
        return Diagnostics(f, _grad_norm(g), rel, jnp.isfinite(f) & ((rel <= xtol) | stationary))
    lower = jnp.full((p,), -jnp.inf, u.dtype) if lower is None else jnp.asarray(lower, u.dtype)
    upper = jnp.full((p,), jnp.inf, u.dtype) if upper is None else jnp.asarray(upper, u.dtype)
    on_lower, on_upper = u < lower, u > upper
    active = on_lower | on_upper
    # derivatives of the active coordinates where d theta / d u has not underflowed (u itself when
    # no coordinate is deep beyond its threshold)
    u_k = jnp.where(on_lower, jnp.maximum(u, lower - KKT_DEPTH), jnp.where(on_upper, jnp.minimum(u, upper + KKT_DEPTH), u))
    pull = pulls(u)
    rel, stationary = interior(h, g, pull, everything)
    # With a coordinate on a bound the objective is flat along it, so "stationary" there says
    # nothing (a term that underflowed entirely, A / N^alpha with alpha = 300, has zero gradient
    # and zero pull): such a start is certified by the KKT test below or not at all.
    interior_ok = (rel <= xtol) | (stationary & ~jnp.any(active))
    pull_k = pulls(u_k)
    ratio = jax.grad(problem.value)(u_k) / (pull_k + tiny)
    # An active parameter whose pull is zero or subnormal there has no measurable derivative (its
    # term underflowed, e.g. A / N^alpha with alpha = 300): nothing certifies it.
    measurable = pull_k > tiny / jnp.finfo(h.dtype).eps
    pushes = (jnp.where(on_lower, ratio >= -GTOL, True) & jnp.where(on_upper, ratio <= GTOL, True)
              & jnp.where(active, measurable, True))
    kkt = jnp.any(active) & jnp.all(pushes & jnp.isfinite(ratio))
    rel_free, stationary_free = interior(h, g, pull, ~active)
    at_bound_ok = kkt & ((rel_free <= xtol) | stationary_free)
    # the reported Newton step: the free block's for a start certified on a bound
    rel = jnp.where(at_bound_ok & ~interior_ok, rel_free, rel)
    converged = jnp.isfinite(f) & (interior_ok | at_bound_ok)
    return Diagnostics(f, _grad_norm(g), rel, converged)


def _masked_max(x, mask):
    """Largest ``x`` over ``mask`` (0 for an empty mask), ``inf`` when any of them is not finite.

    The finiteness test is explicit: XLA's CPU max reduction drops NaN for large batches (a vmapped
    ``max`` over 4,500 rows of 5 returned 1.0 for ``[1, 1, nan, 1, 1]``; over 256 rows, NaN), so a
    NaN Newton step read as 0 and certified a broken start, depending on the batch size.
    """
    finite = jnp.all(jnp.where(mask, jnp.isfinite(x), True))
    return jnp.where(finite, jnp.max(jnp.where(mask, x, 0.0)), jnp.inf)


def _grad_norm(g):
    """Max-abs gradient; NaN when any component is not finite (see :func:`_masked_max`)."""
    return jnp.where(jnp.all(jnp.isfinite(g)), jnp.max(jnp.abs(g)), jnp.nan)
