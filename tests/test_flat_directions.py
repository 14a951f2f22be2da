"""Flat directions of deep MLPs explained (unit mixing, one-layer degeneracies) and Newton refinement.

References: the rank of the output Jacobian (NumPy SVD); the outputs themselves along each
direction; closed-form counts on one-hidden-layer networks (dead unit, linear block); the
least-squares solution (``numpy.linalg.lstsq``) and Rosenbrock's minimum for the refinement; a
``[8, 8]`` ReLU study refined onto its critical points, whose float64 zero eigenvalues must equal the
prediction wherever the prediction says it is exact.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from landscape import Run, Study, run_study
from landscape.cli import main
from landscape.config import InitConfig, ModelConfig
from landscape.curvature import CurvatureResult, analyse_run
from landscape.models import make_mlp
from landscape.refine import REFINE_TOL, kink_margin, refine_one
from landscape.symmetries import (
    EXACT,
    LAYERWISE,
    explained_flat_directions,
    layerwise_null_directions,
    predicted_flat_directions,
    unit_mixing_generators,
)


def _outputs_rank_deficiency(apply, params, x):
    flat, unravel = ravel_pytree(params)
    jacobian = np.asarray(jax.jacfwd(lambda v: apply(unravel(v), x).reshape(-1))(flat))
    singular = np.linalg.svd(jacobian, compute_uv=False)
    return flat.size - int(np.sum(singular > 1e-7 * singular[0])), jacobian, unravel


def test_every_explained_direction_keeps_the_outputs_of_a_deep_network():
    """On random [8, 8] ReLU networks (dead, partly active and linear units): each unit-mixing generator
    and each one-layer direction is in the null space of the output Jacobian, a one-layer direction keeps
    the outputs along a finite straight move, and the explained count never exceeds P - rank J (NumPy)."""
    with jax.enable_x64(True):
        model = make_mlp(ModelConfig(hidden=[8, 8]), InitConfig(biases="normal", bias_std=0.5), 2, 1, jnp.float64)
        x = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (48, 2)))

        def explain(p):
            return {k: v[0] for k, v in explained_flat_directions(model.apply, batch(p), x).items()}

        mixing_of = jax.jit(lambda p: unit_mixing_generators(p, x, "relu"))
        explained_some = 0
        for seed in range(4):
            params = model.init(jax.random.PRNGKey(seed))
            functional, jacobian, unravel = _outputs_rank_deficiency(model.apply, params, x)
            scale = np.linalg.norm(jacobian, 2)
            mixing = np.asarray(mixing_of(params))
            layerwise = layerwise_null_directions(jacobian.T @ jacobian, params)
            for rows in (mixing, layerwise):
                rows = rows[np.linalg.norm(rows, axis=1) > 0]
                assert rows.shape[0] > 0
                leak = np.linalg.norm(rows @ jacobian.T, axis=1) / (scale * np.linalg.norm(rows, axis=1))
                assert leak.max() < 1e-8
            flat = ravel_pytree(params)[0]
            base = model.apply(params, x)
            for row in layerwise[np.linalg.norm(layerwise, axis=1) > 0][:10]:
                moved = model.apply(unravel(flat + 1e-3 * row / np.linalg.norm(row)), x)
                np.testing.assert_allclose(moved, base, rtol=0, atol=1e-12)
            out = {k: int(v) for k, v in explain(params).items()}
            assert out["n_zero_functional"] == functional
            assert out["n_zero_explained"] == out["n_zero_symmetries"] + out["n_zero_layerwise"] <= functional
            assert out["n_zero_unexplained"] == functional - out["n_zero_explained"]
            explained_some += out["n_zero_unexplained"] == 0
        assert explained_some >= 2


def batch(params):
    return jax.tree.map(lambda leaf: leaf[None], params)


def test_one_hidden_layer_counts_match_the_closed_forms():
    """Width 3 on 2-D data: a dead unit gives 2 + 1 + 1 flat coordinates and no rescaling of its own
    beyond them, live units one rescaling each (6 in all); two units linear on the data give the affine
    block's L(d + 1) - d = 4 beyond their rescalings (the structural count): both explained exactly."""
    with jax.enable_x64(True):
        model = make_mlp(ModelConfig(hidden=[3]), InitConfig(), 2, 1, jnp.float64)
        x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (64, 2)))
        params = model.init(jax.random.PRNGKey(3))
        params[0]["b"] = jnp.asarray([0.1, -0.2, -10.0])  # unit 2 dead on [-1, 1]^2
        out = {k: int(v[0]) for k, v in explained_flat_directions(model.apply, batch(params), x).items()}
        assert out["n_zero_functional"] == out["n_zero_explained"] == 6
        params[0]["b"] = jnp.asarray([10.0, 10.0, 0.0])  # units 0, 1 linear on the data
        out = {k: int(v[0]) for k, v in explained_flat_directions(model.apply, batch(params), x).items()}
        counted = predicted_flat_directions(params, x, "relu")
        assert int(counted["n_zero_predicted"]) == 3 + 4
        assert out["n_zero_functional"] == out["n_zero_explained"] == 7
        assert out["n_zero_symmetries"] >= 3 + 2 + 2  # rescalings, mixing of the two linear units, bias transfers


def test_refinement_reaches_least_squares_and_rosenbrock_minima():
    """Levenberg-Marquardt on residuals and damped Newton on the Hessian reach the closed-form
    least-squares solution; damped Newton reaches Rosenbrock's (1, 1); the loss never goes up."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        design, target = jnp.asarray(rng.normal(size=(50, 3))), jnp.asarray(rng.normal(size=50))
        solution = np.linalg.lstsq(np.asarray(design), np.asarray(target), rcond=None)[0]

        def residuals(params):
            return design @ params["w"] - target

        def loss(params):
            return jnp.mean(residuals(params) ** 2)

        start = {"w": jnp.zeros(3)}
        for given in (residuals, None):
            params, info = jax.jit(lambda p, r=given: refine_one(loss, p, 30, r))(start)
            np.testing.assert_allclose(params["w"], solution, rtol=0, atol=1e-10)
            assert float(info["grad_norm"]) < 1e-12 and float(info["loss"]) <= float(info["loss_before"])

        def rosenbrock(params):
            a, b = params["w"]
            return (1 - a) ** 2 + 100 * (b - a**2) ** 2

        params, info = jax.jit(lambda p: refine_one(rosenbrock, p, 200))({"w": jnp.asarray([-1.2, 1.0])})
        np.testing.assert_allclose(params["w"], [1.0, 1.0], rtol=0, atol=1e-8)
        assert float(info["loss"]) < float(info["loss_before"]) and int(info["accepted"]) > 10


def test_kink_margin_finds_a_data_point_on_a_hyperplane():
    with jax.enable_x64(True):
        model = make_mlp(ModelConfig(hidden=[3, 2]), InitConfig(), 2, 1, jnp.float64)
        x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (32, 2)))
        params = model.init(jax.random.PRNGKey(0))
        relu = jax.nn.relu
        assert float(kink_margin(params, x, relu)) > 1e-6
        params[0]["b"] = params[0]["b"].at[1].set(-(x[5] @ params[0]["w"][:, 1]))  # unit 1's hyperplane through x[5]
        assert float(kink_margin(params, x, relu)) < 1e-14


def test_deep_study_float64_zeros_equal_the_prediction_after_refinement(tmp_path, capsys):
    """A hidden = [8, 8] ReLU study (teacher task: realisable, so many networks end at a smooth minimum),
    refined onto its critical points: on every stationary network where the prediction is exact (the
    structural count, or unit mixing plus one-layer degeneracies) the float64 zero eigenvalues of the
    Hessian equal it; the command prints the same comparison."""
    path = tmp_path / "deep.h5"
    study = Study().replace(
        **{
            "task.name": "teacher",
            "n_inits": 16,
            "model.hidden": [8, 8],
            "task.n_points": 256,
            "train.dtype": "float64",
            "train.steps": 1500,
            "train.trajectory_points": 5,
        }
    )
    run_study(study, path, quiet=True)
    with Run(path) as run:
        result = analyse_run(run, refine_steps=40)
        final_loss = run.final_loss
    net, analysed = result.networks, result.analysed
    stationary = analysed & (net["stationary_kind"] != 2)
    assert np.all(net["refined_grad_norm"][stationary] < REFINE_TOL)
    assert np.all(net["refined_loss"][analysed] <= final_loss[analysed] * (1 + 1e-9))  # only downhill
    exact = stationary & (net["n_zero_predicted"] >= 0)
    assert exact.sum() >= 1, (stationary.sum(), net["prediction_code"])  # 2 of 5 stationary on a CPU
    np.testing.assert_array_equal(net["n_zero_exact"][exact], net["n_zero_predicted"][exact])
    assert set(net["prediction_code"][exact].tolist()) <= {EXACT, LAYERWISE}
    # the count is not the tolerance's: the default 1e-4 tolerance counts small curved directions as flat
    assert np.all(net["n_near_zero"][exact] >= net["n_zero_exact"][exact])
    assert main(["hessian", str(path), "--refine", "40", "--no-figures"]) == 0
    out = capsys.readouterr().out
    n = int(exact.sum())
    assert "float64 zeros (|lambda| <= 1e-10 max|lambda|) equal the symmetry prediction for" in out
    assert f"({n} of {n} refined stationary ones)" in out
    with Run(path) as run:
        stored = CurvatureResult.read(run)
    assert stored.attrs["refine_steps"] == 40
    np.testing.assert_array_equal(stored.networks["n_zero_exact"], net["n_zero_exact"])
