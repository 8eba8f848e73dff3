"""Laws of loss against model size and data: power laws, Chinchilla, Kaplan, precision-aware and
over-training laws (Gadre et al. 2024) and data-constrained scaling (Muennighoff et al. 2023).
"""

from __future__ import annotations

from typing import Mapping

import jax.numpy as jnp

from ._core import Param, Prior, exp_grid, law, logsumexp

__all__ = [
    "power_law",
    "saturating_power_law",
    "chinchilla",
    "kaplan",
    "kumar_precision",
    "fp_quant",
    "FP_QUANT_PARAMS",
    "overtraining",
    "data_constrained",
    "make_data_constrained",
]


def _lognormal(loc, scale):
    return Prior("lognormal", (loc, scale))


def _powers(*terms):
    """Design matrix ``(n, k)``: a column of ones for ``None``, else ``exp(-exponent * log x)``."""
    cols = [None if t is None else jnp.exp(-t[0] * jnp.log(t[1])) for t in terms]
    like = next(c for c in cols if c is not None)
    return jnp.stack([jnp.ones_like(like) if c is None else c for c in cols], axis=-1)


# ----------------------------------------------------------------------------------------------
# Built-in laws
# ----------------------------------------------------------------------------------------------
def _power_law_log(p, x):
    return jnp.log(p["a"]) - p["alpha"] * jnp.log(x["x"])


@law(
    name="power_law",
    inputs=("x",),
    params=(
        Param("a", "positive", grid=exp_grid((-2.0, 0.0, 2.0, 4.0, 6.0)), prior=Prior("lognormal", (0.0, 5.0)),
              role="scale", doc="scale: the prediction at x = 1"),
        Param("alpha", "real", grid=(0.0, 0.25, 0.5, 1.0, 2.0), prior=Prior("halfnormal", (1.0,)),
              role="exponent", doc="power-law exponent"),
    ),
    log_fn=_power_law_log,
    linear=("a",),
    basis=lambda p, x: _powers((p["alpha"], x["x"])),
    formula="L(x) = a * x^-alpha",
    citation="Power law; e.g. Hestness et al. 2017, 'Deep Learning Scaling is Predictable, Empirically'",
    register=True,
)
def power_law(p, x):
    r"""Single power law :math:`L(x) = a\,x^{-\alpha}`.

    Parameters: ``a`` > 0 is the value at ``x = 1``; ``alpha`` the exponent. Input ``x`` > 0.
    Computed as ``log L = log a - alpha log x``.
    """
    return p["a"] * x["x"] ** -p["alpha"]


def _saturating_log(p, x):
    return logsumexp(jnp.log(p["E"]), jnp.log(p["A"]) - p["alpha"] * jnp.log(x["x"]))


@law(
    name="saturating_power_law",
    inputs=("x",),
    params=(
        Param("E", "positive", grid=exp_grid((-2.0, -1.0, 0.0, 1.0)), prior=Prior("lognormal", (0.0, 2.0)),
              role="floor", doc="irreducible loss (the limit as x -> infinity)"),
        Param("A", "positive", grid=exp_grid((-2.0, 0.0, 2.0, 4.0, 6.0)), prior=Prior("lognormal", (0.0, 5.0)),
              role="scale", doc="scale of the reducible term"),
        Param("alpha", "real", grid=(0.0, 0.25, 0.5, 1.0, 2.0), prior=Prior("halfnormal", (1.0,)),
              role="exponent", doc="exponent of the reducible term"),
    ),
    log_fn=_saturating_log,
    linear=("E", "A"),
    basis=lambda p, x: _powers(None, (p["alpha"], x["x"])),
    formula="L(x) = E + A * x^-alpha",
    citation="Henighan et al. 2020, 'Scaling Laws for Autoregressive Generative Modeling', arXiv:2010.14701",
    register=True,
)
def saturating_power_law(p, x):
    r"""Saturating power law :math:`L(x) = E + A\,x^{-\alpha}` (Henighan et al. 2020).

    Parameters: ``E`` > 0 the irreducible loss, ``A`` > 0 the scale, ``alpha`` the exponent.
    Computed in log space as ``LSE(log E, log A - alpha log x)``.
    """
    return p["E"] + p["A"] * x["x"] ** -p["alpha"]


def _chinchilla_optimal(p, compute):
    r"""Closed-form compute-optimal allocation of the Chinchilla law under ``C = 6 N D``.

    :math:`G = (\alpha A / (\beta B))^{1/(\alpha+\beta)}`,
    :math:`N_{opt} = G (C/6)^{\beta/(\alpha+\beta)}`, :math:`D_{opt} = (C/6)^{\alpha/(\alpha+\beta)} / G`
    (Hoffmann et al. 2022, Eq. 4). Computed in logs; broadcasts over arrays of draws.
    """
    a, b = p["alpha"], p["beta"]
    log_g = (jnp.log(a) + jnp.log(p["A"]) - jnp.log(b) - jnp.log(p["B"])) / (a + b)
    log_c6 = jnp.log(jnp.asarray(compute) / 6.0)
    return jnp.exp(log_g + b / (a + b) * log_c6), jnp.exp(a / (a + b) * log_c6 - log_g)


def _chinchilla_log(p, x):
    return logsumexp(
        jnp.log(p["A"]) - p["alpha"] * jnp.log(x["N"]),
        jnp.log(p["B"]) - p["beta"] * jnp.log(x["D"]),
        jnp.log(p["E"]),
    )


@law(
    name="chinchilla",
    inputs=("N", "D"),
    params=(
        Param("E", "positive", grid=exp_grid((-1.0, -0.5, 0.0, 0.5, 1.0)), prior=Prior("lognormal", (0.5, 1.0)),
              role="floor", doc="irreducible loss"),
        Param("A", "positive", grid=exp_grid((0.0, 5.0, 10.0, 15.0, 20.0, 25.0)),
              prior=Prior("lognormal", (6.0, 4.0)), role="scale", doc="scale of the parameter term"),
        Param("B", "positive", grid=exp_grid((0.0, 5.0, 10.0, 15.0, 20.0, 25.0)),
              prior=Prior("lognormal", (6.0, 4.0)), role="scale", doc="scale of the data term"),
        Param("alpha", "real", grid=(0.0, 0.5, 1.0, 1.5, 2.0), prior=Prior("halfnormal", (1.0,)),
              role="exponent", doc="exponent of model size N"),
        Param("beta", "real", grid=(0.0, 0.5, 1.0, 1.5, 2.0), prior=Prior("halfnormal", (1.0,)),
              role="exponent", doc="exponent of training tokens D"),
    ),
    log_fn=_chinchilla_log,
    optimal_allocation=_chinchilla_optimal,
    linear=("E", "A", "B"),
    basis=lambda p, x: _powers(None, (p["alpha"], x["N"]), (p["beta"], x["D"])),
    formula="L(N, D) = E + A / N^alpha + B / D^beta",
    citation="Hoffmann et al. 2022, 'Training Compute-Optimal Large Language Models', arXiv:2203.15556; "
    "grid and Huber objective as in Besiroglu et al. 2024 (Epoch AI), arXiv:2404.10102",
    register=True,
)
def chinchilla(p, x):
    r"""Chinchilla law :math:`L(N, D) = E + A/N^{\alpha} + B/D^{\beta}` (Hoffmann et al. 2022).

    ``N`` is the number of parameters, ``D`` the number of training tokens. ``E`` > 0 is the
    irreducible loss, ``A``, ``B`` > 0 the scales and ``alpha``, ``beta`` the exponents. Computed in
    log space as ``log L = LSE(a - alpha log N, b - beta log D, e)`` with ``a = log A``,
    ``b = log B``, ``e = log E``, which keeps full precision at ``N ~ 1e12``, ``D ~ 1e13``.
    The default start grid is Epoch AI's: alpha, beta in {0, 0.5, ..., 2}, log E in
    {-1, -0.5, ..., 1}, log A, log B in {0, 5, ..., 25} (4,500 starts).
    """
    return p["E"] + p["A"] / x["N"] ** p["alpha"] + p["B"] / x["D"] ** p["beta"]


def _kaplan_optimal(p, compute):
    r"""Compute-optimal allocation of the Kaplan law under ``C = 6 N D`` (closed form).

    With ``r = alpha_N / alpha_D`` and ``D = C / (6 N)``, ``L^(1/alpha_D) = (Nc/N)^r + 6 Dc N / C`` is
    smallest at :math:`N_{opt}^{r+1} = r N_c^r C / (6 D_c)`, :math:`D_{opt} = C / (6 N_{opt})`
    (positive exponents). Computed in logs; broadcasts over arrays of draws.
    """
    r = p["alpha_N"] / p["alpha_D"]
    log_c6 = jnp.log(jnp.asarray(compute) / 6.0)
    log_n = (jnp.log(r) + r * jnp.log(p["Nc"]) + log_c6 - jnp.log(p["Dc"])) / (r + 1.0)
    return jnp.exp(log_n), jnp.exp(log_c6 - log_n)


def _kaplan_log(p, x):
    ratio = p["alpha_N"] / p["alpha_D"]
    t_n = ratio * (jnp.log(p["Nc"]) - jnp.log(x["N"]))
    t_d = jnp.log(p["Dc"]) - jnp.log(x["D"])
    return p["alpha_D"] * logsumexp(t_n, t_d)


@law(
    name="kaplan",
    inputs=("N", "D"),
    params=(
        Param("Nc", "positive", grid=exp_grid((20.0, 25.0, 30.0, 35.0)), prior=Prior("lognormal", (30.0, 5.0)),
              role="scale", doc="critical model size"),
        Param("Dc", "positive", grid=exp_grid((20.0, 25.0, 30.0, 35.0)), prior=Prior("lognormal", (30.0, 5.0)),
              role="scale", doc="critical data size"),
        Param("alpha_N", "real", grid=(0.05, 0.1, 0.3), prior=Prior("halfnormal", (0.5,)),
              role="exponent", doc="model-size exponent"),
        Param("alpha_D", "real", grid=(0.05, 0.1, 0.3), prior=Prior("halfnormal", (0.5,)),
              role="exponent", doc="data-size exponent"),
    ),
    log_fn=_kaplan_log,
    optimal_allocation=_kaplan_optimal,
    formula="L(N, D) = ((Nc/N)^(alpha_N/alpha_D) + Dc/D)^alpha_D",
    citation="Kaplan et al. 2020, 'Scaling Laws for Neural Language Models', arXiv:2001.08361, Eq. 1.5",
    register=True,
)
def kaplan(p, x):
    r"""Kaplan et al. 2020 :math:`L(N, D) = ((N_c/N)^{\alpha_N/\alpha_D} + D_c/D)^{\alpha_D}`.

    ``Nc``, ``Dc`` > 0 are the critical model and data sizes, ``alpha_N``, ``alpha_D`` the
    exponents (published: alpha_N = 0.076, alpha_D = 0.103, Nc = 6.4e13, Dc = 1.8e13). Computed
    in log space as ``alpha_D * LSE((alpha_N/alpha_D)(log Nc - log N), log Dc - log D)``.
    """
    return ((p["Nc"] / x["N"]) ** (p["alpha_N"] / p["alpha_D"]) + p["Dc"] / x["D"]) ** p["alpha_D"]


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
        Param("E", "positive", grid=(1.0, 2.0), prior=_lognormal(0.5, 1.0), role="floor", doc="irreducible loss"),
        Param("A", "positive", grid=exp_grid((3.0, 6.0, 9.0)), prior=_lognormal(6.0, 4.0),
              role="scale", doc="scale of the effective-parameter term"),
        Param("B", "positive", grid=exp_grid((3.0, 6.0, 9.0)), prior=_lognormal(6.0, 4.0),
              role="scale", doc="scale of the data term"),
        Param("alpha", "positive", grid=(0.2, 0.4), prior=_lognormal(-1.0, 0.7), role="exponent",
              doc="exponent of N_eff"),
        Param("beta", "positive", grid=(0.2, 0.4), prior=_lognormal(-1.0, 0.7), role="exponent", doc="exponent of D"),
        Param("gamma_w", "positive", grid=(1.0, 3.0), prior=_lognormal(1.0, 1.0),
              role="shape", doc="precision scale of weights (bits)"),
        Param("gamma_a", "positive", grid=(1.0, 3.0), prior=_lognormal(1.0, 1.0),
              role="shape", doc="precision scale of activations (bits)"),
        Param("gamma_kv", "positive", grid=(1.0, 3.0), prior=_lognormal(1.0, 1.0),
              role="shape", doc="precision scale of the KV cache / attention (bits)"),
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
        Param("n", "positive", grid=(10.0, 100.0), prior=_lognormal(4.0, 3.0), role="scale",
              doc="scale of the model-size term"),
        Param("alpha", "positive", grid=(0.2, 0.4), prior=_lognormal(-1.3, 0.7), role="exponent",
              doc="model-size exponent"),
        Param("d", "positive", grid=(1e3, 1e5), prior=_lognormal(10.0, 4.0), role="scale",
              doc="scale of the data term"),
        Param("beta", "positive", grid=(0.3, 0.6), prior=_lognormal(-0.7, 0.7), role="exponent", doc="data exponent"),
        Param("eps", "positive", grid=(1.0, 2.0), prior=_lognormal(0.5, 1.0), role="floor", doc="irreducible loss"),
        Param("gamma", "positive", grid=(1e3, 1e4, 1e5), prior=_lognormal(9.0, 4.0),
              role="scale", doc="inverse scale of the quantisation penalty"),
        Param("delta", "positive", grid=(1.0, 3.0), prior=_lognormal(1.0, 1.0), role="exponent",
              doc="exponent of (E + 0.5)"),
        Param("nu", "positive", grid=(1.0, 3.0), prior=_lognormal(0.7, 1.0), role="exponent",
              doc="exponent of (M + 0.5)"),
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
# Gadre et al. 2024: over-training and the downstream error link
# ----------------------------------------------------------------------------------------------
def _overtraining_optimal(p, compute):
    r"""Compute-optimal allocation of the over-training law under ``C = 6 N D`` (closed form).

    The Chinchilla optimum with ``alpha = beta = eta``: :math:`N_{opt} = G \sqrt{C/6}`,
    :math:`D_{opt} = \sqrt{C/6} / G`, :math:`G = (A/B)^{1/(2\eta)}`. Broadcasts over arrays of draws.
    """
    log_g = (jnp.log(p["A"]) - jnp.log(p["B"])) / (2.0 * p["eta"])
    half = 0.5 * jnp.log(jnp.asarray(compute) / 6.0)
    return jnp.exp(log_g + half), jnp.exp(half - log_g)


def _overtraining_log(p, x):
    log_n, log_d = jnp.log(x["N"]), jnp.log(x["D"])
    return logsumexp(jnp.log(p["E"]), jnp.log(p["A"]) - p["eta"] * log_n, jnp.log(p["B"]) - p["eta"] * log_d)


@law(
    name="overtraining",
    inputs=("N", "D"),
    params=(
        Param("E", "positive", grid=(0.5, 1.0, 2.0, 10.0), prior=Prior("lognormal", (0.5, 1.0)),
              role="floor", doc="irreducible loss"),
        Param("A", "positive", grid=(1e2, 3e2, 1e3, 3e3), prior=Prior("lognormal", (6.0, 4.0)),
              role="scale", doc="scale of the parameter term (the repo's alpha)"),
        Param("B", "positive", grid=(1e2, 3e2, 1e3, 3e3), prior=Prior("lognormal", (6.0, 4.0)),
              role="scale", doc="scale of the data term (the repo's beta * 6^(-eta/2))"),
        Param("eta", "real", grid=(0.1, 0.3), prior=Prior("halfnormal", (1.0,)),
              role="exponent", doc="shared exponent of N and D (the repo's b = -eta)"),
    ),
    log_fn=_overtraining_log,
    optimal_allocation=_overtraining_optimal,
    linear=("E", "A", "B"),
    basis=lambda p, x: _powers(None, (p["eta"], x["N"]), (p["eta"], x["D"])),
    formula="L(N, D) = E + A * N^-eta + B * D^-eta",
    citation="Gadre et al. 2024, 'Language models scale reliably with over-training and on downstream "
    "tasks', arXiv:2403.08540 (Eq. 4; code: github.com/mlfoundations/scaling, powlaw_ours)",
    register=True,
)
def overtraining(p, x):
    r"""Over-training law :math:`L(N, D) = E + A N^{-\eta} + B D^{-\eta}` (Gadre et al. 2024).

    A Chinchilla law with one exponent shared by model size ``N`` and tokens ``D``. With the
    token multiplier ``M = D / N`` and compute ``C = 6 N D`` it is the paper's
    :math:`L(C, M) = E + (a M^{\eta/2} + b M^{-\eta/2}) C^{-\eta/2}` with
    ``a = A 6^(eta/2)``, ``b = B 6^(eta/2)`` (so the paper's ``alpha_C = eta / 2``). The repo's
    parameterisation ``L = alpha N^b + beta 6^(b/2) (M N)^b + E`` is ``alpha = A``, ``b = -eta``,
    ``beta = B 6^(eta/2)``. The default start grid follows the repo: A, B in {1e2, 3e2, 1e3, 3e3},
    eta in {0.1, 0.3}, E in {0.5, 1, 2, 10} (128 starts; the repo's E0 = 0 is outside E > 0).
    The paper fits it with unweighted least squares on the loss: ``fit(..., loss="squared")``.
    Computed in log space as ``LSE(log E, log A - eta log N, log B - eta log D)``.
    """
    return p["E"] + p["A"] * x["N"] ** -p["eta"] + p["B"] * x["D"] ** -p["eta"]


# ----------------------------------------------------------------------------------------------
# Muennighoff et al. 2023: data-constrained scaling
# ----------------------------------------------------------------------------------------------
def _data_constrained_log(p, x):
    # Written with few parameter-dependent operations: compile time of the batched solver grows
    # quickly with the size of the law's graph (its Hessian is compiled three times).
    ud = jnp.minimum(x["U"], x["D"])  # a run shorter than one epoch sees D unique tokens
    r_d, log_ud = x["D"] / ud - 1.0, jnp.log(ud)
    a, b, log_a, log_b = p["alpha"], p["beta"], jnp.log(p["A"]), jnp.log(p["B"])
    # U_N: the compute-optimal model size for U_D tokens under the law's own Chinchilla part,
    # log N_opt(U_D) = log G + (b/a)(log G + log U_D), log G = log(a A / (b B)) / (a + b).
    ratio = b / a
    log_g = (jnp.log(a / b) + log_a - log_b) / (a + b)
    log_un = jnp.minimum(jnp.log(x["N"]), (1.0 + ratio) * log_g + ratio * log_ud)
    r_n = x["N"] * jnp.exp(-log_un) - 1.0
    log_np = log_un + jnp.log1p(-p["R_N"] * jnp.expm1(-r_n / p["R_N"]))
    log_dp = log_ud + jnp.log1p(-p["R_D"] * jnp.expm1(-r_d / p["R_D"]))
    # log(E + A N'^-a + B D'^-b); every exponent is <= log A or log B, so plain exp cannot overflow
    return jnp.log(p["E"] + jnp.exp(log_a - a * log_np) + jnp.exp(log_b - b * log_dp))


_DC_PARAMS = (
    Param("E", "positive", grid=(1.0, 2.0), prior=Prior("lognormal", (0.5, 1.0)), role="floor", doc="irreducible loss"),
    Param("A", "positive", grid=(1e2, 1e3), prior=Prior("lognormal", (6.0, 4.0)),
          role="scale", doc="scale of the parameter term"),
    Param("B", "positive", grid=(1e2, 1e3, 1e4), prior=Prior("lognormal", (6.0, 4.0)),
          role="scale", doc="scale of the data term"),
    Param("alpha", "positive", grid=(0.3, 0.5), prior=Prior("lognormal", (-1.0, 0.5)),
          role="exponent", doc="exponent of the effective parameters N'"),
    Param("beta", "positive", grid=(0.3, 0.5), prior=Prior("lognormal", (-1.0, 0.5)),
          role="exponent", doc="exponent of the effective tokens D'"),
    Param("R_D", "positive", grid=(5.0, 20.0), prior=Prior("lognormal", (2.5, 1.0)),
          role="shape", doc="R_D*: repetitions at which repeated tokens are worth 1/e of fresh ones"),
    Param("R_N", "positive", grid=(2.0, 10.0), prior=Prior("lognormal", (1.5, 1.0)),
          role="shape", doc="R_N*: the same decay constant for excess parameters"),
)


def make_data_constrained(fixed: Mapping | None = None, *, name: str | None = None, register: bool = False):
    r"""Build the data-constrained law (Muennighoff et al. 2023), optionally with some parameters fixed.

    ``fixed`` maps parameter names (of ``E, A, B, alpha, beta, R_D, R_N``) to values held
    constant; the law then fits only the others. A two-stage fit -- the Chinchilla part
    ``E, A, B, alpha, beta`` on single-epoch runs with :data:`~jaxscale.chinchilla`, then
    ``R_D, R_N`` on the repeated runs with ``make_data_constrained(fixed=stage1.params)`` -- is
    cheaper and better conditioned than the joint 7-parameter fit of :data:`data_constrained`.
    """
    fixed = {k: float(v) for k, v in (fixed or {}).items()}
    names = [q.name for q in _DC_PARAMS]
    unknown = sorted(set(fixed) - set(names))
    if unknown:
        raise ValueError(f"unknown fixed parameter(s) {unknown}; the law has {names}")
    params = tuple(q for q in _DC_PARAMS if q.name not in fixed)
    if not params:
        raise ValueError("fixed holds every parameter: nothing left to fit")

    def log_fn(p, x):
        return _data_constrained_log({**fixed, **p}, x)

    def data_constrained(p, x):
        r"""Data-constrained law (Muennighoff et al. 2023): Chinchilla in effective parameters and tokens.

        .. math::
            L = E + \frac{A}{N'^{\alpha}} + \frac{B}{D'^{\beta}},\quad
            D' = U_D + U_D R_D^* (1 - e^{-R_D/R_D^*}),\quad N' = U_N + U_N R_N^* (1 - e^{-R_N/R_N^*}),

        with ``U_D = min(U, D)`` the unique tokens, ``R_D = D / U_D - 1`` the repetitions,
        ``U_N = min(N, N_opt(U_D))`` where ``N_opt(D) = G (G D)^(beta/alpha)``,
        ``G = (alpha A / (beta B))^(1/(alpha+beta))`` is the Chinchilla compute-optimal size for
        ``U_D`` tokens under the law's own ``A, B, alpha, beta`` (as in the authors' code), and
        ``R_N = N / U_N - 1`` the excess parameters. Inputs: ``N`` parameters, ``D`` training
        tokens, ``U`` unique tokens. Published fit: ``R_D* = 15.39``, ``R_N* = 5.31``,
        ``E = exp(0.6255)``, ``A = exp(6.2554)``, ``B = exp(7.3050)``, ``alpha = beta = 0.3527``.
        Computed in log space.
        """
        return jnp.exp(log_fn(p, x))

    fixed_txt = "" if not fixed else " (fixed: " + ", ".join(f"{k}={v:g}" for k, v in fixed.items()) + ")"
    return law(
        name=name or ("data_constrained" if not fixed else "data_constrained_partial"),
        inputs=("N", "D", "U"),
        params=params,
        log_fn=log_fn,
        formula="L = E + A / N'^alpha + B / D'^beta; D' = U_D + U_D R_D* (1 - exp(-R_D / R_D*)), "
        "R_D = D / U_D - 1, U_D = min(U, D); N' = U_N + U_N R_N* (1 - exp(-R_N / R_N*)), R_N = N / U_N - 1, "
        "U_N = min(N, N_opt(U_D))" + fixed_txt,
        citation="Muennighoff et al. 2023, 'Scaling Data-Constrained Language Models', arXiv:2305.16264 "
        "(Eqs. 5-7; code: github.com/huggingface/datablations)",
        register=register,
    )(data_constrained)


data_constrained = make_data_constrained(register=True)
