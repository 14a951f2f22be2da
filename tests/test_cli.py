"""The command line: runs, summaries, and one-line errors with a non-zero exit and no file."""

from __future__ import annotations

import subprocess
import sys

import pytest

from landscape import Run
from landscape.cli import main


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--set", "model.activation=swish"], "model.activation"),
        (["run", "--inits", "-5"], "n_inits"),
        (["run", "--set", "nonsense=1"], "nonsense: unknown field"),
        (["run", "--set", "optimizer.name=adamz"], "optimizer.name"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_file(tmp_path, capsys, args, message):
    out = tmp_path / "bad.h5"
    assert main([*args, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_study_file_names_the_field(tmp_path, capsys):
    study = tmp_path / "s.toml"
    study.write_text("[train]\nsteps = -1\n")
    assert main(["run", str(study), "--out", str(tmp_path / "x.h5")]) == 2
    assert "train.steps" in capsys.readouterr().err


def test_info_on_a_foreign_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "x.h5"
    path.write_text("hello")
    assert main(["info", str(path)]) == 2
    assert "not a readable HDF5 file" in capsys.readouterr().err


def test_python_dash_m_and_help():
    result = subprocess.run([sys.executable, "-m", "landscape", "--help"], capture_output=True, text=True, check=True)
    for command in ("run", "info"):
        assert command in result.stdout


def test_help_and_argument_errors_do_not_load_jax():
    """Start-up stays fast: nothing heavy loads before the arguments are parsed."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from landscape.cli import main\n"
        "for argv in (['--help'], ['run', '--bogus'], ['hessian', '--help'], ['run', '--set', 'model.activation=swish']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = [m for m in ('jax', 'matplotlib', 'scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import landscape as ls\n"
        "assert 'jax' not in sys.modules\n"
        "assert ls.run_study.__module__ == 'landscape.runner' and ls.Run.__name__ == 'Run'\n"
        "assert set(ls.__all__) <= set(dir(ls))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_progress_is_plain_lines_when_stderr_is_not_a_terminal(tmp_path, capsys):
    from landscape import run_study
    from tests.conftest import small_study

    run_study(small_study(n_inits=8, **{"train.chunk_size": 4, "train.steps": 20}), tmp_path / "p.h5")
    err = capsys.readouterr().err
    assert "8/8 networks trained (100%)" in err
    assert "\r" not in err  # no progress bar redraws in a log file


def test_run_prints_its_summary_and_the_time_of_each_stage_then_info(tmp_path, capsys, monkeypatch):
    """One real ``landscape run`` (training, types, figures, report), then ``landscape info`` on its file."""
    monkeypatch.chdir(tmp_path)  # figures written by the run land here
    argv = ["run", "--inits", "6", "--steps", "40", "--set", "task.n_points=64", "--set", "train.trajectory_points=5"]
    assert main([*argv, "--out", "r.h5", "--quiet"]) == 0
    captured = capsys.readouterr()
    printed, err = captured.out, captured.err
    assert "6 networks" in printed and "network-steps/s" in printed and "converged" in printed
    line = next(line for line in err.splitlines() if line.startswith("stage times:"))
    for stage in ("training (compile included)", "types", "figures", "report", "after training"):
        assert stage in line, line
    assert sorted(p.name for p in (tmp_path / "figures" / "r").iterdir())[0] == ".run"
    assert not list((tmp_path / "figures" / "r").glob("*.svg"))  # run writes PNGs only
    with Run(tmp_path / "r.h5") as run:
        assert run.n_inits == 6 and run.study.train.steps == 40 and run.complete
    assert main(["info", str(tmp_path / "r.h5")]) == 0
    assert "complete" in capsys.readouterr().out


def test_a_damaged_file_is_one_line_in_a_real_process_and_debug_shows_the_traceback(tmp_path):
    """The installed entry point: exit 2 and one stderr line; LANDSCAPE_DEBUG=1 gives the traceback."""
    import os

    path = tmp_path / "noise.h5"
    path.write_bytes(bytes(range(256)) * 8)
    command = [sys.executable, "-m", "landscape", "info", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"landscape info: error: {path}: not a readable")
    env = {**os.environ, "LANDSCAPE_DEBUG": "1"}
    debug = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr
    assert "RunFileError" in debug.stderr.splitlines()[-1]
