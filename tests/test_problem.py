"""The model travels with the run: problem_of rebuilds model, loss and data from the run file."""

import jax
import numpy as np
import pytest

import landscape as ls
from landscape.config import load_study
from landscape.models import make_mlp
from landscape.problem import ModelUnavailable, problem_of, rescaling_reason, success_problem_of, unit_reason
from landscape.runner import summarize
from tests.conftest import small_study


@pytest.fixture(scope="module")
def teacher_student_run(tmp_path_factory):
    study = load_study("runs/teacher_student.toml").replace(n_inits=6, **{"train.steps": 200})
    return ls.run_study(study, tmp_path_factory.mktemp("ts") / "ts.h5", quiet=True)


def test_factory_run_is_rebuilt_and_its_loss_is_the_stored_one(teacher_student_run):
    with ls.Run(teacher_student_run) as run:
        problem = problem_of(run)
        assert problem.sources == {"model": "factory", "loss": "factory", "target": "config"}
        assert not problem.has_data and problem.x.shape == (0, run.study.task.dim)
        assert problem.mlp is None and "your own" in unit_reason(problem) and "your own" in rescaling_reason(problem)
        with jax.enable_x64(True):
            losses = [float(problem.loss(run.params("final", i))) for i in range(run.n_inits)]
        np.testing.assert_allclose(losses, run.final_loss, rtol=1e-10, atol=1e-14)
        assert problem.success_loss == run.study.task.success_loss > 0 and problem.constant_loss is None


def test_a_run_trained_from_objects_says_so_in_one_line(tmp_path):
    study = small_study(n_inits=4, **{"train.steps": 20})
    x_dim = study.task.dim
    model = make_mlp(study.model, study.init, x_dim, 1)
    object_model = ls.Model(init=model.init, apply=model.apply, name="my-net")
    path = ls.run_study(study, tmp_path / "objects.h5", quiet=True, model=object_model)
    with ls.Run(path) as run:
        with pytest.raises(ModelUnavailable) as info:
            problem_of(run)
        message = str(info.value)
        assert "\n" not in message and "my-net" in message and "problem_of(run, model=" in message
        problem = problem_of(run, model=object_model)
        assert problem.sources["model"] == "object:my-net" and problem.mlp is None
        loss = float(problem.loss(run.params("final", 0)))
        assert loss == pytest.approx(float(run.final_loss[0]), rel=1e-5)
        # success needs only the data and the study: judged without the model, as with it
        judge = success_problem_of(run)
        assert judge.model is None and judge.sources == problem.sources and judge.loss_fn is None
        assert judge.success_loss == pytest.approx(problem.success_loss) and judge.success_loss > 0
        np.testing.assert_allclose(judge.r_squared(run.final_loss), problem.r_squared(run.final_loss))
        assert summarize(run)["success_loss"] == pytest.approx(problem.success_loss)
    loss_path = ls.run_study(study, tmp_path / "own-loss.h5", quiet=True, loss_fn=lambda p, x, y: model_mse(p, x, y))
    with ls.Run(loss_path) as run:
        judge = success_problem_of(run)
        assert judge.sources["loss"].startswith("object:") and judge.success_loss is None  # no task.success_loss
        with pytest.raises(ModelUnavailable, match="cannot rebuild"):
            judge.loss_fn(None, None, None)
        assert problem_of(run, loss_fn=lambda p, x, y: 0.0).mlp is not None  # the model is the built-in one


def model_mse(params, x, y):
    from landscape.models import mlp_apply

    return ((mlp_apply(params, x, jax.nn.relu, scalar_output=True) - y) ** 2).mean()


def test_the_builtin_mlp_and_its_success_threshold(small_run_path):
    with ls.Run(small_run_path) as run:
        problem = problem_of(run)
        assert problem.sources["model"] == "mlp" and problem.mlp is not None and unit_reason(problem) is None
        y = np.asarray(run.y, float)
        assert problem.constant_loss == pytest.approx(np.mean((y - y.mean()) ** 2), rel=1e-12)
        assert problem.success_loss == pytest.approx(0.1 * problem.constant_loss)
        r2 = problem.r_squared(run.final_loss)
        np.testing.assert_allclose(
            r2, 1 - np.asarray(run.final_loss, float) / problem.constant_loss, rtol=1e-6, atol=1e-6
        )
