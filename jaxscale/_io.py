"""Saved results: a fit, bootstrap or posterior saved to disk and loaded back bit-for-bit.

* :class:`~jaxscale.FitResult` -> JSON. Floats are written with Python's shortest round-trip
  ``repr`` (non-finite values as the strings ``"nan"``, ``"inf"``, ``"-inf"``), so every number,
  including every start's status and the fitted data, loads back identical.
* :class:`~jaxscale.BootstrapResult` -> netCDF-4 (xarray, h5netcdf engine): the draws,
  converged flags, objectives and jackknife as float64/bool variables, the full-data fit as its
  JSON text in a ``uint8`` variable.
* :class:`~jaxscale.bayes.PosteriorResult` -> the ArviZ InferenceData netCDF (through
  :mod:`jaxscale._arviz`) with one extra group ``jaxscale`` holding the fit and the settings.

Every file records the law's name and version, the sha256 of the data actually fitted
(:func:`jaxscale.data_sha256`), the seeds, and the jaxscale, jax and NumPy versions, the
backend and the device kind it was computed on. :func:`load` checks them: a law whose version
differs from the saved one raises, and so does data whose hash no longer matches (a damaged
file). A law that is not registered must be passed as ``load(path, law=my_law)``.

**Tamper-evident.** Every file also carries the sha256 of its whole content
(``content_sha256``): for JSON, of the canonical JSON text of everything else in the file
(parameters, every start's status, the data, the metadata); for netCDF, of every data variable
of every group (name, dtype, shape and bytes, in a fixed order) and the settings. :func:`load`
recomputes it, so a file that was edited (a parameter, ``converged``, one bootstrap draw),
truncated, damaged or written by something else raises one ``ValueError`` naming the file,
never a ``KeyError``, ``OSError`` or ``JSONDecodeError``. Files of format 1 (no content hash)
are refused: load them with the jaxscale that wrote them and save again.

Writing is atomic: the file is written to a temporary file in the same folder
(``.NAME.PID.XXXX.tmp``), flushed to disk and renamed over ``path`` (``os.replace``), so an
interrupted save leaves any earlier file at ``path`` intact. The temporary file is removed on
every error path; only ``kill -9`` (or a power cut) can leave one, and the next :func:`save` or
:func:`load` of that path removes those whose process is gone. Files get the permissions of the
user's umask (like any file the user creates), not ``mkstemp``'s 0600.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import math
import os
import tempfile

import numpy as np

from ._constraints import expand_params
from ._data import Dataset
from ._engine import StartResults
from ._fit import FitResult
from .laws import Law, get_law
from ._objectives import Objective
from ._solvers import SolverSpec
from ._varpro import VarPro

__all__ = ["save", "load", "metadata", "atomic_write", "write_json", "clean_stale_temps", "FORMAT_VERSION"]

#: Version of the on-disk layout; bumped when it changes incompatibly (2: content hash).
FORMAT_VERSION = 2
_GROUP = "jaxscale"
_HASH = "content_sha256"


# ----------------------------------------------------------------------------------------------
# Metadata and atomic writes
# ----------------------------------------------------------------------------------------------
def metadata(fit: FitResult) -> dict:
    """What a saved result records so it can be checked later."""
    import jax

    from ._version import __version__

    dev = jax.devices()[0]
    return {"law": fit.law.name, "law_version": str(fit.law.version), "data_sha256": fit.data_hash,
            "seed": fit.seed, "jaxscale_version": __version__, "jax_version": jax.__version__,
            "numpy_version": np.__version__, "backend": jax.default_backend(), "device_kind": dev.device_kind,
            "dtype": np.dtype(fit.dtype).name}


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


def clean_stale_temps(path) -> int:
    """Remove temporary files of ``path`` (``.NAME.PID.XXXX.tmp``) left by a killed process.

    Only files whose writing process no longer exists are removed (a save in progress in another
    process is left alone). Returns how many were removed."""
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    removed = 0
    for tmp in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(name)}.*.tmp")):
        pid = os.path.basename(tmp)[len(name) + 2:].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            try:
                os.unlink(tmp)
                removed += 1
            except OSError:
                pass
    return removed


def atomic_write(path, write) -> str:
    """``write(tmp)`` into a temporary file beside ``path``, fsync it, then rename it over ``path``.

    The temporary file is removed on every error path (``BaseException``: Ctrl-C included); stale
    ones of killed processes are cleaned first (:func:`clean_stale_temps`). The file gets the
    user's umask permissions."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    clean_stale_temps(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.{os.getpid()}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# ----------------------------------------------------------------------------------------------
# Content hashes
# ----------------------------------------------------------------------------------------------
def _canonical_json(doc: dict) -> bytes:
    return json.dumps(doc, allow_nan=False, sort_keys=True, separators=(",", ":")).encode()


def _doc_sha256(doc: dict) -> str:
    """sha256 of a JSON document without its own hash field (canonical text: sorted keys)."""
    return hashlib.sha256(_canonical_json({k: v for k, v in doc.items() if k != _HASH})).hexdigest()


def _array_bytes(a) -> tuple[str, bytes]:
    a = np.asarray(a)
    if a.dtype.kind == "b":
        a = a.astype("u1")
    elif a.dtype.kind in "iu":
        a = a.astype("<i8")
    elif a.dtype.kind == "f":
        a = a.astype("<f8")
    elif a.dtype.kind in "US":
        return "str", "\x1f".join(map(str, a.ravel().tolist())).encode()
    else:
        raise ValueError(f"cannot hash an array of dtype {a.dtype}")
    return a.dtype.str, np.ascontiguousarray(a).tobytes()


def _datasets_sha256(groups: dict, info: str) -> str:
    """sha256 over ``{group: xarray.Dataset}`` (data variables: name, dtype, shape, bytes) and the
    settings text ``info``."""
    h = hashlib.sha256(info.encode())
    for g in sorted(groups):
        xds = groups[g]
        for name in sorted(map(str, xds.data_vars)):
            arr = np.asarray(xds[name].values)
            kind, data = _array_bytes(arr)
            h.update(f"|{g}/{name}:{kind}:{arr.shape}|".encode())
            h.update(data)
    return h.hexdigest()


class _Damaged(ValueError):
    """A saved file whose content does not match its recorded hash."""


def _check_hash(recorded, actual, what: str) -> None:
    if recorded is None:
        raise _Damaged(f"{what} has no content sha256 (saved by jaxscale format 1, or not by jaxscale): "
                       "load it with the version that wrote it and save it again")
    if recorded != actual:
        raise _Damaged(f"{what} does not match its recorded content sha256: the file is damaged or was edited")


def write_json(path, payload: dict) -> str:
    """A JSON summary (``result.to_dict()``, indented) written atomically with :func:`atomic_write`."""
    text = json.dumps(payload, indent=2, default=_json_default).encode()

    def write(tmp):
        with open(tmp, "wb") as fh:
            fh.write(text)

    return atomic_write(path, write)


def _json_default(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


# ----------------------------------------------------------------------------------------------
# Exact JSON encoding of arrays and FitResults
# ----------------------------------------------------------------------------------------------
def _num(v):
    v = float(v)
    return v if math.isfinite(v) else repr(v)  # 'nan', 'inf', '-inf'


def _enc(a) -> dict:
    a = np.asarray(a)
    if a.dtype.kind == "f":
        data = [_num(v) for v in a.ravel().tolist()]
    elif a.dtype.kind in "biu":
        data = a.ravel().tolist()
    else:
        data = [v if isinstance(v, (str, int, float, bool)) or v is None else str(v) for v in a.ravel().tolist()]
    return {"dtype": "object" if a.dtype.kind == "O" else a.dtype.str, "shape": list(a.shape), "data": data}


def _dec(d) -> np.ndarray:
    dtype = np.dtype(d["dtype"])
    data = d["data"]
    if dtype.kind == "f":
        data = [float(v) for v in data]
    out = np.empty(len(data), dtype=dtype)
    out[:] = data
    return out.reshape(d["shape"])


def _fit_to_json(fit: FitResult) -> dict:
    ds = fit.data
    return {
        "jaxscale_result": "fit", "format_version": FORMAT_VERSION, "meta": metadata(fit),
        "loss": {"kind": fit.loss.kind, "space": fit.loss.space, "delta": _num(fit.loss.delta),
                 "asymmetry": _num(fit.loss.asymmetry), "reduction": fit.loss.reduction},
        "solver": {"name": fit.solver.name, "options": [list(kv) for kv in fit.solver.options]},
        "n_steps": fit.n_steps, "rounds": fit.rounds, "xtol": _num(fit.xtol), "starts_spec": fit.starts_spec,
        "dtype": np.dtype(fit.dtype).name, "seed": fit.seed,
        "plan": fit.plan if isinstance(fit.plan, str) else {"varpro": dataclasses.asdict(fit.plan)},
        "params": {k: _num(v) for k, v in fit.params.items()}, "u": _enc(fit.u), "objective": _num(fit.objective),
        "converged": bool(fit.converged),
        "starts": {f: _enc(getattr(fit.starts, f)) for f in ("u", "objective", "grad_norm", "newton_step", "converged")},
        "data": {"inputs": {k: _enc(v) for k, v in ds.inputs.items()}, "y": _enc(ds.y), "weights": _enc(ds.weights),
                 "target": ds.target, "columns": {k: v if isinstance(v, str) else None for k, v in ds.columns.items()},
                 "groups": None if ds.groups is None else _enc(ds.groups)},
    }


def _resolve_law(meta: dict, law) -> Law:
    name, version = meta["law"], str(meta["law_version"])
    if law is None:
        try:
            law = get_law(name)
        except ValueError:
            raise ValueError(f"the saved result is of law {name!r}, which is not registered; "
                             "pass it as load(path, law=...)") from None
    else:
        law = get_law(law)
    if law.name != name:
        raise ValueError(f"the saved result is of law {name!r}, not {law.name!r}")
    if str(law.version) != version:
        raise ValueError(f"law {name!r} is version {law.version!r} now but the result was saved with version "
                         f"{version!r}; its parameters may mean something else")
    return law


def _plan_from_json(plan):
    return VarPro(**plan["varpro"]) if isinstance(plan, dict) else str(plan)


def _fit_from_json(doc: dict, law) -> FitResult:
    if not isinstance(doc, dict) or doc.get("jaxscale_result") != "fit":
        raise ValueError("not a saved jaxscale fit")
    if doc.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"saved with a newer file format ({doc['format_version']}); upgrade jaxscale")
    _check_hash(doc.get(_HASH), _doc_sha256(doc), "the saved fit")
    meta = doc["meta"]
    law = _resolve_law(meta, law)
    names = list(expand_params(law, {n: 0.0 for n in law.param_names}))  # a constrained law reports all
    if set(doc["params"]) != set(names):
        raise ValueError(f"saved parameters {sorted(doc['params'])} do not match law {law.name!r}")
    d = doc["data"]
    ds = Dataset(inputs={k: _dec(v) for k, v in d["inputs"].items()}, y=_dec(d["y"]), weights=_dec(d["weights"]),
                 target=d["target"], columns={k: (v if v is not None else k) for k, v in d["columns"].items()},
                 groups=None if d["groups"] is None else _dec(d["groups"]))
    s = doc["starts"]
    starts = StartResults(*(_dec(s[f]) for f in ("u", "objective", "grad_norm", "newton_step", "converged")))
    loss = Objective(doc["loss"]["kind"], doc["loss"]["space"], float(doc["loss"]["delta"]),
                     float(doc["loss"].get("asymmetry", 1.0)), doc["loss"].get("reduction", "sum"))
    solver = SolverSpec(doc["solver"]["name"], tuple(tuple(kv) for kv in doc["solver"]["options"]))
    dtype = {"float64": np.float64, "float32": np.float32}[doc["dtype"]]
    out = FitResult(law=law, loss=loss, solver=solver, n_steps=int(doc["n_steps"]),
                    params={k: float(doc["params"][k]) for k in names}, u=_dec(doc["u"]),
                    objective=float(doc["objective"]), converged=bool(doc["converged"]), starts=starts, data=ds,
                    dtype=dtype, seed=doc["seed"], plan=_plan_from_json(doc.get("plan", "grid")),
                    xtol=float(doc.get("xtol", 1e-6)), starts_spec=doc.get("starts_spec", "grid"),
                    rounds=int(doc.get("rounds", 0)))
    if out.data_hash != meta["data_sha256"]:
        raise ValueError("the saved data no longer match their recorded sha256: the file is damaged")
    return out


def _json_bytes(doc: dict) -> bytes:
    return json.dumps(doc, allow_nan=False, separators=(",", ":")).encode()


def _sealed(doc: dict) -> dict:
    """``doc`` with its content hash (:func:`_doc_sha256`) as the last field."""
    return {**doc, _HASH: _doc_sha256(doc)}


# ----------------------------------------------------------------------------------------------
# Bootstrap and posterior
# ----------------------------------------------------------------------------------------------
def _bootstrap_dataset(boot):
    import xarray as xr

    names = boot.law.param_names
    fit_bytes = np.frombuffer(_json_bytes(_sealed(_fit_to_json(boot.fit))), dtype=np.uint8)
    data_vars = {f"draw__{k}": ("resample", np.asarray(boot.draws[k])) for k in names}
    data_vars["converged"] = ("resample", np.asarray(boot.converged, dtype=bool))
    data_vars["objective"] = ("resample", np.asarray(boot.objective))
    if boot.jackknife is not None:
        data_vars.update({f"jackknife__{k}": ("jackknife", np.asarray(boot.jackknife[k])) for k in names})
    data_vars["fit_json"] = ("fit_json_bytes", fit_bytes)
    info = {"jaxscale_result": "bootstrap", "format_version": FORMAT_VERSION, "meta": {**metadata(boot.fit),
            "seed": boot.seed, "fit_seed": boot.fit.seed}, "scheme": boot.scheme, "seed": boot.seed,
            "level": boot.level, "min_draws": boot.min_draws, "starts_per_resample": boot.starts_per_resample,
            "jackknife": boot.jackknife is not None, "residuals": boot.residuals}
    text = json.dumps(info, allow_nan=False)
    xds = xr.Dataset(data_vars, attrs={_GROUP: text})
    xds.attrs[_HASH] = _datasets_sha256({"": xds}, text)
    return xds


def _bootstrap_from_dataset(xds, law):
    from ._bootstrap import BootstrapResult

    text = xds.attrs[_GROUP]
    _check_hash(xds.attrs.get(_HASH), _datasets_sha256({"": xds}, text), "the saved bootstrap")
    info = json.loads(text)
    fit = _fit_from_json(json.loads(np.asarray(xds["fit_json"].values, dtype=np.uint8).tobytes()), law)
    names = fit.law.param_names
    draws = {k: np.asarray(xds[f"draw__{k}"].values) for k in names}
    jack = {k: np.asarray(xds[f"jackknife__{k}"].values) for k in names} if info["jackknife"] else None
    return BootstrapResult(fit=fit, draws=draws, converged=np.asarray(xds["converged"].values, dtype=bool),
                           objective=np.asarray(xds["objective"].values),
                           starts_per_resample=int(info["starts_per_resample"]), scheme=info["scheme"],
                           seed=int(info["seed"]), level=float(info["level"]), jackknife=jack,
                           min_draws=info.get("min_draws"), residuals=info.get("residuals"))


def _posterior_group(post):
    import xarray as xr

    fit_bytes = np.frombuffer(_json_bytes(_sealed(_fit_to_json(post.fit))), dtype=np.uint8)
    info = {"jaxscale_result": "posterior", "format_version": FORMAT_VERSION,
            "meta": {**metadata(post.fit), "seed": post.seed, "fit_seed": post.fit.seed},
            "likelihood": post.likelihood, "delta": post.delta, "chains": post.chains, "seed": post.seed, "level": post.level,
            "min_draws": post.min_draws,
            "n_divergences": post.n_divergences, "variables": [k for k in post.draws if k in post.idata.posterior.data_vars]}
    text = json.dumps(info, allow_nan=False)
    group = xr.Dataset({"fit_json": ("fit_json_bytes", fit_bytes)}, attrs={_GROUP: text})
    groups = {g: getattr(post.idata, g) for g in post.idata.groups()}
    group.attrs[_HASH] = _datasets_sha256({**groups, _GROUP: group}, text)
    return group


def _posterior_from_idata(idata, law):
    from . import _arviz
    from ._bayes import PosteriorResult

    group = _arviz.get_group(idata, _GROUP)
    text = group.attrs[_GROUP]
    idata = _arviz.without_group(idata, _GROUP)
    groups = {g: getattr(idata, g) for g in idata.groups()}
    _check_hash(group.attrs.get(_HASH), _datasets_sha256({**groups, _GROUP: group}, text), "the saved posterior")
    info = json.loads(text)
    fit = _fit_from_json(json.loads(np.asarray(group["fit_json"].values, dtype=np.uint8).tobytes()), law)
    by_chain = {k: np.asarray(idata.posterior[k].values) for k in info["variables"]}
    flat = {k: v.reshape((-1,) + v.shape[2:]) for k, v in by_chain.items()}
    summary = _arviz.summary(idata, info["variables"])
    n_div = int(np.asarray(idata.sample_stats["diverging"].values).sum())
    if n_div != info["n_divergences"]:
        raise ValueError("the saved sample stats do not match the recorded number of divergences: damaged file")
    return PosteriorResult(fit=fit, draws=flat, idata=idata, diagnostics=summary, n_divergences=n_div,
                           likelihood=info["likelihood"], chains=int(info["chains"]), seed=int(info["seed"]),
                           level=float(info["level"]), min_draws=info.get("min_draws"),
                           delta=float(info.get("delta", 1e-3)))


# ----------------------------------------------------------------------------------------------
# Grouped results: one file for all groups
# ----------------------------------------------------------------------------------------------
_GROUPED = "jaxscale_grouped"


def _key(k):
    return k.item() if isinstance(k, np.generic) else k


def _grouped_info(grouped) -> dict:
    return {"jaxscale_result": "grouped", "format_version": FORMAT_VERSION, "group": grouped.column,
            "keys": [_key(k) for k in grouped.results],
            "labels": None if grouped.labels is None else _enc(grouped.labels)}


def _grouped_fit_json(grouped) -> dict:
    return {**_grouped_info(grouped), "results": [_sealed(_fit_to_json(r)) for r in grouped.results.values()]}


def _grouped_fit_from_json(doc, law):
    from ._fit import GroupedFit

    fits = {k: _fit_from_json(d, law) for k, d in zip(doc["keys"], doc["results"])}
    return GroupedFit(doc["group"], fits, None if doc["labels"] is None else _dec(doc["labels"]))


def _grouped_bootstrap_dataset(grouped):
    """Every group's bootstrap dataset in one, variables and dimensions prefixed ``g{j}__``."""
    import xarray as xr

    parts = []
    for j, boot in enumerate(grouped.results.values()):
        xds = _bootstrap_dataset(boot)
        ren = {**{v: f"g{j}__{v}" for v in xds.data_vars}, **{d: f"g{j}__{d}" for d in xds.dims}}
        parts.append(xds.rename(ren))
        parts[-1].attrs = {f"{_GROUP}__g{j}": xds.attrs[_GROUP], f"{_HASH}__g{j}": xds.attrs[_HASH]}
    out = xr.merge(parts, combine_attrs="drop")
    out.attrs = {_GROUPED: json.dumps(_grouped_info(grouped), allow_nan=False),
                 **{k: v for p in parts for k, v in p.attrs.items()}}
    return out


def _grouped_bootstrap_from_dataset(xds, law):
    from ._results import GroupedResult

    info = json.loads(xds.attrs[_GROUPED])
    out = {}
    for j, key in enumerate(info["keys"]):
        pre = f"g{j}__"
        part = xds[[v for v in xds.data_vars if v.startswith(pre)]]
        part = part.rename({**{v: v[len(pre):] for v in part.data_vars},
                            **{d: d[len(pre):] for d in part.dims if d.startswith(pre)}})
        part.attrs = {_GROUP: xds.attrs[f"{_GROUP}__g{j}"], _HASH: xds.attrs.get(f"{_HASH}__g{j}")}
        out[key] = _bootstrap_from_dataset(part, law)
    return GroupedResult(info["group"], out, None if info["labels"] is None else _dec(info["labels"]))


# ----------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------
def save(result, path) -> str:
    """Save a :class:`~jaxscale.FitResult` (JSON), :class:`~jaxscale.BootstrapResult` (netCDF),
    :class:`~jaxscale.PosteriorResult` (InferenceData netCDF) or :class:`~jaxscale.IsoflopResult`
    (JSON) atomically to ``path``; a grouped fit (JSON) or grouped bootstrap (netCDF) goes to one
    file with every group.

    The format follows the kind of result, whatever the file's extension. Returns ``path``.
    """
    from ._bayes import PosteriorResult
    from ._bootstrap import BootstrapResult
    from ._isoflop import IsoflopResult, isoflop_to_json
    from ._results import GroupedResult

    if isinstance(result, GroupedResult):
        kinds = {type(r) for r in result.results.values()}
        if kinds == {FitResult}:
            payload = _json_bytes(_sealed(_grouped_fit_json(result)))

            def write(tmp):
                with open(tmp, "wb") as fh:
                    fh.write(payload)
        elif kinds == {BootstrapResult}:
            xds = _grouped_bootstrap_dataset(result)

            def write(tmp):
                xds.to_netcdf(tmp, engine="h5netcdf")
        else:
            raise ValueError("save writes grouped fits and grouped bootstraps; save a grouped posterior's "
                             "groups one by one")
    elif isinstance(result, IsoflopResult):
        payload = _json_bytes(_sealed(isoflop_to_json(result)))

        def write(tmp):
            with open(tmp, "wb") as fh:
                fh.write(payload)
    elif isinstance(result, FitResult):
        payload = _json_bytes(_sealed(_fit_to_json(result)))

        def write(tmp):
            with open(tmp, "wb") as fh:
                fh.write(payload)
    elif isinstance(result, BootstrapResult):
        xds = _bootstrap_dataset(result)

        def write(tmp):
            xds.to_netcdf(tmp, engine="h5netcdf")
    elif isinstance(result, PosteriorResult):
        from . import _arviz

        idata = _arviz.with_group(result.idata, _GROUP, _posterior_group(result))

        def write(tmp):
            _arviz.to_netcdf(idata, tmp)
    else:
        raise ValueError(f"save takes a FitResult, BootstrapResult or PosteriorResult (or a grouped fit or "
                         f"bootstrap), got {type(result).__name__}")
    return atomic_write(path, write)


def load(path, law: Law | str | None = None):
    """Load a result written by :func:`save`; the same class comes back, with equal numbers.

    ``law``: needed when the result's law is not registered (a custom law); it must have the
    saved name and version. Raises one ``ValueError`` naming the file for a missing, foreign,
    truncated, damaged or edited file (its content sha256 no longer matches), a law-version
    mismatch or data whose sha256 does not match the recorded one. Stale temporary files of a
    killed save of ``path`` are ignored and removed.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"result file not found: {path}")
    clean_stale_temps(path)
    try:
        return _load(path, law)
    except _Damaged as err:
        raise ValueError(f"{path}: {err}") from None
    except ValueError as err:
        text = str(err)
        raise ValueError(text if path in text else f"{path}: {text}") from None
    except Exception as err:  # KeyError, OSError, UnicodeDecodeError, TypeError...: a damaged or foreign file
        detail = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        raise ValueError(f"{path} is damaged, truncated or not a saved jaxscale result ({detail})") from None


def _load(path: str, law):
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.lstrip()[:1] == b"{":
        with open(path, "rb") as fh:
            try:
                doc = json.loads(fh.read())
            except ValueError:
                raise ValueError(f"{path} is not a valid saved jaxscale fit (bad JSON)") from None
        if isinstance(doc, dict) and doc.get("kind") == "jaxscale.IsoflopResult":
            from ._isoflop import isoflop_from_json

            _check_hash(doc.get(_HASH), _doc_sha256(doc), "the saved isoFLOP result")
            return isoflop_from_json({k: v for k, v in doc.items() if k != _HASH})
        if isinstance(doc, dict) and doc.get("jaxscale_result") == "grouped":
            _check_hash(doc.get(_HASH), _doc_sha256(doc), "the saved grouped fit")
            return _grouped_fit_from_json(doc, law)
        return _fit_from_json(doc, law)
    if head[:4] != b"\x89HDF":
        raise ValueError(f"{path} is not a saved jaxscale result (JSON or netCDF-4)")
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as xds:
        if _GROUPED in xds.attrs:
            return _grouped_bootstrap_from_dataset(xds.load(), law)
        if _GROUP in xds.attrs:
            return _bootstrap_from_dataset(xds.load(), law)
    from . import _arviz

    idata = _arviz.read_netcdf(path)
    if _arviz.get_group(idata, _GROUP) is None:
        raise ValueError(f"{path} is a netCDF file but not a saved jaxscale result")
    return _posterior_from_idata(idata, law)
