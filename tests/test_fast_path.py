"""The compiled fast path (landscape.fast_mlp) against the general jit(vmap(train_one)) trainer.

Sums over points are added in a different order in the kernel (sequentially) and in XLA
(tree reductions), so results agree to float rounding, not bit for bit. Over a short horizon
that is a tight tolerance on everything; over thousands of steps rounding differences are
amplified where a network passes near a ReLU kink or a saddle, so there the test compares
the distribution of outcomes (statuses, fraction reaching a low loss) and the bulk of
per-network results.
"""

from __future__ import annotations

import os
import shutil

import jax
import numpy as np
import pytest

from landscape import Study, fast_mlp, runner
from landscape.training import make_batch_trainer, network_keys

pytestmark = [
    pytest.mark.skipif(
        shutil.which(os.environ.get("CXX") or "g++") is None,
        reason="no C++ compiler: the fast path cannot be built here",
    ),
    pytest.mark.skipif(
        jax.default_backend() != "cpu",
        reason=f"the C++ kernel is CPU-only (backend {jax.default_backend()}); the GPU trainer's tests are in test_gpu_mlp.py",
    ),
]


def small(**overrides) -> Study:
    base = {"n_inits": 48, "train.steps": 20, "task.n_points": 96, "train.trajectory_points": 10}
    return Study().replace(**{**base, **overrides})


def both(study: Study, n: int | None = None):
    """(general result, fast result) for the first ``n`` networks of ``study``."""
    prepared = runner.prepare(study, shard=False)
    assert prepared.trainer_kind == "fast_mlp"
    n = n or study.n_inits
    keys = network_keys(study.seed, np.arange(n))
    init = prepared.batch_init(keys)
    x = np.asarray(prepared.dataset.x, np.float32)
    y = np.asarray(prepared.dataset.y, np.float32)
    general = make_batch_trainer(prepared.model, prepared.spec)(init, keys, x, y)
    fast = prepared.batch_trainer(init, keys, x, y)
    to_np = lambda tree: [np.asarray(leaf) for leaf in __import__("jax").tree.leaves(tree)]  # noqa: E731
    return general, fast, to_np


CONFIGS = [
    {},  # the default: 2-3-1 relu, Adam
    {
        "model.activation": "leaky_relu",
        "model.leaky_slope": 0.1,
        "optimizer.name": "sgd",
        "optimizer.learning_rate": 0.1,
    },
    {"model.activation": "tanh", "model.hidden": [5], "optimizer.name": "momentum", "optimizer.learning_rate": 0.05},
    {
        "model.activation": "softplus",
        "optimizer.name": "nesterov",
        "optimizer.learning_rate": 0.05,
        "model.output_bias": False,
    },
    {"model.activation": "sigmoid", "model.bias": False, "optimizer.options": {"b1": 0.8, "b2": 0.99, "eps": 1e-6}},
    {"model.activation": "elu", "model.hidden": [16], "task.dim": 4, "init.biases": "normal"},
    {"model.activation": "gelu", "task.name": "teacher", "task.dim": 3, "model.hidden": [4]},
    {"model.activation": "exp", "init.scale": 0.3, "optimizer.learning_rate": 1e-3, "task.dim": 1},
    {"model.activation": "linear", "task.dim": 5, "model.hidden": [7], "init.biases": "normal"},
]


@pytest.mark.parametrize("overrides", CONFIGS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_short_horizon_equal_to_general_path(overrides):
    general, fast, to_np = both(small(**overrides))
    for a, b in zip(to_np(general.final_params), to_np(fast.final_params), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(fast.final_loss, general.final_loss, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fast.grad_norm, general.grad_norm, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(fast.trajectory, general.trajectory, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(fast.status, general.status)
    np.testing.assert_array_equal(fast.steps, general.steps)


def test_initial_loss_matches_float64_closed_form():
    """Trajectory[0] is the loss at the init: check it against a float64 numpy forward pass."""
    study = small()
    prepared = runner.prepare(study, shard=False)
    init, result = runner.train_networks(prepared, np.arange(16))
    x, y = prepared.dataset.x.astype(np.float64), prepared.dataset.y.astype(np.float64)
    hidden, out = init
    z = np.einsum("pd,ndh->nph", x, hidden["w"].astype(np.float64)) + hidden["b"][:, None, :]
    pred = np.einsum("nph,nh->np", np.maximum(z, 0.0), out["w"][:, :, 0]) + out["b"][:, None, 0]
    np.testing.assert_allclose(result.trajectory[:, 0], np.mean((pred - y) ** 2, axis=1), rtol=1e-5)


def test_convergence_freezes_like_general_path():
    """A loose grad_tol: networks converge at various steps and stop moving, as in train_one."""
    general, fast, to_np = both(small(**{"train.grad_tol": 0.05, "train.steps": 60}))
    assert 0 < np.sum(np.asarray(general.status) == 0) < 48  # a mix of converged and running
    np.testing.assert_array_equal(fast.status, general.status)
    np.testing.assert_array_equal(fast.steps, general.steps)
    np.testing.assert_allclose(fast.trajectory, general.trajectory, rtol=1e-4, atol=1e-6)
    for a, b in zip(to_np(general.final_params), to_np(fast.final_params), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=2e-5)


def test_everything_converges_at_step_zero():
    general, fast, _ = both(small(**{"train.grad_tol": 1e6}))
    assert np.all(np.asarray(fast.status) == 0) and np.all(np.asarray(fast.steps) == 0)
    np.testing.assert_allclose(fast.trajectory, general.trajectory, rtol=1e-5)
    np.testing.assert_allclose(fast.final_loss, general.final_loss, rtol=1e-5)


def test_divergence_keeps_last_finite_params_like_general_path():
    general, fast, to_np = both(small(**{"optimizer.name": "sgd", "optimizer.learning_rate": 1e4, "train.steps": 30}))
    assert np.all(np.asarray(general.status) == 2)
    np.testing.assert_array_equal(fast.status, general.status)
    np.testing.assert_array_equal(fast.steps, general.steps)
    for a, b in zip(to_np(general.final_params), to_np(fast.final_params), strict=True):
        assert np.all(np.isfinite(b))
        np.testing.assert_allclose(b, a, rtol=1e-3)


def test_long_horizon_statistically_equal():
    """2000 steps on 256 networks: same outcomes for nearly every network, same fractions."""
    study = small(**{"n_inits": 256, "train.steps": 1500, "task.n_points": 64, "train.trajectory_points": 20})
    general, fast, _ = both(study)
    g_status, f_status = np.asarray(general.status), np.asarray(fast.status)
    assert np.mean(g_status == f_status) >= 0.95
    g_good, f_good = np.asarray(general.final_loss) < 1e-2, np.asarray(fast.final_loss) < 1e-2
    assert abs(g_good.mean() - f_good.mean()) <= 4 / 256
    assert np.mean(g_good == f_good) >= 0.95
    close = np.isclose(np.asarray(fast.final_loss), np.asarray(general.final_loss), rtol=1e-2, atol=1e-5)
    assert close.mean() >= 0.9


@pytest.mark.parametrize(
    "overrides, reason",
    [
        ({"model.hidden": [3, 3]}, "not one hidden layer"),
        ({"train.batch_size": 32}, "minibatches"),
        ({"train.dropout": 0.1}, "dropout"),
        ({"optimizer.name": "rmsprop"}, "optimizer"),
        ({"optimizer.schedule": {"name": "cosine_decay"}}, "schedule"),
        ({"task.name": "dft", "task.dim": 4}, "vector output"),
    ],
)
def test_general_path_kept_outside_the_family(overrides, reason):
    study = small(**overrides)
    prepared = runner.prepare(study, shard=False)
    assert prepared.trainer_kind == "general"
    assert reason in fast_mlp.unsupported_reason(study, prepared.dataset.out_dim)


def test_fast_path_chosen_automatically_and_switchable(monkeypatch):
    assert runner.prepare(small(), shard=False).trainer_kind == "fast_mlp"
    assert runner.prepare(small(), fast=False, shard=False).trainer_kind == "general"
    monkeypatch.setenv("LANDSCAPE_FAST_PATH", "0")
    assert runner.prepare(small(), shard=False).trainer_kind == "general"


def test_run_file_from_fast_path_matches_general(tmp_path, monkeypatch):
    from tests.conftest import assert_same_training

    study = small(**{"n_inits": 40, "train.chunk_size": 16})
    fast_path = runner.run_study(study, tmp_path / "fast.h5", quiet=True)
    monkeypatch.setenv("LANDSCAPE_FAST_PATH", "0")
    general_path = runner.run_study(study, tmp_path / "general.h5", quiet=True)
    assert_same_training(fast_path, general_path, "fast_mlp")


def test_build_failure_falls_back_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    fast_mlp.load_kernel.cache_clear()
    try:
        with pytest.warns(fast_mlp.FastPathUnavailableWarning, match="fast MLP trainer unavailable"):
            assert runner.prepare(small(), shard=False).trainer_kind == "general"
        assert (
            runner.prepare(small(), shard=False).trainer_kind == "general"
        )  # no second warning (filterwarnings=error)
    finally:
        fast_mlp.load_kernel.cache_clear()
    monkeypatch.undo()
    assert fast_mlp.load_kernel()


def test_pack_unpack_roundtrip():
    import jax

    study = small(**{"model.hidden": [5], "task.dim": 3, "model.bias": False})
    prepared = runner.prepare(study, shard=False)
    init = prepared.batch_init(network_keys(0, np.arange(4)))
    plan = fast_mlp.make_plan(study, 3, prepared.spec.record_steps)
    back = fast_mlp.unpack_params(fast_mlp.pack_params(init, plan), plan)
    assert jax.tree.structure(back) == jax.tree.structure(init)
    for a, b in zip(jax.tree.leaves(init), jax.tree.leaves(back), strict=True):
        np.testing.assert_array_equal(a, b)
