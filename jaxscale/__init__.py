"""jaxscale: fast scaling-law fits with honest uncertainty, in JAX.

Public API (everything else lives in the modules):

* laws: :class:`Law`, :class:`Param`, :class:`Prior`, :func:`law`, :func:`get_law`,
  :func:`list_laws` and the core built-in laws; every built-in law (registered on import) is in
  the public subpackage :mod:`jaxscale.laws`, grouped by kind: loss against size and data
  (``chinchilla``, ``kaplan``, ``kumar_precision``, ``fp_quant``, ``overtraining``,
  ``data_constrained``, ...), curve-shape and link laws (``bnsl``/``bnsl2``, :func:`laws.make_bnsl`
  for any number of breaks, ``m4`` (:func:`laws.make_m4` fixes its random-guess loss),
  ``hestness``, ``sigmoid_link``, ``error_link`` -- chain it with :func:`predict_chain` --
  ``passuntil``) and training dynamics (``kaplan_ns``,
  ``lr_annealing`` with inputs from :func:`schedule_inputs`, ``data_filtering``);
  learning-rate schedules in :mod:`jaxscale.laws.schedules`.
* precision: :func:`precision` scopes JAX to float64 (or float32) without touching the global
  configuration, e.g. to evaluate ``law.predict`` in float64.
* fitting: :func:`fit` -> :class:`FitResult` (or :class:`GroupedFit`); its default plan for laws
  with linear parameters is variable projection, tuned with :class:`VarPro`.
* uncertainty: :func:`bootstrap` -> :class:`BootstrapResult`; :func:`bayes_fit` (NumPyro NUTS)
  -> :class:`PosteriorResult`; :func:`compare_laws` (PSIS-LOO and held-out error).
* backtests: :func:`backtest` -> :class:`BacktestResult` (fit the smaller runs, predict the
  larger ones, score errors and prediction-interval coverage).
* extrapolation: :func:`predict` (``kind="mean"`` or ``"observation"``), :func:`compute_optimal`, :func:`predict_chain`; isoFLOP
  analysis (Approach 2; parabola, Akima or law-based minima, points / seed-noise / budget
  resampling): :func:`fit_isoflop` -> :class:`IsoflopResult` (a result: ``compute_optimal``,
  ``predict``, ``save``/``load`` and ``jaxscale isoflop`` take it).
* objectives and solvers: :func:`huber`, :func:`squared_log`, :func:`squared`,
  :func:`get_solver`, :func:`levenberg_marquardt`, :func:`damped_newton`.
* data: :func:`load_data`, :func:`synthetic_chinchilla`.
* plots (matplotlib): :func:`plot_fit`, :func:`plot_isoloss`, :func:`plot_exponents`, :func:`plot_isoflop`, :func:`plot_backtest`.
* saved results and failures: :func:`save`, :func:`load` (JSON / netCDF, checked on load);
  ``on_failure=`` with :class:`ConvergenceWarning`, :class:`BoundWarning`,
  :class:`BootstrapWarning`, :class:`SamplingWarning` or :class:`ConvergenceError`.
* compile once per machine: :func:`enable_compilation_cache` (JAX's persistent cache; the
  command line turns it on by default, the library only when asked).

Computation is float64 by default, inside a scoped ``jax.enable_x64`` (the global JAX
configuration is never changed).
"""

from ._backtest import BacktestResult as BacktestResult
from ._backtest import backtest as backtest
from ._bayes import PosteriorResult as PosteriorResult
from ._bayes import bayes_fit as bayes_fit
from ._bayes import compare_laws as compare_laws
from ._bootstrap import BootstrapResult as BootstrapResult
from ._bootstrap import bootstrap as bootstrap
from ._cache import enable_compilation_cache as enable_compilation_cache
from ._data import EPOCH_PARAMS as EPOCH_PARAMS
from ._data import Dataset as Dataset
from ._data import load_data as load_data
from ._data import synthetic_chinchilla as synthetic_chinchilla
from ._extrapolate import compute_optimal as compute_optimal
from ._extrapolate import predict as predict
from ._extrapolate import predict_chain as predict_chain
from ._extrapolate import residual_scale as residual_scale
from ._results import GroupedResult as GroupedResult
from ._results import IntervalWarning as IntervalWarning
from ._status import BootstrapWarning as BootstrapWarning
from ._status import BoundWarning as BoundWarning
from ._status import ConvergenceError as ConvergenceError
from ._status import ConvergenceWarning as ConvergenceWarning
from ._status import SamplingWarning as SamplingWarning
from ._status import IdentifiabilityWarning as IdentifiabilityWarning
from ._status import PlanWarning as PlanWarning
from ._status import Interrupted as Interrupted
from ._io import load as load
from ._io import save as save
from ._fit import FitResult as FitResult
from ._fit import GroupedFit as GroupedFit
from ._engine import StartResults as StartResults
from ._fit import fit as fit
from ._health import FitHealth as FitHealth
from ._constraints import restrict as restrict
from ._derive import derive as derive
from ._sensitivity import SensitivityResult as SensitivityResult
from ._compare import CompareResult as CompareResult
from ._compare import compare as compare
from ._sensitivity import sensitivity as sensitivity
from ._isoflop import IsoflopResult as IsoflopResult
from ._isoflop import fit_isoflop as fit_isoflop
from ._objectives import Objective as Objective
from ._objectives import huber as huber
from ._objectives import squared as squared
from ._objectives import squared_log as squared_log
from ._plots import plot_backtest as plot_backtest
from ._plots import plot_exponents as plot_exponents
from ._plots import plot_fit as plot_fit
from ._plots import plot_isoflop as plot_isoflop
from ._plots import plot_isoloss as plot_isoloss
from ._solvers import SolverSpec as SolverSpec
from ._solvers import damped_newton as damped_newton
from ._solvers import get_solver as get_solver
from ._solvers import levenberg_marquardt as levenberg_marquardt
from ._varpro import VarPro as VarPro
from . import laws as laws
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
from .laws.schedules import schedule_inputs as schedule_inputs
from ._config import precision as precision

from ._version import __version__ as __version__
