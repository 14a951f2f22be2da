"""Shared fixtures: a small, real run of the default problem that analysis tests read."""

from __future__ import annotations

import jax
import pytest

from landscape import Study, run_study

# Reference comparisons need full float32 matrix products: on recent NVIDIA GPUs JAX's default
# precision multiplies float32 matrices in TF32 (about 3 significant digits). No effect on a CPU.
jax.config.update("jax_default_matmul_precision", "highest")


def small_study(**overrides) -> Study:
    """The default 2-3-1 Euclidean-norm study, shrunk to run in a couple of seconds."""
    base = {"n_inits": 64, "train.steps": 400, "task.n_points": 256, "train.trajectory_points": 50}
    return Study().replace(**{**base, **overrides})


@pytest.fixture(scope="session")
def small_run_path(tmp_path_factory):
    """Path to a finished run file of :func:`small_study` (shared; copy it before writing)."""
    path = tmp_path_factory.mktemp("runs") / "small.h5"
    run_study(small_study(), path, quiet=True)
    return path


@pytest.fixture
def small_run_copy(small_run_path, tmp_path):
    """A private copy of the small run that a test may add analysis groups to."""
    import shutil

    path = tmp_path / "small.h5"
    shutil.copy(small_run_path, path)
    return path


def assert_same_training(path, reference_path, trainer: str) -> None:
    """A compiled trainer's run file equals the general trainer's (``reference_path``), up to float rounding."""
    import numpy as np

    from landscape import Run

    with Run(path) as run, Run(reference_path) as reference:
        assert run.attrs["trainer"] == trainer and reference.attrs["trainer"] == "general"
        np.testing.assert_array_equal(run.status, reference.status)
        np.testing.assert_array_equal(run.steps, reference.steps)
        np.testing.assert_allclose(run.final_loss, reference.final_loss, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(run.trajectory, reference.trajectory, rtol=1e-4, atol=1e-6)
