"""Basin maps: the plane of inits, the trained grid, label statistics, the stored group."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape.basins import (
    Axis,
    BasinsConfig,
    apply_axis,
    basin_map,
    basin_statistics,
    basins_from_dict,
    basins_group,
    filter_normalized_direction,
    make_axes,
    plane_coordinates,
    plane_inits,
    plane_point,
    random_direction,
)
from landscape.config import ConfigError
from landscape.runner import prepare, run_study, train_networks
from landscape.storage import Run, write_group
from tests.conftest import small_study


def _base_params(seed: int = 0) -> list[dict[str, jax.Array]]:
    rng = np.random.default_rng(seed)
    return [
        {"w": jnp.asarray(rng.normal(size=(2, 3)), jnp.float32), "b": jnp.asarray(rng.normal(size=3), jnp.float32)},
        {"w": jnp.asarray(rng.normal(size=(3, 1)), jnp.float32), "b": jnp.asarray(rng.normal(size=1), jnp.float32)},
    ]


def test_directions_have_the_documented_norms():
    base = _base_params()
    filt = filter_normalized_direction(base, jax.random.PRNGKey(1))
    for layer, d in zip(base, filt):  # Li et al. 2018: each unit's incoming weights get its own norm
        np.testing.assert_allclose(np.linalg.norm(d["w"], axis=0), np.linalg.norm(layer["w"], axis=0), rtol=1e-5)
        np.testing.assert_array_equal(d["b"], 0.0)
    rand = random_direction(base, jax.random.PRNGKey(2))
    norm = lambda tree: np.sqrt(sum(float(np.sum(np.square(leaf))) for leaf in jax.tree.leaves(tree)))  # noqa: E731
    assert norm(rand) == pytest.approx(norm(base), rel=1e-5)


def test_rotation_and_output_scaling_axes():
    base = _base_params()
    turned = apply_axis(base, Axis("rotate", unit=1), jnp.float32(np.pi / 2))
    w, w_new = np.asarray(base[0]["w"]), np.asarray(turned[0]["w"])
    np.testing.assert_allclose(w_new[:, 1], [-w[1, 1], w[0, 1]], atol=1e-6)  # (x, y) -> (-y, x)
    np.testing.assert_array_equal(w_new[:, [0, 2]], w[:, [0, 2]])
    np.testing.assert_array_equal(turned[0]["b"], base[0]["b"])
    scaled = apply_axis(base, Axis("output_scale"), jnp.float32(1.0))
    np.testing.assert_allclose(scaled[1]["w"], 2 * np.asarray(base[1]["w"]))
    np.testing.assert_array_equal(scaled[1]["b"], base[1]["b"])
    np.testing.assert_array_equal(base[0]["w"], w)  # the caller's params are untouched


def test_plane_inits_match_a_loop_over_grid_points():
    base = _base_params()
    config = BasinsConfig(grid=5, directions=["filter", "rotate"], span=[1.0, 3.0], units=[0, 2])
    axes = make_axes(base, config)
    coords_a, coords_b = plane_coordinates(config)
    batched = plane_inits(base, axes, coords_a, coords_b)
    for i, b in enumerate(coords_b):
        for j, a in enumerate(coords_a):
            one = plane_point(base, axes, jnp.float32(a), jnp.float32(b))
            for got, want in zip(jax.tree.leaves(batched), jax.tree.leaves(one)):
                np.testing.assert_allclose(got[i * 5 + j], want, rtol=1e-6, atol=1e-7)
    centre = jax.tree.map(lambda leaf: leaf[12], batched)  # the origin is the base init, exactly
    for got, want in zip(jax.tree.leaves(centre), jax.tree.leaves(base)):
        np.testing.assert_array_equal(got, want)


def test_basin_map_origin_equals_training_that_init_alone():
    study = small_study(**{"n_inits": 4, "train.steps": 150, "task.n_points": 64})
    prepared = prepare(study)
    config = BasinsConfig(base_index=2, grid=3, directions=["random", "output_scale"], span=[0.5, 0.5])
    result = basin_map(
        prepared, config, classify=lambda prep, res: np.where(np.asarray(res.final_loss) < 0.05, "pyramid", "valley")
    )
    init_alone, alone = train_networks(prepared, np.array([2]))
    for got, want in zip(
        jax.tree.leaves(jax.tree.map(lambda leaf: leaf[4], result.init_params)), jax.tree.leaves(init_alone)
    ):
        np.testing.assert_array_equal(got, want[0])
    assert result.final_loss[1, 1] == pytest.approx(float(alone.final_loss[0]), rel=1e-5)
    assert result.status[1, 1] == alone.status[0]
    for got, want in zip(
        jax.tree.leaves(jax.tree.map(lambda leaf: leaf[4], result.final_params)), jax.tree.leaves(alone.final_params)
    ):
        np.testing.assert_allclose(got, want[0], rtol=1e-4, atol=1e-6)
    # other points are trained from other inits and with the base network's training key
    assert not np.allclose(result.final_loss, result.final_loss[1, 1])
    assert result.label.shape == (3, 3) and set(result.label_names) <= {"pyramid", "valley"}
    np.testing.assert_allclose(result.statistics["fractions"].sum(), 1.0)


def test_float64_basin_map_stays_float64_inside_a_scoped_x64():
    study = small_study(**{"n_inits": 4, "train.steps": 100, "task.n_points": 64, "train.dtype": "float64"})
    prepared = prepare(study)
    config = BasinsConfig(base_index=1, grid=3, directions=["random", "output_scale"], span=[0.5, 0.5])
    result = basin_map(prepared, config, classify=lambda prep, res: np.full(len(res.final_loss), "fit"))
    assert not jax.config.jax_enable_x64  # the float64 study did not switch x64 on for the process
    assert result.final_loss.dtype == np.float64
    assert all(leaf.dtype == np.float64 for leaf in jax.tree.leaves(result.final_params))
    _, alone = train_networks(prepared, np.array([1]))
    assert result.final_loss[1, 1] == pytest.approx(float(alone.final_loss[0]), rel=1e-12)


def _boundary_by_loop(codes: np.ndarray, n_types: int) -> np.ndarray:
    edges = np.zeros((n_types, n_types), int)
    rows, cols = codes.shape
    for i in range(rows):
        for j in range(cols):
            for di, dj in ((0, 1), (1, 0)):
                if i + di < rows and j + dj < cols and codes[i, j] != codes[i + di, j + dj]:
                    edges[codes[i, j], codes[i + di, j + dj]] += 1
                    edges[codes[i + di, j + dj], codes[i, j]] += 1
    return edges


def test_basin_statistics_on_known_maps():
    half = np.zeros((3, 3), int)
    half[:, 0] = 1  # a straight boundary between column 0 and column 1: 3 edges of 12
    stats = basin_statistics(half, 2, spacing=(0.5, 2.0))
    np.testing.assert_allclose(stats["fractions"], [6 / 9, 3 / 9])
    np.testing.assert_array_equal(stats["boundary_edges"], [[0, 3], [3, 0]])
    assert stats["boundary_edge_fraction"] == pytest.approx(3 / 12)
    assert stats["boundary_length"] == pytest.approx(3 * 0.5)  # each edge crosses one row spacing
    checker = np.indices((4, 4)).sum(axis=0) % 2
    assert basin_statistics(checker, 2)["boundary_edge_fraction"] == 1.0
    assert basin_statistics(np.zeros((5, 5), int), 1)["boundary_edge_fraction"] == 0.0
    codes = np.random.default_rng(0).integers(0, 4, size=(7, 7))
    np.testing.assert_array_equal(basin_statistics(codes, 4)["boundary_edges"], _boundary_by_loop(codes, 4))


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ({"grid": 100}, "basins.grid"),
        ({"directions": ["filter", "sideways"]}, r"basins.directions\[1\]"),
        ({"gird": 5}, "basins.gird: unknown field"),
        ({"base_index": 99}, "basins.base_index"),
        ({"span": [1.0]}, "basins.span"),
        ({"directions": ["rotate", "filter"], "units": [3, 0]}, r"basins.units\[0\]"),
        ({"grid": "big"}, "basins.grid: expected an integer"),
    ],
)
def test_invalid_basins_tables_name_the_field(table, needle):
    with pytest.raises(ConfigError, match=needle):
        basins_from_dict({"n_inits": 8, "basins": table})


def test_basins_group_round_trips_through_a_run_file(tmp_path):
    study = small_study(**{"n_inits": 2, "train.steps": 30, "task.n_points": 32})
    path = run_study(study, tmp_path / "run.h5", quiet=True)
    config = BasinsConfig(grid=3, directions=["filter", "rotate"], span=[1.0, 1.0])
    result = basin_map(prepare(study), config, classify=lambda prep, res: np.array(["dead", "valley", "pyramid"] * 3))
    arrays, attrs = basins_group(result)
    write_group(path, "basins", arrays, attrs)
    with Run(path) as run:
        group = run.group("basins")
        names = json.loads(group["label_names"])
        assert names == ["pyramid", "valley", "dead"]
        np.testing.assert_array_equal(np.array(names)[group["label"]], result.label)
        np.testing.assert_array_equal(group["final_loss"], result.final_loss)
        assert group["init"]["params"]["0"]["w"].shape == (9, 2, 3)
        np.testing.assert_array_equal(group["init"]["params"]["0"]["w"][4], run.params("init", 0)[0]["w"])
        assert "axis0" in group["directions"] and "axis1" not in group["directions"]
    from landscape.plots.basins import basin_map_figure_from_group

    fig = basin_map_figure_from_group(group)
    assert len(fig.axes) == 3  # types, loss, colour bar


def test_basins_command_end_to_end(tmp_path, capsys):
    from landscape.cli import main

    path = tmp_path / "basins.toml"
    path.write_text(
        'name = "tinyb"\nn_inits = 2\n[task]\nn_points = 32\n[train]\nsteps = 30\n[basins]\ngrid = 5\ndirections = ["rotate", "output_scale"]\nspan = [3.14159, 0.9]\n'
    )
    out, figures = tmp_path / "tinyb.h5", tmp_path / "figs"
    assert main(["basins", str(path), "--out", str(out), "--figures", str(figures), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "5x5 = 25 inits" in printed and (figures / "tinyb-basins.png").exists()
    with Run(out) as run:
        group = run.group("basins")
        assert group["label"].shape == (5, 5)
        assert float(group["final_loss"][2, 2]) == pytest.approx(float(run.final_loss[0]), rel=1e-5)
    # a second map on the same run file reuses the study; a bad table is one clear error
    assert main(["basins", str(path), "--out", str(out), "--grid", "3", "--quiet"]) == 0
    assert main(["basins", str(path), "--out", str(out), "--grid", "4", "--quiet"]) == 2
    assert "basins.grid" in capsys.readouterr().err
