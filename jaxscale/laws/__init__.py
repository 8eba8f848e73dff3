"""Scaling laws as pure JAX functions with a parameter spec, grouped by kind.

A :class:`Law` is a pure function ``fn(params, inputs) -> prediction`` where ``params`` maps
parameter names to (natural-space) values and ``inputs`` maps input names (``"N"``, ``"D"``,
...) to arrays, plus a spec of its parameters (:class:`Param`). Importing :mod:`jaxscale`
registers every built-in law, so ``get_law(name)`` and ``jaxscale fit --law NAME`` find them.

* core types and registry: :class:`Law`, :class:`Param`, :class:`Prior`, :func:`law`,
  :func:`get_law`, :func:`list_laws`, :func:`logsumexp`.
* loss against size and data: ``power_law``, ``saturating_power_law``, ``chinchilla``,
  ``kaplan``, ``kumar_precision``, ``fp_quant``, ``overtraining``, ``data_constrained``.
* curve-shape and link laws: ``bnsl``, ``bnsl2``, ``m4``, ``hestness``, ``sigmoid_link``,
  ``error_link``, ``passuntil``.
* training dynamics: ``kaplan_ns`` (with :func:`critical_batch_size`, :func:`min_steps`),
  ``lr_annealing`` (with :func:`annealing_areas`), ``data_filtering``.
* learning-rate schedules: :mod:`jaxscale.laws.schedules`; the annealing laws' input builder
  :func:`loss_curve_inputs` (long-format loss curves).
* compute-optimal allocation of a law of ``N`` and ``D``: :func:`optimal_allocation` (the law's
  closed form when it has one, else numeric).

Capabilities are declared on the law, never inferred from its name: ``Param.role``
(:data:`ROLES`), ``Law.optimal_allocation`` (closed form), ``Law.input_builder`` /
:meth:`Law.build_inputs` (inputs that are not plain columns).

Naming rule: functions that build a law are named ``make_*`` and return a :class:`Law`
(:func:`make_bnsl`, :func:`make_m4`, :func:`make_shifted`, :func:`make_lr_annealing`,
:func:`make_data_constrained`, :func:`make_data_filtering`); the registered default laws are
plain names (``bnsl = make_bnsl(1)``, ``lr_annealing = make_lr_annealing()``, ...).
"""

from . import schedules as schedules
from ._core import Law as Law
from ._core import Param as Param
from ._core import Prior as Prior
from ._core import ROLES as ROLES
from ._core import get_law as get_law
from ._core import law as law
from ._core import list_laws as list_laws
from ._core import logsumexp as logsumexp
from ._curve import bnsl as bnsl
from ._curve import bnsl2 as bnsl2
from ._curve import error_link as error_link
from ._curve import hestness as hestness
from ._curve import m4 as m4
from ._curve import make_bnsl as make_bnsl
from ._curve import make_m4 as make_m4
from ._curve import make_shifted as make_shifted
from ._curve import passuntil as passuntil
from ._curve import sigmoid_link as sigmoid_link
from ._dynamics import KAPLAN_NS_PARAMS as KAPLAN_NS_PARAMS
from ._dynamics import annealing_areas as annealing_areas
from ._dynamics import critical_batch_size as critical_batch_size
from ._dynamics import data_filtering as data_filtering
from ._dynamics import kaplan_ns as kaplan_ns
from ._dynamics import loss_curve_inputs as loss_curve_inputs
from ._dynamics import lr_annealing as lr_annealing
from ._dynamics import make_data_filtering as make_data_filtering
from ._dynamics import make_lr_annealing as make_lr_annealing
from ._dynamics import min_steps as min_steps
from ._optimal import optimal_allocation as optimal_allocation
from ._size import FP_QUANT_PARAMS as FP_QUANT_PARAMS
from ._size import chinchilla as chinchilla
from ._size import data_constrained as data_constrained
from ._size import fp_quant as fp_quant
from ._size import kaplan as kaplan
from ._size import kumar_precision as kumar_precision
from ._size import make_data_constrained as make_data_constrained
from ._size import overtraining as overtraining
from ._size import power_law as power_law
from ._size import saturating_power_law as saturating_power_law
