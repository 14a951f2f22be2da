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

**Flat directions predicted by symmetry** (ReLU MLPs; leaky ReLU: rescaling only). Each hidden
unit that is live on the data has one flat direction, positive rescaling
``(w_in, b, w_out) -> (a w_in, a b, w_out / a)``, with tangent ``(w_in, b, -w_out)``. A unit
dead on all data (pre-activation <= 0 at every point) leaves the loss unchanged under small
moves of its incoming weights and bias and of its outgoing weights: each of those parameters
is a flat direction (``fan_in + 1 + fan_out``; 4 for a 2-3-1 unit). A unit active on every
point acts linearly: in a one-hidden-layer MLP its bias trades against the output bias, and
``L`` linear units together write one affine map with too many parameters, which adds
``L (d + 1) - d`` flat directions (see :func:`symmetry_directions`). Merged units (same
hyperplane) would add one more each and are not predicted. Activations without positive
homogeneity (tanh, ...) get no prediction (``-1``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .lanczos import extreme_eigenpairs, hessian_vector_product, hutchpp_trace, lanczos, slq_nodes_weights, tridiagonal

Params = Any
Loss = Callable[[Params, jax.Array, jax.Array], jax.Array]  # (params, x, y) -> scalar

ZERO_RTOL = 1e-4
ZERO_ATOL = 1e-7
HOMOGENEOUS = ("relu", "leaky_relu")


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
        and mlp.activation in HOMOGENEOUS
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
    params: Params, x: jax.Array, activation: str = "relu", leaky_slope: float = 0.01
) -> tuple[jax.Array, jax.Array, dict[str, jax.Array]]:
    """Flat directions predicted by the symmetries of one MLP, as explicit vectors.

    For each hidden unit: one candidate column for rescaling (kept if the unit is live, or for
    every unit under leaky ReLU); one unit vector per parameter of the unit (kept if the unit is
    dead under ReLU); and, in one-hidden-layer MLPs with both biases, the bias trade
    ``e_{b_j} - s_j a_j e_c`` (kept if the unit is linear on the data, ``s_j`` its slope there).
    Shapes are static, so this ``vmap``-s over networks.

    The predicted count adds, for one-hidden-layer MLPs with ``L >= 1`` linear units (active on
    every point; under leaky ReLU also negative on every point), the flat directions of an affine
    map written with too many parameters: ``L (d + 1) - d`` with an output bias, ``(L - 1)(d + 1)``
    without, beyond their ``L`` rescalings (``d`` = input dimension; for ``L = 1`` with an output
    bias that is the bias trade). Units are live/dead/linear on the run's data.

    Args:
      params: one MLP's parameter list; x: ``(n_points, in_dim)``.
      activation: the MLP's activation name (prediction only for ``relu``/``leaky_relu``).
      leaky_slope: the negative-side slope of ``leaky_relu``.
    Returns:
      ``directions`` (n_params, n_candidates), ``keep`` (n_candidates,) bool, and counts
      ``n_live_units``, ``n_dead_units``, ``n_linear_units``, ``n_zero_linear`` (the affine
      term above), ``n_zero_predicted`` (-1 when the activation has no such symmetry).
    """
    from .models import activation_function, hidden_preactivations

    flat, _ = ravel_pytree(params)
    n_params = flat.shape[0]
    preacts = hidden_preactivations(
        params, x, activation_function(activation if activation in HOMOGENEOUS else "relu", leaky_slope)
    )
    one_hidden = len(params) == 2
    bias_trade = one_hidden and "b" in params[0] and "b" in params[-1] and np.shape(params[-1]["w"])[1] == 1
    columns, keep = [], []
    dead_cover = jnp.zeros((n_params,), bool)
    n_live = n_dead = n_linear = jnp.zeros((), jnp.int32)
    for layer, unit, member, sign in _unit_parameter_masks(params):
        z = preacts[layer][:, unit]
        dead = jnp.all(z <= 0) if activation == "relu" else jnp.zeros((), bool)
        all_negative = jnp.all(z < 0) if activation == "leaky_relu" else jnp.zeros((), bool)
        linear = jnp.all(z > 0) | all_negative
        n_dead += dead
        n_live += ~dead
        n_linear += linear
        columns.append(flat * sign)
        keep.append(~dead)
        for position in np.flatnonzero(member):
            columns.append(jnp.zeros((n_params,), flat.dtype).at[position].set(1.0))
            keep.append(dead)
        dead_cover = dead_cover | (dead & jnp.asarray(member))
        if bias_trade:
            slope = jnp.where(all_negative, leaky_slope, 1.0)
            outgoing = params[1]["w"][unit, 0]
            column = jnp.zeros((n_params,), flat.dtype).at[_flat_position(params, 0, "b", (unit,))].set(1.0)
            columns.append(column.at[_flat_position(params, 1, "b", (0,))].set(-slope * outgoing))
            keep.append(linear)
    in_dim = np.shape(params[0]["w"])[0]
    if one_hidden:
        with_output_bias = "b" in params[-1]
        n_zero_linear = jnp.where(
            n_linear > 0, n_linear * (in_dim + 1) - in_dim if with_output_bias else (n_linear - 1) * (in_dim + 1), 0
        )
    else:
        n_zero_linear = jnp.zeros((), jnp.int32)
    predicted = n_live + jnp.sum(dead_cover).astype(jnp.int32) + n_zero_linear
    if activation not in HOMOGENEOUS:
        predicted = jnp.full((), -1, jnp.int32)
        keep = [jnp.zeros((), bool) for _ in keep]
    counts = {
        "n_live_units": n_live,
        "n_dead_units": n_dead,
        "n_linear_units": n_linear,
        "n_zero_linear": n_zero_linear.astype(jnp.int32),
        "n_zero_predicted": predicted,
    }
    return jnp.stack(columns, axis=1), jnp.stack(keep), counts


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
      :func:`symmetry_directions` plus :func:`symmetry_check`.
    """
    hessian = hessian_fn(params, x, y)
    eigenvalues, eigenvectors = jnp.linalg.eigh(hessian)
    tolerance = zero_tolerance(eigenvalues, zero_rtol, zero_atol)
    out = {"eigenvalues": eigenvalues, "zero_tolerance": tolerance, **spectrum_statistics(eigenvalues, tolerance)}
    if activation is not None:
        directions, keep, counts = symmetry_directions(params, x, activation, leaky_slope)
        out.update(counts)
        out.update(symmetry_check(hessian, eigenvalues, eigenvectors, tolerance, directions, keep))
    if with_vectors:
        out["eigenvectors"] = eigenvectors
    return out


# ---------------------------------------------------------------------------------------------
# Batches of networks: vmap over chunks of fixed size (one compile), NumPy out.


def _take(tree: Params, index: np.ndarray) -> Params:
    return jax.tree.map(lambda leaf: np.asarray(leaf)[index], tree)


def n_networks(batched_params: Params) -> int:
    return int(jax.tree.leaves(batched_params)[0].shape[0])


def map_chunks(
    function: Callable[[Params], dict[str, jax.Array]], batched_params: Params, chunk_size: int
) -> dict[str, np.ndarray]:
    """Apply a jitted batched ``function`` to fixed-size chunks (the last padded) and concatenate."""
    n = n_networks(batched_params)
    chunk_size = max(1, min(chunk_size, n))
    pieces: list[dict[str, np.ndarray]] = []
    for start in range(0, n, chunk_size):
        index = np.arange(start, start + chunk_size).clip(max=n - 1)
        result = jax.device_get(function(_take(batched_params, index)))
        pieces.append({k: np.asarray(v)[: min(chunk_size, n - start)] for k, v in result.items()})
    return {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}


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
    dtype = hessians.dtype
    # the probe keys of slq_nodes_weights: split(fold_in(key, i), n_probes), then (start, restart) per probe
    probe_keys = jax.vmap(lambda i: jax.random.split(jax.random.fold_in(key, i), n_probes))(
        jnp.arange(n)
    )  # (n, n_probes, 2)
    flat_keys = probe_keys.reshape(
        n * n_probes, *probe_keys.shape[2:]
    )  # one flat batch: nested vmaps compile far slower
    if n_steps == dim:
        starts = np.asarray(
            jax.jit(jax.vmap(lambda k: jax.random.normal(jax.random.split(k)[0], (dim,), dtype)))(flat_keys)
        )
        starts = (starts / np.linalg.norm(starts, axis=-1, keepdims=True)).reshape(n, n_probes, dim)
        values, vectors = np.linalg.eigh(np.asarray(hessians))  # (n, P), (n, P, P) columns
        weights = np.einsum("npd,nde->npe", starts, vectors) ** 2
        return np.broadcast_to(values[:, None, :], weights.shape).copy(), weights

    def one(hessian: jax.Array, probe_key: jax.Array) -> tuple[jax.Array, jax.Array]:
        start_key, restart_key = jax.random.split(probe_key)
        result = lanczos(
            lambda vector: hessian @ vector, jax.random.normal(start_key, (dim,), dtype), n_steps, restart_key
        )
        values, vectors = jnp.linalg.eigh(tridiagonal(result))
        return values, vectors[0] ** 2

    nodes, weights = jax.jit(jax.vmap(one))(jnp.repeat(hessians, n_probes, axis=0), flat_keys)
    return np.asarray(nodes).reshape(n, n_probes, n_steps), np.asarray(weights).reshape(n, n_probes, n_steps)


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
    curvature: dict[str, np.ndarray], labels: np.ndarray, kind: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Curvature statistics per solution type.

    Args:
      curvature: per-network arrays from :func:`dense_curvature` or :func:`lanczos_curvature`.
      labels: ``(n_nets,)`` type names.
      kind: optional ``(n_nets,)`` codes of :func:`landscape.saddles.stationary_kind`; then
        ``n_saddle`` counts stationary saddles only and ``n_not_stationary`` the networks whose
        gradient is above the tolerance (a negative eigenvalue there does not make a saddle).
    Returns:
      ``type`` (n_types,) names in order of first appearance by count, ``count``, ``n_saddle``,
      ``n_finite``, for each of :data:`SUMMARY_FIELDS` present: ``<field>_q25``, ``_median``,
      ``_q75`` (over networks with finite values), and, with the dense path,
      ``median_near_zero``, ``median_zero_predicted`` and ``zero_match`` (share of networks whose
      near-zero count equals the symmetry prediction).
    """
    labels = np.asarray(labels).astype(str)
    names, counts = np.unique(labels, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    names = names[order]
    table: dict[str, list[Any]] = {"type": [], "count": [], "n_saddle": [], "n_finite": []}
    for name in names:
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
        for field in SUMMARY_FIELDS:
            if field not in curvature:
                continue
            values = curvature[field][finite]
            values = values[np.isfinite(values)]
            q = np.quantile(values, [0.25, 0.5, 0.75]) if values.size else np.full(3, np.nan)
            for suffix, value in zip(("q25", "median", "q75"), q, strict=True):
                table.setdefault(f"{field}_{suffix}", []).append(float(value))
        if "n_near_zero" in curvature:
            near, predicted = (
                curvature["n_near_zero"][finite],
                curvature.get("n_zero_predicted", np.full(finite.sum(), -1)),
            )
            predicted = predicted[finite] if predicted.shape[0] == finite.shape[0] else predicted
            table.setdefault("median_near_zero", []).append(float(np.median(near)) if near.size else np.nan)
            table.setdefault("median_zero_predicted", []).append(float(np.median(predicted)) if near.size else np.nan)
            table.setdefault("zero_match", []).append(float(np.mean(near == predicted)) if near.size else np.nan)
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
        iqr = f"{summary['max_eigenvalue_median'][i]:.4g} [{summary['max_eigenvalue_q25'][i]:.3g}, {summary['max_eigenvalue_q75'][i]:.3g}]"
        row += f"{iqr:>32}{summary['trace_median'][i]:>14.4g}{summary['min_eigenvalue_median'][i]:>19.3g}"
        row += (
            f"{summary['condition_number_median'][i]:>13.3g}" if "condition_number_median" in summary else f"{'-':>13}"
        )
        if dense:
            row += f"{summary['median_near_zero'][i]:>8.0f}/{summary['median_zero_predicted'][i]:<7.0f}{summary['zero_match'][i]:>7.0%}"
        lines.append(row)
    return "\n".join(lines)


def default_representatives(labels: np.ndarray, final_loss: np.ndarray) -> dict[str, int]:
    """One network per type when no ``types`` group names them: the lowest final loss."""
    labels = np.asarray(labels).astype(str)
    loss = np.where(np.isfinite(final_loss), final_loss, np.inf)
    return {
        str(name): int(np.flatnonzero(labels == name)[np.argmin(loss[labels == name])]) for name in np.unique(labels)
    }
