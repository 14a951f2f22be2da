"""Solution types on other tasks, models, depths and on degenerate or incomplete runs (issues 13, 15).

Every run here is tiny (16 networks or fewer, a few dozen steps); the 2-3-1 runs share one data shape
so the diagnostics compile once.
"""

from __future__ import annotations

import json

import numpy as np

from landscape import Run, load_study, run_study
from landscape.cli import main
from landscape.solutions import Thresholds, TypesResult, classify_run, type_labels
from landscape.vocabulary import OUTCOME_TYPES
from tests.conftest import small_study

SHAPE_WORDS = {"dead", "constant", "ramp", "kinked_ramp", "ridge", "fold", "bowl"}
TINY = {"n_inits": 16, "train.steps": 40, "task.n_points": 64, "train.trajectory_points": 10}


def assert_same_types(found: TypesResult, expected: TypesResult) -> None:
    """Two typed results hold the same arrays (dtypes included), lines and settings (``seconds`` aside)."""
    for key in ("labels", "shapes", "finished"):
        np.testing.assert_array_equal(getattr(found, key), getattr(expected, key), err_msg=key)
    for part in ("summary", "networks", "units", "teacher", "clusters"):
        a, b = getattr(found, part), getattr(expected, part)
        assert (a is None) == (b is None), part
        assert set(a or {}) == set(b or {}), (part, set(a or {}) ^ set(b or {}))
        for key in a or {}:
            left, right = np.asarray(a[key]), np.asarray(b[key])
            assert left.dtype == right.dtype or left.dtype.kind == right.dtype.kind == "U", (part, key)
            np.testing.assert_array_equal(left, right, err_msg=f"{part}/{key}")
    assert found.skipped == expected.skipped and found.partial == expected.partial
    assert found.success_rule == expected.success_rule and found.thresholds == expected.thresholds
    drop = lambda attrs: {k: v for k, v in attrs.items() if k != "seconds"}  # noqa: E731
    assert drop(found.attrs) == drop(expected.attrs)


def stored(path):
    with Run(path) as run:
        group = run.group("types")
        attrs = dict(run._file["types"].attrs)
        return type_labels(run), group, attrs


def test_incomplete_run_is_refused_in_one_line_and_finished_only_keeps_not_run(tmp_path, capsys):
    path = tmp_path / "partial.h5"
    run_study(small_study(**TINY, **{"train.chunk_size": 8}), path, quiet=True, max_chunks=1)
    assert main(["classify", str(path), "--no-figures", "--no-clusters"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--finished-only" in err and "--resume" in err
    assert main(["classify", str(path), "--no-figures", "--finished-only"]) == 0
    out = capsys.readouterr().out
    assert "analysed the 8 finished networks of 16" in out
    labels, group, attrs = stored(path)
    with Run(path) as run:
        unfinished = run.status < 0
    assert unfinished.sum() == 8
    assert set(labels[unfinished]) == {"not_run"}  # never relabelled diverged (the old code did)
    assert not set(labels[~unfinished]) & {"not_run"}
    summary = group["summary"]
    assert int(summary["count"].sum()) == 8 and "not_run" not in list(summary["names"])
    np.testing.assert_allclose(summary["fraction"].sum(), 1.0)  # fractions over the finished networks
    assert "8 finished networks of 16" in attrs["partial"]
    assert group["clusters"]["assignment"][unfinished].tolist() == [-1] * 8
    # the typed result: write -> read gives back what was computed, stamped with the training state
    with Run(path) as run:
        fresh = classify_run(run, Thresholds(merge=0.07), finished_only=True, sample_size=8)
        state = run.training_state
    assert fresh.training_state is None and fresh.partial == attrs["partial"]
    fresh.write(path)
    back = TypesResult.read(path)
    assert_same_types(back, fresh)
    assert back.training_state == state and back.thresholds.merge == 0.07
    assert back.representatives == fresh.representatives and set(back.fractions) == set(back.names)
    assert back.notes[0] == fresh.partial and back.finished_labels.shape == (8,)


def test_all_diverged_run_classifies_stores_and_draws_without_exception(tmp_path, capsys):
    path = tmp_path / "diverged.h5"
    study = small_study(**TINY, **{"optimizer.name": "sgd", "optimizer.learning_rate": 20.0})
    run_study(study, path, quiet=True)
    figures = tmp_path / "figs"
    assert main(["classify", str(path), "--figures", str(figures)]) == 0
    out = capsys.readouterr().out
    assert "clustering skipped: fewer than 2 distinct" in out
    labels, group, _ = stored(path)
    assert set(labels) == {"diverged"}
    assert (figures / "type_fractions.png").exists() and (figures / "loss_curves_by_type.png").exists()


def test_teacher_task_uses_shape_words_and_reports_recovery(tmp_path, capsys):
    path = tmp_path / "teacher.h5"
    study = small_study(**TINY, **{"task.name": "teacher", "task.teacher_width": 3})
    run_study(study, path, quiet=True)
    assert main(["classify", str(path), "--no-figures", "--no-clusters"]) == 0
    out = capsys.readouterr().out
    assert "teacher recovery (Hungarian match" in out and "success: final loss <" in out
    labels, group, _ = stored(path)
    assert not set(labels) & {"pyramid", "diamond", "valley", "wedge", "bent_ramp"}  # the default task's names
    assert {label.removesuffix("_misfit") for label in labels} <= SHAPE_WORDS | set(OUTCOME_TYPES)
    error = group["teacher"]["error"]
    assert error.shape == (16,) and np.all((error >= 0) & (error <= 2))
    with Run(path) as run:  # what the command stored is what the library computes
        assert_same_types(TypesResult.read(run), classify_run(run, cluster=False))


def test_xor_perfect_solution_is_a_successful_ridge_not_a_valley(tmp_path, capsys):
    path = tmp_path / "xor.h5"
    study = load_study("runs/xor.toml").replace(n_inits=32, **{"train.steps": 400, "train.trajectory_points": 10})
    run_study(study, path, quiet=True)
    assert main(["classify", str(path), "--no-figures", "--no-clusters"]) == 0
    out = capsys.readouterr().out
    assert "task 'xor': shape words" in out
    labels, group, _ = stored(path)
    with Run(path) as run:
        loss = run.final_loss
    perfect = loss < 1e-8
    assert perfect.any()  # this seed finds the exact XOR solution relu(x0 - x1 - 1) + relu(x1 - x0 - 1) ...
    assert "valley" not in set(labels)
    assert set(labels[perfect]) <= {"ridge", "unconverged"} and "ridge" in set(labels[perfect])
    assert group["success"][perfect].all()
    summary = group["summary"]
    ridge = list(summary["names"]).index("ridge")
    assert summary["success"][ridge] == 1.0 and summary["r_squared"][ridge] > 0.999


def test_deeper_mlp_gets_shape_words_and_dead_like_depth_one(tmp_path, capsys):
    import jax

    from landscape.solutions import classify_networks

    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (64, 2))

    def deep(second_bias):
        return [
            {"w": np.array([[1.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]), "b": np.zeros(4)},
            {"w": np.ones((4, 3)), "b": np.full(3, second_bias)},
            {"w": np.ones((3, 1)), "b": np.array([0.5])},
        ]

    # second layer all dead (bias -10) vs alive: each second-layer unit is |x0| + relu(x1) >= 0, so the
    # function is 3 (|x0| + relu(x1)) + 0.5: two-sided along x0, one-sided along x1, a fold
    nets = [deep(-10.0), deep(0.0)] * 8  # 16 networks: the shapes of the run below, so one compile serves both
    batch = jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *nets)
    result = classify_networks(batch, x, np.zeros(16), np.zeros(16, np.int8), target_scale=1.0)
    assert result["label"][0] == "dead"  # depth 1 says dead for this too; the old code said "constant"
    np.testing.assert_array_equal(result["layer_dead"][0], [1, 3])  # unit 3 of layer 1 has w = 0, b = 0
    np.testing.assert_array_equal(result["layer_dead"][1], [1, 0])
    assert result["label"][1] == "fold"
    # the whole path: a tiny hidden=[4, 3] run through the CLI and from Python
    path = tmp_path / "deep.h5"
    run_study(small_study(**TINY, **{"model.hidden": [4, 3]}), path, quiet=True)
    assert main(["classify", str(path), "--no-figures", "--no-clusters"]) == 0
    out = capsys.readouterr().out
    assert "canonical units, faces and the default task's names skipped: the MLP has 2 hidden layers" in out
    with Run(path) as run:
        types = classify_run(run, cluster=False)
    assert {label.removesuffix("_misfit") for label in types.labels} <= SHAPE_WORDS | set(OUTCOME_TYPES)
    assert types.networks["layer_significant"].shape == (16, 2) and types.units is None


def test_bring_your_own_teacher_student_classifies_from_its_function(tmp_path, capsys):
    path = tmp_path / "byo.h5"
    study = load_study("runs/teacher_student.toml").replace(
        n_inits=8, **{"train.steps": 30, "train.trajectory_points": 5}
    )
    run_study(study, path, overwrite=True, quiet=True)
    assert main(["classify", str(path), "--no-figures", "--sample", "8"]) == 0
    out = capsys.readouterr().out
    assert "Traceback" not in out
    assert "unit diagnostics (dead / significant units, default names) skipped: the model is your own" in out
    assert "teacher recovery skipped" in out and "(task.success_loss)" in out
    assert "embedding: predictions on" in out  # clusters on the model's own predictions
    _, group, attrs = stored(path)
    assert any("the model is your own" in line for line in json.loads(attrs["skipped"]))
    with Run(path) as run:
        types = classify_run(run, cluster=False)
    dim = study.task.dim
    assert set(types.shapes) <= SHAPE_WORDS | {f"rank{r}" for r in range(3, dim + 1)}
    arrays, _ = types.group_arrays()
    assert "units" not in arrays and arrays["gradient_spectrum"].shape == (8, dim)


def test_model_without_apply_skips_shapes_and_clusters_on_parameters(small_run_path):
    import dataclasses

    from landscape.problem import problem_of

    with Run(small_run_path) as run:
        model = problem_of(run).model
        types = classify_run(run, model=dataclasses.replace(model, apply=None), sample_size=64)
    assert types.skipped[0].startswith("shape types skipped: the model") and "no apply" in types.skipped[0]
    assert set(types.labels) <= {"unclassified", *OUTCOME_TYPES}
    assert types.embedding.startswith("raw parameters and log final loss")
    assert types.clusters["assignment"].shape == (64,) and types.units is None
