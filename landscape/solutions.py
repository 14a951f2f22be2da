"""Solution types: what each trained network's minimum *is*, read off the learned function.

The seed's question (``../shared/seed.md``): a 2-3-1 ReLU network learning ``|x|`` ends up
either as the inverted hexagonal *pyramid*, as a *valley* (a ridge ``|u.x|`` from two
opposite units) or with dead units. This module says which, for every network, on any task and
any model, and why.

Everything starts from the run's :class:`~landscape.problem.Problem` (:func:`classify_run`):
the learned function is looked at on ``problem.inputs()`` (the data, or draws from the task's
distribution for a dataset-free study). What applies depends on the model, and what does not is
said in one printed and stored line:

- **any model with an apply function**: the shape of the function (below) and the rule-free
  clustering on predictions (:mod:`landscape.clustering`);
- **the built-in MLP, any depth** (``mlp_reason``): per hidden layer, dead units (zero on every
  point, for activations with a zero region) and significant units (removing the unit changes
  the function by more than ``significance`` of its RMS); a ReLU net with every unit of a layer
  dead is ``dead`` whatever its depth;
- **one hidden layer** (``unit_reason``): the canonical form of every unit, merged units,
  the count of linear pieces (faces) and the default task's names;
- **a model without apply** (``function_reason``): no shape; the clustering uses parameters and
  final loss only.

**Shape of the function**: ``G = mean_x J(x)^T J(x)``, the input-gradient covariance (the
"active subspace" matrix of Constantine, Dow & Wang 2014); its *rank* is the number of
eigenvalues above ``rank * trace(G)``. Along each principal direction ``u``, the slope
``J(x) u`` is *two-sided* when it takes both signs with some weight (a V or a bowl), else
*one-sided* (a ramp); a one-sided rank-1 function is *kinked* when its nonzero slopes take
several values (more than one hinge).

**Unit diagnostics** (one hidden layer ``x -> act(x W + b) A + c``; per hidden unit j):
``active_fraction`` (share of points with ``x.w_j + b_j > 0``); ``significance`` (RMS over the
data of the unit's centred contribution over the function's centred RMS); canonical form
(rescaling removed for positively homogeneous activations: direction ``w/|w|``, offset
``b/|w|``, amplitude ``a |w|``; units sorted); *merged* units: live units with the same
hyperplane (within ``merge``) act as one, and units active on *every* point are linear on the
data, so they are merged into one linear unit before counting; ``n_significant`` counts the
distinct significant groups; ``faces``: linear pieces of the function over the data (activation
patterns of the significant units covering at least ``face`` of the points).

**Names.** The same word means the same function on every task (shape words, from the function;
the unit-based ones need the built-in MLP):

===============  ===================================================================
``dead``         a ReLU net with every unit of some hidden layer dead: a constant
``constant``     gradient rank 0: the function does not vary over the inputs
``ramp``         rank 1, one-sided, one slope: a single hinge (or a plane)
``kinked_ramp``  rank 1, one-sided, several slopes: a monotone ramp with kinks
``ridge``        rank 1, two-sided: ``|u.x|``-like, a V along one direction
``fold``         rank 2, one-sided along a principal direction (a tilted V, a fold)
``bowl``         rank 2, two-sided along both directions: a bowl / pyramid
``rank{r}``      rank r >= 3 (no shape word)
===============  ===================================================================

On the default task (``euclidean_norm``, 2 inputs, one hidden layer, positively homogeneous
activation) the seed's names are kept, from the same structure (k: significant groups):

===============  ===================================================================
``pyramid``      bowl, k >= 3, at least 5 faces: the inverted hexagonal pyramid
``diamond``      bowl, k >= 3, at most 4 faces: the four-faced pyramid (a unit active
                 on nearly every point leaves two crossing hinges), a separate minimum
``valley``       ridge, k >= 2 (two opposite units, or a hinge plus a linear unit)
``wedge``        fold
``bent_ramp``    rank 1, one-sided, k >= 2
``dead``         k <= 1 (a single ramp) or a constant function
===============  ===================================================================

**Success is separate from shape**: ``problem.success_loss`` (task-aware) decides success; the
table gives per type the fraction succeeding and the median R². A shape whose members straddle
success (some below the threshold, some above) is split: the failing ones are ``<shape>_misfit``.
A type whose final loss (or, with a ``/hessian`` group, top Hessian eigenvalue) is bimodal is
flagged in the table's note (two-means on the log, Ashman's D > ``bimodal``).

Networks whose training did not end in a minimum keep an outcome label: ``diverged``,
``unconverged`` (steps ran out and the loss was still falling by more than ``still_improving``
over the last fifth) and ``not_run`` (its chunk was never trained: never relabelled). The shape
is computed for every trained network and kept separately (``shape``).

**Teacher tasks** (``task.name == "teacher"``, one-hidden-layer MLP): each teacher unit is matched
to a student unit by the Hungarian method on the cosine of their ``(w, b)`` directions (scale
removed); the match error of a network is the mean distance between matched unit directions
(0: the teacher's hyperplanes recovered). Kuhn (1955), "The Hungarian method for the assignment
problem", Naval Research Logistics Quarterly 2.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclasses_fields
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .models import activation_function, activation_properties, mlp_apply
from .stats import wilson_interval
from .types import Params
from .vocabulary import OUTCOME_TYPES, TYPE_ORDER, Status, ordered_type_names, representative_index

MAX_STEPS = int(Status.MAX_STEPS)
STATUS_LABELS = {MAX_STEPS: "unconverged", int(Status.DIVERGED): "diverged"}  # NOT_RUN is handled apart
UNIT_CATEGORIES = ("significant", "negligible", "merged", "dead")  # codes 0..3 of units/category
DEFAULT_TASK = "euclidean_norm"
MISFIT_SUFFIX = "_misfit"
Apply = Callable[[Params, jax.Array], jax.Array]  # one network's predictions on (n, d) inputs

__all__ = [
    "TYPE_ORDER",
    "Thresholds",
    "bimodality",
    "classify_networks",
    "classify_problem",
    "classify_run",
    "format_type_table",
    "function_shape",
    "gradient_covariance",
    "layer_diagnostics",
    "ordered_type_names",
    "recent_loss_drop",
    "shape_labels",
    "teacher_recovery",
    "type_labels",
    "type_representatives",
    "type_summary",
    "TypesResult",
    "unit_diagnostics",
]


@dataclass(frozen=True)
class Thresholds:
    """Tolerances of the rule-based types (all relative, hence scale free).

    Attributes:
      significance: a unit (or merged group) is significant when its contribution's RMS over
        the data exceeds this fraction of the function's RMS (both centred).
      rank: an eigenvalue of the input-gradient covariance counts when it exceeds this
        fraction of the trace.
      merge: two units are merged when their canonical directions and offsets differ by
        less than this (Euclidean norm of the difference, offsets in input units).
      two_sided: slope balance (:func:`function_shape`) above which the function has slopes
        of both signs along a principal direction (a V, not a ramp).
      flat: the function counts as constant when its RMS is below this fraction of the
        target's RMS (only when ``target_scale`` is given).
      still_improving: a network that used its whole step budget is *unconverged* when its
        loss still fell by more than this fraction over the last fifth of training (only
        when ``recent_loss_drop`` is given; otherwise every such network is unconverged).
      face: an activation pattern is a face (linear piece) when it covers at least this share of points.
      kink: a rank-1 ramp is kinked when the spread of its nonzero slopes exceeds this fraction of their mean.
      bimodal: a type's log final loss is flagged bimodal when Ashman's D of its two-means split exceeds this.
      bimodal_share: ... and the smaller mode holds at least this share of the type,
      bimodal_ratio: ... and the modes' geometric means differ by at least this factor (a split of a
        tight cluster, 0.0215 vs 0.0215, is no second solution); final losses under a thousandth of the
        success threshold count as equal (the float floor of perfect fits).
    """

    significance: float = 0.05
    rank: float = 0.05
    merge: float = 0.05
    two_sided: float = 0.1
    flat: float = 1e-3
    still_improving: float = 1e-2
    face: float = 0.03
    kink: float = 0.1
    bimodal: float = 3.0
    bimodal_share: float = 0.05
    bimodal_ratio: float = 1.15


# ---------------------------------------------------------------------------------------------
# One network: the function's shape (any model with an apply function).


def _centred_rms(values: jax.Array) -> jax.Array:
    """RMS over axis 0 of ``values - mean``, summed over trailing output axes: ``(n, ..., o) -> (...)``."""
    centred = values - jnp.mean(values, axis=0, keepdims=True)
    return jnp.sqrt(jnp.sum(jnp.mean(centred**2, axis=0), axis=-1))


def _mlp_predict(activation: str, leaky_slope: float) -> Apply:
    act = activation_function(activation, leaky_slope)
    return lambda params, x: mlp_apply(params, x, act, scalar_output=False)


def _as_matrix(apply: Apply) -> Apply:
    """``apply`` with outputs as ``(n, o)`` whatever it returns."""
    return lambda params, x: jnp.reshape(apply(params, x), (x.shape[0], -1))


def input_jacobians(
    params: Params, x: jax.Array, activation: str = "relu", leaky_slope: float = 0.01, apply: Apply | None = None
) -> jax.Array:
    """``(n, o, d)`` Jacobians of one network's outputs with respect to its inputs at ``x: (n, d)``.

    ``apply`` (a model's own ``(params, x) -> predictions``) replaces the built-in MLP of ``activation``.
    """
    predict = _as_matrix(apply if apply is not None else _mlp_predict(activation, leaky_slope))

    def outputs(point: jax.Array) -> jax.Array:
        return predict(params, point[None, :])[0]

    return jax.vmap(jax.jacfwd(outputs))(x)


def gradient_covariance(
    params: Params, x: jax.Array, activation: str = "relu", leaky_slope: float = 0.01, apply: Apply | None = None
) -> jax.Array:
    """``(d, d)`` input-gradient covariance ``mean_x J(x)^T J(x)`` of one network over ``x: (n, d)``.

    ``J(x)`` is the ``(o, d)`` Jacobian of the outputs with respect to the input. For ReLU
    networks it is piecewise constant (the derivative at a kink is taken as 0, as JAX does).

    References:
      Constantine, Dow & Wang (2014), "Active subspace methods in theory and practice",
      SIAM J. Sci. Comput. 36(4).
    """
    jac = input_jacobians(params, x, activation, leaky_slope, apply)
    return jnp.einsum("nod,noe->de", jac, jac) / x.shape[0]


def function_shape(
    params: Params,
    x: jax.Array,
    activation: str = "relu",
    leaky_slope: float = 0.01,
    thresholds: Thresholds = Thresholds(),
    target_scale: float = 0.0,
    apply: Apply | None = None,
) -> dict[str, jax.Array]:
    """The learned function's shape over the inputs ``x: (n, d)`` (one network).

    Returns:
      ``gradient_spectrum (d,)``: eigenvalues of the input-gradient covariance over its trace,
      descending; ``gradient_rank ()``: how many exceed ``thresholds.rank`` (0 when flat);
      ``slope_balance (d,)``: along each principal direction u_i, the smaller of the energies
      of the positive and negative parts of the slope ``J(x) u_i`` over their sum — near 0
      for a monotone function (a ramp), up to 0.5 for a V or bowl (slopes of both signs);
      ``slope_spread ()``: along u_1, the RMS spread of the nonzero slopes ``|J(x) u_1|`` over
      their mean (0 for one hinge or a plane, larger with kinks); ``function_rms ()``: centred
      RMS of the function; ``flat ()``: it counts as constant.
    """
    predict = _as_matrix(apply if apply is not None else _mlp_predict(activation, leaky_slope))
    f = predict(params, x)  # (n, o)
    function_rms = _centred_rms(f)
    jac = input_jacobians(params, x, activation, leaky_slope, apply)  # (n, o, d)
    covariance = jnp.einsum("nod,noe->de", jac, jac) / x.shape[0]
    eigenvalues, vectors = jnp.linalg.eigh(covariance)
    eigenvalues, vectors = eigenvalues[::-1], vectors[:, ::-1]
    trace = jnp.sum(eigenvalues)
    spectrum = jnp.where(trace > 0, eigenvalues / jnp.where(trace > 0, trace, 1.0), 0.0)
    slopes = jnp.einsum("nod,dk->nok", jac, vectors)  # (n, o, d) along principal directions
    up = jnp.sum(jnp.maximum(slopes, 0.0) ** 2, axis=(0, 1))
    down = jnp.sum(jnp.minimum(slopes, 0.0) ** 2, axis=(0, 1))
    tiny = jnp.finfo(f.dtype).tiny
    balance = jnp.minimum(up, down) / jnp.maximum(up + down, tiny)
    along = jnp.abs(slopes[:, 0, 0])  # first output, first principal direction
    nonzero = along > 1e-3 * jnp.max(along)
    count = jnp.maximum(jnp.sum(nonzero), 1)
    mean = jnp.sum(jnp.where(nonzero, along, 0.0)) / count
    spread = jnp.sqrt(jnp.sum(jnp.where(nonzero, (along - mean) ** 2, 0.0)) / count) / jnp.maximum(mean, tiny)
    flat = (function_rms <= thresholds.flat * target_scale) | (trace <= 0)
    rank = jnp.where(flat, 0, jnp.sum(spectrum > thresholds.rank))
    return {
        "gradient_spectrum": spectrum,
        "gradient_rank": rank.astype(jnp.int32),
        "slope_balance": balance,
        "slope_spread": spread,
        "function_rms": function_rms,
        "flat": flat,
    }


# ---------------------------------------------------------------------------------------------
# One built-in MLP: units per layer (any depth) and the canonical form (one hidden layer).


def _masked_mlp(params: Params, x: jax.Array, act: Callable, masks: list[jax.Array]) -> tuple[jax.Array, list]:
    """Forward pass with each hidden layer's output multiplied by ``masks[l] (h_l,)``; also the pre-activations."""
    h, pre = x, []
    for layer, mask in zip(params[:-1], masks):
        z = h @ layer["w"] + (layer["b"] if "b" in layer else 0.0)
        pre.append(z)
        h = act(z) * mask
    out = h @ params[-1]["w"] + (params[-1]["b"] if "b" in params[-1] else 0.0)
    return out, pre


def layer_diagnostics(
    params: Params,
    x: jax.Array,
    activation: str = "relu",
    leaky_slope: float = 0.01,
    thresholds: Thresholds = Thresholds(),
    flat: jax.Array | bool = False,
) -> dict[str, jax.Array]:
    """Per hidden layer of one built-in MLP (any depth) on ``x: (n, d)``: dead and significant units.

    A unit is *dead* when its activation has a zero region and its pre-activation is never
    positive on ``x``; *significant* when removing it (its output set to 0) changes the function
    by a centred RMS above ``thresholds.significance`` of the function's centred RMS.

    Returns ``layer_dead (L,)``, ``layer_significant (L,)``, ``layer_width (L,)`` and
    ``dead_layer ()`` (every unit of some layer dead).
    """
    act = activation_function(activation, leaky_slope)
    widths = [int(layer["w"].shape[1]) for layer in params[:-1]]
    ones = [jnp.ones(h, x.dtype) for h in widths]
    f, pre = _masked_mlp(params, x, act, ones)
    scale = jnp.maximum(_centred_rms(f), jnp.finfo(x.dtype).tiny)
    zero_region = activation_properties(activation).zero_region
    dead, significant = [], []
    for i, h in enumerate(widths):
        is_dead = jnp.all(pre[i] <= 0, axis=0) if zero_region else jnp.zeros(h, bool)

        def removed(mask: jax.Array, i: int = i) -> jax.Array:
            masks = ones[:i] + [mask] + ones[i + 1 :]
            return _masked_mlp(params, x, act, masks)[0]

        changed = jax.vmap(removed)(1.0 - jnp.eye(h, dtype=x.dtype))  # (h, n, o)
        significance = jax.vmap(lambda g: _centred_rms(f - g))(changed) / scale
        dead.append(jnp.sum(is_dead))
        significant.append(jnp.sum((significance > thresholds.significance) & ~is_dead & ~jnp.asarray(flat)))
    layer_dead = jnp.stack(dead).astype(jnp.int32)
    width = jnp.asarray(widths, jnp.int32)
    return {
        "layer_dead": layer_dead,
        "layer_significant": jnp.stack(significant).astype(jnp.int32),
        "layer_width": width,
        "dead_layer": jnp.any(layer_dead == width),
    }


def _hidden_output(params: Params) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``W (d, h)``, ``b (h,)``, ``A (h, o)``, ``c (o,)`` of a one-hidden-layer MLP."""
    first, last = params[0], params[-1]
    w = first["w"]
    b = first["b"] if "b" in first else jnp.zeros(w.shape[1], w.dtype)
    a = last["w"]
    c = last["b"] if "b" in last else jnp.zeros(a.shape[1], a.dtype)
    return w, b, a, c


def _count_faces(active: jax.Array, use: jax.Array, min_share: float) -> jax.Array:
    """Activation patterns of the units in ``use (h,)`` over points ``active (n, h)`` covering ``>= min_share``."""
    n, h = active.shape
    if h > 30:
        return jnp.asarray(-1, jnp.int32)
    codes = jnp.sum((active & use[None, :]).astype(jnp.int32) * (2 ** jnp.arange(h, dtype=jnp.int32)), axis=1)
    ordered = jnp.sort(codes)
    starts = jnp.concatenate([jnp.ones(1, bool), ordered[1:] != ordered[:-1]])
    run = jnp.cumsum(starts) - 1
    counts = jax.ops.segment_sum(jnp.ones(n, jnp.int32), run, num_segments=n)
    return jnp.sum(counts >= min_share * n).astype(jnp.int32)


def unit_diagnostics(
    params: Params,
    x: jax.Array,
    activation: str = "relu",
    leaky_slope: float = 0.01,
    thresholds: Thresholds = Thresholds(),
    flat: jax.Array | bool = False,
) -> dict[str, jax.Array]:
    """Per-unit diagnostics of one one-hidden-layer MLP on ``x: (n, d)`` (see module doc).

    Returns arrays over the ``h`` hidden units, in the network's own unit order:
      ``active_fraction (h,)``, ``significance (h,)`` (of the unit alone),
      ``direction (h, d)``, ``offset (h,)``, ``amplitude (h, o)`` (canonical form),
      ``group (h,)`` (index of the unit leading its merged group; itself if unmerged),
      ``category (h,)`` (0 significant, 1 negligible, 2 merged into another, 3 dead),
      ``order (h,)`` (canonical order: ``units[order]`` is sorted), ``n_significant``,
      ``n_dead``, ``n_negligible``, ``n_merged``, ``n_linear`` (significant groups active on
      every point, hence linear there), ``faces`` (linear pieces over the data) (scalars),
      ``canonical (h * (d + 1 + o),)``: for clustering, the significant groups' (direction,
      offset, summed amplitude) — for the linear group, the direction of its summed gradient —
      zeros for the other units, each coordinate sorted over units (permutation invariant).
    """
    act = activation_function(activation, leaky_slope)
    properties = activation_properties(activation)
    w, b, a, _ = _hidden_output(params)
    d, h = w.shape
    z = x @ w + b  # (n, h)
    contribution = act(z)[:, :, None] * a[None, :, :]  # (n, h, o)
    function_rms = _centred_rms(jnp.sum(contribution, axis=1))
    scale = jnp.maximum(function_rms, jnp.finfo(z.dtype).tiny)
    active = z > 0
    active_fraction = jnp.mean(active, axis=0)
    significance = _centred_rms(contribution) / scale  # (h,)

    if properties.positively_homogeneous:
        norm = jnp.linalg.norm(w, axis=0)
        safe = jnp.where(norm > 0, norm, 1.0)
        direction, offset, amplitude = (w / safe).T, b / safe, a * norm[:, None]
    else:
        direction, offset, amplitude = w.T, b, a
    dead = (active_fraction == 0) if properties.zero_region else jnp.zeros(h, bool)
    live = ~dead
    # units active on every point are linear there (piecewise-linear activations): one linear unit
    linear = live & (active_fraction == 1) & properties.piecewise_linear

    # merged groups: transitive closure of "same hyperplane" (or "both linear") among live units
    gap = jnp.sqrt(jnp.sum((direction[:, None] - direction[None]) ** 2, -1) + (offset[:, None] - offset[None]) ** 2)
    same = (gap < thresholds.merge) | (linear[:, None] & linear[None, :])
    adjacency = same & live[:, None] & live[None, :] | jnp.eye(h, dtype=bool)
    reach = adjacency
    for _ in range(max(1, int(np.ceil(np.log2(max(h, 2)))))):
        reach = reach | ((reach.astype(jnp.int32) @ reach.astype(jnp.int32)) > 0)
    group = jnp.argmax(reach, axis=1)  # lowest index in the unit's group
    leader = group == jnp.arange(h)
    membership = (group[None, :] == jnp.arange(h)[:, None]).astype(contribution.dtype)  # (g, h)
    group_contribution = jnp.einsum("gh,nho->ngo", membership, contribution)
    group_significance = _centred_rms(group_contribution) / scale  # (g,) by leader index
    group_significant = (group_significance > thresholds.significance) & leader & live & ~jnp.asarray(flat)
    category = jnp.where(dead, 3, jnp.where(~leader, 2, jnp.where(group_significant, 0, 1)))

    group_amplitude = membership @ amplitude  # (g, o) summed over members
    # the linear group: direction of its summed gradient sum_j a_j w_j, offset 0, amplitude its length
    gradient = jnp.einsum("dh,ho->do", w * linear[None, :], a)[:, 0]  # (d,) first output
    length = jnp.linalg.norm(gradient)
    linear_direction = gradient / jnp.where(length > 0, length, 1.0)
    linear_leader = leader & linear
    canonical_direction = jnp.where(linear_leader[:, None], linear_direction[None, :], direction)
    canonical_offset = jnp.where(linear_leader, 0.0, offset)
    canonical_amplitude = jnp.where(linear_leader[:, None], length, group_amplitude)
    if d >= 2:
        angle = jnp.arctan2(direction[:, 1], direction[:, 0]) + jnp.pi
    else:
        angle = jnp.sign(direction[:, 0]) + 1.0
    order = jnp.lexsort((offset, angle, category))  # category first, ties broken by angle, then offset
    keep = (category == 0)[:, None]
    per_unit = jnp.concatenate([canonical_direction, canonical_offset[:, None], canonical_amplitude], axis=1) * keep
    # each coordinate sorted over units: permutation invariant and, unlike sorting whole rows
    # by an angle, continuous in the parameters (no jump where two angles swap or wrap)
    canonical = jnp.sort(per_unit, axis=0).T.reshape(-1)
    significant_leaders = (category == 0) & ~linear  # the linear group has one pattern: no face boundary

    return {
        "active_fraction": active_fraction,
        "significance": significance,
        "direction": direction,
        "offset": offset,
        "amplitude": amplitude,
        "group": group.astype(jnp.int32),
        "category": category.astype(jnp.int8),
        "order": order.astype(jnp.int32),
        "n_significant": jnp.sum(category == 0).astype(jnp.int32),
        "n_negligible": jnp.sum(category == 1).astype(jnp.int32),
        "n_merged": jnp.sum(category == 2).astype(jnp.int32),
        "n_dead": jnp.sum(category == 3).astype(jnp.int32),
        "n_linear": jnp.sum((category == 0) & linear).astype(jnp.int32),
        "faces": _count_faces(active, significant_leaders, thresholds.face),
        "canonical": canonical,
    }


# ---------------------------------------------------------------------------------------------
# Labels from diagnostics (NumPy, vectorised over networks).


def shape_words(
    rank: np.ndarray, slope_balance: np.ndarray, slope_spread: np.ndarray, thresholds: Thresholds = Thresholds()
) -> np.ndarray:
    """``(n,)`` task-independent shape words from the function alone (see the module's first table).

    Args: rank ``(n,)``; slope_balance ``(n, d)``; slope_spread ``(n,)`` (:func:`function_shape`).
    """
    rank = np.asarray(rank)
    balance = np.asarray(slope_balance).reshape(rank.shape[0], -1)
    two_sided = balance > thresholds.two_sided
    kinked = np.asarray(slope_spread) > thresholds.kink
    words = np.char.add("rank", rank.astype(str)).astype(object)
    words[rank == 0] = "constant"
    one = rank == 1
    words[one & two_sided[:, 0]] = "ridge"
    words[one & ~two_sided[:, 0] & kinked] = "kinked_ramp"
    words[one & ~two_sided[:, 0] & ~kinked] = "ramp"
    if balance.shape[1] >= 2:
        bowl = two_sided[:, :2].all(axis=1)
        words[(rank == 2) & bowl] = "bowl"
        words[(rank == 2) & ~bowl] = "fold"
    return words


def shape_labels(
    rank: np.ndarray,
    slope_balance: np.ndarray,
    n_significant: np.ndarray | None,
    width: int | None,
    in_dim: int,
    activation: str | None,
    thresholds: Thresholds = Thresholds(),
    *,
    slope_spread: np.ndarray | None = None,
    faces: np.ndarray | None = None,
    dead_layer: np.ndarray | None = None,
    default_names: bool | None = None,
) -> np.ndarray:
    """``(n,)`` shape labels: the default task's names where they apply, else the shape words.

    Args:
      rank: ``(n,)`` gradient ranks; slope_balance: ``(n, d)``; slope_spread: ``(n,)``
        (:func:`function_shape`; None: every ramp counts as kinked).
      n_significant: ``(n,)`` significant live groups (one hidden layer), or None.
      width: hidden units per network; in_dim: input size; activation: its name (None: a model of your own).
      faces: ``(n,)`` linear pieces (one hidden layer), or None (then a bowl with k >= 3 is a pyramid).
      dead_layer: ``(n,)`` bool, every unit of some hidden layer dead (built-in MLP), or None.
      default_names: use the default task's names (pyramid, diamond, valley, wedge, bent_ramp, dead);
        None: wherever they apply (one hidden layer, positively homogeneous activation, <= 2 inputs).
    """
    rank = np.asarray(rank)
    n = rank.shape[0]
    spread = np.full(n, np.inf) if slope_spread is None else np.asarray(slope_spread)
    words = shape_words(rank, slope_balance, spread, thresholds)
    homogeneous = activation_properties(activation).positively_homogeneous
    applicable = n_significant is not None and homogeneous and in_dim <= 2
    if default_names is None:
        default_names = applicable
    if dead_layer is not None:
        words[np.asarray(dead_layer, bool) & (rank == 0)] = "dead"
    if not (default_names and applicable):
        return words
    k = np.asarray(n_significant)
    labels = np.char.add(
        np.char.add(np.char.add("rank", rank.astype(str)), np.char.add("-k", k.astype(str))), f"of{width}"
    )
    labels = labels.astype(object)
    face_count = np.full(n, 6) if faces is None else np.asarray(faces)
    bowl, fold = words == "bowl", words == "fold"
    labels[bowl & (k >= 3) & ((face_count >= 5) | (face_count < 0))] = "pyramid"
    labels[bowl & (k >= 3) & (face_count >= 0) & (face_count <= 4)] = "diamond"
    labels[fold] = "wedge"
    labels[words == "ridge"] = "valley"
    labels[(rank == 1) & np.isin(words, ("ramp", "kinked_ramp"))] = "bent_ramp"
    labels[(k <= 1) | (rank == 0)] = "dead"
    return labels


def _is_mlp(params: Params) -> bool:
    return (
        isinstance(params, (list, tuple))
        and len(params) >= 2
        and all(isinstance(p, dict) and "w" in p and np.ndim(p["w"]) == 3 for p in params)
    )


@functools.lru_cache(maxsize=32)
def _compiled_diagnostics(
    activation: str, leaky_slope: float, thresholds: Thresholds, mlp: bool, one_layer: bool, apply: Apply | None
) -> Callable:
    """``jit(vmap(diagnostics of one network))(params (n, ...), x, target_scale)``, compiled once per setting."""

    def one(params: Params, x: jax.Array, scale: jax.Array) -> dict[str, jax.Array]:
        params = jax.tree_util.tree_map(lambda leaf: leaf.astype(x.dtype), params)
        out = function_shape(params, x, activation, leaky_slope, thresholds, scale, apply)
        if mlp:
            out.update(layer_diagnostics(params, x, activation, leaky_slope, thresholds, out["flat"]))
        if one_layer:
            out.update(unit_diagnostics(params, x, activation, leaky_slope, thresholds, out["flat"]))
        return out

    return jax.jit(jax.vmap(one, in_axes=(0, None, None)))


def classify_networks(
    final_params: Params,
    x: np.ndarray,
    final_loss: np.ndarray,
    status: np.ndarray,
    activation: str = "relu",
    leaky_slope: float = 0.01,
    thresholds: Thresholds = Thresholds(),
    target_scale: float | None = None,
    recent_loss_drop: np.ndarray | None = None,
    chunk_size: int = 2048,
    *,
    apply: Apply | None = None,
    default_names: bool | None = None,
) -> dict[str, np.ndarray]:
    """Diagnose and label a batch of networks (leading axis n on every parameter leaf).

    Args:
      final_params: batched parameters; the built-in MLP's ``[{"w": (n, d, h), "b": (n, h)}, ..., output]``
        unless ``apply`` is given.
      x: ``(n_points, d)`` the inputs the function is looked at on.
      final_loss: ``(n,)``; status: ``(n,)`` int codes of :class:`landscape.vocabulary.Status`.
      activation, leaky_slope: the built-in MLP's hidden activation.
      thresholds: rule tolerances (:class:`Thresholds`).
      target_scale: the target's centred RMS; enables the "flat function" test.
      recent_loss_drop: ``(n,)`` relative loss decrease over the end of training
        (:func:`recent_loss_drop`); decides which max-steps networks are still moving.
      chunk_size: networks per compiled batch (bounds memory).
      apply: a model of your own, ``(params, x) -> predictions`` for one network: only the
        function's shape is computed (no unit diagnostics).
      default_names: see :func:`shape_labels` (None: wherever they apply).

    Returns:
      ``label (n,)`` str (outcome labels override the shape; ``not_run`` is kept), ``shape (n,)``
      str, ``gradient_rank (n,)``, ``gradient_spectrum (n, d)``, ``slope_balance (n, d)``,
      ``slope_spread (n,)``, ``function_rms (n,)``; for the built-in MLP ``layer_dead``,
      ``layer_significant (n, L)``, ``dead_layer (n,)``; for one hidden layer the per-unit arrays of
      :func:`unit_diagnostics` with a leading ``(n,)`` axis plus ``cause (n,)`` str
      ("k=3 of 3; dead 0, negligible 0, merged 0"); for deeper MLPs ``cause`` per layer.
    """
    from .batching import chunked_map

    x = jnp.asarray(x)
    leaves = jax.tree_util.tree_leaves(final_params)
    n = int(leaves[0].shape[0])
    mlp = apply is None and _is_mlp(final_params)
    if apply is None and not mlp:
        raise ValueError("classify_networks: parameters are not a built-in MLP's; pass the model's apply")
    one_layer = mlp and len(final_params) == 2
    scale = float(target_scale) if target_scale is not None else 0.0
    batched = _compiled_diagnostics(activation, float(leaky_slope), thresholds, mlp, one_layer, apply)
    # bound memory: the unit ablations hold (width, points, outputs) floats per network
    widest = max((int(np.shape(layer["w"])[-1]) for layer in final_params), default=1) if mlp else 1
    per_network = int(x.shape[0]) * (widest + int(x.shape[1]) + 1)
    chunk_size = int(np.clip(2**26 // max(per_network, 1), 1, chunk_size))
    clean = jax.tree_util.tree_map(lambda leaf: np.nan_to_num(np.asarray(leaf)), final_params)
    result = chunked_map(lambda chunk: batched(chunk, x, jnp.asarray(scale, x.dtype)), clean, chunk_size)
    result = {key: np.asarray(value) for key, value in result.items()}

    in_dim = int(x.shape[1])
    width = int(result["active_fraction"].shape[1]) if one_layer else None
    shape = shape_labels(
        result["gradient_rank"],
        result["slope_balance"],
        result.get("n_significant"),
        width,
        in_dim,
        activation if apply is None else None,
        thresholds,
        slope_spread=result["slope_spread"],
        faces=result.get("faces"),
        dead_layer=result.get("dead_layer"),
        default_names=default_names,
    )
    status = np.asarray(status)
    label = shape.copy()
    moving = (
        np.ones(n, bool) if recent_loss_drop is None else ~(np.asarray(recent_loss_drop) <= thresholds.still_improving)
    )
    label[(status == MAX_STEPS) & moving] = "unconverged"
    label[(status == int(Status.DIVERGED)) | ~np.isfinite(np.asarray(final_loss, float))] = "diverged"
    not_run = status == int(Status.NOT_RUN)
    label[not_run] = "not_run"  # never relabelled: a network that was not trained is not a diverged one
    shape[not_run] = "not_run"
    result["shape"] = shape.astype(str)
    result["label"] = label.astype(str)
    if one_layer:
        result["cause"] = np.array(
            [
                f"k={k} of {width}; dead {dd}, negligible {ng}, merged {mg}"
                for k, dd, ng, mg in zip(
                    result["n_significant"], result["n_dead"], result["n_negligible"], result["n_merged"]
                )
            ]
        )
    elif mlp:
        widths = result["layer_width"][0]
        result["cause"] = np.array(
            [
                "significant "
                + "/".join(map(str, s))
                + " of "
                + "/".join(map(str, widths))
                + "; dead "
                + "/".join(map(str, dd))
                for s, dd in zip(result["layer_significant"], result["layer_dead"])
            ]
        )
    return result


def recent_loss_drop(
    trajectory: np.ndarray,
    trajectory_steps: np.ndarray,
    final_loss: np.ndarray,
    total_steps: int,
    fraction: float = 0.2,
) -> np.ndarray:
    """``(n,)`` relative loss decrease over the last ``fraction`` of training.

    ``(loss at the last recorded step <= (1 - fraction) * total_steps - final_loss) / final_loss``,
    from the stored trajectory ``(n, n_record)`` at ``trajectory_steps (n_record,)``; NaN
    where that loss is not finite.
    """
    steps = np.asarray(trajectory_steps)
    column = max(int(np.searchsorted(steps, (1.0 - fraction) * total_steps, side="right")) - 1, 0)
    final_loss = np.asarray(final_loss, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.asarray(trajectory, dtype=float)[:, column] - final_loss) / np.abs(final_loss)


# ---------------------------------------------------------------------------------------------
# Teacher recovery.


def teacher_recovery(
    student_w: np.ndarray, student_b: np.ndarray, teacher_w: np.ndarray, teacher_b: np.ndarray
) -> dict[str, np.ndarray]:
    """Match each teacher unit to a student unit, per network (Hungarian method, Kuhn 1955).

    Units are compared by the direction of ``(w, b)`` (scale removed: the rescaling symmetry of
    positively homogeneous units); the cost is minus the cosine (scipy's ``linear_sum_assignment``).

    Args:
      student_w: ``(n, d, h)``, student_b: ``(n, h)``: a batch of students' first layers.
      teacher_w: ``(d, k)``, teacher_b: ``(k,)`` with ``k <= h``.

    Returns:
      ``match (n, k)``: student unit of each teacher unit; ``cosine (n, k)``; ``error (n,)``: mean
      over teacher units of ``|u_student - u_teacher|`` (unit directions; 0 = recovered, up to 2).
    """
    from scipy.optimize import linear_sum_assignment

    def directions(w: np.ndarray, b: np.ndarray) -> np.ndarray:  # (..., d, h), (..., h) -> (..., h, d + 1)
        both = np.concatenate([np.swapaxes(w, -1, -2), b[..., None]], axis=-1)
        norm = np.linalg.norm(both, axis=-1, keepdims=True)
        return both / np.where(norm > 0, norm, 1.0)

    teacher = directions(np.asarray(teacher_w, float), np.asarray(teacher_b, float))  # (k, d+1)
    students = directions(np.nan_to_num(np.asarray(student_w, float)), np.nan_to_num(np.asarray(student_b, float)))
    cosine_all = np.einsum("nhe,ke->nkh", students, teacher)  # (n, k, h)
    n, k, h = cosine_all.shape
    match = np.full((n, k), -1, np.int64)
    cosine = np.full((n, k), np.nan)
    if k > h:
        return {"match": match, "cosine": cosine, "error": np.full(n, np.nan)}
    for i in range(n):
        rows, cols = linear_sum_assignment(-cosine_all[i])
        match[i, rows] = cols
        cosine[i, rows] = cosine_all[i, rows, cols]
    error = np.mean(np.sqrt(np.maximum(2.0 - 2.0 * cosine, 0.0)), axis=1)
    return {"match": match, "cosine": cosine, "error": error}


# ---------------------------------------------------------------------------------------------
# Over the population: success splits, bimodality.


def split_by_success(labels: np.ndarray, final_loss: np.ndarray, success_loss: float | None) -> np.ndarray:
    """Labels with every shape whose members straddle success split: the failing ones ``<shape>_misfit``.

    Outcome labels (diverged, unconverged, not_run) and ``unclassified`` are left alone; nothing changes without a threshold.
    """
    labels = np.asarray(labels).astype(object)
    if success_loss is None:
        return labels.astype(str)
    loss = np.asarray(final_loss, float)
    success = np.isfinite(loss) & (loss < success_loss)
    for name in set(labels.tolist()) - set(OUTCOME_TYPES) - {"unclassified"}:
        members = labels == name
        if np.any(members & success) and np.any(members & ~success):
            labels[members & ~success] = name + MISFIT_SUFFIX
    return labels.astype(str)


def bimodality(values: np.ndarray, min_share: float = 0.05) -> dict[str, float] | None:
    """Two-means split of ``log10(values)`` (positive finite ones): Ashman's D and the two modes.

    Ashman's D = sqrt(2) |m1 - m2| / sqrt(s1^2 + s2^2) (Ashman, Bird & Zepf 1994, AJ 108); D > 2 is
    the usual threshold of a clean separation of two Gaussian modes. Returns None when fewer than
    20 values or a mode would hold less than ``min_share`` of them; else ``D``, ``low``, ``high``
    (geometric means of the modes), ``n_low``, ``n_high``, ``cut`` (the split value).
    """
    values = np.asarray(values, float)
    values = np.sort(values[np.isfinite(values) & (values > 0)])
    if values.size < 20:
        return None
    logs = np.log10(values)
    m = logs.size
    smallest = max(1, int(np.ceil(min_share * m)))
    cumulative = np.cumsum(logs)
    cumulative_sq = np.cumsum(logs**2)
    best, best_i = np.inf, -1
    for i in range(smallest, m - smallest + 1):  # left = logs[:i]
        left_var = cumulative_sq[i - 1] - cumulative[i - 1] ** 2 / i
        right_n = m - i
        right_sum = cumulative[-1] - cumulative[i - 1]
        right_var = (cumulative_sq[-1] - cumulative_sq[i - 1]) - right_sum**2 / right_n
        if left_var + right_var < best:
            best, best_i = left_var + right_var, i
    if best_i < 0:
        return None
    left, right = logs[:best_i], logs[best_i:]
    spread = np.sqrt(left.var() + right.var())
    distance = np.sqrt(2.0) * abs(right.mean() - left.mean()) / max(spread, 1e-12)
    return {
        "D": float(distance),
        "low": float(10 ** left.mean()),
        "high": float(10 ** right.mean()),
        "n_low": int(left.size),
        "n_high": int(right.size),
        "cut": float(10 ** (0.5 * (left[-1] + right[0]))),
    }


def bimodal_notes(
    labels: np.ndarray,
    names: list[str],
    final_loss: np.ndarray,
    lambda_max: np.ndarray | None = None,
    thresholds: Thresholds = Thresholds(),
    success_loss: float | None = None,
) -> list[str]:
    """Per type: a note when its final loss (or top Hessian eigenvalue) is bimodal, else ""."""
    notes = []
    labels = np.asarray(labels)
    loss = np.asarray(final_loss, float)
    if success_loss:
        loss = np.maximum(loss, 1e-3 * success_loss)  # perfect fits differ only by rounding
    for name in names:
        members = labels == name
        parts = []
        if name not in OUTCOME_TYPES:
            for what, values in (("final loss", loss), ("lambda_max", lambda_max)):
                if values is None:
                    continue
                found = bimodality(np.asarray(values, float)[members], thresholds.bimodal_share)
                if (
                    found is not None
                    and found["D"] > thresholds.bimodal
                    and found["high"] >= thresholds.bimodal_ratio * found["low"]
                ):
                    parts.append(
                        f"bimodal {what} (Ashman D {found['D']:.1f}): {found['n_low']} near {found['low']:.2g}, "
                        f"{found['n_high']} near {found['high']:.2g}"
                    )
        notes.append("; ".join(parts))
    return notes


# ---------------------------------------------------------------------------------------------
# Summaries.


def type_summary(
    labels: np.ndarray,
    final_loss: np.ndarray,
    names: list[str] | None = None,
    confidence: float = 0.95,
    causes: np.ndarray | None = None,
    *,
    success_loss: float | None = None,
    r_squared: np.ndarray | None = None,
    function_rms: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per type: count, fraction, Wilson CI, loss min/median/max, success, R² and a representative.

    Fractions are over all the networks in ``labels`` (pass only the finished ones). The
    representative is :func:`landscape.vocabulary.representative_index` (final loss nearest the
    type's median among its most common cause); with ``function_rms`` (n,), members whose function
    is nearly constant (RMS below a tenth of the type's median) are not candidates of a
    non-constant type. ``success`` is the fraction of members below ``success_loss`` (NaN without
    one); ``r_squared`` the members' median R² (NaN without one).
    """
    labels = np.asarray(labels)
    final_loss = np.asarray(final_loss, dtype=float)
    names = names if names is not None else ordered_type_names(labels)
    n = labels.shape[0]
    counts = np.array([np.sum(labels == t) for t in names], dtype=np.int64)
    low, high = wilson_interval(counts, n, confidence) if n else (np.zeros(len(names)), np.zeros(len(names)))
    loss_min, loss_median, loss_max, success, r2 = (np.full(len(names), np.nan) for _ in range(5))
    representative = np.full(len(names), -1, dtype=np.int64)
    for i, t in enumerate(names):
        members = np.flatnonzero(labels == t)
        finite = members[np.isfinite(final_loss[members])]
        if finite.size:
            losses = final_loss[finite]
            loss_min[i], loss_median[i], loss_max[i] = losses.min(), np.median(losses), losses.max()
        if members.size and success_loss is not None:
            success[i] = np.mean(np.isfinite(final_loss[members]) & (final_loss[members] < success_loss))
        if finite.size and r_squared is not None and t not in ("diverged", "not_run"):
            r2[i] = np.median(np.asarray(r_squared)[finite])
        candidates = members
        if function_rms is not None and t not in ("constant", "dead", *OUTCOME_TYPES) and finite.size:
            rms = np.asarray(function_rms, float)[finite]
            lively = finite[rms >= 0.1 * np.median(rms)]
            candidates = lively if lively.size else members
        representative[i] = representative_index(candidates, final_loss, causes)
    return {
        "names": np.array(names, dtype=str),
        "count": counts,
        "fraction": counts / max(n, 1),
        "ci_low": low,
        "ci_high": high,
        "loss_min": loss_min,
        "loss_median": loss_median,
        "loss_max": loss_max,
        "success": success,
        "r_squared": r2,
        "representative": representative,
        "confidence": np.float64(confidence),
    }


def typical_causes(labels: np.ndarray, causes: np.ndarray, names: list[str]) -> list[str]:
    """The most common cause string of each type ("" where there is none)."""
    out = []
    for t in names:
        members = np.asarray(causes)[np.asarray(labels) == t]
        if members.size == 0:
            out.append("")
            continue
        values, counts = np.unique(members, return_counts=True)
        top = values[np.argmax(counts)]
        share = counts.max() / members.size
        out.append(f"{top}" + ("" if share == 1 else f" ({share:.0%})"))
    return out


def format_type_table(
    summary: dict[str, np.ndarray], causes: list[str] | None = None, notes: list[str] | None = None
) -> str:
    """The table ``landscape classify`` prints: type, count, fraction, CI, loss range, success, R², cause, note."""
    conf = float(summary["confidence"])
    has_success = "success" in summary and np.any(np.isfinite(summary["success"]))
    has_r2 = "r_squared" in summary and np.any(np.isfinite(summary["r_squared"]))
    width = max([12, *(len(str(t)) for t in summary["names"])])
    head = f"  {'type':<{width}} {'count':>7} {'fraction':>9}  {f'{conf:.0%} CI (Wilson)':<17} {'final loss min .. median .. max':<34}"
    head += f" {'success':>8}" if has_success else ""
    head += f" {'R²':>7}" if has_r2 else ""
    if causes is not None:
        head += "  typical cause"
    lines = [head]
    for i, name in enumerate(summary["names"]):
        ci = f"[{summary['ci_low'][i]:.3f}, {summary['ci_high'][i]:.3f}]"
        loss = (
            f"{summary['loss_min'][i]:.2e} .. {summary['loss_median'][i]:.2e} .. {summary['loss_max'][i]:.2e}"
            if np.isfinite(summary["loss_min"][i])
            else "n/a"
        )
        line = f"  {name:<{width}} {int(summary['count'][i]):>7} {summary['fraction'][i]:>9.3f}  {ci:<17} {loss:<34}"
        if has_success:
            value = summary["success"][i]
            line += f" {value:>8.1%}" if np.isfinite(value) else f" {'n/a':>8}"
        if has_r2:
            value = summary["r_squared"][i]
            line += f" {value:>7.3f}" if np.isfinite(value) else f" {'n/a':>7}"
        if causes is not None:
            line += f"  {causes[i]}"
        if notes is not None and notes[i]:
            line += f"  [{notes[i]}]"
        lines.append(line)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# A whole run: from its problem to types, teacher recovery, clusters.


def _hessian_lambda_max(run: Any) -> np.ndarray | None:
    """``(n_inits,)`` top Hessian eigenvalue per network from a ``/hessian`` group, or None."""
    if not run.has("hessian"):
        return None
    group = run._file["hessian"]
    if "max_eigenvalue" in group:
        values = np.asarray(group["max_eigenvalue"][()], float)
    elif "top_eigenvalues" in group:
        values = np.asarray(group["top_eigenvalues"][()], float)[:, 0]
    elif "eigenvalues" in group and group["eigenvalues"].ndim == 2:
        values = np.nanmax(np.asarray(group["eigenvalues"][()], float), axis=1)
    else:
        return None
    return values if values.shape == (run.n_inits,) else None


def classify_problem(
    problem: Any,
    final_params: Params,
    final_loss: np.ndarray,
    status: np.ndarray,
    recent_drop: np.ndarray | None = None,
    thresholds: Thresholds = Thresholds(),
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Types of a batch of networks of one :class:`~landscape.problem.Problem`.

    Returns ``(result, skipped)``: the arrays of :func:`classify_networks` (labels split by success,
    see :func:`split_by_success`), plus ``success (n,)`` bool; and one line per analysis that did
    not apply, saying why. Without an apply function, only outcome labels and ``unclassified``.
    """
    from .problem import function_reason, mlp_reason, unit_reason

    status = np.asarray(status)
    final_loss = np.asarray(final_loss, float)
    n = status.shape[0]
    skipped: list[str] = []
    reason = function_reason(problem)
    if reason is not None:
        skipped.append(f"shape types skipped: {reason}")
        label = np.full(n, "unclassified", dtype=object)
        label[(status == MAX_STEPS)] = "unconverged"
        label[(status == int(Status.DIVERGED)) | ~np.isfinite(final_loss)] = "diverged"
        label[status == int(Status.NOT_RUN)] = "not_run"
        result = {"label": label.astype(str), "shape": label.astype(str)}
    else:
        mlp = mlp_reason(problem)
        if mlp is not None:
            skipped.append(f"unit diagnostics (dead / significant units, default names) skipped: {mlp}")
        elif (units := unit_reason(problem)) is not None:
            skipped.append(f"canonical units, faces and the default task's names skipped: {units}")
        x = np.asarray(problem.inputs(), np.dtype(problem.dtype))
        y = np.asarray(problem.y)
        target_scale = float(np.sqrt(np.sum(np.var(y.reshape(y.shape[0], -1), axis=0)))) if y.size else None
        if target_scale is None:
            skipped.append("flat-function test skipped: no targets to scale it (the run has no dataset)")
        study = problem.study
        default = study.task.name == DEFAULT_TASK
        result = classify_networks(
            final_params,
            x,
            final_loss,
            status,
            study.model.activation,
            study.model.leaky_slope,
            thresholds,
            target_scale=target_scale,
            recent_loss_drop=recent_drop,
            apply=None if mlp is None else problem.model.apply,
            default_names=default,
        )
        if mlp is None and not default:
            skipped.append(
                f"task {study.task.name!r}: shape words (ridge, fold, bowl, ...), not the default task's names"
            )
    success_loss = problem.success_loss
    result["label"] = split_by_success(result["label"], final_loss, success_loss)
    result["success"] = (
        np.isfinite(final_loss) & (final_loss < success_loss) if success_loss is not None else np.zeros(n, bool)
    )
    return result, skipped


def classify_run(
    run: Any,
    thresholds: Thresholds = Thresholds(),
    cluster: bool = True,
    sample_size: int = 3000,
    n_clusters: int | None = None,
    max_clusters: int = 12,
    n_probe: int = 256,
    param_weight: float = 0.5,
    seed: int = 0,
    confidence: float = 0.95,
    *,
    finished_only: bool = False,
    problem: Any = None,
    model: Any = None,
    loss_fn: Any = None,
) -> TypesResult:
    """Rule-based types of every finished network of a run, plus (optionally) rule-free clusters.

    Reads the run; writes nothing (``.write(path)`` of the result stores it as ``/types``, as
    ``landscape classify`` does). ``problem``: the run's :class:`~landscape.problem.Problem`
    (default :func:`landscape.problem.problem_of` with ``model`` / ``loss_fn``, which a run trained
    from Python objects needs).

    Raises:
      IncompleteRun: the run is incomplete and ``finished_only`` is off (one line).

    Returns:
      a :class:`TypesResult`: per network the labels of :func:`classify_problem` (unfinished ones
      ``not_run``) and its stored diagnostics, per type :func:`type_summary` over the finished
      networks (with typical causes, bimodality notes and networks at the step limit), teacher
      recovery on teacher tasks, and with ``cluster`` the rule-free clusters (or a line in ``skipped``).
    """
    from .problem import problem_of, unit_reason
    from .runner import x64_scope
    from .storage import finished_networks, partial_note

    started = time.perf_counter()
    problem = problem_of(run, model=model, loss_fn=loss_fn) if problem is None else problem
    study = run.study
    finished = finished_networks(run, finished_only)
    final_loss, status = np.asarray(run.final_loss, float), np.asarray(run.status)
    params = run.final_params
    drop = recent_loss_drop(run.trajectory, run.trajectory_steps, final_loss, study.train.steps)
    with x64_scope(study):
        result, skipped = classify_problem(problem, params, final_loss, status, drop, thresholds)
    labels = result["label"]
    chosen = np.flatnonzero(finished)
    names = ordered_type_names(labels[chosen])
    r_squared = problem.r_squared(final_loss)
    causes = result.get("cause")
    summary = type_summary(
        labels[chosen],
        final_loss[chosen],
        names,
        confidence,
        causes[chosen] if causes is not None else None,
        success_loss=problem.success_loss,
        r_squared=r_squared[chosen] if r_squared is not None else None,
        function_rms=result["function_rms"][chosen] if "function_rms" in result else None,
    )
    summary["representative"] = np.where(summary["representative"] >= 0, chosen[summary["representative"]], -1)
    summary["max_steps"] = np.array([np.sum((labels[chosen] == t) & (status[chosen] == MAX_STEPS)) for t in names])
    if causes is not None:
        summary["typical_cause"] = np.array(typical_causes(labels[chosen], causes[chosen], names), dtype=str)
    lambda_max = _hessian_lambda_max(run)
    notes = bimodal_notes(
        labels[chosen],
        names,
        final_loss[chosen],
        lambda_max[chosen] if lambda_max is not None else None,
        thresholds,
        problem.success_loss,
    )
    summary["note"] = np.array(notes, dtype=str)
    teacher = None
    if study.task.name == "teacher":
        reason = unit_reason(problem)
        if reason is None:
            from .tasks import teacher_weights

            teacher_w, teacher_b, _ = teacher_weights(study.task)
            first = params[0]
            student_b = first["b"] if "b" in first else np.zeros(first["w"].shape[::2])
            teacher = teacher_recovery(first["w"], student_b, teacher_w, teacher_b)
            teacher["error"][~finished] = np.nan
        else:
            skipped.append(f"teacher recovery skipped: {reason}")
    clusters, attrs = None, {"method": METHOD}
    if cluster:
        clusters, found = _cluster_types(
            result,
            skipped,
            problem,
            params,
            final_loss,
            status,
            finished,
            names,
            sample_size,
            n_clusters,
            max_clusters,
            n_probe,
            param_weight,
            seed,
        )
        attrs.update(found)
    networks, units = _stored_diagnostics(result)
    attrs["seconds"] = time.perf_counter() - started
    return TypesResult(
        labels=result["label"],
        shapes=result["shape"],
        finished=np.asarray(finished, bool),
        summary=summary,
        networks=networks,
        units=units,
        teacher=teacher,
        clusters=clusters,
        skipped=skipped,
        success_rule=problem.success_rule(),
        partial=partial_note(run, finished),
        thresholds=thresholds,
        attrs=attrs,
        problem=problem,
    )


def _stored_diagnostics(result: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """The per-network and per-unit arrays of :func:`classify_problem` that ``/types`` keeps, in their stored dtypes."""
    networks: dict[str, np.ndarray] = {}
    if "success" in result:
        networks["success"] = np.asarray(result["success"], bool)
    for key in ("gradient_rank", "faces"):
        if key in result:
            networks[key] = result[key].astype(np.int8)
    for key in NETWORK_ARRAYS:
        if key in result:
            networks[key] = result[key]
    if "cause" in result:
        networks["cause"] = np.asarray(result["cause"], dtype=str)
    if "active_fraction" not in result:
        return networks, None
    for key in UNIT_COUNTS:
        networks[key] = result[key].astype(np.int8)
    return networks, {key: result[key] for key in UNIT_ARRAYS}


def _cluster_types(
    result: dict[str, np.ndarray],
    skipped: list[str],
    problem: Any,
    params: Params,
    final_loss: np.ndarray,
    status: np.ndarray,
    finished: np.ndarray,
    names: list[str],
    sample_size: int,
    n_clusters: int | None,
    max_clusters: int,
    n_probe: int,
    param_weight: float,
    seed: int,
) -> tuple[dict[str, np.ndarray] | None, dict[str, Any]]:
    """Rule-free clusters of the finished, not diverged networks: ``(/types/clusters arrays, attrs)``,
    or ``(None, {})`` with a line added to ``skipped``."""
    from . import clustering
    from .problem import function_reason, mlp_reason
    from .runner import x64_scope

    usable = finished & np.isfinite(final_loss) & (status != int(Status.DIVERGED))
    chosen = np.flatnonzero(usable)
    flat = np.concatenate(
        [np.asarray(leaf).reshape(leaf.shape[0], -1) for leaf in jax.tree_util.tree_leaves(params)], axis=1
    )[chosen]
    distinct = np.unique(np.round(flat[np.all(np.isfinite(flat), axis=1)], 10), axis=0).shape[0] if chosen.size else 0
    if distinct < 2:
        skipped.append(
            f"clustering skipped: fewer than 2 distinct finished, finite networks ({distinct} of {finished.size})"
        )
        return None, {}
    subset = jax.tree_util.tree_map(lambda leaf: np.asarray(leaf)[chosen], params)
    canonical = result.get("canonical")
    if function_reason(problem) is None:
        probe = clustering.probe_points(problem.inputs(), n_probe, seed)
        predict = None if mlp_reason(problem) is None else problem.model.apply
        with x64_scope(problem.study):
            features = clustering.minima_features(
                subset,
                probe,
                problem.activation or "relu",
                problem.study.model.leaky_slope,
                canonical=canonical[chosen] if canonical is not None else None,
                param_weight=param_weight,
                seed=seed,
                predict=predict,
            )
        embedding = f"predictions on {probe.shape[0]} probe inputs (RMS distance)" + (
            f" + canonical parameters (weight {param_weight})" if canonical is not None else ""
        )
    else:
        features = clustering.parameter_features(subset, final_loss[chosen], seed=seed)
        embedding = "raw parameters and log final loss (the model has no apply function)"
        skipped.append(f"clustering on predictions skipped: {function_reason(problem)}; parameters used")
    with x64_scope(problem.study):  # the features are computed here, in the study's dtype
        found = clustering.cluster_minima(
            features, chosen.size, sample_size=sample_size, n_clusters=n_clusters, max_clusters=max_clusters, seed=seed
        )
    table = clustering.cluster_summary(found.assignment, final_loss[chosen], result["label"][chosen], names)
    assignment = np.full(finished.size, -1, np.int32)
    assignment[chosen] = found.assignment
    distance = np.full(finished.size, np.nan)
    distance[chosen] = found.distance
    left_out = int(finished.sum() - chosen.size)
    embedding += f"; {left_out} diverged networks left out (cluster -1)" if left_out else ""
    arrays = {
        "assignment": assignment,
        "distance": distance,
        "centroids": found.centroids,
        "medoid": chosen[found.medoids],
        "sample": chosen[found.sample],
        "linkage": found.linkage,
        "type_names": np.array(names, dtype=str),
        **table,
    }
    attrs = {
        "clusters_method": found.description + EMBEDDING_SEPARATOR + embedding,
        "adjusted_rand_index": float(clustering.adjusted_rand_index(table["contingency"])),
        "cluster_purity": clustering.purity(table["contingency"]),
    }
    return arrays, attrs


# ---------------------------------------------------------------------------------------------
# The result, and the run file's ``types`` group.

NETWORK_ARRAYS = (
    "gradient_spectrum",
    "slope_balance",
    "slope_spread",
    "function_rms",
    "layer_dead",
    "layer_significant",
)  # per-network floats and per-layer counts, stored as computed
UNIT_COUNTS = ("n_significant", "n_dead", "n_negligible", "n_merged", "n_linear")  # (n,) int8 (one hidden layer)
UNIT_ARRAYS = ("active_fraction", "significance", "direction", "offset", "amplitude", "group", "category", "order")
EMBEDDING_SEPARATOR = "; embedding: "  # clusters_method = "<how it clustered>; embedding: <what it embedded>"
METHOD = (
    "rule-based: rank, slope balance and slope spread of the input-gradient covariance over the inputs; "
    "for the built-in MLP dead and significant units per layer; for one hidden layer the canonical form "
    "(merged groups and always-active units counted once) and faces; see landscape.solutions"
)
_OWN_ATTRS = ("label_names", "unit_categories", "thresholds", "success_rule", "skipped", "partial")


@dataclass(eq=False)
class TypesResult:
    """Solution types of a run's networks: what ``landscape classify`` stores in ``/types``.

    Attributes (the group's datasets and attributes, leading axis ``n_inits`` per network):
      labels: ``(n,)`` str type of every network (stored as codes ``label`` into attr ``label_names``);
        ``not_run`` for networks whose chunk was never trained.
      shapes: ``(n,)`` str shape of the learned function, whatever the outcome (``shape``).
      finished: ``(n,)`` bool, the networks the summary counts (all of them on a complete run).
      summary: per type (``summary/``, rows in table order): ``names``, ``count``, ``fraction``,
        ``ci_low``, ``ci_high`` (Wilson, at ``confidence``), ``loss_min``, ``loss_median``,
        ``loss_max``, ``success``, ``r_squared``, ``representative`` (network index, -1: none),
        ``confidence`` (scalar), ``max_steps`` (members that ran out of steps on a plateau),
        ``typical_cause`` (models with unit diagnostics), ``note`` (bimodality, "" if none).
      networks: per-network diagnostics at the group's top level: ``success`` bool, ``gradient_rank``,
        ``faces`` int8, ``gradient_spectrum``, ``slope_balance`` ``(n, d)``, ``slope_spread``,
        ``function_rms``, built-in MLP: ``layer_dead``, ``layer_significant`` ``(n, L)``, ``cause``
        str; one hidden layer: ``n_significant``, ``n_dead``, ``n_negligible``, ``n_merged``,
        ``n_linear`` int8. Absent what does not apply to the model (see ``skipped``).
      units: one hidden layer: ``units/`` ``active_fraction``, ``significance``, ``direction``,
        ``offset``, ``amplitude``, ``group``, ``category`` (codes of ``UNIT_CATEGORIES``), ``order``,
        each ``(n, h, ...)`` (:func:`unit_diagnostics`); else None.
      teacher: teacher tasks: ``teacher/`` ``match``, ``cosine`` ``(n, k)``, ``error (n,)``; else None.
      clusters: rule-free clusters ``clusters/``: ``assignment (n,)`` int32 (-1: left out),
        ``distance``, ``centroids``, ``medoid``, ``sample``, ``linkage``, ``type_names``, ``size``,
        ``loss_min``, ``loss_median``, ``loss_max``, ``contingency (k, n_types)``; else None.
      skipped: one line per analysis that did not apply, and why (attr ``skipped``).
      success_rule: one line (attr). partial: one line when only finished networks were used, else None.
      thresholds: the :class:`Thresholds` used (attr, JSON).
      attrs: the other attributes: ``method`` (one line), ``seconds``; with clusters ``clusters_method``,
        ``adjusted_rand_index``, ``cluster_purity``.
      training_state: the stamp of a stored group (None for a fresh result; see ``Run.analysis_state``).
      problem: the run's :class:`~landscape.problem.Problem` (fresh results only; not stored).
    """

    labels: np.ndarray
    shapes: np.ndarray
    finished: np.ndarray
    summary: dict[str, np.ndarray]
    networks: dict[str, np.ndarray] = field(default_factory=dict)
    units: dict[str, np.ndarray] | None = None
    teacher: dict[str, np.ndarray] | None = None
    clusters: dict[str, np.ndarray] | None = None
    skipped: list[str] = field(default_factory=list)
    success_rule: str = ""
    partial: str | None = None
    thresholds: Thresholds = Thresholds()
    attrs: dict[str, Any] = field(default_factory=dict)
    training_state: str | None = None
    problem: Any = field(default=None, repr=False)

    # ---- per type
    @property
    def names(self) -> list[str]:
        """Type names in table order."""
        return [str(t) for t in self.summary["names"]]

    @property
    def n_counted(self) -> int:
        """Networks the summary counts (the finished ones)."""
        return int(np.sum(self.summary["count"]))

    @property
    def confidence(self) -> float:
        return float(self.summary.get("confidence", 0.95))

    @property
    def fractions(self) -> dict[str, tuple[float, float, float]]:
        """Type -> ``(fraction, ci_low, ci_high)`` of the finished networks (Wilson interval at :attr:`confidence`)."""
        s = self.summary
        return {
            name: (float(s["fraction"][i]), float(s["ci_low"][i]), float(s["ci_high"][i]))
            for i, name in enumerate(self.names)
        }

    @property
    def representatives(self) -> dict[str, int]:
        """Type -> its representative network (types without one left out)."""
        return {name: int(i) for name, i in zip(self.names, self.summary["representative"]) if i >= 0}

    @property
    def causes(self) -> list[str] | None:
        """The most common cause of each type (models with unit diagnostics), else None."""
        causes = self.summary.get("typical_cause")
        return None if causes is None else [str(c) for c in causes]

    @property
    def type_notes(self) -> list[str] | None:
        """Per type: the bimodality note ("" when none)."""
        notes = self.summary.get("note")
        return None if notes is None else [str(n) for n in notes]

    @property
    def max_steps(self) -> np.ndarray:
        """Per type: members that ran out of steps on a plateau (labelled by shape)."""
        return np.asarray(self.summary.get("max_steps", np.zeros(len(self.names), np.int64)))

    # ---- per network
    @property
    def finished_labels(self) -> np.ndarray:
        """``(n_finished,)`` labels of the networks the summary counts."""
        return self.labels[self.finished]

    @property
    def notes(self) -> list[str]:
        """One line each: the partial-run note, then what was skipped for this model and why."""
        return ([self.partial] if self.partial else []) + list(self.skipped)

    # ---- clusters
    @property
    def adjusted_rand(self) -> float | None:
        """Agreement of the clusters with the types (None without clusters)."""
        value = self.attrs.get("adjusted_rand_index")
        return None if value is None else float(value)

    @property
    def cluster_description(self) -> str:
        return str(self.attrs.get("clusters_method", "")).split(EMBEDDING_SEPARATOR, 1)[0]

    @property
    def embedding(self) -> str:
        parts = str(self.attrs.get("clusters_method", "")).split(EMBEDDING_SEPARATOR, 1)
        return parts[1] if len(parts) == 2 else ""

    def format_table(self) -> str:
        """The table ``landscape classify`` prints (:func:`format_type_table`)."""
        return format_type_table(self.summary, self.causes, self.type_notes)

    # ---- storage
    def group_arrays(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The ``/types`` group's arrays and attributes."""
        names = self.names
        all_names = names + [
            t for t in ordered_type_names(np.concatenate([self.labels, self.shapes])) if t not in names
        ]
        code = {t: i for i, t in enumerate(all_names)}
        small = np.int8 if len(all_names) < 127 else np.int16
        arrays: dict[str, Any] = {
            "label": np.array([code[t] for t in self.labels], dtype=small),
            "shape": np.array([code[t] for t in self.shapes], dtype=small),
            "finished": np.asarray(self.finished, bool),
            "summary": dict(self.summary),
            **self.networks,
        }
        for key in ("units", "teacher", "clusters"):
            if getattr(self, key) is not None:
                arrays[key] = dict(getattr(self, key))
        attrs = {
            "label_names": all_names,
            "unit_categories": list(UNIT_CATEGORIES),
            "thresholds": asdict(self.thresholds),
            "success_rule": self.success_rule,
            "skipped": list(self.skipped),
            "method": METHOD,
            **self.attrs,
        }
        if self.partial:
            attrs["partial"] = self.partial
        if self.training_state is not None:  # a group read back keeps what it was computed from
            attrs["training_state"] = self.training_state
        return arrays, attrs

    def write(self, path: Any) -> None:
        """Store as the run file's ``/types`` group (atomically, stamped with the training state)."""
        from .storage import write_group

        arrays, attrs = self.group_arrays()
        write_group(path, "types", arrays, attrs)

    @classmethod
    def read(cls, run: Any) -> TypesResult | None:
        """The stored ``/types`` group of a run (or a path), or None when the run is not classified.

        Raises:
          RunFileError: the group lacks its labels or summary (one line naming the command that recomputes it).
        """
        from .points import group_attrs, opened
        from .storage import RunFileError

        with opened(run) as run:
            if not run.has("types"):
                return None
            arrays = _datasets(run._file["types"])
            attrs = group_attrs(run, "types")
            path = run.path
        present = {*arrays, *(f"summary/{key}" for key in arrays.get("summary", {})), *attrs}
        missing = [key for key in ("label", "summary/names", "label_names") if key not in present]
        if missing:
            raise RunFileError(
                f"{path}: damaged 'types' group (no {', '.join(missing)}); recompute it with: landscape classify {path}"
            )
        names = np.array(attrs.pop("label_names"), dtype=str)
        labels = names[arrays.pop("label").astype(np.int64)]
        shapes = names[arrays.pop("shape").astype(np.int64)] if "shape" in arrays else labels.copy()
        finished = np.asarray(arrays.pop("finished", np.ones(labels.size, bool)), bool)
        parts = {key: arrays.pop(key, None) for key in ("summary", "units", "teacher", "clusters")}
        known = {f.name for f in dataclasses_fields(Thresholds)}
        thresholds = Thresholds(**{k: v for k, v in dict(attrs.pop("thresholds", {})).items() if k in known})
        own = {key: attrs.pop(key, None) for key in _OWN_ATTRS}
        skipped = own["skipped"] or []
        training_state = attrs.pop("training_state", None)
        return cls(
            labels=labels,
            shapes=shapes,
            finished=finished,
            summary=parts["summary"],
            networks={k: v for k, v in arrays.items() if not isinstance(v, dict)},
            units=parts["units"],
            teacher=parts["teacher"],
            clusters=parts["clusters"],
            skipped=[skipped] if isinstance(skipped, str) else [str(line) for line in skipped],
            success_rule=str(own["success_rule"] or ""),
            partial=own["partial"] or None,
            thresholds=thresholds,
            attrs=attrs,
            training_state=None if training_state is None else str(training_state),
        )


def _datasets(group: Any) -> dict[str, Any]:
    """The datasets of an HDF5 group, nested as dicts (strings as ``str`` arrays; attributes left out)."""
    import h5py

    out: dict[str, Any] = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _datasets(item)
        elif h5py.check_string_dtype(item.dtype) is not None or item.dtype.kind == "O":
            out[key] = np.asarray(item.asstr()[()], dtype=str)
        else:
            out[key] = item[()]
    return out


def type_labels(run: Any) -> np.ndarray:
    """``(n_inits,)`` str type of every network, from the run file's ``types`` group."""
    if not run.has("types"):
        raise KeyError(f"{run.path}: no 'types' group; run `landscape classify {run.path}` first")
    group = run._file["types"]
    names = np.array(json.loads(group.attrs["label_names"]), dtype=str)
    return names[group["label"][()].astype(np.int64)]


def type_representatives(run: Any) -> dict[str, int]:
    """A representative network index per type present (see :func:`type_summary`)."""
    if not run.has("types"):
        raise KeyError(f"{run.path}: no 'types' group; run `landscape classify {run.path}` first")
    summary = run._file["types/summary"]
    names = summary["names"].asstr()[()]
    representative = summary["representative"][()]
    return {str(t): int(i) for t, i in zip(names, representative) if i >= 0}


# ---------------------------------------------------------------------------------------------
# What the figures draw.


def function_on_grid(
    params: Params,
    activation: str = "relu",
    leaky_slope: float = 0.01,
    low: float = -1.0,
    high: float = 1.0,
    resolution: int = 61,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One 2-input MLP's first output on a square grid: ``(g0, g1, f)``, each ``(res, res)``."""
    axis = np.linspace(low, high, resolution)
    g0, g1 = np.meshgrid(axis, axis)
    points = np.stack([g0.ravel(), g1.ravel()], axis=1)
    act = activation_function(activation, leaky_slope)
    values = np.asarray(
        mlp_apply(jax.tree_util.tree_map(jnp.asarray, params), jnp.asarray(points), act, scalar_output=False)
    )
    return g0, g1, values[:, 0].reshape(g0.shape)


def representative_panels(
    run: Any,
    names: Any,
    representatives: Any,
    category: np.ndarray,
    active_fraction: np.ndarray,
    cause: np.ndarray | None = None,
    resolution: int = 61,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """What the type figures draw for each type's representative (two-input, one-hidden-layer MLPs).

    Args:
      run: a :class:`~landscape.storage.Run` (its data, study and final parameters are read).
      names, representatives: type names and one network index per type (-1: none).
      category: ``(n, h)`` unit category codes (see ``UNIT_CATEGORIES``); active_fraction: ``(n, h)``.
      cause: optional ``(n,)`` cause strings for the panel titles.

    Returns:
      ``(target, surfaces, weights)``: the target's panel ``{"title", "g0", "g1", "f"}``, and per type
      a surface panel (adds the units' ``w``, ``b``, ``dead``) and a unit-diagram panel
      (``w``, ``b``, output weights ``a``, ``active_fraction``, ``category`` names), as
      :mod:`landscape.plots.types` takes them. On a teacher task every contour panel also has
      ``teacher_w (2, k)`` and ``teacher_b (k,)``: the teacher's hyperplanes.
    """
    from .tasks import target_function, teacher_weights

    study = run.study
    x = run.x
    low, high = float(np.min(x)), float(np.max(x))
    g0, g1 = np.meshgrid(np.linspace(low, high, resolution), np.linspace(low, high, resolution))
    target_values = np.asarray(target_function(study.task)(np.stack([g0.ravel(), g1.ravel()], axis=1)))
    first_output = (
        target_values.reshape(-1, *g0.shape)[0] if target_values.size != g0.size else target_values.reshape(g0.shape)
    )
    target = {"title": f"target: {study.task.name}", "g0": g0, "g1": g1, "f": first_output}
    teacher = {}
    if study.task.name == "teacher":
        teacher_w, teacher_b, _ = teacher_weights(study.task)
        teacher = {"teacher_w": np.asarray(teacher_w), "teacher_b": np.asarray(teacher_b)}
        target.update(teacher)
    loss = run.final_loss
    surfaces, weights = [], []
    for name, index in zip(names, representatives):
        index = int(index)
        if index < 0 or name in OUTCOME_TYPES or not np.isfinite(loss[index]):
            continue
        params = run.params("final", index)
        _, _, values = function_on_grid(params, study.model.activation, study.model.leaky_slope, low, high, resolution)
        title = f"{name}: net {index}, loss {loss[index]:.2e}" + (f"\n{cause[index]}" if cause is not None else "")
        w = np.asarray(params[0]["w"])
        b = np.asarray(params[0]["b"]) if "b" in params[0] else np.zeros(w.shape[1])
        roles = [UNIT_CATEGORIES[int(c)] for c in category[index]]
        surfaces.append(
            {
                "title": title,
                "g0": g0,
                "g1": g1,
                "f": values,
                "w": w,
                "b": b,
                "dead": np.array([r == "dead" for r in roles]),
                **teacher,
            }
        )
        weights.append(
            {
                "title": title,
                "w": w,
                "b": b,
                "a": np.asarray(params[-1]["w"])[:, 0],
                "active_fraction": active_fraction[index],
                "category": roles,
            }
        )
    return target, surfaces, weights
