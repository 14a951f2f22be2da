"""Task-aware success (runner.summarize, sweeps, basins), any model, stale analyses, degenerate studies."""

from __future__ import annotations

import json

import numpy as np
import pytest

from landscape.basins import solution_types
from landscape.config import load_study, study_to_dict
from landscape.problem import problem_of_study
from landscape.runner import format_summary, run_study, summarize
from landscape.storage import Run, write_group
from landscape.sweeps import run_sweep, sweep_from_dict
from tests.conftest import small_study

TINY = {"n_inits": 6, "train.steps": 60, "task.n_points": 16, "train.trajectory_points": 8}


def _teacher_student(**overrides):
    """The BYO teacher-student study (runs/teacher_student.toml), tiny: n = k = 3 in 3 dimensions."""
    base = {
        "n_inits": 4,
        "train.steps": 40,
        "train.trajectory_points": 8,
        "task.dim": 3,
        "task.teacher_width": 3,
        "model.hidden": [3],
    }
    return load_study("runs/teacher_student.toml").replace(**{**base, **overrides})


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("success") / "tiny.h5"
    run_study(small_study(**TINY), path, quiet=True)
    return path


def test_default_threshold_is_a_tenth_of_the_constant_predictors_loss(tiny_run):
    with Run(tiny_run) as run:
        summary = summarize(run)
        y, loss, status = np.asarray(run.y, float), run.final_loss, run.status
    constant = float(np.mean((y - y.mean()) ** 2))  # the best constant predicts the mean
    assert summary["success_loss"] == pytest.approx(0.1 * constant, rel=1e-5)
    succeeded = np.isfinite(loss) & (loss < 0.1 * constant) & (status != 2)
    assert summary["fraction_succeeding"] == pytest.approx(succeeded.mean())
    assert summary["median_r_squared"] == pytest.approx(np.median(1 - loss / constant), rel=1e-5)
    text = format_summary(summary, "tiny")
    assert "a tenth of the constant predictor's loss" in text and "median R²" in text


def test_task_success_loss_overrides_the_default(tiny_run):
    study = small_study(**TINY, **{"task.success_loss": 0.05})
    with Run(tiny_run) as run:
        summary = summarize(run, problem_of_study(study))
        loss = run.final_loss
    assert summary["success_loss"] == 0.05 and "task.success_loss" in summary["success_rule"]
    assert summary["fraction_succeeding"] == pytest.approx(np.mean(loss < 0.05))


def test_teacher_threshold_follows_the_teachers_scale():
    problem = problem_of_study(
        load_study("runs/teacher.toml").replace(**{"task.n_points": 64, "task.success_loss": 0.0})
    )
    y = np.asarray(problem.y, float)
    assert problem.success_loss == pytest.approx(0.1 * np.var(y), rel=1e-6)
    # the same rule on another scale of the same target: the threshold scales with the target's variance
    scaled = problem_of_study(
        load_study("runs/teacher.toml").replace(**{"task.n_points": 64, "task.dim": 1, "task.success_loss": 0.0})
    )
    assert scaled.success_loss == pytest.approx(0.1 * np.var(np.asarray(scaled.y, float)), rel=1e-6)
    assert scaled.success_loss != pytest.approx(problem.success_loss, rel=0.1)


def test_interrupted_run_summary_counts_networks_not_run_apart(tmp_path, capsys, monkeypatch):
    import landscape.runner as runner
    from landscape.cli import main

    original, calls = runner.train_chunk, []

    def interrupted_after_one_chunk(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(runner, "train_chunk", interrupted_after_one_chunk)
    path = tmp_path / "part.h5"
    args = ["run", "--inits", "6", "--steps", "60", "--chunk-size", "2", "--set", "task.n_points=16"]
    assert main([*args, "--out", str(path), "--quiet"]) == 130
    printed = capsys.readouterr().out
    assert "not_run 4" in printed and "4 of 6 networks not run yet" in printed and "of 2 trained networks" in printed
    with Run(path) as run:
        summary = summarize(run)
        status = run.status
    assert summary["n_not_run"] == 4 and summary["n_trained"] == 2
    assert summary["status_counts"]["diverged"] == int(np.sum(status == 2))  # not-run networks are not diverged


def test_sweep_on_the_bring_your_own_teacher_student_study(tmp_path):
    study = _teacher_student()
    sweep = sweep_from_dict({**study_to_dict(study), "sweep": {"task.success_loss": [0.0]}})
    out, table = run_sweep(sweep, tmp_path / "sweep.h5", classify=solution_types)
    # cell 0: task.success_loss = 1e-6 (the study's); cell 1: none set and the loss is the study's own: undefined
    assert table["threshold"][0] == 1e-6 and np.isnan(table["threshold"][1])
    assert np.isnan(table["fraction"][1]) and any("not defined" in note for note in table["notes"])
    assert any("solution types" in note for note in table["notes"])  # the model is not the built-in MLP
    with Run(out) as run:
        cell = run.group("sweep/cells/0")
        assert run.attrs["model"] != "mlp"
    assert float(cell["success_loss"]) == 1e-6
    assert int(cell["successes"]) == int(np.sum(cell["train"]["final_loss"] < 1e-6))
    from landscape.sweeps import format_table

    assert "undefined" in format_table(table)


def test_basins_on_the_bring_your_own_teacher_student_study(tmp_path, capsys):
    from landscape.cli import main

    study = _teacher_student(**{"task.success_loss": 0.05})
    path = tmp_path / "basins.toml"
    path.write_text(study.to_toml() + '\n[basins]\ngrid = 3\ndirections = ["filter", "random"]\nspan = [0.5, 0.5]\n')
    out = tmp_path / "ts.h5"
    assert main(["basins", str(path), "--out", str(out), "--figures", str(tmp_path / "figs"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "per parameter leaf" in printed and "succeeding:" in printed  # filter: the model's units are not known
    with Run(out) as run:
        group = run.group("basins")
    np.testing.assert_array_equal(group["success"], group["final_loss"] < 0.05)
    assert float(group["success_loss"]) == 0.05 and str(group["classifier"]).startswith("final loss only")
    assert set(json.loads(group["label_names"])) <= {"fit", "misfit", "diverged"}
    # a rotation needs the built-in MLP's units: one line, not a traceback
    path.write_text(study.to_toml() + '\n[basins]\ngrid = 3\ndirections = ["rotate", "random"]\n')
    assert main(["basins", str(path), "--out", str(out), "--quiet"]) == 2
    assert "built-in MLP" in capsys.readouterr().err


def test_resume_recomputes_stale_types_and_lists_other_stale_analyses(tmp_path, capsys, monkeypatch):
    from landscape.cli import main
    from landscape.commands import classify

    monkeypatch.setattr(classify, "write_type_figures", lambda *args, **kwargs: [])  # figures: not this test's
    path = tmp_path / "stale.h5"
    run_study(small_study(**TINY, **{"train.chunk_size": 3}), path, quiet=True, max_chunks=1)
    write_group(path, "types", {"label": np.zeros(6, np.int8)}, {"note": "from the first chunk"})
    write_group(path, "hessian", {"eigenvalues": np.zeros(3)})
    with Run(path) as run:
        assert run.analysis_state("types") == "current"
    assert main(["run", "--resume", "--out", str(path), "--no-report", "--quiet"]) == 0
    printed = capsys.readouterr().out
    with Run(path) as run:
        assert run.complete and run.analysis_state("types") == "current" and "note" not in run.group("types")
        assert run.stale_analyses() == ["hessian"]
    assert "recomputed /types" in printed
    assert f"/hessian (landscape hessian {path})" in printed


def test_all_diverged_study_runs_to_the_end(tmp_path, capsys):
    from landscape.cli import main

    out = tmp_path / "diverged.h5"
    args = ["run", "--inits", "4", "--steps", "40", "--set", "task.n_points=16", "--set", "optimizer.name=sgd"]
    args += ["--set", "optimizer.learning_rate=20", "--out", str(out), "--no-report", "--quiet"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert "all diverged" in captured.out and "succeeding: 0.000" in captured.out
    with Run(out) as run:
        assert run.complete and (run.status == 2).all()


def test_single_network_study_runs_to_the_end(tmp_path, capsys):
    from landscape.cli import main

    out = tmp_path / "one.h5"
    args = ["run", "--inits", "1", "--steps", "40", "--set", "task.n_points=16", "--out", str(out), "--no-report"]
    assert main([*args, "--no-classify", "--quiet", "--json"]) == 0
    captured = capsys.readouterr()
    assert '"n_inits": 1' in captured.out and "one network" in captured.out and "Traceback" not in captured.err
