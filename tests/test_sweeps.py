"""Remedy sweeps: expansion into cells, per-cell studies, success statistics, the sweep file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import binomtest

from landscape.config import ConfigError, Study
from landscape.runner import StudyError, prepare, train_networks
from landscape.storage import Run
from landscape.sweeps import (
    SuccessSummary,
    expand_cells,
    format_table,
    load_sweep,
    read_summary,
    run_sweep,
    steps_to_success,
    success_mask,
    sweep_from_dict,
)
from landscape.training import Status

TINY = {"n_inits": 6, "train": {"steps": 40, "trajectory_points": 10}, "task": {"n_points": 32}}


def test_grid_mode_is_the_product_of_the_factors_in_file_order():
    sweep = sweep_from_dict(
        {"sweep": {"mode": "grid", "model.hidden": [[3], [4]], "model.activation": ["relu", "tanh", "elu"]}}
    )
    cells = expand_cells(sweep)
    assert len(cells) == 6
    expected = [(h, a) for h in ([3], [4]) for a in ("relu", "tanh", "elu")]
    assert [(c.study.model.hidden, c.study.model.activation) for c in cells] == expected
    assert [c.index for c in cells] == list(range(6))
    base = Study()
    for cell in cells:  # everything not swept is the base study's
        assert cell.study.replace(**{"model.hidden": [3], "model.activation": "relu", "name": base.name}) == base
        assert cell.settings == {
            "model.hidden": cell.study.model.hidden,
            "model.activation": cell.study.model.activation,
        }


def test_one_at_a_time_varies_each_factor_alone_around_the_base():
    data = {
        "n_inits": 32,
        "optimizer": {"learning_rate": 0.003},
        "sweep": {
            "model.activation": ["relu", "elu", "tanh"],  # relu is the base value: not repeated
            "optimizer.learning_rate": [0.001, 0.003],
            "train.dropout": [0.1],
        },
    }
    sweep = sweep_from_dict(data)
    cells = expand_cells(sweep)
    assert [c.label for c in cells] == [
        "base",
        "model.activation=elu",
        "model.activation=tanh",
        "optimizer.learning_rate=0.001",
        "train.dropout=0.1",
    ]
    base = sweep.base
    assert cells[0].study.replace(name=base.name) == base
    assert cells[1].study.replace(name=base.name) == base.replace(**{"model.activation": "elu"})
    assert cells[3].study.optimizer.learning_rate == 0.001 and cells[3].study.model.activation == "relu"
    assert cells[4].study.train.dropout == 0.1 and cells[4].study.n_inits == 32
    assert len({c.study.name for c in cells}) == len(cells)


def test_table_values_toml_dotted_keys_and_bare_widths(tmp_path):
    path = tmp_path / "sweep.toml"
    path.write_text(
        'name = "s"\n[optimizer]\nname = "adam"\nlearning_rate = 0.01\n[optimizer.schedule]\nname = "cosine_decay"\n'
        '[sweep]\nmode = "grid"\nmodel.hidden = [3, 5]\n'
        'optimizer = [{name = "sgd", learning_rate = 0.1}, {name = "adam"}]\n'
    )
    cells = expand_cells(load_sweep(path))
    assert [c.study.model.hidden for c in cells] == [[3], [3], [5], [5]]
    assert [(c.study.optimizer.name, c.study.optimizer.learning_rate) for c in cells] == [
        ("sgd", 0.1),
        ("adam", 0.01),
    ] * 2
    assert all(
        c.study.optimizer.schedule.name == "cosine_decay" for c in cells
    )  # fields a table value does not set stay


@pytest.mark.parametrize(
    ("sweep", "needle"),
    [
        ({"model.hiden": [[3]]}, "model.hiden"),
        ({"model.activation": ["relu", "swish"]}, "sweep.model.activation[1]"),
        ({"mode": "random"}, "sweep.mode"),
        ({"model.activation": "relu"}, "sweep.model.activation: expected a list"),
        ({"success_loss": -1, "model.activation": ["relu"]}, "sweep.success_loss"),
        ({}, "no factors"),
    ],
)
def test_invalid_sweeps_name_the_field(sweep, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[").replace("]", r"\]")):
        sweep_from_dict({"sweep": sweep})


def test_missing_sweep_table_and_invalid_combinations():
    with pytest.raises(ConfigError, match=r"\[sweep\]"):
        sweep_from_dict({"name": "x"})
    # each value is valid alone, the combination is not: batch larger than the dataset
    with pytest.raises(ConfigError, match="cell .*train.batch_size"):
        sweep_from_dict({"sweep": {"mode": "grid", "task.n_points": [64, 1024], "train.batch_size": [0, 128]}})


def test_success_fractions_and_wilson_intervals_on_known_counts():
    for k, n in ((7, 20), (0, 16), (16, 16), (120, 256)):
        success = np.zeros(n, bool)
        success[:k] = True
        summary = SuccessSummary.of(success)
        reference = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert (summary.successes, summary.n) == (k, n)
        assert summary.fraction == pytest.approx(k / n)
        assert summary.ci_low == pytest.approx(reference.low, abs=1e-12)
        assert summary.ci_high == pytest.approx(reference.high, abs=1e-12)
    # the textbook value for 7 of 20 (Wilson 1927; Newcombe 1998): [0.1812, 0.5671]
    summary = SuccessSummary.of(np.arange(20) < 7)
    assert (round(summary.ci_low, 4), round(summary.ci_high, 4)) == (0.1812, 0.5671)


def test_success_mask_and_steps_to_success():
    loss = np.array([1e-3, 5e-2, np.nan, 1e-4, 2e-3])
    status = np.array([Status.MAX_STEPS, Status.CONVERGED, Status.DIVERGED, Status.DIVERGED, Status.CONVERGED])
    np.testing.assert_array_equal(success_mask(loss, status, 1e-2), [True, False, False, False, True])
    record = np.array([0, 1, 3, 7, 15])
    trajectory = np.array(
        [[1.0, 0.5, 0.009, 0.001, 0.001], [1.0, 1.0, 1.0, 1.0, 1.0], [0.005, 0.005, 0.005, 0.005, 0.005]]
    )
    np.testing.assert_array_equal(steps_to_success(trajectory, record, 1e-2), [3.0, np.nan, 0.0])
    summary = SuccessSummary.of(np.array([True, False, True]), steps_to_success(trajectory, record, 1e-2))
    assert summary.median_steps == 1.5


def test_run_sweep_stores_every_cell_and_its_table(tmp_path):
    sweep = sweep_from_dict(
        {**TINY, "sweep": {"mode": "grid", "model.activation": ["relu", "tanh"], "success_loss": 0.05}}
    )
    cells = expand_cells(sweep)
    fake_labels = lambda prepared, result: np.where(np.asarray(result.final_loss) < 0.05, "pyramid", "valley")  # noqa: E731
    path, table = run_sweep(sweep, tmp_path / "sweep.h5", classify=fake_labels)

    # per-cell results equal training that cell's study on its own
    _, alone = train_networks(prepare(cells[1].study), np.arange(6))
    with Run(path) as run:
        assert run.complete and run.study.replace(name="x") == cells[0].study.replace(name="x")
        stored = {i: run.group(f"sweep/cells/{i}") for i in range(2)}
        np.testing.assert_array_equal(run.final_loss, stored[0]["train"]["final_loss"])  # root = cell 0
    np.testing.assert_allclose(stored[1]["train"]["final_loss"], alone.final_loss, rtol=1e-6)
    for i, cell in enumerate(cells):
        assert json.loads(stored[i]["config_json"]) == json.loads(cell.study.to_json())
        assert json.loads(stored[i]["settings"]) == cell.settings
        loss = stored[i]["train"]["final_loss"]
        assert table["successes"][i] == np.sum(loss < 0.05)
        assert table["median_final_loss"][i] == pytest.approx(np.median(loss))
    # the ReLU cell is labelled, the tanh cell is not
    assert "types" in stored[0] and "types" not in stored[1]
    names = json.loads(stored[0]["types"]["label_names"])
    counts = dict(zip(table["type_names"], table["type_counts"][0]))
    assert sum(counts.values()) == 6 and np.all(table["type_counts"][1] == -1)
    assert table["still_moving"].tolist() == [0, -1]
    assert counts.get("pyramid", 0) == np.sum(np.array(names)[stored[0]["types"]["label"]] == "pyramid")

    # the stored summary reads back as the in-memory one
    back = read_summary(path)
    for key in ("successes", "n", "fraction", "ci_low", "ci_high", "type_counts", "still_moving", "median_final_loss"):
        np.testing.assert_array_equal(back[key], table[key])
    assert back["settings"] == table["settings"] and back["success_loss"] == 0.05
    markdown = format_table(back)
    assert markdown.count("\n") == 1 + len(cells) and "model.activation=tanh" in markdown


def test_sweep_plots_have_a_panel_per_factor():
    from landscape.plots.sweeps import factor_points, success_by_factor_figure, type_breakdown_figure
    from landscape.stats import wilson_interval

    table = {
        "mode": "one_at_a_time",
        "factors": {"model.hidden": [[3], [8]], "train.dropout": [0.0, 0.1]},
        "factor_base": {"model.hidden": [3], "train.dropout": 0.0},
        "settings": [{}, {"model.hidden": [8]}, {"train.dropout": 0.1}],
        "successes": np.array([10, 30, 12]),
        "n": np.array([40, 40, 40]),
        "success_loss": 0.01,
        "type_counts": np.array([[10, 20, 10], [30, 5, 5], [-1, -1, -1]]),
        "type_names": ["pyramid", "valley", "dead"],
        "label": np.array(["base", "model.hidden=8", "train.dropout=0.1"]),
    }
    assert factor_points(table, "model.hidden") == [("3", 10, 40, True), ("8", 30, 40, False)]
    fig = success_by_factor_figure(table, lambda k, n: tuple(float(v) for v in wilson_interval(k, n)))
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 2
    assert len(type_breakdown_figure(table).axes[0].patches) == 3 * 2  # 3 types x 2 ReLU cells


def test_sweep_command_end_to_end(tmp_path, capsys):
    from landscape.cli import main

    path = tmp_path / "tiny.toml"
    path.write_text(
        'name = "tiny"\nn_inits = 4\n[task]\nn_points = 32\n[train]\nsteps = 30\ntrajectory_points = 8\n[sweep]\nsuccess_loss = 0.05\n"train.dropout" = [0.0, 0.1]\n'
    )
    out, figures = tmp_path / "tiny.h5", tmp_path / "figs"
    assert (
        main(
            [
                "sweep",
                str(path),
                "--out",
                str(out),
                "--figures",
                str(figures),
                "--quiet",
                "--markdown",
                str(tmp_path / "t.md"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "finite and < 0.05 in every cell" in printed and "train.dropout=0.1" in printed
    assert (figures / "tiny-success.png").exists() and (figures / "tiny-types.png").exists()
    assert read_summary(out)["n"].tolist() == [4, 4]
    with Run(out) as run:  # the real classifier stores types and shapes of the ReLU cells
        types = run.group("sweep/cells/0/types")
        assert {"label", "label_names", "shape", "shape_names"} <= set(types)
        assert types["shape"].shape == (4,)
    # --replot redraws from the file without training and prints the same table
    assert main(["sweep", str(path), "--out", str(out), "--figures", str(tmp_path / "again"), "--replot"]) == 0
    replotted = capsys.readouterr().out
    assert printed.split("\n")[2:5] == replotted.split("\n")[2:5] and (tmp_path / "again" / "tiny-success.png").exists()
    # an existing file is kept unless --overwrite; a bad file is one clear error (exit 2)
    assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 2
    path.write_text('[sweep]\nmode = "sideways"\n"model.hidden" = [[3]]\n')
    assert main(["sweep", str(path), "--out", str(tmp_path / "other.h5")]) == 2
    assert "sweep.mode" in capsys.readouterr().err


def test_an_interrupted_sweep_keeps_its_finished_cells_and_resume_runs_only_the_rest(tmp_path, monkeypatch):
    import landscape.sweeps as sweeps

    sweep = sweep_from_dict(
        {**TINY, "sweep": {"mode": "grid", "model.activation": ["relu", "tanh", "elu"], "success_loss": 0.05}}
    )
    real, ran = sweeps.run_cell, []

    def interrupted(cell, *args, **kwargs):
        if cell.index == 2:
            raise KeyboardInterrupt
        ran.append(cell.index)
        return real(cell, *args, **kwargs)

    monkeypatch.setattr(sweeps, "run_cell", interrupted)
    path = tmp_path / "sweep.h5"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, path)
    with Run(path) as run:
        assert sorted(run.group("sweep/cells")) == ["0", "1"]
    with pytest.raises(StudyError, match="--resume"):
        run_sweep(sweep, path)

    def counted(cell, *args, **kwargs):
        ran.append(cell.index)
        return real(cell, *args, **kwargs)

    monkeypatch.setattr(sweeps, "run_cell", counted)
    _, resumed = run_sweep(sweep, path, resume=True)
    assert ran == [0, 1, 2]  # cells 0 and 1 were not trained again
    _, whole = run_sweep(sweep, tmp_path / "whole.h5")
    for key in ("cell", "successes", "n", "fraction", "median_final_loss"):
        np.testing.assert_array_equal(resumed[key], whole[key], err_msg=key)
    other = sweep_from_dict(
        {
            **TINY,
            "seed": 99,
            "sweep": {"mode": "grid", "model.activation": ["relu", "tanh", "elu"], "success_loss": 0.05},
        }
    )
    with pytest.raises(StudyError, match="other settings"):
        run_sweep(other, path, resume=True)
