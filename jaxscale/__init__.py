"""jaxscale: fast scaling-law fits with honest uncertainty, in JAX.

Public API (everything else lives in the modules):

* laws: :class:`Law`, :class:`Param`, :class:`Prior`, :func:`law`, :func:`get_law`,
  :func:`list_laws` and the built-in laws.
* fitting: :func:`fit` -> :class:`FitResult` (or :class:`GroupedFit`).
* uncertainty: :func:`bootstrap` -> :class:`BootstrapResult`; :func:`bayes_fit` (NumPyro NUTS)
  -> :class:`PosteriorResult`; :func:`compare_laws` (PSIS-LOO and held-out error).
* extrapolation: :func:`predict`, :func:`compute_optimal`.
* objectives and solvers: :func:`huber`, :func:`squared_log`, :func:`squared`,
  :func:`get_solver`, :func:`levenberg_marquardt`, :func:`damped_newton`.
* data: :func:`load_data`, :func:`synthetic_chinchilla`.

Computation is float64 by default, inside a scoped ``jax.enable_x64`` (the global JAX
configuration is never changed).
"""

from .bayes import PosteriorResult as PosteriorResult
from .bayes import SamplingWarning as SamplingWarning
from .bayes import bayes_fit as bayes_fit
from .bayes import compare_laws as compare_laws
from .bootstrap import BootstrapResult as BootstrapResult
from .bootstrap import bootstrap as bootstrap
from .data import EPOCH_PARAMS as EPOCH_PARAMS
from .data import Dataset as Dataset
from .data import load_data as load_data
from .data import synthetic_chinchilla as synthetic_chinchilla
from .extrapolate import compute_optimal as compute_optimal
from .extrapolate import predict as predict
from .fit import ConvergenceWarning as ConvergenceWarning
from .fit import FitResult as FitResult
from .fit import GroupedFit as GroupedFit
from .fit import StartResults as StartResults
from .fit import fit as fit
from .laws import Law as Law
from .laws import Param as Param
from .laws import Prior as Prior
from .laws import chinchilla as chinchilla
from .laws import get_law as get_law
from .laws import kaplan as kaplan
from .laws import law as law
from .laws import list_laws as list_laws
from .laws import power_law as power_law
from .laws import saturating_power_law as saturating_power_law
from .objectives import Objective as Objective
from .objectives import huber as huber
from .objectives import squared as squared
from .objectives import squared_log as squared_log
from .solvers import SolverSpec as SolverSpec
from .solvers import damped_newton as damped_newton
from .solvers import get_solver as get_solver
from .solvers import levenberg_marquardt as levenberg_marquardt

__version__ = "0.1.0"
