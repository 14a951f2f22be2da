"""Compile once (STYLE 11): a second call of an analysis on the same run, and a call on another run of
the same model and data (another seed), compile nothing new.

Compilations are counted with JAX's own monitoring events (one ``backend_compile_duration`` per XLA
compilation, eager operations included), so any program built per call shows up, whichever module
builds it; the analyses' own caches are checked too, to say which program it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax
import numpy as np
import pytest

from landscape import Run, run_study
from landscape.problem import problem_of
from tests.conftest import small_study

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def compilations() -> Iterator[list[str]]:
    """The XLA compilations made inside the block (a list that fills as they happen)."""
    seen: list[str] = []

    def listen(event: str, duration: float, **kwargs: object) -> None:
        if event == COMPILE_EVENT:
            seen.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


@pytest.fixture(scope="module")
def other_run(small_run_path, tmp_path_factory):
    """The small study with another seed and fewer steps: other networks, the same model, data and shapes."""
    path = tmp_path_factory.mktemp("retrace") / "other.h5"
    run_study(small_study(seed=1, **{"train.steps": 40}), path, quiet=True)
    return path


def test_the_counter_sees_a_compilation_and_not_a_cache_hit():
    double = jax.jit(lambda v: 2 * v)
    with compilations() as first:
        double(np.ones(7))
    with compilations() as again:
        double(np.ones(7))
    assert len(first) >= 1 and again == []


def test_classify_compiles_its_diagnostics_once(small_run_path, other_run):
    from landscape import solutions

    with Run(small_run_path) as run:
        solutions.classify_run(run, cluster=False)
    cached = solutions._compiled_diagnostics.cache_info().currsize
    with compilations() as seen:
        with Run(small_run_path) as run:
            again = solutions.classify_run(run, cluster=False)
        with Run(other_run) as run:
            other = solutions.classify_run(run, cluster=False)
    assert solutions._compiled_diagnostics.cache_info().currsize == cached
    assert seen == [], f"{len(seen)} compilations on the second call and on another run"
    assert again.labels.shape == other.labels.shape == (64,)


def test_classify_with_clusters_compiles_nothing_on_a_second_call(small_run_path):
    from landscape.solutions import classify_run

    with Run(small_run_path) as run:
        classify_run(run, sample_size=64)
        with compilations() as seen:
            classify_run(run, sample_size=64)
    assert seen == []


def test_paths_compile_their_searches_once(small_run_path, other_run):
    from landscape.paths import barriers_run, train_bezier_batch

    def paths(path):
        with Run(path) as run:  # a fresh problem_of(run) each time, as the command does
            return barriers_run(run, ["0", "1", "2"], bezier_steps=20)

    paths(small_run_path)
    bezier_programs = train_bezier_batch._cache_size()
    with compilations() as seen:
        again, other = paths(small_run_path), paths(other_run)
    assert train_bezier_batch._cache_size() == bezier_programs
    assert seen == [], f"{len(seen)} compilations on the second call and on another run"
    assert again.bezier["barrier"].shape == other.bezier["barrier"].shape == (3,)


def test_map_searches_are_keyed_by_the_problem_not_the_call(small_run_path, other_run):
    """The map's module-level jits take a FlatProblem as a static argument: problems of the same
    model and data are equal, so the bands and checks compile once (the whole map costs ~20 s to
    compile, so it is checked here through its check and band programs)."""
    from landscape import landscape_map, neb
    from landscape.runner import x64_scope

    flats = []
    for path in (small_run_path, small_run_path, other_run):
        with Run(path) as run:
            problem = problem_of(run)
            like = run.params("final", 0)
            with x64_scope(problem.study):
                flats.append(landscape_map.run_problem(problem, jax.tree.map(np.asarray, like)))
            assert problem.objective == problem_of(run).objective  # the same model and loss objects
    assert flats[0] == flats[1] == flats[2] and len({hash(f) for f in flats}) == 1
    assert flats[0] is not flats[1] and flats[0].loss is not flats[1].loss  # equal by key, not by identity

    start = np.zeros(13, np.float32)  # a 2-3-1 MLP's parameters, flat
    band = np.stack([neb.line_band(start, start + 0.1, 3)] * 4)

    def bands(flat):
        return landscape_map._neb_batch(flat, band, 2, 0.1, 1, 0.05, 0.5, 0.05)

    def checks(flat):
        return landscape_map._check_batch(flat, landscape_map._Search(1e-7, 2, 2, 0.05), np.zeros((4, 13), np.float32))

    bands(flats[0]), checks(flats[0])
    with compilations() as seen:
        for flat in flats[1:]:
            bands(flat), checks(flat)
    assert seen == [], f"{len(seen)} compilations for an equal problem"
