"""Constraints on a law's parameters: fix some, tie some to others, bound some.

:func:`restrict` turns a law into a *reduced* law with fewer free parameters::

    law = js.restrict("chinchilla", fixed={"E": 1.69}, tied={"beta": "alpha"}, bounds={"alpha": (0.1, 0.9)})

The reduced law's parameters are the free ones (here ``A``, ``B``, ``alpha``, ``alpha`` bounded to
``(0.1, 0.9)`` through a scaled logistic); its function fills in the rest before calling the
original law: a fixed parameter takes its value, a tied one the value of its source
(``beta = alpha``). Everything that takes a law (fit, bootstrap, NUTS, prediction) works on the
reduced law unchanged, and :func:`expand_params` gives back every parameter of the original law,
which is what results report as their point (``FitResult.params``) and what functions of the
draws receive. ``fit(..., fixed=, tied=, bounds=)`` and ``bayes_fit(...)`` call :func:`restrict`
for you; the command line takes ``--fix E=1.69 --tie beta=alpha --bound alpha=0.1:0.9``.

Bounds replace a parameter's transform with ``(lo, hi)``; its start grid keeps the values inside
the bounds (or, if fewer than two are inside, takes the quartiles of the interval) and its default
prior becomes ``uniform(lo, hi)``. A positive parameter's bounds must satisfy ``lo >= 0``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Mapping

import numpy as np

from .laws import Law, Param, Prior, get_law

__all__ = ["ConstrainedLaw", "restrict", "expand_params", "parse_constraints"]


@dataclasses.dataclass(frozen=True, eq=False)
class ConstrainedLaw(Law):
    """A law with some parameters of ``base`` fixed or tied (built by :func:`restrict`).

    ``params`` are the free parameters; ``fixed`` is ``((name, value), ...)``, ``tied`` is
    ``((name, source), ...)``; ``bounds`` records ``((name, lo, hi), ...)`` for the report.
    """

    base: Law | None = None
    fixed: tuple = ()
    tied: tuple = ()
    bounds: tuple = ()

    def expand(self, params: Mapping) -> dict:
        """Every parameter of the base law, in the base law's order: free ones from ``params``,
        fixed ones as their values (broadcast like the free ones), tied ones from their source;
        other entries of ``params`` (a noise scale) follow unchanged."""
        params = dict(params)
        like = next((params[p.name] for p in self.params if p.name in params), None)
        out = dict(params)
        for k, v in self.fixed:
            out[k] = v if like is None or np.ndim(like) == 0 else _full_like(like, v)
        for k, src in self.tied:
            out[k] = out[src]
        ordered = {n: out[n] for n in self.base.param_names if n in out}
        return {**ordered, **{k: v for k, v in out.items() if k not in ordered}}

    @property
    def how(self) -> dict:
        """``{name: "fixed" | "= source" | "in [lo, hi]"}`` for every constrained parameter."""
        out = {k: "fixed" for k, _ in self.fixed}
        out.update({k: f"= {src}" for k, src in self.tied})
        out.update({k: f"in [{lo:g}, {hi:g}]" for k, lo, hi in self.bounds})
        return out


def _full_like(like, value):
    try:
        import jax

        if isinstance(like, jax.Array):
            import jax.numpy as jnp

            return jnp.full(jnp.shape(like), value, dtype=like.dtype)
    except ImportError:  # pragma: no cover
        pass
    return np.full(np.shape(like), value, dtype=float)


def expand_params(law: Law, params: Mapping) -> dict:
    """Every parameter of the original law (``params`` itself for an unconstrained law)."""
    if isinstance(law, ConstrainedLaw):
        return law.expand(params)
    return dict(params)


def restrict(law, *, fixed: Mapping | None = None, tied: Mapping | None = None,
             bounds: Mapping | None = None) -> Law:
    """The law with ``fixed`` parameters held at values, ``tied`` ones equal to others and
    ``bounds`` on some (see the module docstring). No constraints: the law itself.

    Args:
      law: a :class:`~jaxscale.Law` or its name.
      fixed: ``{name: value}`` (natural space, inside the parameter's domain).
      tied: ``{name: source}``: ``name`` takes the value of the free parameter ``source``.
      bounds: ``{name: (lo, hi)}`` for free parameters.

    Raises ``ValueError`` naming the problem: unknown parameter, a parameter both fixed and tied,
    a tie to a fixed or tied parameter, a value outside the domain, ``lo >= hi``, no free
    parameter left. Equal arguments give the same law object (one compiled solver).
    """
    law = get_law(law)
    fixed = {} if fixed is None else dict(fixed)
    tied = {} if tied is None else dict(tied)
    bounds = {} if bounds is None else dict(bounds)
    if not (fixed or tied or bounds):
        return law
    names = law.param_names
    for what, d in (("fixed", fixed), ("tied", tied), ("bounds", bounds)):
        unknown = [k for k in d if k not in names]
        if unknown:
            raise ValueError(f"{what}: unknown parameter(s) {unknown} of law {law.name!r} (parameters: {list(names)})")
    both = set(fixed) & set(tied)
    if both:
        raise ValueError(f"parameter(s) {sorted(both)} are both fixed and tied")
    for k, src in tied.items():
        if src not in names:
            raise ValueError(f"tied: {k} is tied to {src!r}, not a parameter of law {law.name!r}")
        if src in fixed or src in tied or src == k:
            raise ValueError(f"tied: {k} must be tied to a free parameter, and {src!r} is "
                             f"{'fixed' if src in fixed else 'tied' if src in tied else 'itself'}; fix {k} instead")
    fx = []
    for k, v in fixed.items():
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"fixed: the value of {k} must be a number, got {v!r}") from None
        p = law.params[names.index(k)]
        if not math.isfinite(v) or not np.isfinite(p.unconstrain(np.asarray(v))):
            raise ValueError(f"fixed: {k} = {v!r} is outside the parameter's domain ({_domain(p)})")
        fx.append((k, v))
    bd = []
    for k, b in bounds.items():
        if k in fixed or k in tied:
            raise ValueError(f"bounds: {k} is {'fixed' if k in fixed else 'tied'}; bound its source or nothing")
        try:
            lo, hi = (float(v) for v in b)
        except (TypeError, ValueError):
            raise ValueError(f"bounds: {k} needs a (lo, hi) pair of numbers, got {b!r}") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"bounds: {k} needs finite lo < hi, got ({lo}, {hi})")
        p = law.params[names.index(k)]
        if p.transform == "positive" and lo < 0:
            raise ValueError(f"bounds: {k} is positive, so its lower bound must be >= 0, got {lo}")
        if isinstance(p.transform, tuple) and (lo < p.transform[1] or hi > p.transform[2]):
            raise ValueError(f"bounds: ({lo}, {hi}) for {k} leave its domain {_domain(p)}")
        bd.append((k, lo, hi))
    if len(fixed) + len(tied) >= len(names):
        raise ValueError(f"no free parameter left in law {law.name!r}")
    return _restricted(law, tuple(fx), tuple(sorted(tied.items())), tuple(bd))


def _domain(p: Param) -> str:
    if p.transform == "positive":
        return "> 0"
    if p.transform == "real":
        return "any real"
    return f"({p.transform[1]:g}, {p.transform[2]:g})"


def _bounded(p: Param, lo: float, hi: float) -> Param:
    grid = tuple(g for g in p.grid if lo < g < hi)
    if len(grid) < 2:
        grid = tuple(lo + (hi - lo) * q for q in (0.25, 0.5, 0.75))
    return Param(p.name, (lo, hi), grid=grid, prior=Prior("uniform", (lo, hi)), doc=p.doc)


@functools.lru_cache(maxsize=128)
def _restricted(base: Law, fixed: tuple, tied: tuple, bounds: tuple) -> ConstrainedLaw:
    fixed_d, tied_d = dict(fixed), dict(tied)
    bound_d = {k: (lo, hi) for k, lo, hi in bounds}
    params = tuple(_bounded(p, *bound_d[p.name]) if p.name in bound_d else p
                   for p in base.params if p.name not in fixed_d and p.name not in tied_d)

    def full(p):
        out = dict(p)
        out.update(fixed_d)
        out.update({k: p[src] for k, src in tied_d.items()})
        return out

    def fn(p, x):
        return base.predict(full(p), x)

    def log_fn(p, x):
        return base.log_predict(full(p), x)

    opt = None
    if base.optimal_allocation is not None:
        def opt(p, c):
            return base.optimal_allocation(full(p), c)

    parts = [f"{k}={v:g}" for k, v in fixed] + [f"{k}={src}" for k, src in tied] + \
            [f"{lo:g}<{k}<{hi:g}" for k, lo, hi in bounds]
    return ConstrainedLaw(name=f"{base.name}[{','.join(parts)}]", fn=fn, params=params, inputs=base.inputs,
                          log_fn=log_fn, positive_inputs=base.positive_inputs,
                          formula=f"{base.formula} with {', '.join(parts)}" if base.formula else "",
                          citation=base.citation, version=base.version, default_steps=base.default_steps,
                          optimal_allocation=opt, input_builder=base.input_builder,
                          base=base, fixed=fixed, tied=tied, bounds=bounds)


def parse_constraints(fix=(), tie=(), bound=()) -> dict:
    """Command-line constraints (``--fix E=1.69``, ``--tie beta=alpha``, ``--bound alpha=0.1:0.9``,
    each repeatable or comma-separated) -> ``{"fixed": ..., "tied": ..., "bounds": ...}``."""
    def items(values, flag):
        for text in values or ():
            for part in str(text).split(","):
                part = part.strip()
                if not part:
                    continue
                name, eq, value = part.partition("=")
                if not eq or not name.strip() or not value.strip():
                    raise ValueError(f"{flag} takes NAME=VALUE, got {part!r}")
                yield name.strip(), value.strip()

    fixed = {}
    for k, v in items(fix, "--fix"):
        try:
            fixed[k] = float(v)
        except ValueError:
            raise ValueError(f"--fix {k}= needs a number, got {v!r}") from None
    tied = dict(items(tie, "--tie"))
    bounds = {}
    for k, v in items(bound, "--bound"):
        lo, colon, hi = v.partition(":")
        try:
            bounds[k] = (float(lo), float(hi))
        except ValueError:
            raise ValueError(f"--bound {k}= needs LO:HI, got {v!r}") from None
        if not colon:
            raise ValueError(f"--bound {k}= needs LO:HI, got {v!r}")
    return {"fixed": fixed, "tied": tied, "bounds": bounds}
