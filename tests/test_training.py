"""The trainer: vmap equals one network at a time, statuses are data, keys are per network."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from landscape import Status, Study, prepare, train_networks
from landscape.models import make_mlp
from landscape.training import (
    TrainSpec,
    init_and_train_keys,
    make_batch_trainer,
    make_objective,
    network_keys,
    record_schedule,
    train_one,
)
from tests.conftest import small_study


def test_batched_training_equals_training_each_network_alone():
    """vmap changes nothing: in float64 (a scoped x64, so the identity holds to rounding on any
    backend; in float32 a GPU's batched and single reductions differ by ~1e-5 after 150 Adam steps)."""
    study = small_study(n_inits=6, **{"train.steps": 150, "train.dtype": "float64"})
    prepared = prepare(
        study, fast=False
    )  # the vmapped general trainer; compiled kernels: test_fast_path.py, test_gpu_mlp.py
    indices = np.arange(6)
    init, batched = train_networks(prepared, indices)
    assert batched.final_loss.dtype == np.float64 and not jax.config.jax_enable_x64  # x64 stayed scoped
    objective = make_objective(prepared.model)
    with jax.enable_x64(True):
        one = jax.jit(lambda p, k, x, y: train_one(p, k, x, y, prepared.spec, objective))
        x, y = jnp.asarray(prepared.dataset.x, jnp.float64), jnp.asarray(prepared.dataset.y, jnp.float64)
        for i, key in zip(indices, network_keys(prepared.study.seed, indices)):
            params_i = jax.tree.map(lambda leaf: jnp.asarray(leaf[i]), init)
            alone = one(params_i, init_and_train_keys(key)[1], x, y)
            for a, b in zip(
                jax.tree.leaves(alone.final_params),
                jax.tree.leaves(jax.tree.map(lambda leaf: leaf[i], batched.final_params)),
            ):
                np.testing.assert_allclose(np.asarray(a), b, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(float(alone.final_loss), batched.final_loss[i], rtol=1e-10)
            assert int(alone.status) == batched.status[i] and int(alone.steps) == batched.steps[i]


def test_results_do_not_depend_on_which_other_networks_share_the_batch():
    """Same per-network results whatever the batch shape (XLA may round another shape differently
    by an ulp, which 100 steps amplify: checked in float64, to 1e-9)."""
    prepared = prepare(small_study(**{"train.steps": 100, "train.dtype": "float64"}))
    _, all_eight = train_networks(prepared, np.arange(8))
    _, some = train_networks(prepared, np.array([5, 2]), pad_to=4)
    np.testing.assert_allclose(some.final_loss, all_eight.final_loss[[5, 2]], rtol=1e-9)
    np.testing.assert_allclose(some.final_params[0]["w"], all_eight.final_params[0]["w"][[5, 2]], rtol=1e-9, atol=1e-12)


def test_float64_is_scoped_to_the_study():
    """A float64 study trains in float64 and leaves the process's x64 setting alone."""
    before = bool(jax.config.jax_enable_x64)
    prepared = prepare(small_study(n_inits=2, **{"train.steps": 3, "train.dtype": "float64"}))
    init, result = train_networks(prepared, np.arange(2))
    assert init[0]["w"].dtype == np.float64 and result.final_loss.dtype == np.float64
    assert bool(jax.config.jax_enable_x64) == before
    assert jnp.zeros(1).dtype == (jnp.float64 if before else jnp.float32)


def test_diverging_networks_are_recorded_and_the_others_finish():
    """A linear-activation net: SGD with lr 0.2 is stable from Glorot inits, blows up from inits x10."""
    study = small_study(
        **{"optimizer.name": "sgd", "optimizer.learning_rate": 0.2, "train.steps": 200, "model.activation": "linear"}
    )
    prepared = prepare(study)
    keys = network_keys(0, np.arange(8))
    init = prepared.batch_init(keys)
    scale = jnp.array([1, 1, 1, 1, 10, 10, 10, 10], jnp.float32)
    init = jax.tree.map(lambda leaf: leaf * scale.reshape((-1,) + (1,) * (leaf.ndim - 1)), init)
    x, y = jnp.asarray(prepared.dataset.x, jnp.float32), jnp.asarray(prepared.dataset.y, jnp.float32)
    result = prepared.batch_trainer(init, keys, x, y)
    status = np.asarray(result.status)
    assert np.all(status[4:] == Status.DIVERGED), status
    assert np.all(status[:4] != Status.DIVERGED), status
    assert np.all(np.isfinite(np.asarray(result.final_loss[:4])))
    # a diverged network keeps its last finite parameters
    assert all(np.all(np.isfinite(np.asarray(leaf))) for leaf in jax.tree.leaves(result.final_params))
    assert np.all(np.asarray(result.steps[4:]) < 200)


def test_convergence_freezes_the_network_and_counts_steps():
    """A network that starts at an exact minimum converges at step 0 and never moves."""
    study = small_study()
    prepared = prepare(study)
    x = jnp.asarray(prepared.dataset.x, jnp.float32)
    # |x0| + ... is not the norm; use a linear target the MLP fits exactly: y = relu(x0) - relu(-x0) = x0
    y = x[:, 0]
    params = [
        {"w": jnp.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]]), "b": jnp.zeros(3)},
        {"w": jnp.array([[1.0], [-1.0], [0.0]]), "b": jnp.zeros(1)},
    ]
    spec = TrainSpec(optax.adam(1e-2), steps=50, grad_tol=1e-6, record_steps=(0, 49))
    result = train_one(params, jax.random.PRNGKey(0), x, y, spec, make_objective(prepared.model))
    assert int(result.status) == Status.CONVERGED and int(result.steps) == 0
    np.testing.assert_array_equal(np.asarray(result.final_params[0]["w"]), np.asarray(params[0]["w"]))


def test_out_of_steps_is_max_steps():
    prepared = prepare(small_study(**{"train.steps": 5}))
    _, result = train_networks(prepared, np.arange(4))
    assert np.all(result.status == Status.MAX_STEPS) and np.all(result.steps == 5)


def test_trajectory_starts_at_the_initial_loss():
    prepared = prepare(small_study(**{"train.steps": 50}))
    init, result = train_networks(prepared, np.arange(3))
    x, y = jnp.asarray(prepared.dataset.x, jnp.float32), jnp.asarray(prepared.dataset.y, jnp.float32)
    for i in range(3):
        params = jax.tree.map(lambda leaf: jnp.asarray(leaf[i]), init)
        initial_loss = float(jnp.mean((prepared.model.apply(params, x) - y) ** 2))
        np.testing.assert_allclose(result.trajectory[i, 0], initial_loss, rtol=1e-5)


def test_record_schedule_is_sorted_unique_and_covers_both_ends():
    for steps, points, spacing in [(2000, 200, "log"), (10, 200, "log"), (1000, 7, "linear"), (1, 5, "log")]:
        record = record_schedule(steps, points, spacing)
        assert record[0] == 0 and record[-1] == steps - 1
        assert np.all(np.diff(record) > 0) and len(record) <= points + 2


def test_minibatches_cover_the_data_once_per_epoch():
    from landscape.training import _minibatch

    x = jnp.arange(12.0)[:, None]
    seen = np.concatenate(
        [np.asarray(_minibatch(x, x[:, 0], jax.random.PRNGKey(3), jnp.int32(t), 4)[0][:, 0]) for t in range(3)]
    )
    assert sorted(seen.tolist()) == list(range(12))


def test_frozen_parameters_never_move():
    study = small_study(**{"train.steps": 30})
    prepared = prepare(study)
    model = make_mlp(study.model, study.init, 2, 1)
    trainable = [{"w": True, "b": True}, {"w": False, "b": False}]  # output layer fixed
    model = model.__class__(
        init=model.init, apply=model.apply, name="frozen-output", trainable=trainable, mlp=model.mlp
    )
    trainer = make_batch_trainer(model, prepared.spec)
    keys = network_keys(0, np.arange(3))
    init = prepared.batch_init(keys)
    result = trainer(
        init, keys, jnp.asarray(prepared.dataset.x, jnp.float32), jnp.asarray(prepared.dataset.y, jnp.float32)
    )
    np.testing.assert_array_equal(np.asarray(result.final_params[1]["w"]), np.asarray(init[1]["w"]))
    assert not np.allclose(np.asarray(result.final_params[0]["w"]), np.asarray(init[0]["w"]))


def test_user_loss_replaces_the_sample_mean():
    """A closed-form population loss: E|x|^2 fit of a 1-parameter 'network' f = c (target mean)."""
    study = small_study(**{"train.steps": 300, "optimizer.learning_rate": 0.05})
    from landscape.models import Model

    model = Model(
        init=lambda key: {"c": jnp.zeros(())}, apply=lambda p, x, *a: jnp.full(x.shape[0], p["c"]), name="constant"
    )
    # population loss for target sqrt(x0^2+x1^2) on U[-1,1]^2 and a constant c: E[(c - r)^2], minimised at c = E r
    mean_r = 0.7651957  # E sqrt(x^2 + y^2) on the square [-1, 1]^2 = (sqrt(2) + asinh(1)) / 3
    loss = lambda p, x, y: (p["c"] - mean_r) ** 2 + 0.0 * jnp.sum(x)  # noqa: E731
    prepared = prepare(study, model=model, loss_fn=loss)
    _, result = train_networks(prepared, np.arange(2))
    np.testing.assert_allclose(result.final_params["c"], mean_r, atol=1e-3)
    assert abs(mean_r - (np.sqrt(2) + np.arcsinh(1)) / 3) < 1e-6


def test_study_seed_changes_inits_and_reproduces_them():
    a = prepare(Study().replace(seed=1)).batch_init(network_keys(1, np.arange(4)))
    b = prepare(Study().replace(seed=1)).batch_init(network_keys(1, np.arange(4)))
    c = prepare(Study().replace(seed=2)).batch_init(network_keys(2, np.arange(4)))
    np.testing.assert_array_equal(a[0]["w"], b[0]["w"])
    assert not np.allclose(a[0]["w"], c[0]["w"])


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal", "lecun_normal", "uniform"])
def test_weight_init_statistics(name):
    """Glorot-uniform limit sqrt(6/(fan_in+fan_out)); He-normal std sqrt(2/fan_in); scale multiplies."""
    study = Study().replace(**{"model.hidden": [400], "init.weights": name, "init.scale": 2.0})
    w = np.asarray(prepare(study).batch_init(network_keys(0, np.arange(8)))[0]["w"])  # (8, 2, 400)
    fan_in, fan_out = 2, 400
    if name == "glorot_uniform":
        limit = 2.0 * np.sqrt(6 / (fan_in + fan_out))
        assert np.abs(w).max() <= limit and np.abs(w).max() > 0.95 * limit
    elif name == "uniform":
        assert np.abs(w).max() <= 2.0 and np.abs(w).max() > 1.9
    else:
        expected = 2.0 * np.sqrt((2.0 if name == "he_normal" else 1.0) / fan_in)
        np.testing.assert_allclose(w.std(), expected, rtol=0.1)


def test_auto_chunk_size_uses_the_memory_the_device_reports(monkeypatch):
    """On a device that reports its memory (a GPU) chunks fill a share of it; on a CPU the old rule holds."""
    from landscape import runner

    class FakeDevice:
        def memory_stats(self):
            return {"bytes_limit": 80 * 2**30, "bytes_in_use": 16 * 2**30}

    monkeypatch.setattr(jax, "local_devices", lambda *a, **k: [FakeDevice()])
    assert runner.device_memory_bytes() == 64 * 2**30
    million = Study().replace(n_inits=10**6)
    # the GPU trainer keeps ~100 floats per network: a million fit in one chunk
    assert runner.auto_chunk_size(million, 1, 1, "gpu_pallas") == 10**6
    # the general trainer keeps every point's activations: as many as fit in half the free memory
    per_net = runner.chunk_bytes_per_network(million, 1, "general")
    chunk = runner.auto_chunk_size(million, 1, 1, "general")
    n_chunks = -(-(10**6) // chunk)
    assert chunk * per_net <= 0.5 * 64 * 2**30 * 1.01 and n_chunks == -(-(10**6) // (32 * 2**30 // per_net))
    assert chunk > runner.MAX_AUTO_CHUNK
    assert runner.auto_chunk_size(million, 1, 4, "general", memory_bytes=2**30) % 4 == 0  # a multiple of the devices
    assert (
        runner.auto_chunk_size(million.replace(**{"train.chunk_size": 1000}), 1, 1, "gpu_pallas") == 1000
    )  # explicit wins
    monkeypatch.undo()

    # a CPU reports nothing: at most MAX_AUTO_CHUNK networks and about CHUNK_MEMORY_BYTES a chunk, as before
    if jax.default_backend() == "cpu":
        assert runner.device_memory_bytes() is None
    monkeypatch.setattr(runner, "device_memory_bytes", lambda: None)
    study = Study().replace(n_inits=10**5)
    points, width = study.task.n_points, study.task.dim + sum(study.model.hidden) + 1
    per_net = 4 * (6 * points * width + study.train.steps + 64)
    cap = min(runner.MAX_AUTO_CHUNK, runner.CHUNK_MEMORY_BYTES // per_net)
    n_chunks = -(-(10**5) // cap)
    assert runner.auto_chunk_size(study, 1, 1, "general") == -(-(10**5) // n_chunks)
