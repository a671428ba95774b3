"""The compiled module: OpenMP status and thread plumbing."""

import os

import pytest

import sez
from sez import _core


def test_openmp_status_is_reported_consistently():
    assert isinstance(sez.HAVE_OPENMP, bool)
    assert _core.max_threads() >= 1
    if not sez.HAVE_OPENMP:
        assert _core.max_threads() == 1  # single-threaded builds say so


@pytest.mark.skipif(os.environ.get("SEZ_EXPECT_OPENMP") != "1",
                    reason="set SEZ_EXPECT_OPENMP=1 where OpenMP must be on")
def test_openmp_is_on_where_expected():
    assert sez.HAVE_OPENMP
