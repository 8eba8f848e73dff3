"""Command line: ``jaxscale fit``, ``jaxscale optimal``, ``jaxscale backtest``, ``jaxscale isoflop``,
``jaxscale sensitivity``, ``jaxscale compare``, ``jaxscale demo``.

Every subcommand is thin: argparse -> one request (the keyword arguments of one library call,
built by a ``*_request`` function) -> the library call -> ``result.summary()`` on stdout and
``result.to_dict()`` (``--json``, written atomically by :func:`jaxscale._io.write_json`),
``result.save`` (``--save``) and a plot (``--plot``).

Every argument is checked before any work (:func:`check_arguments`: counts, level, NUTS sizes,
prediction points, compute budgets, the folders of output files, conflicting options). Errors in
the input exit with status 2 and a one-line message on stderr, no traceback; so do
conflicting options (for example ``--scheme residual --cluster X``, ``--bootstrap`` with
``--method nuts``, a NUTS option without ``--method nuts``). With ``--on-failure raise`` a failed
fit (best start not converged, parameter on a bound, failed resamples, bad r-hat) exits with
status 3. Warnings are printed as one line each. Ctrl-C exits with status 130 and one line
("jaxscale: interrupted after 1,200 of 4,000 resamples"), no traceback.

Adding to the CLI: a subcommand is two small functions, ``_args_NAME(parser)`` (its options, from
the shared option groups ``data_options``, ``fit_options``, ``uncertainty_options``,
``output_options``) and ``_run_NAME(args) -> int``, plus one :func:`register` line. A new option
of an existing group goes into that group's function; a rule between options goes into
:data:`CONFLICTS` (``(test(args) -> bool, message)``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import warnings
from typing import Callable

import pandas as pd

from ._bootstrap import bootstrap
from ._cache import cache_disabled_by_env, enable_compilation_cache
from ._data import EPOCH_PARAMS, parse_mapping, synthetic_chinchilla
from ._extrapolate import compute_optimal, predict
from ._fit import fit
from ._io import write_json
from ._status import ConvergenceError, Interrupted
from .laws import list_laws

__all__ = ["main", "build_parser", "register", "check_arguments", "SUBCOMMANDS", "CONFLICTS", "MINIMUMS"]


# ----------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


#: name -> :class:`Subcommand`, in the order shown by ``jaxscale --help``.
SUBCOMMANDS: dict[str, Subcommand] = {}


def register(name: str, help: str, add_arguments, run) -> None:
    """Add (or replace) subcommand ``name``: ``add_arguments(parser)`` then ``run(args) -> exit status``."""
    SUBCOMMANDS[name] = Subcommand(name, help, add_arguments, run)


def _given(args, name) -> bool:
    return getattr(args, name, None) not in (None, False)


NUTS_ONLY = ("likelihood", "chains", "warmup", "samples", "save_idata")

#: Rules between options: ``(test(args) -> True when the options conflict, message)``.
CONFLICTS: list[tuple[Callable[[argparse.Namespace], bool], str]] = [
    (lambda a: _given(a, "bootstrap") and getattr(a, "method", None) == "nuts",
     "choose either --bootstrap or --method nuts, not both"),
    (lambda a: _given(a, "cluster") and getattr(a, "scheme", None) not in (None, "cluster"),
     "--cluster makes a cluster bootstrap; it conflicts with --scheme {scheme}"),
    (lambda a: getattr(a, "scheme", None) == "cluster" and not _given(a, "cluster"),
     "--scheme cluster needs --cluster COLUMN"),
    (lambda a: (_given(a, "scheme") or _given(a, "cluster")) and "bootstrap" in a and not _given(a, "bootstrap"),
     "--scheme and --cluster set up a bootstrap: add --bootstrap N"),
    (lambda a: getattr(a, "method", None) != "nuts" and any(_given(a, k) for k in NUTS_ONLY),
     "{nuts_options} only apply with --method nuts"),
    (lambda a: _given(a, "group") and _given(a, "save_idata"),
     "--save-idata writes one InferenceData; with --group use --save"),
    (lambda a: _given(a, "delta") and getattr(a, "loss", None) not in (None, "huber"),
     "--delta is the Huber loss's threshold; it conflicts with --loss {loss}"),
]


def check_conflicts(args) -> None:
    """``ValueError`` naming the first conflict of :data:`CONFLICTS` that ``args`` hit."""
    for test, message in CONFLICTS:
        if test(args):
            nuts = ", ".join("--" + k.replace("_", "-") for k in NUTS_ONLY if _given(args, k))
            raise ValueError(message.format(scheme=getattr(args, "scheme", None), loss=getattr(args, "loss", None),
                                            nuts_options=nuts))


# ----------------------------------------------------------------------------------------------
# Option groups
# ----------------------------------------------------------------------------------------------
def data_options(p) -> None:
    p.add_argument("data", help="CSV file with one row per training run")
    p.add_argument("--law", default="chinchilla", help=f"law name ({', '.join(sorted(list_laws()))})")
    p.add_argument("--inputs", default=None, help="law inputs to columns, e.g. N=params,D=tokens")
    p.add_argument("--target", default="loss", help="column with the observed loss (default: loss)")
    p.add_argument("--weights", default=None, help="optional column of per-point weights")


def fit_options(p) -> None:
    p.add_argument("--loss", default="huber", choices=["huber", "squared_log", "squared"])
    p.add_argument("--delta", type=float, default=None, help="Huber delta (default 1e-3; --loss huber only)")
    p.add_argument("--solver", default="lm", choices=["lm", "newton", "adam", "lbfgs"])
    p.add_argument("--starts", default=None,
                   help="grid (the law's exhaustive start grid), halton:N or random:N; default: variable projection "
                        "for laws with linear parameters (chinchilla, ...), else grid")
    p.add_argument("--n-steps", type=int, default=None, help="solver iterations")
    p.add_argument("--seed", type=int, default=0, help="seed for starts, bootstrap draws and NUTS")
    recipe_options(p)
    p.add_argument("--on-failure", default="warn", choices=["warn", "raise", "ignore"],
                   help="non-converged fit, parameter on a bound, failed resamples, bad r_hat: warn (default), "
                        "raise (exit 3) or ignore")


def recipe_options(p, *, shift: bool = True) -> None:
    """Objective details and constraints (issue 12): every API option that changes a fit."""
    p.add_argument("--asymmetry", type=float, default=1.0,
                   help="weight of over-estimates relative to under-estimates in the loss (default 1: symmetric)")
    p.add_argument("--reduction", default="sum", choices=["sum", "mean"], help="sum (default) or mean of the loss")
    if shift:
        p.add_argument("--shift", type=float, default=None, metavar="S",
                       help="fit target + S through the law shifted by S (BNSL's log(y + 1) recipe: --shift 1)")
    p.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE", help="hold a parameter fixed")
    p.add_argument("--tie", action="append", default=[], metavar="NAME=SOURCE",
                   help="make a parameter equal to another (e.g. beta=alpha)")
    p.add_argument("--bound", action="append", default=[], metavar="NAME=LO:HI", help="bound a parameter")


def derive_options(p) -> None:
    p.add_argument("--derive", action="append", default=[], metavar="NAME=EXPR",
                   help="a derived quantity with its interval: an expression of the parameters "
                        "(a=beta/(alpha+beta)) or a built-in (a, b, N_opt@C, D_opt@C, tokens_per_param@C, loss_opt@C)")


def uncertainty_options(p) -> None:
    p.add_argument("--bootstrap", type=int, default=0, metavar="N", help="bootstrap resamples (0: none)")
    p.add_argument("--scheme", default=None, choices=["iid", "residual", "cluster"],
                   help="bootstrap scheme (default iid; cluster with --cluster)")
    p.add_argument("--cluster", default=None, metavar="COL", help="cluster bootstrap over this column")
    p.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--min-draws", type=int, default=None, metavar="N",
                   help="fewest valid resamples or draws an interval is made from (default: 100 at 95%%)")
    p.add_argument("--method", default="point", choices=["point", "nuts"],
                   help="nuts: Bayesian fit with NumPyro NUTS (credible intervals, r_hat, ess_bulk)")
    p.add_argument("--likelihood", default=None, choices=["gaussian", "student_t", "huber"],
                   help="NUTS likelihood on log residuals (default: the one matching --loss: huber -> huber with "
                        "the same delta, squared_log -> gaussian)")
    p.add_argument("--chains", type=int, default=None, help="NUTS chains (default 4)")
    p.add_argument("--warmup", type=int, default=None, help="NUTS warmup steps (default 1000)")
    p.add_argument("--samples", type=int, default=None, help="NUTS draws per chain (default 1000)")
    p.add_argument("--save-idata", default=None, metavar="PATH.nc", help="save the NUTS InferenceData (netCDF)")


def output_options(p, *, save: bool = True, plot: str | None = "plot the data, the fit and its band to PATH") -> None:
    p.add_argument("--json", default=None, help="write a JSON summary here")
    if save:
        p.add_argument("--save", default=None, metavar="PATH",
                       help="save the result to load later with jaxscale.load (fit: JSON; bootstrap, NUTS: netCDF)")
    if plot:
        p.add_argument("--plot", default=None, metavar="PATH.png", help=plot)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


# ----------------------------------------------------------------------------------------------
# Requests: the keyword arguments of one library call
# ----------------------------------------------------------------------------------------------
def _parse_starts(text: str | None):
    if text is None:
        return None, None
    if text == "grid":
        return "grid", None
    kind, _, n = text.partition(":")
    if kind not in ("halton", "random") or not n.isdigit():
        raise ValueError(f"--starts must be 'grid', 'halton:N' or 'random:N', got {text!r}")
    return kind, int(n)


def _parse_points(text: str, law=None) -> dict:
    """``--predict N=1e9;1e10,D=2e10``; with ``law``, the names, counts and domains are checked too."""
    out = {}
    for name, values in parse_mapping(text).items():
        try:
            out[name] = [float(v) for v in values.split(";")]
        except ValueError:
            raise ValueError(f"--predict values must be numbers (use ; between several), got {values!r}") from None
    if law is not None:
        unknown = sorted(set(out) - set(law.inputs))
        missing = [k for k in law.inputs if k not in out]
        if unknown or missing:
            raise ValueError(f"--predict needs the inputs {list(law.inputs)} of law {law.name!r}"
                             + (f"; unknown {unknown}" if unknown else "") + (f"; missing {missing}" if missing else ""))
        if len({len(v) for v in out.values()} - {1}) > 1:
            raise ValueError(f"--predict inputs have different numbers of values: { {k: len(v) for k, v in out.items()} }")
        for k, v in out.items():
            positive = k in law.positive_inputs
            if any(not abs(x) < float("inf") or (positive and x <= 0) for x in v):
                raise ValueError(f"--predict values of {k} must be finite" + (" and > 0" if positive else "") + f", got {v}")
    return out


#: Integer options and their smallest allowed value (checked when given).
MINIMUMS = {"bootstrap": 0, "chains": 1, "warmup": 1, "samples": 1, "n_steps": 1, "min_draws": 1, "resamples": 1,
            "n_cutoffs": 1}


def check_arguments(args) -> None:
    """Every argument checked before any work, so a typo never costs a fit: integer options
    (:data:`MINIMUMS`), the level, the Huber delta, the starts, prediction points, compute
    budgets, :data:`CONFLICTS`, and the folder of every output file (it must exist and be
    writable). ``ValueError`` naming the option on the first problem."""
    from ._results import check_level
    from ._validate import check_output_path
    from .laws import get_law

    for name, low in MINIMUMS.items():
        value = getattr(args, name, None)
        if value is not None and value < low:
            raise ValueError(f"--{name.replace('_', '-')} must be >= {low}, got {value}")
    if args.command == "demo" and args.bootstrap < 1:
        raise ValueError(f"--bootstrap must be >= 1, got {args.bootstrap}")
    if getattr(args, "level", None) is not None:
        check_level(args.level)
    delta = getattr(args, "delta", None)
    if delta is not None and not 0 < delta < float("inf"):
        raise ValueError(f"--delta must be a finite number > 0, got {delta:g}")
    if getattr(args, "starts", None) is not None:
        _parse_starts(args.starts)
    check_conflicts(args)
    law = get_law(args.law) if getattr(args, "law", None) else None
    if getattr(args, "predict", None):
        _parse_points(args.predict, law)
    if getattr(args, "at", None) is not None:  # isoflop: budgets to allocate (its --compute is a column)
        bad = [c for c in args.at if not 0 < c < float("inf")]
        if bad:
            raise ValueError(f"--at must be finite FLOP budgets > 0, got {bad[0]:g}")
    elif getattr(args, "compute", None) is not None and law is not None:  # optimal: --compute are budgets
        if set(law.inputs) != {"N", "D"}:
            raise ValueError(f"optimal needs a law of N and D; {law.name!r} has inputs {list(law.inputs)}")
        bad = [c for c in args.compute if not 0 < c < float("inf")]
        if bad:
            raise ValueError(f"--compute must be finite FLOP budgets > 0, got {bad[0]:g}")
    for name in ("json", "save", "save_idata", "plot"):
        check_output_path(getattr(args, name, None), f"--{name.replace('_', '-')}")


def objective_request(args):
    """The objective of ``--loss``, ``--delta``, ``--asymmetry`` and ``--reduction``."""
    from ._objectives import get_objective

    return get_objective(args.loss, args.delta, asymmetry=args.asymmetry, reduction=args.reduction)


def apply_shift(args) -> None:
    """--shift S: fit ``target + S`` through ``make_shifted(law, S)`` (e.g. BNSL's log(y + 1) recipe);
    ``args.data`` and ``args.law`` are replaced, so the bootstrap and NUTS see the same recipe."""
    if getattr(args, "shift", None) is None:
        return
    from ._data import as_frame
    from .laws import get_law, make_shifted

    frame = as_frame(args.data).copy()
    if args.target not in frame.columns:
        raise ValueError(f"unknown target column {args.target!r}; available columns: {list(frame.columns)}")
    frame[args.target] = frame[args.target].astype(float) + float(args.shift)
    args.data, args.law = frame, make_shifted(get_law(args.law), float(args.shift))


def fit_request(args) -> dict:
    """The arguments of ``jaxscale.fit(law, data, **rest)``."""
    from ._constraints import parse_constraints

    kind, n = _parse_starts(args.starts)
    return dict(law=args.law, data=args.data, inputs=parse_mapping(args.inputs), target=args.target,
                weights=args.weights, group=getattr(args, "group", None), loss=objective_request(args),
                solver=args.solver, starts=kind, n_starts=n, n_steps=args.n_steps, seed=args.seed,
                progress=not args.no_progress, on_failure=args.on_failure,
                **parse_constraints(args.fix, args.tie, args.bound))


def _cluster_labels(args, result):
    frame = pd.read_csv(args.data) if isinstance(args.data, str) else args.data
    if result.law.input_builder is not None:  # one data point per built row (e.g. per evaluated step)
        built = result.law.build_inputs(frame, target=args.target)
        frame = pd.DataFrame({k: v for k, v in built.items() if v.ndim == 1})
    if args.cluster not in frame.columns:
        raise ValueError(f"unknown cluster column {args.cluster!r}; available columns: {list(frame.columns)}")
    return frame[args.cluster].to_numpy()


def bootstrap_request(args, result) -> dict:
    """The arguments of ``jaxscale.bootstrap(fit, n_resamples, **rest)``."""
    scheme = "cluster" if _given(args, "cluster") else (args.scheme or "iid")
    return dict(fit=result, n_resamples=args.bootstrap, scheme=scheme,
                cluster=_cluster_labels(args, result) if scheme == "cluster" else None, seed=args.seed,
                level=args.level, min_draws=args.min_draws, progress=not args.no_progress,
                on_failure=args.on_failure)


def nuts_request(args, result) -> dict:
    """The arguments of ``jaxscale.bayes_fit(law, data, **rest)``, started from the point fit."""
    req = dict(law=result.law, data=args.data, inputs=parse_mapping(args.inputs), target=args.target,
               weights=args.weights, likelihood=args.likelihood, chains=args.chains or 4,
               warmup=args.warmup or 1000, samples=args.samples or 1000, seed=args.seed, init=result,
               level=args.level, min_draws=args.min_draws, progress=not args.no_progress,
               on_failure=args.on_failure, group=getattr(args, "group", None))
    if args.delta is not None and args.likelihood is not None:
        req["delta"] = args.delta  # else the likelihood follows the point fit's loss and delta
    return req


def fitted(args):
    """The point fit, then its bootstrap (``--bootstrap N``) or posterior (``--method nuts``), or neither."""
    check_conflicts(args)
    apply_shift(args)
    req = fit_request(args)
    result = fit(req.pop("law"), req.pop("data"), **req)
    if args.method == "nuts":
        from ._bayes import bayes_fit

        req = nuts_request(args, result)
        post = bayes_fit(req.pop("law"), req.pop("data"), **req)
        if args.save_idata:
            post.to_netcdf(args.save_idata)
        return post
    if args.bootstrap:
        req = bootstrap_request(args, result)
        return bootstrap(req.pop("fit"), req.pop("n_resamples"), **req)
    return result


# ----------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------
def emit(args, result, tables: dict | None = None, plot: Callable | None = None) -> None:
    """``result.summary()`` and the extra ``tables`` (JSON key -> ``(title, DataFrame)``) on stdout;
    ``--json`` (``result.to_dict()`` plus the tables as records under their keys), ``--save`` and
    ``--plot`` (``plot(result, path)``)."""
    print(result.summary())
    payload = result.to_dict()
    derived = derived_table(args, result)
    if derived is not None:
        tables = {**(tables or {}), "derived": derived}
    for key, (title, table) in (tables or {}).items():
        print(f"\n{title}:")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
        payload[key] = table.to_dict(orient="records")
    if getattr(args, "json", None):
        write_json(args.json, payload)
    if getattr(args, "save", None):
        result.save(args.save)
    if getattr(args, "plot", None) and plot is not None:
        plot(result, args.plot)
        print(f"\nplot written to {args.plot}")


def derived_table(args, result):
    """``(title, table)`` of the ``--derive`` quantities (value, SE, interval from the result's draws)."""
    if not getattr(args, "derive", None):
        return None
    from ._derive import derive

    table = derive(result, ";".join(args.derive), level=getattr(args, "level", None))
    kind = "" if "se" not in table.columns else f" ({100 * table.attrs['level']:g}% intervals from the same draws)"
    return f"derived quantities{kind}", table.reset_index()


def _plot_fit(result, path, **kwargs) -> None:
    from ._plots import plot_fit

    plot_fit(result, save=path, **kwargs)


# ----------------------------------------------------------------------------------------------
# Subcommands
# ----------------------------------------------------------------------------------------------
def _args_fit(p) -> None:
    data_options(p)
    fit_options(p)
    uncertainty_options(p)
    p.add_argument("--group", default=None,
                   help="fit one law per value of this column (all groups in one batch; works with --bootstrap, "
                        "--method nuts, --predict, --save, --plot)")
    p.add_argument("--predict", default=None, metavar="N=..,D=..",
                   help="predict at these inputs (several values separated by ;)")
    derive_options(p)
    output_options(p)


def _run_fit(args) -> int:
    result = fitted(args)
    tables = {}
    if args.predict:
        tables["predictions"] = ("predictions", predict(result, _parse_points(args.predict), level=args.level))
    emit(args, result, tables, _plot_fit)
    return 0


def _args_optimal(p) -> None:
    data_options(p)
    fit_options(p)
    uncertainty_options(p)
    p.add_argument("--compute", type=float, nargs="+", required=True, help="compute budget(s) in FLOP")
    derive_options(p)
    output_options(p, save=True, plot=None)


def _run_optimal(args) -> int:
    result = fitted(args)
    table = compute_optimal(result, args.compute, level=args.level)
    emit(args, result, {"optimal": ("compute-optimal allocation (C = 6 N D)", table)})
    return 0


def _along_arg(text: str):
    """A column (or input) name as is; anything else is a pandas expression over columns, e.g. ``6*N*D``."""
    if text.isidentifier():
        return text

    def scale(frame):
        return frame.eval(text).to_numpy(dtype=float)

    scale.__name__ = text
    return scale


def _args_backtest(b) -> None:
    b.add_argument("data", help="CSV file with one row per training run")
    b.add_argument("--law", default="chinchilla", help=f"law name ({', '.join(sorted(list_laws()))})")
    b.add_argument("--along", required=True,
                   help="scale to cut along: a column or law input (e.g. C, N), or an expression such as 6*N*D")
    b.add_argument("--inputs", default=None, help="law inputs to columns, e.g. N=params,D=tokens")
    b.add_argument("--target", default="loss", help="column with the observed loss (default: loss)")
    b.add_argument("--weights", default=None, help="optional column of per-point weights")
    b.add_argument("--loss", default="huber", choices=["huber", "squared_log", "squared"])
    b.add_argument("--delta", type=float, default=None, help="Huber delta (default 1e-3; --loss huber only)")
    b.add_argument("--scheme", default="leave_largest", choices=["leave_largest", "expanding"])
    b.add_argument("--ks", default="1,2,3", help="leave_largest: hold out the k largest scale values, for each k")
    b.add_argument("--cutoffs", type=float, nargs="+", default=None, help="explicit cutoffs (fit runs <= cutoff)")
    b.add_argument("--n-cutoffs", type=int, default=3, help="expanding: number of cutoffs")
    b.add_argument("--method", default="bootstrap", choices=["point", "bootstrap", "nuts"],
                   help="uncertainty of each fit (default bootstrap)")
    b.add_argument("--resamples", type=int, default=200, help="bootstrap resamples per cutoff")
    b.add_argument("--seed", type=int, default=0)
    output_options(b, save=False, plot="predicted vs actual, one panel per cutoff")


def backtest_request(args) -> dict:
    """``jaxscale.backtest(**backtest_request(args))``."""
    ks = tuple(int(k) for k in args.ks.split(",") if k.strip())
    req = dict(law=args.law, data=args.data, along=_along_arg(args.along), scheme=args.scheme, ks=ks,
               cutoffs=args.cutoffs, n_cutoffs=args.n_cutoffs, method=args.method, inputs=args.inputs,
               target=args.target, weights=args.weights, loss=args.loss, n_resamples=args.resamples,
               seed=args.seed, progress=not args.no_progress)
    if args.delta is not None:
        req["delta"] = args.delta
    return req


def _run_backtest(args) -> int:
    from ._backtest import backtest

    check_conflicts(args)
    bt = backtest(**backtest_request(args))
    print(f"prediction intervals: {bt.band}\n")
    print(bt.table().to_string(float_format=lambda v: f"{v:.4g}"))
    print()
    print(bt.summary())
    if args.json:
        write_json(args.json, bt.to_dict())
    if args.plot:
        from ._plots import plot_backtest

        plot_backtest(bt, save=args.plot)
        print(f"\nplot written to {args.plot}")
    return 0


def _args_sensitivity(s) -> None:
    data_options(s)
    s.add_argument("--losses", nargs="+", default=["huber:1e-3", "huber:1e-4", "squared_log"],
                   help="losses to compare: huber:DELTA, squared_log, squared (default: huber:1e-3 huber:1e-4 squared_log)")
    s.add_argument("--subset", action="append", default=[], metavar="NAME=COND",
                   help="a data subset beside all points, e.g. 'big=N > 1e8' (conditions joined by &)")
    s.add_argument("--spaces", nargs="+", default=None, choices=["log", "linear"], help="residual spaces to compare")
    s.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE", help="hold a parameter fixed")
    s.add_argument("--tie", action="append", default=[], metavar="NAME=SOURCE", help="tie a parameter to another")
    s.add_argument("--bound", action="append", default=[], metavar="NAME=LO:HI", help="bound a parameter")
    s.add_argument("--starts", default=None, help="grid, halton:N or random:N (default: the fit's default)")
    s.add_argument("--n-steps", type=int, default=None, help="solver iterations")
    s.add_argument("--seed", type=int, default=0)
    derive_options(s)
    output_options(s, save=False, plot=None)


def sensitivity_request(args) -> dict:
    """``jaxscale.sensitivity(**sensitivity_request(args))``."""
    from ._constraints import parse_constraints

    subsets = {"all": None}
    for text in args.subset:
        name, eq, cond = text.partition("=")
        if not eq or not name.strip() or not cond.strip():
            raise ValueError(f"--subset takes NAME=COND, e.g. 'big=N > 1e8', got {text!r}")
        subsets[name.strip()] = cond.strip()
    kind, n = _parse_starts(args.starts)
    return dict(law=args.law, data=args.data, losses=args.losses, subsets=subsets, spaces=args.spaces,
                derive=";".join(args.derive) or None, inputs=parse_mapping(args.inputs), target=args.target,
                weights=args.weights, progress=not args.no_progress, starts=kind, n_starts=n, n_steps=args.n_steps,
                seed=args.seed, **parse_constraints(args.fix, args.tie, args.bound))


def _run_sensitivity(args) -> int:
    from ._sensitivity import sensitivity

    result = sensitivity(**sensitivity_request(args))
    print(result)
    if args.json:
        write_json(args.json, result.to_dict())
    return 0


def _args_compare(c) -> None:
    c.add_argument("data", help="CSV file with one row per training run")
    c.add_argument("--a", required=True, metavar="RECIPE",
                   help="recipe A: law=NAME,loss=huber|squared_log,delta=D,asymmetry=A,fix=E:1.69,tie=beta:alpha")
    c.add_argument("--b", required=True, metavar="RECIPE", help="recipe B (its law defaults to A's)")
    c.add_argument("--inputs", default=None, help="inputs to columns, e.g. N=params,D=tokens")
    c.add_argument("--target", default="loss", help="column with the observed loss (default: loss)")
    c.add_argument("--resamples", type=int, default=200, help="shared bootstrap resamples (default 200)")
    c.add_argument("--holdout", type=float, default=0.2, help="held-out share of the largest points (0: none)")
    c.add_argument("--scale", default=None, help="column that orders the points for the hold-out")
    c.add_argument("--level", type=float, default=0.95)
    c.add_argument("--starts", default=None, help="grid, halton:N or random:N (default: the fit's default)")
    c.add_argument("--seed", type=int, default=0)
    derive_options(c)
    output_options(c, save=False, plot=None)


def _run_compare(args) -> int:
    from ._compare import compare

    kind, n = _parse_starts(args.starts)
    result = compare(args.a, args.b, args.data, derive=";".join(args.derive) or None, n_resamples=args.resamples,
                     seed=args.seed, holdout=args.holdout or None, scale=args.scale, inputs=parse_mapping(args.inputs),
                     target=args.target, level=args.level, starts=kind, n_starts=n)
    print(result)
    if args.json:
        write_json(args.json, result.to_dict())
    return 0


def _args_demo(d) -> None:
    d.add_argument("--seed", type=int, default=0, help="seed of the synthetic noise and the bootstrap")
    d.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (default 1000)")
    output_options(d, save=True, plot="plot the fit extrapolated to 1e24 FLOP to PATH")


def _args_isoflop(p) -> None:
    p.add_argument("data", help="CSV file with one row per training run")
    p.add_argument("--size", default="N", help="column of model sizes N (default: N)")
    p.add_argument("--compute", default="C", help="column of compute budgets C in FLOP (default: C)")
    p.add_argument("--tokens", default=None, help="column of training tokens D: budgets C = 6 N D (instead of --compute)")
    p.add_argument("--loss", "--target", dest="loss", default="loss", help="column of final losses (default: loss)")
    p.add_argument("--inputs", default=None, metavar="N=..,C=..",
                   help="the columns as in `jaxscale fit` (N, C or D), e.g. N=params,C=flops (instead of --size, "
                        "--compute, --tokens)")
    p.add_argument("--method", default="parabola", choices=["parabola", "akima", "law"],
                   help="per-budget minimum: parabola (Hoffmann et al.), akima (Porian et al.) or law (chinchilla)")
    p.add_argument("--resample", default="points", choices=["points", "noise", "budgets"],
                   help="bootstrap: runs within budgets, seed noise on the losses, or whole budgets")
    p.add_argument("--n-resamples", type=int, default=2000, help="resamples (0: no intervals; default 2000)")
    p.add_argument("--weighting", default="none", choices=["none", "inverse_variance"],
                   help="stage-2 weights across budgets (inverse_variance: 1/var of each minimum)")
    p.add_argument("--noise", type=float, default=None, help="loss noise sd for --resample noise (default estimated)")
    p.add_argument("--keep-unbracketed", action="store_true",
                   help="keep budgets whose minimum lies outside the sizes run (as extrapolations)")
    p.add_argument("--at", type=float, nargs="+", default=None, metavar="C",
                   help="compute-optimal N and D with intervals at these budgets (FLOP)")
    p.add_argument("--seed", type=int, default=0, help="seed of the resamples")
    p.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--min-draws", type=int, default=None, metavar="N",
                   help="fewest valid resamples an interval is made from (default: 100 at 95%%)")
    output_options(p, save=True, plot="plot the isoFLOP curves and their minima to PATH")


def isoflop_request(args) -> dict:
    inputs = {"N": args.size}
    if args.tokens is not None:
        inputs["D"] = args.tokens
    else:
        inputs["C"] = args.compute
    if args.inputs:
        given = parse_mapping(args.inputs)
        inputs = {"N": given.get("N", args.size), **{k: v for k, v in given.items() if k != "N"}}
        if "C" not in inputs and "D" not in inputs:
            inputs["C"] = args.compute
    return dict(inputs=inputs, target=args.loss, method=args.method, resample=args.resample,
                n_resamples=args.n_resamples, weighting=args.weighting, noise=args.noise,
                keep_unbracketed=args.keep_unbracketed, seed=args.seed, level=args.level, min_draws=args.min_draws)


def _run_isoflop(args) -> int:
    """``jaxscale isoflop runs.csv --compute flops --size params --loss loss --at 3.8e25``."""
    from ._isoflop import fit_isoflop

    iso = fit_isoflop(args.data, **isoflop_request(args))
    tables = {"budgets": ("per budget", iso.budget_table())}
    if args.at:
        tables["optimal"] = ("compute-optimal allocation (N_opt = k_n C^a, D_opt = C / (6 N_opt))",
                             compute_optimal(iso, args.at, level=args.level))

    def plot(result, path):
        from ._plots import plot_isoflop

        plot_isoflop(args.data, result, save=path)

    emit(args, iso, tables, plot)
    return 0


def _run_demo(args) -> int:
    df = synthetic_chinchilla(seed=args.seed)
    print("Embedded synthetic Chinchilla-style data: 135 isoFLOP points generated from Epoch AI's published "
          "parameters (E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658) with 1% log-normal noise.\n")
    result = fit("chinchilla", df, target="loss", progress=not args.no_progress)
    boot = bootstrap(result, args.bootstrap, seed=args.seed, progress=not args.no_progress)
    table = compute_optimal(boot, [1e21, 1e22, 1e23, 1e24, 1e25])
    emit(args, boot, {"optimal": ("compute-optimal allocation (C = 6 N D), 95% bootstrap intervals", table)},
         lambda r, path: _plot_fit(r, path, extrapolate_to=1e24))
    truth = ", ".join(f"{k}={v:g}" for k, v in EPOCH_PARAMS.items())
    print(f"\ngenerating values: {truth}. The intervals are for this one noisy draw (--seed changes it); "
          "a 95% interval misses the generating value in about 1 draw in 20.")
    return 0


register("fit", "fit a law to a CSV file", _args_fit, _run_fit)
register("optimal", "compute-optimal N and D for a compute budget", _args_optimal, _run_optimal)
register("backtest", "fit the smaller runs, predict the larger ones: errors and interval coverage",
         _args_backtest, _run_backtest)
register("isoflop", "isoFLOP analysis (Approach 2): N_opt(C) = k_n C^a from a sweep, with intervals",
         _args_isoflop, _run_isoflop)
register("sensitivity", "refit over losses x data subsets and show how each quantity moves",
         _args_sensitivity, _run_sensitivity)
register("compare", "compare two recipes or laws on shared bootstrap draws", _args_compare, _run_compare)
register("demo", "refit the Chinchilla law on the embedded synthetic data", _args_demo, _run_demo)


# ----------------------------------------------------------------------------------------------
# Entry point
# ----------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jaxscale", description="Fast scaling-law fits with honest uncertainty.")
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd in SUBCOMMANDS.values():
        p = sub.add_parser(cmd.name, help=cmd.help)
        cmd.add_arguments(p)
        p.set_defaults(func=cmd.run)
    return parser


def main(argv=None) -> int:
    from_shell = argv is None
    parser = build_parser()
    parser.add_argument("--no-cache", action="store_true", help="do not use the persistent compilation cache "
                        "(default: on, in ~/.cache/jaxscale/xla; also off with JAXSCALE_NO_CACHE=1)")
    argv = list(sys.argv[1:] if argv is None else argv)
    no_cache = "--no-cache" in argv  # accepted before or after the subcommand
    args = parser.parse_args([a for a in argv if a != "--no-cache"])
    if not (no_cache or cache_disabled_by_env()):
        enable_compilation_cache()  # compile each program once per machine (see jaxscale/_cache.py)

    def one_line_warning(message, category, filename, lineno, file=None, line=None):
        print(f"jaxscale: warning: {' '.join(str(message).split())}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line_warning
            check_arguments(args)
            return args.func(args)
    except ConvergenceError as err:  # --on-failure raise
        print(f"jaxscale: failed: {' '.join(str(err).split())}", file=sys.stderr)
        return 3
    except (ValueError, OSError, RuntimeError) as err:
        print(f"jaxscale: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # Ctrl-C: one line, no traceback, the shell's status 130
        detail = str(err) if isinstance(err, Interrupted) else "interrupted"
        print(f"jaxscale: {detail}", file=sys.stderr)
        if from_shell:  # the real command: leave at once, never under a computation still in flight
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
