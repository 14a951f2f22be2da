"""Rule-free clustering of minima: symmetry copies stay together, families separate, bounded assignment."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from landscape.clustering import (
    adjusted_rand_index,
    choose_cluster_count,
    cluster_minima,
    cluster_summary,
    minima_features,
    probe_points,
)
from landscape.solutions import classify_networks

RNG = np.random.default_rng(0)
X = RNG.uniform(-1, 1, (256, 2))


def net(directions, offsets, amplitudes):
    return [
        {"w": np.asarray(directions, float).T.copy(), "b": np.asarray(offsets, float)},
        {"w": np.asarray(amplitudes, float)[:, None], "b": np.zeros(1)},
    ]


ANGLES = np.deg2rad([90.0, 210.0, 330.0])
FAMILIES = {
    "pyramid": net(np.stack([np.cos(ANGLES), np.sin(ANGLES)], 1), [0, 0, 0], [1, 1, 1]),
    "valley": net([[1, 0], [-1, 0], [0, 1]], [0, 0, -4], [1, 1, 1]),
    "dead": net([[1, 0], [-1, 0], [0, 1]], [-4, -4, -4], [1, 1, 1]),
}


def jitter_permute_rescale(params, rng, noise=0.01):
    """A near copy: small noise, then a random permutation and positive rescaling of the units."""
    h = params[0]["w"].shape[1]
    perm, scale = rng.permutation(h), rng.uniform(0.3, 3.0, size=h)
    w = (params[0]["w"] + noise * rng.normal(size=params[0]["w"].shape))[:, perm] * scale
    b = (params[0]["b"] + noise * rng.normal(size=h))[perm] * scale
    a = (params[1]["w"] + noise * rng.normal(size=(h, 1)))[perm] / scale[:, None]
    return [{"w": w, "b": b}, {"w": a, "b": params[1]["b"]}]


def population(per_family=30, seed=1):
    rng = np.random.default_rng(seed)
    nets, truth = [], []
    for code, params in enumerate(FAMILIES.values()):
        for _ in range(per_family):
            nets.append(jitter_permute_rescale(params, rng))
            truth.append(code)
    return jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *nets), np.array(truth)


def features_for(params, x=X, param_weight=0.5):
    n = params[0]["w"].shape[0]
    canonical = classify_networks(params, x, np.zeros(n), np.zeros(n, np.int8))["canonical"]
    return minima_features(params, probe_points(x, 64), canonical=canonical, param_weight=param_weight)


def test_families_recovered_and_symmetry_copies_share_a_cluster():
    params, truth = population()
    clusters = cluster_minima(features_for(params), truth.size, max_clusters=8)
    table = cluster_summary(clusters.assignment, np.zeros(truth.size), np.array(list(FAMILIES))[truth], list(FAMILIES))
    assert clusters.centroids.shape[0] == 3
    assert adjusted_rand_index(table["contingency"]) == pytest.approx(1.0)
    # each medoid is a member of its own cluster
    np.testing.assert_array_equal(clusters.assignment[clusters.medoids], np.arange(3))


def test_exact_permuted_rescaled_copy_lands_with_its_original():
    rng = np.random.default_rng(3)
    originals = [net(rng.normal(size=(3, 2)), rng.normal(size=3) * 0.3, rng.normal(size=3)) for _ in range(12)]
    copies = [jitter_permute_rescale(p, rng, noise=0.0) for p in originals]
    params = jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *(originals + copies))
    features = features_for(params)
    embedded = features(np.arange(24))
    np.testing.assert_allclose(embedded[:12], embedded[12:], atol=1e-4)  # the embedding itself is invariant
    clusters = cluster_minima(features, 24, n_clusters=6)
    np.testing.assert_array_equal(clusters.assignment[:12], clusters.assignment[12:])


def test_sampled_clustering_assigns_everyone_in_chunks():
    params, truth = population(per_family=60, seed=2)
    features = features_for(params)
    full = cluster_minima(features, truth.size, max_clusters=8)
    sampled = cluster_minima(features, truth.size, sample_size=40, max_clusters=8, chunk_size=17, seed=5)
    assert sampled.sample.size == 40 and sampled.assignment.shape == (truth.size,)
    assert "sample of 40 of 180" in sampled.description
    table = cluster_summary(sampled.assignment, np.zeros(truth.size), truth.astype(str), ["0", "1", "2"])
    assert adjusted_rand_index(table["contingency"]) == pytest.approx(1.0)
    # nearest-centroid assignment in chunks equals a direct loop over networks
    embedded = features(np.arange(truth.size))
    loop = [int(np.argmin(np.linalg.norm(sampled.centroids - e, axis=1))) for e in embedded]
    np.testing.assert_array_equal(sampled.assignment, loop)
    assert full.centroids.shape[0] == 3


def test_cluster_count_from_the_largest_jump():
    rng = np.random.default_rng(4)
    from scipy.cluster import hierarchy

    blobs = np.concatenate([rng.normal(loc, 0.05, size=(20, 2)) for loc in ([0, 0], [5, 0], [0, 5], [5, 5])])
    assert choose_cluster_count(hierarchy.linkage(blobs, "ward"), 10) == 4


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_tiny_populations(n):
    points = np.random.default_rng(n).normal(size=(n, 3))
    clusters = cluster_minima(lambda idx: points[idx], n)
    assert clusters.assignment.shape == (n,) and clusters.assignment.max() < max(n, 1)


def test_adjusted_rand_index_known_values():
    assert adjusted_rand_index(np.array([[5, 0], [0, 5]])) == pytest.approx(1.0)
    # by hand: pairs within cells C(2,2)+C(2,2) = 2; rows C(3,2)+C(2,2) = 4; columns 1+3 = 4;
    # expected 4*4/C(5,2) = 1.6; maximum (4+4)/2 = 4
    table = np.array([[2, 1], [0, 2]])
    assert adjusted_rand_index(table) == pytest.approx((2 - 1.6) / (4 - 1.6))
