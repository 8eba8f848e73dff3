r"""Variable projection: solve a law's linear coefficients in closed form, search only its exponents.

Many scaling laws are linear in some of their parameters once the others are fixed: Chinchilla's
:math:`L = E + A N^{-\alpha} + B D^{-\beta}` is :math:`L = X(\alpha, \beta)\,c` with design matrix
:math:`X = [1, N^{-\alpha}, D^{-\beta}]` and coefficients :math:`c = (E, A, B)`. A law declares this
with ``linear=`` (the names of the linear parameters) and ``basis=`` (``basis(params, inputs) ->
(n, k)`` design matrix, columns in ``linear`` order, from the nonlinear parameters alone).

For such laws the start search runs over the nonlinear parameters only (Golub and Pereyra 1973,
"The differentiation of pseudo-inverses and nonlinear least squares problems whose variables
separate"; used for scaling laws by Open-Athena's VPNLS and simple-scaling-laws), in three
fixed-shape, batched stages:

1. **Screen** an exponent grid (``32 x 32`` for two nonlinear parameters, spanning each one's
   start grid): at every grid point the coefficients solve the weighted least-squares problem
   :math:`\min_{c \ge 0} \sum_i w_i (1 - X_i c / y_i)^2` (relative residuals, the first-order
   expansion of the log residual; plain residuals for linear-space objectives). The normal
   equations of every grid point and every data set come from one matrix product, and the
   non-negative least squares of ``k <= 4`` coefficients is solved exactly by trying every active
   set (``2^k`` small solves, no loop) and keeping the best feasible one.
2. **Refine** the best ``n_screen`` grid points: a few Gauss-Newton / IRLS steps on the
   coefficients for the user's objective (Huber weights ``min(1, delta/|r|)`` on log residuals),
   still non-negative, keeping the best iterate; each is scored by the user's objective itself.
3. The best ``n_best`` become full-parameter starts, which the batched Levenberg-Marquardt engine
   polishes on the user's objective (:mod:`jaxscale._engine`), with the usual per-start status.

Coefficients of ``"positive"`` parameters are constrained to be >= 0 (a coefficient at 0 is moved
to a negligible positive value, ``1e-8`` of the data's scale, so that its logarithm exists);
``"real"`` ones are free. ``tests/test_varpro.py`` checks that this plan reaches the exhaustive
grid's optimum on every real data set we hold.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from ._config import precision, resolve_dtype
from ._objectives import Objective
from ._solvers import spd_solve

__all__ = ["VarPro", "resolve_plan", "supports_varpro", "check_linear_structure", "exponent_grid", "varpro_starts",
           "nnls_small"]

_GRID_POINTS = 1024  # grid points in all (32 x 32 for two nonlinear parameters)
_MAX_PER_AXIS = 256
_MAX_LINEAR = 4
_CLAMP = 1e-8
_FUSED_MAX_BATCH = 8


@dataclasses.dataclass(frozen=True)
class VarPro:
    """Settings of the variable-projection plan (``fit(..., plan=VarPro(...))``).

    Args:
      grid_size: screening grid points per nonlinear parameter (default: ``1024 ** (1/q)`` for
        ``q`` nonlinear parameters, at most 256; 32 x 32 for two).
      n_screen: best grid points refined by IRLS on the user's objective.
      n_best: refined points handed to Levenberg-Marquardt as full-parameter starts (the fit's
        starts; a bootstrap uses ``n_best_resample`` per resample).
      n_best_resample: starts per bootstrap resample.
      irls_steps: IRLS / Gauss-Newton steps on the linear coefficients.
    """

    grid_size: int | None = None
    n_screen: int = 16
    n_best: int = 4
    n_best_resample: int = 1
    irls_steps: int = 4

    def __post_init__(self):
        for name in ("n_screen", "n_best", "n_best_resample"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"VarPro.{name} must be >= 1")
        if self.irls_steps < 0:
            raise ValueError("VarPro.irls_steps must be >= 0")
        if self.grid_size is not None and self.grid_size < 2:
            raise ValueError("VarPro.grid_size must be >= 2")

    name = "varpro"


def resolve_plan(plan, law, starts=None):
    """``"grid"`` or a :class:`VarPro` from ``plan`` (``"auto"``, ``"grid"``, ``"varpro"`` or a
    :class:`VarPro`).

    ``"auto"`` (the default of :func:`jaxscale.fit`) is variable projection for laws that declare
    linear parameters when no ``starts`` were given, else the start grid (the law's exhaustive
    Cartesian grid, or the given starts).
    """
    if isinstance(plan, VarPro):
        out = plan
    elif plan == "varpro":
        out = VarPro()
    elif plan == "grid":
        return "grid"
    elif plan == "auto":
        return VarPro() if supports_varpro(law) and starts is None else "grid"
    else:
        raise ValueError(f"unknown plan {plan!r}; choose 'auto', 'grid', 'varpro' or a jaxscale.VarPro")
    if not supports_varpro(law):
        raise ValueError(f"plan='varpro' needs a law with linear parameters and a basis; {law.name!r} declares none")
    if starts is not None:
        raise ValueError("starts= and plan='varpro' exclude each other: variable projection makes its own starts")
    return out


def supports_varpro(law) -> bool:
    """Whether ``law`` declares linear parameters and a basis (``Law(linear=..., basis=...)``)."""
    return bool(getattr(law, "linear", ())) and getattr(law, "basis", None) is not None


def check_linear_structure(law) -> None:
    """Raise ``ValueError`` when a law's ``linear``/``basis`` declaration cannot be used."""
    linear = tuple(law.linear)
    names = law.param_names
    unknown = [n for n in linear if n not in names]
    if unknown:
        raise ValueError(f"linear parameter(s) {unknown} are not parameters of law {law.name!r}")
    if len(set(linear)) != len(linear):
        raise ValueError(f"duplicate linear parameters in law {law.name!r}: {linear}")
    if law.basis is None:
        raise ValueError(f"law {law.name!r} declares linear parameters but no basis function")
    if not linear:
        raise ValueError(f"law {law.name!r} has a basis function but declares no linear parameters")
    if len(linear) > _MAX_LINEAR:
        raise ValueError(f"at most {_MAX_LINEAR} linear parameters are supported, law {law.name!r} has {len(linear)}")
    if len(linear) == len(names):
        raise ValueError(f"law {law.name!r}: at least one parameter must be nonlinear")
    for p in law.params:
        if p.name in linear and p.transform not in ("real", "positive"):
            raise ValueError(f"linear parameter {p.name!r} of law {law.name!r} must be 'real' or 'positive', "
                             f"got bounds {p.transform}")


def _split(law):
    lin = tuple(law.linear)
    nonlin = tuple(p for p in law.params if p.name not in lin)
    return lin, nonlin


@functools.lru_cache(maxsize=64)
def _grid(law, size):
    out = _exponent_grid(law, size)
    out.setflags(write=False)
    return out


def exponent_grid(law, size: int | None = None) -> np.ndarray:
    """The screening grid over the nonlinear parameters, unconstrained, shape ``(G, q)``.

    Each axis spans the parameter's start grid (its smallest to largest value) with
    ``size`` points (default ``1024 ** (1/q)`` rounded up, at most 256: 32 for two parameters).
    """
    return _grid(law, None if size is None else int(size)).copy()


def _exponent_grid(law, size: int | None = None) -> np.ndarray:
    _, nonlin = _split(law)
    q = len(nonlin)
    m = int(size) if size is not None else min(_MAX_PER_AXIS, math.ceil(_GRID_POINTS ** (1.0 / q) - 1e-9))
    if m < 2:
        raise ValueError("the exponent grid needs at least 2 points per axis")
    axes = []
    for p in nonlin:
        u = p.unconstrain(np.asarray(p.grid, dtype=float))
        lo, hi = float(np.min(u)), float(np.max(u))
        if hi - lo < 1e-12:
            lo, hi = lo - 1.0, hi + 1.0
        axes.append(np.linspace(lo, hi, m))
    return np.array(list(itertools.product(*axes)), dtype=float)


def _subsets(k: int, positive: tuple[bool, ...]) -> np.ndarray:
    """Active sets to try: free coefficients always active, every choice of the others."""
    rows = [m for m in itertools.product((0.0, 1.0), repeat=k) if all(m[j] == 1.0 for j in range(k) if not positive[j])]
    return np.array(rows)


def nnls_small(g, h, s, positive, subsets):
    """Exact non-negative least squares for ``k <= 4`` coefficients from the normal equations.

    Minimises ``s - 2 c.h + c^T g c`` over ``c`` with ``c_j >= 0`` where ``positive[j]``, by
    solving the unconstrained problem on every active set (rows of ``subsets``) and keeping the
    feasible one with the lowest residual sum of squares (the optimum is the solution on its own
    support, so it is among them). Returns ``(c, rss)``; fixed shape, no loop.
    """
    k = g.shape[-1]
    d = jnp.sqrt(jnp.diagonal(g))
    d = jnp.where(d > 0, d, 1.0)
    gs = g / (d[:, None] * d[None, :])
    hs = h / d
    eye = jnp.eye(k, dtype=g.dtype) * (1e-12 if g.dtype == jnp.float64 else 1e-6)
    pos = jnp.asarray(positive)

    def one(m):
        a = gs * (m[:, None] * m[None, :]) + jnp.diag(1.0 - m) + eye
        cs = spd_solve(a, hs * m, unroll=True) * m
        rss = s - 2.0 * cs @ hs + cs @ gs @ cs
        ok = jnp.all(jnp.isfinite(cs)) & jnp.all((cs >= 0) | ~pos)
        return cs, jnp.where(ok, rss, jnp.inf)

    cs, rss = jax.vmap(one)(jnp.asarray(subsets, dtype=g.dtype))
    i = jnp.argmin(rss)
    return cs[i] / d, rss[i]


def _program(law, objective: Objective, n_screen: int, n_best: int, irls_steps: int, shared_x: bool):
    lin, nonlin = _split(law)
    k = len(lin)
    positive = tuple(p.transform == "positive" for p in law.params if p.name in lin)
    subsets = _subsets(k, positive)
    log_space = objective.space == "log"
    order = {p.name: i for i, p in enumerate(law.params)}

    def natural(theta_u):
        return {p.name: p.constrain(theta_u[..., j]) for j, p in enumerate(nonlin)}

    def design(theta_u, x):
        out = law.basis(natural(theta_u), x)
        n = jnp.shape(next(iter(x.values())))[-1]
        if jnp.ndim(out) != 2 or jnp.shape(out) != (n, k):
            raise ValueError(f"the basis of law {law.name!r} must return an (n, {k}) design matrix "
                             f"(n = {n} points, one column per linear parameter), got shape {jnp.shape(out)}")
        return out

    def value(x_mat, c, y, w):
        m = x_mat @ c
        out = jnp.log(m) if log_space else m
        f = objective.value(y, out, w)
        return jnp.where(jnp.isfinite(f), f, jnp.inf)

    def screen(xg, xx, y, w):
        """xg: (G, n, k) design matrices, xx: (G, n, k, k) their column products (shared by a
        batch of data sets: the normal equations of all of them are one matrix product) or None
        (one data set: a fused reduction) -> the best ``n_screen`` grid indices and coefficients."""
        yn = jnp.exp(y) if log_space else y
        a = w / (yn * yn) if log_space else w
        b = w / yn if log_space else w * y
        s = jnp.sum(w) if log_space else jnp.sum(w * y * y)
        if xx is None:
            gmat = jnp.einsum("n,gnj,gnl->gjl", a, xg, xg)
        else:
            gmat = jnp.einsum("n,gnjl->gjl", a, xx)
        h = jnp.einsum("n,gnj->gj", b, xg)
        c, rss = jax.vmap(lambda gg, hh: nnls_small(gg, hh, s, positive, subsets))(gmat, h)
        rss = jnp.where(jnp.isfinite(rss), rss, jnp.inf)
        _, idx = jax.lax.top_k(-rss, n_screen)
        return idx, c[idx]

    def refine(theta_u, c0, x, y, w):
        """IRLS / Gauss-Newton on the coefficients for the user's objective; the best iterate."""
        xm = design(theta_u, x)
        f0 = value(xm, c0, y, w)

        def step(carry, _):
            c, best_c, best_f = carry
            m = xm @ c
            if log_space:
                r = y - jnp.log(m)
                z = xm / m[:, None]
                t = r + 1.0  # z @ c == 1: the Gauss-Newton model of log(X c) around c
            else:
                r = y - m
                z, t = xm, y
            v = w * objective.kappa(r)
            g = jnp.einsum("n,nj,nl->jl", v, z, z)
            h = jnp.einsum("n,nj->j", v * t, z)
            c_new, _ = nnls_small(g, h, jnp.sum(v * t * t), positive, subsets)
            c_new = jnp.where(jnp.all(jnp.isfinite(c_new)), c_new, c)
            f = value(xm, c_new, y, w)
            better = f < best_f
            return (c_new, jnp.where(better, c_new, best_c), jnp.where(better, f, best_f)), None

        (_, c, f), _ = jax.lax.scan(step, (c0, c0, f0), None, length=irls_steps)
        # Coefficients at the bound 0 -> a negligible positive value so their logarithm exists.
        yn = jnp.exp(y) if log_space else jnp.abs(y)
        scale = jnp.sqrt(jnp.sum(w[:, None] * (xm / yn[:, None]) ** 2, axis=0) / jnp.sum(w))
        tiny = _CLAMP / jnp.where(scale > 0, scale, 1.0)
        c = jnp.where(jnp.asarray(positive), jnp.maximum(c, tiny), c)
        return c, f

    def assemble(theta_u, c):
        cols = [None] * len(law.params)
        for j, p in enumerate(nonlin):
            cols[order[p.name]] = theta_u[..., j]
        for j, name in enumerate(lin):
            p = law.params[order[name]]
            cols[order[name]] = p.unconstrain(c[..., j])
        return jnp.stack(cols, axis=-1)

    def one_dataset(xg, xx, x, y, w, grid):
        idx, c = screen(xg, xx, y, w)
        theta = grid[idx]
        c, f = jax.vmap(refine, in_axes=(0, 0, None, None, None))(theta, c, x, y, w)
        _, best = jax.lax.top_k(-f, n_best)
        return assemble(theta[best], c[best]), f[best]

    def designs(grid, x):
        return jax.vmap(design, in_axes=(0, None))(grid, x)  # (G, n, k)

    if shared_x:
        def run(grid, x, y, w):
            xg = designs(grid, x)
            # Many data sets on one design (resamples): column products once, then one matrix
            # product gives every normal equation. A few: fused reductions, nothing materialised.
            xx = xg[..., :, None] * xg[..., None, :] if y.shape[0] > _FUSED_MAX_BATCH else None
            return jax.vmap(one_dataset, in_axes=(None, None, None, 0, 0, None))(xg, xx, x, y, w, grid)
    else:
        def run(grid, x, y, w):
            return jax.vmap(lambda xb, yb, wb: one_dataset(designs(grid, xb), None, xb, yb, wb, grid))(x, y, w)
    return run


@functools.lru_cache(maxsize=64)
def _compiled(law, objective: Objective, n_screen: int, n_best: int, irls_steps: int, shared_x: bool):
    return jax.jit(_program(law, objective, n_screen, n_best, irls_steps, shared_x))


def varpro_starts(law, objective: Objective, x, y, w, *, batched_data: bool = False, plan: VarPro | None = None,
                  n_best: int | None = None, chunk_size: int | None = None, progress: bool = False,
                  dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Full-parameter starts from variable projection (see the module docstring).

    ``y`` is in the objective's space (``log`` taken for log objectives), as for
    :func:`jaxscale._engine.solve_batch`. Without ``batched_data`` ``x``/``y``/``w`` hold one data
    set and the result is ``(u (n_best, P), profiled objective (n_best,))``; with it ``y`` and
    ``w`` have a leading batch axis ``B`` (resamples or groups), ``x`` too unless its arrays are
    1-d (shared by every item: one set of design matrices serves the whole batch), and the result
    has a leading ``B``. Unconstrained coordinates, best first. ``n_best`` overrides
    ``plan.n_best``.
    """
    check_linear_structure(law)
    plan = VarPro() if plan is None else plan
    dtype = resolve_dtype(dtype)
    grid = _grid(law, plan.grid_size)
    n_screen = int(min(plan.n_screen, grid.shape[0]))
    n_best = int(min(plan.n_best if n_best is None else n_best, n_screen))
    if n_best < 1:
        raise ValueError("n_best must be >= 1")
    y = np.asarray(y, dtype=dtype)
    w = np.asarray(w, dtype=dtype)
    if not batched_data:
        x = {k: np.asarray(v, dtype=dtype) for k, v in x.items()}
        u, f = varpro_starts(law, objective, x, y[None], w[None], batched_data=True, plan=plan, n_best=n_best,
                             dtype=dtype)
        return u[0], f[0]
    shared_x = all(np.ndim(v) == 1 for v in x.values())
    total, n = y.shape
    k = len(law.linear)
    per_item = grid.shape[0] * ((2 ** k) * k * k + (0 if shared_x else n * k * (k + 1)))
    if chunk_size is not None and chunk_size < 1:
        raise ValueError("chunk_size must be a positive integer")
    size = max(1, min(total, chunk_size or (2 ** 24) // per_item))
    n_chunks = math.ceil(total / size)
    pad = n_chunks * size - total

    def padded(a):
        a = np.asarray(a, dtype=dtype)
        return a if pad == 0 else np.concatenate([a, np.repeat(a[:1], pad, axis=0)], axis=0)

    fn = _compiled(law, objective, n_screen, n_best, int(plan.irls_steps), shared_x)
    yp, wp = padded(y), padded(w)
    xp = {kk: np.asarray(v, dtype=dtype) if shared_x else padded(v) for kk, v in x.items()}
    iterator = range(n_chunks)
    if progress and n_chunks > 1:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"variable projection {law.name}", unit="chunk")
    outs = []
    with precision(dtype):
        g = jnp.asarray(grid, dtype=dtype)
        for c in iterator:
            sl = slice(c * size, (c + 1) * size)
            xs = xp if shared_x else {kk: v[sl] for kk, v in xp.items()}
            outs.append(jax.device_get(fn(g, xs, yp[sl], wp[sl])))
    u = np.concatenate([o[0] for o in outs])[:total]
    f = np.concatenate([o[1] for o in outs])[:total]
    return u, f
