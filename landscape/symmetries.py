"""Flat directions of the loss predicted by the symmetries of a built-in MLP, any depth.

For an MLP ``h_l = s(W_l^T h_{l-1} + b_l)`` (``l = 1..D`` hidden layers, a linear output layer
``D + 1``) with a positively homogeneous activation ``s`` (ReLU, leaky ReLU, linear), the function
on the data keeps its value along these families of parameter changes, so each family's dimension
is a zero eigenvalue of the Hessian at a minimum (and of the Gauss-Newton matrix anywhere). A
hidden unit is *dead* when its pre-activation is ``<= 0`` on every data point (ReLU only), *linear*
when the activation acts on it as one linear map on every point (pre-activation ``> 0`` on every
point; under leaky ReLU also ``< 0`` on every point; every unit of a linear activation), and
*live* when it is not dead.

1. **Rescaling** (Dinh et al. 2017): ``(w_in, b, w_out) -> (a w_in, a b, w_out / a)``, one
   direction per live hidden unit.
2. **Dead units**: a dead unit's incoming weights and bias, and its outgoing weights, are each
   flat. Counted as the union of those coordinates: a weight from a dead unit of layer ``l`` to
   a dead unit of layer ``l + 1`` is one coordinate, counted once. Units downstream of a dead
   unit simply lose that input (its outgoing weights are already counted).
3. **Linear blocks**: the ``L`` live linear units of layer ``l`` act together as one affine map
   from the ``d_in`` live inputs of layer ``l`` (the ``d`` inputs for ``l = 1``) to the ``d_out``
   live units of layer ``l + 1`` (the outputs for ``l = D``), written with too many parameters:
   ``(A (L, d_in), beta (L,), B (d_out, L), c (d_out,)) -> (B A, B beta + c)``. ``B A`` is a
   generic ``d_out x d_in`` matrix of rank ``r = min(L, d_in, d_out)``, a manifold of dimension
   ``r (d_in + d_out - r)``, so the fibre has dimension
   ``L d_in + L + L d_out - r (d_in + d_out - r)`` when layer ``l + 1`` has biases (then
   ``B beta + c`` is free); without them ``beta`` joins ``A`` as one more input column
   (``d_in -> d_in + 1``, no separate ``L``). Beyond the block's ``L`` rescalings that is
   ``n_zero_linear``. One hidden layer, scalar output, both biases: ``r = 1`` and this is the
   one-layer rule ``L (d + 1) - d`` (``(L - 1)(d + 1)`` without an output bias).

``n_zero_predicted`` = rescalings + dead coordinates + linear-block extras. The count assumes a
generic network: live units with distinct hyperplanes, data spanning the input space, no data
point on a kink. It is **not exact** (``-1``, with a :data:`PREDICTION_REASONS` code) when

* a whole hidden layer is dead on the data (the network is constant there, and every parameter
  below that layer is flat in a way these families do not list);
* two consecutive hidden layers both have live linear units (their affine maps compose, and
  the two blocks share parameters: the fibre of the chain is not the sum of the blocks');
* the data do not span the input space (affine rank ``< d``: every live first-layer unit gains
  flat directions orthogonal to the data);
* the activation has no rescaling symmetry (tanh, ...);
* the count differs from the *functional null dimension* ``P - rank J``, ``J (n_points * out_dim, P)`` the
  Jacobian of the network's outputs on the data (:func:`functional_null_dimension`): the exact number of
  directions that keep the function on the data to first order, which every symmetry above lies in. In
  deep ReLU networks it is often larger: a weight from unit ``i`` to unit ``k`` is flat when no data point
  has ``i`` on while ``k`` matters; a unit active on fewer than ``fan_in + 1`` affinely independent points
  cannot fix its incoming weights (in any depth); and Grigsby, Lindsey & Rolnick (2023, "Hidden symmetries
  of ReLU networks", ICML) show further function-preserving directions that unit states cannot see.
  :func:`reconcile_prediction` reports a count that ``P - rank J`` contradicts as not exact (``HIDDEN``),
  unless unit mixing and one-layer degeneracies (:func:`explained_flat_directions`) explain every
  direction (``LAYERWISE``).

Merged units (two live units with the same hyperplane) add more flat directions; they are not
predicted (the observed count is then larger).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .models import activation_function, activation_properties, hidden_preactivations
from .types import Params

EXACT = 0
DEAD_LAYER = 1
CHAINED_LINEAR = 2
INPUTS_DO_NOT_SPAN = 3
NOT_HOMOGENEOUS = 4
HIDDEN = 5
LAYERWISE = 6
PREDICTION_REASONS = {
    EXACT: "exact",
    DEAD_LAYER: "a whole hidden layer is dead on the data (the network is constant there)",
    CHAINED_LINEAR: "two consecutive hidden layers both have units linear on the data (chained affine maps)",
    INPUTS_DO_NOT_SPAN: "the data do not span the input space",
    NOT_HOMOGENEOUS: "the activation has no rescaling symmetry",
    HIDDEN: "the function on the data keeps its value along more directions than rescaling, dead units and "
    "linear units account for, and more than unit mixing and one-layer degeneracies explain (see "
    "n_zero_unexplained; hidden symmetries of deep ReLU networks: Grigsby et al. 2023)",
    LAYERWISE: "exact once unit mixing and one-layer data degeneracies are counted (explained_flat_directions)",
}
GRAM_RTOL = 1e-14  # eigenvalues of J^T J below this share of the largest are zero (singular values below 1e-7)


def unit_states(
    params: Params, x: jax.Array, activation: str, leaky_slope: float = 0.01
) -> tuple[list[jax.Array], list[jax.Array]]:
    """Per hidden layer, ``dead`` and ``linear`` ``(width,)`` bools of one MLP on the data ``x (n, d)``."""
    properties = activation_properties(activation)
    name = activation if properties.positively_homogeneous else "relu"
    preacts = hidden_preactivations(params, x, activation_function(name, leaky_slope))
    dead, linear = [], []
    for z in preacts:
        if activation == "linear":
            dead.append(jnp.zeros(z.shape[1], bool))
            linear.append(jnp.ones(z.shape[1], bool))
            continue
        is_dead = jnp.all(z <= 0, axis=0) if properties.zero_region else jnp.zeros(z.shape[1], bool)
        all_negative = jnp.zeros(z.shape[1], bool) if properties.zero_region else jnp.all(z < 0, axis=0)
        dead.append(is_dead)
        linear.append((jnp.all(z > 0, axis=0) | all_negative) & ~is_dead)
    return dead, linear


def _block_fibre(n_linear: jax.Array, d_in: jax.Array, d_out: jax.Array, bias: bool, next_bias: bool) -> jax.Array:
    """Dimension of the fibre of ``(A, beta, B, c) -> (B A, B beta + c)`` for ``n_linear`` units (see the module doc)."""
    if next_bias:
        rank = jnp.minimum(n_linear, jnp.minimum(d_in, d_out))
        return n_linear * d_in + n_linear * int(bias) + n_linear * d_out - rank * (d_in + d_out - rank)
    width = d_in + int(bias)
    rank = jnp.minimum(n_linear, jnp.minimum(width, d_out))
    return n_linear * width + n_linear * d_out - rank * (width + d_out - rank)


def predicted_flat_directions(
    params: Params,
    x: jax.Array,
    activation: str = "relu",
    leaky_slope: float = 0.01,
) -> dict[str, jax.Array]:
    """The number of flat directions the symmetries of one MLP predict (module doc), with its parts.

    Args:
      params: one built-in MLP's parameter list ``[{"w": (fan_in, fan_out), "b": (fan_out,)}, ...]``.
      x: ``(n_points, in_dim)`` the data the loss is taken over.
      activation, leaky_slope: the MLP's activation.
    Returns:
      int32 scalars: ``n_live_units``, ``n_dead_units``, ``n_linear_units`` (live and linear),
      ``n_zero_dead`` (dead coordinates), ``n_zero_linear`` (linear-block extras),
      ``n_zero_predicted`` (``-1`` when not exact) and ``prediction_code`` (a key of
      :data:`PREDICTION_REASONS`). Jittable; ``vmap`` it over networks.
    """
    int32 = jnp.int32
    if not activation_properties(activation).positively_homogeneous:
        minus = jnp.full((), -1, int32)
        return {
            "n_live_units": minus,
            "n_dead_units": minus,
            "n_linear_units": minus,
            "n_zero_dead": minus,
            "n_zero_linear": minus,
            "n_zero_predicted": minus,
            "prediction_code": jnp.full((), NOT_HOMOGENEOUS, int32),
        }
    dead, linear = unit_states(params, x, activation, leaky_slope)
    depth = len(params) - 1
    in_dim = params[0]["w"].shape[0]
    out_dim = params[-1]["w"].shape[1]
    live_counts = (
        [jnp.asarray(in_dim, int32)] + [jnp.sum(~d).astype(int32) for d in dead] + [jnp.asarray(out_dim, int32)]
    )
    widths = [in_dim] + [d.shape[0] for d in dead] + [out_dim]
    # dead coordinates: W_l entries with a dead end, dead units' biases
    n_zero_dead = jnp.zeros((), int32)
    for layer in range(1, depth + 2):  # weight matrix W_layer: widths[layer-1] x widths[layer]
        n_zero_dead += widths[layer - 1] * widths[layer] - live_counts[layer - 1] * live_counts[layer]
        if layer <= depth and "b" in params[layer - 1]:
            n_zero_dead += jnp.sum(dead[layer - 1]).astype(int32)
    n_live = sum(live_counts[1:-1])
    n_zero_linear = jnp.zeros((), int32)
    linear_counts = [jnp.sum(s).astype(int32) for s in linear]
    for layer in range(1, depth + 1):
        count = linear_counts[layer - 1]
        fibre = _block_fibre(
            count,
            live_counts[layer - 1],
            live_counts[layer + 1],
            "b" in params[layer - 1],
            "b" in params[layer],
        )
        n_zero_linear += jnp.where(count > 0, fibre - count, 0).astype(int32)
    code = jnp.asarray(EXACT, int32)
    centred = x - jnp.mean(x, axis=0)
    # the data's affine rank without a LAPACK call (XLA could run it beside the Hessian's eigh: a deadlock
    # on a 2-core CPU, see lanczos.orthonormal_columns)
    from .lanczos import orthonormal_columns

    basis = orthonormal_columns(centred / jnp.maximum(jnp.max(jnp.abs(centred)), jnp.finfo(centred.dtype).tiny))
    rank = jnp.sum(jnp.linalg.norm(basis, axis=0) > 0.5)
    code = jnp.where(rank < in_dim, INPUTS_DO_NOT_SPAN, code)
    for layer in range(1, depth):
        code = jnp.where((linear_counts[layer - 1] > 0) & (linear_counts[layer] > 0), CHAINED_LINEAR, code)
    for count in live_counts[1:-1]:
        code = jnp.where(count == 0, DEAD_LAYER, code)
    predicted = n_live + n_zero_dead + n_zero_linear
    return {
        "n_live_units": n_live.astype(int32),
        "n_dead_units": sum(jnp.sum(d) for d in dead).astype(int32),
        "n_linear_units": sum(linear_counts).astype(int32),
        "n_zero_dead": n_zero_dead,
        "n_zero_linear": n_zero_linear,
        "n_zero_predicted": jnp.where(code == EXACT, predicted, -1).astype(int32),
        "prediction_code": code.astype(int32),
    }


def output_jacobian(apply: Any, params: Params, x: jax.Array) -> jax.Array:
    """``J (n_points * out_dim, P)``: the Jacobian of ``apply(params, x)`` with respect to the flat
    parameters (``jax.flatten_util.ravel_pytree`` order)."""
    from jax.flatten_util import ravel_pytree

    flat, unravel = ravel_pytree(params)
    return jax.jacfwd(lambda vector: jnp.reshape(apply(unravel(vector), x), (-1,)))(flat)


def functional_null_dimension(apply: Any, params: Params, x: jax.Array, rtol: float = GRAM_RTOL) -> jax.Array:
    """``P - rank J`` for one network (:func:`output_jacobian`): eigenvalues of ``J^T J`` below ``rtol``
    times the largest count as zero (singular values of ``J`` below ``sqrt(rtol)`` of its largest).

    At a minimum with a locally constant Jacobian rank, the directions that keep the outputs on the data
    fixed form a manifold of this dimension, each a zero eigenvalue of the loss Hessian.
    """
    jacobian = output_jacobian(apply, params, x)
    values = jnp.linalg.eigvalsh(jacobian.T @ jacobian)
    return jnp.sum(values <= rtol * values[-1]).astype(jnp.int32)


def activation_slopes(params: Params, x: jax.Array, activation: str, leaky_slope: float = 0.01) -> list[jax.Array]:
    """Per hidden layer, ``(n_points, width)`` the activation's slope at each unit's pre-activation
    (ReLU: 1 or 0; leaky ReLU: 1 or ``leaky_slope``; linear: 1)."""
    properties = activation_properties(activation)
    preacts = hidden_preactivations(params, x, activation_function(activation, leaky_slope))
    if activation == "linear":
        return [jnp.ones_like(z) for z in preacts]
    low = 0.0 if properties.zero_region else leaky_slope
    return [jnp.where(z > 0, 1.0, low).astype(z.dtype) for z in preacts]


def _layer_slices(params: Params) -> list[tuple[int, int]]:
    """``(start, stop)`` of each layer's parameters in the ``ravel_pytree`` order (sorted keys per layer)."""
    slices, start = [], 0
    for layer in params:
        size = sum(int(layer[name].size) for name in sorted(layer))
        slices.append((start, start + size))
        start += size
    return slices


def unit_mixing_generators(params: Params, x: jax.Array, activation: str, leaky_slope: float = 0.01) -> jax.Array:
    """Flat directions that move weight between hidden units with the same activation pattern.

    For hidden layer ``l`` and units ``j, k`` the change ``z_j -> z_j + t z_k`` of ``j``'s pre-activation
    (``w_j += t w_k``, ``b_j += t b_k``), compensated downstream by ``W_{l+1}[k] -= t W_{l+1}[j]``, keeps the
    outputs on the data to first order exactly when, on every data point where unit ``j``'s output can
    reach the network's output (an active path downstream), ``j`` and ``k`` have the same activation
    slope. ``j = k`` is the rescaling (Dinh et al. 2017); for units linear on the data it is the
    ``GL`` symmetry of their affine block; ``k`` = the constant input (bias transfer,
    ``b_j += t``, ``b_{l+1} -= t W_{l+1}[j]``) needs ``j`` linear wherever it matters.

    Returns:
      ``(sum_l width_l (width_l + 1), P)``: one row per candidate ``(l, j, k)``, zero where the
      condition fails (so its rank is the dimension these symmetries span). Jittable.
    """
    from jax.flatten_util import ravel_pytree

    slopes = activation_slopes(params, x, activation, leaky_slope)
    depth = len(params) - 1
    # reach[l] (n_points, width_l): unit j of hidden layer l has an active path to an output at point i
    matters = jnp.ones((x.shape[0], params[-1]["w"].shape[1]), bool)
    reach: list[jax.Array] = [None] * depth  # type: ignore[list-item]
    for layer in range(depth - 1, -1, -1):
        used = (params[layer + 1]["w"] != 0).astype(x.dtype)  # (width_l, width_{l+1})
        reach[layer] = (matters.astype(x.dtype) @ used.T) > 0
        matters = reach[layer] & (slopes[layer] != 0)
    rows = []
    zeros = jax.tree.map(jnp.zeros_like, params)
    for layer in range(depth):
        w_in, w_out = params[layer]["w"], params[layer + 1]["w"]
        has_bias, next_bias = "b" in params[layer], "b" in params[layer + 1]
        width = w_in.shape[1]
        slope = slopes[layer]
        ones = jnp.ones((x.shape[0], 1), slope.dtype)
        slope_k = jnp.concatenate([slope, ones], axis=1)  # the constant input's slope is 1
        # allowed[j, k]: no point where j matters and the slopes of j and k differ
        differ = (slope[:, :, None] != slope_k[:, None, :]) & reach[layer][:, :, None]
        allowed = ~jnp.any(differ, axis=0)  # (width, width + 1)
        if not (has_bias and next_bias):
            allowed = allowed.at[:, width].set(False)

        def generator(j: jax.Array, k: jax.Array, layer: int = layer) -> jax.Array:
            tree = [dict(t) for t in zeros]
            from_unit = k < width
            k_unit = jnp.minimum(k, width - 1)
            e_j = jax.nn.one_hot(j, width, dtype=w_in.dtype)
            e_k = jax.nn.one_hot(k_unit, width, dtype=w_in.dtype)
            tree[layer]["w"] = jnp.where(from_unit, jnp.outer(w_in[:, k_unit], e_j), 0.0)
            if has_bias:
                tree[layer]["b"] = jnp.where(from_unit, params[layer]["b"][k_unit], 1.0) * e_j
            tree[layer + 1]["w"] = jnp.where(from_unit, -jnp.outer(e_k, w_out[j]), 0.0)
            if next_bias:
                tree[layer + 1]["b"] = jnp.where(from_unit, 0.0, -w_out[j])
            return ravel_pytree(tree)[0]

        j_index, k_index = jnp.meshgrid(jnp.arange(width), jnp.arange(width + 1), indexing="ij")
        vectors = jax.vmap(generator)(j_index.ravel(), k_index.ravel())
        rows.append(jnp.where(allowed.ravel()[:, None], vectors, 0.0))
    return jnp.concatenate(rows)


def layerwise_null_directions(
    gram: np.ndarray, params: Params, rtol: float = GRAM_RTOL, scale: float | None = None
) -> np.ndarray:
    """Flat directions that change one layer's parameters only: per layer, the null space of the
    output Jacobian's columns of that layer.

    With every activation pattern fixed, the outputs on the data are an affine function of any one
    layer's parameters, so these directions keep the outputs fixed along straight lines, not only to
    first order. Dead units (every weight into and out of them), connections never used together on the
    data, and units active on fewer than ``fan_in + 1`` affinely independent points are special cases.

    Args:
      gram: ``J^T J (P, P)`` of the output Jacobian (:func:`output_jacobian`); params: the network
        (for the layout).
      rtol, scale: eigenvalues of a layer's diagonal block of ``gram`` below ``rtol`` times ``scale``
        (default ``gram``'s largest eigenvalue) count as zero (singular values of ``J`` below ``sqrt(rtol)``
        of its largest).
    Returns:
      ``(m, P)`` NumPy rows, an orthonormal basis of the directions. (NumPy, not jittable: several
      batched LAPACK calls in one compiled CPU program can block every thread of XLA's pool on a
      2-core machine; see :func:`landscape.lanczos.orthonormal_columns`.)
    """
    gram = np.asarray(gram)
    scale = np.linalg.eigvalsh(gram)[-1] if scale is None else scale
    rows = [np.zeros((0, gram.shape[0]))]
    for start, stop in _layer_slices(params):
        values, vectors = np.linalg.eigh(gram[start:stop, start:stop])
        null = vectors[:, values <= rtol * scale].T
        embedded = np.zeros((null.shape[0], gram.shape[0]))
        embedded[:, start:stop] = null
        rows.append(embedded)
    return np.concatenate(rows)


def span_dimension(rows: np.ndarray, rtol: float = GRAM_RTOL) -> int:
    """Dimension of the span of ``rows (m, P)``: each row normalised (zero rows ignored), eigenvalues of
    the ``(P, P)`` Gram matrix above ``rtol`` times the largest counted. NumPy."""
    rows = np.asarray(rows)
    norms = np.linalg.norm(rows, axis=1)
    unit = rows[norms > 0] / norms[norms > 0, None]
    if unit.shape[0] == 0:
        return 0
    values = np.linalg.eigvalsh(unit.T @ unit)
    return int(np.sum(values > rtol * values[-1]))


def explained_flat_directions(
    apply: Any,
    batched_params: Params,
    x: jax.Array,
    activation: str = "relu",
    leaky_slope: float = 0.01,
    rtol: float = GRAM_RTOL,
    chunk_size: int = 256,
) -> dict[str, np.ndarray]:
    """How much of the functional null space (``P - rank J``) two mechanisms explain, per MLP.

    Deep ReLU networks keep the function on the data along far more directions than rescaling and
    dead units: on 64 [8, 8] networks trained on the default task, ``P - rank J`` was 26 to 83 of 105.
    Two families, each exact to all orders within the network's activation region, account for most:

    * **unit mixing** (:func:`unit_mixing_generators`): rescaling, mixing of units with the same
      activation pattern where they matter, bias transfer from units linear where they matter;
    * **one-layer degeneracies** (:func:`layerwise_null_directions`): directions in one layer's
      parameters that the data cannot see.

    Ranks come from eigenvalues of ``J^T J`` (``rtol`` of the largest, i.e. singular values of ``J``
    below ``sqrt(rtol)`` = 1e-7 of the largest are zero). At a refined point the structural zeros sit
    near ``1e-8`` on that scale and the smallest true singular values seen on trained [8, 8] networks
    near ``1e-6``. The Jacobians and generators are computed batched (jit, vmap); the eigendecompositions
    in NumPy, one network at a time: several batched LAPACK calls in one compiled CPU program can block
    every thread of XLA's pool on a 2-core machine (see :func:`landscape.lanczos.orthonormal_columns`).

    Args:
      apply: the MLP's ``apply``; batched_params: networks with a leading axis; x: ``(n_points, d)``.
    Returns:
      ``(n,)`` int32 arrays ``n_zero_functional`` (``P - rank J``), ``n_zero_symmetries`` (the span of
      unit mixing), ``n_zero_layerwise`` (what one-layer degeneracies add), ``n_zero_explained`` (the
      span of both) and ``n_zero_unexplained`` (``functional - explained``, >= 0; directions that need
      several layers at once, such as the hidden symmetries of Grigsby et al. 2023).
    """
    from .batching import chunked_map

    grams, mixings = chunked_map(
        lambda chunk: _gram_and_mixing(apply, activation, float(leaky_slope), chunk, x), batched_params, chunk_size
    )
    one = jax.tree.map(lambda leaf: leaf[0], batched_params)
    rows = [_explain_one(gram, mixing, one, rtol) for gram, mixing in zip(grams, mixings, strict=True)]
    out = {key: np.asarray([row[key] for row in rows], np.int32) for key in rows[0]} if rows else {}
    return out


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _gram_and_mixing(apply: Any, activation: str, leaky_slope: float, batched_params: Params, x: jax.Array) -> Any:
    def one(params: Params) -> tuple[jax.Array, jax.Array]:
        jacobian = output_jacobian(apply, params, x)
        return jacobian.T @ jacobian, unit_mixing_generators(params, x, activation, leaky_slope)

    return jax.vmap(one)(batched_params)


def _explain_one(gram: np.ndarray, mixing: np.ndarray, params: Params, rtol: float) -> dict[str, int]:
    """NumPy: the counts of :func:`explained_flat_directions` for one network's ``J^T J`` and mixing rows."""
    values = np.linalg.eigvalsh(gram)
    functional = int(np.sum(values <= rtol * values[-1]))
    layerwise = layerwise_null_directions(gram, params, rtol, values[-1])
    symmetries = span_dimension(mixing, rtol)
    explained = span_dimension(np.concatenate([mixing, layerwise]), rtol)
    return {
        "n_zero_functional": functional,
        "n_zero_symmetries": symmetries,
        "n_zero_layerwise": explained - symmetries,
        "n_zero_explained": explained,
        "n_zero_unexplained": max(functional - explained, 0),
    }


def reconcile_prediction(
    code: np.ndarray, predicted: np.ndarray, functional: np.ndarray, explained: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Codes and predictions of :func:`predicted_flat_directions` checked against ``P - rank J``:
    a structural count that differs from it becomes ``HIDDEN`` (-1), and any network whose unit mixing
    plus one-layer degeneracies (``explained``) equal it becomes ``LAYERWISE`` with that prediction.
    NumPy, any shape."""
    code, predicted = np.array(code, np.int32), np.array(predicted, np.int32)
    mismatch = (code == EXACT) & (predicted != functional)
    code[mismatch] = HIDDEN
    if explained is not None:
        layerwise = (code != EXACT) & (code != NOT_HOMOGENEOUS) & (explained == functional)
        code[layerwise] = LAYERWISE
        predicted = np.where(layerwise, explained, predicted)
    predicted = np.where((code == EXACT) | (code == LAYERWISE), predicted, -1).astype(np.int32)
    return code, predicted


def describe_prediction(codes: Any) -> list[str]:
    """One line per reason the prediction was not exact for some networks (``codes``: ``(n,)`` ints)."""
    codes = np.asarray(codes)
    lines = []
    for code, reason in PREDICTION_REASONS.items():
        count = int(np.sum(codes == code))
        if code == LAYERWISE and count:
            lines.append(
                f"symmetry prediction for {count} of {codes.size} networks: rescaling, dead and linear units explain "
                "fewer flat directions than P - rank J; with unit mixing and one-layer data degeneracies they "
                "explain them all (n_zero_symmetries, n_zero_layerwise)"
            )
        elif code != EXACT and count:
            lines.append(f"symmetry prediction not exact for {count} of {codes.size} networks: {reason}")
    return lines


__all__ = [
    "PREDICTION_REASONS",
    "activation_slopes",
    "describe_prediction",
    "explained_flat_directions",
    "functional_null_dimension",
    "layerwise_null_directions",
    "output_jacobian",
    "predicted_flat_directions",
    "reconcile_prediction",
    "span_dimension",
    "unit_mixing_generators",
    "unit_states",
]
