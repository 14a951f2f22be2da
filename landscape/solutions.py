"""Solution types: what each trained network's minimum *is*, read off the learned function.

The seed's question (``../shared/seed.md``): a 2-3-1 ReLU network learning ``|x|`` ends up
either as the inverted hexagonal *pyramid*, as a *valley* (a ridge ``|u.x|`` from two
opposite units) or with dead units. This module says which, for every network, and why.

**Neuron diagnostics** (one hidden layer ``x -> act(x W + b) A + c``; per hidden unit j):

- ``active_fraction``: share of data points where the pre-activation ``x.w_j + b_j > 0``;
  a unit is *dead* when it is 0 (ReLU-like activations only: there the unit is then
  constant, gets no gradient and never recovers).
- ``significance``: the RMS over the data of the unit's centred contribution
  ``act(z_j(x)) a_j``, divided by the RMS of the centred function: how much the function
  changes if the unit is removed and the output bias refitted. Being active on a handful
  of points does not make a unit significant.
- canonical form, removing the symmetries of the network: positive rescaling
  ``(w, b, a) -> (c w, c b, a / c)`` (ReLU-like activations only) gives direction
  ``w/|w|``, signed offset ``b/|w|`` and amplitude ``a |w|``; hidden-unit permutation is
  removed by sorting units (significant first, then by the angle of their direction).
- *merged* units: live units whose canonical hyperplanes coincide (direction and offset
  within ``merge_tol``); a merged group acts as one unit with the summed amplitude.
- ``n_significant``: distinct significant live units (merged groups counted once), and the
  causes for the rest: ``n_dead``, ``n_negligible`` (live but contributing little, e.g. a
  ~0 output weight), ``n_merged`` (absorbed into another unit's group).

**Shape of the function**: ``G = mean_x J(x)^T J(x)``, the input-gradient covariance over
the data (the "active subspace" matrix of Constantine, Dow & Wang 2014); its *rank* is the
number of eigenvalues above ``rank_tol * trace(G)``. A ridge function of one projection
``u.x`` has rank 1; the pyramid has rank 2; a constant has rank 0.

**Labels** (one hidden layer, ReLU-like activation, input size 1 or 2 — the seed's setting).
``k`` counts significant live units (merged groups once); "two-sided" means the slope along a
principal direction of ``G`` takes both signs (a V or a bowl), "one-sided" a ramp:

=============  =================================================================
``pyramid``    rank 2, two-sided along both directions, k >= 3: the inverted
               hexagonal pyramid (and its 4-faced variant with a linear unit)
``wedge``      rank 2, one-sided along one direction: a fold, a V that tilts
``valley``     rank 1, two-sided, k >= 2: the ridge ``|u.x|`` (two opposite units,
               or one hinge plus a unit active everywhere, which is linear there)
``bent_ramp``  rank 1, one-sided, k >= 2: a monotone ramp with a kink
``dead``       k <= 1 (a single ramp) or a constant function
=============  =================================================================

Other settings get generic labels ``rank{r}-k{k}of{h}`` (r: gradient rank, k significant
units of h); ``dead`` stays for ReLU-like nets, ``constant`` for other activations, and
deeper MLPs get ``rank{r}`` (no unit diagnostics). Networks that did not finish are
``diverged``, ``not_run`` or ``unconverged``: the step budget ran out *and* the loss was
still falling (by more than 1% over the last fifth of training); a network that ran out of
steps on a plateau gets its shape's label, and the table counts those per type. The shape
label is computed for every network and kept separately (``shape``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .models import activation_function, mlp_apply
from .stats import wilson_interval

Params = Any

RELU_LIKE = ("relu", "leaky_relu", "linear")  # positively homogeneous: rescaling symmetry
ZERO_BELOW = ("relu",)  # constant (zero) for negative pre-activation: "dead" is exact
MAX_STEPS = 1
STATUS_LABELS = {MAX_STEPS: "unconverged", 2: "diverged", -1: "not_run"}  # training.Status codes
# preferred order of type names in tables and figures
TYPE_ORDER = ("pyramid", "valley", "wedge", "bent_ramp", "dead", "constant", "unconverged", "diverged", "not_run")
UNIT_CATEGORIES = ("significant", "negligible", "merged", "dead")  # codes 0..3 of units/category


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
    """

    significance: float = 0.05
    rank: float = 0.05
    merge: float = 0.05
    two_sided: float = 0.1
    flat: float = 1e-3
    still_improving: float = 1e-2


# ---------------------------------------------------------------------------------------------
# One network.


def _hidden_output(params: Params, leaky_slope: float) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``W (d, h)``, ``b (h,)``, ``A (h, o)``, ``c (o,)`` of a one-hidden-layer MLP."""
    first, last = params[0], params[-1]
    w = first["w"]
    b = first["b"] if "b" in first else jnp.zeros(w.shape[1], w.dtype)
    a = last["w"]
    c = last["b"] if "b" in last else jnp.zeros(a.shape[1], a.dtype)
    return w, b, a, c


def _centred_rms(values: jax.Array) -> jax.Array:
    """RMS over axis 0 of ``values - mean``, summed over trailing output axes: ``(n, ..., o) -> (...)``."""
    centred = values - jnp.mean(values, axis=0, keepdims=True)
    return jnp.sqrt(jnp.sum(jnp.mean(centred**2, axis=0), axis=-1))


def gradient_covariance(params: Params, x: jax.Array, activation: str = "relu", leaky_slope: float = 0.01) -> jax.Array:
    """``(d, d)`` input-gradient covariance ``mean_x J(x)^T J(x)`` of one MLP over ``x: (n, d)``.

    ``J(x)`` is the ``(o, d)`` Jacobian of the outputs with respect to the input. For ReLU
    networks it is piecewise constant (the derivative at a kink is taken as 0, as JAX does).

    References:
      Constantine, Dow & Wang (2014), "Active subspace methods in theory and practice",
      SIAM J. Sci. Comput. 36(4).
    """
    jac = input_jacobians(params, x, activation, leaky_slope)
    return jnp.einsum("nod,noe->de", jac, jac) / x.shape[0]


def input_jacobians(params: Params, x: jax.Array, activation: str = "relu", leaky_slope: float = 0.01) -> jax.Array:
    """``(n, o, d)`` Jacobians of one MLP's outputs with respect to its inputs at ``x: (n, d)``."""
    act = activation_function(activation, leaky_slope)

    def outputs(point: jax.Array) -> jax.Array:
        return mlp_apply(params, point[None, :], act, scalar_output=False)[0]

    return jax.vmap(jax.jacfwd(outputs))(x)


def function_shape(
    params: Params, x: jax.Array, activation: str, leaky_slope: float, thresholds: Thresholds, target_scale: float
) -> dict[str, jax.Array]:
    """The learned function's shape over the data ``x: (n, d)``.

    Returns:
      ``gradient_spectrum (d,)``: eigenvalues of the input-gradient covariance over its trace,
      descending; ``gradient_rank ()``: how many exceed ``thresholds.rank`` (0 when flat);
      ``slope_balance (d,)``: along each principal direction u_i, the smaller of the energies
      of the positive and negative parts of the slope ``J(x) u_i`` over their sum — near 0
      for a monotone function (a ramp), up to 0.5 for a V or bowl (slopes of both signs);
      ``function_rms ()``: centred RMS of the function; ``flat ()``: it counts as constant.
    """
    act = activation_function(activation, leaky_slope)
    f = mlp_apply(params, x, act, scalar_output=False)  # (n, o)
    function_rms = _centred_rms(f)
    jac = input_jacobians(params, x, activation, leaky_slope)  # (n, o, d)
    covariance = jnp.einsum("nod,noe->de", jac, jac) / x.shape[0]
    eigenvalues, vectors = jnp.linalg.eigh(covariance)
    eigenvalues, vectors = eigenvalues[::-1], vectors[:, ::-1]
    trace = jnp.sum(eigenvalues)
    spectrum = jnp.where(trace > 0, eigenvalues / jnp.where(trace > 0, trace, 1.0), 0.0)
    slopes = jnp.einsum("nod,dk->nok", jac, vectors)  # (n, o, d) along principal directions
    up = jnp.sum(jnp.maximum(slopes, 0.0) ** 2, axis=(0, 1))
    down = jnp.sum(jnp.minimum(slopes, 0.0) ** 2, axis=(0, 1))
    balance = jnp.minimum(up, down) / jnp.maximum(up + down, jnp.finfo(f.dtype).tiny)
    flat = (function_rms <= thresholds.flat * target_scale) | (trace <= 0)
    rank = jnp.where(flat, 0, jnp.sum(spectrum > thresholds.rank))
    return {
        "gradient_spectrum": spectrum,
        "gradient_rank": rank.astype(jnp.int32),
        "slope_balance": balance,
        "function_rms": function_rms,
        "flat": flat,
    }


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
      ``n_dead``, ``n_negligible``, ``n_merged``, ``n_linear`` (significant units active on
      every point, hence linear there) (scalars), ``canonical (h * (d + 1 + o),)``: for clustering, the
      significant groups' (direction, offset, summed amplitude), zeros for the other units,
      each coordinate sorted over units (permutation invariant and continuous).
    """
    act = activation_function(activation, leaky_slope)
    w, b, a, _ = _hidden_output(params, leaky_slope)
    d, h = w.shape
    z = x @ w + b  # (n, h)
    contribution = act(z)[:, :, None] * a[None, :, :]  # (n, h, o)
    function_rms = _centred_rms(jnp.sum(contribution, axis=1))
    scale = jnp.maximum(function_rms, jnp.finfo(z.dtype).tiny)
    active_fraction = jnp.mean(z > 0, axis=0)
    significance = _centred_rms(contribution) / scale  # (h,)

    if activation in RELU_LIKE:
        norm = jnp.linalg.norm(w, axis=0)
        safe = jnp.where(norm > 0, norm, 1.0)
        direction, offset, amplitude = (w / safe).T, b / safe, a * norm[:, None]
    else:
        direction, offset, amplitude = w.T, b, a
    dead = (active_fraction == 0) if activation in ZERO_BELOW else jnp.zeros(h, bool)

    # merged groups: transitive closure of "same hyperplane" among live units
    gap = jnp.sqrt(jnp.sum((direction[:, None] - direction[None]) ** 2, -1) + (offset[:, None] - offset[None]) ** 2)
    live = ~dead
    adjacency = (gap < thresholds.merge) & live[:, None] & live[None, :] | jnp.eye(h, dtype=bool)
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
    # canonical order: category, then angle of the direction (first two components)
    if d >= 2:
        angle = jnp.arctan2(direction[:, 1], direction[:, 0]) + jnp.pi
    else:
        angle = jnp.sign(direction[:, 0]) + 1.0
    order = jnp.lexsort((offset, angle, category))  # category first, ties broken by angle, then offset
    keep = (category == 0)[:, None]
    per_unit = jnp.concatenate([direction, offset[:, None], group_amplitude], axis=1) * keep
    # each coordinate sorted over units: permutation invariant and, unlike sorting whole rows
    # by an angle, continuous in the parameters (no jump where two angles swap or wrap)
    canonical = jnp.sort(per_unit, axis=0).T.reshape(-1)

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
        "n_linear": jnp.sum((category == 0) & (active_fraction == 1)).astype(jnp.int32),
        "canonical": canonical,
    }


# ---------------------------------------------------------------------------------------------
# Labels from diagnostics (NumPy, vectorised over networks).


def shape_labels(
    rank: np.ndarray,
    slope_balance: np.ndarray,
    n_significant: np.ndarray | None,
    width: int | None,
    in_dim: int,
    activation: str,
    thresholds: Thresholds = Thresholds(),
) -> np.ndarray:
    """``(n,)`` shape labels from the gradient rank, slope balance and significant units.

    Args:
      rank: ``(n,)`` gradient ranks; slope_balance: ``(n, d)`` (see :func:`function_shape`).
      n_significant: ``(n,)`` significant live units, or None for deeper MLPs.
      width: hidden units per network; in_dim: input size; activation: its name.
    """
    rank = np.asarray(rank)
    if n_significant is None:  # deeper MLPs: the function's rank only
        return np.where(rank == 0, "constant", np.char.add("rank", rank.astype(str))).astype(object)
    k = np.asarray(n_significant)
    balance = np.asarray(slope_balance)
    two_sided = balance > thresholds.two_sided
    generic = np.char.add(
        np.char.add(np.char.add("rank", rank.astype(str)), np.char.add("-k", k.astype(str))), f"of{width}"
    )
    labels = generic.astype(object)
    relu_like = activation in RELU_LIKE
    low = (k <= 1) | (rank == 0)
    if relu_like and in_dim <= 2:
        bowl = two_sided[:, : min(2, in_dim)].all(axis=1)
        labels[(rank == 2) & (k >= 3) & bowl] = "pyramid"
        labels[(rank == 2) & ~bowl] = "wedge"
        labels[(rank == 1) & two_sided[:, 0]] = "valley"
        labels[(rank == 1) & ~two_sided[:, 0]] = "bent_ramp"
    labels[low] = "dead" if relu_like else "constant"
    return labels


def _is_one_hidden_layer(params: Params) -> bool:
    return (
        isinstance(params, (list, tuple)) and len(params) == 2 and all(isinstance(p, dict) and "w" in p for p in params)
    )


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
) -> dict[str, np.ndarray]:
    """Diagnose and label a batch of MLPs (leading axis n on every parameter leaf).

    Args:
      final_params: batched MLP parameters ``[{"w": (n, d, h), "b": (n, h)}, ..., output]``.
      x: ``(n_points, d)`` the data the networks were trained on.
      final_loss: ``(n,)``; status: ``(n,)`` int codes of :class:`landscape.training.Status`.
      activation, leaky_slope: the hidden activation.
      thresholds: rule tolerances (:class:`Thresholds`).
      target_scale: the target's centred RMS; enables the "flat function" test.
      recent_loss_drop: ``(n,)`` relative loss decrease over the end of training
        (:func:`recent_loss_drop`); decides which max-steps networks are still moving.
      chunk_size: networks per compiled batch (bounds memory).

    Returns:
      ``label (n,)`` str (status labels override the shape), ``shape (n,)`` str,
      ``gradient_rank (n,)``, ``gradient_spectrum (n, d)``, ``function_rms (n,)`` and, for
      one-hidden-layer MLPs, the per-unit arrays of :func:`unit_diagnostics` with a leading
      ``(n,)`` axis plus ``cause (n,)`` str ("k=3 of 3; dead 0, negligible 0, merged 0").
    """
    x = jnp.asarray(x)
    leaves = jax.tree_util.tree_leaves(final_params)
    n = int(leaves[0].shape[0])
    one_layer = _is_one_hidden_layer(final_params)
    scale = float(target_scale) if target_scale is not None else 0.0

    def one(params: Params) -> dict[str, jax.Array]:
        params = jax.tree_util.tree_map(lambda leaf: leaf.astype(x.dtype), params)
        out = function_shape(params, x, activation, leaky_slope, thresholds, scale)
        if one_layer:
            out.update(unit_diagnostics(params, x, activation, leaky_slope, thresholds, out["flat"]))
        return out

    batched = jax.jit(jax.vmap(one))
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, n, chunk_size):
        chunk = jax.tree_util.tree_map(
            lambda leaf: np.nan_to_num(np.asarray(leaf[start : start + chunk_size])), final_params
        )
        parts.append(jax.tree_util.tree_map(np.asarray, batched(chunk)))
    result = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}

    in_dim = int(x.shape[1])
    width = int(result["active_fraction"].shape[1]) if one_layer else None
    shape = shape_labels(
        result["gradient_rank"],
        result["slope_balance"],
        result.get("n_significant"),
        width,
        in_dim,
        activation,
        thresholds,
    )
    status = np.asarray(status)
    label = shape.copy()
    moving = (
        np.ones(n, bool) if recent_loss_drop is None else ~(np.asarray(recent_loss_drop) <= thresholds.still_improving)
    )
    for code, name in STATUS_LABELS.items():
        label[(status == code) & (moving if code == MAX_STEPS else True)] = name
    label[~np.isfinite(np.asarray(final_loss))] = "diverged"
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
# Summaries.


def ordered_type_names(labels: np.ndarray) -> list[str]:
    """Distinct labels, known types in :data:`TYPE_ORDER` first, then the rest sorted."""
    present = set(np.asarray(labels).tolist())
    return [t for t in TYPE_ORDER if t in present] + sorted(present - set(TYPE_ORDER))


def type_summary(
    labels: np.ndarray,
    final_loss: np.ndarray,
    names: list[str] | None = None,
    confidence: float = 0.95,
    causes: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per type: count, fraction, Wilson CI, loss min/median/max and a representative.

    The representative is the network whose final loss is nearest the type's median loss; with
    ``causes`` (n,), it is chosen among the networks with the type's most common cause, so that
    it looks like most of its type. Returns arrays indexed like ``names`` (default
    :func:`ordered_type_names`).
    """
    labels = np.asarray(labels)
    final_loss = np.asarray(final_loss, dtype=float)
    names = names if names is not None else ordered_type_names(labels)
    n = labels.shape[0]
    counts = np.array([np.sum(labels == t) for t in names], dtype=np.int64)
    low, high = wilson_interval(counts, n, confidence)
    loss_min, loss_median, loss_max = (np.full(len(names), np.nan) for _ in range(3))
    representative = np.full(len(names), -1, dtype=np.int64)
    for i, t in enumerate(names):
        members = np.flatnonzero(labels == t)
        finite = members[np.isfinite(final_loss[members])]
        if finite.size:
            losses = final_loss[finite]
            loss_min[i], loss_median[i], loss_max[i] = losses.min(), np.median(losses), losses.max()
            candidates = finite
            if causes is not None:
                member_causes = np.asarray(causes)[finite]
                cause_values, cause_counts = np.unique(member_causes, return_counts=True)
                candidates = finite[member_causes == cause_values[np.argmax(cause_counts)]]
            representative[i] = candidates[np.argmin(np.abs(final_loss[candidates] - loss_median[i]))]
        elif members.size:
            representative[i] = members[0]
    return {
        "names": np.array(names, dtype=str),
        "count": counts,
        "fraction": counts / max(n, 1),
        "ci_low": low,
        "ci_high": high,
        "loss_min": loss_min,
        "loss_median": loss_median,
        "loss_max": loss_max,
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


def format_type_table(summary: dict[str, np.ndarray], causes: list[str] | None = None) -> str:
    """The table ``landscape classify`` prints: type, count, fraction, CI, loss range, cause."""
    conf = float(summary["confidence"])
    head = f"  {'type':<12} {'count':>7} {'fraction':>9}  {f'{conf:.0%} CI (Wilson)':<17} {'final loss min .. median .. max':<34}"
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
        line = f"  {name:<12} {int(summary['count'][i]):>7} {summary['fraction'][i]:>9.3f}  {ci:<17} {loss:<34}"
        if causes is not None:
            line += f"  {causes[i]}"
        lines.append(line)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The run file's ``types`` group.


def types_group_arrays(analysis: dict[str, Any], thresholds: Thresholds = Thresholds()) -> tuple[dict, dict]:
    """Arrays and attributes of the run file's ``types`` group from :func:`classify_run`."""
    result, summary = analysis["result"], analysis["summary"]
    names = [str(t) for t in summary["names"]]
    all_names = names + [t for t in ordered_type_names(result["shape"]) if t not in names]
    code = {t: i for i, t in enumerate(all_names)}
    arrays: dict[str, Any] = {
        "label": np.array([code[t] for t in result["label"]], dtype=np.int8),
        "shape": np.array([code[t] for t in result["shape"]], dtype=np.int8),
        "gradient_rank": result["gradient_rank"].astype(np.int8),
        "gradient_spectrum": result["gradient_spectrum"],
        "slope_balance": result["slope_balance"],
        "function_rms": result["function_rms"],
        "summary": {**{k: v for k, v in summary.items()}, "max_steps": analysis["max_steps"]},
    }
    if analysis.get("causes") is not None:
        arrays["summary"]["typical_cause"] = np.array(analysis["causes"], dtype=str)
    if "active_fraction" in result:
        arrays["cause"] = result["cause"]
        for key in ("n_significant", "n_dead", "n_negligible", "n_merged", "n_linear"):
            arrays[key] = result[key].astype(np.int8)
        arrays["units"] = {
            key: result[key]
            for key in (
                "active_fraction",
                "significance",
                "direction",
                "offset",
                "amplitude",
                "group",
                "category",
                "order",
            )
        }
    attrs = {
        "label_names": all_names,
        "unit_categories": list(UNIT_CATEGORIES),
        "thresholds": asdict(thresholds),
        "method": "rule-based: rank and slope balance of the input-gradient covariance over the data, and the "
        "number of significant live units (canonical form, merged groups counted once); see landscape.solutions",
    }
    if "clusters" in analysis:
        found, table = analysis["clusters"], analysis["cluster_summary"]
        arrays["clusters"] = {
            "assignment": found.assignment.astype(np.int32),
            "distance": found.distance,
            "centroids": found.centroids,
            "medoid": found.medoids,
            "sample": found.sample,
            "linkage": found.linkage,
            "type_names": np.array(names, dtype=str),
            **table,
        }
        attrs["clusters_method"] = found.description + "; embedding: " + analysis["embedding"]
        attrs["adjusted_rand_index"] = float(analysis["adjusted_rand"])
        attrs["cluster_purity"] = float(table["contingency"].max(axis=1).sum() / max(table["contingency"].sum(), 1))
    return arrays, attrs


def type_labels(run: Any) -> np.ndarray:
    """``(n_inits,)`` str type of every network, from the run file's ``types`` group."""
    if not run.has("types"):
        raise KeyError(f"{run.path}: no 'types' group; run `landscape classify {run.path}` first")
    group = run._file["types"]
    names = np.array(json.loads(group.attrs["label_names"]), dtype=str)
    return names[group["label"][()].astype(np.int64)]


def type_representatives(run: Any) -> dict[str, int]:
    """A representative network index per type present (final loss nearest the type's median)."""
    if not run.has("types"):
        raise KeyError(f"{run.path}: no 'types' group; run `landscape classify {run.path}` first")
    summary = run._file["types/summary"]
    names = summary["names"].asstr()[()]
    representative = summary["representative"][()]
    return {str(t): int(i) for t, i in zip(names, representative) if i >= 0}


# ---------------------------------------------------------------------------------------------
# A whole run: rule-based types, clusters and their agreement.


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
) -> dict[str, Any]:
    """Rule-based types of every network of a run, plus (optionally) rule-free clusters.

    Reads the run; writes nothing (see :func:`types_group_arrays` and ``landscape classify``).

    Returns:
      ``result`` (:func:`classify_networks`), ``summary`` (:func:`type_summary`),
      ``causes`` (typical cause per type), ``max_steps`` (per type: networks that ran out of
      steps on a plateau), and with ``cluster``: ``clusters``
      (:class:`landscape.clustering.Clusters`), ``cluster_summary`` (sizes, loss ranges,
      contingency table clusters x types) and ``adjusted_rand`` (agreement, 1 = identical).
    """
    from . import clustering

    study = run.study
    x, y = run.x, run.y
    final_loss, status = run.final_loss, run.status
    params = run.final_params
    drop = recent_loss_drop(run.trajectory, run.trajectory_steps, final_loss, study.train.steps)
    target_scale = float(np.sqrt(np.sum(np.var(y.reshape(y.shape[0], -1), axis=0))))
    activation, slope = study.model.activation, study.model.leaky_slope
    result = classify_networks(
        params, x, final_loss, status, activation, slope, thresholds, target_scale=target_scale, recent_loss_drop=drop
    )
    summary = type_summary(result["label"], final_loss, confidence=confidence, causes=result.get("cause"))
    names = [str(t) for t in summary["names"]]
    out: dict[str, Any] = {
        "result": result,
        "summary": summary,
        "causes": typical_causes(result["label"], result["cause"], names) if "cause" in result else None,
        "max_steps": np.array([np.sum((result["label"] == t) & (status == MAX_STEPS)) for t in names]),
    }
    if cluster:
        probe = clustering.probe_points(x, n_probe, seed)
        features = clustering.minima_features(
            params, probe, activation, slope, canonical=result.get("canonical"), param_weight=param_weight, seed=seed
        )
        found = clustering.cluster_minima(
            features, run.n_inits, sample_size=sample_size, n_clusters=n_clusters, max_clusters=max_clusters, seed=seed
        )
        table = clustering.cluster_summary(found.assignment, final_loss, result["label"], names)
        out.update(
            clusters=found,
            cluster_summary=table,
            adjusted_rand=clustering.adjusted_rand_index(table["contingency"]),
            embedding=f"predictions on {probe.shape[0]} probe inputs (RMS distance)"
            + (f" + canonical parameters (weight {param_weight})" if "canonical" in result else ""),
        )
    return out


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
    """What the type figures draw for each type's representative (two-input MLPs).

    Args:
      run: a :class:`~landscape.storage.Run` (its data, study and final parameters are read).
      names, representatives: type names and one network index per type (-1: none).
      category: ``(n, h)`` unit category codes (see ``UNIT_CATEGORIES``); active_fraction: ``(n, h)``.
      cause: optional ``(n,)`` cause strings for the panel titles.

    Returns:
      ``(target, surfaces, weights)``: the target's panel ``{"title", "g0", "g1", "f"}``, and per type
      a surface panel (adds the units' ``w``, ``b``, ``dead``) and a unit-diagram panel
      (``w``, ``b``, output weights ``a``, ``active_fraction``, ``category`` names), as
      :mod:`landscape.plots.types` takes them.
    """
    from .tasks import target_function

    study = run.study
    x = run.x
    low, high = float(np.min(x)), float(np.max(x))
    g0, g1 = np.meshgrid(np.linspace(low, high, resolution), np.linspace(low, high, resolution))
    target_values = np.asarray(target_function(study.task)(np.stack([g0.ravel(), g1.ravel()], axis=1)))
    first_output = (
        target_values.reshape(-1, *g0.shape)[0] if target_values.size != g0.size else target_values.reshape(g0.shape)
    )
    target = {"title": f"target: {study.task.name}", "g0": g0, "g1": g1, "f": first_output}
    loss = run.final_loss
    surfaces, weights = [], []
    for name, index in zip(names, representatives):
        index = int(index)
        if index < 0 or name in ("diverged", "not_run"):
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
