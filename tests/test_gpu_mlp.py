"""The Pallas GPU trainer (landscape.gpu_mlp), run in Pallas interpret mode on any backend.

The reference is the general jit(vmap(train_one)) trainer. The kernel sums over points in
32-point tiles, XLA in its own tree order, so results agree to float rounding: tightly over a
few steps; over hundreds of steps rounding is amplified near ReLU kinks and saddles, so there
the test compares the distribution of outcomes and the bulk of per-network results.

Interpret mode compiles each kernel for several seconds on a CPU, so every test here compiles
one kernel at most, and the studies are tiny. On a GPU the same tests run in interpret mode
too; ``benchmarks/gpu_check.sh`` runs the compiled kernel.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape import Study, fast_mlp, gpu_mlp, runner
from landscape.models import activation_function
from landscape.training import network_keys


def small(**overrides) -> Study:
    base = {"n_inits": 24, "train.steps": 6, "task.n_points": 40, "train.trajectory_points": 4}
    return Study().replace(**{**base, **overrides})


def both(study: Study):
    """(general result, Pallas result in interpret mode) for every network of ``study``, as NumPy trees."""
    prepared = runner.prepare(study, fast=False, shard=False)
    assert prepared.trainer_kind == "general"
    keys = network_keys(study.seed, np.arange(study.n_inits))
    init = prepared.batch_init(keys)
    x = np.asarray(prepared.dataset.x, np.float32)
    y = np.asarray(prepared.dataset.y, np.float32)
    plan = fast_mlp.make_plan(study, x.shape[1], prepared.spec.record_steps)
    pallas = gpu_mlp.make_gpu_batch_trainer(plan, interpret=True)(init, keys, x, y)
    general = prepared.batch_trainer(init, keys, x, y)
    to_np = lambda tree: jax.tree.map(np.asarray, tree)  # noqa: E731
    return to_np(general), to_np(pallas)


def assert_close(general, pallas, rtol=1e-4):
    """Statuses and update counts equal; values to ``rtol`` (losses 1e-6, parameters 2e-5 absolute)."""
    for a, b in zip(jax.tree.leaves(general.final_params), jax.tree.leaves(pallas.final_params), strict=True):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=2e-5)
    np.testing.assert_allclose(pallas.final_loss, general.final_loss, rtol=rtol, atol=1e-6)
    np.testing.assert_allclose(pallas.grad_norm, general.grad_norm, rtol=10 * rtol, atol=1e-5)
    np.testing.assert_allclose(pallas.trajectory, general.trajectory, rtol=rtol, atol=1e-6)
    np.testing.assert_array_equal(pallas.status, general.status)
    np.testing.assert_array_equal(pallas.steps, general.steps)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "linear", "tanh", "sigmoid", "softplus", "elu", "exp", "gelu"])
def test_kernel_activations_and_derivatives_equal_jax(name):
    """Every built-in activation: value against models.activation_function, derivative against jax.grad."""
    z = jnp.concatenate([jnp.linspace(-6.0, 6.0, 121), jnp.array([0.0, -1e-3, 1e-3])]).reshape(4, 31)
    code = fast_mlp.ACTIVATION_CODES[name]
    a, da = gpu_mlp._activation(code, 0.1, z)
    reference = activation_function(name, 0.1)
    np.testing.assert_allclose(a, reference(z), rtol=2e-6, atol=1e-6)
    derivative = jax.vmap(jax.grad(lambda v: reference(v)))(z.ravel()).reshape(z.shape)
    np.testing.assert_allclose(da, derivative, rtol=2e-5, atol=1e-6)


# The default 2-3-1 relu with Adam, 130 networks (two programs of 128 lanes, the second mostly
# padding), a ragged last point tile (40 points), and a loose grad_tol: networks freeze at many steps.
FREEZING = {"n_inits": 130, "train.steps": 60, "train.grad_tol": 0.05, "train.trajectory_points": 8}
# Plain SGD from wide inits, leaky ReLU without hidden biases: about half the networks diverge.
DIVERGING = {
    "model.activation": "leaky_relu",
    "model.leaky_slope": 0.1,
    "model.bias": False,
    "optimizer.name": "sgd",
    "optimizer.learning_rate": 0.5,
    "init.scale": 3.0,
}
NESTEROV = {
    "model.activation": "gelu",
    "task.name": "teacher",
    "task.dim": 3,
    "optimizer.name": "nesterov",
    "optimizer.learning_rate": 0.05,
    "init.biases": "normal",
    "model.output_bias": False,
}
CONFIGS = [FREEZING, DIVERGING, NESTEROV]


@pytest.mark.parametrize("overrides", CONFIGS, ids=["relu-adam-freezing", "leaky-sgd-diverging", "gelu-nesterov"])
def test_short_horizon_equal_to_general_trainer(overrides):
    """One compiled kernel per configuration (interpret mode compiles slowly), so each carries
    several checks: freeze on grad_tol at many steps; divergence keeping the last finite params."""
    general, pallas = both(small(**overrides))
    if overrides is FREEZING:
        assert 0 < np.sum(general.status == 0) < 130  # a mix of converged and still running
        assert len(np.unique(general.steps[general.status == 0])) > 3  # frozen at different steps
    if overrides is DIVERGING:
        assert 0 < np.sum(general.status == 2) < 24 and np.sum(general.status == 1) > 0  # some diverge, some do not
        assert len(np.unique(general.steps[general.status == 2])) > 1  # at different steps
        assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(pallas.final_params))  # last finite kept
        # values grow by orders of magnitude a step on the way to overflow, and so do rounding differences
        assert_close(general, pallas, rtol=1e-2)
        return
    assert_close(general, pallas)


def test_long_horizon_statistically_equal():
    """400 momentum steps on 256 networks: same outcome for nearly every network, same fractions."""
    study = small(
        **{
            "n_inits": 256,
            "train.steps": 400,
            "task.n_points": 64,
            "train.trajectory_points": 12,
            "optimizer.name": "momentum",
            "optimizer.learning_rate": 0.05,
        }
    )
    general, pallas = both(study)
    assert np.sum(general.status == 0) > 10  # some converge (and freeze) on the way
    assert np.mean(general.status == pallas.status) >= 0.95
    g_good, p_good = general.final_loss < 1e-2, pallas.final_loss < 1e-2
    assert 0.05 < g_good.mean() < 0.95  # both outcomes occur, so the comparison means something
    assert abs(g_good.mean() - p_good.mean()) <= 4 / 256
    assert np.mean(g_good == p_good) >= 0.95
    assert np.isclose(pallas.final_loss, general.final_loss, rtol=1e-2, atol=1e-5).mean() >= 0.9


def test_chosen_automatically_on_a_gpu_backend_and_recorded(tmp_path, monkeypatch):
    """With the backend reported as "gpu", run_study picks the Pallas trainer (here in interpret mode,
    the kernel of the freezing test above) and records it; its run file equals the general trainer's."""
    from tests.conftest import assert_same_training

    study = small(**FREEZING)
    monkeypatch.setenv("LANDSCAPE_FAST_PATH", "0")
    general_path = runner.run_study(study, tmp_path / "general.h5", quiet=True)
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert runner.prepare(study, shard=False).trainer_kind == "general"  # LANDSCAPE_FAST_PATH=0 wins
    monkeypatch.delenv("LANDSCAPE_FAST_PATH")
    assert runner.prepare(study, fast=False, shard=False).trainer_kind == "general"
    assert runner.prepare(study.replace(**{"train.dtype": "float64"}), shard=False).trainer_kind == "general"
    assert runner.prepare(study.replace(**{"model.hidden": [80]}), shard=False).trainer_kind == "general"
    monkeypatch.setattr(gpu_mlp, "INTERPRET", True)
    pallas_path = runner.run_study(study, tmp_path / "pallas.h5", quiet=True)
    assert_same_training(pallas_path, general_path, "gpu_pallas")


@pytest.mark.parametrize(
    "overrides, backend, reason",
    [
        ({"model.hidden": [65]}, "gpu", "hidden width 65 > 64"),
        ({"model.hidden": [64], "task.dim": 3}, "gpu", "321 parameters per network > 320"),
        ({"model.hidden": [3, 3]}, "gpu", "not one hidden layer"),
        ({"train.dtype": "float64"}, "gpu", "float64"),
        ({"train.batch_size": 16}, "gpu", "minibatches"),
        ({"optimizer.name": "rmsprop"}, "gpu", "optimizer"),
        ({}, "tpu", "backend tpu"),
        ({"model.hidden": [64]}, "gpu", None),  # the widest the GPU kernel takes (2-64-1: 257 parameters)
        ({"model.hidden": [100]}, "cpu", None),  # the CPU kernel has no width limit
    ],
)
def test_capability_reasons_per_backend(overrides, backend, reason):
    found = fast_mlp.unsupported_reason(small(**overrides), 1, backend=backend)
    if reason is None:
        assert found is None
    else:
        assert reason in found


def test_capability_check_says_when_turned_off(monkeypatch):
    monkeypatch.setenv("LANDSCAPE_FAST_PATH", "off")
    assert fast_mlp.unsupported_reason(small(), 1, backend="gpu") == "LANDSCAPE_FAST_PATH is off"
    assert fast_mlp.unsupported_reason(small(), 1, custom_model=True, backend="gpu") == "LANDSCAPE_FAST_PATH is off"
    monkeypatch.delenv("LANDSCAPE_FAST_PATH")
    assert fast_mlp.unsupported_reason(small(), 1, custom_loss=True, backend="gpu") == "a user loss"


def test_kernel_lowers_to_triton_without_a_gpu():
    """The compiled (not interpreted) kernel lowers to Triton IR for CUDA on any machine: this checks
    Triton's constraints that interpret mode does not (power-of-two block and tile shapes, the
    primitives it can lower), with a ragged point count and a partly filled lane block."""
    pytest.importorskip("jax.experimental.pallas.triton")
    study = small(**{"model.activation": "gelu", "task.n_points": 72, "optimizer.name": "nesterov"})
    plan = fast_mlp.make_plan(study, 2, (0, 3, 5))
    shapes = (
        jax.ShapeDtypeStruct((200, plan.n_params), jnp.float32),
        jax.ShapeDtypeStruct((72, 2), jnp.float32),
        jax.ShapeDtypeStruct((72,), jnp.float32),
    )
    lowered = (
        jax.jit(lambda p, x, y: gpu_mlp.train_packed(p, x, y, plan, interpret=False))
        .trace(*shapes)
        .lower(lowering_platforms=("cuda",))
    )
    assert "landscape_mlp_train" in lowered.as_text()


@pytest.mark.skipif(
    jax.default_backend() != "gpu", reason="the compiled (Triton) kernel needs a GPU; interpret mode is tested above"
)
@pytest.mark.parametrize(
    "overrides",
    [FREEZING, CONFIGS[2], {"n_inits": 300, "task.n_points": 1024, "train.steps": 30}],
    ids=["relu-adam-freezing", "gelu-nesterov", "default-data"],
)
def test_compiled_kernel_on_a_gpu_equals_general_trainer(overrides):
    """On a GPU: the kernel compiled for real, and the automatic choice, against the general trainer."""
    study = small(**overrides)
    assert runner.prepare(study, shard=False).trainer_kind == "gpu_pallas"
    prepared = runner.prepare(study, fast=False, shard=False)
    keys = network_keys(study.seed, np.arange(study.n_inits))
    init = prepared.batch_init(keys)
    x, y = np.asarray(prepared.dataset.x, np.float32), np.asarray(prepared.dataset.y, np.float32)
    plan = fast_mlp.make_plan(study, x.shape[1], prepared.spec.record_steps)
    compiled = gpu_mlp.make_gpu_batch_trainer(plan, interpret=False)(init, keys, x, y)
    general = prepared.batch_trainer(init, keys, x, y)
    assert_close(jax.tree.map(np.asarray, general), jax.tree.map(np.asarray, compiled))


def test_block_that_stops_early_records_its_final_loss():
    """Every network converges at step 0 (grad_tol huge): the kernel's step loop ends at once, and the
    trajectory after it holds the loss at the (unchanged) parameters, as train_one records."""
    general, pallas = both(small(**{"train.grad_tol": 1e6, "train.steps": 30, "train.trajectory_points": 6}))
    assert np.all(general.status == 0) and np.all(general.steps == 0)
    assert_close(general, pallas)
    np.testing.assert_allclose(
        pallas.trajectory, np.repeat(pallas.final_loss[:, None], pallas.trajectory.shape[1], axis=1), rtol=1e-6
    )
