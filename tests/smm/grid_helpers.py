"""Module-level grid functions for the tests (process pools import them by name)."""

import time

import numpy as np


def square(point, seed):
    time.sleep(point.get("sleep", 0.0))
    return {"y": point["x"] ** 2, "draw": float(np.random.default_rng(seed).uniform())}


def fails_at_two(point, seed):
    if point["x"] == 2:
        raise ValueError("no solution at x = 2")
    return square(point, seed)


def fails_until_allowed(point, seed):
    """Raises at x = 2 while the file named by the point's ``gate`` does not exist (a model error that a later
    retry, with the cause fixed, no longer meets)."""
    import os

    if point["x"] == 2 and not os.path.exists(point["gate"]):
        raise ValueError("no solution at x = 2")
    return square(point, seed)


def interrupted_until_allowed(point, seed):
    """Ctrl-C arrives at x = 2 while the file named by the point's ``gate`` does not exist."""
    import os

    if point["x"] == 2 and not os.path.exists(point["gate"]):
        raise KeyboardInterrupt
    return square(point, seed)
