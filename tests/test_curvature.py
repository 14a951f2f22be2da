"""Curvature: dense Hessians, symmetry null spaces, Lanczos / Hutch++ / SLQ, the hessian command.

References: finite differences, dense ``eigh``, matrices with known spectra, hand-built minima
and a hand-built saddle. x64 is switched on inside each reference comparison only.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from landscape import curvature
from landscape.config import InitConfig, ModelConfig
from landscape.lanczos import (
    exact_density,
    extreme_eigenpairs,
    hessian_vector_product,
    hutchinson_trace,
    hutchpp_trace,
    lanczos,
    ritz_pairs,
    slq_density,
    slq_nodes_weights,
)
from landscape.models import activation_function, hidden_preactivations, make_mlp


def mlp(hidden=(3,), activation="relu", bias=True, output_bias=True, in_dim=2):
    return make_mlp(
        ModelConfig(hidden=list(hidden), activation=activation, bias=bias, output_bias=output_bias),
        InitConfig(),
        in_dim,
        1,
        jnp.float64,
    )


def random_params(model, seed):
    return jax.tree.map(
        lambda leaf: leaf + 0.3 * jax.random.normal(jax.random.PRNGKey(seed + 1), leaf.shape, leaf.dtype),
        model.init(jax.random.PRNGKey(seed)),
    )


def data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 2))
    return jnp.asarray(x), jnp.asarray(np.linalg.norm(x, axis=1))


def known_spectrum_matrix(eigenvalues, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(len(eigenvalues),) * 2))
    return jnp.asarray(q @ np.diag(eigenvalues) @ q.T)


# ---------------------------------------------------------------------------------------------
# Dense Hessians.


@pytest.mark.parametrize("activation,hidden", [("relu", (3,)), ("leaky_relu", (3,)), ("tanh", (3,)), ("relu", (3, 2))])
def test_dense_hessian_equals_finite_differences(activation, hidden):
    with jax.enable_x64(True):
        model = mlp(hidden, activation)
        x, y = data()
        params = random_params(model, 1)
        loss = curvature.loss_of_model(model)
        hessian = jax.jit(curvature.hessian_function(model))(params, x, y)
        flat, loss_flat = curvature.flat_loss(loss, params, x, y)
        grad = jax.jit(jax.grad(loss_flat))
        step = 1e-6
        columns = [(grad(flat + step * e) - grad(flat - step * e)) / (2 * step) for e in np.eye(flat.size)]
        reference = np.stack(columns, axis=1)
        # no data point may sit on a kink: the finite differences would straddle it
        assert all(np.min(np.abs(z)) > 1e-4 for z in hidden_preactivations(params, x, activation_function(activation)))
        np.testing.assert_allclose(hessian, reference, atol=1e-7 * np.abs(reference).max())


@pytest.mark.parametrize(
    "activation,bias,output_bias", [("relu", True, True), ("leaky_relu", True, False), ("relu", False, True)]
)
def test_fused_mlp_hessian_equals_autodiff(activation, bias, output_bias):
    with jax.enable_x64(True):
        model = mlp((4,), activation, bias, output_bias)
        x, y = data()
        params = random_params(model, 2)
        fused = curvature.hessian_function(model)
        autodiff = curvature.autodiff_hessian(curvature.loss_of_model(model))
        np.testing.assert_allclose(jax.jit(fused)(params, x, y), jax.jit(autodiff)(params, x, y), atol=1e-12)


def test_vmap_and_chunks_equal_a_loop():
    with jax.enable_x64(True):
        model = mlp()
        x, y = data(100)
        nets = [random_params(model, s) for s in range(5)]
        batched = jax.tree.map(lambda *leaves: np.stack(leaves), *nets)
        fn = curvature.hessian_function(model)
        whole = curvature.dense_curvature(fn, batched, x, y, chunk_size=100)
        chunked = curvature.dense_curvature(fn, batched, x, y, chunk_size=2)
        single = jax.jit(lambda p: curvature.dense_curvature_one(fn, p, x, y))
        for i, params in enumerate(nets):
            one = single(params)
            np.testing.assert_allclose(whole["eigenvalues"][i], one["eigenvalues"], rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(chunked["eigenvalues"][i], one["eigenvalues"], rtol=1e-10, atol=1e-12)
            assert whole["index"][i] == one["index"] and chunked["n_zero_predicted"][i] == one["n_zero_predicted"]


# ---------------------------------------------------------------------------------------------
# Hand-built minima and a saddle.


def teacher_params(dead_unit=False, scale=1.0):
    """A 2-3-1 ReLU net with hyperplanes through the origin (each unit live on half the data)."""
    angles = np.array([0.3, 2.4, 4.4])
    w = np.stack([np.cos(angles), np.sin(angles)])  # (2, 3)
    b = np.array([0.05, -0.1, 0.02])
    if dead_unit:
        b[2] = -5.0  # pre-activation below zero on all of [-1, 1]^2
    return [
        {"w": jnp.asarray(w * scale), "b": jnp.asarray(b * scale)},
        {"w": jnp.asarray([[1.0], [0.7], [1.3]]) / scale, "b": jnp.asarray([0.2])},
    ]


@pytest.mark.parametrize("dead_unit,expected", [(False, 3), (True, 6)])
def test_exact_fit_null_space_matches_symmetry(dead_unit, expected):
    """Loss 0 (the data is the network's own output): every flat direction is a symmetry."""
    with jax.enable_x64(True):
        model = mlp()
        x, _ = data(300)
        params = teacher_params(dead_unit)
        y = model.apply(params, x)
        assert float(curvature.loss_of_model(model)(params, x, y)) == 0.0
        analyse = jax.jit(lambda p: curvature.dense_curvature_one(curvature.hessian_function(model), p, x, y, "relu"))
        out = analyse(params)
        assert int(out["n_zero_predicted"]) == expected
        assert int(out["n_near_zero"]) == expected
        assert int(out["n_dead_units"]) == int(dead_unit) and int(out["n_linear_units"]) == 0
        assert int(out["index"]) == 0 and not bool(out["is_saddle"])
        # the explicit symmetry directions lie in the null space
        assert float(out["symmetry_residual"]) < 1e-12
        assert float(out["symmetry_outside_null"]) < 1e-8
        # rescaled copy: same function, same prediction
        again = analyse(teacher_params(dead_unit, 1.7))
        assert int(again["n_near_zero"]) == expected


def test_linear_unit_adds_the_bias_trade():
    """A unit active on every point: its bias trades against the output bias (one more zero)."""
    with jax.enable_x64(True):
        model = mlp()
        x, _ = data(300)
        params = teacher_params()
        params[0]["b"] = params[0]["b"].at[1].set(3.0)  # |w| = 1, so z > 0 on all of [-1, 1]^2
        y = model.apply(params, x)
        out = jax.jit(lambda p: curvature.dense_curvature_one(curvature.hessian_function(model), p, x, y, "relu"))(
            params
        )
        assert int(out["n_linear_units"]) == 1 and int(out["n_zero_linear"]) == 1
        assert int(out["n_zero_predicted"]) == 4 and int(out["n_near_zero"]) == 4
        assert float(out["symmetry_residual"]) < 1e-12 and float(out["symmetry_outside_null"]) < 1e-8


def test_hand_built_saddle_is_labelled_a_saddle():
    """Output weights 0, targets orthogonal to every unit's output: a critical point where the
    (a_j, w_j) blocks [[p, q], [q, 0]] with q != 0 have negative eigenvalues."""
    with jax.enable_x64(True):
        model = mlp()
        x, _ = data(300, seed=3)
        params = teacher_params()
        params[1] = {"w": jnp.zeros((3, 1)), "b": jnp.zeros((1,))}
        hidden = np.maximum(np.asarray(x @ params[0]["w"] + params[0]["b"]), 0)
        basis, _ = np.linalg.qr(np.column_stack([np.ones(len(x)), hidden]))
        y0 = np.random.default_rng(0).normal(size=len(x))
        y = jnp.asarray(5.0 * (y0 - basis @ (basis.T @ y0)))  # orthogonal to 1 and to each unit's output
        loss = curvature.loss_of_model(model)
        flat, loss_flat = curvature.flat_loss(loss, params, x, y)
        assert float(jnp.linalg.norm(jax.grad(loss_flat)(flat))) < 1e-12  # a critical point
        out = jax.jit(lambda p: curvature.dense_curvature_one(curvature.hessian_function(model), p, x, y, "relu"))(
            params
        )
        assert bool(out["is_saddle"]) and int(out["index"]) == 3
        assert float(out["min_eigenvalue"]) < -1e-3 * float(out["max_eigenvalue"])
        # the matrix-free path agrees
        free = jax.jit(lambda p: curvature.lanczos_curvature_one(loss, p, x, y, jax.random.PRNGKey(0), top_k=3))(params)
        assert bool(free["is_saddle"]) and int(free["index"]) == 3
        np.testing.assert_allclose(free["bottom_eigenvalues"], out["eigenvalues"][:3], rtol=1e-8)


# ---------------------------------------------------------------------------------------------
# Matrix-free: Lanczos, trace, SLQ.


def test_lanczos_extremes_match_known_spectrum():
    with jax.enable_x64(True):
        spectrum = np.concatenate([[-3.0, -1.0], np.zeros(5), np.linspace(0.1, 1.0, 33), [4.0, 6.0, 10.0]])
        matrix = known_spectrum_matrix(spectrum)
        matvec = lambda v: matrix @ v  # noqa: E731
        full = jax.jit(
            lambda key: extreme_eigenpairs(matvec, spectrum.size, 3, key, n_steps=spectrum.size, dtype=jnp.float64)
        )(jax.random.PRNGKey(0))
        np.testing.assert_allclose(full["top_values"], [10.0, 6.0, 4.0], atol=1e-10)
        np.testing.assert_allclose(full["bottom_values"], [-3.0, -1.0, 0.0], atol=1e-10)
        for value, vector in zip(full["top_values"], full["top_vectors"], strict=True):
            assert float(jnp.linalg.norm(matrix @ vector - value * vector)) < 1e-8
        # fewer steps than the dimension: the well-separated extremes still converge
        part = jax.jit(lambda key: extreme_eigenpairs(matvec, spectrum.size, 2, key, n_steps=25, dtype=jnp.float64))(
            jax.random.PRNGKey(1)
        )
        np.testing.assert_allclose(part["top_values"], [10.0, 6.0], rtol=1e-6)
        np.testing.assert_allclose(part["bottom_values"], [-3.0, -1.0], rtol=1e-6)


def test_lanczos_full_run_recovers_repeated_eigenvalues_and_stays_orthonormal():
    with jax.enable_x64(True):
        spectrum = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 2.0, 5.0, -1.0])
        matrix = known_spectrum_matrix(spectrum, seed=4)
        result = jax.jit(lambda key: lanczos(lambda v: matrix @ v, jnp.ones(8), 8, key))(jax.random.PRNGKey(0))
        np.testing.assert_allclose(result.basis @ result.basis.T, np.eye(8), atol=1e-10)
        values, _ = ritz_pairs(result)
        np.testing.assert_allclose(values, np.sort(spectrum), atol=1e-10)


def test_lanczos_matches_dense_on_networks_and_is_reproducible():
    with jax.enable_x64(True):
        model = mlp((5,))
        x, y = data(60)
        nets = [random_params(model, s) for s in range(4)]
        batched = jax.tree.map(lambda *leaves: np.stack(leaves), *nets)
        dense = curvature.dense_curvature(curvature.hessian_function(model), batched, x, y)
        loss = curvature.loss_of_model(model)
        key = jax.random.PRNGKey(7)
        free = curvature.lanczos_curvature(loss, batched, x, y, key, top_k=4, chunk_size=4)
        np.testing.assert_allclose(free["top_eigenvalues"], dense["eigenvalues"][:, ::-1][:, :4], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(free["bottom_eigenvalues"], dense["eigenvalues"][:, :4], atol=1e-8)
        np.testing.assert_allclose(free["trace"], dense["trace"], rtol=1e-8)  # Hutch++ is exact at this rank
        np.testing.assert_array_equal(free["index"], np.minimum(dense["index"], 4))  # Lanczos sees the bottom 4 only
        again = curvature.lanczos_curvature(loss, batched, x, y, key, top_k=4, chunk_size=2)
        for name in ("top_eigenvalues", "bottom_eigenvalues", "trace"):  # same keys whatever the chunking
            np.testing.assert_allclose(again[name], free[name], rtol=1e-12)


def test_trace_estimators():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        low_rank = rng.normal(size=(60, 5))
        matrix = jnp.asarray(low_rank @ low_rank.T + 1e-3 * np.diag(rng.uniform(size=60)))
        matvec = lambda v: matrix @ v  # noqa: E731
        exact = float(jnp.trace(matrix))
        plus = float(hutchpp_trace(matvec, 60, jax.random.PRNGKey(0), n_matvecs=30, dtype=jnp.float64))
        assert abs(plus - exact) < 1e-3 * exact
        plain = float(hutchinson_trace(matvec, 60, jax.random.PRNGKey(0), n_probes=2000, dtype=jnp.float64))
        assert abs(plain - exact) < 0.05 * exact
        jitted = jax.jit(lambda key: hutchpp_trace(matvec, 60, key, 30, jnp.float64))
        assert float(jitted(jax.random.PRNGKey(0))) == pytest.approx(plus, rel=1e-12)


def test_slq_quadrature_is_exact_for_low_moments_and_density_matches_eigh():
    with jax.enable_x64(True):
        spectrum = np.concatenate([np.linspace(-1, 0, 10), np.zeros(10), np.linspace(0.5, 3, 40)])
        matrix = known_spectrum_matrix(spectrum, seed=2)
        matvec = lambda v: matrix @ v  # noqa: E731
        steps = 12
        nodes, weights = slq_nodes_weights(
            matvec, 60, jax.random.PRNGKey(3), n_probes=4, n_steps=steps, dtype=jnp.float64
        )
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)
        # Gauss quadrature with m nodes reproduces v^T A^k v / |v|^2 for k < 2m, for each probe
        keys = jax.random.split(jax.random.PRNGKey(3), 4)
        for probe in range(4):
            v = jax.random.normal(jax.random.split(keys[probe])[0], (60,), jnp.float64)
            v = v / jnp.linalg.norm(v)
            for k in (1, 2, 5, 2 * steps - 1):
                moment = float(v @ jnp.linalg.matrix_power(matrix, k) @ v)
                assert float(jnp.sum(weights[probe] * nodes[probe] ** k)) == pytest.approx(moment, rel=1e-7, abs=1e-9)
        # averaged over many probes, the smoothed density approaches the exact one
        nodes, weights = slq_nodes_weights(
            matvec, 60, jax.random.PRNGKey(5), n_probes=400, n_steps=30, dtype=jnp.float64
        )
        grid = jnp.linspace(-2, 4, 600)
        estimate, reference = slq_density(nodes, weights, grid, 0.2), exact_density(jnp.asarray(spectrum), grid, 0.2)
        l1 = float(jnp.sum(jnp.abs(estimate - reference)) * (grid[1] - grid[0]))
        assert l1 < 0.1
        assert float(jnp.sum(estimate) * (grid[1] - grid[0])) == pytest.approx(1.0, abs=1e-3)


def test_slq_on_a_network_matches_its_dense_spectrum():
    with jax.enable_x64(True):
        model = mlp()
        x, y = data(120)
        params = random_params(model, 3)
        batched = jax.tree.map(lambda leaf: leaf[None], params)
        nodes, weights = curvature.slq_spectra(
            curvature.loss_of_model(model), batched, x, y, jax.random.PRNGKey(0), n_probes=300, n_steps=13
        )
        _, values, _ = curvature.hessians_and_eigenvectors(curvature.hessian_function(model), batched, x, y)
        # with n_steps = n_params each probe's nodes are the eigenvalues; the weights average to 1/n
        grid = jnp.linspace(values.min() - 1, values.max() + 1, 800)
        sigma = 0.05 * float(values.max() - values.min())
        estimate, reference = (
            slq_density(nodes[0], weights[0], grid, sigma),
            exact_density(jnp.asarray(values[0]), grid, sigma),
        )
        assert float(jnp.sum(jnp.abs(estimate - reference)) * (grid[1] - grid[0])) < 0.12


@pytest.mark.parametrize("n_steps", [13, 8], ids=["exact-quadrature", "lanczos"])
def test_slq_of_dense_hessians_equals_autodiff_slq(n_steps):
    """The hessian command's SLQ from the representatives' dense Hessians: same probes, same densities
    as slq_spectra's autodiff Lanczos (n_steps = n_params: closed-form quadrature; fewer: Lanczos)."""
    with jax.enable_x64(True):
        model = mlp()
        x, y = data(60)
        batched = jax.tree.map(lambda *leaves: jnp.stack(leaves), *[random_params(model, seed) for seed in (3, 4)])
        key = jax.random.PRNGKey(7)
        nodes, weights = curvature.slq_spectra(
            curvature.loss_of_model(model), batched, x, y, key, n_probes=4, n_steps=n_steps
        )
        hessians, values, _ = curvature.hessians_and_eigenvectors(curvature.hessian_function(model), batched, x, y)
        fast_nodes, fast_weights = curvature.slq_spectra_of_hessians(hessians, key, n_probes=4, n_steps=n_steps)
        assert fast_nodes.shape == nodes.shape == (2, 4, n_steps)
        np.testing.assert_allclose(
            np.sort(fast_nodes, axis=-1), np.sort(nodes, axis=-1), atol=1e-9 * np.abs(values).max()
        )
        grid = np.linspace(values.min() - 1, values.max() + 1, 300)
        sigma = 0.02 * float(values.max() - values.min())
        fast, exact = curvature.density_curves(fast_nodes, fast_weights, values, grid, sigma)
        for i in range(2):
            np.testing.assert_allclose(
                fast[i], slq_density(nodes[i], weights[i], grid, sigma), atol=1e-8 * float(np.max(fast))
            )
            np.testing.assert_allclose(exact[i], exact_density(jnp.asarray(values[i]), grid, sigma), rtol=1e-12)


def test_hvp_is_jittable_and_equals_dense():
    with jax.enable_x64(True):
        model = mlp()
        x, y = data(80)
        params = random_params(model, 5)
        flat, loss_flat = curvature.flat_loss(curvature.loss_of_model(model), params, x, y)
        v = jax.random.normal(jax.random.PRNGKey(0), flat.shape, flat.dtype)
        hv = jax.jit(lambda vec: hessian_vector_product(loss_flat, flat)(vec))(v)
        np.testing.assert_allclose(hv, curvature.hessian_function(model)(params, x, y) @ v, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Summaries and the command.


def test_type_summary_counts_by_type():
    curv = {
        "max_eigenvalue": np.array([1.0, 2.0, 3.0, 10.0, np.nan]),
        "min_eigenvalue": np.array([0.0, -1.0, 0.0, 0.0, np.nan]),
        "trace": np.array([1.0, 2.0, 3.0, 4.0, np.nan]),
        "condition_number": np.array([1.0, 1.0, 1.0, 1.0, np.nan]),
        "is_saddle": np.array([False, True, False, False, False]),
        "n_near_zero": np.array([3, 3, 6, 3, 0]),
        "n_zero_predicted": np.array([3, 3, 3, 3, 3]),
    }
    labels = np.array(["pyramid", "pyramid", "pyramid", "valley", "valley"])
    summary = curvature.type_summary(curv, labels)
    assert list(summary["type"]) == ["pyramid", "valley"]
    assert (
        list(summary["count"]) == [3, 2] and list(summary["n_saddle"]) == [1, 0] and list(summary["n_finite"]) == [3, 1]
    )
    assert summary["max_eigenvalue_median"][0] == 2.0 and summary["max_eigenvalue_median"][1] == 10.0
    assert summary["zero_match"][0] == pytest.approx(2 / 3)
    assert "pyramid" in curvature.format_type_summary(summary)


def test_hessian_command_writes_group_and_figures(small_run_copy, tmp_path, capsys):
    from landscape.cli import main
    from landscape.storage import Run

    assert main(["hessian", str(small_run_copy), "--figures", str(tmp_path / "fig")]) == 0
    printed = capsys.readouterr().out
    assert "Hessian curvature by solution type" in printed
    with Run(small_run_copy) as run:
        group = run.group("hessian")
        n = run.n_inits
    assert group["eigenvalues"].shape == (n, 13)
    assert group["index"].shape == (n,) and group["representatives"]["eigenvectors"].shape[1:] == (13, 13)
    assert group["method"] == "dense" and int(group["summary"]["count"].sum()) == n
    for name in ("spectra_by_type", "top_eigenvalue_by_type", "slq_density"):
        assert (tmp_path / "fig" / f"{name}.png").exists()
    # the stored group reads back as the result the command printed
    with Run(small_run_copy) as run:
        stored = curvature.CurvatureResult.read(run)
    assert stored.analysed.all() and stored.method == "dense" and stored.n_params == 13
    assert curvature.format_curvature_table(stored).splitlines()[0] in printed
    one_layer = group["n_zero_predicted"] >= 0  # one hidden layer: exact unless a unit sees too few points
    assert one_layer.mean() > 0.9
    # the matrix-free path agrees on the extremes
    dense_max = group["max_eigenvalue"]
    assert main(["hessian", str(small_run_copy), "--method", "lanczos", "--top-k", "3", "--no-figures"]) == 0
    with Run(small_run_copy) as run:
        free = run.group("hessian")
    np.testing.assert_allclose(free["max_eigenvalue"], dense_max, rtol=1e-6)
    assert free["top_eigenvalues"].shape == (n, 3)
