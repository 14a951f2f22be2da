"""Aligning MLPs onto one another's symmetry copy: hidden-unit permutations and positive rescaling.

An MLP ``[{"w": (fan_in, fan_out), "b": (fan_out,)}, ..., output layer]`` computes the same
function after

* **permuting** the units of any hidden layer (columns of its ``w`` and entries of its ``b``,
  together with the rows of the next layer's ``w``), for every elementwise activation; and
* **positively rescaling** a hidden unit (its incoming weights and bias times ``s > 0``, its
  outgoing weights divided by ``s``) when the activation is positively homogeneous,
  ``f(s z) = s f(z)`` (ReLU, leaky ReLU, linear).

:func:`align` moves network ``b`` along these symmetries so that it lies as close as possible
to a reference network ``a``. It never changes ``b``'s function; two networks that are exact
symmetry copies of each other become the same point in parameter space, so the straight line
between them has zero barrier.

Method (weight matching in the spirit of Ainsworth et al. 2022, "Git Re-Basin", made exact
for positive rescaling):

1. Bring both networks to a *canonical scale*: layer by layer, divide each hidden unit's
   incoming vector ``(w[:, j], b[j])`` by its norm and multiply the unit's outgoing weights by
   it (homogeneous activations only).
2. Layer by layer from the input, solve a linear assignment problem
   (:func:`scipy.optimize.linear_sum_assignment`) on the squared distance between the units'
   canonical incoming vectors, after ``b``'s inputs have been permuted by the previous layer's
   match. For the last hidden layer the outgoing weights (to the unpermuted output layer) are
   added to the distance.
3. Permute ``b``'s canonical units accordingly and give them ``a``'s unit scales.

Written for one network (NumPy, no batching): it runs once per pair of minima.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment

from .models import activation_properties
from .types import Params

if TYPE_CHECKING:
    from .problem import Problem

_TINY = 1e-12


@dataclass(frozen=True)
class Alignment:
    """The symmetry that maps network ``b`` onto reference ``a``.

    Attributes:
      permutations: one ``(width_l,)`` int array per hidden layer; ``permutations[l][j]`` is
        the unit of ``b`` matched to unit ``j`` of ``a``.
      rescaled: whether positive rescaling was used (homogeneous activation).
      distance_before: Euclidean distance ``|a - b|`` over all parameters.
      distance_after: ``|a - aligned b|``.
    """

    permutations: list[np.ndarray]
    rescaled: bool
    distance_before: float
    distance_after: float


def is_positively_homogeneous(activation: str) -> bool:
    """True when ``f(s z) = s f(z)`` for ``s > 0``, so hidden units may be rescaled
    (:func:`landscape.models.activation_properties`)."""
    return bool(activation_properties(activation).positively_homogeneous)


def alignment_reason(problem: Problem) -> str | None:
    """None when weight matching applies to the problem's model, else why not (one line).

    It applies to the built-in MLP of any depth (permuting hidden units keeps the function, so any
    loss of it; rescaling only with a positively homogeneous activation). For a model of one's
    own the symmetries are not known, so networks are compared unaligned.
    """
    if problem.mlp is None:
        return f"the model is your own ({problem.model.name}); its symmetries are not known"
    return None


def _copy(params: Params) -> list[dict[str, np.ndarray]]:
    return [{k: np.array(v, dtype=np.float64) for k, v in layer.items()} for layer in params]


def _incoming(layer: dict[str, np.ndarray]) -> np.ndarray:
    """``(fan_out, fan_in [+1])``: each unit's incoming weights, with its bias appended."""
    w = layer["w"].T
    return np.concatenate([w, layer["b"][:, None]], axis=1) if "b" in layer else w


def permute_units(params: Params, permutations: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Reorder hidden units: new unit ``j`` of layer ``l`` is old unit ``permutations[l][j]``.

    The function of the network is unchanged for every elementwise activation.
    """
    out = _copy(params)
    for layer, perm in enumerate(permutations):
        out[layer]["w"] = out[layer]["w"][:, perm]
        if "b" in out[layer]:
            out[layer]["b"] = out[layer]["b"][perm]
        out[layer + 1]["w"] = out[layer + 1]["w"][perm, :]
    return out


def rescale_units(params: Params, scales: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
    """Multiply hidden unit ``j`` of layer ``l``'s incoming weights and bias by ``scales[l][j] > 0``
    and divide its outgoing weights by it (function unchanged for homogeneous activations)."""
    out = _copy(params)
    for layer, scale in enumerate(scales):
        scale = np.asarray(scale, dtype=np.float64)
        out[layer]["w"] = out[layer]["w"] * scale[None, :]
        if "b" in out[layer]:
            out[layer]["b"] = out[layer]["b"] * scale
        out[layer + 1]["w"] = out[layer + 1]["w"] / scale[:, None]
    return out


def canonical_scale(params: Params) -> tuple[list[dict[str, np.ndarray]], list[np.ndarray]]:
    """Rescale every hidden unit to a unit-norm incoming vector ``(w[:, j], b[j])``.

    Returns ``(canonical, norms)`` with ``rescale_units(canonical, norms) == params``. Layers are
    processed from the input, so a layer's incoming vectors already carry the previous layer's
    norms. Units with a zero incoming vector keep scale 1.
    """
    out = _copy(params)
    norms = []
    for layer in range(len(out) - 1):
        norm = np.linalg.norm(_incoming(out[layer]), axis=1)
        norm = np.where(norm > _TINY, norm, 1.0)
        out = rescale_units(
            out, [1.0 / norm if i == layer else np.ones(out[i]["w"].shape[1]) for i in range(layer + 1)]
        )
        norms.append(norm)
    return out, norms


def parameter_distance(a: Params, b: Params) -> float:
    """Euclidean distance between two parameter pytrees of the same structure and shapes."""
    from jax.tree_util import tree_leaves

    return float(
        np.sqrt(
            sum(
                np.sum((np.asarray(la, np.float64) - np.asarray(lb, np.float64)) ** 2)
                for la, lb in zip(tree_leaves(a), tree_leaves(b))
            )
        )
    )


def match_units(a: Params, b: Params) -> list[np.ndarray]:
    """Permutations per hidden layer matching ``b``'s units to ``a``'s (see the module doc, step 2).

    ``a`` and ``b`` should already be on a comparable scale (canonical for homogeneous
    activations). Returns ``permutations[l][j]`` = unit of ``b`` matched to unit ``j`` of ``a``.
    """
    n_hidden = len(a) - 1
    b = _copy(b)
    permutations = []
    for layer in range(n_hidden):
        features_a, features_b = _incoming(a[layer]), _incoming(b[layer])
        if layer == n_hidden - 1:  # the output layer is never permuted: its incoming rows compare directly
            features_a = np.concatenate([features_a, np.asarray(a[layer + 1]["w"], np.float64)], axis=1)
            features_b = np.concatenate([features_b, b[layer + 1]["w"]], axis=1)
        cost = np.sum((features_a[:, None, :] - features_b[None, :, :]) ** 2, axis=-1)
        rows, cols = linear_sum_assignment(cost)
        perm = cols[np.argsort(rows)]
        permutations.append(perm)
        # carry the match into the next layer's inputs before matching it
        b[layer]["w"], b[layer + 1]["w"] = b[layer]["w"][:, perm], b[layer + 1]["w"][perm, :]
        if "b" in b[layer]:
            b[layer]["b"] = b[layer]["b"][perm]
    return permutations


def align(a: Params, b: Params, activation: str = "relu") -> tuple[list[dict[str, np.ndarray]], Alignment]:
    """Move MLP ``b`` onto the symmetry copy closest to reference ``a`` (same function as ``b``).

    Args:
      a: reference parameters of ONE network, ``[{"w", "b"}, ...]`` (NumPy or JAX arrays).
      b: parameters of the network to move, same shapes.
      activation: the hidden activation's name; rescaling is used only when it is positively
        homogeneous (:func:`is_positively_homogeneous`), otherwise units are only permuted.

    Returns:
      ``(aligned_b, alignment)``: float64 NumPy parameters and the :class:`Alignment` used.

    References:
      Ainsworth, Hayase & Srinivasa (2022), Git Re-Basin: merging models modulo permutation
      symmetries (weight matching); Entezari et al. (2022), The role of permutation invariance
      in linear mode connectivity of neural networks.
    """
    rescaled = is_positively_homogeneous(activation)
    if rescaled:
        canonical_a, norms_a = canonical_scale(a)
        canonical_b, _ = canonical_scale(b)
        permutations = match_units(canonical_a, canonical_b)
        aligned = rescale_units(permute_units(canonical_b, permutations), norms_a)
    else:
        permutations = match_units(_copy(a), _copy(b))
        aligned = permute_units(b, permutations)
    alignment = Alignment(permutations, rescaled, parameter_distance(a, b), parameter_distance(a, aligned))
    return aligned, alignment


def cast_like(params: Params, like: Params) -> list[dict[str, np.ndarray]]:
    """``params`` with every array cast to the dtype of the matching array in ``like``."""
    return [
        {k: np.asarray(v, dtype=np.asarray(ref[k]).dtype) for k, v in layer.items()} for layer, ref in zip(params, like)
    ]
