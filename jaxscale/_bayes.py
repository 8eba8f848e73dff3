"""Bayesian fits: any law becomes a NumPyro model, sampled with NUTS, summarised with ArviZ.

The model, for a law ``f`` with parameters ``theta``::

    theta_j ~ prior_j                      (the law's default priors, overridable)
    s       ~ noise prior                  (unless per-point noise is known)
    log y_i ~ Likelihood(log f(theta, x_i), s)     weighted by w_i (log-likelihood times w_i)

Likelihoods on log residuals: ``"gaussian"``, ``"student_t"`` (with ``nu ~ Gamma(2, 0.1)``) and
``"huber"``, the density ``exp(-huber_delta(r) / (s * delta)) / Z`` whose maximum-likelihood fit is
the Huber-loss fit that Epoch AI used (``s`` is the Laplace-like scale of its tails).

NUTS starts from the point fit, with a dense mass matrix (scaling-law parameters are strongly
correlated, e.g. ``log A`` with ``alpha``). Chains are vectorised on one device and run in parallel
when there are at least as many devices as chains.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from . import _arviz
from ._config import precision
from ._constraints import expand_params, restrict
from ._data import as_frame, load_data, parse_mapping
from ._fit import FitResult, fit as point_fit
from ._results import DrawsOfFit, Status, check_level
from ._status import SamplingWarning, check_on_failure, fail
from ._validate import check_count, check_points, check_seed, seed_int
from .laws import Law, Prior, get_law

__all__ = ["bayes_fit", "PosteriorResult", "HuberDensity", "SamplingWarning", "compare_laws"]

LIKELIHOODS = ("gaussian", "student_t", "huber")



@functools.lru_cache(maxsize=1)
def _huber_density_class():
    import numpyro.distributions as dist
    from numpyro.distributions import constraints
    from numpyro.distributions.util import promote_shapes

    class HuberDensity(dist.Distribution):
        r"""Density :math:`p(y) = \exp(-h_\delta(y - \mu) / (s\delta)) / Z` with Huber's :math:`h_\delta`.

        ``Z = sqrt(2 pi sigma) erf(delta / sqrt(2 sigma)) + (2 sigma / delta) exp(-delta^2 / (2 sigma))``
        with ``sigma = s * delta``. Maximising it in ``mu`` is minimising the summed Huber loss.
        """

        arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
        support = constraints.real
        reparametrized_params = ["loc", "scale"]

        def __init__(self, loc=0.0, scale=1.0, delta=1e-3, *, validate_args=None):
            self.loc, self.scale = promote_shapes(loc, scale)
            self.delta = float(delta)
            batch_shape = jax.lax.broadcast_shapes(jnp.shape(loc), jnp.shape(scale))
            super().__init__(batch_shape=batch_shape, validate_args=validate_args)

        def _parts(self):
            sig = self.scale * self.delta
            core = jnp.sqrt(2 * jnp.pi * sig) * jax.scipy.special.erf(self.delta / jnp.sqrt(2 * sig))
            tails = 2 * sig / self.delta * jnp.exp(-self.delta ** 2 / (2 * sig))
            return sig, core, tails

        def log_prob(self, value):
            sig, core, tails = self._parts()
            r = value - self.loc
            a = jnp.abs(r)
            h = jnp.where(a <= self.delta, 0.5 * r * r, self.delta * (a - 0.5 * self.delta))
            return -h / sig - jnp.log(core + tails)

        def sample(self, key, sample_shape=()):
            shape = sample_shape + self.batch_shape
            sig, core, tails = self._parts()
            k1, k2, k3, k4 = jax.random.split(key, 4)
            in_core = jax.random.uniform(k1, shape) < core / (core + tails)
            # core: normal(0, sqrt(sig)) truncated to [-delta, delta], by inverse CDF
            sd = jnp.sqrt(sig)
            lo = jax.scipy.stats.norm.cdf(-self.delta / sd)
            u = lo + (1 - 2 * lo) * jax.random.uniform(k2, shape)
            r_core = sd * jax.scipy.special.ndtri(u)
            # tails: delta + exponential(rate delta / sig), random sign
            r_tail = self.delta + jax.random.exponential(k3, shape) * sig / self.delta
            sign = jnp.where(jax.random.uniform(k4, shape) < 0.5, -1.0, 1.0)
            return self.loc + jnp.where(in_core, r_core, sign * r_tail)

    return HuberDensity


def HuberDensity(loc=0.0, scale=1.0, delta=1e-3):  # noqa: N802 - a distribution constructor
    """The Huber density as a NumPyro distribution (see :func:`_huber_density_class`)."""
    return _huber_density_class()(loc, scale, delta)


def _prior(p, priors: Mapping):
    spec = priors.get(p.name, p.prior)
    return spec.to_numpyro() if isinstance(spec, Prior) else spec


def _noise_prior(likelihood: str, noise_prior: Prior | None) -> Prior:
    """Default noise prior: HalfNormal(1) on the log-residual sd, HalfNormal(0.1) on the Huber tail scale."""
    return noise_prior or Prior("halfnormal", (0.1 if likelihood == "huber" else 1.0,))


def make_model(law: Law, likelihood: str = "gaussian", *, delta: float = 1e-3, priors: Mapping | None = None,
               noise_prior: Prior | None = None):
    """The NumPyro model ``model(x, log_y, weights, noise=None)`` of a law (see the module docstring).

    ``log_y=None`` samples from the predictive distribution.
    """
    import numpyro
    import numpyro.distributions as dist

    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    priors = dict(priors or {})
    unknown = set(priors) - set(law.param_names)
    if unknown:
        raise ValueError(f"priors given for unknown parameter(s) {sorted(unknown)} of law {law.name!r}")
    noise_prior = _noise_prior(likelihood, noise_prior)

    def model(x, log_y, weights, noise=None):
        params = {p.name: numpyro.sample(p.name, _prior(p, priors)) for p in law.params}
        mu = law.log_predict(params, x)
        scale = numpyro.sample("sigma", noise_prior.to_numpyro()) if noise is None else noise
        if likelihood == "gaussian":
            obs = dist.Normal(mu, scale)
        elif likelihood == "student_t":
            nu = numpyro.sample("nu", dist.Gamma(2.0, 0.1))
            obs = dist.StudentT(nu, mu, scale)
        else:
            obs = HuberDensity(mu, scale, delta)
        with numpyro.plate("data", mu.shape[-1]), numpyro.handlers.scale(scale=weights):
            numpyro.sample("obs", obs, obs=log_y)

    return model


@dataclasses.dataclass(frozen=True, eq=False)
class PosteriorResult(DrawsOfFit):
    """Posterior draws of a law's parameters with diagnostics (results protocol, :mod:`jaxscale._results`).

    Attributes:
      fit: the point fit NUTS started from (its parameters are ``point``, the estimate that
        :func:`~jaxscale.predict` and :func:`~jaxscale.compute_optimal` report).
      draws: ``{name: array (chains * draws,)}`` of every sampled variable (including the noise);
        every draw is valid.
      idata: ArviZ ``InferenceData`` with posterior, log-likelihood, posterior predictive (on the
        log scale of the target), observed data and sample stats.
      diagnostics: DataFrame with mean, sd, r_hat, ess_bulk and ess_tail per variable.
      n_divergences: divergent transitions after warmup.
    """

    fit: FitResult
    draws: dict
    idata: object
    diagnostics: pd.DataFrame
    n_divergences: int
    likelihood: str
    chains: int
    seed: int
    level: float = 0.95
    min_draws: int | None = None
    delta: float = 1e-3

    draw_kind = "draws"

    @property
    def likelihood_name(self) -> str:
        """The likelihood sampled, e.g. ``"huber(delta=0.001)"`` (on log residuals)."""
        return f"huber(delta={self.delta:g})" if self.likelihood == "huber" else self.likelihood

    @property
    def matches_point(self) -> bool:
        """Whether the likelihood is the one whose maximum is the point fit (so the intervals are
        centred on it): Huber with the point fit's delta for a Huber fit, Gaussian for squared log."""
        try:
            lik, d = likelihood_for(self.fit.loss)
        except ValueError:
            return False
        return lik == self.likelihood and (lik != "huber" or d == self.delta)


    @property
    def inference_data(self):
        return self.idata

    @property
    def valid(self) -> np.ndarray:
        return np.ones(next(iter(self.draws.values())).shape[0], dtype=bool)

    @property
    def status(self) -> Status:
        n = int(self.valid.shape[0])
        problems = list(self.fit.status.problems)
        worst = max(self.r_hat.values())
        if not worst <= 1.01:
            problems.append(f"max r_hat {worst:.3f}")
        if self.n_divergences:
            problems.append(f"{self.n_divergences} divergences")
        return Status("draws", n, n, {}, tuple(problems))

    def observation_draws(self, mean_draws, rng):
        """A new run's scatter: the likelihood's noise with each draw's ``sigma`` (and ``nu``)."""
        from ._extrapolate import likelihood_noise

        if "sigma" not in self.draws:  # known per-point noise: the point fit's residual scale
            return self.fit.observation_draws(mean_draws, rng)
        return likelihood_noise(self.likelihood, self.valid_draws(), self.delta, mean_draws, rng)

    @property
    def median(self) -> dict:
        return {k: float(np.median(self.draws[k])) for k in self.law.param_names}

    @property
    def r_hat(self) -> dict:
        return {k: float(self.diagnostics.loc[k, "r_hat"]) for k in self.law.param_names}

    @property
    def ess_bulk(self) -> dict:
        return {k: float(self.diagnostics.loc[k, "ess_bulk"]) for k in self.law.param_names}

    def _table_columns(self, level):
        return {"r_hat": [self.r_hat[k] for k in self.names], "ess_bulk": [self.ess_bulk[k] for k in self.names]}

    def table(self, level: float | None = None) -> pd.DataFrame:
        """Per parameter: point estimate, posterior median and sd, credible interval, r_hat, ess_bulk, note."""
        t = super().table(level)
        t.insert(1, "median", [self.median[k] for k in self.law.param_names])
        return t.rename(columns={"se": "sd"})

    def _header(self) -> list[str]:
        if self.matches_point:
            note = f"value: the {self.fit.loss.name} point fit, the maximum of this likelihood"
        else:
            note = (f"NOTE: value is the {self.fit.loss.name} point fit, a different model from the "
                    f"{self.likelihood_name} likelihood of the intervals: they need not contain it")
        return self.fit._header() + ["", f"NUTS ({self.likelihood_name} likelihood on log residuals): {self.chains} "
                                         f"chains, {self.n_divergences} divergences; equal-tailed credible intervals",
                                     note]

    def to_dict(self, level: float | None = None) -> dict:
        return {**self.fit.to_dict(), **self.intervals_dict(level), "method": "nuts", "likelihood": self.likelihood,
                "likelihood_delta": self.delta, "likelihood_matches_point": self.matches_point,
                "median": self.median, "r_hat": self.r_hat, "ess_bulk": self.ess_bulk,
                "n_divergences": self.n_divergences, "chains": self.chains, "nuts_seed": self.seed,
                "status": self.status.to_dict()}

    def to_netcdf(self, path: str) -> str:
        """Save the InferenceData (ArviZ netCDF)."""
        return _arviz.to_netcdf(self.idata, path)

    def __repr__(self):
        worst = max(self.r_hat.values())
        return (f"PosteriorResult({self.law.name}, {self.likelihood}: {self.chains} chains, max r_hat {worst:.4f}, "
                f"{self.n_divergences} divergences)")


def _init_values(law: Law, fit: FitResult, priors: Mapping, noise0: float, likelihood: str) -> dict:
    values = {}
    for p in law.params:
        v = fit.params[p.name]
        d = _prior(p, priors)
        if not bool(d.support(jnp.asarray(v))):
            lo = getattr(d.support, "lower_bound", None)
            v = float(lo) + 1e-6 if lo is not None else 0.0
        values[p.name] = v
    values["sigma"] = noise0
    if likelihood == "student_t":
        values["nu"] = 10.0
    return values


def _sampler(law, likelihood, delta, priors, noise_prior, chains, warmup, samples, chain_method, dense_mass,
             target_accept, progress):
    """The model and its compiled NUTS program for one configuration, reused across calls.

    The program (:func:`_nuts_program`) is jitted with the data as arguments, so a later fit of the
    same configuration on new data of the same shapes reuses the compilation. Priors given as raw
    NumPyro distributions are cached by identity.
    """
    key = (law, likelihood, delta, tuple(sorted(priors.items())), noise_prior, chains, warmup, samples,
           chain_method, dense_mass, target_accept, progress)
    try:
        hash(key)
    except TypeError:
        return _new_sampler(*key)
    return _cached_sampler(*key)


def _new_sampler(law, likelihood, delta, priors_items, noise_prior, chains, warmup, samples, chain_method,
                 dense_mass, target_accept, progress):
    model = make_model(law, likelihood, delta=delta, priors=dict(priors_items), noise_prior=noise_prior)
    return model, _nuts_program(model, chains, warmup, samples, chain_method, dense_mass, target_accept, progress)


_cached_sampler = functools.lru_cache(maxsize=32)(_new_sampler)
_PROGRESS: dict = {"bar": None}


def _tick(_):
    bar = _PROGRESS["bar"]
    if bar is not None:
        bar.update(1)


@contextlib.contextmanager
def _progress_bar(show, chains, n_steps, chain_method):
    """A tqdm bar the compiled program ticks through ``jax.debug.callback`` (one tick per step)."""
    if not show:
        yield
        return
    from tqdm.auto import tqdm

    total = n_steps if chain_method == "vectorized" else chains * n_steps
    with tqdm(total=total, desc=f"NUTS ({chains} chains, {chain_method})", leave=False) as bar:
        _PROGRESS["bar"] = bar
        try:
            yield
        finally:
            _PROGRESS["bar"] = None


def _nuts_program(model, chains, warmup, samples, chain_method, dense_mass, target_accept, progress):
    """One jitted function: NUTS warmup and sampling for all chains, log-likelihood and predictive draws.

    Built on NumPyro's functional ``hmc(potential_fn_gen=..., algo="NUTS")`` interface: every chain
    runs a fixed-length ``lax.scan`` of ``warmup + samples`` NUTS transitions (step size and dense
    mass matrix adapted during warmup), chains are ``vmap``-ed (``"vectorized"``), ``lax.map``-ed
    (``"sequential"``) or ``pmap``-ed over devices (``"parallel"``).
    """
    from numpyro.infer import Predictive, log_likelihood
    from numpyro.infer.hmc import hmc
    from numpyro.infer.util import constrain_fn, potential_energy

    def potential_gen(*args):
        return lambda z: potential_energy(model, args, {}, z)

    init_kernel, sample_kernel = hmc(potential_fn_gen=potential_gen, algo="NUTS")
    n_steps = warmup + samples

    def init(key, z0, args):
        return init_kernel(z0, warmup, dense_mass=dense_mass, target_accept_prob=target_accept, model_args=args,
                           rng_key=key)

    def record(state):
        return state.z, state.diverging

    def one_chain(key, z0, args):
        def step(state, _):
            state = sample_kernel(state, model_args=args)
            if progress:
                jax.debug.callback(_tick, state.i)
            return state, record(state)

        _, out = jax.lax.scan(step, init(key, z0, args), None, length=n_steps)
        return out

    def run(key, z0, x, log_y, w, nz):
        args = (x, log_y, w, nz)
        keys = jax.random.split(key, chains + 1)
        if chain_method == "vectorized":
            def step(states, _):
                states = jax.vmap(lambda s: sample_kernel(s, model_args=args))(states)
                if progress:
                    jax.debug.callback(_tick, states.i[0])
                return states, jax.vmap(record)(states)

            states0 = jax.vmap(lambda k, z: init(k, z, args))(keys[:chains], z0)
            _, (zs, div) = jax.lax.scan(step, states0, None, length=n_steps)
            zs, div = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), (zs, div))
        elif chain_method == "sequential":
            zs, div = jax.lax.map(lambda kz: one_chain(kz[0], kz[1], args), (keys[:chains], z0))
        else:
            zs, div = jax.pmap(one_chain, in_axes=(0, 0, None))(keys[:chains], z0, args)
        zs, div = jax.tree.map(lambda a: a[:, warmup:], (zs, div))
        flat_u = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:]), zs)
        flat = jax.vmap(lambda z: constrain_fn(model, args, {}, z))(flat_u)
        ll = log_likelihood(model, flat, *args)["obs"]
        pp = Predictive(model, posterior_samples=flat)(keys[chains], x, None, w, nz)["obs"]
        return flat, div, ll, pp

    if chain_method == "parallel":
        return run  # pmap compiles (and caches) the chains itself
    return jax.jit(run)


def _unconstrained(law, priors, noise_prior, likelihood, values, chains):
    """Initial values mapped to NumPyro's unconstrained space, one copy per chain."""
    import numpyro.distributions as dist
    from numpyro.distributions.transforms import biject_to

    supports = {p.name: _prior(p, priors).support for p in law.params}
    supports["sigma"] = _noise_prior(likelihood, noise_prior).to_numpyro().support
    supports["nu"] = dist.Gamma(2.0, 0.1).support
    out = {}
    for k, v in values.items():
        u = biject_to(supports[k]).inv(jnp.asarray(v, dtype=jnp.float64))
        out[k] = jnp.broadcast_to(u, (chains,))
    return out


def likelihood_for(loss) -> tuple[str, float]:
    """The likelihood on log residuals whose maximum is the point fit of objective ``loss``:
    Huber on log residuals -> ``("huber", delta)``, squared log -> ``("gaussian", 1e-3)``.

    Raises ``ValueError`` for objectives with no such likelihood (asymmetric, or in linear space).
    """
    if loss.asymmetry != 1.0 or loss.space != "log":
        raise ValueError(f"no NUTS likelihood matches the loss {loss.name}; choose likelihood= "
                         "('gaussian', 'student_t' or 'huber') explicitly")
    return ("huber", float(loss.delta)) if loss.kind == "huber" else ("gaussian", 1e-3)


def bayes_fit(law, data, *, inputs=None, target="loss", weights=None, noise=None, likelihood: str | None = None,
              delta: float | None = None, priors: Mapping | None = None, noise_prior: Prior | None = None,
              chains: int = 4, warmup: int = 1000, samples: int = 1000, chain_method: str | None = None,
              seed: int = 0, init: FitResult | None = None, dense_mass: bool = True, target_accept: float = 0.8,
              level: float = 0.95, progress: bool = True, fit_kwargs: Mapping | None = None,
              on_failure: str = "warn", min_draws: int | None = None, group: str | None = None,
              fixed: Mapping | None = None, tied: Mapping | None = None, bounds: Mapping | None = None):
    """Sample the posterior of a law's parameters with NUTS (see the module docstring).

    Args:
      law: a law or its name. data, inputs, target, weights: as in :func:`jaxscale.fit`.
      group: sample one posterior per value of this column (each group's chains started from
        that group's fit; ``init`` may be the grouped fit); returns a grouped result of
        :class:`PosteriorResult` (``noise`` and ``weights`` must then be column names).
      noise: known per-point noise sd on the log scale (column or array); then no noise
        parameter is sampled.
      likelihood: ``"gaussian"``, ``"student_t"`` or ``"huber"`` (with ``delta``). Default: the
        likelihood that matches ``init``'s loss (:func:`likelihood_for`: a Huber fit samples the
        Huber likelihood with the same delta, a squared-log fit the Gaussian), so the intervals
        are centred on the point fit; ``"gaussian"`` when there is no ``init``.
      delta: the Huber likelihood's delta (default: ``init``'s, else 1e-3).
      priors: ``{name: Prior or numpyro distribution}`` overriding the law's defaults.
      chains, warmup, samples: NUTS settings; ``chain_method`` defaults to ``"parallel"`` when
        there are at least ``chains`` devices, else ``"vectorized"``.
      init: the point fit to start from (default: :func:`jaxscale.fit` with the likelihood's
        matching loss and ``fit_kwargs``).
      progress: a progress bar over the NUTS steps (ticked from inside the compiled program).
      level, min_draws: default interval level and the fewest draws an interval is made from
        (default rule: :func:`jaxscale._results.min_valid_draws`).
      fixed, tied, bounds: constraints (:func:`jaxscale.restrict`): only the free parameters are
        sampled; draws of fixed and tied ones are filled in for functions of the draws.

    Raises ``TypeError``/``ValueError`` naming the argument, before any work, for chains, warmup
    or samples that are not integers >= 1, a non-integer seed (any Python int is valid: see
    :func:`jaxscale.fit`) or a level outside (0, 1).

    Warns :class:`SamplingWarning` when any r-hat exceeds 1.01 or there are divergences;
    ``on_failure="raise"`` raises :class:`~jaxscale.ConvergenceError` instead and ``"ignore"``
    stays silent (also passed to the default point fit).
    """
    law = restrict(get_law(law), fixed=fixed, tied=tied, bounds=bounds)
    init_law = getattr(init, "law", None)
    if init_law is not None and init_law is not law and init_law.param_names != law.param_names:
        raise ValueError(f"init is a fit of {init_law.name!r} but the sampled law is {law.name!r}: pass the same "
                         "constraints to both (or init's law)")
    check_on_failure(on_failure)
    chains, warmup, samples = (check_count(v, k) for k, v in (("chains", chains), ("warmup", warmup),
                                                               ("samples", samples)))
    seed = check_seed(seed)
    level = check_level(level)
    if likelihood is not None and likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    if group is not None:
        return _bayes_groups(law, data, group, init, locals())
    priors = dict(priors or {})
    ds = load_data(data, law, inputs=inputs, target=target, weights=weights, log_target=True)
    check_points(law, ds.weights, "the data", ds)
    noise_arr = None
    if noise is not None:
        frame_noise = load_data(data, law, inputs=inputs, target=noise, log_target=True)
        noise_arr = frame_noise.y
    if likelihood is None:
        likelihood, matched_delta = likelihood_for(init.loss) if init is not None else ("gaussian", 1e-3)
        delta = matched_delta if delta is None else delta
    elif delta is None:
        delta = float(init.loss.delta) if init is not None and init.loss.kind == "huber" else 1e-3
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    if init is None:
        loss = "huber" if likelihood == "huber" else "squared_log"
        init = point_fit(law, data, inputs=inputs, target=target, weights=weights, loss=loss,
                         delta=delta if loss == "huber" else None,
                         progress=False, **{"on_failure": on_failure, **dict(fit_kwargs or {})})
    resid = np.log(ds.y) - np.log(init.predict(ds.inputs))
    if likelihood == "huber":
        noise0 = float(max(np.mean(np.abs(resid)), 1e-4))  # the tail scale
    else:
        noise0 = float(max(np.sqrt(np.mean(resid ** 2)), 1e-4))
    if chain_method is None:
        chain_method = "parallel" if jax.local_device_count() >= chains else "vectorized"
    model, program = _sampler(law, likelihood, float(delta), priors, noise_prior, int(chains), int(warmup),
                              int(samples), chain_method, bool(dense_mass), float(target_accept), bool(progress))

    with precision(np.float64):
        x = {k: jnp.asarray(v) for k, v in ds.inputs.items()}
        log_y, w = jnp.asarray(np.log(ds.y)), jnp.asarray(ds.weights)
        nz = None if noise_arr is None else jnp.asarray(noise_arr)
        values = _init_values(law, init, priors, noise0, likelihood)
        if nz is not None:
            values.pop("sigma")
        init_params = _unconstrained(law, priors, noise_prior, likelihood, values, chains)
        with _progress_bar(progress, chains, warmup + samples, chain_method):
            out = program(jax.random.PRNGKey(seed_int(seed)), init_params, x, log_y, w, nz)
        flat_j, div_j, ll_j, pp_j = jax.block_until_ready(out)
    flat = {k: np.asarray(v) for k, v in flat_j.items()}
    by_chain = {k: v.reshape((chains, samples) + v.shape[1:]) for k, v in flat.items()}
    diverging, ll, pp = np.asarray(div_j), np.asarray(ll_j), np.asarray(pp_j)
    shape = (chains, samples)
    idata = _arviz.inference_data(
        posterior=by_chain,
        log_likelihood={"obs": ll.reshape(shape + ll.shape[1:])},
        posterior_predictive={"obs": pp.reshape(shape + pp.shape[1:])},
        observed={"obs": np.log(ds.y)},
        sample_stats={"diverging": diverging},
        constant_data={k: v for k, v in ds.inputs.items()},
    )
    summary = _arviz.summary(idata, list(by_chain))
    flat = expand_params(law, flat)  # fixed and tied parameters too (constant / copied draws)
    result = PosteriorResult(init, flat, idata, summary, int(diverging.sum()), likelihood, chains, seed, level,
                             None if min_draws is None else int(min_draws), float(delta))
    bad = {k: v for k, v in result.r_hat.items() if not v <= 1.01}
    if bad or result.n_divergences:
        fail(f"NUTS for {law.name}: r_hat > 1.01 for {sorted(bad)}; {result.n_divergences} divergences. "
              "Run longer, raise target_accept or check the priors.", SamplingWarning, on_failure, stacklevel=2)
    return result


def _bayes_groups(law, data, group, init, kw):
    """One :func:`bayes_fit` per value of ``group`` (the groups' data differ in shape: one program each)."""
    from ._results import GroupedResult

    frame = as_frame(data)
    if group not in frame.columns:
        raise ValueError(f"unknown group column {group!r}; available columns: {list(frame.columns)}")
    for name in ("noise", "weights"):
        if kw[name] is not None and not isinstance(kw[name], str):
            raise ValueError(f"with group=, pass {name} as a column name")
    keys = list(pd.unique(frame[group]))
    if init is not None and (init.group_column != group or set(init.results) != {_plain(k) for k in keys}):
        raise ValueError(f"init must be the fit of the same data grouped by {group!r}")
    # law is already restricted: its constraints are not passed again
    rest = {k: v for k, v in kw.items() if k not in ("law", "data", "group", "init", "init_law", "fixed", "tied",
                                                    "bounds")}
    out = {}
    for key in keys:
        k = _plain(key)
        out[k] = bayes_fit(law, frame[frame[group] == key], init=None if init is None else init[k], **rest)
    return GroupedResult(group, out, frame[group].to_numpy())


def _plain(k):
    return k.item() if isinstance(k, np.generic) else k


def compare_laws(laws, data, *, inputs=None, target="loss", scale: str | None = None, holdout: float = 0.2,
                 likelihood: str = "gaussian", chains: int = 2, warmup: int = 500, samples: int = 500,
                 seed: int = 0, progress: bool = False, by: str = "loo", along=None,
                 backtest_kwargs: Mapping | None = None) -> pd.DataFrame:
    """Compare laws on the same data by PSIS-LOO and by held-out extrapolation error.

    Each law is sampled with :func:`bayes_fit` on all the data for PSIS-LOO (ArviZ). For the
    extrapolation error, the points whose column ``scale`` (default: the first input of the
    first law) is in the top ``holdout`` fraction are held out, each law is point-fitted on the
    rest (squared log error), and the table reports the RMS log error on the held-out points.
    ``inputs`` is one mapping for all laws; each law takes the entries it needs.

    Returns a DataFrame indexed by law name, best LOO first: ``elpd_loo``, ``se``, ``d_loo``,
    ``weight``, ``p_loo``, ``max_pareto_k``, ``holdout_rmsle``, ``holdout_points``, and the
    hold-out fit's ``holdout_converged`` and ``holdout_status`` (``"ok"`` or its problems; its
    warnings are not silenced).

    ``by="backtest"`` ranks the laws by extrapolation instead: each law is backtested with
    :func:`jaxscale.backtest` along ``along`` (default: the ``scale`` column; a callable is
    allowed) holding out the largest 1, 2 and 3 distinct scale values (point fits, squared log
    error; override with ``backtest_kwargs``). The table, best backtest first, adds
    ``backtest_rmse_log`` (pooled over cutoffs), ``backtest_abs_rel_err``, ``backtest_bias``,
    ``backtest_cover_90``, ``backtest_rank`` and ``loo_rank``; ``DataFrame.attrs["rankings"]``
    says whether the LOO and backtest rankings agree, and names the best law of each when they
    do not (in-sample fit and extrapolation are different questions).
    """
    if by not in ("loo", "backtest"):
        raise ValueError(f"by must be 'loo' or 'backtest', got {by!r}")
    laws = [get_law(l) for l in laws]
    if len({l.name for l in laws}) != len(laws):
        raise ValueError("compare_laws needs laws with distinct names")
    mapping = parse_mapping(inputs)
    idatas, extra = {}, {}
    frame = as_frame(data)
    scale_col = scale or mapping.get(laws[0].inputs[0], laws[0].inputs[0])
    if scale_col not in frame.columns:
        raise ValueError(f"unknown scale column {scale_col!r}; available columns: {list(frame.columns)}")
    if not 0 < holdout < 1:
        raise ValueError("holdout must be a fraction in (0, 1)")
    cut = np.quantile(frame[scale_col].to_numpy(dtype=float), 1 - holdout)
    train, test = frame[frame[scale_col] < cut], frame[frame[scale_col] >= cut]
    for l in laws:
        inp = {k: v for k, v in mapping.items() if k in l.inputs}
        post = bayes_fit(l, frame, inputs=inp, target=target, likelihood=likelihood, chains=chains, warmup=warmup,
                         samples=samples, seed=seed, progress=progress)
        idatas[l.name] = post.idata
        held = point_fit(l, train, inputs=inp, target=target, loss="squared_log", progress=False)  # warns as any fit
        ds_test = load_data(test, l, inputs=inp, target=target)
        err = np.log(held.predict(ds_test.inputs)) - np.log(ds_test.y)
        extra[l.name] = {"max_pareto_k": _arviz.max_pareto_k(_arviz.loo(post.idata)),
                         "holdout_rmsle": float(np.sqrt(np.mean(err ** 2))), "holdout_points": int(ds_test.n),
                         "holdout_converged": bool(held.converged),
                         "holdout_status": "ok" if held.status.ok else "; ".join(held.status.problems)}
    table = _arviz.compare(idatas)
    cols = [c for c in ("elpd_loo", "se", "elpd_diff", "weight", "p_loo") if c in table.columns]
    out = table[cols].rename(columns={"elpd_diff": "d_loo"}).copy()
    for c in ("max_pareto_k", "holdout_rmsle", "holdout_points", "holdout_converged", "holdout_status"):
        out[c] = [extra[name][c] for name in out.index]
    out.index.name = "law"
    if by == "backtest":
        out = _rank_by_backtest(out, laws, frame, mapping, target, along if along is not None else scale_col,
                                backtest_kwargs)
    return out


def _rank_by_backtest(out: pd.DataFrame, laws, frame, mapping, target, along, backtest_kwargs) -> pd.DataFrame:
    from ._backtest import backtest

    kw = {"method": "point", "loss": "squared_log", "progress": False, **dict(backtest_kwargs or {})}
    rows = {}
    for l in laws:
        inp = {k: v for k, v in mapping.items() if k in l.inputs}
        bt = backtest(l, frame, along=along, inputs=inp, target=target, **kw)
        o = bt.table().loc["overall"]
        rows[l.name] = {"backtest_rmse_log": o["rmse_log"], "backtest_abs_rel_err": o["abs_rel_err"],
                        "backtest_bias": o["bias"], "backtest_cover_90": o.get("cover_90", np.nan)}
    out = out.copy()
    for c in ("backtest_rmse_log", "backtest_abs_rel_err", "backtest_bias", "backtest_cover_90"):
        out[c] = [rows[name][c] for name in out.index]
    out["loo_rank"] = np.arange(1, len(out) + 1)
    out = out.sort_values("backtest_rmse_log", kind="stable")
    out["backtest_rank"] = np.arange(1, len(out) + 1)
    best_loo = out.index[out["loo_rank"] == 1][0]
    best_bt = out.index[0]
    if list(out["loo_rank"]) == list(out["backtest_rank"]):
        note = f"PSIS-LOO and the backtest rank the laws the same way (best: {best_bt})."
    elif best_loo == best_bt:
        note = (f"PSIS-LOO and the backtest agree on the best law ({best_bt}) but order the others differently.")
    else:
        note = (f"PSIS-LOO and the backtest DISAGREE: LOO prefers {best_loo} (fit to all runs), the backtest "
                f"prefers {best_bt} (held-out error on the larger runs). Trust the backtest for extrapolation.")
    out.attrs["rankings"] = note
    return out
