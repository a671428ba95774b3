"""The settings of :func:`sez.tfp.estimate`: which columns are what (:class:`Inputs`) and the
control-function estimators' options (:class:`ProxySettings`), with the constants and errors of
the package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np

from sez.errors import TFPInputError, TFPWarning

__all__ = ["Inputs", "ProxySettings", "TFPInputError", "TFPWarning", "METHODS", "METHOD_NAMES", "FORMS",
           "TRANSLOG_METHODS", "OUTPUT_COLUMNS", "DEFAULT_PROXY", "FIRST_STAGE_COLLAPSE", "CRITERIA",
           "DEFAULT_CRITERION"]

METHODS = ("ols", "fe", "op", "lp", "acf", "wrdg")
METHOD_NAMES = {"ols": "OLS", "fe": "fixed effects", "op": "Olley-Pakes", "lp": "Levinsohn-Petrin",
                "acf": "Ackerberg-Caves-Frazer", "wrdg": "Wooldridge"}
FORMS = ("cobb-douglas", "translog")
TRANSLOG_METHODS = ("ols", "fe", "acf")
OUTPUT_COLUMNS = {"va": "value_added", "gross": "output"}
DEFAULT_PROXY = {"op": "investment", "lp": "intermediate_input", "acf": "intermediate_input",
                 "wrdg": "intermediate_input"}
#: Second-stage criteria of the control-function estimators: "nls" (the sum of squared ``xi + e``
#: with the law of motion's coefficients estimated with the production function's), "gmm" (moments
#: of ``xi + e`` with the instruments), "prodest" (the sum of squared ``xi + e`` with the law of
#: motion fitted on productivity, as R's and Stata's ``prodest``); see :class:`ProxySettings`
CRITERIA = ("nls", "gmm", "prodest")
DEFAULT_CRITERION = {"op": "nls", "lp": "gmm", "acf": "gmm"}
#: Criteria each control-function method implements (ACF's first stage leaves no separate free inputs)
METHOD_CRITERIA = {"op": CRITERIA, "lp": CRITERIA, "acf": ("gmm",)}
#: OP/LP: a free input's first-stage coefficient below this share of its least-squares one is flagged
#: (``first_stage_collapse``): the proxy does not separate it from productivity
FIRST_STAGE_COLLAPSE = 0.2


def _columns(value, name: str, owner: str, allow_empty: bool = False) -> tuple[str, ...]:
    """One column or a list of them as a tuple; a string is one column, never its letters."""
    if isinstance(value, str):
        value = (value,)
    elif isinstance(value, Sequence) or isinstance(value, (np.ndarray, set, frozenset)):
        value = tuple(value)
    else:
        raise TypeError(f"{owner}: {name} must be a column name or a list of them, got {value!r}")
    if not all(isinstance(c, str) and c for c in value):
        raise TypeError(f"{owner}: {name} must hold column names (non-empty strings), got {value!r}")
    if not value and not allow_empty:
        raise ValueError(f"{owner}: {name} must name at least one column")
    return value


def _count(value, name: str, owner: str, optional: bool = False) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer{' or None' if optional else ''}, "
                         f"got {value!r}")


def _flag(value, name: str, owner: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be True or False, got {value!r}")


@dataclass(frozen=True)
class Inputs:
    """Which columns of the panel are what (the production function's variables).

    A string is accepted wherever a list of one column is.

    Parameters
    ----------
    output : str
        ``"va"`` (column ``value_added``), ``"gross"`` (column ``output``; materials become an
        input) or any output column (value-added form).
    free : str or sequence of str
        Freely chosen input(s): labour (``"employees"``).
    state : str or sequence of str
        State variable(s): capital; e.g. ``["capital", "age"]`` as the SEZ paper's Olley-Pakes
        estimates with firm age.
    proxy : str, optional
        Control for productivity; None: ``investment`` for OP, ``intermediate_input`` for LP,
        ACF and WRDG (OLS and FE use none).
    materials : str
        Materials column, an input in gross output.
    logged : bool
        The columns already hold logs.
    levels : str or sequence of str
        Columns used as they are, without logs (firm age); their coefficients are
        semi-elasticities and do not count in returns to scale.
    """

    output: str = "va"
    free: str | Sequence[str] = "employees"
    state: str | Sequence[str] = "capital"
    proxy: str | None = None
    materials: str = "intermediate_input"
    logged: bool = False
    levels: str | Sequence[str] = ()

    def __post_init__(self):
        if not isinstance(self.output, str) or not self.output:
            raise ValueError(f"Inputs: output must be 'va', 'gross' or a column name, got {self.output!r}")
        for name in ("free", "state", "levels"):
            object.__setattr__(self, name, _columns(getattr(self, name), name, "Inputs", allow_empty=name == "levels"))
        if self.proxy is not None and not (isinstance(self.proxy, str) and self.proxy):
            raise TypeError(f"Inputs: proxy must be a column name or None, got {self.proxy!r}")
        if not isinstance(self.materials, str) or not self.materials:
            raise TypeError(f"Inputs: materials must be a column name, got {self.materials!r}")
        _flag(self.logged, "logged", "Inputs")


@dataclass(frozen=True)
class ProxySettings:
    """Options of the control-function estimators (OP, LP, ACF; ``degree`` also WRDG).

    Parameters
    ----------
    degree : int
        Total degree of the first-stage polynomial control function (WRDG: of ``c(k, m)``).
    markov_degree : int, optional
        Degree of the polynomial ``g`` in ``omega_t = g(omega_{t-1}) + xi``; None: 3 for OP
        and LP, 1 (AR(1)) for ACF.
    exit_correction : bool
        OP only: add the survival probability from a probit on (k, i) to ``g``.
    starts : int, optional
        Starting values of the second-stage optimiser: least squares (for ACF also a balanced
        start), a shrunken copy, then seeded perturbations (sd 0.15), ``starts`` in all; every
        one is reported in ``diagnostics``. When none ends with non-negative elasticities (and
        ``start`` is not given), two more start from 1.5 and 2.5 times the absolute
        least-squares values. None: 3 (:func:`sez.tfp.bootstrap`: one, from the point estimate).
    start : sequence of float or dict, optional
        First starting value of the second stage (its coefficients in the order of ``terms``
        after any first-stage ones), or a dict group -> such a vector; None: least squares.
    overidentify : bool
        ACF only: add ``k_{t-1}`` and ``phi_{t-1}`` to the instruments (over-identified GMM).
    year_effects : bool
        Year indicators in the first-stage control function and in the law of motion ``g``
        (productivity's common year shifts, and a proxy or output in units that change by year,
        e.g. nominal investment beside deflated output). False gives the time-invariant control
        function of ``prodest`` and Stata's ``opreg``/``levpet``.
    criterion : {"nls", "gmm", "prodest"}, optional
        What the second stage minimises. ``"nls"``: the sum of squared ``xi + e`` in
        ``y - b_l l - b_k k = g(omega_{t-1}) + xi + e``, ``g``'s coefficients estimated with
        ``b_k`` (Olley and Pakes, 1996; Stata's ``opreg``). ``"gmm"``: the moments
        ``E[(xi + e) z] = 0`` (``z``: ``k_t``, and ``m_{t-1}`` in gross output; ACF its own),
        weighted by ``(Z'Z)^-1``. ``"prodest"``: the same sum of squares with ``g`` fitted by least
        squares on productivity ``omega = phi - b_k k`` (Rovigatti and Mollisi, 2018: R's and
        Stata's ``prodest``). None: ``"nls"`` for OP, ``"gmm"`` for LP and ACF (ACF has only
        ``"gmm"``).
    """

    degree: int = 3
    markov_degree: int | None = None
    exit_correction: bool = False
    starts: int | None = None
    start: Sequence[float] | Mapping | None = None
    overidentify: bool = False
    year_effects: bool = True
    criterion: str | None = None

    def __post_init__(self):
        _count(self.degree, "degree", "ProxySettings")
        _count(self.markov_degree, "markov_degree", "ProxySettings", optional=True)
        _count(self.starts, "starts", "ProxySettings", optional=True)
        for name in ("exit_correction", "overidentify", "year_effects"):
            _flag(getattr(self, name), name, "ProxySettings")
        if self.criterion is not None and self.criterion not in CRITERIA:
            raise ValueError(f"ProxySettings: criterion must be one of {CRITERIA} or None, got {self.criterion!r}")
        if self.start is not None:
            start = ({label: _vector(v) for label, v in self.start.items()} if isinstance(self.start, Mapping)
                     else _vector(self.start))
            object.__setattr__(self, "start", start)


def _vector(value) -> tuple[float, ...]:
    try:
        x = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        x = None
    if x is None or x.ndim != 1:
        raise ValueError(f"ProxySettings: start must be a vector of numbers or a dict group -> vector, got {value!r}")
    return tuple(x.tolist())


def as_settings(value, cls: type, name: str, func: str):
    """``value`` as a ``cls``: None gives the defaults, a dict its fields; errors name ``name``."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(f"{func}: {name} has no field(s) {unknown}; {cls.__name__} has "
                            f"{[f.name for f in fields(cls)]}")
        return cls(**value)
    raise TypeError(f"{func}: {name} must be a {cls.__name__}(...) or a dict of its fields, got {value!r}")


#: Keywords of ``estimate`` that moved into a settings object: old keyword -> new spelling.
RENAMED = {**{k: f"'inputs=Inputs({k}=...)'" for k in ("output", "free", "state", "proxy", "materials", "logged",
                                                    "levels")},
           **{k: f"'proxy_settings=ProxySettings({k}=...)'" for k in ("degree", "markov_degree", "exit_correction",
                                                                   "starts", "start", "overidentify",
                                                                   "year_effects", "criterion")}}


def _spec(method: str, inputs: Inputs):
    """Columns by role: output, free inputs (with gross-output materials for OLS, FE, OP), states,
    proxy, second-stage materials, and the inputs' names in coefficient order.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    gross = inputs.output == "gross"
    y_col = OUTPUT_COLUMNS.get(inputs.output, inputs.output)
    state = list(inputs.state)
    proxy = DEFAULT_PROXY.get(method) if inputs.proxy is None else inputs.proxy
    if method in ("ols", "fe"):
        proxy = None
    inputs_free = list(inputs.free)
    mat_col = None
    if gross:
        if method in ("ols", "fe", "op"):
            inputs_free.append(inputs.materials)   # materials enter like labour
        else:
            mat_col = inputs.materials             # materials enter in the second stage
    names = inputs_free + state + ([mat_col] if mat_col else [])
    return y_col, inputs_free, state, proxy, mat_col, names
