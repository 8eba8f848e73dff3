"""Language-model laws of the law zoo: over-training and downstream error (Gadre et al. 2024),
learning-rate annealing (Tissue et al. 2024), data-constrained scaling (Muennighoff et al. 2023)
and data filtering with repeated data (Goyal et al. 2024).

Every law here is registered, so ``jaxscale.get_law(name)`` and ``--law NAME`` on the command
line find it once ``jaxscale`` is imported. Helpers turn learning-rate schedules into the
annealing law's inputs.
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from .laws import Param, Prior, law, logsumexp

__all__ = [
    "overtraining",
    "error_link",
    "lr_annealing",
    "make_lr_annealing",
    "schedule_inputs",
    "constant_schedule",
    "cosine_schedule",
    "wsd_schedule",
    "annealing_areas",
    "data_constrained",
    "make_data_constrained",
    "data_filtering",
    "make_data_filtering",
]


# ----------------------------------------------------------------------------------------------
# Gadre et al. 2024: over-training and the downstream error link
# ----------------------------------------------------------------------------------------------
def _overtraining_log(p, x):
    log_n, log_d = jnp.log(x["N"]), jnp.log(x["D"])
    return logsumexp(jnp.log(p["E"]), jnp.log(p["A"]) - p["eta"] * log_n, jnp.log(p["B"]) - p["eta"] * log_d)


@law(
    name="overtraining",
    inputs=("N", "D"),
    params=(
        Param("E", "positive", grid=(0.5, 1.0, 2.0, 10.0), prior=Prior("lognormal", (0.5, 1.0)),
              doc="irreducible loss"),
        Param("A", "positive", grid=(1e2, 3e2, 1e3, 3e3), prior=Prior("lognormal", (6.0, 4.0)),
              doc="scale of the parameter term (the repo's alpha)"),
        Param("B", "positive", grid=(1e2, 3e2, 1e3, 3e3), prior=Prior("lognormal", (6.0, 4.0)),
              doc="scale of the data term (the repo's beta * 6^(-eta/2))"),
        Param("eta", "real", grid=(0.1, 0.3), prior=Prior("halfnormal", (1.0,)),
              doc="shared exponent of N and D (the repo's b = -eta)"),
    ),
    log_fn=_overtraining_log,
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


@law(
    name="error_link",
    inputs=("L",),
    params=(
        Param("eps", "real", grid=(0.5, 0.8, 1.0), prior=Prior("normal", (0.8, 0.5)),
              doc="error as the loss grows without bound (chance-level error)"),
        Param("k", "positive", grid=(0.3, 1.0, 3.0), prior=Prior("lognormal", (0.0, 2.0)),
              doc="scale of the loss-dependent term"),
        Param("gamma", "positive", grid=(0.3, 1.0, 3.0), prior=Prior("lognormal", (0.0, 1.0)),
              doc="rate at which error falls as the loss falls"),
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
    Chain it after the loss law with :func:`jaxscale.extrapolate.predict_chain`.
    """
    return p["eps"] - p["k"] * jnp.exp(-p["gamma"] * x["L"])


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
    each point's whole LR schedule, padded past its run); build them with :func:`schedule_inputs`.
    """
    params = [
        Param("L0", "positive", grid=(1.0, 3.0), prior=Prior("lognormal", (0.5, 1.0)),
              doc="loss limit as the forward area grows"),
        Param("A", "positive", grid=(0.1, 1.0), prior=Prior("lognormal", (0.0, 2.0)),
              doc="scale of the forward-area power law"),
        Param("alpha", "positive", grid=(0.3, 0.7), prior=Prior("lognormal", (-0.7, 0.7)),
              doc="exponent of the forward area S1"),
        Param("C", "positive", grid=(0.1, 1.0, 10.0), prior=Prior("lognormal", (0.0, 3.0)),
              doc="loss drop per unit of annealing area S2"),
    ]
    if fit_decay:
        params.append(Param("lam", (0.9, 0.99999), grid=(0.99, 0.999), prior=Prior("uniform", (0.9, 0.99999)),
                            doc="momentum decay factor of the annealing area"))

    def lr_annealing(p, x):
        r"""Loss curve under a learning-rate schedule :math:`L(s) = L_0 + A S_1^{-\alpha} - C S_2`.

        ``S1`` is the forward area (sum of the LR up to step ``s``), ``S2`` the annealing area
        (:func:`jaxscale._zoo_lm.annealing_areas`, decay ``lambda``). Tissue et al. 2024,
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
        formula=f"L(s) = L0 + A * S1^-alpha - C * S2; S1 = sum_(i<=s) eta_i, S2 = sum_(i<=s) m_i, "
        f"m_i = lambda m_(i-1) + eta_(i-1) - eta_i ({lam_txt})",
        citation="Tissue et al. 2024, 'Scaling Law with Learning Rate Annealing', arXiv:2408.11029 (Eq. 1)",
        register=register,
    )(lr_annealing)


lr_annealing = make_lr_annealing(0.999, register=True)


def constant_schedule(n_steps: int, peak: float, *, warmup: int = 0) -> np.ndarray:
    """Constant LR ``peak`` for ``n_steps`` steps (after an optional linear warmup from 0)."""
    return _with_warmup(np.full(int(n_steps), float(peak)), peak, warmup)


def cosine_schedule(n_steps: int, peak: float, *, final: float = 0.1, warmup: int = 0) -> np.ndarray:
    """Cosine decay from ``peak`` to ``final * peak`` over ``n_steps`` (after an optional warmup)."""
    t = np.arange(int(n_steps) - warmup) / max(int(n_steps) - warmup - 1, 1)
    lr = peak * (final + (1 - final) * 0.5 * (1 + np.cos(np.pi * t)))
    return _with_warmup(np.concatenate([np.zeros(warmup), lr]), peak, warmup)


def wsd_schedule(n_steps: int, peak: float, *, decay_frac: float = 0.2, final: float = 0.0,
                 warmup: int = 0) -> np.ndarray:
    """Warmup-stable-decay: ``peak`` until the last ``decay_frac`` of steps, then linear to ``final * peak``."""
    n_steps = int(n_steps)
    n_dec = int(round(decay_frac * n_steps))
    lr = np.full(n_steps, float(peak))
    if n_dec > 0:
        lr[n_steps - n_dec:] = peak * (1 - (1 - final) * np.arange(1, n_dec + 1) / n_dec)
    return _with_warmup(lr, peak, warmup)


def _with_warmup(lr: np.ndarray, peak: float, warmup: int) -> np.ndarray:
    if warmup < 0 or warmup >= lr.shape[0]:
        raise ValueError(f"warmup must be in [0, n_steps), got {warmup}")
    lr = lr.astype(float)
    lr[:warmup] = peak * np.arange(1, warmup + 1) / warmup if warmup else lr[:warmup]
    return lr


def schedule_inputs(data, steps=None, *, run: str = "run", step: str = "step", lr: str = "lr",
                    loss: str = "loss") -> dict:
    """Turn learning-rate schedules (and loss curves) into the inputs of :data:`lr_annealing`.

    ``data`` is either

    * a long-format DataFrame with columns ``run``, ``step`` (1, 2, ... consecutive within each
      run), ``lr`` (the LR at every step) and optionally ``loss`` (NaN where not evaluated): every
      row with a finite loss becomes a data point; or
    * a mapping ``{run_name: lr_array}`` of schedules (LR of steps 1..T): points at ``steps``
      (an int array of steps, default every step), for predicting whole curves.

    Returns a dict ready for :func:`jaxscale.fit` / ``FitResult.predict``: ``step`` (n,), ``eta``
    ``(n, T_max)`` (each point's schedule, padded with its last LR), ``run`` (n,), and ``loss``
    (n,) when the data have losses. Nothing passed in is modified.
    """
    import pandas as pd

    if isinstance(data, Mapping):
        scheds = {}
        for name, sched in data.items():
            a = np.array(sched, dtype=float, copy=True)
            if a.ndim != 1 or a.shape[0] < 1 or not np.all(np.isfinite(a)):
                raise ValueError(f"schedule {name!r} must be a non-empty 1-d array of finite LRs")
            scheds[name] = a
        rows = []
        for name, a in scheds.items():
            st = np.arange(1, a.shape[0] + 1) if steps is None else np.asarray(steps, dtype=int)
            if np.any(st < 1) or np.any(st > a.shape[0]):
                raise ValueError(f"steps must lie in [1, {a.shape[0]}] for schedule {name!r}")
            rows += [(name, s, np.nan) for s in st]
        has_loss = False
    elif isinstance(data, pd.DataFrame):
        missing = [c for c in (run, step, lr) if c not in data.columns]
        if missing:
            raise ValueError(f"missing column(s) {missing}; available columns: {list(map(str, data.columns))}")
        has_loss = loss in data.columns
        scheds, rows = {}, []
        for name, g in data.groupby(run, sort=False):
            g = g.sort_values(step)
            st = g[step].to_numpy()
            if not np.array_equal(st, np.arange(1, st.shape[0] + 1)):
                raise ValueError(f"column {step!r} of run {name!r} must hold every step 1, 2, ..., T once "
                                 "(the areas need the LR at every step)")
            a = g[lr].to_numpy(dtype=float)
            if not np.all(np.isfinite(a)):
                raise ValueError(f"column {lr!r} of run {name!r} has NaN or infinite values")
            scheds[name] = a
            ls = g[loss].to_numpy(dtype=float) if has_loss else np.full(st.shape[0], np.nan)
            keep = np.isfinite(ls) if has_loss else np.ones(st.shape[0], bool)
            rows += [(name, s, v) for s, v in zip(st[keep], ls[keep])]
    else:
        raise ValueError(f"data must be a DataFrame or a mapping of schedules, got {type(data).__name__}")
    if not rows:
        raise ValueError("no data points (no finite losses or no steps)")
    t_max = max(a.shape[0] for a in scheds.values())
    padded = {k: np.concatenate([a, np.full(t_max - a.shape[0], a[-1])]) for k, a in scheds.items()}
    out = {"step": np.array([r[1] for r in rows], dtype=float),
           "eta": np.stack([padded[r[0]] for r in rows]),
           "run": np.array([r[0] for r in rows])}
    if has_loss:
        out["loss"] = np.array([r[2] for r in rows], dtype=float)
    return out


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
    Param("E", "positive", grid=(1.0, 2.0), prior=Prior("lognormal", (0.5, 1.0)), doc="irreducible loss"),
    Param("A", "positive", grid=(1e2, 1e3), prior=Prior("lognormal", (6.0, 4.0)),
          doc="scale of the parameter term"),
    Param("B", "positive", grid=(1e2, 1e3, 1e4), prior=Prior("lognormal", (6.0, 4.0)),
          doc="scale of the data term"),
    Param("alpha", "positive", grid=(0.3, 0.5), prior=Prior("lognormal", (-1.0, 0.5)),
          doc="exponent of the effective parameters N'"),
    Param("beta", "positive", grid=(0.3, 0.5), prior=Prior("lognormal", (-1.0, 0.5)),
          doc="exponent of the effective tokens D'"),
    Param("R_D", "positive", grid=(5.0, 20.0), prior=Prior("lognormal", (2.5, 1.0)),
          doc="R_D*: repetitions at which repeated tokens are worth 1/e of fresh ones"),
    Param("R_N", "positive", grid=(2.0, 10.0), prior=Prior("lognormal", (1.5, 1.0)),
          doc="R_N*: the same decay constant for excess parameters"),
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
                  doc="sample scale (inside the power)"),
            Param("b", "real", grid=(-0.1, -0.3), prior=Prior("normal", (-0.2, 0.3)),
                  doc="utility: exponent of the first pass (negative: loss falls)"),
            Param("tau", "positive", grid=(1.0, 5.0), prior=Prior("lognormal", (1.0, 1.0)),
                  doc="half-life of the utility, in passes over the pool"),
            Param("d", "positive", grid=(0.1, 1.0), prior=Prior("lognormal", (-1.0, 1.0)),
                  doc="irreducible loss"),
        ),
        log_fn=log_fn,
        formula="y = d + (a min(n, S))^b * prod_(k>=1) (clip(n, kS, (k+1)S) / (kS))^(b 2^(-k/tau))",
        citation="Goyal et al. 2024, 'Scaling Laws for Data Filtering -- Data Curation cannot be Compute "
        "Agnostic', arXiv:2404.07177 (code: github.com/locuslab/scaling_laws_data_filtering, "
        "func_effective_utility)",
        register=register,
    )(data_filtering)


data_filtering = make_data_filtering(64, register=True)
