"""Shared fixtures: float64 mode, fresh auto-naming, restored global settings."""

import numpy as np
import pytest

import fastmlp


@pytest.fixture
def float64():
    """Run the test with ``floatx == "float64"``; restore every default afterwards."""
    fastmlp.config.set_floatx("float64")
    try:
        yield np.float64
    finally:
        fastmlp.config.reset()


@pytest.fixture
def fresh_session():
    """Reset Keras-style auto-naming before the test (next model is ``"sequential"``)."""
    fastmlp.backend.clear_session()
    yield
    fastmlp.backend.clear_session()


@pytest.fixture
def restore_config():
    """Restore every ``fastmlp.config`` default after the test, whatever it changed."""
    try:
        yield
    finally:
        fastmlp.config.reset()


@pytest.fixture(params=["tiny", "general"])
def training_path(request, monkeypatch):
    """Run the test through both training paths of the compiled driver.

    Models whose layers are all at most ``fastmlp.engine.TINY_UNITS`` wide (with
    common activations) take the tiny path: one-pass dense kernels and the update
    inlined into the step. ``"general"`` sets the limit to 0 so that the same small
    model takes the general kernels.
    """
    if request.param == "general":
        monkeypatch.setattr(fastmlp.engine, "TINY_UNITS", 0)
    return request.param
