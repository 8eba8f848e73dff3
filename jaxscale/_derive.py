"""Derived quantities: any function of a law's parameters, with a point value, SE and interval
from the same draws as the parameters.

:func:`derive` takes a result (a point fit, a bootstrap or a posterior) and quantities given as

* functions of ONE parameter set, ``{"a": lambda p: p["beta"] / (p["alpha"] + p["beta"])}``
  (JAX-traceable; the results protocol maps them over the draws with ``jit(vmap(fn))``);
* expressions, ``"a=beta/(alpha+beta)"`` or ``{"a": "beta/(alpha+beta)"}``: numbers, parameter
  names, ``+ - * / **``, unary minus and the functions ``log, log10, log2, exp, sqrt, abs,
  minimum, maximum``. Expressions are parsed with :mod:`ast` against that whitelist and evaluated
  by walking the tree: nothing else (attributes, subscripts, other names, other calls) is
  accepted, and no Python code is ever run;
* built-in names: ``"a"`` (``beta / (alpha + beta)``, the exponent of ``N_opt ~ C^a`` for the
  Chinchilla law), ``"b"`` (``alpha / (alpha + beta)``, of ``D_opt ~ C^b``), and for laws of
  ``N`` and ``D`` ``"N_opt@C"``, ``"D_opt@C"``, ``"tokens_per_param@C"`` (``D_opt / N_opt``) and
  ``"loss_opt@C"`` (the predicted loss at the compute-optimal allocation) at compute ``C``
  (e.g. ``"tokens_per_param@1e24"``).

The value is the function at the point fit (``result.estimate(fn)``); the SE and the interval
come from the result's draws (``result.se(fn)``, ``result.interval(fn)``), so a derived
quantity's uncertainty carries every correlation between the parameters.
"""

from __future__ import annotations

import ast
import operator
from typing import Callable, Mapping

import jax.numpy as jnp
import numpy as np
import pandas as pd


__all__ = ["derive", "parse_derived", "compile_expression", "BUILTINS"]

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_FUNCS = {"log": jnp.log, "log10": jnp.log10, "log2": jnp.log2, "exp": jnp.exp, "sqrt": jnp.sqrt, "abs": jnp.abs,
          "minimum": jnp.minimum, "maximum": jnp.maximum}

#: Built-in derived quantities by name (expressions; ``@C`` ones are built by :func:`_at_compute`).
BUILTINS = {"a": "beta/(alpha+beta)", "b": "alpha/(alpha+beta)"}
_AT_COMPUTE = ("N_opt", "D_opt", "tokens_per_param", "loss_opt")


def compile_expression(text: str, names) -> Callable[[Mapping], object]:
    """``fn(params)`` evaluating the arithmetic expression ``text`` over parameters ``names``.

    Raises ``ValueError`` naming the offending part for anything outside the whitelist (see the
    module docstring) or an unknown name.
    """
    names = set(names)
    src = str(text).strip()
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as err:
        raise ValueError(f"cannot parse the expression {text!r}: {err.msg}") from None

    def check(node):
        if isinstance(node, ast.Expression):
            return check(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return check(node.left), check(node.right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return check(node.operand)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return None
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise ValueError(f"unknown name {node.id!r} in {text!r}; parameters: {sorted(names)}")
            return None
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
                and not node.keywords):
            return [check(a) for a in node.args]
        part = ast.get_source_segment(src, node) or type(node).__name__
        raise ValueError(f"{part!r} is not allowed in {text!r}: use numbers, parameter names, "
                         f"+ - * / ** and {', '.join(sorted(_FUNCS))}")

    check(tree)

    def evaluate(node, p):
        if isinstance(node, ast.Expression):
            return evaluate(node.body, p)
        if isinstance(node, ast.BinOp):
            return _BINOPS[type(node.op)](evaluate(node.left, p), evaluate(node.right, p))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](evaluate(node.operand, p))
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return p[node.id]
        return _FUNCS[node.func.id](*(evaluate(a, p) for a in node.args))

    def fn(p):
        return evaluate(tree, p)

    fn.__name__ = f"derived({text})"
    return fn


def _at_compute(kind: str, compute: float, law) -> Callable:
    from .laws._optimal import check_nd_law, optimal_allocation

    check_nd_law(law)
    if not compute > 0:
        raise ValueError(f"compute must be > 0, got {compute}")

    def one(q):
        n, d = optimal_allocation(law, q, compute)
        if kind == "N_opt":
            return n
        if kind == "D_opt":
            return d
        if kind == "tokens_per_param":
            return d / n
        return law.predict(q, {"N": n, "D": d})

    def fn(p):  # one parameter set (results map it over draws with samples())
        return one({k: jnp.asarray(v) for k, v in p.items()})

    fn.__name__ = f"{kind}@{compute:g}"
    return fn


def _builtin(name: str, law, names) -> Callable | None:
    if name in BUILTINS:
        return compile_expression(BUILTINS[name], names)
    kind, at, c = name.partition("@")
    if at and kind in _AT_COMPUTE:
        try:
            compute = float(c)
        except ValueError:
            raise ValueError(f"{name!r}: the compute after @ must be a number, e.g. {kind}@1e24") from None
        return _at_compute(kind, compute, law)
    return None


def parse_derived(spec, law) -> dict:
    """``{name: fn(params)}`` from a mapping (name -> function or expression), a string
    (``"a=beta/(alpha+beta)"``, a built-in name, or several separated by ``;``) or a list of them."""
    from ._constraints import ConstrainedLaw

    names = (law.base if isinstance(law, ConstrainedLaw) else law).param_names
    if spec is None:
        return {}
    if isinstance(spec, str):
        spec = [s for s in spec.split(";") if s.strip()]
    items = list(spec.items()) if isinstance(spec, Mapping) else [(None, s) for s in spec]
    out = {}
    for name, value in items:
        if callable(value):
            out[str(name)] = value
            continue
        if not isinstance(value, str):
            raise ValueError(f"a derived quantity is a function, an expression or a built-in name, got {value!r}")
        text = value.strip()
        if name is None:
            left, eq, right = text.partition("=")
            if eq:
                name, text = left.strip(), right.strip()
                if not name.isidentifier():
                    raise ValueError(f"the name of a derived quantity must be an identifier, got {name!r}")
            else:
                name = text
        fn = _builtin(text, law, names) if name == text else None
        out[name] = fn if fn is not None else compile_expression(text, names)
    return out


def derive(result, quantities, *, level: float | None = None) -> pd.DataFrame:
    """Derived quantities of a result with their point value, SE and interval (module docstring).

    Args:
      result: a :class:`~jaxscale.FitResult` (point values only), a bootstrap or a posterior
        result (anything with ``fit``, ``se(fn)`` and ``interval(fn, level)``).
      quantities: see :func:`parse_derived`.
      level: interval level (default: the result's).

    Returns a DataFrame indexed by name with ``value`` and, for results with draws, ``se``,
    ``lo`` and ``hi`` (the equal-tailed interval at ``level``).
    """
    fit = getattr(result, "fit", result)
    fns = parse_derived(quantities, fit.law)
    if not fns:
        raise ValueError("no derived quantity given")
    draws = getattr(result, "has_draws", result is not fit)
    level = result.level if level is None else level
    rows = {}
    for name, fn in fns.items():
        value = np.asarray(result.estimate(fn), dtype=float)
        row = {"value": float(value) if value.ndim == 0 else value}
        if draws:
            se = np.asarray(result.se(fn))
            ci = np.asarray(result.interval(fn, level=level))
            row.update(se=float(se) if se.ndim == 0 else se, lo=float(ci[..., 0]) if ci.ndim == 1 else ci[..., 0],
                       hi=float(ci[..., 1]) if ci.ndim == 1 else ci[..., 1])
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "quantity"
    table.attrs["level"] = level
    return table
