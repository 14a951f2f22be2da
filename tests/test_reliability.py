"""Reliability: killed studies resume exactly, bad input is one clear line, nothing half-written."""

from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landscape import (
    ConfigError,
    Run,
    RunFileError,
    Status,
    Study,
    StudyError,
    run_study,
    study_from_dict,
    study_from_toml,
)
from landscape.cli import main
from landscape.config import study_to_dict
from landscape.storage import describe_run, flatten_params
from tests.conftest import small_study

KILL_STUDY = """
name = "killme"
n_inits = 2000
[task]
n_points = 128
[train]
steps = 300
chunk_size = 4
trajectory_points = 20
"""


def _cli(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "landscape", *args], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _results(path: Path) -> dict[str, np.ndarray]:
    with Run(path) as run:
        out = {f"final/{k}": v for k, v in flatten_params(run.final_params).items()}
        for name in ("final_loss", "grad_norm", "status", "steps", "trajectory"):
            out[name] = getattr(run, name)
    return out


def test_sigkill_at_a_random_moment_then_resume_matches_an_uninterrupted_run(tmp_path):
    study_file = tmp_path / "kill.toml"
    study_file.write_text(KILL_STUDY)
    victim = tmp_path / "victim.h5"
    proc = _cli("run", str(study_file), "--out", str(victim), "--quiet", "--no-classify", cwd=tmp_path)
    # Read the file while the study writes it (concurrent use), then kill it mid-study.
    reads, deadline = 0, time.time() + 120
    kill_after_chunks = random.Random(os.getpid()).randint(1, 6)
    while time.time() < deadline and proc.poll() is None:
        if victim.exists():
            with Run(victim) as run:
                done = int(run.chunk_done.sum())
                assert np.all(run.status[run.done] != Status.NOT_RUN)
                reads += 1
            if done >= kill_after_chunks:
                time.sleep(random.Random(reads).uniform(0.0, 0.3))  # anywhere inside the next chunk
                break
        time.sleep(0.05)
    assert proc.poll() is None, f"study ended (exit {proc.returncode}) before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert reads > 0
    with Run(victim) as run:
        assert not run.complete
        done = run.chunk_done
        assert 0 < done.sum() < done.size
    info = subprocess.run([sys.executable, "-m", "landscape", "info", str(victim)], capture_output=True, text=True)
    assert info.returncode == 0 and "INCOMPLETE" in info.stdout, info.stderr
    resumed = subprocess.run(
        [sys.executable, "-m", "landscape", "run", "--resume", "--out", str(victim), "--quiet", "--no-classify"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    whole = tmp_path / "whole.h5"
    run_study(study_from_toml(KILL_STUDY), whole, quiet=True)
    with Run(victim) as run:
        assert run.complete
    expected, got = _results(whole), _results(victim)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


# --- bad configs, generated ----------------------------------------------------------------


def _field_paths(tree: dict, prefix: str = "") -> list[str]:
    paths = []
    for key, value in tree.items():
        if isinstance(value, dict) and key != "options":
            paths += _field_paths(value, f"{prefix}{key}.")
        else:
            paths.append(f"{prefix}{key}")
    return paths


FIELDS = sorted(_field_paths(study_to_dict(Study())))
VALUES = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.booleans(),
    st.lists(st.integers(-5, 50), max_size=4),
    st.dictionaries(st.text(min_size=1, max_size=5), st.integers(), max_size=2),
)
FIELD_NAMES = st.one_of(
    st.sampled_from(FIELDS),
    st.sampled_from(["task", "model", "train"]),
    st.from_regex(r"[a-z_]{1,8}(\.[a-z_]{1,8}){0,2}", fullmatch=True),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(FIELD_NAMES, VALUES, min_size=1, max_size=4))
def test_any_wrong_field_is_a_config_error_naming_it(overrides):
    """Whatever is set wrongly, the error is a ConfigError whose first word is a field path."""
    from landscape.config import apply_overrides

    try:
        study_from_dict(apply_overrides(study_to_dict(Study()), overrides))
    except ConfigError as err:
        message = str(err)
        assert "\n" not in message
        named = message.split(":")[0].split("/")[0].split("[")[0]
        related = any(named.startswith(key) or key.startswith(named) for key in overrides)
        assert related or named in FIELDS, message
    # any other exception type escapes and fails the test


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_a_study_or_a_config_error(text):
    try:
        study_from_toml(text)
    except ConfigError as err:
        assert str(err)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(["--inits", "--steps", "--seed", "--chunk-size", "--set"]),
    st.sampled_from(["-1", "0", "x", "1.5", "", "model.hidden=[-1]", "train.steps=abc", "task=1"]),
)
def test_bad_cli_arguments_fail_cleanly_without_a_file(tmp_path_factory, flag, value):
    folder = tmp_path_factory.mktemp("cli")
    out = folder / "out.h5"
    try:
        code = main(
            [
                "run",
                flag,
                value,
                "--out",
                str(out),
                "--quiet",
                "--no-classify",
                *(["--steps", "1", "--inits", "1"] if flag not in ("--steps", "--inits") else []),
            ]
        )
    except SystemExit as exit_:  # argparse's own type errors
        code = exit_.code
    if code == 0:  # a value that happens to be valid (e.g. --seed 0): the run must be complete
        with Run(out) as run:
            assert run.complete
    else:
        assert code == 2 and not out.exists()


# --- numerical extremes -------------------------------------------------------------------


def test_a_diverging_learning_rate_finishes_the_study_with_every_network_diverged(tmp_path):
    study = small_study(
        n_inits=8,
        **{"optimizer.name": "sgd", "optimizer.learning_rate": 1e4, "model.activation": "linear", "train.steps": 50},
    )
    path = run_study(study, tmp_path / "d.h5", quiet=True)
    with Run(path) as run:
        assert run.complete and np.all(run.status == Status.DIVERGED)
        assert "diverged 8" in describe_run(path)


def test_an_init_that_overflows_is_diverged_not_a_crash(tmp_path):
    study = small_study(n_inits=4, **{"init.scale": 1e30, "train.steps": 10})
    path = run_study(study, tmp_path / "o.h5", quiet=True)
    with Run(path) as run:
        assert run.complete and np.all(run.status == Status.DIVERGED), run.status


def test_float64_studies_run_in_x64_and_say_so(tmp_path):
    code = (
        "import sys; from landscape import run_study, Run; from tests.conftest import small_study;"
        "p = run_study(small_study(n_inits=3, **{'train.dtype': 'float64', 'train.steps': 20}), sys.argv[1], quiet=True);"
        "r = Run(p); print(r.attrs['x64'], r.final_loss.dtype, r.params('final')[0]['w'].dtype)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "f64.h5")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "float64", "float64"]


# --- output problems ----------------------------------------------------------------------


def test_an_unwritable_output_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StudyError, match="cannot create the output folder"):
        run_study(small_study(n_inits=2), blocker / "sub" / "r.h5", quiet=True)


def test_disk_full_leaves_the_previous_file_untouched_and_no_partial_file(tmp_path, monkeypatch):
    path = run_study(small_study(n_inits=4), tmp_path / "r.h5", quiet=True)
    before = path.read_bytes()
    import landscape.storage as storage

    real = storage._early_dataset
    calls = {"n": 0}

    def full_disk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(storage, "_early_dataset", full_disk)
    with pytest.raises(StudyError, match="No space left on device"):
        run_study(small_study(n_inits=4, seed=9), path, quiet=True, overwrite=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.h5"]


def test_reading_an_incomplete_file_masks_unfinished_networks(tmp_path):
    path = run_study(small_study(n_inits=8, **{"train.chunk_size": 4}), tmp_path / "p.h5", quiet=True, max_chunks=1)
    with Run(path) as run:
        assert run.done.tolist() == [True] * 4 + [False] * 4
        assert np.all(np.isnan(run.final_loss[4:])) and np.all(np.isfinite(run.final_loss[:4]))
    with pytest.raises(StudyError, match="nothing to resume"):
        run_study(None, tmp_path / "nothing.h5", resume=True, quiet=True)
    garbage = tmp_path / "g.h5"
    garbage.write_text("x")
    with pytest.raises(StudyError, match="not a readable HDF5"):
        run_study(None, garbage, resume=True, quiet=True)
    assert RunFileError
