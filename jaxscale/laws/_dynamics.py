"""Training-dynamics laws: Kaplan et al. (2020) loss after ``S`` steps at batch size ``B`` with the
critical batch size solved as a fixed point, the learning-rate annealing law of Tissue et al.
(2024), and the repeated-data utility law of Goyal et al. (2024) for data filtering.

Build the annealing law's inputs from learning-rate schedules with
:func:`jaxscale.laws.schedules.schedule_inputs`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._core import Param, Prior, exp_grid, law, logsumexp
from ._implicit import newton_root
from .schedules import schedule_inputs

__all__ = [
    "kaplan_ns",
    "KAPLAN_NS_PARAMS",
    "critical_batch_size",
    "min_steps",
    "lr_annealing",
    "make_lr_annealing",
    "annealing_areas",
    "data_filtering",
    "make_data_filtering",
]


def _lognormal(loc, scale):
    return Prior("lognormal", (loc, scale))


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


_kaplan_ns_solve = newton_root(_kaplan_ns_residual, _kaplan_ns_init, _KAPLAN_NS_ITERS)


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
        Param("Nc", "positive", grid=exp_grid((25.0, 30.0, 35.0)), prior=_lognormal(30.0, 5.0),
              role="scale", doc="critical model size (non-embedding parameters)"),
        Param("alpha_N", "positive", grid=(0.05, 0.1, 0.2), prior=_lognormal(-2.5, 1.0),
              role="exponent", doc="model-size exponent"),
        Param("Sc", "positive", grid=(1e2, 2e3, 3e4), prior=_lognormal(7.5, 3.0), role="scale",
              doc="critical number of steps"),
        Param("alpha_S", "positive", grid=(0.3, 0.7, 1.2), prior=_lognormal(-0.3, 1.0), role="exponent",
              doc="step exponent"),
        Param("B_star", "positive", grid=(1e6, 1e8, 1e10), prior=_lognormal(19.0, 4.0),
              role="scale", doc="critical-batch-size scale (tokens)"),
        Param("alpha_B", "positive", grid=(0.1, 0.2, 0.4), prior=_lognormal(-1.5, 1.0),
              role="exponent", doc="critical-batch-size exponent"),
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
# Tissue et al. 2024: scaling law with learning-rate annealing
# ----------------------------------------------------------------------------------------------
def annealing_areas(step, eta, decay: float = 0.999):
    r"""Forward area ``S1`` and annealing area ``S2`` of learning-rate schedules (pure JAX, branch-free).

    ``eta`` has shape ``(..., T)`` (one schedule per row: ``eta[..., i-1]`` is the LR of step ``i``;
    values past a run's end are ignored), ``step`` shape ``(...)`` with ``1 <= step <= T``.

    .. math::
        S_1(s) = \sum_{i=1}^{s} \eta_i, \qquad
        S_2(s) = \sum_{i=1}^{s} m_i,\quad m_i = \lambda m_{i-1} + (\eta_{i-1} - \eta_i),\ m_0 = 0,

    with :math:`\eta_0 = \eta_1` (no annealing before the first step). Unrolled,
    :math:`S_2(s) = \sum_{k \le s} \Delta_k (1 - \lambda^{s-k+1}) / (1 - \lambda)` with
    :math:`\Delta_k = \eta_{k-1} - \eta_k`; computed in that closed form with a mask, so the cost is
    ``O(T)`` per point and there is no loop. A warmup (rising LR) gives negative ``Delta_k``, as the
    recursion says; pass the post-warmup part of a schedule to leave warmup out.
    """
    return _areas(jnp.asarray(step), jnp.asarray(eta), jnp.asarray(decay))


@jax.jit
def _areas(step, eta, decay):
    s = step[..., None]
    k = jnp.arange(1, eta.shape[-1] + 1, dtype=eta.dtype)
    on = k <= s
    s1 = jnp.sum(jnp.where(on, eta, 0.0), axis=-1)
    delta = jnp.concatenate([jnp.zeros_like(eta[..., :1]), eta[..., :-1] - eta[..., 1:]], axis=-1)
    lam = decay.astype(eta.dtype)
    n = jnp.maximum(s - k + 1.0, 0.0)
    weight = -jnp.expm1(n * jnp.log(lam)) / (1.0 - lam)  # (1 - lam^n) / (1 - lam), accurate as lam -> 1
    s2 = jnp.sum(jnp.where(on, delta * weight, 0.0), axis=-1)
    return s1, s2


def loss_curve_inputs(data, *, target: str = "loss") -> dict:
    """Input builder of the annealing laws: long-format loss curves -> ``step``, ``eta``, ``run``, ``target``.

    ``data`` has columns ``run``, ``step`` (1, 2, ... within each run), ``lr`` (the LR at every
    step) and ``target`` (the loss, NaN where not evaluated); every row with a finite ``target``
    becomes a data point (see :func:`jaxscale.laws.schedules.schedule_inputs`). ``run`` is kept
    per point, so it can serve as the cluster of a cluster bootstrap.
    """
    out = schedule_inputs(data, loss=target)
    if "loss" in out:
        out[target] = out.pop("loss")
    return out


def make_lr_annealing(decay: float = 0.999, *, fit_decay: bool = False, name: str | None = None, register=False):
    r"""Build the learning-rate annealing law :math:`L(s) = L_0 + A S_1^{-\alpha} - C S_2` (Tissue et al. 2024).

    Args:
      decay: the momentum decay factor ``lambda`` of the annealing area (the paper's usual
        value is 0.999). Fixed by default: the paper sets it rather than fits it, and with one
        or two curves it is weakly identified -- refitting constant + cosine curves (0.2% noise,
        10 seeds) with ``lam`` free gave ``lam`` in [0.9987, 0.9995] with corr(C, lam) = -0.99
        and ``C`` between 0.91 and 1.06 (true 1), against a 0.8% sd with ``lambda`` fixed.
      fit_decay: add ``lam`` in (0.9, 0.99999) as a fitted parameter (``decay`` is then unused).
      name: the law's name (default ``"lr_annealing"``, or ``"lr_annealing_fit_decay"``).
      register: add the law to the registry.

    Inputs: ``step`` (1-d, the step ``s`` of each point, >= 1) and ``eta`` (2-d, ``(n_points, T)``:
    each point's whole LR schedule, padded past its run); build them with
    :func:`~jaxscale.laws.schedules.schedule_inputs`. The law's input builder
    (:func:`loss_curve_inputs`) reads long-format loss curves, so ``fit(law, frame)`` and
    ``jaxscale fit curves.csv --law lr_annealing`` take columns ``run, step, lr, loss`` directly.
    """
    params = [
        Param("L0", "positive", grid=(1.0, 3.0), prior=Prior("lognormal", (0.5, 1.0)),
              role="floor", doc="loss limit as the forward area grows"),
        Param("A", "positive", grid=(0.1, 1.0), prior=Prior("lognormal", (0.0, 2.0)),
              role="scale", doc="scale of the forward-area power law"),
        Param("alpha", "positive", grid=(0.3, 0.7), prior=Prior("lognormal", (-0.7, 0.7)),
              role="exponent", doc="exponent of the forward area S1"),
        Param("C", "positive", grid=(0.1, 1.0, 10.0), prior=Prior("lognormal", (0.0, 3.0)),
              role="scale", doc="loss drop per unit of annealing area S2"),
    ]
    if fit_decay:
        params.append(Param("lam", (0.9, 0.99999), grid=(0.99, 0.999), prior=Prior("uniform", (0.9, 0.99999)),
                            role="shape", doc="momentum decay factor of the annealing area"))

    def lr_annealing(p, x):
        r"""Loss curve under a learning-rate schedule :math:`L(s) = L_0 + A S_1^{-\alpha} - C S_2`.

        ``S1`` is the forward area (sum of the LR up to step ``s``), ``S2`` the annealing area
        (:func:`jaxscale.laws.annealing_areas`, decay ``lambda``). Tissue et al. 2024,
        arXiv:2408.11029.
        """
        s1, s2 = annealing_areas(x["step"], x["eta"], p["lam"] if fit_decay else decay)
        return p["L0"] + p["A"] * s1 ** -p["alpha"] - p["C"] * s2

    lam_txt = "lam fitted" if fit_decay else f"lambda = {decay:g}"
    return law(
        name=name or ("lr_annealing_fit_decay" if fit_decay else "lr_annealing"),
        inputs=("step", "eta"),
        params=tuple(params),
        positive_inputs=("step",),
        input_builder=loss_curve_inputs,
        formula=f"L(s) = L0 + A * S1^-alpha - C * S2; S1 = sum_(i<=s) eta_i, S2 = sum_(i<=s) m_i, "
        f"m_i = lambda m_(i-1) + eta_(i-1) - eta_i ({lam_txt})",
        citation="Tissue et al. 2024, 'Scaling Law with Learning Rate Annealing', arXiv:2408.11029 (Eq. 1)",
        register=register,
    )(lr_annealing)


lr_annealing = make_lr_annealing(0.999, register=True)


# ----------------------------------------------------------------------------------------------
# Goyal et al. 2024: data filtering with repeated data
# ----------------------------------------------------------------------------------------------
def make_data_filtering(max_epochs: int = 64, *, name: str = "data_filtering", register: bool = False):
    r"""Build the repeated-data utility law of Goyal et al. 2024 with a static epoch count.

    ``max_epochs`` bounds the repetitions that are modelled (a fixed-shape sum with masks);
    samples beyond ``max_epochs + 1`` passes over the pool add nothing (their utility has
    decayed by ``2^(-max_epochs / tau)`` anyway).
    """
    k = np.arange(1, int(max_epochs) + 1, dtype=float)

    def log_fn(p, x):
        n, s = x["n"], x["S"]
        kk = jnp.asarray(k, dtype=jnp.result_type(n, float))
        lo = s[..., None] * kk  # samples seen when repetition k starts
        # log of the growth of the sample count within repetition k (0 before it starts):
        # inputs only, so it costs nothing in the solver's derivatives
        dlog = jnp.log(jnp.clip(n[..., None], lo, lo + s[..., None])) - jnp.log(lo)
        decay = jnp.exp(-(jnp.log(2.0) / p["tau"]) * kk)  # 2^(-k / tau)
        log_term = p["b"] * (jnp.log(p["a"]) + jnp.log(jnp.minimum(n, s)) + dlog @ decay)
        return logsumexp(jnp.log(p["d"]), log_term)

    def data_filtering(p, x):
        r"""Loss (or error) with data repeated over epochs (Goyal et al. 2024, 'effective utility').

        A pool of ``S`` unique samples, ``n`` samples seen in total (``n / S`` passes). During
        the first pass ``y = d + (a n)^b``; during pass ``k`` (k = 1, 2, ...; ``n in [kS, (k+1)S]``)
        each sample's utility has decayed to ``b_k = b 2^(-k/tau)`` (half-life ``tau`` passes) and
        the reducible part is multiplied by ``(n / (k S))^(b_k)``:

        .. math::
            y(n) = d + (a \min(n, S))^{b} \prod_{k \ge 1}
                   \left(\frac{\mathrm{clip}(n, kS, (k+1)S)}{kS}\right)^{b\,2^{-k/\tau}}.

        ``b < 0`` (loss falls with samples); ``a`` sets the units (the authors' code divides
        samples by 1e5). Computed in log space with a fixed number of passes and masks.
        """
        return jnp.exp(log_fn(p, x))

    return law(
        name=name,
        inputs=("n", "S"),
        params=(
            Param("a", "positive", grid=(1e-6, 1e-4), prior=Prior("lognormal", (-10.0, 5.0)),
                  role="scale", doc="sample scale (inside the power)"),
            Param("b", "real", grid=(-0.1, -0.3), prior=Prior("normal", (-0.2, 0.3)),
                  role="exponent", doc="utility: exponent of the first pass (negative: loss falls)"),
            Param("tau", "positive", grid=(1.0, 5.0), prior=Prior("lognormal", (1.0, 1.0)),
                  role="shape", doc="half-life of the utility, in passes over the pool"),
            Param("d", "positive", grid=(0.1, 1.0), prior=Prior("lognormal", (-1.0, 1.0)),
                  role="floor", doc="irreducible loss"),
        ),
        log_fn=log_fn,
        formula="y = d + (a min(n, S))^b * prod_(k>=1) (clip(n, kS, (k+1)S) / (kS))^(b 2^(-k/tau))",
        citation="Goyal et al. 2024, 'Scaling Laws for Data Filtering -- Data Curation cannot be Compute "
        "Agnostic', arXiv:2404.07177 (code: github.com/locuslab/scaling_laws_data_filtering, "
        "func_effective_utility)",
        register=register,
    )(data_filtering)


data_filtering = make_data_filtering(64, register=True)
