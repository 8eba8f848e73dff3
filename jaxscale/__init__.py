"""jaxscale: fast scaling-law fits with honest uncertainty, in JAX."""
from .data import Dataset, load_data, synthetic_chinchilla, EPOCH_PARAMS
from .fit import FitResult, GroupedFit, StartResults, ConvergenceWarning, fit
from .laws import Law, Param, Prior, law, get_law, list_laws, power_law, saturating_power_law, chinchilla, kaplan
from .objectives import Objective, huber, squared_log, squared
from .solvers import SolverSpec, get_solver, levenberg_marquardt, damped_newton
__version__ = "0.1.0"
