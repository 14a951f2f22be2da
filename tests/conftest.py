"""Shared fixtures: a small, real run of the default problem that analysis tests read."""

from __future__ import annotations

import jax
import pytest

from landscape import Study, run_study

# Reference comparisons need full float32 matrix products: on recent NVIDIA GPUs JAX's default
# precision multiplies float32 matrices in TF32 (about 3 significant digits). No effect on a CPU.
jax.config.update("jax_default_matmul_precision", "highest")


def pytest_configure(config):
    """One JAX compilation cache per test session, in a fresh temporary folder removed at the end.

    Most tests train or analyse a tiny study, and each ``run_study`` builds (and compiles) its trainer
    afresh: without a cache, the same programs compile again in test after test. The folder is new
    for every session, so nothing carries from one run of the suite to the next (a cold start pays
    every compile once), and subprocesses started by tests (``python -m landscape``) inherit it.
    """
    import os
    import tempfile

    if os.environ.get("LANDSCAPE_TEST_NO_COMPILE_CACHE"):  # to time the suite without it
        return
    folder = tempfile.mkdtemp(prefix="landscape-tests-jax-cache-")
    config._landscape_compile_cache = folder  # noqa: SLF001
    settings = {
        "jax_compilation_cache_dir": folder,
        "jax_persistent_cache_min_compile_time_secs": 0,
        "jax_persistent_cache_min_entry_size_bytes": 0,
    }
    for name, value in settings.items():
        jax.config.update(name, value)
        os.environ[name.upper()] = str(value)


# Test files that count XLA compilations (JAX's backend_compile events): a persistent-cache hit
# compiles nothing and sends no event, so a function rebuilt and compiled on every call would
# pass there unseen. Their tests run without the cache (also any test marked no_compile_cache).
COUNTS_COMPILATIONS = {"test_retrace.py"}


@pytest.fixture(autouse=True)
def _no_compile_cache_where_compilations_are_counted(request):
    if request.node.path.name not in COUNTS_COMPILATIONS and not request.node.get_closest_marker("no_compile_cache"):
        yield
        return
    from jax.experimental.compilation_cache import compilation_cache

    enabled = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)
    compilation_cache.reset_cache()  # is_cache_used() is decided once; ask again
    try:
        yield
    finally:
        jax.config.update("jax_enable_compilation_cache", enabled)
        compilation_cache.reset_cache()


def pytest_unconfigure(config):
    import shutil

    folder = getattr(config, "_landscape_compile_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


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


def private_copy(shared_path, tmp_path):
    """A copy of a shared session run in the test's own folder, for a test that writes to it."""
    import shutil

    path = tmp_path / shared_path.name
    shutil.copy(shared_path, path)
    return path


@pytest.fixture
def small_run_copy(small_run_path, tmp_path):
    """A private copy of the small run that a test may add analysis groups to."""
    return private_copy(small_run_path, tmp_path)


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


def tiny_teacher_student_study():
    """The README's bring-your-own study (teacher-student, population loss, no dataset, float64), tiny."""
    from landscape import load_study

    return load_study("runs/teacher_student.toml").replace(n_inits=8, **{"train.steps": 60})


@pytest.fixture(scope="session")
def teacher_student_path(tmp_path_factory):
    """Path to a finished tiny teacher-student run (shared; copy it before writing)."""
    path = tmp_path_factory.mktemp("byo") / "ts.h5"
    run_study(tiny_teacher_student_study(), path, overwrite=True, quiet=True)
    return path


@pytest.fixture
def teacher_student_copy(teacher_student_path, tmp_path):
    """A private copy of the tiny teacher-student run."""
    return private_copy(teacher_student_path, tmp_path)
