"""Clustering of minima without hand-written rules, for any task, width and activation.

Each final network is embedded by

1. its **function**: predictions on a fixed probe set (a deterministic subsample of the
   run's inputs), scaled by ``1/sqrt(n_probe)`` so that Euclidean distance is the RMS
   difference between two functions. Every parameter symmetry leaves it unchanged; and
2. optionally its **canonical parameters** (:func:`landscape.solutions.unit_diagnostics`:
   rescaling removed, units sorted, merged groups summed, insignificant units zeroed).

Each block is divided by its total standard deviation over a sample, so the blocks weigh
``1 : param_weight``. Then

- a random sample of at most ``sample_size`` networks is clustered with scipy's
  hierarchical clustering (Ward linkage; Ward 1963, "Hierarchical grouping to optimize an
  objective function", JASA 58:236-244); the number of clusters is the cut with the
  largest relative jump in merge height (at most ``max_clusters``), unless given;
- every network, in chunks, is assigned to the nearest cluster centroid, so memory stays
  bounded for 10^5-10^6 networks (the sample's pairwise distances are the largest object:
  ``sample_size^2 / 2`` floats);
- each cluster's representative is its medoid within the sample.

A model of your own is embedded by its own predictions (``minima_features(..., predict=apply)``);
one without an apply function by its raw parameters and log final loss (:func:`parameter_features`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.cluster import hierarchy
from scipy.spatial.distance import cdist

FeatureFn = Callable[[np.ndarray], np.ndarray]  # network indices (m,) -> features (m, D)


@dataclass(frozen=True)
class Clusters:
    """Result of :func:`cluster_minima`.

    Attributes:
      assignment: ``(n,)`` cluster of every network (0..k-1, largest cluster first).
      distance: ``(n,)`` distance to the assigned centroid (embedding units).
      centroids: ``(k, D)``; medoids: ``(k,)`` network index of each cluster's medoid.
      sample: ``(m,)`` indices of the clustered sample; linkage: scipy's ``(m-1, 4)`` matrix.
      description: how it was done, in one sentence (printed and stored).
    """

    assignment: np.ndarray
    distance: np.ndarray
    centroids: np.ndarray
    medoids: np.ndarray
    sample: np.ndarray
    linkage: np.ndarray
    description: str


def probe_points(x: np.ndarray, n_probe: int = 256, seed: int = 0) -> np.ndarray:
    """``(min(n_probe, n_points), d)``: a fixed subsample of the inputs (sorted row indices)."""
    x = np.asarray(x)
    if x.shape[0] <= n_probe:
        return x
    rows = np.sort(np.random.default_rng(seed).choice(x.shape[0], n_probe, replace=False))
    return x[rows]


def choose_cluster_count(linkage: np.ndarray, max_clusters: int) -> int:
    """Number of clusters at the largest relative jump in Ward merge heights.

    Cutting to k clusters undoes the last k-1 merges; the jump for k is the height of the
    merge that would join k clusters into k-1 over the height of the merge before it.
    """
    heights = np.asarray(linkage[:, 2], dtype=float)
    m = heights.size + 1
    best_k, best_ratio = 1, 0.0
    for k in range(2, min(max_clusters, m - 1) + 1):  # k = m (all singletons) has no merge below it
        upper, lower = heights[-(k - 1)], heights[-k]
        ratio = upper / max(lower, 1e-12 * max(upper, 1e-300))
        if ratio > best_ratio:
            best_k, best_ratio = k, ratio
    return best_k


def cluster_minima(
    features: FeatureFn,
    n_networks: int,
    sample_size: int = 3000,
    n_clusters: int | None = None,
    max_clusters: int = 12,
    seed: int = 0,
    chunk_size: int = 16384,
) -> Clusters:
    """Hierarchical clustering of a sample, then nearest-centroid assignment of everyone.

    Args:
      features: ``indices (m,) -> (m, D)`` embedding of those networks (already weighted).
      n_networks: how many networks there are.
      sample_size: networks clustered hierarchically (all when fewer).
      n_clusters: fix the number of clusters (default: largest jump, <= ``max_clusters``).
      seed: NumPy seed of the sample.
      chunk_size: networks embedded at a time during assignment.
    """
    rng = np.random.default_rng(seed)
    m = min(sample_size, n_networks)
    sample = np.sort(rng.choice(n_networks, m, replace=False)) if m < n_networks else np.arange(n_networks)
    sample_features = np.asarray(features(sample), dtype=np.float64)
    if m < 2:
        linkage = np.zeros((0, 4))
        raw = np.zeros(m, dtype=np.int64)
    else:
        linkage = hierarchy.linkage(sample_features, method="ward")
        k = n_clusters if n_clusters is not None else choose_cluster_count(linkage, max_clusters)
        raw = hierarchy.fcluster(linkage, t=min(k, m), criterion="maxclust") - 1
    # relabel: largest cluster first
    labels, sizes = np.unique(raw, return_counts=True)
    order = labels[np.argsort(-sizes, kind="stable")]
    relabel = np.empty(raw.max() + 1 if raw.size else 0, dtype=np.int64)
    relabel[order] = np.arange(order.size)
    sample_cluster = relabel[raw]
    centroids = np.stack([sample_features[sample_cluster == c].mean(axis=0) for c in range(order.size)])
    medoids = np.empty(order.size, dtype=np.int64)
    for c in range(order.size):
        members = np.flatnonzero(sample_cluster == c)
        within = cdist(sample_features[members], sample_features[members])
        medoids[c] = sample[members[np.argmin(within.sum(axis=1))]]

    assignment = np.empty(n_networks, dtype=np.int64)
    distance = np.empty(n_networks)
    for start in range(0, n_networks, chunk_size):
        indices = np.arange(start, min(start + chunk_size, n_networks))
        to_centroid = cdist(np.asarray(features(indices), dtype=np.float64), centroids)
        assignment[indices] = np.argmin(to_centroid, axis=1)
        distance[indices] = to_centroid[np.arange(indices.size), assignment[indices]]
    how = "all" if m == n_networks else f"a random sample of {m} of {n_networks}"
    chosen = "fixed" if n_clusters is not None else f"largest jump in merge height, at most {max_clusters}"
    description = (
        f"Ward hierarchical clustering (scipy) of {how} networks into {order.size} clusters ({chosen}); "
        f"every network then assigned to the nearest cluster centroid in chunks of {chunk_size}"
    )
    return Clusters(assignment, distance, centroids, medoids, sample, linkage, description)


def block_scales(blocks: list[np.ndarray]) -> np.ndarray:
    """``(len(blocks),)`` total standard deviation of each feature block (1 where it is 0)."""
    scales = np.array([np.sqrt(np.sum(np.var(b, axis=0))) for b in blocks])
    return np.where(scales > 0, scales, 1.0)


def cluster_summary(
    assignment: np.ndarray, final_loss: np.ndarray, labels: np.ndarray, type_names: list[str]
) -> dict[str, np.ndarray]:
    """Per cluster: size, loss min/median/max; and the ``(k, n_types)`` contingency table."""
    k = int(assignment.max()) + 1 if assignment.size else 0
    final_loss = np.asarray(final_loss, dtype=float)
    size = np.bincount(assignment, minlength=k)
    loss_min, loss_median, loss_max = (np.full(k, np.nan) for _ in range(3))
    for c in range(k):
        losses = final_loss[(assignment == c) & np.isfinite(final_loss)]
        if losses.size:
            loss_min[c], loss_median[c], loss_max[c] = losses.min(), np.median(losses), losses.max()
    type_index = {t: i for i, t in enumerate(type_names)}
    codes = np.array([type_index[t] for t in np.asarray(labels)], dtype=np.int64)
    contingency = np.zeros((k, len(type_names)), dtype=np.int64)
    np.add.at(contingency, (assignment, codes), 1)
    return {
        "size": size,
        "loss_min": loss_min,
        "loss_median": loss_median,
        "loss_max": loss_max,
        "contingency": contingency,
    }


def adjusted_rand_index(contingency: np.ndarray) -> float:
    """Agreement of two partitions from their contingency table (Hubert & Arabie 1985)."""
    from scipy.special import comb

    table = np.asarray(contingency, dtype=float)
    n = table.sum()
    pairs = comb(table, 2).sum()
    rows = comb(table.sum(axis=1), 2).sum()
    cols = comb(table.sum(axis=0), 2).sum()
    expected = rows * cols / comb(n, 2) if n > 1 else 0.0
    maximum = 0.5 * (rows + cols)
    return float((pairs - expected) / (maximum - expected)) if maximum != expected else 1.0


def purity(contingency: np.ndarray) -> float:
    """Share of networks whose cluster's most common type is their own type."""
    table = np.asarray(contingency)
    return float(table.max(axis=1).sum() / max(table.sum(), 1))


def format_contingency(
    contingency: np.ndarray, type_names: list[str], summary: dict[str, np.ndarray], medoids: np.ndarray
) -> str:
    """Clusters as rows (size, loss range, medoid) against rule-based types as columns."""
    width = max(8, *(len(t) + 1 for t in type_names))
    head = f"  {'cluster':>7} {'size':>7} {'loss min .. max':<21} {'medoid':>7} " + "".join(
        f"{t:>{width}}" for t in type_names
    )
    lines = [head]
    for c in range(contingency.shape[0]):
        loss = f"{summary['loss_min'][c]:.2e} .. {summary['loss_max'][c]:.2e}"
        lines.append(
            f"  {c:>7} {int(summary['size'][c]):>7} {loss:<21} {int(medoids[c]):>7} "
            + "".join(f"{int(v):>{width}}" for v in contingency[c])
        )
    return "\n".join(lines)


@functools.lru_cache(maxsize=32)
def _batched_predictions(activation: str, leaky_slope: float, predict: Callable | None) -> Callable:
    """``jit(vmap(network -> predictions on the probe, flattened))``, built once per activation (or
    model of one's own), with the probe an argument: a second classification compiles nothing."""
    import jax
    import jax.numpy as jnp

    from .models import activation_function, mlp_apply

    if predict is None:
        act = activation_function(activation, leaky_slope)

        def own(params: object, probe: jax.Array) -> jax.Array:
            return mlp_apply(params, probe, act, scalar_output=False).reshape(-1)
    else:

        def own(params: object, probe: jax.Array) -> jax.Array:
            return jnp.reshape(predict(params, probe), (-1,))

    return jax.jit(jax.vmap(own, in_axes=(0, None)))


def minima_features(
    final_params,
    probe_x: np.ndarray,
    activation: str = "relu",
    leaky_slope: float = 0.01,
    canonical: np.ndarray | None = None,
    param_weight: float = 0.5,
    seed: int = 0,
    chunk_size: int = 8192,
    predict: Callable | None = None,
) -> FeatureFn:
    """The embedding of :mod:`landscape.clustering` for batched networks.

    Args:
      final_params: parameters with a leading ``(n,)`` axis on every leaf (the built-in MLP's
        unless ``predict`` is given).
      probe_x: ``(P, d)`` probe inputs (:func:`probe_points`).
      canonical: ``(n, D_c)`` canonical parameter vectors, or None (function only).
      param_weight: weight of the canonical block relative to the function block.
      predict: a model of your own: ``(params, x) -> predictions`` of one network (default: the MLP).

    Returns:
      ``indices (m,) -> (m, P * o [+ D_c])`` features; each block is divided by its total
      standard deviation over a random sample of up to 4096 networks (fixed at creation).
    """
    import jax
    import jax.numpy as jnp

    probe = jnp.asarray(probe_x)
    compiled = _batched_predictions(activation, leaky_slope, predict)

    def batched(chunk: object) -> object:
        return compiled(chunk, probe)

    n = int(jax.tree_util.tree_leaves(final_params)[0].shape[0])

    from .batching import chunked_map, take

    def clean(tree: object) -> object:
        return jax.tree_util.tree_map(lambda leaf: np.nan_to_num(leaf).astype(probe.dtype), tree)

    def function_block(indices: np.ndarray) -> np.ndarray:
        if indices.size == 0:
            return np.zeros((0, probe.shape[0]))
        values = np.asarray(chunked_map(batched, take(final_params, indices), chunk_size, prepare=clean), np.float64)
        return np.nan_to_num(values, posinf=0.0, neginf=0.0) / np.sqrt(probe.shape[0])

    def raw(indices: np.ndarray) -> list[np.ndarray]:
        blocks = [function_block(indices)]
        if canonical is not None:
            blocks.append(np.nan_to_num(np.asarray(canonical, dtype=np.float64)[indices]))
        return blocks

    scale_sample = np.sort(np.random.default_rng(seed).choice(n, min(n, 4096), replace=False))
    scales = block_scales(raw(scale_sample))
    weights = np.array([1.0, param_weight])[: scales.size]

    def features(indices: np.ndarray) -> np.ndarray:
        return np.concatenate([w * b / s for w, b, s in zip(weights, raw(np.asarray(indices)), scales)], axis=1)

    return features


def parameter_features(final_params, final_loss: np.ndarray, seed: int = 0) -> FeatureFn:
    """An embedding for models whose function cannot be evaluated: raw parameters and log final loss.

    Each block (all parameter leaves flattened; ``log10`` of the final loss) is divided by its total
    standard deviation over a sample of up to 4096 networks, so the two weigh alike. Parameter
    symmetries (permutations, rescaling) are *not* removed: symmetric copies may fall apart.
    """
    import jax

    leaves = [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(final_params)]
    n = leaves[0].shape[0]
    flat = np.nan_to_num(np.concatenate([leaf.reshape(n, -1) for leaf in leaves], axis=1).astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        log_loss = np.nan_to_num(np.log10(np.asarray(final_loss, float)), nan=0.0, posinf=0.0, neginf=-30.0)[:, None]
    sample = np.sort(np.random.default_rng(seed).choice(n, min(n, 4096), replace=False))
    scales = block_scales([flat[sample], log_loss[sample]])

    def features(indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices)
        return np.concatenate([flat[indices] / scales[0], log_loss[indices] / scales[1]], axis=1)

    return features
