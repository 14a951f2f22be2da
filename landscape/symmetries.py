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
  of ReLU networks", ICML) show further function-preserving directions that unit states cannot see. When
  the Jacobian is given (``functional``), a count it contradicts is reported as not exact, not printed.
  (On 24 trained [8, 8] ReLU networks on 2-D data the unused-connection rule accounts exactly for the
  Jacobian's zero columns, yet 21 of them keep 1 to 8 further flat directions from such local linear
  structure.)

Merged units (two live units with the same hyperplane) add more flat directions; they are not
predicted (the observed count is then larger).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .models import activation_function, activation_properties, hidden_preactivations
from .types import Params

EXACT = 0
DEAD_LAYER = 1
CHAINED_LINEAR = 2
INPUTS_DO_NOT_SPAN = 3
NOT_HOMOGENEOUS = 4
HIDDEN = 5
PREDICTION_REASONS = {
    EXACT: "exact",
    DEAD_LAYER: "a whole hidden layer is dead on the data (the network is constant there)",
    CHAINED_LINEAR: "two consecutive hidden layers both have units linear on the data (chained affine maps)",
    INPUTS_DO_NOT_SPAN: "the data do not span the input space",
    NOT_HOMOGENEOUS: "the activation has no rescaling symmetry",
    HIDDEN: "the function on the data keeps its value along more directions than rescaling, dead units and "
    "linear units account for (units active on too few points to fix their weights, connections never used "
    "together on the data, hidden symmetries of deep ReLU networks: Grigsby et al. 2023)",
}
FUNCTIONAL_RTOL = 1e-10  # singular values of the output Jacobian below this share of the largest are zero


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
    functional: jax.Array | None = None,
) -> dict[str, jax.Array]:
    """The number of flat directions the symmetries of one MLP predict (module doc), with its parts.

    Args:
      params: one built-in MLP's parameter list ``[{"w": (fan_in, fan_out), "b": (fan_out,)}, ...]``.
      x: ``(n_points, in_dim)`` the data the loss is taken over.
      activation, leaky_slope: the MLP's activation.
      functional: optional :func:`functional_null_dimension` of the network; a count that differs
        from it is reported as not exact (code ``HIDDEN``).
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
    code = jnp.where(jnp.linalg.matrix_rank(centred) < in_dim, INPUTS_DO_NOT_SPAN, code)
    for layer in range(1, depth):
        code = jnp.where((linear_counts[layer - 1] > 0) & (linear_counts[layer] > 0), CHAINED_LINEAR, code)
    for count in live_counts[1:-1]:
        code = jnp.where(count == 0, DEAD_LAYER, code)
    predicted = n_live + n_zero_dead + n_zero_linear
    if functional is not None:
        code = jnp.where((code == EXACT) & (predicted != functional), HIDDEN, code)
    return {
        "n_live_units": n_live.astype(int32),
        "n_dead_units": sum(jnp.sum(d) for d in dead).astype(int32),
        "n_linear_units": sum(linear_counts).astype(int32),
        "n_zero_dead": n_zero_dead,
        "n_zero_linear": n_zero_linear,
        "n_zero_predicted": jnp.where(code == EXACT, predicted, -1).astype(int32),
        "prediction_code": code.astype(int32),
    }


def functional_null_dimension(apply: Any, params: Params, x: jax.Array, rtol: float = FUNCTIONAL_RTOL) -> jax.Array:
    """``P - rank J`` for one network: ``J`` the Jacobian ``(n_points * out_dim, P)`` of ``apply(params, x)``
    with respect to the flat parameters; singular values below ``rtol`` times the largest count as zero.

    At a minimum with a locally constant Jacobian rank, the directions that keep the outputs on the data
    fixed form a manifold of this dimension, each a zero eigenvalue of the loss Hessian.
    """
    from jax.flatten_util import ravel_pytree

    flat, unravel = ravel_pytree(params)
    jacobian = jax.jacfwd(lambda vector: jnp.reshape(apply(unravel(vector), x), (-1,)))(flat)
    singular = jnp.linalg.svd(jacobian, compute_uv=False)
    return (flat.shape[0] - jnp.sum(singular > rtol * singular[0])).astype(jnp.int32)


def describe_prediction(codes: Any) -> list[str]:
    """One line per reason the prediction was not exact for some networks (``codes``: ``(n,)`` ints)."""
    import numpy as np

    codes = np.asarray(codes)
    lines = []
    for code, reason in PREDICTION_REASONS.items():
        count = int(np.sum(codes == code))
        if code != EXACT and count:
            lines.append(f"symmetry prediction not exact for {count} of {codes.size} networks: {reason}")
    return lines


__all__ = [
    "PREDICTION_REASONS",
    "describe_prediction",
    "functional_null_dimension",
    "predicted_flat_directions",
    "unit_states",
]
