"""Checks run before any work: arguments (counts, levels, seeds, output paths), the law on a tiny
input, whether the data can identify the law; and the data hash that results record.

(Interval levels are checked by :func:`jaxscale._results.check_level`, the one level check.)
Every check raises ``ValueError`` (a bad value) or ``TypeError`` (a value of the wrong type) whose
message names the argument, so the command line can print it as one line.
"""

from __future__ import annotations

import functools
import hashlib
import numbers
import os
import weakref

import numpy as np

from ._data import Dataset
from .laws import Law

__all__ = ["check_points", "check_identifiable", "data_sha256", "check_count", "seed_int",
           "check_seed", "check_output_path", "check_law", "SEED_BOUND",
           "degenerate_reason", "EXTREME_U", "unidentified_params", "FLAT_RTOL"]

#: Seeds in ``[0, SEED_BOUND)`` are used as they are; any other Python int is hashed into this range.
SEED_BOUND = 2 ** 63


def check_count(value, name: str, minimum: int = 1) -> int:
    """An integer count ``>= minimum``: ``TypeError`` for a non-integer (``1e3``, ``True``, ``"10"``),
    ``ValueError`` below the minimum; both name the argument."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_seed(seed, name: str = "seed") -> int:
    """Any Python (or NumPy) integer, returned as a Python int; bools and floats are refused."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {seed!r} ({type(seed).__name__})")
    return int(seed)


def seed_int(seed, name: str = "seed") -> int:
    """The seed the random generators receive: ``seed`` itself when ``0 <= seed < 2**63`` (so
    existing seeds give the same draws), else the first 63 bits of the sha256 of its decimal
    text. Any Python int (negative, ``>= 2**64``) thus gives a valid, reproducible key."""
    seed = check_seed(seed, name)
    if 0 <= seed < SEED_BOUND:
        return seed
    digest = hashlib.sha256(f"jaxscale-seed:{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % SEED_BOUND


def check_output_path(path, name: str) -> str:
    """An output file path whose folder exists and is writable, checked before any work.

    Raises ``ValueError`` naming the argument: a missing folder, a folder that cannot be
    written, or a path that is an existing folder."""
    if path is None:
        return path
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"{name} must be a file path, got {path!r}") from None
    if not path:
        raise ValueError(f"{name} must be a file path, got an empty string")
    if os.path.isdir(path):
        raise ValueError(f"{name} {path!r} is a folder; give a file path")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{name}: folder {folder!r} does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{name}: folder {folder!r} is not writable")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise ValueError(f"{name}: file {path!r} exists and is not writable")
    return path


_LAWS_CHECKED: "weakref.WeakKeyDictionary[Law, set]" = weakref.WeakKeyDictionary()


def check_law(law: Law, objective, ds: Dataset, u0: np.ndarray, dtype, n_points: int = 3,
              n_starts: int = 8) -> None:
    """Run the law once on a tiny input (the first ``n_points`` data points, the first
    ``n_starts`` starts) before the batch is compiled: an exception, an output of the wrong shape
    or dtype, or non-finite output at every one of those starts raise ``ValueError`` naming the
    law. A law that passed is not run again for the same objective space, input ranks and dtype."""
    import jax.numpy as jnp

    from ._config import precision

    key = (objective.space, tuple(np.ndim(v) for v in ds.inputs.values()), np.dtype(dtype).name)
    if key in _LAWS_CHECKED.get(law, ()):
        return
    k = min(n_points, ds.n)
    with precision(dtype):
        x = {name: jnp.asarray(np.asarray(v)[:k]) for name, v in ds.inputs.items()}
        finite = False
        for i in range(min(n_starts, u0.shape[0])):
            params = law.constrain(jnp.asarray(u0[i]))
            try:
                out = objective.model_output(law, params, x)
            except Exception as err:  # the law's own code failed: say which law
                raise ValueError(f"law {law.name!r} failed on a {k}-point input: {type(err).__name__}: "
                                 f"{' '.join(str(err).split())}") from None
            shape = np.shape(out)
            if shape != (k,):
                raise ValueError(f"law {law.name!r} must return one value per data point (shape ({k},) for "
                                 f"{k} points), got shape {shape}")
            arr = np.asarray(out)
            if arr.dtype.kind not in "fc":
                raise ValueError(f"law {law.name!r} must return floating-point values, got dtype {arr.dtype}")
            if np.all(np.isfinite(arr)):
                finite = True
                break
    if finite:
        _LAWS_CHECKED.setdefault(law, set()).add(key)
        return
    if not finite:
        raise ValueError(f"law {law.name!r} returns NaN or infinite values on the first {k} data points at "
                         f"every one of the first {min(n_starts, u0.shape[0])} starts; check the law and its "
                         "start grid")


def check_points(law: Law, weights: np.ndarray, what: str, ds: Dataset | None = None) -> None:
    n = int(np.sum(weights > 0))
    if n < law.n_params:
        raise ValueError(f"{what} have {n} point(s) with positive weight, fewer than the {law.n_params} "
                         f"parameters of law {law.name!r}")
    if ds is not None:
        check_identifiable(law, ds, weights > 0, what)


def check_identifiable(law: Law, ds: Dataset, keep: np.ndarray, what: str) -> None:
    """Reject inputs that make the law unidentifiable: a constant 1-d input, two identical
    inputs, or fewer distinct input points than parameters (among points with positive weight)."""
    xs = {k: np.asarray(v)[keep] for k, v in ds.inputs.items()}
    col = lambda k: f"input {k} (column {ds.columns.get(k, k)!r})" if isinstance(ds.columns.get(k, k), str) else f"input {k}"
    for k, v in xs.items():
        if v.ndim == 1 and np.unique(v).shape[0] < 2:
            raise ValueError(f"{col(k)} has the single value {v[0]:g} in {what}: law {law.name!r} cannot be "
                             "identified from a constant input")
    names = list(xs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if xs[a].shape == xs[b].shape and np.array_equal(xs[a], xs[b]):
                raise ValueError(f"{col(a)} and {col(b)} are identical in {what}: law {law.name!r} cannot "
                                 "tell them apart")
    rows = np.concatenate([v.reshape(v.shape[0], -1) for v in xs.values()], axis=1)
    n_distinct = np.unique(rows, axis=0).shape[0]
    if n_distinct < law.n_params:
        raise ValueError(f"{what} have {n_distinct} distinct input point(s) (duplicates of inputs "
                         f"{names}), fewer than the {law.n_params} parameters of law {law.name!r}")


def data_sha256(ds: Dataset, inputs=None) -> str:
    """sha256 of a data set as fitted: each input (in ``inputs`` order), target and weights as
    little-endian float64 with their names and shapes. Same arrays, same hash, on any machine."""
    h = hashlib.sha256()
    items = [(k, ds.inputs[k]) for k in (inputs or sorted(ds.inputs))] + [("__y__", ds.y), ("__w__", ds.weights)]
    for name, arr in items:
        a = np.ascontiguousarray(np.asarray(arr, dtype="<f8"))
        h.update(f"{name}:{a.shape}:".encode())
        h.update(a.tobytes())
    return h.hexdigest()


#: ``|u|`` (unconstrained coordinates: the log of a positive parameter) beyond which a fitted
#: parameter counts as having run off to an extreme value (e^50 ~ 5e21).
EXTREME_U = 50.0


@functools.lru_cache(maxsize=128)
def _jit_predict(law: Law):
    import jax

    return jax.jit(law.predict)


def degenerate_reason(law: Law, u: np.ndarray, inputs, dtype=np.float64) -> str | None:
    """Why a fitted parameter vector is degenerate, or None: a non-finite parameter, a parameter
    run off to an extreme value (a positive one above ``e^EXTREME_U``, a real one beyond
    ``+-EXTREME_U``; one collapsing to 0 is on a bound, reported as such), or a prediction at a
    training point that is not finite (Alabdulmohsin et al.'s M4 drifting to ``eps_0 = 64,
    alpha = 171, beta = 1e-308`` predicts NaN everywhere). Such a fit is reported as not converged."""
    import jax.numpy as jnp

    from ._config import precision

    u = np.asarray(u, dtype=float)
    if not np.all(np.isfinite(u)):
        return "non-finite parameters"
    far = [p.name for p, v in zip(law.params, u)
           if (p.transform == "positive" and v > EXTREME_U) or (p.transform == "real" and abs(v) > EXTREME_U)]
    params = law.constrain(u)
    if far:
        return ("parameter(s) ran to extreme values (" + ", ".join(f"{n}={float(params[n]):.3g}" for n in far) + ")")
    with precision(dtype):
        pred = np.asarray(_jit_predict(law)({k: jnp.asarray(v) for k, v in params.items()},
                                            {k: jnp.asarray(v) for k, v in inputs.items()}))
    bad = int(np.sum(~np.isfinite(pred)))
    if bad:
        return f"the prediction is not finite at {bad} of {pred.size} training points"
    return None


@functools.lru_cache(maxsize=256)
def _jacobian_fn(law: Law, objective):
    """Jitted Jacobian of the law's output (objective space) in unconstrained coordinates; one trace
    per law, objective and input shape."""
    import jax

    return jax.jit(lambda u, x: jax.jacfwd(lambda v: objective.model_output(law, law.constrain(v), x))(u))


#: A direction of parameter space is flat when the normalised Jacobian's singular value along it
#: is below this fraction of its largest one (correlation 1 - 5e-13 between two parameters).
FLAT_RTOL = 1e-6


def unidentified_params(law: Law, objective, ds: Dataset, u, dtype=np.float64,
                        exclude: tuple = ()) -> tuple[str, ...]:
    """Parameters the data do not identify at ``u``: the objective is flat along them.

    ``J`` is the Jacobian of the law's output (in the objective's space) with respect to the
    unconstrained parameters at the points with positive weight, each row scaled by
    ``sqrt(w)``. A parameter whose column is zero (it changes no prediction) is unidentified; so
    are the parameters that take part (component > 0.3) in a right singular vector of the
    column-normalised ``J`` whose singular value is below :data:`FLAT_RTOL` times the largest: a
    combination of them changes no prediction (for example ``E`` and ``A`` of ``E + A x^-alpha``
    when ``alpha -> 0`` on constant targets). The test is scale-free (columns normalised), so
    it does not depend on the noise or the units. ``exclude``: names already reported (on a
    bound). Returns ``()`` when the Jacobian is not finite.
    """
    import jax.numpy as jnp

    from ._config import precision

    keep = np.asarray(ds.weights) > 0
    with precision(dtype):
        x = {k: jnp.asarray(np.asarray(v)[keep]) for k, v in ds.inputs.items()}
        jac = np.asarray(_jacobian_fn(law, objective)(jnp.asarray(np.asarray(u, dtype=float)), x), dtype=float)
    jac = jac.reshape(jac.shape[0], -1) * np.sqrt(np.asarray(ds.weights)[keep])[:, None]
    if not np.all(np.isfinite(jac)) or jac.shape[1] != law.n_params:
        return ()
    norms = np.linalg.norm(jac, axis=0)
    top = norms.max()
    dead = norms <= 1e-12 * top if top > 0 else np.ones_like(norms, dtype=bool)
    names = set(np.asarray(law.param_names)[dead])
    live = np.flatnonzero(~dead)
    if live.size > 1:
        _, sv, vt = np.linalg.svd(jac[:, live] / norms[live], full_matrices=False)
        for value, vec in zip(sv, vt):
            if value < FLAT_RTOL * sv[0]:
                names.update(law.param_names[live[i]] for i in np.flatnonzero(np.abs(vec) > 0.3))
    return tuple(p for p in law.param_names if p in names and p not in exclude)
