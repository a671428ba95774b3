"""Exceptions and warnings raised by sez, in one place.

Each message names the file, column, row, parameter or state at fault.
"""


class ParameterError(ValueError):
    """A parameter set has no solution or a value is out of range."""


class GridError(ValueError):
    """A grid is malformed or too small for the problem it is asked to solve."""


class SolverError(RuntimeError):
    """A solver failed: no convergence, or a policy at the edge of its grid."""


class CheckpointWarning(UserWarning):
    """A checkpoint line could not be read: skipped, copied to a side file, and its point computed again."""


class DidDataError(ValueError):
    """The panel cannot identify the requested difference-in-differences; the message says why."""


class CollateralWarning(UserWarning):
    """q theta_r >= 1 - tau_r: the collateral constraint never binds (docs/model.md defect 1)."""


class SchemaError(ValueError):
    """A firm-year table breaks the schema; the message names the column and rows."""


class InputError(ValueError):
    """A raw file cannot be used; the message names the file, column and rows."""


class DroppedRowsWarning(UserWarning):
    """Rows were left out of a computation because a value was missing; the message counts them."""


class TFPInputError(ValueError):
    """The panel cannot be used for estimation; the message names the column or industry."""


class TFPWarning(UserWarning):
    """An estimate that should not be trusted: a negative elasticity, or a first stage that cannot
    separate the free inputs from productivity (the groups are named).
    """


class ConfigError(ValueError):
    """A configuration file is malformed; the message names the file, section and key."""


class SizeError(ValueError):
    """A job is estimated, from its sizes before anything is allocated, to need more memory or time than
    ``sez.limits`` allows; the message gives the estimate, the limit and the override.
    """


class CollinearError(DidDataError):
    """Every regressor of a fixed-effects regression is collinear with the fixed effects; the message
    names them.
    """
