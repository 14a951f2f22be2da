"""Geometry between minima: alignment, slices, barriers, Bezier curves, and the slice/paths commands."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape import Run
from landscape.alignment import align, cast_like, permute_units, rescale_units
from landscape.cli import main as cli_main
from landscape.config import InitConfig, ModelConfig
from landscape.models import make_mlp
from landscape.paths import pair_profiles, train_bezier, train_bezier_batch
from landscape.slices import (
    as_jax,
    barrier,
    filter_normalise,
    line_losses,
    plane_grid,
    plane_losses,
    plane_through_points,
    random_plane,
    tree_dot,
    tree_norm,
)
from landscape.training import make_objective


def _mlp(hidden, activation="relu", in_dim=2):
    model = make_mlp(
        ModelConfig(hidden=list(hidden), activation=activation),
        InitConfig(weights="normal", biases="normal", bias_std=0.5),
        in_dim,
        1,
    )
    objective = make_objective(model)
    return model, objective


def _data(key, n=128, in_dim=2):
    x = jax.random.uniform(key, (n, in_dim), minval=-1.0, maxval=1.0)
    return x, jnp.linalg.norm(x, axis=1)


@pytest.fixture(scope="module")
def run_minima(small_run_path):
    """Three low-loss, distinct minima of the small run plus the run's data and objective."""
    with Run(small_run_path) as run:
        study, x, y, loss = run.study, run.x, run.y, run.final_loss
        order = [int(i) for i in np.argsort(loss) if np.isfinite(loss[i])]
        picks = [order[0], order[len(order) // 2], order[-1]]
        params = [run.params("final", i) for i in picks]
    model = make_mlp(study.model, study.init, x.shape[1], 1)
    return make_objective(model), jnp.asarray(x), jnp.asarray(y), [as_jax(p) for p in params], picks


# ---------------------------------------------------------------------------------------------
# Barriers and planes.


def test_barrier_is_peak_above_higher_endpoint():
    assert barrier(np.array([1.0, 3.0, 2.0])) == 1.0
    assert barrier(np.array([2.0, 1.0, 0.5])) == 0.0
    assert barrier(np.array([0.5, 0.7, 0.9])) == 0.0


def test_three_point_plane_marks_points_at_their_own_loss(run_minima):
    objective, x, y, (p0, p1, p2), _ = run_minima
    plane = plane_through_points(p0, p1, p2)
    # orthonormal axes, true distances
    assert float(tree_norm(plane.axis_u)) == pytest.approx(1.0, abs=1e-5)
    assert float(tree_norm(plane.axis_v)) == pytest.approx(1.0, abs=1e-5)
    assert abs(float(tree_dot(plane.axis_u, plane.axis_v))) < 1e-5
    distance = float(tree_norm(jax.tree_util.tree_map(jnp.subtract, p2, p0)))
    assert np.hypot(*plane.point_coords[2]) == pytest.approx(distance, rel=1e-5)
    on_plane = plane_losses(
        objective, x, y, plane.origin, plane.axis_u, plane.axis_v, jnp.asarray(plane.point_coords, jnp.float32)
    )
    own = np.array([objective(p, x, y) for p in (p0, p1, p2)])
    np.testing.assert_allclose(np.asarray(on_plane), own, rtol=2e-4, atol=1e-7)


def test_collinear_points_raise(run_minima):
    _, _, _, (p0, p1, _), _ = run_minima
    midpoint = jax.tree_util.tree_map(lambda a, b: 0.5 * (a + b), p0, p1)
    with pytest.raises(ValueError, match="collinear"):
        plane_through_points(p0, p1, midpoint)


def test_vmapped_grid_equals_python_loop(run_minima):
    objective, x, y, (p0, p1, p2), _ = run_minima
    plane = plane_through_points(p0, p1, p2)
    alphas, betas = np.linspace(-1.0, 3.0, 11), np.linspace(-2.0, 2.0, 7)
    grid = np.asarray(
        plane_grid(objective, x, y, plane.origin, plane.axis_u, plane.axis_v, alphas, betas, batch_size=16)
    )
    assert grid.shape == (7, 11)
    for j, i in [(0, 0), (3, 5), (6, 10), (2, 9), (5, 1)]:
        point = jax.tree_util.tree_map(
            lambda o, u, v: o + alphas[i] * u + betas[j] * v, plane.origin, plane.axis_u, plane.axis_v
        )
        assert grid[j, i] == pytest.approx(float(objective(point, x, y)), rel=1e-4)


def test_second_plane_compiles_nothing_new(run_minima):
    objective, x, y, (p0, p1, p2), _ = run_minima
    alphas = betas = np.linspace(-1.0, 1.0, 9)
    first = plane_through_points(p0, p1, p2)
    plane_grid(objective, x, y, first.origin, first.axis_u, first.axis_v, alphas, betas)
    compiled = plane_losses._cache_size()
    other = random_plane(jax.random.PRNGKey(1), p1)
    plane_grid(objective, x, y, other.origin, other.axis_u, other.axis_v, alphas + 0.5, betas)
    assert plane_losses._cache_size() == compiled


def test_filter_normalised_directions_match_unit_norms(run_minima):
    _, _, _, (p0, _, _), _ = run_minima
    plane = random_plane(jax.random.PRNGKey(3), p0, bias_mode="with_unit")
    for d, r in zip(plane.axis_u, p0):
        d_unit = np.concatenate([np.asarray(d["w"]), np.asarray(d["b"])[None]], axis=0)
        r_unit = np.concatenate([np.asarray(r["w"]), np.asarray(r["b"])[None]], axis=0)
        np.testing.assert_allclose(np.linalg.norm(d_unit, axis=0), np.linalg.norm(r_unit, axis=0), rtol=1e-4)
    zero = filter_normalise(plane.axis_v, p0, bias_mode="zero")
    for d, r in zip(zero, p0):
        assert np.all(np.asarray(d["b"]) == 0)
        np.testing.assert_allclose(
            np.linalg.norm(np.asarray(d["w"]), axis=0), np.linalg.norm(np.asarray(r["w"]), axis=0), rtol=1e-4
        )


def test_line_profile_ends_are_endpoint_losses(run_minima):
    objective, x, y, (p0, p1, _), _ = run_minima
    profile = np.asarray(line_losses(objective, x, y, p0, p1, np.linspace(0, 1, 21)))
    assert profile[0] == pytest.approx(float(objective(p0, x, y)), rel=1e-5)
    assert profile[-1] == pytest.approx(float(objective(p1, x, y)), rel=1e-5)


# ---------------------------------------------------------------------------------------------
# Alignment.


def _random_symmetry(rng, params, rescale=True):
    widths = [layer["w"].shape[1] for layer in params[:-1]]
    perms = [rng.permutation(w) for w in widths]
    scales = [np.exp(rng.uniform(-1.5, 1.5, w)) if rescale else np.ones(w) for w in widths]
    return perms, rescale_units(permute_units(params, perms), scales)


@pytest.mark.parametrize(
    ("hidden", "activation", "rescale"),
    [((3,), "relu", True), ((6, 5), "relu", True), ((4, 4, 3), "leaky_relu", True), ((5, 4), "tanh", False)],
)
def test_alignment_recovers_known_symmetry(hidden, activation, rescale):
    model, objective = _mlp(hidden, activation)
    x, y = _data(jax.random.PRNGKey(1))
    rng = np.random.default_rng(0)
    for draw in range(40):
        a = jax.tree_util.tree_map(lambda v: np.asarray(v, np.float64), model.init(jax.random.PRNGKey(draw)))
        true_perms, b = _random_symmetry(rng, a, rescale)
        aligned, info = align(a, b, activation)
        for found, true in zip(info.permutations, true_perms):
            np.testing.assert_array_equal(found, np.argsort(true))  # undoes the permutation exactly
        assert info.distance_after < 1e-9 * max(1.0, info.distance_before)
        if draw < 5:  # the aligned copy computes b's function, and the aligned straight line is flat
            fa, fb = model.apply(as_jax(aligned, jnp.float32), x), model.apply(as_jax(b, jnp.float32), x)
            np.testing.assert_allclose(np.asarray(fa), np.asarray(fb), rtol=1e-4, atol=1e-5)
            pair = pair_profiles(objective, x, y, as_jax(a, jnp.float32), as_jax(b, jnp.float32), activation)
            assert abs(pair.barrier_aligned) < 1e-5 * max(1.0, float(pair.aligned[0]))


def test_raw_line_between_symmetry_copies_has_a_barrier():
    """The reason alignment matters: without it the line between two copies usually rises."""
    model, objective = _mlp((3,))
    x, y = _data(jax.random.PRNGKey(1))
    rng = np.random.default_rng(5)
    a = jax.tree_util.tree_map(np.asarray, model.init(jax.random.PRNGKey(7)))
    _, b = _random_symmetry(rng, a)
    pair = pair_profiles(objective, x, y, as_jax(a), as_jax(b, jnp.float32), "relu")
    assert pair.barrier_linear > 1e-3
    assert abs(pair.barrier_aligned) < 1e-5


# ---------------------------------------------------------------------------------------------
# Bezier curves.


def test_bezier_barrier_never_above_linear(run_minima):
    objective, x, y, nets, _ = run_minima
    pairs = [(0, 1), (0, 2), (1, 2)]
    starts = jax.tree_util.tree_map(lambda *v: jnp.stack(v), *[nets[i] for i, _ in pairs])
    ends = jax.tree_util.tree_map(
        lambda *v: jnp.stack(v), *[as_jax(cast_like(align(nets[i], nets[j])[0], nets[i])) for i, j in pairs]
    )
    keys = jax.random.split(jax.random.PRNGKey(0), len(pairs))
    for learning_rate in (1e-2, 30.0):  # a sensible rate, and one that throws the control point away
        batch = train_bezier_batch(
            objective, x, y, starts, ends, keys, steps=100, samples=8, learning_rate=learning_rate, n_eval=41
        )
        for n in range(len(pairs)):
            assert barrier(batch.profile[n]) <= barrier(batch.linear_profile[n])
            reference = np.asarray(
                line_losses(
                    objective,
                    x,
                    y,
                    jax.tree_util.tree_map(lambda v: v[n], starts),
                    jax.tree_util.tree_map(lambda v: v[n], ends),
                    np.linspace(0, 1, 41),
                )
            )
            np.testing.assert_allclose(np.asarray(batch.linear_profile[n]), reference, rtol=1e-5)
        if learning_rate > 1:
            assert np.all(np.asarray(batch.best_step) == -1)  # nothing better found: the straight line is kept
            np.testing.assert_array_equal(np.asarray(batch.profile), np.asarray(batch.linear_profile))
    # the sensible rate lowers a real barrier, and the batch equals single-pair training
    single = train_bezier(
        objective,
        x,
        y,
        jax.tree_util.tree_map(lambda v: v[0], starts),
        jax.tree_util.tree_map(lambda v: v[0], ends),
        keys[0],
        steps=100,
        samples=8,
        learning_rate=1e-2,
        n_eval=41,
    )
    batch = train_bezier_batch(objective, x, y, starts, ends, keys, steps=100, samples=8, learning_rate=1e-2, n_eval=41)
    np.testing.assert_allclose(np.asarray(single.profile), np.asarray(batch.profile[0]), rtol=1e-4, atol=1e-7)
    improved = [
        barrier(batch.profile[n]) < barrier(batch.linear_profile[n])
        for n in range(len(pairs))
        if barrier(batch.linear_profile[n]) > 1e-3
    ]
    assert improved and all(improved)


# ---------------------------------------------------------------------------------------------
# Commands.


def test_slice_and_paths_commands(small_run_copy, tmp_path, capsys):
    figures = tmp_path / "figures"
    with Run(small_run_copy) as run:
        loss = run.final_loss
        order = [int(i) for i in np.argsort(loss)]
    a, b, c = order[0], order[len(order) // 2], order[-1]
    assert (
        cli_main(
            [
                "slice",
                str(small_run_copy),
                str(a),
                str(b),
                f"init:{c}",
                "--resolution",
                "21",
                "--figures",
                str(figures),
                "--name",
                "three",
            ]
        )
        == 0
    )
    assert (
        cli_main(
            [
                "slice",
                str(small_run_copy),
                "--random",
                str(a),
                "--resolution",
                "15",
                "--figures",
                str(figures),
                "--surface",
            ]
        )
        == 0
    )
    assert (
        cli_main(
            [
                "paths",
                str(small_run_copy),
                str(a),
                str(b),
                str(c),
                "--bezier-steps",
                "30",
                "--path-points",
                "21",
                "--figures",
                str(figures),
            ]
        )
        == 0
    )
    with Run(small_run_copy) as run:
        three = run.group("slices/three")
        assert three["loss"].shape == (21, 21)
        np.testing.assert_allclose(three["point_loss_on_plane"], three["point_loss"], rtol=2e-4)
        assert three["point_loss"][0] == pytest.approx(float(loss[a]), rel=1e-4)
        assert list(three["point_index"]) == [a, b, c] and list(three["point_stage"]) == ["final", "final", "init"]
        random = run.group(f"slices/random-{a}-seed0")
        assert random["loss"].shape == (15, 15) and random["loss"][7, 7] == pytest.approx(float(loss[a]), rel=1e-4)
        paths = run.group("paths/representatives")
        assert paths["barrier_aligned"].shape == (3, 3) and np.all(np.diag(paths["barrier_aligned"]) == 0)
        assert np.all(paths["bezier"]["barrier"] <= paths["bezier"]["barrier_linear"])
    for name in (
        "slice-three",
        f"slice-random-{a}-seed0",
        f"slice-random-{a}-seed0-surface",
        "paths-representatives-profiles",
        "paths-representatives-barriers",
    ):
        assert (figures / f"{name}.png").exists()
    # a user error is one line, exit 2
    assert cli_main(["slice", str(small_run_copy), "pyramid", "1", "2"]) == 2
    assert "landscape slice: error" in capsys.readouterr().err
