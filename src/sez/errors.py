"""Exceptions raised by sez. Each names the parameter, grid or state at fault."""


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


class ConfigError(ValueError):
    """A configuration file is malformed; the message names the file, section and key."""
