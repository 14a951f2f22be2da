"""Curvature as a library function over any model: analyse_run / CurvatureResult / the command on a
model of one's own (Safran & Shamir's teacher-student, no dataset), incomplete and degenerate run
files, compiled-once batches, and the depth-aware symmetry prediction on [8, 8] ReLU minima.

References: ``jax.hessian`` of the study's own loss at the stored parameters; the rank of the
Jacobian of the outputs on the data (NumPy); a hand count of dead-unit coordinates and rescalings.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from landscape import Run, curvature, load_study, run_study
from landscape.cli import main
from landscape.config import InitConfig, ModelConfig
from landscape.curvature import CurvatureResult, analyse_run, format_curvature_table
from landscape.models import activation_function, hidden_preactivations, make_mlp
from landscape.symmetries import EXACT, HIDDEN, LAYERWISE, explained_flat_directions, reconcile_prediction

from .conftest import small_study


def tiny_teacher_student():
    return load_study("runs/teacher_student.toml").replace(
        n_inits=6, **{"train.steps": 60, "model.hidden": [3], "task.dim": 3, "task.teacher_width": 3}
    )


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("teacher") / "teacher.h5"
    run_study(tiny_teacher_student(), path, quiet=True)
    return path


def test_own_model_hessian_equals_jax_hessian_of_its_loss(teacher_run):
    from landscape.examples.teacher_student import make_loss

    with Run(teacher_run) as run:
        result = analyse_run(run)
        study, params = run.study, run.final_params
    assert result.analysed.all() and result.networks["eigenvalues"].shape == (6, 9)
    assert any(note.startswith("symmetry prediction skipped: the model is your own") for note in result.notes)
    loss = make_loss(study)
    with jax.enable_x64(True):
        params = jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float64), params)
        _, unravel = ravel_pytree(jax.tree.map(lambda leaf: leaf[0], params))
        flat = jax.vmap(lambda one: ravel_pytree(one)[0])(params)
        hessians = jax.jit(jax.vmap(jax.hessian(lambda v: loss(unravel(v), None, None))))(flat)
        np.testing.assert_allclose(
            result.networks["eigenvalues"], np.linalg.eigvalsh(np.asarray(hessians)), rtol=0, atol=1e-8
        )


def test_analyse_run_twice_compiles_the_batched_hessian_once(teacher_run, tmp_path, capsys):
    import shutil

    with Run(teacher_run) as run:
        analyse_run(run)
        compiled = curvature._dense_batch._cache_size(), curvature._hessian_batch._cache_size()
        again = analyse_run(run)
    assert (curvature._dense_batch._cache_size(), curvature._hessian_batch._cache_size()) == compiled
    # the command, twice, on a copy: no new compilation either, no traceback, and the stored group reads back
    path = tmp_path / "teacher.h5"
    shutil.copy(teacher_run, path)
    for _ in range(2):
        assert main(["hessian", str(path), "--no-figures"]) == 0
    assert (curvature._dense_batch._cache_size(), curvature._hessian_batch._cache_size()) == compiled
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "error" not in captured.err
    assert "symmetry prediction skipped" in captured.out
    with Run(path) as run:
        stored = CurvatureResult.read(run)
    np.testing.assert_allclose(stored.networks["eigenvalues"], again.networks["eigenvalues"], rtol=1e-12)
    assert stored.method == "dense" and stored.notes == again.notes and list(stored.labels) == ["all"] * 6
    assert format_curvature_table(stored).splitlines()[:3] == format_curvature_table(again).splitlines()[:3]


def test_incomplete_run_refused_in_one_line_or_analysed_finished_only(tmp_path, capsys):
    path = tmp_path / "partial.h5"
    study = small_study(n_inits=8, **{"train.steps": 30, "task.n_points": 32, "train.chunk_size": 4})
    run_study(study, path, quiet=True, max_chunks=1)
    assert main(["hessian", str(path), "--no-figures"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--finished-only" in err
    assert main(["hessian", str(path), "--no-figures", "--finished-only"]) == 0
    assert "incomplete run: analysed the 4 finished networks of 8" in capsys.readouterr().out
    with Run(path) as run:
        stored = CurvatureResult.read(run)
        finished = run.status >= 0
    np.testing.assert_array_equal(stored.analysed, finished)
    assert np.all(np.isnan(stored.networks["max_eigenvalue"][~finished]))
    assert any("incomplete run" in note for note in stored.notes)


def test_all_diverged_run_gives_notes_not_an_exception(tmp_path, capsys):
    path = tmp_path / "diverged.h5"
    study = small_study(
        n_inits=4,
        **{"train.steps": 30, "task.n_points": 32, "optimizer.name": "sgd", "optimizer.learning_rate": 20.0},
    )
    run_study(study, path, quiet=True)
    with Run(path) as run:
        assert np.all(run.status == 2)
        result = analyse_run(run)
    assert not result.analysed.any()
    assert any("4 diverged networks skipped" in note for note in result.notes)
    assert any(note.startswith("no network could be analysed") for note in result.notes)
    assert "0 of 4 networks" in format_curvature_table(result)
    assert main(["hessian", str(path), "--figures", str(tmp_path / "fig")]) == 0
    out = capsys.readouterr().out
    assert "no network could be analysed" in out and "figures: none" in out


# ---------------------------------------------------------------------------------------------
# The depth-aware symmetry prediction on hand-built [8, 8] ReLU minima.


DEEP_INIT = make_mlp(
    ModelConfig(hidden=[8, 8]), InitConfig(weights="he_normal", biases="normal", bias_std=0.3), 2, 1, jnp.float64
)


def deep_minimum(seed: int):
    """A [8, 8] ReLU MLP with dead units in both layers (biases -10), live second-layer units with
    positive biases (some linear on the data); with targets equal to its own outputs: loss 0, a minimum."""
    params = jax.tree.map(np.asarray, jax.jit(DEEP_INIT.init)(jax.random.PRNGKey(seed)))
    rng = np.random.default_rng(seed)
    live_first, live_second = rng.integers(2, 5), rng.integers(1, 4)
    first, second = np.asarray(params[0]["b"]).copy(), np.asarray(params[1]["b"]).copy()
    first[live_first:] = -10.0
    second[live_second:] = -10.0
    second[:live_second] = 2.0 * rng.uniform(0.0, 1.0, live_second)
    params[0]["b"], params[1]["b"] = first, second
    return jax.tree.map(jnp.asarray, params)


def test_deep_prediction_equals_observed_zeros_and_the_jacobian_rank():
    """[8, 8] minima (2-D inputs of the euclidean_norm task's square): where the prediction says it is
    exact it equals P - rank of the output Jacobian (NumPy), the zero eigenvalues of eigh below the
    spectrum's gap and, without linear units, a hand count; on minima whose spectrum separates at the
    default tolerance (1e-4 of the top) it equals the zero count the command reports. Elsewhere the
    default tolerance also counts small curved directions of these deep networks as flat."""
    with jax.enable_x64(True):
        x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (256, 2)))
        model = make_mlp(ModelConfig(hidden=[8, 8]), InitConfig(), 2, 1, jnp.float64)
        hessian_fn = curvature.hessian_function(model)
        analyse = jax.jit(lambda p, y: curvature.dense_curvature_one(hessian_fn, p, x, y, "relu"))
        _, unravel = ravel_pytree(model.init(jax.random.PRNGKey(0)))
        output_jacobian = jax.jit(jax.jacfwd(lambda v: model.apply(unravel(v), x)))
        exact = 0
        for seed in range(16):
            params = deep_minimum(seed)
            out = {k: np.asarray(v) for k, v in analyse(params, model.apply(params, x)).items()}
            found = explained_flat_directions(model.apply, jax.tree.map(lambda leaf: leaf[None], params), x)
            out.update({k: v[0] for k, v in found.items()})
            out["prediction_code"], out["n_zero_predicted"] = reconcile_prediction(
                out["prediction_code"], out["n_zero_predicted"], out["n_zero_functional"], out["n_zero_explained"]
            )
            flat = ravel_pytree(params)[0]
            jacobian = np.asarray(output_jacobian(flat))
            singular = np.linalg.svd(jacobian, compute_uv=False)
            functional = flat.size - int(np.sum(singular > 1e-7 * singular[0]))  # GRAM_RTOL = (1e-7)**2
            assert int(out["n_zero_functional"]) == functional
            # the spectrum itself: a tolerance below its gap (null ~1e-16, curved >= ~1e-9 of the top) counts the same
            eigenvalues = out["eigenvalues"]
            assert int(np.sum(np.abs(eigenvalues) <= 1e-11 * np.abs(eigenvalues).max())) == functional
            if int(out["prediction_code"]) == LAYERWISE:  # unit mixing and one-layer degeneracies explain it all
                assert int(out["n_zero_predicted"]) == int(out["n_zero_explained"]) == functional
                continue
            if int(out["prediction_code"]) != EXACT:
                assert int(out["prediction_code"]) == HIDDEN and int(out["n_zero_predicted"]) == -1
                assert int(out["n_zero_unexplained"]) == functional - int(out["n_zero_explained"]) > 0
                continue
            exact += 1
            assert int(out["n_zero_predicted"]) == functional
            act = activation_function("relu")
            live = [int(np.sum(np.any(np.asarray(z) > 0, axis=0))) for z in hidden_preactivations(params, x, act)]
            if int(out["n_linear_units"]) == 0:  # rescalings + coordinates with a dead end
                widths = [2, 8, 8, 1]
                counts = [2, *live, 1]
                dead_coordinates = sum(widths[i] * widths[i + 1] - counts[i] * counts[i + 1] for i in range(3))
                dead_coordinates += (8 - live[0]) + (8 - live[1])
                assert int(out["n_zero_predicted"]) == sum(live) + dead_coordinates
            if seed in (6, 11, 14):  # spectra with a gap above the default tolerance: observed = predicted
                assert int(out["n_near_zero"]) == int(out["n_zero_predicted"])
                assert int(out["index"]) == 0 and float(out["symmetry_residual"]) < 1e-10
        assert exact >= 12  # the unit-state count is exact on most of these minima


def test_identical_networks_give_a_note_and_figures(tmp_path, capsys):
    path = tmp_path / "identical.h5"
    study = small_study(
        n_inits=2, **{"train.steps": 20, "task.n_points": 32, "init.scale": 0.0, "init.biases": "zeros"}
    )
    run_study(study, path, quiet=True)
    assert main(["hessian", str(path), "--figures", str(tmp_path / "fig")]) == 0
    out = capsys.readouterr().out
    assert "all 2 analysed networks have identical parameters" in out
    with Run(path) as run:
        stored = CurvatureResult.read(run)
    np.testing.assert_array_equal(stored.networks["eigenvalues"][0], stored.networks["eigenvalues"][1])
    assert (tmp_path / "fig" / "spectra_by_type.png").exists()
