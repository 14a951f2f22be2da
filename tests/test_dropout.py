"""Dropout in the trainer: inverted dropout on hidden units, per-network keys, off at evaluation.

References: a plain Python loop of optax Adam steps on the documented objective (with the
same per-step dropout keys), and the Monte-Carlo mean of the dropout forward pass.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from landscape.models import activation_function, mlp_apply
from landscape.runner import prepare, train_networks
from landscape.training import init_and_train_keys, network_keys
from tests.conftest import small_study

STEPS = 40


def _study(dropout: float, **overrides):
    return small_study(
        **{"n_inits": 4, "train.steps": STEPS, "task.n_points": 64, "train.dropout": dropout, **overrides}
    )


def _reference_training(params, key, x, y, rate: float, lr: float = 1e-2):
    """Adam on the MSE of the MLP, one step at a time, dropout keys as the trainer documents them."""
    relu = activation_function("relu")
    _, train_key = init_and_train_keys(key)
    dropout_key, _ = jax.random.split(train_key)
    opt = optax.adam(lr)
    state = opt.init(params)

    def loss(p, t):
        dk = jax.random.fold_in(dropout_key, t) if rate > 0 else None
        return jnp.mean((mlp_apply(p, x, relu, True, dk, rate) - y) ** 2)

    grad = jax.jit(jax.grad(loss))
    for t in range(STEPS):
        updates, state = opt.update(grad(params, t), state, params)
        params = optax.apply_updates(params, updates)
    return params


@pytest.fixture(scope="module")
def prepared_studies():
    """Prepared (compiled once) studies without and with 10% dropout."""
    return {0.0: prepare(_study(0.0)), 0.1: prepare(_study(0.1))}


@pytest.mark.parametrize("rate", [0.0, 0.1])
def test_trainer_matches_a_python_loop_with_the_same_dropout_masks(rate, prepared_studies):
    prepared = prepared_studies[rate]
    init, result = train_networks(prepared, np.arange(2))
    keys = network_keys(prepared.study.seed, np.arange(2))
    x, y = jnp.asarray(prepared.dataset.x, jnp.float32), jnp.asarray(prepared.dataset.y, jnp.float32)
    for i in range(2):
        one_init = jax.tree.map(lambda leaf: jnp.asarray(leaf[i]), init)
        expected = _reference_training(one_init, keys[i], x, y, rate)
        got = jax.tree.map(lambda leaf: leaf[i], result.final_params)
        for e, g in zip(jax.tree.leaves(expected), jax.tree.leaves(got)):
            np.testing.assert_allclose(g, e, rtol=2e-4, atol=2e-5)


def test_dropout_changes_training_only_when_enabled(prepared_studies):
    off, on = prepared_studies[0.0], prepared_studies[0.1]
    init = off.batch_init(network_keys(0, np.arange(4)))
    x, y = jnp.asarray(off.dataset.x), jnp.asarray(off.dataset.y)
    keys_a = network_keys(0, np.arange(4))
    keys_b = network_keys(123, np.arange(4))  # other training keys, same inits
    off_a, off_b = off.batch_trainer(init, keys_a, x, y), off.batch_trainer(init, keys_b, x, y)
    on_a, on_b = on.batch_trainer(init, keys_a, x, y), on.batch_trainer(init, keys_b, x, y)
    # without dropout (full batch) training uses no randomness: the keys do not matter
    for a, b in zip(jax.tree.leaves(off_a.final_params), jax.tree.leaves(off_b.final_params)):
        np.testing.assert_array_equal(a, b)

    # with dropout the masks come from the keys, and training differs from dropout-free training
    def differs(r, s):
        return any(
            not np.allclose(a, b) for a, b in zip(jax.tree.leaves(r.final_params), jax.tree.leaves(s.final_params))
        )

    assert differs(on_a, on_b)
    assert differs(on_a, off_a)


def test_dropout_is_reproducible_from_the_seed(prepared_studies):
    first = train_networks(prepared_studies[0.1], np.arange(4))[1]
    again = train_networks(prepare(_study(0.1)), np.arange(4))[1]  # built and compiled afresh
    for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(again)):
        np.testing.assert_array_equal(a, b)
    # another seed: other inits and other dropout masks
    on = prepared_studies[0.1]
    keys = network_keys(1, np.arange(4))
    other_seed = on.batch_trainer(on.batch_init(keys), keys, jnp.asarray(on.dataset.x), jnp.asarray(on.dataset.y))
    assert not np.allclose(first.final_loss, other_seed.final_loss)


def test_dropout_is_off_at_evaluation(prepared_studies):
    prepared = prepared_studies[0.1]
    _, result = train_networks(prepared, np.arange(4))
    x, y = prepared.dataset.x.astype(np.float32), prepared.dataset.y.astype(np.float32)
    for i in range(4):
        params = jax.tree.map(lambda leaf: leaf[i], result.final_params)
        expected = np.mean((np.asarray(prepared.model.apply(params, x)) - y) ** 2)
        np.testing.assert_allclose(result.final_loss[i], expected, rtol=1e-5)


def test_inverted_dropout_keeps_the_expected_output():
    """E[output] over masks equals the dropout-free output (the output layer is linear)."""
    rng = np.random.default_rng(0)
    params = [
        {"w": jnp.asarray(rng.normal(size=(2, 5)), jnp.float32), "b": jnp.asarray(rng.normal(size=5), jnp.float32)},
        {"w": jnp.asarray(rng.normal(size=(5, 1)), jnp.float32), "b": jnp.zeros(1, jnp.float32)},
    ]
    x = jnp.asarray(rng.uniform(-1, 1, size=(3, 2)), jnp.float32)
    relu = activation_function("relu")
    plain = np.asarray(mlp_apply(params, x, relu, True))
    keys = jax.random.split(jax.random.PRNGKey(0), 20000)
    samples = np.asarray(jax.vmap(lambda k: mlp_apply(params, x, relu, True, k, 0.1))(keys))
    standard_error = samples.std(axis=0) / np.sqrt(len(keys))
    assert np.all(np.abs(samples.mean(axis=0) - plain) < 4 * standard_error + 1e-6)
    assert np.any(samples.std(axis=0) > 0)  # the masks really vary
