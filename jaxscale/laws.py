"""Scaling laws as pure JAX functions with a parameter spec.

A :class:`Law` is a pure function ``fn(params, inputs) -> prediction`` where ``params`` maps
parameter names to (natural-space) values and ``inputs`` maps input names (``"N"``, ``"D"``,
...) to arrays, plus a spec of its parameters (:class:`Param`): how each is constrained, the
default grid of starting values and a default prior for Bayesian fits. Laws may also give a
``log_fn`` that returns ``log(prediction)`` computed stably (log-sum-exp form); objectives on log
residuals use it.

Define your own law in a few lines::

    import jax.numpy as jnp
    import jaxscale as js

    @js.law(inputs=("N",), params=(js.Param("E", "positive", grid=(1.0, 2.0)),
                                   js.Param("A", "positive", grid=(1e1, 1e3)),
                                   js.Param("alpha", "real", grid=(0.1, 0.5))))
    def my_law(p, x):
        return p["E"] + p["A"] * x["N"] ** -p["alpha"]

Parameters are fitted in an unconstrained space: ``"positive"`` parameters as their logarithm,
``"real"`` ones as they are, ``(lo, hi)`` bounded ones through a scaled logistic function.
Start grids and priors are given in natural (constrained) space.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "Law",
    "Param",
    "Prior",
    "law",
    "get_law",
    "list_laws",
    "power_law",
    "saturating_power_law",
    "chinchilla",
    "kaplan",
    "logsumexp",
]


# ----------------------------------------------------------------------------------------------
# Priors and transforms
# ----------------------------------------------------------------------------------------------
_PRIOR_FAMILIES = {
    "normal": ("loc", "scale"),
    "lognormal": ("loc", "scale"),
    "halfnormal": ("scale",),
    "uniform": ("low", "high"),
}


@dataclasses.dataclass(frozen=True)
class Prior:
    """A prior in natural parameter space, stored as plain numbers so laws stay hashable.

    ``family`` is one of ``normal(loc, scale)``, ``lognormal(loc, scale)`` (a normal prior on the
    logarithm), ``halfnormal(scale)`` and ``uniform(low, high)``. :meth:`to_numpyro` builds the
    NumPyro distribution when a Bayesian fit needs it.
    """

    family: str
    args: tuple[float, ...]

    def __post_init__(self):
        if self.family not in _PRIOR_FAMILIES:
            raise ValueError(f"unknown prior family {self.family!r}; known: {sorted(_PRIOR_FAMILIES)}")
        if len(self.args) != len(_PRIOR_FAMILIES[self.family]):
            raise ValueError(f"prior {self.family} takes arguments {_PRIOR_FAMILIES[self.family]}")
        object.__setattr__(self, "args", tuple(float(a) for a in self.args))

    def to_numpyro(self):
        import numpyro.distributions as dist

        cls = {"normal": dist.Normal, "lognormal": dist.LogNormal, "halfnormal": dist.HalfNormal,
               "uniform": dist.Uniform}[self.family]
        return cls(*self.args)

    def __str__(self):
        return f"{self.family}({', '.join(f'{a:g}' for a in self.args)})"


def _transform_kind(transform) -> tuple:
    if transform in ("real", "identity", None):
        return ("real",)
    if transform in ("positive", "log"):
        return ("positive",)
    if isinstance(transform, (tuple, list)) and len(transform) == 2:
        lo, hi = float(transform[0]), float(transform[1])
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"bounds must be finite with lo < hi, got {transform!r}")
        return ("bounded", lo, hi)
    raise ValueError(f"transform must be 'real', 'positive' or a (lo, hi) pair, got {transform!r}")


@dataclasses.dataclass(frozen=True)
class Param:
    """One parameter of a law.

    Args:
      name: the parameter's name (a key of the ``params`` dict the law receives).
      transform: ``"real"`` (unconstrained), ``"positive"`` (fitted as its log) or ``(lo, hi)``
        (fitted through ``lo + (hi - lo) * sigmoid(u)``).
      grid: default start values in natural space; the law's default start grid is the Cartesian
        product over its parameters.
      prior: default prior for Bayesian fits, a :class:`Prior`.
      doc: one line saying what the parameter means.
    """

    name: str
    transform: Any = "real"
    grid: tuple[float, ...] | None = None
    prior: Prior | None = None
    doc: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"parameter name must be an identifier, got {self.name!r}")
        kind = _transform_kind(self.transform)
        object.__setattr__(self, "transform", kind if kind[0] == "bounded" else kind[0])
        if self.grid is None:
            grid = {"real": (-1.0, 0.0, 1.0), "positive": (0.1, 1.0, 10.0)}.get(kind[0])
            if grid is None:
                lo, hi = kind[1], kind[2]
                grid = tuple(lo + (hi - lo) * q for q in (0.25, 0.5, 0.75))
        else:
            grid = tuple(float(g) for g in np.atleast_1d(np.asarray(self.grid, dtype=float)))
        object.__setattr__(self, "grid", grid)
        u = self.unconstrain(np.asarray(grid))
        if not np.all(np.isfinite(u)):
            raise ValueError(f"grid of parameter {self.name!r} has values outside its domain: {grid}")
        if self.prior is None:
            if kind[0] == "real":
                prior = Prior("normal", (0.0, 10.0))
            elif kind[0] == "positive":
                prior = Prior("lognormal", (0.0, 10.0))
            else:
                prior = Prior("uniform", (kind[1], kind[2]))
            object.__setattr__(self, "prior", prior)
        elif not isinstance(self.prior, Prior):
            raise ValueError(f"prior of {self.name!r} must be a jaxscale.Prior, got {self.prior!r}")

    # u (unconstrained) <-> theta (natural). Both work on NumPy and JAX arrays.
    def constrain(self, u):
        xp = jnp if isinstance(u, jax.Array) else np
        if self.transform == "real":
            return u
        if self.transform == "positive":
            return xp.exp(u)
        lo, hi = self.transform[1], self.transform[2]
        return lo + (hi - lo) / (1.0 + xp.exp(-u))

    def unconstrain(self, theta):
        xp = jnp if isinstance(theta, jax.Array) else np
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.transform == "real":
                return theta
            if self.transform == "positive":
                return xp.log(theta)
            lo, hi = self.transform[1], self.transform[2]
            q = (theta - lo) / (hi - lo)
            return xp.log(q) - xp.log1p(-q)


def logsumexp(*terms):
    """Stable ``log(sum(exp(t) for t in terms))`` of broadcastable arrays (elementwise)."""
    terms = jnp.broadcast_arrays(*terms)
    m = jax.lax.stop_gradient(jnp.max(jnp.stack(terms), axis=0))
    m = jnp.where(jnp.isfinite(m), m, 0.0)
    return m + jnp.log(sum(jnp.exp(t - m) for t in terms))


# ----------------------------------------------------------------------------------------------
# Law
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class Law:
    """A scaling law: ``fn(params, inputs)`` plus its parameter spec.

    Args:
      name: short name (used on the command line and in saved results).
      fn: pure JAX function ``fn(params: dict, inputs: dict) -> prediction``.
      params: the :class:`Param` specs, in a fixed order.
      inputs: names of the inputs ``fn`` reads.
      log_fn: optional stable ``log(fn(params, inputs))``; objectives on log residuals use it.
      positive_inputs: inputs that must be strictly positive (logs are taken); default all.
      formula, citation: shown in tables and docs.
      version: bump when the law's definition changes, so saved results can be checked.

    Laws compare and hash by identity, so a jitted solver compiled for one law is reused on
    every later fit of that same law object.
    """

    name: str
    fn: Callable[[Mapping, Mapping], Any]
    params: tuple[Param, ...]
    inputs: tuple[str, ...]
    log_fn: Callable[[Mapping, Mapping], Any] | None = None
    positive_inputs: tuple[str, ...] | None = None
    formula: str = ""
    citation: str = ""
    version: str = "1"

    def __post_init__(self):
        params = tuple(self.params)
        if not params or not all(isinstance(p, Param) for p in params):
            raise ValueError("a law needs a non-empty sequence of jaxscale.Param")
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate parameter names in law {self.name!r}: {names}")
        inputs = tuple(self.inputs)
        if not inputs:
            raise ValueError(f"law {self.name!r} needs at least one input name")
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "inputs", inputs)
        pos = inputs if self.positive_inputs is None else tuple(self.positive_inputs)
        unknown = set(pos) - set(inputs)
        if unknown:
            raise ValueError(f"positive_inputs {sorted(unknown)} are not inputs of {self.name!r}")
        object.__setattr__(self, "positive_inputs", pos)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @property
    def n_params(self) -> int:
        return len(self.params)

    def constrain(self, u) -> dict:
        """Unconstrained vector ``u[..., P]`` -> dict of natural-space parameters."""
        return {p.name: p.constrain(u[..., i]) for i, p in enumerate(self.params)}

    def unconstrain(self, params) -> np.ndarray:
        """Dict (or sequence in spec order) of natural-space values -> unconstrained array."""
        if isinstance(params, Mapping):
            missing = [n for n in self.param_names if n not in params]
            if missing:
                raise ValueError(f"missing parameters {missing} for law {self.name!r}")
            cols = [np.asarray(params[p.name], dtype=float) for p in self.params]
        else:
            arr = np.asarray(params, dtype=float)
            if arr.shape[-1] != self.n_params:
                raise ValueError(f"law {self.name!r} has {self.n_params} parameters, got shape {arr.shape}")
            cols = [arr[..., i] for i in range(self.n_params)]
        return np.stack([p.unconstrain(c) for p, c in zip(self.params, cols)], axis=-1)

    def predict(self, params: Mapping, inputs: Mapping):
        """The law's prediction (natural space)."""
        return self.fn(params, inputs)

    def log_predict(self, params: Mapping, inputs: Mapping):
        """``log`` of the prediction, through ``log_fn`` when the law has one."""
        if self.log_fn is not None:
            return self.log_fn(params, inputs)
        return jnp.log(self.fn(params, inputs))

    def default_starts(self) -> np.ndarray:
        """The Cartesian product of the parameters' grids, unconstrained, shape (S, P)."""
        grid = np.array(list(itertools.product(*[p.grid for p in self.params])), dtype=float)
        return self.unconstrain(grid)

    def __call__(self, params: Mapping, inputs: Mapping):
        return self.fn(params, inputs)

    def __repr__(self):
        return f"Law({self.name!r}: {self.formula or self.fn.__name__}; params={list(self.param_names)})"


def law(*, inputs, params, name=None, log_fn=None, positive_inputs=None, formula="", citation="",
        version="1", register=False):
    """Decorator turning ``fn(params, inputs)`` into a :class:`Law`.

    With ``register=True`` the law is added to the registry, so ``get_law(name)`` and the
    command line find it.
    """

    def wrap(fn):
        out = Law(name=name or fn.__name__, fn=fn, params=tuple(params), inputs=tuple(inputs),
                  log_fn=log_fn, positive_inputs=positive_inputs,
                  formula=formula, citation=citation or "", version=version)
        object.__setattr__(out, "__doc__", fn.__doc__)
        if register:
            _REGISTRY[out.name] = out
        return out

    return wrap


_REGISTRY: dict[str, Law] = {}


def get_law(name: str | Law) -> Law:
    """Look up a built-in (or registered) law by name."""
    if isinstance(name, Law):
        return name
    if name not in _REGISTRY:
        raise ValueError(f"unknown law {name!r}; known laws: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def list_laws() -> dict[str, Law]:
    """All registered laws by name."""
    return dict(_REGISTRY)


def _exp_grid(logs):
    return tuple(float(np.exp(v)) for v in logs)


# ----------------------------------------------------------------------------------------------
# Built-in laws
# ----------------------------------------------------------------------------------------------
def _power_law_log(p, x):
    return jnp.log(p["a"]) - p["alpha"] * jnp.log(x["x"])


@law(
    name="power_law",
    inputs=("x",),
    params=(
        Param("a", "positive", grid=_exp_grid((-2.0, 0.0, 2.0, 4.0, 6.0)), prior=Prior("lognormal", (0.0, 5.0)),
              doc="scale: the prediction at x = 1"),
        Param("alpha", "real", grid=(0.0, 0.25, 0.5, 1.0, 2.0), prior=Prior("halfnormal", (1.0,)),
              doc="power-law exponent"),
    ),
    log_fn=_power_law_log,
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
        Param("E", "positive", grid=_exp_grid((-2.0, -1.0, 0.0, 1.0)), prior=Prior("lognormal", (0.0, 2.0)),
              doc="irreducible loss (the limit as x -> infinity)"),
        Param("A", "positive", grid=_exp_grid((-2.0, 0.0, 2.0, 4.0, 6.0)), prior=Prior("lognormal", (0.0, 5.0)),
              doc="scale of the reducible term"),
        Param("alpha", "real", grid=(0.0, 0.25, 0.5, 1.0, 2.0), prior=Prior("halfnormal", (1.0,)),
              doc="exponent of the reducible term"),
    ),
    log_fn=_saturating_log,
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
        Param("E", "positive", grid=_exp_grid((-1.0, -0.5, 0.0, 0.5, 1.0)), prior=Prior("lognormal", (0.5, 1.0)),
              doc="irreducible loss"),
        Param("A", "positive", grid=_exp_grid((0.0, 5.0, 10.0, 15.0, 20.0, 25.0)),
              prior=Prior("lognormal", (6.0, 4.0)), doc="scale of the parameter term"),
        Param("B", "positive", grid=_exp_grid((0.0, 5.0, 10.0, 15.0, 20.0, 25.0)),
              prior=Prior("lognormal", (6.0, 4.0)), doc="scale of the data term"),
        Param("alpha", "real", grid=(0.0, 0.5, 1.0, 1.5, 2.0), prior=Prior("halfnormal", (1.0,)),
              doc="exponent of model size N"),
        Param("beta", "real", grid=(0.0, 0.5, 1.0, 1.5, 2.0), prior=Prior("halfnormal", (1.0,)),
              doc="exponent of training tokens D"),
    ),
    log_fn=_chinchilla_log,
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


def _kaplan_log(p, x):
    ratio = p["alpha_N"] / p["alpha_D"]
    t_n = ratio * (jnp.log(p["Nc"]) - jnp.log(x["N"]))
    t_d = jnp.log(p["Dc"]) - jnp.log(x["D"])
    return p["alpha_D"] * logsumexp(t_n, t_d)


@law(
    name="kaplan",
    inputs=("N", "D"),
    params=(
        Param("Nc", "positive", grid=_exp_grid((20.0, 25.0, 30.0, 35.0)), prior=Prior("lognormal", (30.0, 5.0)),
              doc="critical model size"),
        Param("Dc", "positive", grid=_exp_grid((20.0, 25.0, 30.0, 35.0)), prior=Prior("lognormal", (30.0, 5.0)),
              doc="critical data size"),
        Param("alpha_N", "real", grid=(0.05, 0.1, 0.3), prior=Prior("halfnormal", (0.5,)),
              doc="model-size exponent"),
        Param("alpha_D", "real", grid=(0.05, 0.1, 0.3), prior=Prior("halfnormal", (0.5,)),
              doc="data-size exponent"),
    ),
    log_fn=_kaplan_log,
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
