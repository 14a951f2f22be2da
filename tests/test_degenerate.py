"""Degenerate studies through every analysis command: an answer or one line saying why not, never a traceback.

The four studies every command must survive (see the notes on the shared core): every network
diverged, every network identical, a single network, and every network at the same loss (distinct
parameters, hidden units dead everywhere, so only the shared output bias learns). Each is trained
once per module by ``landscape run`` itself; each command then runs in-process on a private copy.
Exit 0, or exit 2 with a one-line reason where the analysis cannot apply (``paths`` needs two
distinct points); exit 1 (an internal error) or a traceback fails.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from landscape import Run
from tests.test_fuzz import COMMANDS, assert_one_line_failure, cheap_options, run_command

BASE = ["--steps", "60", "--set", "task.n_points=32", "--set", "train.trajectory_points=5", "--quiet", "--no-report"]
DEGENERATE = {
    "all diverged": ["--inits", "6", "--set", "optimizer.name=sgd", "--set", "optimizer.learning_rate=20"],
    "all identical": ["--inits", "6", "--set", "init.scale=0", "--set", "init.biases=zeros"],
    "one network": ["--inits", "1"],
    "same loss": ["--inits", "6", "--set", "init.biases=constant", "--set", "init.bias_value=-100"],
}
ANALYSES = ("classify", "hessian", "slice", "paths", "map", "report", "info")


@pytest.fixture(scope="module")
def degenerate_runs(tmp_path_factory):
    """``{case: (run file, exit code, stderr of landscape run)}``, trained once."""
    import os

    from landscape.cli import main

    folder = tmp_path_factory.mktemp("degenerate")
    here = os.getcwd()
    os.chdir(folder)  # landscape run's figures land here
    built = {}
    try:
        for case, argv in DEGENERATE.items():
            path = folder / f"{case.replace(' ', '-')}.h5"
            code = main(["run", *argv, *BASE, "--out", str(path)])
            built[case] = (path, code)
    finally:
        os.chdir(here)
    return built


@pytest.mark.parametrize("case", list(DEGENERATE))
def test_run_trains_the_degenerate_study(case, degenerate_runs):
    path, code = degenerate_runs[case]
    assert code == 0 and path.exists()
    with Run(path) as run:
        status, loss = run.status, run.final_loss
        if case == "all diverged":
            assert np.all(status == 2)
        elif case == "one network":
            assert run.n_inits == 1
        elif case == "all identical":
            params = run.final_params
            first = [np.asarray(layer["w"])[0] for layer in params]
            assert all(
                np.array_equal(np.asarray(layer["w"])[i], w) for layer, w in zip(params, first) for i in range(6)
            )
        elif case == "same loss":
            assert np.all(loss == loss[0]) and np.isfinite(loss[0])


@pytest.mark.parametrize("command", ANALYSES)
@pytest.mark.parametrize("case", list(DEGENERATE))
def test_every_analysis_survives_the_degenerate_study(case, command, degenerate_runs, tmp_path, capsys, monkeypatch):
    source, trained = degenerate_runs[case]
    if trained != 0:
        pytest.fail(f"landscape run failed on the {case} study")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LANDSCAPE_DEBUG", raising=False)
    path = tmp_path / source.name
    shutil.copy(source, path)
    parser = COMMANDS[command]
    argv = [command, str(path), *cheap_options(parser, tmp_path)]
    if command == "report":
        argv += ["--out", str(tmp_path / "report")]
    code, out, err = run_command(argv, capsys)
    assert_one_line_failure(command, code, err)
    if command == "report":
        assert code == 0, err
        page = (tmp_path / "report" / "index.html").read_text()
        assert 'class="error"' not in page, _first_error(page)  # every section and figure was built
        if case in ("all diverged", "one network"):  # no command is suggested that cannot apply
            finite = 0 if case == "all diverged" else 1
            assert f"Not applicable to this run: needs 3 finished networks with a finite loss, it has {finite}." in page
            assert f"landscape slice {path}" not in page
    if command == "info":
        assert code == 0 and "status:" in out


def _first_error(page: str) -> str:
    import re

    found = re.search(r'class="error">([^<]*)', page)
    return found.group(1) if found else ""
