"""Parameters of the SEZ firm-dynamics model (docs/model.md), with validation.

Names are flat: ``tau_N`` is the non-SEZ corporate tax, ``theta_S`` the SEZ
collateral ratio, and so on. Zone N is index 0, zone S index 1 everywhere.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np

from sez.errors import CollateralWarning, ParameterError

LIQUIDATION = ("taxed", "untaxed")
ENTRY_OUTSIDE_OPTION = ("cash", "zero")


@dataclass(frozen=True)
class Params:
    """Every parameter of the model, paper values by default (Tables 5 and 6).

    Attributes
    ----------
    beta, alpha, gamma, delta : discount factor, capital share, span of control,
        depreciation.
    rho, sigma : persistence and innovation s.d. of log shock ``ln v``.
    mu : Pareto shape of the permanent type ``A`` (scale 1); needs
        ``mu > 1 / (1 - gamma)`` for mean output to be finite.
    w : wage (partial equilibrium).
    tau_N, tau_S : corporate tax by zone.
    theta_N, theta_S : collateral, ``b' <= theta k'``.
    xi_N, xi_S : fixed operating cost paid from cash each period.
    xbar_S : SEZ minimum dividend ("minimal profit scale"); ``xbar_N = 0``.
    ce_N, ce_S : entry cost by zone, paid by the entrant's owners.
    cm, cm_out : moving cost N -> S and S -> N.
    lam : exogenous death rate (an addition to the paper, docs/model.md).
    Me : mass of potential entrants per period.
    m0_log_mean, m0_log_sd : entrants' initial cash, ``ln m0 ~ N(m0_log_mean, m0_log_sd)``.
    liquidation : "taxed" (default; liquidation taxed like cash) or "untaxed"
        (the paper's reading, an arbitrage at its values: docs/model.md defect 2).
    entry_outside_option : "cash" (enter when ``Q_r(m0) - ce_r >= m0``) or
        "zero" (the paper's eq. 6, ``>= 0``).
    sez_exit_to_nsez : whether SEZ firms may move to the non-SEZ zone.
    check : validate on construction (``False`` lets an invalid set be solved
        anyway, to see the failure). Not a model parameter.
    """

    beta: float = 0.961
    alpha: float = 0.37
    gamma: float = 0.862
    delta: float = 0.068
    rho: float = 0.7968
    sigma: float = 0.0077
    mu: float = 8.6955
    w: float = 1.0
    tau_N: float = 0.33
    tau_S: float = 0.195
    theta_N: float = 0.62
    theta_S: float = 0.88
    xi_N: float = 0.034
    xi_S: float = 0.01
    xbar_S: float = 0.003
    ce_N: float = 0.0083
    ce_S: float = 0.0081
    cm: float = 0.0
    cm_out: float = 0.0
    lam: float = 0.05
    Me: float = 1.0
    m0_log_mean: float = math.log(0.05)
    m0_log_sd: float = 1.0
    liquidation: str = "taxed"
    entry_outside_option: str = "cash"
    sez_exit_to_nsez: bool = True
    check: bool = field(default=True, compare=False, repr=False)

    @classmethod
    def paper(cls, **changes) -> "Params":
        """The paper's Tables 5 (external) and 6 (internal) values, with docs/model.md's
        resolutions of its defects (taxed liquidation, exogenous death 0.05).
        """
        return cls(**changes)

    def replace(self, **changes) -> "Params":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def __post_init__(self):
        # a numpy scalar (np.float32(0.3), np.int64(2), np.bool_(True), np.str_("taxed")) is stored as the
        # Python value it holds, so that arithmetic, equality and the kernels see one type; validate() then
        # refuses a bool where a number is expected, as it refuses a Python bool
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.generic):
                object.__setattr__(self, f.name, value.item())
        if self.check:
            self.validate()

    # -- derived quantities -------------------------------------------------
    @property
    def q(self) -> float:
        """Bond price: the stationary household Euler equation gives q = beta."""
        return self.beta

    @property
    def xbar_N(self) -> float:
        """The non-SEZ zone's entry threshold: 0 (any firm may locate outside a zone)."""
        return 0.0

    def zone(self, r: int) -> dict:
        """The zone's rules as a dict (r = 0: N, 1: S)."""
        z = "NS"[r]
        return {
            "tau": getattr(self, "tau_" + z),
            "theta": getattr(self, "theta_" + z),
            "xi": getattr(self, "xi_" + z),
            "xbar": getattr(self, "xbar_" + z),
            "ce": getattr(self, "ce_" + z),
        }

    def liquidation_factor(self, r: int) -> float:
        """ell_r in X = ell_r (1 - delta) k - b."""
        tau = self.zone(r)["tau"]
        return 1.0 - tau if self.liquidation == "taxed" else 1.0

    def liquidation_return(self, r: int) -> float:
        """Gross return of buying a unit of capital (expensed) and liquidating it next period."""
        return self.liquidation_factor(r) * (1.0 - self.delta) / (1.0 - self.zone(r)["tau"])

    def collateral_slack(self, r: int) -> float:
        """(1 - tau_r) - q theta_r: positive while the collateral bound Kbar is finite."""
        z = self.zone(r)
        return (1.0 - z["tau"]) - self.q * z["theta"]

    # -- validation ------------------------------------------------------------
    def validate(self) -> None:
        """Raise ParameterError naming the first broken bound; warn on defect 1."""
        ranges = {
            "beta": (0.0, 1.0, False, False),
            "alpha": (0.0, 1.0, False, False),
            "gamma": (0.0, 1.0, False, False),
            "delta": (0.0, 1.0, True, True),
            "rho": (-1.0, 1.0, False, False),
            "sigma": (0.0, math.inf, True, False),
            "mu": (0.0, math.inf, False, False),
            "w": (0.0, math.inf, False, False),
            "tau_N": (0.0, 1.0, True, False),
            "tau_S": (0.0, 1.0, True, False),
            "theta_N": (0.0, math.inf, True, False),
            "theta_S": (0.0, math.inf, True, False),
            "xi_N": (0.0, math.inf, True, False),
            "xi_S": (0.0, math.inf, True, False),
            "xbar_S": (0.0, math.inf, True, False),
            "ce_N": (0.0, math.inf, True, False),
            "ce_S": (0.0, math.inf, True, False),
            "cm": (0.0, math.inf, True, False),
            "cm_out": (0.0, math.inf, True, False),
            "lam": (0.0, 1.0, True, False),
            "Me": (0.0, math.inf, False, False),
            "m0_log_mean": (-math.inf, math.inf, False, False),
            "m0_log_sd": (0.0, math.inf, True, False),
        }
        for name, (lo, hi, lo_closed, hi_closed) in ranges.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ParameterError(f"{name} must be a real number (a float, an int or a numpy real scalar; "
                                     f"not a bool or a string), got {value!r}")
            if not math.isfinite(value):
                raise ParameterError(f"{name} must be finite, got {value!r}")
            ok_lo = value >= lo if lo_closed else value > lo
            ok_hi = value <= hi if hi_closed else value < hi
            if not (ok_lo and ok_hi):
                interval = f"{'[' if lo_closed else '('}{lo}, {hi}{']' if hi_closed else ')'}"
                raise ParameterError(f"{name} = {value} is outside {interval}")
        if self.liquidation not in LIQUIDATION:
            raise ParameterError(f"liquidation = {self.liquidation!r}: use one of {LIQUIDATION}")
        if self.entry_outside_option not in ENTRY_OUTSIDE_OPTION:
            raise ParameterError(
                f"entry_outside_option = {self.entry_outside_option!r}: use one of {ENTRY_OUTSIDE_OPTION}"
            )
        if not isinstance(self.sez_exit_to_nsez, bool):
            raise ParameterError(f"sez_exit_to_nsez must be True or False, got {self.sez_exit_to_nsez!r}")
        p_output = 1.0 / (1.0 - self.gamma)
        if self.mu <= p_output:
            raise ParameterError(
                f"mu = {self.mu} must exceed 1/(1-gamma) = {p_output:.4f}: output rises like "
                f"A^(1/(1-gamma)) and its mean under the Pareto type law is infinite otherwise"
            )
        for r in (0, 1):
            ret = self.liquidation_return(r)
            if ret * self.beta > 1.0:
                z = "NS"[r]
                raise ParameterError(
                    f"liquidation = {self.liquidation!r}: buying capital (expensed at tau_{z}) and "
                    f"liquidating it next period returns (1-delta)/(1-tau_{z}) = {ret:.4f} > 1/beta = "
                    f"{1 / self.beta:.4f}, an arbitrage with no solution (docs/model.md defect 2); use "
                    f"liquidation='taxed' or check=False to see the failure"
                )
        for r in (0, 1):
            if self.collateral_slack(r) <= 0:
                z = "NS"[r]
                warnings.warn(
                    f"q*theta_{z} = {self.q * self.zone(r)['theta']:.4f} >= 1 - tau_{z} = "
                    f"{1 - self.zone(r)['tau']:.4f}: the collateral constraint never binds in zone {z} "
                    f"and capital is bounded only by the capital grid (docs/model.md defect 1)",
                    CollateralWarning,
                    stacklevel=4,
                )


#: The parameters an estimation may free: the numeric fields of ``Params`` (the
#: switches that choose among the model's variants stay fixed).
ESTIMABLE = tuple(f.name for f in dataclasses.fields(Params)
                  if f.name not in ("liquidation", "entry_outside_option", "sez_exit_to_nsez", "check"))
