"""The README's worked example: a model and loss of one's own, with no dataset, through every analysis.

Safran & Shamir (2018)'s two-layer ReLU student and orthonormal teacher (landscape.examples.teacher_student),
trained on its closed-form population loss; the run file names the factories, so every command rebuilds them.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import numpy as np
import pytest

import landscape as ls
from landscape.cli import main
from landscape.config import load_study
from landscape.examples.teacher_student import make_loss

STUDY_FILE = Path(__file__).parent.parent / "runs" / "teacher_student.toml"


def tiny_study():
    """n = k = 4 in 4 dimensions: a few seconds of training (not every network reaches its minimum)."""
    return load_study(STUDY_FILE).replace(
        name="byo-tiny",
        n_inits=12,
        **{
            "task.dim": 4,
            "task.teacher_width": 4,
            "model.hidden": [4],
            "train.steps": 400,
            "optimizer.schedule.options": {"decay_steps": 400, "alpha": 0.01},
        },
    )


@pytest.fixture(scope="module")
def byo_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("byo")
    study_file = folder / "byo.toml"
    study_file.write_text(tiny_study().to_toml())
    path = folder / "byo.h5"
    here = os.getcwd()
    os.chdir(folder)  # its figures land there
    try:
        assert main(["run", str(study_file), "--out", str(path), "--quiet", "--no-report"]) in (0, None)
    finally:
        os.chdir(here)
    return path


def run_cli(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse
        code = exit.code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err, captured.err
    assert code in (0, None), f"{argv}: exit {code}: {captured.err}"
    return captured.out


def test_every_command_runs_on_a_model_of_ones_own(byo_run, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # figures/ land here
    run = str(byo_run)
    out = run_cli(["classify", run, "--no-figures"], capsys)
    assert "success" in out
    out = run_cli(["hessian", run, "--no-figures"], capsys)
    assert "symmetry prediction skipped" in out or "skipped" in out
    run_cli(["slice", run, "0", "1", "2", "--resolution", "9", "--no-figures"], capsys)  # as from Python below
    run_cli(["paths", run, "0", "1", "--bezier-steps", "20", "--no-figures"], capsys)
    basins = tmp_path / "basins.toml"
    basins.write_text(
        tiny_study().replace(name="byo-basins", n_inits=4).to_toml()
        + '\n[basins]\nbase_index = 0\ngrid = 5\ndirections = ["filter", "filter"]\nspan = [1.0, 1.0]\n'
    )
    run_cli(["basins", str(basins), "--out", str(tmp_path / "basins.h5"), "--quiet"], capsys)
    run_cli(["report", run, "--out", str(tmp_path / "report")], capsys)
    html = (tmp_path / "report" / "index.html").read_text()
    assert "Safran" in html  # the model's own name, not "2-3-1 relu MLP"
    with ls.Run(byo_run) as stored:
        assert {"types", "hessian"} <= set(stored.groups())


def test_the_same_analyses_from_python_and_the_hessian_is_that_of_the_population_loss(byo_run):
    from landscape.curvature import analyse_run
    from landscape.paths import barriers_run
    from landscape.slices import slice_run
    from landscape.solutions import classify_run

    with ls.Run(byo_run) as run:
        problem = ls.problem_of(run)
        assert problem.mlp is None and not problem.has_data
        types = classify_run(run)
        assert types.finished.all()
        curvature = analyse_run(run, problem=problem)
        loss = make_loss(run.study)
        with jax.enable_x64(True):
            for index in (0, 5):
                params = jax.tree.map(lambda leaf: np.asarray(leaf, np.float64), run.params("final", index))
                flat, unravel = jax.flatten_util.ravel_pytree(params)
                hessian = jax.hessian(lambda v: loss(unravel(v), None, None))(flat)
                expected = np.linalg.eigvalsh(np.asarray(hessian))
                np.testing.assert_allclose(curvature.networks["eigenvalues"][index], expected, rtol=1e-7, atol=1e-9)
        plane = slice_run(run, ["0", "1", "2"], problem=problem, resolution=9)
        assert np.isfinite(plane.loss).all()
        barriers = barriers_run(run, ["0", "1"], problem=problem, bezier_steps=20)
        assert barriers.barrier_linear.shape == (2, 2)


def test_the_closed_form_population_loss_is_right_and_twice_differentiable_at_a_perfect_fit():
    """The arc-cosine kernel against Monte Carlo; at the teacher (a global minimum, loss 0) the gradient
    vanishes and the Hessian is positive definite and equals finite differences of the gradient."""
    from landscape.examples.teacher_student import arccos_kernel, population_loss

    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        u, v = rng.normal(size=(3, 4)), rng.normal(size=(2, 4))
        x = rng.normal(size=(400_000, 4))
        monte_carlo = (np.maximum(x @ u.T, 0)[:, :, None] * np.maximum(x @ v.T, 0)[:, None, :]).mean(0)
        np.testing.assert_allclose(jax.jit(arccos_kernel)(u, v), monte_carlo, atol=2e-2)
        teacher = np.linalg.qr(rng.normal(size=(5, 5)))[0].T
        loss = lambda flat: population_loss(flat.reshape(5, 5), jax.numpy.asarray(teacher))  # noqa: E731
        fit = jax.numpy.asarray(teacher[rng.permutation(5)].reshape(-1))  # any permutation of the teacher
        step = 1e-4  # the gradient at the fit and at fit +- step * e_i, in one compiled batch
        gradients = jax.jit(jax.vmap(jax.grad(loss)))(
            np.concatenate([fit[None], fit + step * np.eye(25), fit - step * np.eye(25)])
        )
        assert float(jax.jit(loss)(fit)) < 1e-14 and float(np.abs(gradients[0]).max()) < 1e-12
        hessian = np.asarray(jax.jit(jax.hessian(loss))(fit))
        finite = (gradients[1:26] - gradients[26:]) / (2 * step)  # row i: the gradient's derivative along e_i
        np.testing.assert_allclose(hessian, finite, atol=1e-4)
        assert np.linalg.eigvalsh(hessian).min() > 1e-3
