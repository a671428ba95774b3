"""Shared test configuration: the repository's folders and the stored reference outputs.

Tests mirror the package (``tests/did`` for ``sez.did``, ``tests/papers`` for ``sez.papers``, ...). Data
generators with known answers live in ``sez.testing`` (public, for users checking their own
specifications); reference outputs of other software, with their provenance, in ``tests/results``.
"""

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder (docs, benchmarks and pyproject.toml are below it)."""
    return ROOT


@pytest.fixture(scope="session")
def reference_output():
    """``reference_output("stata", "file.log")``: the path of a stored output in ``tests/results`` (see its README)."""

    def path(*parts: str) -> Path:
        found = TESTS.joinpath("results", *parts)
        if not found.is_file():
            pytest.fail(f"stored reference output {found} is missing")
        return found

    return path
