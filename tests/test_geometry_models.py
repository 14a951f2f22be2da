"""Slices, paths and the map over any model (issue 13) and on partial or degenerate files (issue 15).

References: the bring-your-own teacher-student loss (Safran & Shamir 2018) evaluated directly by
``make_loss(study)`` in float64 at the very parameter point a grid cell stands for; the function a
network computes (alignment must not change it); hand-made degenerate files.
"""

from __future__ import annotations

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape import Run, run_study
from landscape.cli import main as cli_main
from landscape.examples.teacher_student import make_loss
from landscape.paths import PathsResult, barriers_run
from landscape.problem import problem_of
from landscape.slices import filter_normalise, plane_losses, read_slices, slice_run
from landscape.storage import unflatten_params

from .conftest import small_study


def _point(origin, axis_u, axis_v, alpha, beta):
    """``origin + alpha * axis_u + beta * axis_v`` from a slice's flat parameter dicts."""
    return unflatten_params({k: origin[k] + alpha * axis_u[k] + beta * axis_v[k] for k in origin})


def test_byo_slice_equals_the_loss_evaluated_directly_and_compiles_once(teacher_student_copy):
    with Run(teacher_student_copy) as run:
        study = run.study
        problem = problem_of(run)
        result = slice_run(run, ["0", "1", "2"], problem=problem, resolution=7)
        compiled = plane_losses._cache_size()
        again = slice_run(run, ["0", "1", "3"], problem=problem, resolution=7)
        assert plane_losses._cache_size() == compiled  # the same problem: nothing new compiled
        random = slice_run(run, ["3"], problem=problem, random=True, resolution=7)
        final = [run.params("final", i) for i in (0, 1, 2)]
    assert result.notes == [
        f"alignment skipped: the model is your own ({problem.model.name}); its symmetries are not known"
    ]
    assert not result.attrs["aligned"] and again.loss.shape == (7, 7)
    assert random.kind == "random" and random.point_loss[0] == pytest.approx(random.loss[3, 3], rel=1e-12)
    assert random.notes == ["filter normalisation: " + random.attrs["normalisation"]]
    with jax.enable_x64(True):
        loss = make_loss(study)
        x, y = jnp.zeros((0, study.task.dim), jnp.float64), jnp.zeros((0,), jnp.float64)
        assert result.loss.dtype == np.float64
        for j, i in [(0, 0), (3, 4), (6, 2)]:
            params = _point(result.origin, result.axis_u, result.axis_v, result.alpha[i], result.beta[j])
            reference = float(loss(jax.tree.map(jnp.asarray, params), x, y))
            assert result.loss[j, i] == pytest.approx(reference, rel=1e-12)
        for value, params in zip(result.point_loss, final):
            assert value == pytest.approx(float(loss(jax.tree.map(jnp.asarray, params), x, y)), rel=1e-12)
    np.testing.assert_allclose(result.point_loss_on_plane, result.point_loss, rtol=1e-10)
    result.write(teacher_student_copy)
    (back,) = read_slices(teacher_student_copy)
    np.testing.assert_array_equal(back.loss, result.loss)
    assert back.name == "plane-0-1-2" and back.notes == result.notes and back.origin.keys() == {"w"}


def test_byo_commands_slice_paths_map(teacher_student_copy, tmp_path, capsys):
    """The commands run the library functions (``slice_run``, ``barriers_run``, ``map_run``) on a
    model of one's own: no traceback, alignment skipped in one stored line, numbers checked."""
    from landscape.landscape_map import MapResult

    path, figures = str(teacher_student_copy), str(tmp_path / "figures")
    assert cli_main(["slice", path, "0", "1", "2", "--resolution", "7", "--figures", figures]) == 0
    paths_args = ["--bezier-steps", "20", "--path-points", "11", "--no-figures"]
    assert cli_main(["paths", path, "0", "1", "2", *paths_args]) == 0
    map_args = ["--images", "3", "--neb-steps", "4", "--bezier-steps", "0", "--no-figures"]
    assert cli_main(["map", path, "0", "1", *map_args]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("alignment skipped: the model is your own") == 3
    with Run(path) as run:
        study = run.study
        ends = [run.params("final", i) for i in (0, 1, 2)]
        result = MapResult.read(run)
        assert read_slices(run)[0].notes[0].startswith("alignment skipped")
        paths = PathsResult.read(run)
        assert PathsResult.read(run, "elsewhere") is None
    # paths: unaligned throughout, each number the loss evaluated directly, Bezier never above the line
    assert paths.notes[0].startswith("alignment skipped: the model is your own") and not paths.aligned
    np.testing.assert_array_equal(paths.barrier_aligned, paths.barrier_linear)
    assert not paths.straight_is_aligned.any() and paths.bezier["control"].keys() == {"w"}
    assert np.all(paths.bezier["barrier"] <= paths.bezier["barrier_linear"])
    with jax.enable_x64(True):
        loss = make_loss(study)
        x, y = jnp.zeros((0, study.task.dim), jnp.float64), jnp.zeros((0,), jnp.float64)
        own = [float(loss(jax.tree.map(jnp.asarray, p), x, y)) for p in ends]
    np.testing.assert_allclose(paths.endpoint_loss, own, rtol=1e-12)
    np.testing.assert_allclose(paths.profile_linear[0, 2][[0, -1]], [own[0], own[2]], rtol=1e-12)
    assert paths.stationarity["kind"].shape == (3,)
    # map: what holds only for the built-in MLP is skipped and said
    assert any(note.startswith("symmetry null space skipped") for note in result.notes)
    assert set(result["minima/type"]) == {""}  # no solution types for a model of one's own
    assert (tmp_path / "figures" / "slice-plane-0-1-2.png").exists()


def test_two_hidden_layer_mlp_aligned_slice_and_paths(tmp_path):
    from landscape.alignment import permute_units, rescale_units

    path = tmp_path / "deep.h5"
    study = small_study(**{"model.hidden": [4, 3], "n_inits": 4, "train.steps": 60, "task.n_points": 32})
    run_study(study, path, quiet=True)
    with Run(path) as run:
        net = run.params("final", 0)
    # network 1 becomes a known symmetry copy of network 0: both hidden layers permuted and rescaled
    copy = rescale_units(
        permute_units(net, [np.array([2, 0, 3, 1]), np.array([1, 2, 0])]), [np.full(4, 2.0), np.full(3, 0.5)]
    )
    with h5py.File(path, "r+") as f:
        for layer in range(3):
            for key in ("w", "b"):
                f[f"final/params/{layer}/{key}"][1] = copy[layer][key]
    with Run(path) as run:
        plane = slice_run(run, ["0", "2", "3"], resolution=5)
        paths = barriers_run(run, ["0", "1", "2"], bezier_steps=0, path_points=11)
    assert plane.attrs["aligned"] and plane.notes == []
    np.testing.assert_allclose(plane.point_loss_on_plane, plane.point_loss, rtol=1e-4)
    assert paths.aligned and "alignment skipped" not in " ".join(paths.notes)
    assert paths.distance_linear[0, 1] > 1.0 and paths.distance_aligned[0, 1] < 1e-5
    assert abs(paths.barrier_aligned[0, 1]) < 1e-5 and paths.straight_is_aligned[0, 1]
    for i, j in [(0, 2), (1, 2)]:  # the aligned end is a symmetry copy of j: the same loss
        assert paths.profile_aligned[i, j][-1] == pytest.approx(paths.endpoint_loss[j], rel=1e-4)


def test_filter_normalise_of_a_model_of_ones_own_scales_each_array():
    reference = {"w": jnp.arange(12.0).reshape(4, 3), "v": jnp.array([3.0, 4.0])}
    direction = jax.tree.map(lambda leaf: jnp.ones_like(leaf), reference)
    normalised = filter_normalise(direction, reference, bias_mode="zero")  # bias_mode: MLP layout only
    for key in reference:
        assert float(jnp.linalg.norm(normalised[key])) == pytest.approx(float(jnp.linalg.norm(reference[key])))


# ---------------------------------------------------------------------------------------------
# Partial and degenerate files: one line, never a traceback.


def _one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"landscape {command}: error:") and "\n" not in err, err
    return err


def test_incomplete_run_refused_unless_finished_only(tmp_path, capsys):
    path = tmp_path / "partial.h5"
    study = small_study(**{"n_inits": 8, "train.steps": 40, "task.n_points": 32, "train.chunk_size": 4})
    run_study(study, path, quiet=True, max_chunks=1)
    for command in (["slice", "0", "1", "2"], ["paths", "0", "1"], ["map", "0", "1"]):
        assert cli_main([command[0], str(path), *command[1:], "--no-figures"]) == 2
        assert "--finished-only" in _one_line_error(capsys, command[0])
    assert cli_main(["slice", str(path), "0", "1", "5", "--finished-only", "--no-figures"]) == 2
    assert "has not been trained yet" in _one_line_error(capsys, "slice")
    args = ["--finished-only", "--resolution", "5", "--no-figures"]
    assert cli_main(["slice", str(path), "0", "1", "2", *args]) == 0
    assert "incomplete run: analysed the 4 finished networks of 8" in capsys.readouterr().err
    (stored,) = read_slices(path)
    assert stored.notes == ["incomplete run: analysed the 4 finished networks of 8 (1 of 2 chunks not trained)"]


def test_all_diverged_and_identical_networks_are_one_line(small_run_copy, capsys):
    with h5py.File(small_run_copy, "r+") as f:  # networks 1 and 2 the same point as network 0
        for name in ("0/w", "0/b", "1/w", "1/b"):
            f[f"final/params/{name}"][1] = f[f"final/params/{name}"][0]
            f[f"final/params/{name}"][2] = f[f"final/params/{name}"][0]
    assert cli_main(["slice", str(small_run_copy), "0", "1", "2", "--no-figures"]) == 2
    assert "three distinct points" in _one_line_error(capsys, "slice")
    assert cli_main(["paths", str(small_run_copy), "1", "2", "--no-figures"]) == 2
    assert "two distinct points" in _one_line_error(capsys, "paths")
    with h5py.File(small_run_copy, "r+") as f:  # every network diverged
        f["train/status"][...] = 2
        f["train/final_loss"][...] = np.inf
    for command in ("slice", "paths", "map"):
        assert cli_main([command, str(small_run_copy), "--no-figures"]) == 2
        assert "found 0 usable default point" in _one_line_error(capsys, command)


def test_default_points_follow_the_type_order_and_are_topped_up(small_run_copy):
    from landscape.points import select_points
    from landscape.storage import write_group

    with Run(small_run_copy) as run:
        loss = run.final_loss
    order = [int(i) for i in np.argsort(loss)]
    dead, pyramid, diverged = order[5], order[9], order[-1]
    labels = np.zeros(loss.size, np.int64)  # every network "dead" but two
    labels[[pyramid, diverged]] = [1, 2]
    write_group(
        small_run_copy,
        "types",
        {
            "label": labels,
            "summary": {
                "names": np.array(["dead", "pyramid", "diverged"]),
                "representative": np.array([dead, pyramid, diverged]),
            },
        },
        {"label_names": '["dead", "pyramid", "diverged"]'},
    )
    with Run(small_run_copy) as run:
        three = select_points(run, None, 3, minimum=3)
        two = select_points(run, None, 8, minimum=2)
    # vocabulary.TYPE_ORDER: pyramid before dead; an outcome label (diverged) is never a default point
    assert two.specs == ["pyramid", "dead"] and two.notes == []
    assert three.specs == ["pyramid", "dead", str(order[0])]  # topped up with the lowest-loss other network
    assert three.notes == [
        f"2 solution type(s) with a usable representative: adding the lowest-loss finished network(s) {order[0]}"
    ]
    assert [p.index for p in three.points] == [pyramid, dead, order[0]]


def test_a_diverged_network_with_the_lowest_finite_loss_is_never_a_default_point(small_run_copy):
    """Usable = converged or out of steps with a finite loss; a DIVERGED network's last loss may be finite."""
    from landscape.points import default_point_specs, lowest_loss_networks, select_points
    from landscape.storage import write_group

    with Run(small_run_copy) as run:
        loss = run.final_loss
    order = [int(i) for i in np.argsort(loss)]
    diverged = order[0]  # the lowest loss of all, finite, but the network diverged
    with h5py.File(small_run_copy, "r+") as f:
        f["train/status"][diverged] = 2
    with Run(small_run_copy) as run:
        assert np.isfinite(run.final_loss[diverged]) and run.status[diverged] == 2
        assert lowest_loss_networks(run, 3) == order[1:4]
        assert lowest_loss_networks(run, 3, np.ones(loss.size, bool)) == order[1:4]  # even when told it is usable
        specs, note = default_point_specs(run, 3, np.ones(loss.size, bool))
        assert specs == [str(i) for i in order[1:4]] and "lowest-loss" in note
        selection = select_points(run, None, 3, minimum=3)
        assert [p.index for p in selection.points] == order[1:4]
    # with types: a type whose representative diverged is skipped, and the top-up skips it too
    labels = np.zeros(loss.size, np.int64)
    labels[order[1]] = 1
    write_group(
        small_run_copy,
        "types",
        {
            "label": labels,
            "summary": {"names": np.array(["dead", "pyramid"]), "representative": np.array([diverged, order[1]])},
        },
        {"label_names": '["dead", "pyramid"]'},
    )
    with Run(small_run_copy) as run:
        selection = select_points(run, None, 3, minimum=2)
    assert selection.specs == ["pyramid", str(order[2])]
    assert [p.index for p in selection.points] == [order[1], order[2]]
