"""Curve-shape and link laws: broken neural scaling laws (Caballero et al. 2023), the implicit M4
estimator (Alabdulmohsin et al. 2022), the Hestness et al. (2017) learning curve, a shifted-law
wrapper, and links from loss or compute to downstream metrics (sigmoid link, Gadre et al.'s error
link, PassUntil).

* ``"bnsl"``, ``"bnsl2"`` -- broken neural scaling law with 1 or 2 breaks; :func:`make_bnsl` builds
  (and caches) the law for any number of breaks.
* ``"m4"`` -- solved inside the law by a fixed number of Newton steps (:mod:`._implicit`).
* ``"hestness"`` -- small-data plateau, power-law region and irreducible floor.
* ``"sigmoid_link"``, ``"error_link"``, ``"passuntil"`` -- downstream metrics.

Also :func:`make_shifted`, a law wrapper ``shift + law``: fitting ``make_shifted(law, 1)`` to
``y + 1`` with ``loss="squared_log"`` minimises ``sum (log(y_hat + 1) - log(y + 1))^2``, the
objective of the BNSL reference code.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ._core import Law, Param, Prior, exp_grid, law, logsumexp
from ._implicit import newton_root

__all__ = [
    "make_bnsl",
    "bnsl",
    "bnsl2",
    "make_shifted",
    "m4",
    "make_m4",
    "hestness",
    "sigmoid_link",
    "error_link",
    "passuntil",
]


def _lognormal(loc, scale):
    return Prior("lognormal", (loc, scale))


# ----------------------------------------------------------------------------------------------
# Broken neural scaling law
# ----------------------------------------------------------------------------------------------
_BNSL_CITATION = ("Caballero, Gupta, Rish & Krueger 2023, 'Broken Neural Scaling Laws', ICLR 2023, "
                  "arXiv:2210.14891, Eq. 1")


@functools.lru_cache(maxsize=None)
def make_bnsl(n_breaks: int = 1) -> Law:
    r"""Broken neural scaling law with ``n_breaks`` breaks (Caballero et al. 2023, Eq. 1).

    .. math::
        y = a + b\,x^{-c_0} \prod_{i=1}^{n} \bigl(1 + (x/d_i)^{1/f_i}\bigr)^{-c_i f_i}

    ``a`` > 0 is the limit as ``x -> inf``, ``b`` > 0 the offset, ``c0`` the initial slope in
    log-log space, ``c_i`` the change of slope at break ``i``, ``d_i`` > 0 where break ``i`` sits
    (in units of ``x``) and ``f_i`` > 0 its sharpness (smaller is sharper). Input ``x`` > 0.
    Computed in log space: ``log y = LSE(log a, log b - c0 log x - sum_i c_i f_i
    softplus((log x - log d_i) / f_i))``, since ``log(1 + (x/d)^(1/f)) = softplus((log x - log d)/f)``.

    The factory is cached, so ``make_bnsl(k) is make_bnsl(k)`` (compiled solvers are cached per law object).
    Parameter order: ``a, b, c0, c1..cn, d1..dn, f1..fn``.
    """
    n = int(n_breaks)
    if n < 1 or n != n_breaks:
        raise ValueError(f"n_breaks must be a positive integer, got {n_breaks!r}")
    # Start grids: a few values per parameter; wider d grids for one break, coarser for more,
    # so that the Cartesian product stays at a few thousand starts.
    if n == 1:
        g = dict(a=(0.01, 0.3, 1.0), b=(0.3, 3.0, 30.0), c0=(0.0, 0.5), c=(0.5, 2.0, 6.0),
                 d=(1e1, 1e2, 1e3, 1e4, 1e5), f=(0.05, 0.3, 1.0))
    else:
        g = dict(a=(0.01, 0.5), b=(1.0, 30.0), c0=(0.0, 0.5), c=(0.5, 3.0),
                 d=(1e2, 1e4) if n == 2 else (1e3,), f=(0.1, 1.0) if n == 2 else (0.3,))
    params = [
        Param("a", "positive", grid=g["a"], prior=_lognormal(-1.0, 2.0), role="floor",
              doc="limit of y as x -> infinity"),
        Param("b", "positive", grid=g["b"], prior=_lognormal(0.0, 3.0), role="scale",
              doc="offset (scale of the reducible term)"),
        Param("c0", "real", grid=g["c0"], prior=Prior("normal", (0.0, 1.0)), role="exponent",
              doc="initial log-log slope"),
    ]
    params += [Param(f"c{i}", "real", grid=g["c"], prior=Prior("normal", (0.0, 3.0)),
                     role="exponent", doc=f"change of slope at break {i}") for i in range(1, n + 1)]
    params += [Param(f"d{i}", "positive", grid=g["d"], prior=_lognormal(7.0, 5.0),
                     role="location", doc=f"location of break {i} (units of x)") for i in range(1, n + 1)]
    params += [Param(f"f{i}", "positive", grid=g["f"], prior=_lognormal(-1.0, 1.5),
                     role="shape", doc=f"sharpness of break {i} (smaller is sharper)") for i in range(1, n + 1)]

    def log_reducible(p, x):
        lx = jnp.log(x["x"])
        out = jnp.log(p["b"]) - p["c0"] * lx
        for i in range(1, n + 1):
            c, d, f = p[f"c{i}"], p[f"d{i}"], p[f"f{i}"]
            out = out - c * f * jax.nn.softplus((lx - jnp.log(d)) / f)
        return out

    def log_fn(p, x):
        return logsumexp(jnp.log(p["a"]), log_reducible(p, x))

    def fn(p, x):
        return p["a"] + jnp.exp(log_reducible(p, x))

    fn.__doc__ = make_bnsl.__doc__
    terms = " * ".join(f"(1 + (x/d{i})^(1/f{i}))^(-c{i}*f{i})" for i in range(1, n + 1))
    name = "bnsl" if n == 1 else f"bnsl{n}"
    return law(name=name, inputs=("x",), params=params, log_fn=log_fn,
               formula=f"y = a + b * x^-c0 * {terms}", citation=_BNSL_CITATION,
               start_builder=_bnsl1_starts if n == 1 else None, register=n <= 2)(fn)


def _top(score, k):
    score = np.where(np.isfinite(score), score, np.inf)
    return np.argsort(score, kind="stable")[:k]


def _bnsl1_starts(inputs, y, k: int = 128):
    """Data-aware brute-force starts for one-break BNSL, as the reference code's
    ``scipy.optimize.brute`` stage before ``curve_fit``: a dense grid over ``a`` (fractions of the
    smallest ``y``), ``c0``, ``c1``, ``f1`` and the break location ``d1`` (log-spaced over the range
    of ``x``, one unit of ``log x`` beyond each end), with ``log b`` profiled out by least squares of
    ``log(y - a)``; all 13,440 candidates are scored by the squared log error of their prediction
    in one vectorised pass and the best ``k`` are returned (natural space, ``(k, 6)``). ``k = 128``:
    on one simulated curve (benchmarks/curves.py, seed 0, curve 7) the lowest minimum was reached
    only from candidates ranked 64-96, the best 32 all ending on a flat near-corner plateau."""
    x = np.asarray(inputs["x"], dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    lx, ly = np.log(x), np.log(y)
    lo = float(np.min(y))
    a = lo * np.array([1e-3, 0.2, 0.5, 0.7, 0.85, 0.95, 0.99])
    c0 = np.array([0.0, 0.1, 0.25, 0.5, 1.0])
    c1 = np.array([-0.3, 0.1, 0.3, 0.6, 1.0, 2.0, 4.0, 8.0])
    d1 = np.exp(np.linspace(lx.min() - 1.0, lx.max() + 1.0, 12))
    f1 = np.array([0.03, 0.1, 0.3, 1.0])
    g = np.stack([v.ravel() for v in np.meshgrid(a, c0, c1, d1, f1, indexing="ij")], axis=-1)
    ga, gc0, gc1, gd1, gf1 = (g[:, i:i + 1] for i in range(5))
    z = (lx[None] - np.log(gd1)) / gf1
    q = -gc0 * lx[None] - gc1 * gf1 * np.logaddexp(0.0, z)
    log_b = np.mean(np.log(y[None] - ga) - q, axis=1, keepdims=True)
    with np.errstate(over="ignore", invalid="ignore"):
        pred = np.logaddexp(np.log(ga), log_b + q)
        score = np.mean((pred - ly[None]) ** 2, axis=1)
    best = _top(score, k)
    out = np.concatenate([g[best, :1], np.exp(log_b[best]), g[best, 1:]], axis=1)  # a, b, c0, c1, d1, f1
    return out


bnsl = make_bnsl(1)
bnsl2 = make_bnsl(2)


def make_shifted(base: Law, shift: float = 1.0) -> Law:
    """The law ``shift + base(params, inputs)`` (same parameters), with a stable ``log_fn``.

    Fitting ``make_shifted(law, 1.0)`` to the target ``y + 1`` with ``loss="squared_log"`` minimises
    ``sum_i (log(y_hat_i + 1) - log(y_i + 1))^2`` -- the objective of the BNSL reference code
    (``curve_fit`` of ``log(y_hat + 1)`` against ``log(y + 1)``). Cached: equal arguments give
    the same law object. Not registered.
    """
    if not isinstance(base, Law):
        raise ValueError(f"base must be a jaxscale.Law, got {type(base).__name__}")
    shift = float(shift)
    if not shift > 0:
        raise ValueError(f"shift must be > 0 (its log is taken), got {shift!r}")
    return _shifted(base, shift)


@functools.lru_cache(maxsize=64)
def _shifted(base: Law, shift: float) -> Law:
    log_shift = float(np.log(shift))

    def fn(p, x):
        return shift + base.predict(p, x)

    def log_fn(p, x):
        return logsumexp(log_shift, base.log_predict(p, x))

    return Law(name=f"{base.name}+{shift:g}", fn=fn, params=base.params, inputs=base.inputs, log_fn=log_fn,
               positive_inputs=base.positive_inputs, formula=f"{shift:g} + [{base.formula}]",
               citation=base.citation, version=base.version,
               optimal_allocation=base.optimal_allocation,  # a constant shift moves no optimum
               input_builder=base.input_builder)


# ----------------------------------------------------------------------------------------------
# M4 (implicit)
# ----------------------------------------------------------------------------------------------
_M4_ITERS = 40


def _m4_residual(t, r, alpha):
    return jax.nn.log_sigmoid(t) - alpha * jax.nn.log_sigmoid(-t) - r


def _m4_init(r, alpha):
    return jnp.where(r < 0, r, r / alpha)


_m4_solve = newton_root(_m4_residual, _m4_init, _M4_ITERS)


def _m4_logit(p, x):
    """Logit ``t`` of the excess-loss fraction ``s = (L - eps_inf)/(eps_0 - eps_inf) = sigmoid(t)``.

    With ``b = eps_0 - eps_inf`` and ``w = b s``, the M4 equation ``w / (b - w)^alpha = beta x^c``
    becomes ``h(t) = log sigmoid(t) - alpha log sigmoid(-t) - R = 0`` with
    ``R = log beta + c log x - (1 - alpha) log b``. ``h' = sigmoid(-t) + alpha sigmoid(t) > 0``
    and ``h'' = (alpha - 1) sigmoid(t) sigmoid(-t)`` has one sign, so ``h`` is strictly increasing
    and convex or concave: Newton's method converges from any start (after at most one
    overshoot). ``h`` is close to the piecewise-linear ``min(t, 0) + alpha max(t, 0) - R``,
    whose root is the start.
    """
    alpha = p["alpha"]
    log_b = jnp.log(p["eps_0"] - p["eps_inf"])
    r = jnp.log(p["beta"]) + p["c"] * jnp.log(x["x"]) - (1.0 - alpha) * log_b
    return _m4_solve(r, jnp.broadcast_to(alpha, jnp.shape(r)).astype(jnp.result_type(r)))


def _m4_log(p, x):
    t = _m4_logit(p, x)
    return logsumexp(jnp.log(p["eps_inf"]), jnp.log(p["eps_0"] - p["eps_inf"]) + jax.nn.log_sigmoid(t))


def _m4_starts(inputs, y, eps_0: float | None = None, k: int = 24):
    """Starts for M4 from the paper's own least-squares stage (Alabdulmohsin et al. 2022, reference
    ``methods/m4.py``): for every pair ``(eps_inf, eps_0)`` of a grid (``eps_inf`` below the
    smallest ``y``, ``eps_0`` above the largest, or the given fixed ``eps_0``), regress
    ``log(y - eps_inf)`` on ``[1, log x, log(eps_0 - y)]`` for ``(log beta, c, alpha)`` with the
    paper's signs (``alpha >= 0``, ``c <= 0``: a coefficient of the wrong sign is held at a small
    value and the rest refitted), and keep the ``k`` pairs with the smallest mean squared residual
    of that regression (the paper's objective). Natural space, the law's parameter order."""
    x = np.asarray(inputs["x"], dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    lo, hi = float(np.min(y)), float(np.max(y))
    span = max(hi - lo, 1e-9 * max(abs(hi), 1.0))
    e_inf = lo * np.array([1e-3, 0.3, 0.6, 0.8, 0.9, 0.95, 0.98, 0.995])
    e_0 = np.array([float(eps_0)]) if eps_0 is not None else hi + span * np.array([3e-3, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0])
    ei, e0 = (v.ravel() for v in np.meshgrid(e_inf, e_0, indexing="ij"))
    lx = np.log(x)
    b = np.log(y[None] - ei[:, None])
    lg = np.log(np.maximum(e0[:, None] - y[None], 1e-3 * span))
    ones = np.ones_like(b)
    a3 = np.stack([ones, np.broadcast_to(lx, b.shape), lg], axis=-1)

    def lstsq(a, rhs):
        ata = np.einsum("gni,gnj->gij", a, a) + 1e-10 * np.eye(a.shape[-1])
        return np.linalg.solve(ata, np.einsum("gni,gn->gi", a, rhs)[..., None])[..., 0]

    coef = lstsq(a3, b)
    log_beta, c, alpha = coef[:, 0], coef[:, 1], coef[:, 2]
    fix = alpha < 0.01
    if np.any(fix):  # alpha held at 0.01, (log beta, c) refitted
        alpha = np.where(fix, 0.01, alpha)
        coef2 = lstsq(a3[..., :2], b - alpha[:, None] * lg)
        log_beta, c = np.where(fix, coef2[:, 0], log_beta), np.where(fix, coef2[:, 1], c)
    flip = c > -1e-3
    if np.any(flip):  # c held at -1e-3, (log beta, alpha) refitted
        c = np.where(flip, -1e-3, c)
        coef3 = lstsq(a3[..., [0, 2]], b - c[:, None] * lx[None])
        log_beta = np.where(flip, coef3[:, 0], log_beta)
        alpha = np.where(flip, np.maximum(coef3[:, 1], 0.01), alpha)
    resid = b - (log_beta[:, None] + c[:, None] * lx[None] + alpha[:, None] * lg)
    best = _top(np.mean(resid ** 2, axis=1), k)
    cols = {"eps_inf": ei, "eps_0": e0, "alpha": alpha, "beta": np.exp(log_beta), "c": c}
    names = ("eps_inf", "alpha", "beta", "c") if eps_0 is not None else ("eps_inf", "eps_0", "alpha", "beta", "c")
    return np.stack([cols[n][best] for n in names], axis=-1)


@law(
    name="m4",
    inputs=("x",),
    params=(
        Param("eps_inf", "positive", grid=(0.01, 0.1, 0.5, 1.0), prior=_lognormal(-1.0, 2.0),
              role="floor", doc="limiting loss as x -> infinity (must be < eps_0)"),
        Param("eps_0", "positive", grid=(2.0, 5.0, 10.0), prior=_lognormal(1.0, 1.5),
              role="ceiling", doc="loss of a random guess, the limit as x -> 0 (must be > eps_inf)"),
        Param("alpha", "positive", grid=(0.1, 0.5, 1.0, 2.0), prior=_lognormal(-0.5, 1.0),
              role="exponent", doc="exponent of the (eps_0 - L) denominator"),
        Param("beta", "positive", grid=exp_grid((-2.0, 1.0, 4.0, 7.0)), prior=_lognormal(2.0, 4.0),
              role="scale", doc="scale of the power law"),
        Param("c", "real", grid=(-1.0, -0.5, -0.25, -0.1), prior=Prior("normal", (-0.5, 0.5)),
              role="exponent", doc="power-law exponent; negative for a loss that falls with x"),
    ),
    log_fn=_m4_log,
    start_builder=_m4_starts,
    formula="(L - eps_inf) / (eps_0 - L)^alpha = beta * x^c  (implicit in L; c < 0)",
    citation="Alabdulmohsin, Neyshabur & Zhai 2022, 'Revisiting Neural Scaling Laws in Language and Vision', "
    "NeurIPS 2022, arXiv:2209.06640 (estimator M4)",
    register=True,
)
def m4(p, x):
    r"""M4 scaling-law estimator (Alabdulmohsin, Neyshabur & Zhai 2022), implicit in the loss ``L``:

    .. math::
        \frac{L - \varepsilon_\infty}{(\varepsilon_0 - L)^{\alpha}} = \beta\,x^{c}

    ``eps_inf`` < ``L`` < ``eps_0``: the loss moves from the random-guess loss ``eps_0`` (small
    ``x``) to the limit ``eps_inf`` (large ``x``). Sign convention as in the paper and its code
    (google-research ``revisiting_neural_scaling_laws/methods/m4.py``): ``c`` < 0 for a loss that
    falls with ``x`` (the reference code fits ``-c >= 0``, default start ``c = -0.5``) and
    ``alpha`` >= 0, ``beta`` > 0. ``alpha = 0`` gives ``L = eps_inf + beta x^c``.

    Solved inside the law for ``s = (L - eps_inf)/(eps_0 - eps_inf) = sigmoid(t)`` by 40 Newton
    steps on ``t`` (``lax.fori_loop``, static trip count) from the root of a piecewise-linear
    bound; the equation in ``t`` is strictly monotone and convex or concave, so Newton converges
    globally, to machine precision within a few steps. Derivatives are implicit-function
    derivatives (``custom_jvp``), not derivatives of the unrolled loop: exact at the root, to
    every order (tested against finite differences). ``eps_0 <= eps_inf`` gives NaN, which
    the solvers reject. The reference code predicts by a grid search over ``L``; this is exact.
    """
    t = _m4_logit(p, x)
    return p["eps_inf"] + (p["eps_0"] - p["eps_inf"]) * jax.nn.sigmoid(t)


@functools.lru_cache(maxsize=None)
def make_m4(eps_0: float | None = None) -> Law:
    """M4 with the random-guess loss ``eps_0`` fixed, as the paper fits it when ``eps_0`` is known
    (Alabdulmohsin et al. 2022 constrain ``eps_0`` to at most ``up_bound + 1e-3``, with
    ``up_bound = 1`` for error rates; fixing it at the random-guess value, 1 for error rates or
    ``log V`` for a cross-entropy over ``V`` classes, removes the direction along which free fits
    of noisy curves drift to extreme ``(eps_0, alpha, beta)``). ``eps_0=None`` returns the
    registered ``m4`` (``eps_0`` fitted). Cached; the fixed-``eps_0`` laws are not registered.
    Parameters: ``eps_inf, alpha, beta, c``; ``L`` must stay below ``eps_0``.
    """
    if eps_0 is None:
        return m4
    v = float(eps_0)
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"eps_0 must be a finite number > 0, got {eps_0!r}")

    def full(p):
        return {**p, "eps_0": jnp.zeros_like(p["alpha"]) + v}

    def fn(p, x):
        return m4.fn(full(p), x)

    def log_fn(p, x):
        return _m4_log(full(p), x)

    return Law(name=f"m4[eps_0={v:g}]", fn=fn, params=tuple(q for q in m4.params if q.name != "eps_0"),
               inputs=("x",), log_fn=log_fn, formula=m4.formula.replace("eps_0", f"{v:g}"), citation=m4.citation,
               version=m4.version, start_builder=functools.partial(_m4_starts, eps_0=v))


# ----------------------------------------------------------------------------------------------
# Hestness et al. 2017 learning curve
# ----------------------------------------------------------------------------------------------
def _hestness_log(p, x):
    z = p["alpha"] * (jnp.log(x["x"]) - jnp.log(p["x0"]))
    return logsumexp(jnp.log(p["E"]), jnp.log(p["L0"] - p["E"]) + jax.nn.log_sigmoid(-z))


@law(
    name="hestness",
    inputs=("x",),
    params=(
        Param("E", "positive", grid=(0.01, 0.1, 0.5, 1.0), prior=_lognormal(-1.0, 2.0),
              role="floor", doc="irreducible error (the floor as x -> infinity)"),
        Param("L0", "positive", grid=(2.0, 5.0, 10.0), prior=_lognormal(1.0, 1.5),
              role="ceiling", doc="best-guess error of the small-data plateau (x -> 0); must be > E"),
        Param("x0", "positive", grid=(1e1, 1e3, 1e5, 1e7), prior=_lognormal(7.0, 5.0),
              role="location", doc="end of the plateau: where the reducible error has halved"),
        Param("alpha", "positive", grid=(0.1, 0.3, 0.7, 1.5), prior=_lognormal(-1.0, 1.0),
              role="exponent", doc="power-law exponent of the middle region"),
    ),
    log_fn=_hestness_log,
    formula="L(x) = E + (L0 - E) / (1 + (x/x0)^alpha)",
    citation="Hestness, Narang, Ardalani, Diamos, Jun, Kianinejad, Patwary, Yang & Zhou 2017, "
    "'Deep Learning Scaling is Predictable, Empirically', arXiv:1712.00409, Fig. 6",
    register=True,
)
def hestness(p, x):
    r"""Three-regime learning curve of Hestness et al. (2017, Fig. 6):

    .. math::
        L(x) = E + \frac{L_0 - E}{1 + (x/x_0)^{\alpha}}

    * small-data region (``x << x0``): ``L ~ L0``, the best-guess error;
    * power-law region (``x >> x0``, reducible error still large): ``L ~ E + (L0 - E) (x/x0)^-alpha``;
    * irreducible-error region (``x -> inf``): ``L -> E``.

    Hestness et al. describe the three regions but give no single formula; this form was chosen
    because its reducible part ``(L0 - E)/(1 + (x/x0)^alpha)`` is the harmonic soft-minimum of the
    plateau ``L0 - E`` and the power law ``(L0 - E)(x/x0)^-alpha``, so it follows each exactly in
    its region with one extra parameter (``x0``, where the two meet) over the saturating power
    law, and it is a positive sum, computed as ``LSE(log E, log(L0 - E) + log sigmoid(-alpha
    (log x - log x0)))``. Requires ``L0 > E`` (else NaN, rejected by the solvers).
    """
    z = p["alpha"] * (jnp.log(x["x"]) - jnp.log(p["x0"]))
    return p["E"] + (p["L0"] - p["E"]) * jax.nn.sigmoid(-z)


# ----------------------------------------------------------------------------------------------
# Task-metric links
# ----------------------------------------------------------------------------------------------
def _sigmoid_link_log(p, x):
    z = p["k"] * (jnp.log(x["x"]) - jnp.log(p["x0"]))
    gap = p["ceiling"] - p["floor"]
    tiny = jnp.finfo(jnp.result_type(gap)).tiny
    lse = logsumexp(jnp.log(p["floor"]), jnp.log(jnp.maximum(gap, tiny)) + jax.nn.log_sigmoid(z))
    direct = jnp.log(p["floor"] + gap * jax.nn.sigmoid(z))
    return jnp.where(gap > 0, lse, direct)


@law(
    name="sigmoid_link",
    inputs=("x",),
    params=(
        Param("floor", (0.0, 1.0), grid=(0.05, 0.25), prior=Prior("uniform", (0.0, 1.0)),
              role="floor", doc="score far below x0 (chance level)"),
        Param("ceiling", (0.0, 1.0), grid=(0.7, 0.95), prior=Prior("uniform", (0.0, 1.0)),
              role="ceiling", doc="score far above x0 (saturation)"),
        Param("x0", "positive", grid=(1e-1, 1e1, 1e3, 1e5, 1e7), prior=_lognormal(0.0, 10.0),
              role="location", doc="midpoint of the transition (units of x)"),
        Param("k", "real", grid=(-3.0, -1.0, -0.3, 0.3, 1.0, 3.0), prior=Prior("normal", (0.0, 3.0)),
              role="exponent", doc="slope in log x; > 0 for compute, < 0 for loss as input"),
    ),
    log_fn=_sigmoid_link_log,
    formula="score = floor + (ceiling - floor) * sigmoid(k (log x - log x0))",
    citation="Ruan, Maddison & Hashimoto 2024, 'Observational Scaling Laws and the Predictability of Language "
    "Model Performance', arXiv:2405.10938; Owen 2024, 'How predictable is language model benchmark "
    "performance?', arXiv:2401.04757",
    register=True,
)
def sigmoid_link(p, x):
    r"""Sigmoidal link from (log) compute, or loss, to a downstream score in (0, 1):

    .. math::
        \mathrm{score} = f + (c - f)\,\sigma\bigl(k\,(\log x - \log x_0)\bigr)

    ``floor`` (chance level) and ``ceiling`` (saturation) are bounded to (0, 1), ``x0`` > 0 is
    the midpoint and ``k`` the slope in ``log x``: ``k > 0`` with compute (FLOPs) as ``x``,
    ``k < 0`` with a loss as ``x``. As in Owen (2024) and Ruan et al. (2024, who use a linear
    combination of capability measures in place of ``log x``). Note: ``(floor, ceiling, k)`` and
    ``(ceiling, floor, -k)`` give the same curve. The score must be > 0 for objectives on log
    residuals (the default); scores of exactly 0 need ``loss="squared"``. Computed as
    ``LSE(log floor, log(ceiling - floor) + log sigmoid(z))`` when ``ceiling > floor``.
    """
    z = p["k"] * (jnp.log(x["x"]) - jnp.log(p["x0"]))
    return p["floor"] + (p["ceiling"] - p["floor"]) * jax.nn.sigmoid(z)


@law(
    name="error_link",
    inputs=("L",),
    params=(
        Param("eps", "real", grid=(0.5, 0.8, 1.0), prior=Prior("normal", (0.8, 0.5)),
              role="ceiling", doc="error as the loss grows without bound (chance-level error)"),
        Param("k", "positive", grid=(0.3, 1.0, 3.0), prior=Prior("lognormal", (0.0, 2.0)),
              role="scale", doc="scale of the loss-dependent term"),
        Param("gamma", "positive", grid=(0.3, 1.0, 3.0), prior=Prior("lognormal", (0.0, 1.0)),
              role="shape", doc="rate at which error falls as the loss falls"),
    ),
    positive_inputs=(),
    formula="Err(L) = eps - k * exp(-gamma * L)",
    citation="Gadre et al. 2024, 'Language models scale reliably with over-training and on downstream "
    "tasks', arXiv:2403.08540 (Eq. 5)",
    register=True,
)
def error_link(p, x):
    r"""Downstream error from loss :math:`\mathrm{Err}(L) = \epsilon - k\,e^{-\gamma L}` (Gadre et al. 2024).

    Input ``L`` is a language-model loss (e.g. C4 eval loss), the output an average top-1 error.
    ``eps`` is the error as the loss grows (near chance), ``k``, ``gamma`` > 0. Not a sum of
    positive terms, so there is no log form: fit it with ``loss="squared"`` as the paper does.
    Chain it after the loss law with :func:`jaxscale.predict_chain`.
    """
    return p["eps"] - p["k"] * jnp.exp(-p["gamma"] * x["L"])


def _passuntil_log(p, x):
    return -jnp.exp(jnp.log(p["c"]) - p["alpha"] * jnp.log(x["N"]))


@law(
    name="passuntil",
    inputs=("N",),
    params=(
        Param("c", "positive", grid=exp_grid((0.0, 3.0, 6.0, 9.0, 12.0)), prior=_lognormal(5.0, 5.0),
              role="scale", doc="scale: -log PU at N = 1"),
        Param("alpha", "real", grid=(0.1, 0.3, 0.6, 1.0), prior=Prior("normal", (0.5, 0.5)),
              role="exponent", doc="exponent: slope of log(-log PU) against -log N"),
    ),
    log_fn=_passuntil_log,
    formula="PU(N) = exp(-c * N^-alpha), i.e. log(-log PU) = log c - alpha log N",
    citation="Hu, Liu, Han, Zhang, He, Zhao, Lin, Ding, Ou, Zeng, Liu & Sun 2023, 'Predicting Emergent "
    "Abilities with Infinite Resolution Evaluation' (PassUntil; earlier title 'Unlock Predictable Scaling "
    "from Emergent Abilities'), ICLR 2024, arXiv:2310.03262",
    register=True,
)
def passuntil(p, x):
    r"""Task scaling law of Hu et al. (2023) for the PassUntil pass rate ``PU`` in (0, 1]:

    .. math::
        PU(N) = \exp(-c\,N^{-\alpha}) \iff \log(-\log PU) = \log c - \alpha \log N

    ``c`` > 0, ``alpha`` the exponent (> 0 when the task improves with model size ``N``). The
    law's log is ``-c N^-alpha``, so objectives on log residuals compare ``log PU`` directly
    (no ``log(-log)`` transform of the data is needed). Hu et al.'s accelerated-emergence
    variants (concave ``log(-log PU)``) are not included.
    """
    return jnp.exp(_passuntil_log(p, x))
