"""Curvature at the end of training: Hessian spectra, minima vs saddles, symmetry flat directions.

The Hessian is that of the training loss (the run's full dataset) with respect to every
parameter, flattened in ``jax.flatten_util.ravel_pytree`` order. Two paths:

* **dense** (:func:`dense_curvature`): the exact ``(n_params, n_params)`` Hessian of each network
  (``jax.hessian``, forward-over-reverse), ``eigh``, derived quantities and the symmetry check,
  written for one network and ``vmap``-ed over chunks of networks.
* **matrix-free** (:func:`lanczos_curvature`): Hessian-vector products only; Lanczos for the
  top-k / bottom-k eigenvalues and Hutch++ for the trace (see :mod:`landscape.lanczos`).

**Zero-eigenvalue tolerance rule.** An eigenvalue ``lambda`` of a network counts as zero when
``|lambda| <= zero_rtol * max_i |lambda_i| + zero_atol`` (defaults ``1e-4`` and ``1e-7``).
The index is the number of eigenvalues below ``-tolerance``; a network with index > 0 is a
*saddle* (it has a direction of strictly negative curvature), otherwise a *minimum*. The
relative part covers the network not sitting exactly at a critical point: for any exact
symmetry ``L(phi_a(theta)) = L(theta)`` with generator ``v(theta) = D theta``, differentiating
twice gives ``H v = -D grad L``, so a symmetry direction's eigenvalue is of the size of the
final gradient (about ``1e-5`` for networks that met ``grad_tol``), well below ``1e-4`` of the top
eigenvalue on the default problem; genuinely curved directions there are larger.

**Flat directions predicted by symmetry** (built-in MLPs with a positively homogeneous
activation, any depth; see :mod:`landscape.symmetries`): one per live hidden unit (rescaling),
the incoming weights, bias and outgoing weights of every dead unit, and the redundancy of the
affine map the units linear on the data write together with the next layer. The count is printed
only where it is exact: it is checked against the rank of the Jacobian of the outputs on the data,
and a configuration it does not cover (a dead layer, chained linear layers, deep-network hidden
symmetries) is reported in one line instead of a number.

**A run as a whole**: :func:`analyse_run` (any model, any loss, dataset or not) returns a
:class:`CurvatureResult`, which owns the run file's ``/hessian`` group
(:meth:`CurvatureResult.write`, :meth:`CurvatureResult.read`); :func:`format_curvature_table`
is the table ``landscape hessian`` prints.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .batching import chunked_map, leading_size, take
from .lanczos import extreme_eigenpairs, hessian_vector_product, hutchpp_trace, lanczos, slq_nodes_weights, tridiagonal
from .models import activation_function, activation_properties
from .refine import kink_margin
from .symmetries import PREDICTION_REASONS, describe_prediction, explained_flat_directions, reconcile_prediction
from .symmetries import predicted_flat_directions as predicted_flat_directions
from .types import Loss, Params

if TYPE_CHECKING:
    from .problem import Problem
    from .storage import Run

ZERO_RTOL = 1e-4
ZERO_ATOL = 1e-7
# float64 zeros: at a refined stationary point a flat direction's eigenvalue is rounding, ~1e-16 of the top
EXACT_ZERO_RTOL = 1e-10
KINK_RTOL = 1e-9  # a pre-activation this close to 0 (relative to its layer's largest) puts a data point on a kink


# ---------------------------------------------------------------------------------------------
# One network.


def flat_loss(
    loss_fn: Loss, params: Params, x: jax.Array, y: jax.Array
) -> tuple[jax.Array, Callable[[jax.Array], jax.Array]]:
    """``(flat_params (n_params,), loss_of_flat: (n_params,) -> ())`` for one network."""
    flat, unravel = ravel_pytree(params)
    return flat, lambda vector: loss_fn(unravel(vector), x, y)


def loss_hessian(loss_fn: Loss, params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    """Exact Hessian ``(n_params, n_params)`` of the loss of one network (symmetrised).

    ReLU networks have piecewise-quadratic-in-each-layer losses: the Hessian is that of the
    linear region the network sits in (it is undefined only if a data point is exactly on a kink).
    """
    flat, loss = flat_loss(loss_fn, params, x, y)
    hessian = jax.hessian(loss)(flat)
    return 0.5 * (hessian + hessian.T)


HessianFn = Callable[[Params, jax.Array, jax.Array], jax.Array]  # (params, x, y) -> (n_params, n_params)


def autodiff_hessian(loss_fn: Loss) -> HessianFn:
    """The generic ``hessian_fn``: :func:`loss_hessian` of any loss and model."""
    return lambda params, x, y: loss_hessian(loss_fn, params, x, y)


def mlp_mse_hessian(leaky_slope: float = 0.0) -> HessianFn:
    """A fused closed-form ``hessian_fn`` for the common case, ~10x faster than autodiff.

    For a one-hidden-layer MLP ``f(x) = sum_j a_j s(w_j . x + b_j) + c`` with a piecewise-linear
    activation ``s`` (ReLU: ``leaky_slope = 0``; leaky ReLU) and scalar output, under the mean
    squared error ``L = mean_i r_i^2``, ``r_i = f(x_i) - y_i``:

    ``H = (2/n) sum_i [ J_i J_i^T + r_i d2f_i ]``, where ``J_i = df(x_i)/dtheta`` and the only
    nonzero second derivatives of ``f`` (``s'' = 0`` off the kinks) are
    ``d2f / (da_j d(w_j, b_j)) = s'(z_ij) (x_i, 1)``. Tested equal to :func:`autodiff_hessian`.
    Same parameter order as ``ravel_pytree`` (biases optional).
    """

    def hessian(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
        hidden, output = params
        z = x @ hidden["w"] + (hidden["b"] if "b" in hidden else 0.0)  # (n, h)
        slope = jnp.where(z > 0, 1.0, leaky_slope).astype(z.dtype)
        h = z * slope
        a = output["w"][:, 0]
        prediction = h @ a + (output["b"][0] if "b" in output else 0.0)
        residual = prediction - y
        n = x.shape[0]
        jacobian_tree = [
            {"w": x[:, :, None] * (slope * a)[:, None, :], **({"b": slope * a} if "b" in hidden else {})},
            {"w": h[:, :, None], **({"b": jnp.ones((n, 1), z.dtype)} if "b" in output else {})},
        ]
        jacobian = jax.vmap(lambda tree: ravel_pytree(tree)[0])(jacobian_tree)  # (n, n_params)
        # residual term: d2f/(da_j dw_kj) = s'(z_ij) x_ik and d2f/(da_j db_j) = s'(z_ij)
        weighted = residual[:, None] * slope  # (n, h)
        cross_tree = [
            {"w": x.T @ weighted, **({"b": jnp.sum(weighted, axis=0)} if "b" in hidden else {})},
            jax.tree.map(jnp.zeros_like, output),
        ]
        width = z.shape[1]
        rows = []
        for unit in range(width):  # u_j: unit j's incoming cross terms; e_j: the a_j position
            unit_tree = [
                jax.tree.map(
                    lambda leaf, unit=unit: jnp.zeros_like(leaf).at[..., unit].set(leaf[..., unit]), cross_tree[0]
                ),
                cross_tree[1],
            ]
            rows.append(ravel_pytree(unit_tree)[0])
        cross = jnp.stack(rows)  # (h, n_params)
        a_positions = ravel_pytree(
            [
                jax.tree.map(jnp.zeros_like, hidden),
                {
                    **{k: jnp.zeros_like(v) for k, v in output.items()},
                    "w": jnp.arange(1, width + 1, dtype=z.dtype)[:, None],
                },
            ]
        )[0]
        selector = (a_positions[None, :] == jnp.arange(1, width + 1, dtype=z.dtype)[:, None]).astype(
            z.dtype
        )  # (h, n_params)
        second = cross.T @ selector + selector.T @ cross
        return (2.0 / n) * (jacobian.T @ jacobian + second)

    return hessian


def hessian_function(model: Any, loss_fn: Loss | None = None) -> HessianFn:
    """The fastest exact ``hessian_fn`` for a model: the fused one for built-in one-hidden-layer
    (leaky) ReLU MLPs with scalar output and the default MSE loss, else autodiff."""
    mlp = getattr(model, "mlp", None)
    sizes = getattr(model, "extras", {}).get("sizes", [])
    if (
        loss_fn is None
        and mlp is not None
        and len(mlp.hidden) == 1
        and mlp.activation in ("relu", "leaky_relu")
        and sizes
        and sizes[-1] == 1
    ):
        return mlp_mse_hessian(0.0 if mlp.activation == "relu" else mlp.leaky_slope)
    return autodiff_hessian(loss_of_model(model, loss_fn))


def loss_of_model(model: Any, loss_fn: Loss | None = None) -> Loss:
    """``(params, x, y) -> scalar``: the training objective of a model (default MSE), no dropout."""
    from .training import make_objective

    objective = make_objective(model, loss_fn)
    return lambda params, x, y: objective(params, x, y)


def zero_tolerance(eigenvalues: jax.Array, rtol: float = ZERO_RTOL, atol: float = ZERO_ATOL) -> jax.Array:
    """The rule above: ``rtol * max|lambda| + atol`` over the last axis of ``eigenvalues``."""
    return rtol * jnp.max(jnp.abs(eigenvalues), axis=-1) + atol


def spectrum_statistics(eigenvalues: jax.Array, tolerance: jax.Array) -> dict[str, jax.Array]:
    """Derived quantities of one ascending spectrum ``(n_params,)`` given its zero tolerance.

    Returns ``min_eigenvalue``, ``max_eigenvalue``, ``trace``, ``index`` (count below
    ``-tolerance``), ``n_near_zero`` (count within ``tolerance``), ``n_positive``,
    ``condition_number`` (``max / min`` of ``|lambda|`` over eigenvalues beyond the tolerance:
    the conditioning of the non-null part; ``inf`` if there are none), ``is_saddle``.
    """
    magnitude = jnp.abs(eigenvalues)
    outside = magnitude > tolerance
    smallest = jnp.min(jnp.where(outside, magnitude, jnp.inf))
    index = jnp.sum(eigenvalues < -tolerance)
    return {
        "min_eigenvalue": eigenvalues[0],
        "max_eigenvalue": eigenvalues[-1],
        "trace": jnp.sum(eigenvalues),
        "index": index.astype(jnp.int32),
        "n_near_zero": jnp.sum(~outside).astype(jnp.int32),
        "n_positive": jnp.sum(eigenvalues > tolerance).astype(jnp.int32),
        "condition_number": jnp.where(jnp.any(outside), jnp.max(magnitude) / smallest, jnp.inf),
        "is_saddle": index > 0,
    }


def _unit_parameter_masks(params: Params) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """Static bookkeeping: for each hidden unit ``(layer, unit)``, which flat parameters are its
    incoming weights + bias (sign +1) and its outgoing weights (sign -1).

    Returns ``[(layer, unit, member (n_params,) bool, sign (n_params,) float), ...]``.
    """
    shapes = jax.tree.map(lambda leaf: np.zeros(np.shape(leaf)), params)
    units = []
    for layer in range(len(params) - 1):
        width = np.shape(params[layer]["w"])[1]
        for unit in range(width):
            sign_tree = jax.tree.map(np.copy, shapes)
            sign_tree[layer]["w"][:, unit] = 1.0
            if "b" in sign_tree[layer]:
                sign_tree[layer]["b"][unit] = 1.0
            sign_tree[layer + 1]["w"][unit, :] = -1.0
            sign = np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(sign_tree)])  # ravel_pytree order
            units.append((layer, unit, sign != 0, sign))
    return units


def _flat_position(params: Params, layer: int, name: str, index: tuple[int, ...]) -> int:
    """Static index in the ``ravel_pytree`` vector of ``params[layer][name][index]``."""
    marker = jax.tree.map(lambda leaf: np.zeros(np.shape(leaf)), params)
    marker[layer][name][index] = 1.0
    return int(np.flatnonzero(np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(marker)]))[0])


def symmetry_directions(
    params: Params, x: jax.Array, activation: str = "relu", leaky_slope: float = 0.01, counts: bool = True
) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
    """Flat directions predicted by the symmetries of one MLP, as explicit vectors.

    For each hidden unit: one candidate column for rescaling (kept if the unit is live, or for
    every unit under leaky ReLU); one unit vector per parameter of the unit (kept if the unit is
    dead under ReLU); and, in one-hidden-layer MLPs with both biases, the bias trade
    ``e_{b_j} - s_j a_j e_c`` (kept if the unit is linear on the data, ``s_j`` its slope there).
    Shapes are static, so this ``vmap``-s over networks.

    The counts are :func:`landscape.symmetries.predicted_flat_directions` (any depth; the
    explicit columns cover rescaling, dead units and the one-layer bias trade only).

    Args:
      params: one MLP's parameter list; x: ``(n_points, in_dim)``.
      activation: the MLP's activation name (prediction only for ``relu``/``leaky_relu``).
      leaky_slope: the negative-side slope of ``leaky_relu``.
    Returns:
      ``directions`` (n_params, n_candidates), ``keep`` (n_candidates,) bool, and the counts of
      :func:`landscape.symmetries.predicted_flat_directions`.
    """
    from .symmetries import unit_states

    flat, _ = ravel_pytree(params)
    n_params = flat.shape[0]
    homogeneous = activation_properties(activation).positively_homogeneous
    units = _unit_parameter_masks(params)  # static, layer by layer
    signs = np.stack([sign for _, _, _, sign in units], axis=1)  # (P, U)
    members = np.stack([member for _, _, member, _ in units], axis=1)  # (P, U)
    dead_layers, linear_layers = unit_states(params, x, activation if homogeneous else "relu", leaky_slope)
    dead, linear = jnp.concatenate(dead_layers), jnp.concatenate(linear_layers)  # (U,)
    if activation != "relu":  # only ReLU has dead units
        dead = jnp.zeros_like(dead)
    rescaling = flat[:, None] * jnp.asarray(signs, flat.dtype)  # (P, U): (w_in, b, -w_out) per unit
    positions = [np.flatnonzero(members[:, u]) for u in range(len(units))]
    owner = np.concatenate([np.full(len(p), u) for u, p in enumerate(positions)])
    coordinates = np.eye(n_params)[:, np.concatenate(positions)]  # (P, K): a dead unit's parameters, one by one
    columns = [rescaling, jnp.asarray(coordinates, flat.dtype)]
    keep = [~dead, dead[owner]]
    if len(params) == 2 and "b" in params[0] and "b" in params[-1] and np.shape(params[-1]["w"])[1] == 1:
        # bias trade e_{b_j} - s_j a_j e_c of a unit linear on the data (slope s_j there)
        first = hidden_preactivations_first(params, x)
        width = np.shape(params[0]["w"])[1]
        all_negative = jnp.all(first < 0, axis=0) if activation == "leaky_relu" else jnp.zeros((width,), bool)
        slope = jnp.where(all_negative, leaky_slope, 1.0)
        bias_positions = np.array([_flat_position(params, 0, "b", (unit,)) for unit in range(width)])
        output_bias = np.zeros(n_params)
        output_bias[_flat_position(params, 1, "b", (0,))] = 1.0
        trade_columns = jnp.asarray(np.eye(n_params)[:, bias_positions], flat.dtype) - jnp.asarray(
            output_bias, flat.dtype
        )[:, None] * (slope * params[1]["w"][:, 0])
        columns.append(trade_columns)
        keep.append(linear[:width])
    keep = jnp.concatenate(keep)
    if not homogeneous:
        keep = jnp.zeros_like(keep)
    found = predicted_flat_directions(params, x, activation, leaky_slope) if counts else {}
    return jnp.concatenate(columns, axis=1), keep, found


def hidden_preactivations_first(params: Params, x: jax.Array) -> jax.Array:
    """Pre-activations ``(n_points, width)`` of an MLP's first hidden layer."""
    return x @ params[0]["w"] + (params[0]["b"] if "b" in params[0] else 0.0)


def symmetry_check(
    hessian: jax.Array,
    eigenvalues: jax.Array,
    eigenvectors: jax.Array,
    tolerance: jax.Array,
    directions: jax.Array,
    keep: jax.Array,
) -> dict[str, jax.Array]:
    """How well the predicted symmetry directions lie in the observed null space.

    Returns ``symmetry_residual``: max over kept directions of ``||H v|| / (||v|| max|lambda|)``
    (0 = exactly flat), and ``symmetry_outside_null``: max over kept directions of the share
    of ``||v||`` outside the span of eigenvectors with ``|lambda| <= tolerance`` (0 = inside).
    """
    norms = jnp.maximum(jnp.linalg.norm(directions, axis=0), jnp.finfo(directions.dtype).tiny)
    unit = directions / norms
    scale = jnp.maximum(jnp.max(jnp.abs(eigenvalues)), jnp.finfo(eigenvalues.dtype).tiny)
    residual = jnp.linalg.norm(hessian @ unit, axis=0) / scale
    curved = (jnp.abs(eigenvalues) > tolerance).astype(unit.dtype)
    outside = jnp.sqrt(jnp.clip(jnp.sum((eigenvectors.T @ unit) ** 2 * curved[:, None], axis=0), 0.0, 1.0))
    return {
        "symmetry_residual": jnp.max(jnp.where(keep, residual, 0.0)),
        "symmetry_outside_null": jnp.max(jnp.where(keep, outside, 0.0)),
    }


def dense_curvature_one(
    hessian_fn: HessianFn,
    params: Params,
    x: jax.Array,
    y: jax.Array,
    activation: str | None = "relu",
    zero_rtol: float = ZERO_RTOL,
    zero_atol: float = ZERO_ATOL,
    with_vectors: bool = False,
    leaky_slope: float = 0.01,
) -> dict[str, jax.Array]:
    """Everything the dense path computes for ONE network.

    Args:
      hessian_fn: ``(params, x, y) -> (n_params, n_params)``, e.g. :func:`autodiff_hessian` of
        the training loss or :func:`mlp_mse_hessian`; params: one network.
      x: ``(n_points, in_dim)``; y: ``(n_points,)`` targets (the full training set).
      activation: MLP activation for the symmetry prediction, or None for non-MLP models.
      with_vectors: also return ``eigenvectors`` (n_params, n_params), columns.
    Returns:
      ``eigenvalues`` (n_params,) ascending, ``zero_tolerance``, the fields of
      :func:`spectrum_statistics`, and with ``activation``: the counts of
      :func:`landscape.symmetries.predicted_flat_directions` plus :func:`symmetry_check`.
    """
    hessian = hessian_fn(params, x, y)
    eigenvalues, eigenvectors = jnp.linalg.eigh(hessian)
    tolerance = zero_tolerance(eigenvalues, zero_rtol, zero_atol)
    out = {"eigenvalues": eigenvalues, "zero_tolerance": tolerance, **spectrum_statistics(eigenvalues, tolerance)}
    out["n_zero_exact"] = jnp.sum(jnp.abs(eigenvalues) <= EXACT_ZERO_RTOL * jnp.max(jnp.abs(eigenvalues))).astype(
        jnp.int32
    )
    if activation is not None and activation_properties(activation).piecewise_linear and activation != "linear":
        out["kink_margin"] = kink_margin(params, x, activation_function(activation, leaky_slope))
    if activation is not None:
        # one LAPACK call at a time: the SVDs below wait for eigh (see lanczos.orthonormal_columns)
        params, _ = jax.lax.optimization_barrier((params, eigenvalues))
        directions, keep, _ = symmetry_directions(params, x, activation, leaky_slope, counts=False)
        out.update(predicted_flat_directions(params, x, activation, leaky_slope))
        out.update(symmetry_check(hessian, eigenvalues, eigenvectors, tolerance, directions, keep))
    if with_vectors:
        out["eigenvectors"] = eigenvectors
    return out


# ---------------------------------------------------------------------------------------------
# Batches of networks: vmap over chunks of fixed size (one compile), NumPy out.


def n_networks(batched_params: Params) -> int:
    return leading_size(batched_params)


def map_chunks(
    function: Callable[[Params], dict[str, jax.Array]], batched_params: Params, chunk_size: int
) -> dict[str, np.ndarray]:
    """Deprecated name of :func:`landscape.batching.chunked_map` (padded fixed-size chunks, one compile)."""
    return chunked_map(function, batched_params, chunk_size)


def make_dense_batch(
    hessian_fn: HessianFn,
    x: jax.Array,
    y: jax.Array,
    activation: str | None = "relu",
    zero_rtol: float = ZERO_RTOL,
    zero_atol: float = ZERO_ATOL,
    with_vectors: bool = False,
    leaky_slope: float = 0.01,
) -> Callable[[Params], dict[str, jax.Array]]:
    """``jit(vmap(dense_curvature_one))`` over networks, data closed over."""

    def one(params: Params) -> dict[str, jax.Array]:
        return dense_curvature_one(
            hessian_fn, params, x, y, activation, zero_rtol, zero_atol, with_vectors, leaky_slope
        )

    return jax.jit(jax.vmap(one))


def dense_curvature(
    hessian_fn: HessianFn,
    batched_params: Params,
    x: Any,
    y: Any,
    activation: str | None = "relu",
    zero_rtol: float = ZERO_RTOL,
    zero_atol: float = ZERO_ATOL,
    chunk_size: int = 2048,
    with_vectors: bool = False,
    dtype: Any = None,
    leaky_slope: float = 0.01,
) -> dict[str, np.ndarray]:
    """Exact spectra and derived quantities of every network of a batch.

    Args:
      hessian_fn: see :func:`dense_curvature_one` (:func:`hessian_function` picks one).
      batched_params: parameters with a leading network axis (n_nets, ...).
      x, y: the full training data.
      chunk_size: networks per compiled call (memory ~ chunk * n_points * n_params).
      dtype: compute in this float dtype (e.g. ``jnp.float64`` inside ``jax.enable_x64()``);
        default: that of the parameters.
    Returns:
      Dict of NumPy arrays with leading axis n_nets: see :func:`dense_curvature_one`.
      Networks with non-finite parameters give NaN spectra.
    """
    if dtype is not None:
        batched_params = jax.tree.map(lambda leaf: np.asarray(leaf, dtype), batched_params)
        x, y = np.asarray(x, dtype), np.asarray(y, dtype)
    batch = make_dense_batch(
        hessian_fn, jnp.asarray(x), jnp.asarray(y), activation, zero_rtol, zero_atol, with_vectors, leaky_slope
    )
    return map_chunks(batch, batched_params, chunk_size)


def lanczos_curvature_one(
    loss_fn: Loss,
    params: Params,
    x: jax.Array,
    y: jax.Array,
    key: jax.Array,
    top_k: int = 5,
    n_steps: int | None = None,
    trace_matvecs: int = 66,
    zero_rtol: float = ZERO_RTOL,
    zero_atol: float = ZERO_ATOL,
) -> dict[str, jax.Array]:
    """The matrix-free path for ONE network: extreme eigenvalues, trace, index among the bottom-k.

    Returns ``top_eigenvalues`` (k,) descending, ``bottom_eigenvalues`` (k,) ascending,
    ``trace`` (Hutch++ estimate), ``min_eigenvalue``, ``max_eigenvalue``, ``zero_tolerance``,
    ``index`` (negatives beyond tolerance among the bottom-k, so capped at k) and ``is_saddle``.
    """
    flat, loss = flat_loss(loss_fn, params, x, y)
    matvec = hessian_vector_product(loss, flat)
    dim = flat.shape[0]
    pairs_key, trace_key = jax.random.split(key)
    pairs = extreme_eigenpairs(matvec, dim, top_k, pairs_key, n_steps, flat.dtype)
    top, bottom = pairs["top_values"], pairs["bottom_values"]
    tolerance = zero_rtol * jnp.maximum(jnp.abs(top[0]), jnp.abs(bottom[0])) + zero_atol
    index = jnp.sum(bottom < -tolerance)
    return {
        "top_eigenvalues": top,
        "bottom_eigenvalues": bottom,
        "max_eigenvalue": top[0],
        "min_eigenvalue": bottom[0],
        "trace": hutchpp_trace(matvec, dim, trace_key, trace_matvecs, flat.dtype),
        "zero_tolerance": tolerance,
        "index": index.astype(jnp.int32),
        "is_saddle": index > 0,
    }


def lanczos_curvature(
    loss_fn: Loss,
    batched_params: Params,
    x: Any,
    y: Any,
    key: jax.Array,
    top_k: int = 5,
    n_steps: int | None = None,
    trace_matvecs: int = 66,
    zero_rtol: float = ZERO_RTOL,
    zero_atol: float = ZERO_ATOL,
    chunk_size: int = 256,
    dtype: Any = None,
) -> dict[str, np.ndarray]:
    """Matrix-free curvature of every network; network ``i`` uses ``fold_in(key, i)``, so the
    result does not depend on chunking. See :func:`lanczos_curvature_one`."""
    if dtype is not None:
        batched_params = jax.tree.map(lambda leaf: np.asarray(leaf, dtype), batched_params)
        x, y = np.asarray(x, dtype), np.asarray(y, dtype)
    x, y = jnp.asarray(x), jnp.asarray(y)
    n = n_networks(batched_params)

    def one(params: Params, index: jax.Array) -> dict[str, jax.Array]:
        return lanczos_curvature_one(
            loss_fn, params, x, y, jax.random.fold_in(key, index), top_k, n_steps, trace_matvecs, zero_rtol, zero_atol
        )

    batch = jax.jit(jax.vmap(one))
    with_index = {"params": batched_params, "index": np.arange(n)}
    return map_chunks(lambda tree: batch(tree["params"], tree["index"]), with_index, chunk_size)


def slq_spectra(
    loss_fn: Loss, batched_params: Params, x: Any, y: Any, key: jax.Array, n_probes: int = 16, n_steps: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """SLQ nodes and weights ``(n_nets, n_probes, n_steps)`` of each network's Hessian
    (Ghorbani, Krishnan & Xiao 2019), network ``i`` probed with ``fold_in(key, i)``; smooth them
    with :func:`landscape.lanczos.slq_density`. ``n_steps`` is capped at ``n_params``."""
    x, y = jnp.asarray(x), jnp.asarray(y)

    def one(params: Params, index: jax.Array) -> tuple[jax.Array, jax.Array]:
        flat, loss = flat_loss(loss_fn, params, x, y)
        matvec = hessian_vector_product(loss, flat)
        return slq_nodes_weights(matvec, flat.shape[0], jax.random.fold_in(key, index), n_probes, n_steps, flat.dtype)

    params = jax.tree.map(jnp.asarray, batched_params)
    nodes, weights = jax.jit(jax.vmap(one))(params, jnp.arange(n_networks(params)))
    return np.asarray(nodes), np.asarray(weights)


def hessians_and_eigenvectors(
    hessian_fn: HessianFn, batched_params: Params, x: Any, y: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hessians ``(n, P, P)``, eigenvalues ``(n, P)`` ascending and eigenvectors ``(n, P, P)``
    (columns) of a few networks, e.g. the type representatives."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    hessians = np.asarray(
        jax.jit(jax.vmap(lambda params: hessian_fn(params, x, y)))(jax.tree.map(jnp.asarray, batched_params))
    )
    values, vectors = np.linalg.eigh(hessians)
    return hessians, values, vectors


def slq_spectra_of_hessians(
    hessians: Any, key: jax.Array, n_probes: int = 16, n_steps: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`slq_spectra` for networks whose dense Hessians ``(n, P, P)`` are at hand (e.g. from
    :func:`hessians_and_eigenvectors`), with the same probes (network ``i`` uses ``fold_in(key, i)``).

    With ``n_steps >= P`` (small networks) Lanczos runs to the whole space and its Gauss
    quadrature is exact: the nodes are the eigenvalues and the weights the squared components of
    the normalised probe in the eigenbasis (Golub & Meurant 2010), so they are computed so
    (``eigh`` plus a product), which gives the same density as :func:`slq_spectra` up to rounding
    (weights of repeated eigenvalues may split differently between them). Otherwise Lanczos runs
    with ``H v`` a matrix product, over one flat batch of (network, probe) pairs. Either way no
    autodiff through the model is compiled: :func:`slq_spectra`'s program takes seconds to
    compile on a CPU and longer on a GPU, for a handful of networks.
    """
    hessians = jnp.asarray(hessians)
    n, dim = hessians.shape[0], hessians.shape[-1]
    n_steps = min(n_steps, dim)
    # the probe keys of slq_nodes_weights: split(fold_in(key, i), n_probes), then (start, restart) per probe
    flat_keys = _probe_keys(key, n, n_probes)  # one flat batch (n * n_probes, 2): nested vmaps compile far slower
    if n_steps == dim:
        starts = np.asarray(_probe_starts(flat_keys, dim, hessians.dtype))
        starts = (starts / np.linalg.norm(starts, axis=-1, keepdims=True)).reshape(n, n_probes, dim)
        values, vectors = np.linalg.eigh(np.asarray(hessians))  # (n, P), (n, P, P) columns
        weights = np.einsum("npd,nde->npe", starts, vectors) ** 2
        return np.broadcast_to(values[:, None, :], weights.shape).copy(), weights
    nodes, weights = _slq_of_matrices(jnp.repeat(hessians, n_probes, axis=0), flat_keys, n_steps)
    return np.asarray(nodes).reshape(n, n_probes, n_steps), np.asarray(weights).reshape(n, n_probes, n_steps)


@functools.partial(jax.jit, static_argnums=(1, 2))
def _probe_keys(key: jax.Array, n: int, n_probes: int) -> jax.Array:
    return jax.vmap(lambda i: jax.random.split(jax.random.fold_in(key, i), n_probes))(jnp.arange(n)).reshape(
        n * n_probes, -1
    )


@functools.partial(jax.jit, static_argnums=(1, 2))
def _probe_starts(flat_keys: jax.Array, dim: int, dtype: Any) -> jax.Array:
    return jax.vmap(lambda k: jax.random.normal(jax.random.split(k)[0], (dim,), dtype))(flat_keys)


@functools.partial(jax.jit, static_argnums=2)
def _slq_of_matrices(hessians: jax.Array, probe_keys: jax.Array, n_steps: int) -> tuple[jax.Array, jax.Array]:
    """SLQ nodes and weights ``(m, n_steps)`` of ``m`` dense matrices, one probe key each."""
    dim = hessians.shape[-1]

    def one(hessian: jax.Array, probe_key: jax.Array) -> tuple[jax.Array, jax.Array]:
        start_key, restart_key = jax.random.split(probe_key)
        result = lanczos(
            lambda vector: hessian @ vector, jax.random.normal(start_key, (dim,), hessian.dtype), n_steps, restart_key
        )
        values, vectors = jnp.linalg.eigh(tridiagonal(result))
        return values, vectors[0] ** 2

    return jax.vmap(one)(hessians, probe_keys)


@jax.jit
def density_curves(
    slq_nodes: jax.Array, slq_weights: jax.Array, eigenvalues: jax.Array, grid: jax.Array, sigma: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Smoothed spectral densities of several networks in one compiled call: SLQ ones from
    ``(n, n_probes, n_steps)`` nodes/weights and exact ones from ``(n, P)`` eigenvalues, on ``grid``
    (G,), each ``(n, G)`` (see :func:`landscape.lanczos.slq_density` and ``exact_density``)."""
    from .lanczos import exact_density, slq_density

    slq = jax.vmap(lambda nodes, weights: slq_density(nodes, weights, grid, sigma))(slq_nodes, slq_weights)
    exact = jax.vmap(lambda values: exact_density(values, grid, sigma))(eigenvalues)
    return slq, exact


# ---------------------------------------------------------------------------------------------
# Per-type summaries (arrays in, arrays out).

SUMMARY_FIELDS = ("max_eigenvalue", "min_eigenvalue", "trace", "condition_number")


def type_summary(
    curvature: dict[str, np.ndarray],
    labels: np.ndarray,
    kind: np.ndarray | None = None,
    zeros: str = "n_near_zero",
) -> dict[str, np.ndarray]:
    """Curvature statistics per solution type.

    Args:
      curvature: per-network arrays from :func:`dense_curvature` or :func:`lanczos_curvature`
        (networks not analysed carry NaN and count in ``count`` only).
      labels: ``(n_nets,)`` type names.
      kind: optional ``(n_nets,)`` codes of :func:`landscape.saddles.stationary_kind`; then
        ``n_saddle`` counts stationary saddles only and ``n_not_stationary`` the networks whose
        gradient is above the tolerance (a negative eigenvalue there does not make a saddle).
    Returns:
      ``type`` (n_types,) names in :func:`landscape.vocabulary.ordered_type_names` order,
      ``count``, ``n_saddle``, ``n_finite`` (networks analysed), for each of
      :data:`SUMMARY_FIELDS` present: ``<field>_q25``, ``_median``, ``_q75`` (over networks with
      finite values), and, with the dense path, ``median_near_zero``, ``n_predicted`` (networks
      whose symmetry prediction is exact), ``median_zero_predicted`` and ``zero_match`` (share of
      those whose near-zero count equals the prediction; NaN when none is predicted).
      zeros: the observed zero count compared: ``"n_near_zero"`` (the tolerance rule) or, at refined
        points, ``"n_zero_exact"`` (float64 zeros).
    """
    from .vocabulary import ordered_type_names

    labels = np.asarray(labels).astype(str)
    table: dict[str, list[Any]] = {"type": [], "count": [], "n_saddle": [], "n_finite": []}
    for name in ordered_type_names(labels):
        members = labels == name
        finite = members & np.isfinite(curvature["max_eigenvalue"])
        table["type"].append(name)
        table["count"].append(int(members.sum()))
        table["n_finite"].append(int(finite.sum()))
        if kind is None:
            table["n_saddle"].append(int(np.sum(curvature["is_saddle"][finite])))
        else:
            from .saddles import NOT_STATIONARY, SADDLE

            table["n_saddle"].append(int(np.sum(np.asarray(kind)[finite] == SADDLE)))
            table.setdefault("n_not_stationary", []).append(int(np.sum(np.asarray(kind)[finite] == NOT_STATIONARY)))
        for name_field in SUMMARY_FIELDS:
            if name_field not in curvature:
                continue
            values = curvature[name_field][finite]
            values = values[np.isfinite(values)]
            q = np.quantile(values, [0.25, 0.5, 0.75]) if values.size else np.full(3, np.nan)
            for suffix, value in zip(("q25", "median", "q75"), q, strict=True):
                table.setdefault(f"{name_field}_{suffix}", []).append(float(value))
        if zeros in curvature:
            near = np.asarray(curvature[zeros])[finite]
            predicted = np.asarray(curvature.get("n_zero_predicted", np.full(labels.shape, -1)))[finite]
            exact = predicted >= 0
            table.setdefault("median_near_zero", []).append(float(np.median(near)) if near.size else np.nan)
            table.setdefault("n_predicted", []).append(int(exact.sum()))
            table.setdefault("median_zero_predicted", []).append(
                float(np.median(predicted[exact])) if exact.any() else np.nan
            )
            table.setdefault("zero_match", []).append(
                float(np.mean(near[exact] == predicted[exact])) if exact.any() else np.nan
            )
    return {k: np.asarray(v) for k, v in table.items()}


def format_type_summary(summary: dict[str, np.ndarray], method: str = "dense") -> str:
    """The per-type table as text (one row per type)."""
    dense = "median_near_zero" in summary
    stationarity = "n_not_stationary" in summary
    header = (
        f"{'type':<14}{'n':>6}{'saddles':>9}"
        + (f"{'not stationary':>16}" if stationarity else "")
        + f"{'lambda_max median [IQR]':>32}{'trace median':>14}{'lambda_min median':>19}{'cond median':>13}"
    )
    if dense:
        header += f"{'zeros obs/pred':>16}{'match':>7}"
    lines = [f"Hessian curvature by solution type ({method})", header]
    for i, name in enumerate(summary["type"]):
        row = f"{name:<14}{summary['count'][i]:>6d}{summary['n_saddle'][i]:>9d}"
        row += f"{summary['n_not_stationary'][i]:>16d}" if stationarity else ""
        if summary["n_finite"][i] == 0:
            lines.append(row + "  (no network of this type could be analysed)")
            continue
        iqr = f"{summary['max_eigenvalue_median'][i]:.4g} [{summary['max_eigenvalue_q25'][i]:.3g}, {summary['max_eigenvalue_q75'][i]:.3g}]"
        row += f"{iqr:>32}{summary['trace_median'][i]:>14.4g}{summary['min_eigenvalue_median'][i]:>19.3g}"
        row += (
            f"{summary['condition_number_median'][i]:>13.3g}" if "condition_number_median" in summary else f"{'-':>13}"
        )
        if dense:
            predicted = summary["median_zero_predicted"][i]
            pred = f"{predicted:<7.0f}" if np.isfinite(predicted) else f"{'-':<7}"
            match = summary["zero_match"][i]
            row += f"{summary['median_near_zero'][i]:>8.0f}/{pred}" + (
                f"{match:>7.0%}" if np.isfinite(match) else f"{'-':>7}"
            )
        lines.append(row)
    return "\n".join(lines)


def parameter_names(params_one: Params) -> list[str]:
    """Names of one network's flat parameters in ``ravel_pytree`` order, e.g. ``0/w[1,2]``."""
    names = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(params_one)[0]:
        base = "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
        for index in np.ndindex(np.shape(leaf)):
            names.append(f"{base}[{','.join(map(str, index))}]")
    return names


# ---------------------------------------------------------------------------------------------
# A run as a whole: compiled batches built once per configuration, the result and its group.


@dataclass(frozen=True, eq=False)
class _Spec:
    """The static part of a compiled batch. Equal ``key`` means the same functions (the key names
    the study, which rebuilds the model and loss, or the very objects passed), so JAX's own jit
    cache reuses one compiled program across calls and runs; no cache of ours."""

    key: tuple
    objective: Callable[..., Any]
    apply: Callable[..., Any] | None
    closed_form_slope: float | None
    activation: str | None
    leaky_slope: float
    owners: tuple = ()  # the objects named by id in ``key``, kept alive while the spec is cached

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Spec) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def hessian_fn(self) -> HessianFn:
        if self.closed_form_slope is not None:
            return mlp_mse_hessian(self.closed_form_slope)
        return autodiff_hessian(self.objective)


def _spec(problem: Problem, predict: bool, rebuilt: bool) -> _Spec:
    """The compiled-batch configuration of a problem (closed form where :func:`unit_reason` allows).

    ``rebuilt``: the problem was built here from the run's study (its model and loss are then named by
    the study, and a second call shares the compiled program); a problem passed in is named by its
    model and loss objects (pass the same problem again to reuse the compiled program)."""
    from .problem import mlp_reason, unit_reason

    mlp = problem.mlp
    closed = None
    if unit_reason(problem) is None and mlp.activation in ("relu", "leaky_relu") and np.ndim(problem.y) == 1:
        closed = 0.0 if mlp.activation == "relu" else float(mlp.leaky_slope)
    activation = mlp.activation if predict else None
    leaky = float(mlp.leaky_slope) if mlp is not None else 0.01
    apply = problem.model.apply if predict and mlp_reason(problem) is None else None
    owners: tuple = () if rebuilt else (problem.model, problem.loss_fn)
    origin = (
        ("study", problem.study.to_json(), json.dumps(problem.sources, sort_keys=True))
        if rebuilt
        else ("objects", problem.study.to_json(), *(id(o) for o in owners))
    )
    key = (*origin, np.shape(problem.x)[1:], np.shape(problem.y)[1:], closed, activation, leaky, apply is not None)
    return _Spec(key, problem.objective, apply, closed, activation, leaky, owners)


@functools.partial(jax.jit, static_argnums=0)
def _dense_batch(spec: _Spec, batched_params: Params, x: jax.Array, y: jax.Array, rtol: Any, atol: Any) -> Any:
    hessian_fn = spec.hessian_fn()
    return jax.vmap(
        lambda params: dense_curvature_one(
            hessian_fn, params, x, y, spec.activation, rtol, atol, False, spec.leaky_slope
        )
    )(batched_params)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _refine_batch(spec: _Spec, steps: int, batched_params: Params, x: jax.Array, y: jax.Array) -> Any:
    """:func:`landscape.refine.refine_one` over a chunk: Levenberg-Marquardt on the residuals where the
    loss is the built-in MLP's mean squared error (``spec.apply`` set), damped Newton on the Hessian else."""
    from .refine import refine_one

    def loss(params: Params) -> jax.Array:
        return spec.objective(params, x, y)

    residuals = None
    if spec.apply is not None:

        def residuals(params: Params) -> jax.Array:
            return spec.apply(params, x) - y

    return jax.vmap(lambda params: refine_one(loss, params, steps, residuals))(batched_params)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _lanczos_batch(
    spec: _Spec,
    top_k: int,
    batched_params: Params,
    index: jax.Array,
    key: jax.Array,
    x: Any,
    y: Any,
    rtol: Any,
    atol: Any,
) -> Any:
    return jax.vmap(
        lambda params, i: lanczos_curvature_one(
            spec.objective, params, x, y, jax.random.fold_in(key, i), top_k, None, 66, rtol, atol
        )
    )(batched_params, index)


@functools.partial(jax.jit, static_argnums=0)
def _hessian_batch(spec: _Spec, batched_params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    hessian_fn = spec.hessian_fn()
    return jax.vmap(lambda params: hessian_fn(params, x, y))(batched_params)


HESSIAN_ATTRS = (
    "method",
    "zero_rtol",
    "zero_atol",
    "tolerance_rule",
    "dtype",
    "n_params",
    "param_names",
    "label_source",
    "stationary_kind_codes",
    "stationary_rule",
    "seconds",
    "seed",
    "top_k",
    "notes",
    "problem",
    "symmetry_prediction",
    "prediction_reasons",
    "grad_tol",
    "refine_steps",
    "exact_zero_rtol",
    "training_state",
)
TOLERANCE_RULE = "zero if |lambda| <= zero_rtol * max|lambda| + zero_atol; saddle if any lambda < -tolerance"


@dataclass
class CurvatureResult:
    """Curvature of a run's final networks: what ``landscape hessian`` stores in ``/hessian``.

    Attributes:
      method: ``"dense"`` (exact Hessians, ``eigh``) or ``"lanczos"`` (matrix-free).
      networks: per-network arrays, leading axis ``n_inits`` (every network of the run; those not
        analysed hold NaN, ``-1`` or False): ``analysed`` bool (finished, not diverged, finite
        parameters), ``max_eigenvalue``, ``min_eigenvalue``, ``trace``, ``zero_tolerance``,
        ``index`` int32, ``is_saddle`` bool, ``stationary_kind`` int8 (codes
        :data:`landscape.saddles.KIND_NAMES`, ``-1`` not analysed); dense: ``eigenvalues``
        ``(n_inits, n_params)`` ascending, ``condition_number``, ``n_near_zero``, ``n_positive``, and
        where the symmetry prediction applies ``n_live_units``, ``n_dead_units``, ``n_linear_units``,
        ``n_zero_dead``, ``n_zero_linear``, ``n_zero_predicted`` (``-1``: not exact, see
        ``prediction_code``), ``prediction_code`` (keys of
        :data:`landscape.symmetries.PREDICTION_REASONS`), ``n_zero_functional`` (``P - rank`` of
        the output Jacobian), ``n_zero_symmetries``, ``n_zero_layerwise``, ``n_zero_explained``,
        ``n_zero_unexplained`` (:func:`landscape.symmetries.explained_flat_directions`),
        ``symmetry_residual``, ``symmetry_outside_null``, ``n_zero_exact`` (eigenvalues within
        ``EXACT_ZERO_RTOL`` of the top: float64 zeros), ``kink_margin`` (piecewise-linear
        activations: :func:`landscape.refine.kink_margin`); with ``refine_steps``: ``refined_grad_norm``,
        ``refined_loss``, ``refined_grad_norm_before``, ``refined_accepted``; lanczos:
        ``top_eigenvalues`` ``(n_inits, k)`` descending, ``bottom_eigenvalues`` ascending.
      labels: ``(n_inits,)`` type name of every network (``"all"`` without a ``types`` group).
      label_source: ``"types"`` or ``"all"``.
      summary: per-type rows (see :func:`type_summary`): ``type``, ``count``, ``n_finite``,
        ``n_saddle``, ``n_not_stationary``, ``<field>_{q25,median,q75}``, dense: ``median_near_zero``,
        ``n_predicted``, ``median_zero_predicted``, ``zero_match``.
      representatives: ``type`` (T,), ``index`` (T,) (networks of the run), ``eigenvalues`` (T, P),
        ``eigenvectors`` (T, P, P) columns, ``slq_nodes``/``slq_weights`` (T, n_probes, n_steps).
      density: ``grid`` (G,), ``slq`` (T, G), ``exact`` (T, G), ``sigma``: SLQ against exact densities.
      notes: one line each: what was skipped or could not be computed, and why.
      attrs: ``n_params``, ``param_names``, ``zero_rtol``, ``zero_atol``, ``seed``, ``top_k``,
        ``seconds``, ``grad_tol``, ``problem`` (one line), ``symmetry_prediction`` (``"exact where
        stated"``, ``"skipped: <reason>"`` or ``"not computed (lanczos)"``), ... (see :data:`HESSIAN_ATTRS`).
    """

    method: str
    networks: dict[str, np.ndarray]
    labels: np.ndarray
    label_source: str
    summary: dict[str, np.ndarray]
    representatives: dict[str, np.ndarray]
    density: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def analysed(self) -> np.ndarray:
        """``(n_inits,)`` bool: the networks with a spectrum (all False in a group without one)."""
        if "analysed" in self.networks:
            return np.asarray(self.networks["analysed"], bool)
        return np.zeros(len(self.labels), bool)

    @property
    def n_params(self) -> int:
        return int(self.attrs.get("n_params", 0))

    def spectra(self) -> tuple[np.ndarray, str]:
        """``(n_inits, m)`` eigenvalues to draw (dense: all; lanczos: bottom-k then top-k) and a caption note."""
        if self.method == "dense":
            return self.networks["eigenvalues"], ""
        top, bottom = self.networks["top_eigenvalues"], self.networks["bottom_eigenvalues"]
        k = top.shape[1]
        overlap = max(0, 2 * k - self.n_params)
        return np.concatenate(
            [bottom, top[:, ::-1][:, overlap:]], axis=1
        ), f"Lanczos: bottom {k} and top {k} of {self.n_params}"

    def write(self, path: str | Path) -> None:
        """Store as the run file's ``/hessian`` group (atomically, stamped with the training state)."""
        from .storage import write_group

        attrs = {**{k: v for k, v in self.attrs.items() if k != "training_state"}, "method": self.method}
        attrs.update({"label_source": self.label_source, "notes": list(self.notes)})
        write_group(
            path,
            "hessian",
            {
                **self.networks,
                "label": np.asarray(self.labels).astype(str),
                "representatives": self.representatives,
                "density": self.density,
                "summary": self.summary,
            },
            attrs,
        )

    @classmethod
    def read(cls, run: Run) -> CurvatureResult | None:
        """The stored ``/hessian`` group of an open run, or None when there is none. Groups written
        before ``analysed``/``label``/``notes`` existed are read too (analysed = finite spectrum)."""
        if not run.has("hessian"):
            return None
        group = run.group("hessian")
        attrs = {key: group.pop(key) for key in HESSIAN_ATTRS if key in group}
        for key in ("param_names", "notes", "stationary_kind_codes", "prediction_reasons"):
            if isinstance(attrs.get(key), str):
                try:
                    attrs[key] = json.loads(attrs[key])
                except ValueError:
                    pass
        summary = group.pop("summary", {})
        representatives = group.pop("representatives", {})
        density = group.pop("density", {})
        labels = group.pop("label", None)
        label_source = str(attrs.pop("label_source", "all"))
        if labels is None:
            labels = np.full(run.n_inits, "all")
            if label_source == "types" and run.has("types"):
                from .solutions import type_labels

                labels = type_labels(run)
        networks = {k: np.asarray(v) for k, v in group.items() if not isinstance(v, dict)}
        networks = {k: v for k, v in networks.items() if v.ndim >= 1 and v.shape[0] == run.n_inits}
        if "analysed" not in networks and "max_eigenvalue" in networks:
            networks["analysed"] = np.isfinite(networks["max_eigenvalue"])
        notes = [str(n) for n in attrs.pop("notes", [])]
        return cls(
            str(attrs.pop("method", "dense")),
            networks,
            np.asarray(labels).astype(str),
            label_source,
            summary,
            representatives,
            density,
            notes,
            attrs,
        )


def _labels(run: Run) -> tuple[np.ndarray, str, dict[str, int]]:
    """Type names per network, where they came from, and the types group's representatives."""
    if not run.has("types"):
        return np.full(run.n_inits, "all"), "all", {}
    from .solutions import type_labels, type_representatives

    try:
        labels = np.asarray(type_labels(run)).astype(str)
    except (KeyError, ValueError):
        return np.full(run.n_inits, "all"), "all", {}
    try:
        representatives = {str(k): int(v) for k, v in type_representatives(run).items()}
    except (KeyError, ValueError):
        representatives = {}
    return labels, "types", representatives


def _fill(values: dict[str, np.ndarray], rows: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Per-network arrays of the analysed ``rows`` spread over all ``n`` networks (NaN / -1 / False elsewhere)."""
    out = {}
    for key, value in values.items():
        value = np.asarray(value)
        blank = np.nan if value.dtype.kind == "f" else (False if value.dtype.kind == "b" else -1)
        full = np.full((n, *value.shape[1:]), blank, dtype=value.dtype)
        full[rows] = value
        out[key] = full
    return out


def _prediction_reason(problem: Problem) -> str | None:
    """None when the symmetry prediction applies (rescaling symmetry of a built-in MLP whose loss
    sees the network only through its outputs on the data), else why not."""
    from .problem import rescaling_reason

    reason = rescaling_reason(problem)
    if reason is None and problem.loss_fn is not None:
        reason = f"the run's loss is its own ({problem.sources['loss']}): flat directions of the function need not be flat for it"
    if reason is None and not problem.has_data:
        reason = "the run has no dataset"
    return reason


def analyse_run(
    run: Run,
    *,
    problem: Problem | None = None,
    method: str = "dense",
    finished_only: bool = False,
    top_k: int = 5,
    zero_rtol: float = ZERO_RTOL,
    zero_atol: float = ZERO_ATOL,
    chunk_size: int = 1024,
    seed: int = 0,
    slq_probes: int = 16,
    slq_steps: int = 64,
    density_points: int = 400,
    refine_steps: int = 0,
) -> CurvatureResult:
    """Hessian spectra of a run's final networks, per-type summary, representatives and SLQ densities.

    The Hessian is that of ``problem.loss`` (any model, any loss, with or without a dataset) with
    respect to the flattened parameters, in float64: ``jax.hessian`` batched with ``vmap`` and
    chunked (:func:`landscape.batching.chunked_map`), the closed form :func:`mlp_mse_hessian` where
    :func:`landscape.problem.unit_reason` allows (exact either way), or matrix-free Lanczos
    (``method="lanczos"``: top/bottom ``top_k``, Hutch++ trace). Compiled functions are built once
    per configuration: a second call on the same run compiles nothing (with ``problem`` given, a
    second call with the same problem object).

    Networks are skipped, and counted in ``notes``, when not finished (``finished_only``), diverged,
    or with non-finite parameters. Degenerate runs (nothing to analyse, one network, identical
    networks) give a result with one-line notes, never an exception.

    Args:
      run: an open :class:`~landscape.storage.Run`.
      problem: the model, loss and data (default :func:`landscape.problem.problem_of` of ``run``).
      finished_only: analyse the finished networks of an incomplete run (else it is refused).
      top_k, zero_rtol, zero_atol, chunk_size, seed: as ``landscape hessian``'s flags.
      slq_probes, slq_steps, density_points: the representatives' SLQ densities.
      refine_steps: dense only: first move each network onto the critical point it is near with this many
        float64 damped Newton steps (:mod:`landscape.refine`); the Hessians are then taken there, the
        networks' ``grad_norm`` and ``loss`` are the refined ones, and a network is stationary when
        ``grad_norm < landscape.refine.REFINE_TOL``. Without it (0), the stored training end points and
        ``train.grad_tol``.
    Raises:
      IncompleteRun: the run is incomplete and ``finished_only`` is off (one line).
      ConfigError: a bad option.
    """
    from .config import ConfigError
    from .problem import problem_of
    from .saddles import KIND_NAMES, stationary_kind
    from .storage import finished_networks, partial_note
    from .vocabulary import Status, ordered_type_names, representative_index

    if method not in ("dense", "lanczos"):
        raise ConfigError(f"method: expected 'dense' or 'lanczos', got {method!r}")
    if top_k < 1:
        raise ConfigError("--top-k must be at least 1")
    if chunk_size < 1:
        raise ConfigError("--chunk-size must be at least 1")
    if refine_steps < 0 or (refine_steps and method != "dense"):
        raise ConfigError("--refine: a number of steps >= 0, with the dense method only")
    finished = finished_networks(run, finished_only)
    notes = [note for note in [partial_note(run, finished)] if note]
    given = problem
    problem = problem if problem is not None else problem_of(run)
    n = run.n_inits
    status, final_loss = run.status, run.final_loss
    grad_norm, grad_tol = run.grad_norm, run.study.train.grad_tol
    final_params = run.final_params
    finite = np.ones(n, bool)
    for leaf in jax.tree.leaves(final_params):
        finite &= np.all(np.isfinite(np.asarray(leaf).reshape(n, -1)), axis=1)
    diverged = finished & (status == int(Status.DIVERGED))
    analysed = finished & ~diverged & finite
    if diverged.any():
        notes.append(
            f"{int(diverged.sum())} diverged networks skipped (their last finite parameters are not a final point)"
        )
    if np.any(finished & ~diverged & ~finite):
        notes.append(f"{int(np.sum(finished & ~diverged & ~finite))} networks with non-finite parameters skipped")
    labels, label_source, stored_representatives = _labels(run)
    rows = np.flatnonzero(analysed)

    predict_reason = _prediction_reason(problem) if method == "dense" else None
    if method == "dense" and predict_reason:
        notes.append(f"symmetry prediction skipped: {predict_reason}")
    spec = _spec(problem, method == "dense" and predict_reason is None, rebuilt=given is None)
    one = take(final_params, np.zeros(1, int))
    one = jax.tree.map(lambda leaf: leaf[0], one)
    n_params = int(sum(np.size(leaf) for leaf in jax.tree.leaves(one)))
    x = np.asarray(problem.x, np.float64)
    y = np.asarray(problem.y, np.float64)
    key = jax.random.PRNGKey(seed)
    start = time.perf_counter()
    with jax.enable_x64(True):  # Hessians in float64 whatever the training dtype: clean null spaces
        params64 = jax.tree.map(lambda leaf: np.asarray(leaf, np.float64), take(final_params, rows))
        refined = None
        if refine_steps and rows.size:
            params64, refined = chunked_map(
                lambda chunk: _refine_batch(spec, int(refine_steps), chunk, x, y), params64, min(chunk_size, 256)
            )
        if rows.size == 0:
            values: dict[str, np.ndarray] = {}
        elif method == "dense":
            values = chunked_map(
                lambda chunk: _dense_batch(spec, chunk, x, y, zero_rtol, zero_atol), params64, chunk_size
            )
        else:
            values = chunked_map(
                lambda chunk: _lanczos_batch(spec, top_k, chunk[0], chunk[1], key, x, y, zero_rtol, zero_atol),
                (params64, rows),
                min(chunk_size, 256),
            )
        if values and spec.apply is not None:  # P - rank J and what explains it, then the prediction checked
            found = explained_flat_directions(spec.apply, params64, x, spec.activation, spec.leaky_slope)
            values.update(found)
            values["prediction_code"], values["n_zero_predicted"] = reconcile_prediction(
                values["prediction_code"],
                values["n_zero_predicted"],
                found["n_zero_functional"],
                found["n_zero_explained"],
            )
        seconds = time.perf_counter() - start
        networks = _fill(values, rows, n) if values else _empty_networks(method, n, n_params, top_k)
        networks["analysed"] = analysed
        if refined is not None:
            from .refine import REFINE_TOL

            for name in ("grad_norm", "loss", "grad_norm_before", "accepted"):
                networks[f"refined_{name}"] = _fill({name: refined[name]}, rows, n)[name]
            grad_norm, grad_tol = networks["refined_grad_norm"], REFINE_TOL
        kind = np.asarray(stationary_kind(np.asarray(grad_norm, float), networks["index"], grad_tol)).astype(np.int8)
        networks["stationary_kind"] = np.where(analysed, kind, -1).astype(np.int8)

        # one representative per type with analysed members: the types group's, else the vocabulary's rule
        type_names, rep_index = [], []
        for name in ordered_type_names(labels[rows]) if rows.size else []:
            members = rows[labels[rows] == name]
            chosen = stored_representatives.get(name, -1)
            if chosen not in set(members.tolist()):
                chosen = representative_index(members, final_loss)
            type_names.append(name)
            rep_index.append(int(chosen))
        rep_index_array = np.asarray(rep_index, np.int64)
        representatives, density = _representatives(
            spec,
            take(params64, np.searchsorted(rows, rep_index_array)),
            x,
            y,
            key,
            slq_probes,
            slq_steps,
            density_points,
            n_params,
        )
    representatives = {"type": np.asarray(type_names, dtype=str), "index": rep_index_array, **representatives}

    if rows.size == 0:
        notes.append(
            f"no network could be analysed (of {n}: {int(np.sum(~finished))} not finished, "
            f"{int(diverged.sum())} diverged, {int(np.sum(finished & ~diverged & ~finite))} non-finite)"
        )
    elif rows.size == 1:
        notes.append("one network analysed: medians and quartiles are its own values")
    elif _all_identical(params64):
        notes.append(f"all {rows.size} analysed networks have identical parameters: one spectrum, repeated")
    if method == "dense" and predict_reason is None and rows.size:
        notes.extend(describe_prediction(networks["prediction_code"][rows]))
    if "kink_margin" in networks and rows.size:
        on_kink = int(np.sum(networks["kink_margin"][rows] < KINK_RTOL))
        if on_kink:
            notes.append(
                f"{on_kink} of {rows.size} networks have a data point on a unit's kink (|pre-activation| < "
                f"{KINK_RTOL:g} of its layer's largest): the loss is not twice differentiable there, the Hessian is "
                "one side's, and such a network is not a smooth critical point (deep ReLU networks often stop there)"
            )
    if refined is not None and rows.size:
        notes.append(
            f"refined with {int(refine_steps)} float64 Newton steps before the Hessians: {int(np.sum(kind[rows] != 2))} "
            f"of {rows.size} reached |grad| < {grad_tol:g} (median |grad| {np.median(refined['grad_norm_before']):.2g} "
            f"-> {np.median(refined['grad_norm']):.2g}; median loss {np.median(refined['loss_before']):.3g} -> "
            f"{np.median(refined['loss']):.3g})"
        )

    zeros = "n_zero_exact" if refined is not None and method == "dense" else "n_near_zero"
    summary = type_summary(networks, labels, networks["stationary_kind"], zeros)
    attrs = {
        "zero_rtol": float(zero_rtol),
        "zero_atol": float(zero_atol),
        "tolerance_rule": TOLERANCE_RULE,
        "dtype": "float64",
        "n_params": n_params,
        "param_names": parameter_names(one),
        "stationary_kind_codes": list(KIND_NAMES),
        "stationary_rule": (
            f"stationary if the refined |grad| < {grad_tol:g} after {int(refine_steps)} float64 Newton steps"
            if refined is not None
            else f"stationary if train/grad_norm < train.grad_tol ({grad_tol:g})"
        )
        + "; then saddle if index > 0, else minimum",
        "refine_steps": int(refine_steps),
        "exact_zero_rtol": EXACT_ZERO_RTOL,
        "seconds": float(seconds),
        "seed": int(seed),
        "top_k": int(top_k) if method == "lanczos" else n_params,
        "grad_tol": float(grad_tol),
        "problem": problem.describe(),
        "symmetry_prediction": (
            "not computed (lanczos)"
            if method == "lanczos"
            else f"skipped: {predict_reason}"
            if predict_reason
            else "exact where stated"
        ),
        "prediction_reasons": {str(k): v for k, v in PREDICTION_REASONS.items()},
    }
    return CurvatureResult(method, networks, labels, label_source, summary, representatives, density, notes, attrs)


def _empty_networks(method: str, n: int, n_params: int, top_k: int) -> dict[str, np.ndarray]:
    """The per-network arrays when no network could be analysed (all NaN / -1 / False)."""
    nan = np.full(n, np.nan)
    out = {
        "max_eigenvalue": nan,
        "min_eigenvalue": nan.copy(),
        "trace": nan.copy(),
        "zero_tolerance": nan.copy(),
        "index": np.full(n, -1, np.int32),
        "is_saddle": np.zeros(n, bool),
    }
    if method == "dense":
        out.update(
            eigenvalues=np.full((n, n_params), np.nan),
            condition_number=nan.copy(),
            n_near_zero=np.full(n, -1, np.int32),
            n_positive=np.full(n, -1, np.int32),
        )
    else:
        k = min(top_k, n_params)
        out.update(top_eigenvalues=np.full((n, k), np.nan), bottom_eigenvalues=np.full((n, k), np.nan))
    return out


def _all_identical(batched: Params) -> bool:
    return all(np.all(np.asarray(leaf) == np.asarray(leaf)[:1]) for leaf in jax.tree.leaves(batched))


def _representatives(
    spec: _Spec,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    key: jax.Array,
    n_probes: int,
    n_steps: int,
    density_points: int,
    n_params: int,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Dense eigenpairs and SLQ densities (Ghorbani et al. 2019) of the representatives ``params`` (T, ...).

    H v comes from the dense Hessians just computed (the same as autodiff HVPs without compiling
    them: seconds, more on a GPU). With no representative, empty arrays.
    """
    n_rep = leading_size(params)
    if n_rep == 0:
        steps = min(n_steps, n_params)
        empty = {
            "eigenvalues": np.zeros((0, n_params)),
            "eigenvectors": np.zeros((0, n_params, n_params)),
            "slq_nodes": np.zeros((0, n_probes, steps)),
            "slq_weights": np.zeros((0, n_probes, steps)),
        }
        grid = np.linspace(-1.0, 1.0, density_points)
        return empty, {
            "grid": grid,
            "slq": np.zeros((0, density_points)),
            "exact": np.zeros((0, density_points)),
            "sigma": np.float64(0.01),
        }
    hessians = np.asarray(_hessian_batch(spec, jax.tree.map(jnp.asarray, params), jnp.asarray(x), jnp.asarray(y)))
    values, vectors = np.linalg.eigh(hessians)
    nodes, weights = slq_spectra_of_hessians(hessians, key, n_probes=n_probes, n_steps=min(n_steps, n_params))
    finite = values[np.all(np.isfinite(values), axis=1)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
    pad = 0.05 * (high - low or 1.0)
    grid = np.linspace(low - pad, high + pad, density_points)
    sigma = (high - low or 1.0) / 200
    slq, exact = map(np.asarray, density_curves(nodes, weights, values, grid, sigma))
    return (
        {"eigenvalues": values, "eigenvectors": vectors, "slq_nodes": nodes, "slq_weights": weights},
        {"grid": grid, "slq": slq, "exact": exact, "sigma": np.float64(sigma)},
    )


def format_curvature_table(result: CurvatureResult) -> str:
    """The text ``landscape hessian`` prints: the per-type table and a few lines on counts, the
    tolerance, the symmetry prediction and stationarity (notes are printed separately)."""
    from .saddles import KIND_NAMES

    networks, analysed = result.networks, result.analysed
    if "type" not in result.summary or "max_eigenvalue_median" not in result.summary and len(result.summary["type"]):
        return f"Hessian curvature ({result.method}): no per-type summary stored"
    lines = [format_type_summary(result.summary, result.method)]
    rtol, atol = result.attrs.get("zero_rtol", ZERO_RTOL), result.attrs.get("zero_atol", ZERO_ATOL)
    seconds = result.attrs.get("seconds")
    timing = f" in {float(seconds):.2f} s (compile included)" if seconds is not None else ""
    lines.append(
        f"  {result.method} spectra of {int(analysed.sum())} of {analysed.size} networks ({result.n_params} parameters "
        f"each){timing}; zero tolerance {float(rtol):g} * max|lambda| + {float(atol):g}"
    )
    predicted = networks.get("n_zero_predicted")
    if result.method == "dense" and predicted is not None and analysed.any():
        exact = analysed & (predicted >= 0)
        stationary = exact & (networks.get("stationary_kind", np.full(predicted.shape, 2)) != 2)
        refined = int(result.attrs.get("refine_steps", 0)) > 0 and "n_zero_exact" in networks
        observed = networks["n_zero_exact"] if refined else networks["n_near_zero"]
        match = exact & (observed == predicted)
        what = f"float64 zeros (|lambda| <= {EXACT_ZERO_RTOL:g} max|lambda|)" if refined else "near-zero eigenvalues"
        lines.append(
            f"  {what} equal the symmetry prediction for {int(match.sum())} of the {int(exact.sum())} networks where "
            f"it is exact ({int(np.sum(match & stationary))} of {int(stationary.sum())} {'refined ' * refined}"
            "stationary ones): rescaling per live unit, incoming+bias+outgoing per dead unit, affine redundancy of "
            "units linear on the data (where stated: unit mixing and one-layer data degeneracies)"
        )
        if "n_zero_functional" in networks and exact.any() and not refined:
            above = exact & (networks["n_near_zero"] > networks["n_zero_functional"])
            if above.any():
                lines.append(
                    f"  {int(above.sum())} networks have more eigenvalues within the tolerance than function-preserving "
                    f"directions: small curved directions counted as flat (lower --zero-rtol to separate them)"
                )
    kind = networks.get("stationary_kind")
    if kind is not None and analysed.any():
        counts = {name: int(np.sum(kind == code)) for code, name in enumerate(KIND_NAMES)}
        saddle = np.asarray(networks["is_saddle"], bool)
        grad_tol = result.attrs.get("grad_tol")
        tol = f" = {float(grad_tol):g}" if grad_tol is not None else ""
        rule = (
            f"refined |grad| < {float(grad_tol):g}"
            if int(result.attrs.get("refine_steps", 0))
            else f"|grad| < train.grad_tol{tol}"
        )
        lines.append(
            f"  stationary points ({rule}): {counts['minimum']} minima, {counts['saddle']} saddles; "
            f"{counts['not stationary']} not stationary (stopped elsewhere; an eigenvalue below -tolerance at "
            f"{int(np.sum(saddle & (kind == 2)))} of them does not make them saddles)"
        )
    return "\n".join(lines)
