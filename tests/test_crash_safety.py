"""Crash-safe analyses: kills, full disks, read-only folders and damaged files never cost data.

Analyses publish a whole new run file and ``os.replace`` it over the old one (see
:mod:`landscape.storage`); these tests kill the real commands inside that step, at random
moments, and check that every earlier result is still there and every command opens the file.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from landscape import Run, RunFileError
from landscape.cli import main
from landscape.commands.classify import classify_and_report
from landscape.storage import PUBLISH_PAUSE_ENV, check_writable, drop_group, write_group

PAUSE = 0.4  # seconds the publish step sleeps (test hook), widening the window a kill lands in


def _env(cache: Path) -> dict[str, str]:
    """The commands' environment: the publish pause, and a JAX compilation cache the kills share (the
    test session's own when it has one, so the commands reuse what this process compiled)."""
    return {
        **os.environ,
        PUBLISH_PAUSE_ENV: str(PAUSE),
        "JAX_COMPILATION_CACHE_DIR": os.environ.get("JAX_COMPILATION_CACHE_DIR") or str(cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


def _snapshot(path: Path) -> dict[str, np.ndarray]:
    """Training arrays and the ``types`` labels: what every kill must leave intact."""
    with Run(path) as run:
        out = {name: getattr(run, name) for name in ("final_loss", "status", "steps", "trajectory")}
        out["x"] = run.x
        if run.has("types"):
            out["types/label"] = run.group("types")["label"]
    return out


def _kill_during_publish(args: list[str], path: Path, cwd: Path, env: dict[str, str], rng: random.Random) -> str:
    """Start ``landscape ARGS``; SIGKILL it at a random moment after its publish began."""
    process = subprocess.Popen(
        [sys.executable, "-m", "landscape", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if any(path.parent.glob(f".{path.name}.*.publish.tmp")):
            time.sleep(rng.uniform(0, PAUSE + 0.1))
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    code = process.wait(timeout=120)
    return "killed" if code == -signal.SIGKILL else f"exit {code}"


def _check_intact(path: Path, before: dict[str, np.ndarray], expect_groups: set[str]) -> None:
    after = _snapshot(path)
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)
    with Run(path) as run:
        assert expect_groups <= set(run.groups())
        assert run.complete
        if run.has("hessian"):  # whole or absent, never half
            group = run.group("hessian")
            assert {"eigenvalues", "summary", "representatives", "density"} <= set(group)
    assert main(["info", str(path)]) == 0


def _classify_lane(path: Path, cwd: Path, env: dict[str, str], seed: int, kills: int) -> list[str]:
    rng = random.Random(seed)
    before = _snapshot(path)
    outcomes = []
    for _ in range(kills):
        outcomes.append(
            _kill_during_publish(["classify", str(path), "--no-figures", "--no-clusters"], path, cwd, env, rng)
        )
        _check_intact(path, before, {"types"})
    return outcomes


def _hessian_and_run_lane(path: Path, cwd: Path, env: dict[str, str], seed: int) -> list[str]:
    rng = random.Random(seed)
    before = _snapshot(path)
    outcomes = []
    for _ in range(2):
        outcomes.append(_kill_during_publish(["hessian", str(path), "--no-figures"], path, cwd, env, rng))
        _check_intact(path, before, {"types"})
    # landscape run: kill its analysis stage (the types publish after training)
    study = [
        "--inits",
        "8",
        "--steps",
        "60",
        "--set",
        "task.n_points=32",
        "--set",
        "train.trajectory_points=5",
        "--no-report",
    ]
    for attempt in range(2):
        out = cwd / f"run{attempt}.h5"
        outcomes.append(_kill_during_publish(["run", *study, "--out", str(out)], out, cwd, env, rng))
        with Run(out) as run:
            assert run.complete and np.all(run.status >= 0)
            if run.has("types"):
                assert run.group("types")["label"].shape == (8,)
    return outcomes


def test_kills_during_classify_hessian_and_run_publishes_lose_nothing(small_run_path, tmp_path, capsys):
    from concurrent.futures import ThreadPoolExecutor

    env = _env(tmp_path / "jax-cache")
    lanes = []
    for lane in ("a", "b"):
        (tmp_path / lane).mkdir()
        path = tmp_path / lane / "r.h5"
        shutil.copy(small_run_path, path)
        classify_and_report(path, None, cluster=False)
        lanes.append(path)
    with ThreadPoolExecutor(2) as pool:  # two lanes of kills, one per core
        first = pool.submit(_classify_lane, lanes[0], tmp_path / "a", env, 1, 4)
        second = pool.submit(_hessian_and_run_lane, lanes[1], tmp_path / "b", env, 2)
        outcomes = first.result() + second.result()
    assert outcomes.count("killed") >= 5, outcomes  # of 8 kills
    # every command still reads and writes the survivors; re-running does not grow the file
    for path in [*lanes, tmp_path / "b" / "run0.h5", tmp_path / "b" / "run1.h5"]:
        assert main(["info", str(path)]) == 0
    path = lanes[1]
    sizes = []
    for _ in range(2):
        assert main(["classify", str(path), "--no-figures", "--no-clusters"]) == 0
        sizes.append(path.stat().st_size)
    assert max(sizes) - min(sizes) < 1024, sizes  # in place, each re-run added ~35 KB
    assert main(["report", str(path), "--out", str(tmp_path / "report")]) == 0
    capsys.readouterr()


def test_rewriting_a_group_does_not_grow_the_file_and_drop_is_atomic(small_run_copy, capsys):
    write_group(small_run_copy, "slices/a", {"loss": np.ones((50, 50))})
    write_group(small_run_copy, "slices/b", {"loss": np.zeros(3)})
    first = small_run_copy.stat().st_size
    write_group(small_run_copy, "slices/a", {"loss": np.ones((50, 50))})
    size = small_run_copy.stat().st_size
    assert abs(size - first) < 1024  # objects may come back in another order, nothing more
    for _ in range(3):
        write_group(small_run_copy, "slices/a", {"loss": np.ones((50, 50))})
        assert small_run_copy.stat().st_size == size
    assert main(["info", str(small_run_copy), "--drop", "slices/a"]) == 0
    with Run(small_run_copy) as run:
        assert list(run.group("slices")) == ["b"]
    assert small_run_copy.stat().st_size < size
    assert main(["info", str(small_run_copy), "--drop", "types"]) == 2
    assert "no 'types' group" in capsys.readouterr().err
    assert main(["info", str(small_run_copy), "--drop", "train"]) == 2
    with pytest.raises(RunFileError):
        drop_group(small_run_copy, "missing")


def test_new_and_republished_files_respect_the_umask(small_run_copy, tmp_path):
    old = os.umask(0o022)
    try:
        os.chmod(small_run_copy, 0o640)
        write_group(small_run_copy, "extra", {"x": np.arange(3)})
        assert small_run_copy.stat().st_mode & 0o777 == 0o640  # a publish keeps the file's mode
        from landscape import run_study
        from tests.conftest import small_study

        fresh = run_study(small_study(n_inits=2, **{"train.steps": 10}), tmp_path / "fresh.h5", quiet=True)
        assert fresh.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def _one_line_and_unchanged(args: list[str], path: Path, capsys, needle: str) -> None:
    before = path.read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
    assert path.read_bytes() == before
    assert not list(path.parent.glob(".*.tmp"))


def test_full_disk_read_only_folder_and_damaged_file_are_one_line_and_change_nothing(
    small_run_copy, monkeypatch, capsys
):
    path = small_run_copy
    classify_and_report(path, None, cluster=False)
    capsys.readouterr()
    # full disk noticed up front: nothing is computed
    import landscape.storage as storage

    with monkeypatch.context() as patch:
        patch.setattr(storage.shutil, "disk_usage", lambda folder: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
        _one_line_and_unchanged(["hessian", str(path), "--no-figures"], path, capsys, "not enough free space")
    # read-only folder (root ignores permission bits, so the check is what a read-only mount answers)
    real_access = os.access
    with monkeypatch.context() as patch:
        patch.setattr(
            storage.os,
            "access",
            lambda p, mode: False if Path(p) == path.parent and mode & os.W_OK else real_access(p, mode),
        )
        _one_line_and_unchanged(["classify", str(path), "--no-figures", "--no-clusters"], path, capsys, "not writable")
        _one_line_and_unchanged(["info", str(path), "--drop", "types"], path, capsys, "not writable")
    # damaged metadata: an analysis group's object header overwritten
    with h5py.File(path, "r") as f:
        address = h5py.h5o.get_info(f["types/label"].id).addr
    with open(path, "r+b") as f:
        f.seek(address)
        f.write(b"\xff" * 64)
    for args in (
        ["info", str(path)],
        ["classify", str(path), "--no-figures"],
        ["hessian", str(path)],
        ["info", str(path), "--drop", "types"],
    ):
        _one_line_and_unchanged(args, path, capsys, "damaged run file")
    with pytest.raises(RunFileError, match="damaged"):
        check_writable(path)


def test_a_disk_that_fills_during_the_publish_leaves_the_file_as_it_was(small_run_copy, tmp_path):
    """RLIMIT_FSIZE makes the new copy's writes fail (EFBIG) like a full disk, mid-publish."""
    path = small_run_copy
    before = path.read_bytes()
    limit = path.stat().st_size // 2

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run(
        [sys.executable, "-m", "landscape", "classify", str(path), "--no-figures", "--no-clusters"],
        cwd=tmp_path,
        preexec_fn=small_files,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not publish 'types'" in lines[0] and "the run file is unchanged" in lines[0], (
        done.stderr
    )
    assert path.read_bytes() == before
    assert not list(path.parent.glob(".*.tmp"))


def test_a_publish_waits_for_a_training_chunk_write_and_old_readers_keep_their_copy(small_run_copy):
    """Training chunk writes and publishes share one flock; a reader opened before keeps the old file."""
    import threading

    from landscape.storage import locked

    reader = Run(small_run_copy)
    losses = reader.final_loss
    with locked(small_run_copy):  # what write_chunk holds while it writes a chunk
        publish = threading.Thread(target=write_group, args=(small_run_copy, "late", {"x": np.arange(3)}))
        publish.start()
        publish.join(timeout=0.5)
        assert publish.is_alive()  # waiting for the lock, nothing written yet
        with Run(small_run_copy) as run:
            assert not run.has("late")
    publish.join(timeout=30)
    assert not publish.is_alive()
    with Run(small_run_copy) as run:
        assert run.has("late")
    assert not reader.has("late")  # the old inode, still whole
    np.testing.assert_array_equal(reader.final_loss, losses)
    reader.close()
