"""Core types of a scaling law: :class:`Prior`, :class:`Param`, :class:`Law`, the :func:`law`
decorator and the registry (:func:`get_law`, :func:`list_laws`).

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

__all__ = ["Law", "Param", "Prior", "ROLES", "law", "get_law", "list_laws", "logsumexp", "exp_grid"]


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


#: The vocabulary of :attr:`Param.role`.
ROLES = ("exponent", "floor", "ceiling", "scale", "location", "shape")


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
      role: what kind of parameter it is, for plots and summaries (``None``: not said). One of

        * ``"exponent"`` -- a power-law exponent, or a slope in log-log space (``alpha``, ``beta``,
          a BNSL ``c_i``, the slope ``k`` of a sigmoid in ``log x``); :func:`jaxscale.plot_exponents`
          shows these by default;
        * ``"floor"`` -- the level the law tends to as its inputs grow (irreducible loss ``E``,
          chance level);
        * ``"ceiling"`` -- the opposite asymptote (loss of a random guess as the input goes to 0,
          a plateau, a saturation score);
        * ``"scale"`` -- a multiplicative coefficient of a term (``A``, ``B``), or a critical size
          that enters as one (Kaplan's ``Nc``);
        * ``"location"`` -- where a transition sits, in units of an input (a BNSL break ``d_i``,
          a sigmoid midpoint ``x0``);
        * ``"shape"`` -- any other parameter shaping the curve (break sharpness, decay constants,
          half-lives).

        The role says nothing about how the parameter enters the prediction (for example
        linearly); it is a label, not a capability.
    """

    name: str
    transform: Any = "real"
    grid: tuple[float, ...] | None = None
    prior: Prior | None = None
    doc: str = ""
    role: str | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"parameter name must be an identifier, got {self.name!r}")
        if self.role is not None and self.role not in ROLES:
            raise ValueError(f"role of parameter {self.name!r} must be one of {ROLES} or None, got {self.role!r}")
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
      optimal_allocation: optional closed form ``optimal_allocation(params, C) -> (N_opt, D_opt)``
        of the compute-optimal allocation under the cost ``C = 6 N D`` (laws of ``N`` and ``D``).
        Pure JAX, broadcasting over arrays of parameters and budgets. Laws without one are
        optimised numerically (:func:`jaxscale.laws.optimal_allocation` decides).
      input_builder: optional ``input_builder(frame, *, target="loss") -> dict`` for laws whose
        inputs are not plain columns of the data (the learning-rate schedule laws read long-format
        loss curves). It returns the law's inputs and the target as arrays, one row per data
        point; :meth:`build_inputs` calls it, and data loading (so :func:`jaxscale.fit` and the
        command line) uses it when the data lack the law's input columns.
      linear: names of the parameters the prediction is linear in (for instance ``("E", "A", "B")``
        of Chinchilla), each ``"positive"`` (kept >= 0) or ``"real"``; with ``basis`` it lets a
        fit solve them in closed form and search only the others (variable projection, the
        default plan of :func:`jaxscale.fit`; see :mod:`jaxscale._varpro`).
      basis: ``basis(params, inputs) -> (n, k)`` design matrix from the nonlinear parameters, with
        ``fn(params, inputs) == basis(params, inputs) @ [params[name] for name in linear]``.
      start_builder: optional ``start_builder(inputs, y) -> (S, P)`` natural-space starts built
        from the data (NumPy arrays of one data set). :func:`jaxscale.fit` uses them in place of
        the default grid when no ``starts`` are given: for laws whose good starts depend on the
        scale of the data (the break location of BNSL, the scale of M4), as their reference
        code does with a brute-force grid or its own least-squares stage before refining.
      default_steps: LM/Newton steps a fit of this law takes by default (None: the solver's).

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
    optimal_allocation: Callable[[Mapping, Any], tuple] | None = None
    input_builder: Callable[..., Mapping] | None = None
    linear: tuple[str, ...] = ()
    basis: Callable[[Mapping, Mapping], Any] | None = None
    start_builder: Callable[[Mapping, Any], Any] | None = None
    default_steps: int | None = None

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
        object.__setattr__(self, "linear", tuple(self.linear or ()))
        if self.linear or self.basis is not None:
            from .._varpro import check_linear_structure

            check_linear_structure(self)

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
        """The law's prediction (natural space), in the precision of its arguments.

        JAX computes in float32 unless 64-bit types are enabled; evaluate in float64 inside
        ``with jaxscale.precision():`` (scoped, the global JAX configuration is untouched).
        """
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

    def build_inputs(self, data, *, target: str = "loss") -> dict:
        """The law's inputs and the ``target`` column from data laid out otherwise (see ``input_builder``).

        Raises ValueError for a law that reads its inputs from plain columns (no ``input_builder``).
        """
        if self.input_builder is None:
            raise ValueError(f"law {self.name!r} reads its inputs {list(self.inputs)} from columns; "
                             "it has no input builder")
        return self.input_builder(data, target=target)

    def __repr__(self):
        return f"Law({self.name!r}: {self.formula or self.fn.__name__}; params={list(self.param_names)})"


def law(*, inputs, params, name=None, log_fn=None, positive_inputs=None, formula="", citation="",
        version="1", optimal_allocation=None, input_builder=None, register=False, linear=(), basis=None,
        start_builder=None):
    """Decorator turning ``fn(params, inputs)`` into a :class:`Law` (arguments as for :class:`Law`).

    With ``register=True`` the law is added to the registry, so ``get_law(name)`` and the
    command line find it.
    """

    def wrap(fn):
        out = Law(name=name or fn.__name__, fn=fn, params=tuple(params), inputs=tuple(inputs),
                  log_fn=log_fn, positive_inputs=positive_inputs,
                  formula=formula, citation=citation or "", version=version,
                  optimal_allocation=optimal_allocation, input_builder=input_builder, linear=tuple(linear), basis=basis,
                  start_builder=start_builder)
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


def exp_grid(logs):
    """Start-grid values given as natural logarithms: ``exp_grid((0, 5)) == (1.0, e^5)``."""
    return tuple(float(np.exp(v)) for v in logs)
