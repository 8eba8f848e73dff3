"""Every ArviZ call of jaxscale lives here, so a move to ArviZ 1.x is a one-file change.

ArviZ 0.x (the newest on Python 3.11) is imported lazily: only Bayesian fits, law comparison
and posterior plots need it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


def _az():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # ArviZ 0.x announces its 1.x refactor on import
        import arviz

    return arviz


def inference_data(posterior: dict, log_likelihood: dict, posterior_predictive: dict, observed: dict,
                   sample_stats: dict, constant_data: dict):
    """Build an InferenceData from arrays shaped ``(chain, draw, ...)``."""
    az = _az()
    return az.from_dict(posterior=posterior, log_likelihood=log_likelihood, posterior_predictive=posterior_predictive,
                        observed_data=observed, sample_stats=sample_stats, constant_data=constant_data)


def summary(idata, var_names) -> pd.DataFrame:
    """Mean, sd, r-hat and bulk/tail ESS for each variable."""
    az = _az()
    return az.summary(idata, var_names=list(var_names), kind="all", round_to="none")


def loo(idata):
    """PSIS-LOO of an InferenceData with a log-likelihood group."""
    az = _az()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Pareto-k warnings are reported in the table instead
        return az.loo(idata, pointwise=True)


def compare(idatas: dict) -> pd.DataFrame:
    """ArviZ's LOO comparison table (elpd_loo, se, weight, ...), best law first."""
    az = _az()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return az.compare(idatas, ic="loo")


def to_netcdf(idata, path: str) -> str:
    return idata.to_netcdf(path)


def from_netcdf(path: str):
    return _az().from_netcdf(path)


def max_pareto_k(loo_result) -> float:
    return float(np.max(np.asarray(loo_result.pareto_k)))


def with_group(idata, name: str, dataset):
    """A copy of ``idata`` with the xarray Dataset ``dataset`` as group ``name`` (replaced if present)."""
    out = idata.copy()
    if name in out.groups():
        delattr(out, name)
        out._groups = [g for g in out._groups if g != name]
    out.add_groups({name: dataset})
    return out


def without_group(idata, name: str):
    """A copy of ``idata`` without group ``name``."""
    out = idata.copy()
    if name in out.groups():
        delattr(out, name)
        out._groups = [g for g in out._groups if g != name]
    return out


def get_group(idata, name: str):
    """Group ``name`` of ``idata`` (an xarray Dataset), or None."""
    return getattr(idata, name) if name in idata.groups() else None


def read_netcdf(path: str):
    """Read an InferenceData netCDF file fully into memory (the file is closed afterwards)."""
    idata = _az().from_netcdf(path)
    idata.load()
    return idata


def plot_posterior(idata, var_names, *, hdi_prob: float, ax, ref_val: dict | None = None):
    """ArviZ's posterior density plot with the HDI at ``hdi_prob``, into the given axes."""
    az = _az()
    ref = None if ref_val is None else {k: [{"ref_val": float(v)}] for k, v in ref_val.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ArviZ 0.x on matplotlib >= 3.11
        return az.plot_posterior(idata, var_names=list(var_names), hdi_prob=hdi_prob, ax=ax, ref_val=ref,
                                 textsize=8)
