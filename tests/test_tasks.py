"""Tasks against closed forms and hand loops; bad targets are rejected before training."""

from __future__ import annotations

import numpy as np
import pytest

from landscape import ConfigError, TaskConfig, make_dataset
from landscape.tasks import teacher_network


def bad_target(x):
    y = np.sqrt(np.sum(x**2, axis=1))
    y[3] = np.nan
    return y


def test_euclidean_norm_on_the_unit_square():
    data = make_dataset(TaskConfig())
    assert data.x.shape == (1024, 2) and data.y.shape == (1024,)
    assert data.x.min() >= -1 and data.x.max() <= 1
    np.testing.assert_allclose(data.y, np.hypot(data.x[:, 0], data.x[:, 1]))


def test_data_depends_only_on_data_seed():
    a, b = make_dataset(TaskConfig(data_seed=3)), make_dataset(TaskConfig(data_seed=3))
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.allclose(a.x, make_dataset(TaskConfig(data_seed=4)).x)


def test_gaussian_and_corner_inputs():
    g = make_dataset(TaskConfig(distribution="gaussian", std=2.0, n_points=20000))
    np.testing.assert_allclose(g.x.std(axis=0), 2.0, rtol=0.03)
    c = make_dataset(TaskConfig(name="xor", distribution="corners", n_points=64))
    assert set(np.unique(c.x)) == {-1.0, 1.0}
    np.testing.assert_array_equal(c.y, (c.x[:, 0] != c.x[:, 1]).astype(float))


def test_abs_is_one_dimensional():
    data = make_dataset(TaskConfig(name="abs", dim=1, n_points=10))
    np.testing.assert_allclose(data.y, np.abs(data.x[:, 0]))


def test_fir_matches_a_hand_loop():
    taps = [0.5, -0.25, 0.125]
    data = make_dataset(TaskConfig(name="fir", dim=8, n_points=5, fir_taps=taps, distribution="gaussian"))
    for signal, out in zip(data.x, data.y):
        expected = [sum(taps[k] * signal[t - k] for k in range(len(taps)) if t - k >= 0) for t in range(8)]
        np.testing.assert_allclose(out, expected)


def test_dft_matches_the_dft_matrix():
    data = make_dataset(TaskConfig(name="dft", dim=6, n_points=4, distribution="gaussian"))
    n = np.arange(6)
    matrix = np.exp(-2j * np.pi * np.outer(n, n) / 6)
    spectrum = data.x @ matrix.T
    np.testing.assert_allclose(data.y, np.concatenate([spectrum.real, spectrum.imag], axis=1), atol=1e-12)
    amp = make_dataset(TaskConfig(name="amplitude_spectrum", dim=6, n_points=4, distribution="gaussian"))
    np.testing.assert_allclose(amp.y, np.abs(amp.x @ matrix.T), atol=1e-12)


def test_orthonormal_teacher():
    config = TaskConfig(name="teacher", dim=4, teacher_width=3, teacher_orthonormal=True, n_points=50)
    data = make_dataset(config)
    # recover the teacher's weights through its definition: f(x) = sum_k relu(q_k . x)
    f = teacher_network(config)
    np.testing.assert_allclose(f(data.x), data.y)
    e = np.eye(4)
    values = f(e) + f(-e)  # relu(a) + relu(-a) = |a| : |q_k . e_i| summed over k
    assert np.all(values > 0)
    with pytest.raises(ConfigError, match="width <= dim"):
        make_dataset(TaskConfig(name="teacher", dim=2, teacher_width=3, teacher_orthonormal=True))


def test_custom_target_by_module_path():
    data = make_dataset(TaskConfig(name="custom", target="tests.test_tasks:half_sum", n_points=8))
    np.testing.assert_allclose(data.y, 0.5 * data.x.sum(axis=1))
    with pytest.raises(ConfigError, match="cannot import"):
        make_dataset(TaskConfig(name="custom", target="tests.test_tasks:nope"))


def half_sum(x):
    return 0.5 * x.sum(axis=1)


def test_nan_target_is_rejected_naming_the_task():
    with pytest.raises(ConfigError, match=r"task 'tests.test_tasks:bad_target'.*NaN or infinite at 1 of"):
        make_dataset(TaskConfig(name="custom", target="tests.test_tasks:bad_target"))
    with pytest.raises(ConfigError, match="expected targets of shape"):
        make_dataset(TaskConfig(), target=lambda x: x.sum())
