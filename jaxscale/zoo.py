"""The law zoo (part A): published scaling laws beyond the power-law family, as registered Laws.

Every law here is a pure JAX function ``fn(params, inputs)`` with a :class:`~jaxscale.laws.Param`
spec (transforms, a small default start grid, default priors), a formula and a citation, and a
stable ``log_fn`` (log-sum-exp form) wherever the prediction is a positive sum of terms.
Importing :mod:`jaxscale` registers them, so ``get_law(name)`` and ``jaxscale fit --law NAME``
find them:

* ``"bnsl"``, ``"bnsl2"`` -- broken neural scaling law with 1 or 2 breaks (Caballero et al.
  2023); :func:`bnsl` builds (and caches) the law for any number of breaks.
* ``"m4"`` -- the implicit M4 estimator of Alabdulmohsin, Neyshabur & Zhai (2022), solved inside
  the law by a fixed number of Newton steps.
* ``"hestness"`` -- learning curve with a small-data plateau, a power-law region and an
  irreducible floor (Hestness et al. 2017).
* ``"kaplan_ns"`` -- Kaplan et al. (2020) ``L(N, S_min)`` with the critical batch size
  ``B_crit(L)`` solved as a fixed point; helpers :func:`critical_batch_size`, :func:`min_steps`.
* ``"kumar_precision"`` -- Chinchilla form with precision-dependent effective parameters
  (Kumar et al. 2024).
* ``"fp_quant"`` -- floating-point quantisation training law of Sun et al. (2025).
* ``"sigmoid_link"`` -- sigmoidal link from (log) compute or loss to a downstream score.
* ``"passuntil"`` -- PassUntil task scaling law ``PU = exp(-c N^-alpha)`` (Hu et al. 2023).

Also :func:`shifted`, a law wrapper ``shift + law``: fitting ``shifted(law, 1)`` to ``y + 1``
with ``loss="squared_log"`` minimises ``sum (log(y_hat + 1) - log(y + 1))^2``, the objective of
the BNSL reference code.

Iterative laws (``m4``, ``kaplan_ns``) use Newton's method in a ``lax.fori_loop`` with a static
trip count (no ``while_loop``, no Python branching on traced values) and implicit-function
derivatives through ``jax.custom_jvp``, so they jit, vmap and differentiate (to any order) like
the closed-form laws.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .laws import Law, Param, Prior, _exp_grid, law, logsumexp

__all__ = [
    "bnsl",
    "bnsl_1",
    "bnsl_2",
    "m4",
    "hestness",
    "kaplan_ns",
    "critical_batch_size",
    "min_steps",
    "kumar_precision",
    "fp_quant",
    "sigmoid_link",
    "passuntil",
    "shifted",
    "KAPLAN_NS_PARAMS",
    "FP_QUANT_PARAMS",
]


def _lognormal(loc, scale):
    return Prior("lognormal", (loc, scale))


# ----------------------------------------------------------------------------------------------
# Broken neural scaling law
# ----------------------------------------------------------------------------------------------
_BNSL_CITATION = ("Caballero, Gupta, Rish & Krueger 2023, 'Broken Neural Scaling Laws', ICLR 2023, "
                  "arXiv:2210.14891, Eq. 1")


@functools.lru_cache(maxsize=None)
def bnsl(n_breaks: int = 1) -> Law:
    r"""Broken neural scaling law with ``n_breaks`` breaks (Caballero et al. 2023, Eq. 1).

    .. math::
        y = a + b\,x^{-c_0} \prod_{i=1}^{n} \bigl(1 + (x/d_i)^{1/f_i}\bigr)^{-c_i f_i}

    ``a`` > 0 is the limit as ``x -> inf``, ``b`` > 0 the offset, ``c0`` the initial slope in
    log-log space, ``c_i`` the change of slope at break ``i``, ``d_i`` > 0 where break ``i`` sits
    (in units of ``x``) and ``f_i`` > 0 its sharpness (smaller is sharper). Input ``x`` > 0.
    Computed in log space: ``log y = LSE(log a, log b - c0 log x - sum_i c_i f_i
    softplus((log x - log d_i) / f_i))``, since ``log(1 + (x/d)^(1/f)) = softplus((log x - log d)/f)``.

    The factory is cached, so ``bnsl(k) is bnsl(k)`` (compiled solvers are cached per law object).
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
        Param("a", "positive", grid=g["a"], prior=_lognormal(-1.0, 2.0), doc="limit of y as x -> infinity"),
        Param("b", "positive", grid=g["b"], prior=_lognormal(0.0, 3.0), doc="offset (scale of the reducible term)"),
        Param("c0", "real", grid=g["c0"], prior=Prior("normal", (0.0, 1.0)), doc="initial log-log slope"),
    ]
    params += [Param(f"c{i}", "real", grid=g["c"], prior=Prior("normal", (0.0, 3.0)),
                     doc=f"change of slope at break {i}") for i in range(1, n + 1)]
    params += [Param(f"d{i}", "positive", grid=g["d"], prior=_lognormal(7.0, 5.0),
                     doc=f"location of break {i} (units of x)") for i in range(1, n + 1)]
    params += [Param(f"f{i}", "positive", grid=g["f"], prior=_lognormal(-1.0, 1.5),
                     doc=f"sharpness of break {i} (smaller is sharper)") for i in range(1, n + 1)]

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

    fn.__doc__ = bnsl.__doc__
    terms = " * ".join(f"(1 + (x/d{i})^(1/f{i}))^(-c{i}*f{i})" for i in range(1, n + 1))
    name = "bnsl" if n == 1 else f"bnsl{n}"
    return law(name=name, inputs=("x",), params=params, log_fn=log_fn,
               formula=f"y = a + b * x^-c0 * {terms}", citation=_BNSL_CITATION,
               register=n <= 2)(fn)


bnsl_1 = bnsl(1)
bnsl_2 = bnsl(2)


def shifted(base: Law, shift: float = 1.0) -> Law:
    """The law ``shift + base(params, inputs)`` (same parameters), with a stable ``log_fn``.

    Fitting ``shifted(law, 1.0)`` to the target ``y + 1`` with ``loss="squared_log"`` minimises
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
               citation=base.citation, version=base.version)


# ----------------------------------------------------------------------------------------------
# Implicit laws: elementwise Newton root with implicit-function derivatives
# ----------------------------------------------------------------------------------------------
def _newton_root(residual, init, n_iter):
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


# ----------------------------------------------------------------------------------------------
# M4 (implicit)
# ----------------------------------------------------------------------------------------------
_M4_ITERS = 40


def _m4_residual(t, r, alpha):
    return jax.nn.log_sigmoid(t) - alpha * jax.nn.log_sigmoid(-t) - r


def _m4_init(r, alpha):
    return jnp.where(r < 0, r, r / alpha)


_m4_solve = _newton_root(_m4_residual, _m4_init, _M4_ITERS)


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


@law(
    name="m4",
    inputs=("x",),
    params=(
        Param("eps_inf", "positive", grid=(0.01, 0.1, 0.5, 1.0), prior=_lognormal(-1.0, 2.0),
              doc="limiting loss as x -> infinity (must be < eps_0)"),
        Param("eps_0", "positive", grid=(2.0, 5.0, 10.0), prior=_lognormal(1.0, 1.5),
              doc="loss of a random guess, the limit as x -> 0 (must be > eps_inf)"),
        Param("alpha", "positive", grid=(0.1, 0.5, 1.0, 2.0), prior=_lognormal(-0.5, 1.0),
              doc="exponent of the (eps_0 - L) denominator"),
        Param("beta", "positive", grid=_exp_grid((-2.0, 1.0, 4.0, 7.0)), prior=_lognormal(2.0, 4.0),
              doc="scale of the power law"),
        Param("c", "real", grid=(-1.0, -0.5, -0.25, -0.1), prior=Prior("normal", (-0.5, 0.5)),
              doc="power-law exponent; negative for a loss that falls with x"),
    ),
    log_fn=_m4_log,
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
              doc="irreducible error (the floor as x -> infinity)"),
        Param("L0", "positive", grid=(2.0, 5.0, 10.0), prior=_lognormal(1.0, 1.5),
              doc="best-guess error of the small-data plateau (x -> 0); must be > E"),
        Param("x0", "positive", grid=(1e1, 1e3, 1e5, 1e7), prior=_lognormal(7.0, 5.0),
              doc="end of the plateau: where the reducible error has halved"),
        Param("alpha", "positive", grid=(0.1, 0.3, 0.7, 1.5), prior=_lognormal(-1.0, 1.0),
              doc="power-law exponent of the middle region"),
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
# Kaplan et al. 2020 L(N, S) with critical batch size
# ----------------------------------------------------------------------------------------------
#: Kaplan et al. (2020) Table 2 / Eq. 1.6 values (B_star in tokens; S in steps).
KAPLAN_NS_PARAMS = {"Nc": 8.8e13, "alpha_N": 0.076, "Sc": 2.1e3, "alpha_S": 0.76, "B_star": 2.0e8, "alpha_B": 0.21}

_KAPLAN_NS_ITERS = 30


def critical_batch_size(L, B_star, alpha_B):
    r"""Critical batch size :math:`B_{crit}(L) = B_* / L^{1/\alpha_B}` (Kaplan et al. 2020, Eq. 5.3).

    ``L`` is the loss (nats), ``B_star`` the batch-size scale in tokens (Kaplan: 2e8) and
    ``alpha_B`` the exponent (Kaplan: 0.21). Works on NumPy and JAX arrays.
    """
    xp = jnp if any(isinstance(a, jax.Array) for a in (L, B_star, alpha_B)) else np
    return B_star / xp.power(L, 1.0 / alpha_B)


def min_steps(S, B, B_crit):
    r"""Minimum number of steps :math:`S_{min} = S / (1 + B_{crit}/B)` (Kaplan et al. 2020, Eq. 5.4).

    The steps a run of ``S`` steps at batch size ``B`` would have needed at a batch size much
    larger than ``B_crit``. Works on NumPy and JAX arrays.
    """
    return S / (1.0 + B_crit / B)


def _kaplan_ns_residual(u, t_n, k_s, k_b, a_s, a_b):
    """``G(u) = u - log F(u)``: ``F`` is the loss given ``B_crit(e^u)``; ``k_s = log(Sc/S)``,
    ``k_b = log(B_star/B)``, ``t_n = alpha_N log(Nc/N)``."""
    return u - logsumexp(t_n, a_s * (k_s + jax.nn.softplus(k_b - u / a_b)))


def _kaplan_ns_init(t_n, k_s, k_b, a_s, a_b):
    return logsumexp(t_n, a_s * k_s)


_kaplan_ns_solve = _newton_root(_kaplan_ns_residual, _kaplan_ns_init, _KAPLAN_NS_ITERS)


def _kaplan_ns_log(p, x):
    """``u = log L`` solving ``G(u) = u - log F(u) = 0`` (``F``: the loss given ``B_crit(e^u)``).

    ``G`` is strictly increasing (``F`` falls as ``L`` grows): ``G' = 1 + w_S alpha_S
    sigmoid(z) / alpha_B >= 1`` with ``z = log(B_crit/B)`` and ``w_S`` the share of the step term
    in ``F``, so each Newton step moves ``u`` by at most ``|G(u)|``. Start: the lower bound
    ``log F`` at ``B_crit = 0`` (``S_min = S``).
    """
    t_n = p["alpha_N"] * (jnp.log(p["Nc"]) - jnp.log(x["N"]))
    k_s = jnp.log(p["Sc"]) - jnp.log(x["S"])
    k_b = jnp.log(p["B_star"]) - jnp.log(x["B"])
    args = jnp.broadcast_arrays(t_n, k_s, k_b, p["alpha_S"], p["alpha_B"])
    dtype = jnp.result_type(*args)
    return _kaplan_ns_solve(*(a.astype(dtype) for a in args))


@law(
    name="kaplan_ns",
    inputs=("N", "S", "B"),
    params=(
        Param("Nc", "positive", grid=_exp_grid((25.0, 30.0, 35.0)), prior=_lognormal(30.0, 5.0),
              doc="critical model size (non-embedding parameters)"),
        Param("alpha_N", "positive", grid=(0.05, 0.1, 0.2), prior=_lognormal(-2.5, 1.0),
              doc="model-size exponent"),
        Param("Sc", "positive", grid=(1e2, 2e3, 3e4), prior=_lognormal(7.5, 3.0), doc="critical number of steps"),
        Param("alpha_S", "positive", grid=(0.3, 0.7, 1.2), prior=_lognormal(-0.3, 1.0), doc="step exponent"),
        Param("B_star", "positive", grid=(1e6, 1e8, 1e10), prior=_lognormal(19.0, 4.0),
              doc="critical-batch-size scale (tokens)"),
        Param("alpha_B", "positive", grid=(0.1, 0.2, 0.4), prior=_lognormal(-1.5, 1.0),
              doc="critical-batch-size exponent"),
    ),
    log_fn=_kaplan_ns_log,
    formula="L = (Nc/N)^alpha_N + (Sc/S_min)^alpha_S; S_min = S/(1 + B_crit(L)/B); B_crit(L) = B_star/L^(1/alpha_B)",
    citation="Kaplan et al. 2020, 'Scaling Laws for Neural Language Models', arXiv:2001.08361, Eqs. 1.6, 5.3, 5.4 "
    "(refitted to 33B-parameter models by Su, Tian, Shen & Cai 2024, 'Unraveling the Mystery of Scaling Laws: "
    "Part I', arXiv:2403.06563)",
    register=True,
)
def kaplan_ns(p, x):
    r"""Loss after ``S`` steps at batch size ``B`` (Kaplan et al. 2020, Eq. 1.6 with Eqs. 5.3-5.4):

    .. math::
        L = (N_c/N)^{\alpha_N} + (S_c/S_{min})^{\alpha_S},\quad
        S_{min} = \frac{S}{1 + B_{crit}(L)/B},\quad B_{crit}(L) = \frac{B_*}{L^{1/\alpha_B}}

    Inputs: ``N`` non-embedding parameters, ``S`` optimisation steps, ``B`` batch size in tokens.
    Kaplan et al.'s values (:data:`KAPLAN_NS_PARAMS`): ``Nc = 8.8e13``, ``alpha_N = 0.076``,
    ``Sc = 2.1e3``, ``alpha_S = 0.76``, ``B_star = 2e8`` tokens, ``alpha_B = 0.21``. Su et al.
    (2024) confirm the form up to 33B parameters with setup-dependent constants; refit them
    to your own runs (their constants are not built in).

    ``B_crit`` depends on ``L`` itself. Kaplan et al. evaluate it at the observed loss; here the
    fixed point is solved exactly, branch-free, by 30 Newton steps on ``log L`` (monotone
    equation, see ``_kaplan_ns_log``), so the law predicts from ``(N, S, B)`` alone;
    derivatives are implicit-function derivatives (``custom_jvp``).
    """
    return jnp.exp(_kaplan_ns_log(p, x))


# ----------------------------------------------------------------------------------------------
# Precision laws
# ----------------------------------------------------------------------------------------------
def _log_one_minus_exp_neg(t):
    """``log(1 - exp(-t))`` for ``t`` > 0, stable at both ends."""
    return jnp.log(-jnp.expm1(-t))


def _kumar_log(p, x):
    log_neff = (jnp.log(x["N"]) + _log_one_minus_exp_neg(x["P_w"] / p["gamma_w"])
                + _log_one_minus_exp_neg(x["P_a"] / p["gamma_a"])
                + _log_one_minus_exp_neg(x["P_kv"] / p["gamma_kv"]))
    return logsumexp(jnp.log(p["A"]) - p["alpha"] * log_neff,
                     jnp.log(p["B"]) - p["beta"] * jnp.log(x["D"]),
                     jnp.log(p["E"]))


@law(
    name="kumar_precision",
    inputs=("N", "D", "P_w", "P_a", "P_kv"),
    params=(
        Param("E", "positive", grid=(1.0, 2.0), prior=_lognormal(0.5, 1.0), doc="irreducible loss"),
        Param("A", "positive", grid=_exp_grid((3.0, 6.0, 9.0)), prior=_lognormal(6.0, 4.0),
              doc="scale of the effective-parameter term"),
        Param("B", "positive", grid=_exp_grid((3.0, 6.0, 9.0)), prior=_lognormal(6.0, 4.0),
              doc="scale of the data term"),
        Param("alpha", "positive", grid=(0.2, 0.4), prior=_lognormal(-1.0, 0.7), doc="exponent of N_eff"),
        Param("beta", "positive", grid=(0.2, 0.4), prior=_lognormal(-1.0, 0.7), doc="exponent of D"),
        Param("gamma_w", "positive", grid=(1.0, 3.0), prior=_lognormal(1.0, 1.0),
              doc="precision scale of weights (bits)"),
        Param("gamma_a", "positive", grid=(1.0, 3.0), prior=_lognormal(1.0, 1.0),
              doc="precision scale of activations (bits)"),
        Param("gamma_kv", "positive", grid=(1.0, 3.0), prior=_lognormal(1.0, 1.0),
              doc="precision scale of the KV cache / attention (bits)"),
    ),
    log_fn=_kumar_log,
    formula="L = A * N_eff^-alpha + B * D^-beta + E; "
    "N_eff = N (1 - exp(-P_w/gamma_w)) (1 - exp(-P_a/gamma_a)) (1 - exp(-P_kv/gamma_kv))",
    citation="Kumar, Ankner, Spector, Bordelon, Muennighoff, Paul, Pehlevan, Re & Raghunathan 2024, "
    "'Scaling Laws for Precision', arXiv:2411.04330 (quantised-training law)",
    register=True,
)
def kumar_precision(p, x):
    r"""Precision-aware Chinchilla law for quantised training (Kumar et al. 2024):

    .. math::
        L = A\,N_{eff}^{-\alpha} + B\,D^{-\beta} + E,\quad
        N_{eff} = N \prod_{j \in \{w, a, kv\}} \bigl(1 - e^{-P_j/\gamma_j}\bigr)

    Inputs: ``N`` parameters, ``D`` tokens, and the training precisions in bits ``P_w``
    (weights), ``P_a`` (activations), ``P_kv`` (KV cache / attention); all must be > 0 (a
    precision of 0 bits would leave no effective parameters). ``gamma_j`` > 0 say how fast each
    precision saturates: at ``P_j >> gamma_j`` the factor is 1 and the law is Chinchilla's. The
    post-training-quantisation degradation term ``delta_PTQ`` of the paper is not included.
    Computed as ``LSE(log A - alpha log N_eff, log B - beta log D, log E)`` with
    ``log(1 - e^{-t}) = log(-expm1(-t))``.
    """
    neff = (x["N"] * -jnp.expm1(-x["P_w"] / p["gamma_w"]) * -jnp.expm1(-x["P_a"] / p["gamma_a"])
            * -jnp.expm1(-x["P_kv"] / p["gamma_kv"]))
    return p["A"] * neff ** -p["alpha"] + p["B"] * x["D"] ** -p["beta"] + p["E"]


#: Fitted constants of Sun et al. (2025) for their unified FP-quantisation law, as recalled from the paper
#: (arXiv:2501.02423); not machine-checked against the PDF here -- verify before relying on them.
FP_QUANT_PARAMS = {"n": 69.2343, "alpha": 0.2368, "d": 68973.0621, "beta": 0.5162, "eps": 1.9061,
                   "gamma": 11334.5288, "delta": 3.1725, "nu": 2.1961}


def _fp_quant_log(p, x):
    log_n, log_d = jnp.log(x["N"]), jnp.log(x["D"])
    t_q = (p["beta"] * log_d - p["alpha"] * log_n + jnp.log(jnp.log2(x["B"])) - jnp.log(p["gamma"])
           - p["delta"] * jnp.log(x["E"] + 0.5) - p["nu"] * jnp.log(x["M"] + 0.5))
    return logsumexp(jnp.log(p["n"]) - p["alpha"] * log_n, jnp.log(p["d"]) - p["beta"] * log_d,
                     jnp.log(p["eps"]), t_q)


@law(
    name="fp_quant",
    inputs=("N", "D", "E", "M", "B"),
    params=(
        Param("n", "positive", grid=(10.0, 100.0), prior=_lognormal(4.0, 3.0), doc="scale of the model-size term"),
        Param("alpha", "positive", grid=(0.2, 0.4), prior=_lognormal(-1.3, 0.7), doc="model-size exponent"),
        Param("d", "positive", grid=(1e3, 1e5), prior=_lognormal(10.0, 4.0), doc="scale of the data term"),
        Param("beta", "positive", grid=(0.3, 0.6), prior=_lognormal(-0.7, 0.7), doc="data exponent"),
        Param("eps", "positive", grid=(1.0, 2.0), prior=_lognormal(0.5, 1.0), doc="irreducible loss"),
        Param("gamma", "positive", grid=(1e3, 1e4, 1e5), prior=_lognormal(9.0, 4.0),
              doc="inverse scale of the quantisation penalty"),
        Param("delta", "positive", grid=(1.0, 3.0), prior=_lognormal(1.0, 1.0), doc="exponent of (E + 0.5)"),
        Param("nu", "positive", grid=(1.0, 3.0), prior=_lognormal(0.7, 1.0), doc="exponent of (M + 0.5)"),
    ),
    log_fn=_fp_quant_log,
    positive_inputs=("N", "D", "B"),
    formula="L = n/N^alpha + d/D^beta + eps + (D^beta/N^alpha) * log2(B) / (gamma (E+0.5)^delta (M+0.5)^nu)",
    citation="Sun, Li, Xie et al. 2025, 'Scaling Laws for Floating-Point Quantization Training', ICML 2025, "
    "arXiv:2501.02423 (unified law)",
    register=True,
)
def fp_quant(p, x):
    r"""Floating-point quantisation training law of Sun et al. (2025):

    .. math::
        L = \frac{n}{N^\alpha} + \frac{d}{D^\beta} + \epsilon
            + \frac{D^\beta}{N^\alpha}\,\frac{\log_2 B}{\gamma\,(E + 0.5)^{\delta}\,(M + 0.5)^{\nu}}

    Inputs: ``N`` parameters, ``D`` tokens, ``E`` exponent bits and ``M`` mantissa bits of the
    FP format (>= 0; not log-transformed), ``B`` block size of the scaling factor (>= 1;
    ``B = 1`` removes the penalty). The first three terms are Chinchilla's; the last is the
    quantisation penalty, which grows with ``D`` (hence the paper's critical data size beyond
    which more data hurts). Their fitted constants are in :data:`FP_QUANT_PARAMS` (recalled,
    see there). Computed as a log-sum-exp of the four terms.
    """
    q = (x["D"] ** p["beta"] / x["N"] ** p["alpha"]) * jnp.log2(x["B"]) / (
        p["gamma"] * (x["E"] + 0.5) ** p["delta"] * (x["M"] + 0.5) ** p["nu"])
    return p["n"] / x["N"] ** p["alpha"] + p["d"] / x["D"] ** p["beta"] + p["eps"] + q


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
              doc="score far below x0 (chance level)"),
        Param("ceiling", (0.0, 1.0), grid=(0.7, 0.95), prior=Prior("uniform", (0.0, 1.0)),
              doc="score far above x0 (saturation)"),
        Param("x0", "positive", grid=(1e-1, 1e1, 1e3, 1e5, 1e7), prior=_lognormal(0.0, 10.0),
              doc="midpoint of the transition (units of x)"),
        Param("k", "real", grid=(-3.0, -1.0, -0.3, 0.3, 1.0, 3.0), prior=Prior("normal", (0.0, 3.0)),
              doc="slope in log x; > 0 for compute, < 0 for loss as input"),
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


def _passuntil_log(p, x):
    return -jnp.exp(jnp.log(p["c"]) - p["alpha"] * jnp.log(x["N"]))


@law(
    name="passuntil",
    inputs=("N",),
    params=(
        Param("c", "positive", grid=_exp_grid((0.0, 3.0, 6.0, 9.0, 12.0)), prior=_lognormal(5.0, 5.0),
              doc="scale: -log PU at N = 1"),
        Param("alpha", "real", grid=(0.1, 0.3, 0.6, 1.0), prior=Prior("normal", (0.5, 0.5)),
              doc="exponent: slope of log(-log PU) against -log N"),
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
