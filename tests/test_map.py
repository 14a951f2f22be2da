"""Transition states, minimum-energy paths and the map between minima (issue 14).

Known answers: the Mueller-Brown surface (Mueller & Brown 1979; saddle and minimum coordinates
as tabulated in the NEB/string-method literature, e.g. E, Ren & Vanden-Eijnden 2002), a symmetric
double well with its barrier in closed form, finite differences for the stationarity check, and
on the seed's network the Hessian of every reported transition state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape import neb, saddles
from landscape.landscape_map import disconnectivity_tree

A = np.array([-200.0, -100.0, -170.0, 15.0])
a = np.array([-1.0, -1.0, -6.5, 0.7])
b = np.array([0.0, 0.0, 11.0, 0.6])
c = np.array([-10.0, -10.0, -6.5, 0.7])
X0 = np.array([1.0, 0.0, -0.5, -1.0])
Y0 = np.array([0.0, 0.5, 1.5, 1.0])

MINIMA = np.array([[-0.55822363, 1.44172584], [0.62349940, 0.02803776], [-0.05001082, 0.46669410]])
MINIMA_E = np.array([-146.69951721, -108.16672412, -80.76781813])
SADDLES = np.array([[-0.82200156, 0.62431281], [0.21248658, 0.29298833]])
SADDLES_E = np.array([-40.66484351, -72.24894011])


def muller_brown(p: jax.Array) -> jax.Array:
    dx, dy = p[0] - X0, p[1] - Y0
    return jnp.sum(A * jnp.exp(a * dx * dx + b * dx * dy + c * dy * dy))


def double_well(p: jax.Array) -> jax.Array:
    """(x^2 - 1)^2 + y^2 (1 + x^2): minima (+-1, 0) at 0, saddle (0, 0) at exactly 1."""
    return (p[0] ** 2 - 1.0) ** 2 + p[1] ** 2 * (1.0 + p[0] ** 2)


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def test_muller_brown_minima_bands_and_saddles():
    found = jax.jit(jax.vmap(lambda p: saddles.descend(muller_brown, p, grad_tol=1e-10)))(
        jnp.asarray(np.round(MINIMA, 2))
    )
    np.testing.assert_allclose(found.params, MINIMA, atol=1e-7)
    np.testing.assert_allclose(found.loss, MINIMA_E, atol=1e-6)
    m = found.params
    # A -> C crosses the upper saddle, C -> B the lower one
    bands = jnp.asarray(np.stack([neb.line_band(m[0], m[2], 11), neb.line_band(m[2], m[1], 11)]))
    relaxed = neb.neb_batch(
        muller_brown, bands, steps=1500, spring=100.0, climb_after=300, dt=1e-3, dt_max=1e-2, max_move=0.02
    )
    climbers = relaxed.band[jnp.arange(2), relaxed.climbing]
    np.testing.assert_allclose(climbers, SADDLES, atol=1e-6)  # the climbing image alone converges onto the saddle
    refined = jax.jit(jax.vmap(lambda p: saddles.refine_saddle(muller_brown, p, grad_tol=1e-10)))(climbers)
    assert bool(jnp.all(refined.converged))
    np.testing.assert_allclose(refined.params, SADDLES, atol=1e-7)
    np.testing.assert_allclose(refined.loss, SADDLES_E, atol=1e-6)
    checked = jax.jit(jax.vmap(lambda p: saddles.curvature(muller_brown, p, grad_tol=1e-8)))(refined.params)
    assert checked.kind.tolist() == [saddles.SADDLE] * 2 and checked.index.tolist() == [1, 1]


def test_eigenvector_following_from_a_rough_guess_finds_each_saddle():
    guesses = jnp.asarray(np.round(SADDLES, 1))
    refined = jax.jit(jax.vmap(lambda p: saddles.refine_saddle(muller_brown, p, grad_tol=1e-10, trust_radius=0.05)))(
        guesses
    )
    np.testing.assert_allclose(refined.params, SADDLES, atol=1e-7)


def test_double_well_saddle_at_the_centre_with_closed_form_barrier():
    start, end = jnp.array([-1.0, 0.0]), jnp.array([1.0, 0.0])
    bowed = jnp.asarray(
        neb.curve_band(lambda t: np.array([2 * t - 1, 0.8 * np.sin(np.pi * t)]), 9)
    )  # starts well off the path
    relaxed = neb.neb_batch(
        double_well, bowed[None], steps=1500, spring=5.0, climb_after=300, dt=0.01, dt_max=0.1, max_move=0.05
    )
    relaxed = jax.tree.map(lambda leaf: leaf[0], relaxed)
    climber = relaxed.band[relaxed.climbing]
    refined = jax.jit(lambda p: saddles.refine_saddle(double_well, p, grad_tol=1e-12))(climber)
    np.testing.assert_allclose(refined.params, [0.0, 0.0], atol=1e-9)
    assert float(refined.loss) == pytest.approx(1.0, abs=1e-12)
    assert float(jnp.max(relaxed.energies) - jnp.maximum(double_well(start), double_well(end))) == pytest.approx(
        1.0, abs=1e-6
    )
    checked = saddles.curvature(double_well, refined.params, grad_tol=1e-9)
    np.testing.assert_allclose(checked.eigenvalues, [-4.0, 2.0], atol=1e-9)
    # images end equally spaced along the path (the springs work)
    spacing = np.linalg.norm(np.diff(np.asarray(relaxed.band), axis=0), axis=1)
    assert spacing.std() / spacing.mean() < 0.05


def test_stationarity_check_against_finite_differences():
    point = jnp.array([0.3, -0.2])
    checked = saddles.curvature(double_well, point, grad_tol=1e-6)
    h = 1e-6
    fd = np.array([(double_well(point + h * e) - double_well(point - h * e)) / (2 * h) for e in np.eye(2)])
    assert float(checked.grad_norm) == pytest.approx(np.linalg.norm(fd), rel=1e-7)
    assert int(checked.kind) == saddles.NOT_STATIONARY
    assert saddles.describe_kind(checked.kind, checked.index, float(checked.grad_norm), 1e-6).startswith(
        "not stationary"
    )
    hessian_fd = np.array(
        [(jax.grad(double_well)(point + h * e) - jax.grad(double_well)(point - h * e)) / (2 * h) for e in np.eye(2)]
    )
    np.testing.assert_allclose(np.sort(np.asarray(checked.eigenvalues)), np.linalg.eigvalsh(hessian_fd), atol=1e-6)
    assert int(saddles.curvature(double_well, jnp.array([1.0, 0.0]), grad_tol=1e-9).kind) == saddles.MINIMUM
    assert saddles.stationary_kind(np.array([1e-9, 1e-9, 1e-3, np.nan]), np.array([0, 2, 0, 0]), 1e-6).tolist() == [
        0,
        1,
        2,
        2,
    ]


def test_symmetry_null_directions_are_not_counted():
    # a loss flat along y (a symmetry) with a weak negative curvature along it numerically: index 0 once projected
    loss = lambda p: (p[0] - 1.0) ** 2 - 1e-3 * p[1] ** 2  # noqa: E731
    null = lambda p: jnp.array([[0.0], [1.0]])  # noqa: E731
    assert int(saddles.curvature(loss, jnp.array([1.0, 0.0]), grad_tol=1e-9).index) == 1
    checked = saddles.curvature(loss, jnp.array([1.0, 0.0]), null, grad_tol=1e-9)
    assert int(checked.index) == 0 and int(checked.n_null) == 1 and int(checked.kind) == saddles.MINIMUM


def test_disconnectivity_tree_joins_at_the_lowest_connection():
    # minima 0..3; 0-1 at 5, 1-2 at 3, 0-2 at 4 (redundant), 3 alone
    tree = disconnectivity_tree(
        np.array([0.0, 1.0, 2.0, 0.5]), np.array([[0, 1], [1, 2], [0, 2]]), np.array([5.0, 3.0, 4.0])
    )
    join = tree["join"]
    assert join[1, 2] == 3.0 and join[0, 1] == 4.0 and join[0, 2] == 4.0 and np.isinf(join[0, 3])
    assert sorted(tree["order"].tolist()) == [0, 1, 2, 3]
    assert (tree["parent"] == -1).sum() == 2  # two separate trees


# ---------------------------------------------------------------------------------------------
# The seed's network: a small trained study.


@pytest.fixture(scope="module")
def network_map(small_run_path, tmp_path_factory):
    """A map between three minima of the small run (lowest, median and highest loss), bands started
    on trained Bezier curves; written to a private copy of the run."""
    import shutil

    from landscape import Run
    from landscape.landscape_map import MapSettings, map_run

    path = tmp_path_factory.mktemp("map") / "small.h5"
    shutil.copy(small_run_path, path)
    with Run(path) as run:
        loss = run.final_loss
        order = [int(i) for i in np.argsort(loss) if np.isfinite(loss[i])]
        specs = [str(order[q]) for q in (0, len(order) // 2, len(order) - 1)]
        result = map_run(run, specs, MapSettings(start="bezier"), bezier_steps=60)
    result.write(path)
    return path, result


def test_every_network_transition_state_is_an_index_one_saddle(network_map):
    from jax.flatten_util import ravel_pytree

    from landscape import Run
    from landscape.curvature import symmetry_directions
    from landscape.landscape_map import MapSettings
    from landscape.models import make_mlp
    from landscape.training import make_objective

    path, result = network_map
    ts = result["transition_states"]
    assert len(ts["loss"]) >= 1, "the map should find at least one transition state between these minima"
    grad_tol = MapSettings().grad_tol
    with Run(path) as run:
        study, x, y = run.study, jnp.asarray(run.x, jnp.float64), jnp.asarray(run.y, jnp.float64)
    objective = make_objective(make_mlp(study.model, study.init, 2, 1, jnp.float64))
    for t in range(len(ts["loss"])):
        params = [{k: jnp.asarray(ts["params"][str(layer)][k][t]) for k in ("w", "b")} for layer in range(2)]
        flat, unravel = ravel_pytree(params)
        loss = lambda v: objective(unravel(v), x, y)  # noqa: E731
        # reference: autodiff gradient and Hessian, symmetry directions projected out by hand
        assert float(jnp.linalg.norm(jax.jit(jax.grad(loss))(flat))) < grad_tol
        hessian = np.asarray(jax.jit(jax.hessian(loss))(flat))
        directions, keep, _ = jax.jit(lambda p: symmetry_directions(p, x, "relu"))(params)
        basis = np.linalg.svd(np.asarray(directions)[:, np.asarray(keep)], full_matrices=False)[0]
        basis = basis[:, : np.linalg.matrix_rank(np.asarray(directions)[:, np.asarray(keep)])]
        complement = np.linalg.svd(np.eye(flat.size) - basis @ basis.T)[0][:, : flat.size - basis.shape[1]]
        values = np.linalg.eigvalsh(complement.T @ hessian @ complement)
        tolerance = 1e-4 * np.abs(values).max() + 1e-7
        assert int(np.sum(values < -tolerance)) == 1 and int(ts["index"][t]) == 1
        assert float(ts["loss"][t]) == pytest.approx(float(jax.jit(loss)(flat)), rel=1e-10)
    # a band's verified transition state is no higher than the Bezier curve it started from
    bands = result["bands"]
    for n in np.flatnonzero(bands["kind"] == 0):
        assert ts["loss"][bands["transition_state"][n]] <= bands["bezier_max"][n] + 1e-12


def test_stored_map_reads_back(network_map):
    from landscape.landscape_map import MapResult

    path, result = network_map
    back = MapResult.read(path)
    for name in (
        "minima/loss",
        "minima/kind",
        "transition_states/loss",
        "bands/energies",
        "barriers/straight",
        "tree/height",
        "points/labels",
    ):
        np.testing.assert_array_equal(np.asarray(back[name]), np.asarray(result[name]))
    assert back["minima/params/0/w"].shape == (len(result["minima/loss"]), 2, 3)
    assert back.attrs["grad_tol"] == result.attrs["grad_tol"]
    # the straight-line barrier reported is the lower of unaligned and aligned, and says which
    straight, aligned = back["barriers/straight"], back["barriers/straight_is_aligned"]
    np.testing.assert_array_equal(
        straight, np.minimum(back["barriers/straight_unaligned"], back["barriers/straight_aligned"])
    )
    np.testing.assert_array_equal(aligned, back["barriers/straight_aligned"] <= back["barriers/straight_unaligned"])


def test_map_command_prints_table_and_writes_figures(network_map, tmp_path, capsys):
    import shutil

    from landscape import Run
    from landscape.cli import main as cli_main

    path = tmp_path / "small.h5"
    shutil.copy(network_map[0], path)
    specs = [str(int(i)) for i in network_map[1]["points/index"]]  # same pairs: compiled programs reused
    assert cli_main(["map", str(path), *specs, "--bezier-steps", "0", "--figures", str(tmp_path / "figs")]) == 0
    out = capsys.readouterr().out
    assert "transition states" in out and "minima" in out and "straight" in out
    assert (tmp_path / "figs" / "map-disconnectivity.png").exists() and (
        tmp_path / "figs" / "map-barriers.png"
    ).exists()
    with Run(path) as run:
        assert run.has("landscape_map/minima/loss")


def test_map_of_non_finite_or_too_few_points_is_a_one_line_error(small_run_copy, capsys):
    import h5py

    from landscape import landscape_map
    from landscape.cli import main

    with h5py.File(small_run_copy, "r+") as f:  # network 0 as if its stored parameters had overflowed
        f["final/params/0/w"][0] = np.nan
    assert main(["map", str(small_run_copy), "0", "1", "--no-figures"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("landscape map: error: point '0': its parameters are not finite") and "\n" not in error
    # every network diverged (infinite final loss): the defaults leave fewer than two points
    from landscape import Run
    from landscape.config import ConfigError

    with h5py.File(small_run_copy, "r+") as f:
        f["train/final_loss"][...] = np.inf
        f["train/status"][...] = 2
    with Run(small_run_copy) as run, pytest.raises(ConfigError, match="found 0 usable default point"):
        landscape_map.map_run(run)
    assert main(["map", str(small_run_copy), "--no-figures"]) == 2
    error = capsys.readouterr().err.strip()
    assert "found 0 usable default point" in error and "\n" not in error
