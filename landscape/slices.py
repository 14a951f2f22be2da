"""Loss along lines and over planes in parameter space.

Everything here works on parameter pytrees of ONE network (``[{"w", "b"}, ...]`` for the
built-in MLP; any pytree works) and an ``objective(params, x, y) -> scalar`` such as
:func:`landscape.training.make_objective`. A line or plane is described by pytrees of the
same structure (origin and directions); evaluation vmaps the objective over all its points
inside one jitted program (chunked with ``lax.map(batch_size=...)`` to bound memory), never
a Python loop over points.

* :func:`line_losses` / :func:`barrier`: the 1D profile between two points and its barrier
  (highest loss on the path minus the higher endpoint loss).
* :func:`plane_through_points`: the plane through three points with orthonormal in-plane
  axes (Gram-Schmidt), each point at its true coordinates.
* :func:`random_plane`: two filter-normalised random directions around one point
  (Li et al. 2018).
* :func:`plane_grid` / :func:`plane_losses`: the loss on a grid (default 101 x 101) or at
  given coordinates of a plane.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Params = Any
Objective = Callable[[Params, jax.Array, jax.Array], jax.Array]  # (params, x, y) -> scalar loss

DEFAULT_RESOLUTION = 101
DEFAULT_BATCH = 512  # grid points per vmapped batch inside lax.map (CPU cache-friendly for small MLPs)
BIAS_MODES = ("with_unit", "zero", "same")


# ---------------------------------------------------------------------------------------------
# Pytree arithmetic.


def tree_add(a: Params, b: Params) -> Params:
    return jax.tree_util.tree_map(jnp.add, a, b)


def tree_sub(a: Params, b: Params) -> Params:
    return jax.tree_util.tree_map(jnp.subtract, a, b)


def tree_scale(a: Params, s: jax.Array | float) -> Params:
    return jax.tree_util.tree_map(lambda x: s * x, a)


def tree_dot(a: Params, b: Params) -> jax.Array:
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def tree_norm(a: Params) -> jax.Array:
    return jnp.sqrt(tree_dot(a, a))


def as_jax(params: Params, dtype: Any = None) -> Params:
    """A pytree of NumPy/JAX arrays as JAX arrays (optionally cast)."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, dtype=dtype), params)


# ---------------------------------------------------------------------------------------------
# Evaluating many points of a line or a plane in one program.


@functools.partial(jax.jit, static_argnames=("objective", "batch_size"))
def plane_losses(
    objective: Objective,
    x: jax.Array,
    y: jax.Array,
    origin: Params,
    axis_u: Params,
    axis_v: Params,
    coords: jax.Array,
    batch_size: int = DEFAULT_BATCH,
) -> jax.Array:
    """Loss at ``origin + alpha * axis_u + beta * axis_v`` for each row ``(alpha, beta)`` of ``coords``.

    Args:
      objective: ``(params, x, y) -> scalar``; must be hashable (a function object) since it is
        a static argument: reuse the same object to reuse the compiled program.
      x, y: the data, ``(n_points, in_dim)`` and ``(n_points,)``.
      origin, axis_u, axis_v: pytrees shaped like one network's parameters.
      coords: ``(m, 2)`` plane coordinates.
      batch_size: points evaluated together by ``vmap``; ``lax.map`` walks the batches.

    Returns:
      ``(m,)`` losses.
    """

    def loss_at(ab: jax.Array) -> jax.Array:
        point = jax.tree_util.tree_map(lambda o, u, v: o + ab[0] * u + ab[1] * v, origin, axis_u, axis_v)
        return objective(point, x, y)

    return jax.lax.map(loss_at, coords, batch_size=min(batch_size, coords.shape[0]))


def grid_coords(alphas: jax.Array, betas: jax.Array) -> jax.Array:
    """``(n_beta * n_alpha, 2)`` coordinates, row-major over ``(beta, alpha)``."""
    a, b = jnp.meshgrid(alphas, betas)  # (n_beta, n_alpha) each
    return jnp.stack([a.ravel(), b.ravel()], axis=1)


def plane_grid(
    objective: Objective,
    x: jax.Array,
    y: jax.Array,
    origin: Params,
    axis_u: Params,
    axis_v: Params,
    alphas: jax.Array,
    betas: jax.Array,
    batch_size: int = DEFAULT_BATCH,
) -> jax.Array:
    """Loss on the grid ``alphas x betas`` of a plane: ``(n_beta, n_alpha)``, ``loss[j, i]`` at
    ``(alphas[i], betas[j])`` (the layout ``matplotlib.contour(alphas, betas, loss)`` expects)."""
    alphas, betas = jnp.asarray(alphas), jnp.asarray(betas)
    coords = grid_coords(alphas, betas).astype(jax.tree_util.tree_leaves(origin)[0].dtype)
    losses = plane_losses(objective, x, y, origin, axis_u, axis_v, coords, batch_size)
    return losses.reshape(betas.shape[0], alphas.shape[0])


def line_losses(
    objective: Objective, x: jax.Array, y: jax.Array, start: Params, end: Params, t: jax.Array
) -> jax.Array:
    """``(n_t,)`` loss at ``(1 - t) * start + t * end`` (``t`` in [0, 1] spans the segment).

    Evaluated as the plane point ``start + (-t) * start + t * end``, which is exactly ``start``
    at ``t = 0`` and exactly ``end`` at ``t = 1``, so the profile's ends are the endpoints' losses.
    """
    t = jnp.asarray(t, dtype=jax.tree_util.tree_leaves(start)[0].dtype)
    coords = jnp.stack([-t, t], axis=1)
    return plane_losses(objective, x, y, start, start, end, coords)


def barrier(profile: jax.Array | np.ndarray) -> float:
    """Barrier of a path profile ``(n_t,)`` whose first and last entries are its endpoints:
    ``max(profile) - max(profile[0], profile[-1])`` (0 when the loss never rises above them)."""
    profile = np.asarray(profile)
    return float(np.max(profile) - max(profile[0], profile[-1]))


# ---------------------------------------------------------------------------------------------
# Planes.


@dataclass(frozen=True)
class Plane:
    """A 2D affine slice of parameter space.

    Attributes:
      origin, axis_u, axis_v: pytrees like one network's parameters; a point with plane
        coordinates ``(alpha, beta)`` is ``origin + alpha * axis_u + beta * axis_v``.
      point_coords: ``(k, 2)`` plane coordinates of the points the plane was built from.
      orthonormal: the axes are orthonormal (three-point planes) or not (random planes,
        whose axes have the norms of the filter-normalised directions).
    """

    origin: Params
    axis_u: Params
    axis_v: Params
    point_coords: np.ndarray
    orthonormal: bool


def plane_through_points(p0: Params, p1: Params, p2: Params) -> Plane:
    """The plane through three parameter points, with orthonormal axes from Gram-Schmidt.

    ``origin = p0``; ``axis_u = (p1 - p0) / |p1 - p0|``; ``axis_v`` is the part of ``p2 - p0``
    orthogonal to ``axis_u``, normalised. Coordinates are then true Euclidean distances in
    parameter space: ``p0 -> (0, 0)``, ``p1 -> (|p1 - p0|, 0)``, ``p2 -> (d.u, d.v)`` with
    ``d = p2 - p0``. Raises ValueError when the points are (nearly) collinear.
    """
    d1, d2 = tree_sub(p1, p0), tree_sub(p2, p0)
    n1 = tree_norm(d1)
    if not n1 > 1e-12:
        raise ValueError("the first two points coincide; a plane needs three distinct points")
    u = tree_scale(d1, 1.0 / n1)
    along = tree_dot(d2, u)
    rest = tree_sub(d2, tree_scale(u, along))
    n2 = tree_norm(rest)
    eps = float(jnp.finfo(jax.tree_util.tree_leaves(p0)[0].dtype).eps)
    if not n2 > 100 * eps * max(float(n1), float(tree_norm(d2)), 1.0):
        raise ValueError("the three points are collinear; they span no plane")
    v = tree_scale(rest, 1.0 / n2)
    coords = np.array([[0.0, 0.0], [float(n1), 0.0], [float(along), float(n2)]])
    return Plane(p0, u, v, coords, orthonormal=True)


def filter_normalise(direction: Params, reference: Params, bias_mode: str = "with_unit") -> Params:
    """Rescale a random MLP direction unit by unit to the norms of ``reference`` (Li et al. 2018).

    For every layer (hidden and output), unit ``j``'s incoming weights ``direction[l]["w"][:, j]``
    are rescaled to the norm of ``reference[l]["w"][:, j]``. Biases, by ``bias_mode``:

    * ``"with_unit"`` (default): the bias is part of the unit's filter: the vector
      ``(w[:, j], b[j])`` is rescaled as a whole to the norm of the reference's
      ``(w[:, j], b[j])``. In a tiny MLP a unit's bias sets where its hyperplane lies, so it
      moves with the unit.
    * ``"zero"``: bias directions are zero (biases stay at the reference), as in Li et al.'s
      reference code (``ignore='biasbn'``).
    * ``"same"``: biases are not normalised (the raw random draw).

    Args:
      direction, reference: MLP parameter lists ``[{"w": (fan_in, fan_out), "b": (fan_out,)}]``.

    References:
      Li, Xu, Taylor, Studer & Goldstein (2018), Visualizing the loss landscape of neural nets.
    """
    if bias_mode not in BIAS_MODES:
        raise ValueError(f"bias_mode {bias_mode!r}: expected one of {', '.join(BIAS_MODES)}")
    out = []
    for d, r in zip(direction, reference):
        has_b = "b" in d
        if has_b and bias_mode == "with_unit":
            d_unit = jnp.concatenate([d["w"], d["b"][None, :]], axis=0)
            r_unit = jnp.concatenate([r["w"], r["b"][None, :]], axis=0)
        else:
            d_unit, r_unit = d["w"], r["w"]
        scale = jnp.linalg.norm(r_unit, axis=0) / (jnp.linalg.norm(d_unit, axis=0) + 1e-10)
        layer = {"w": d["w"] * scale[None, :]}
        if has_b:
            layer["b"] = {"with_unit": d["b"] * scale, "zero": jnp.zeros_like(d["b"]), "same": d["b"]}[bias_mode]
        out.append(layer)
    return out


def random_direction(key: jax.Array, like: Params) -> Params:
    """A standard normal pytree shaped like ``like``."""
    leaves, treedef = jax.tree_util.tree_flatten(like)
    keys = jax.random.split(key, len(leaves))
    return jax.tree_util.tree_unflatten(
        treedef, [jax.random.normal(k, jnp.shape(x), jnp.result_type(x)) for k, x in zip(keys, leaves)]
    )


def random_plane(key: jax.Array, center: Params, bias_mode: str = "with_unit", filter_normalised: bool = True) -> Plane:
    """A random plane around ``center`` spanned by two filter-normalised Gaussian directions.

    As in Li et al. (2018) the two directions are not orthogonalised (in high dimension they
    nearly are; in a 13-parameter network they need not be: see :func:`axes_cosine`). The
    center sits at ``(0, 0)``; a grid over ``[-1, 1]^2`` then moves each unit by up to about
    its own norm along each direction.
    """
    key_u, key_v = jax.random.split(key)
    u, v = random_direction(key_u, center), random_direction(key_v, center)
    if filter_normalised:
        u, v = filter_normalise(u, center, bias_mode), filter_normalise(v, center, bias_mode)
    return Plane(center, u, v, np.zeros((1, 2)), orthonormal=False)


def axes_cosine(plane: Plane) -> float:
    """Cosine of the angle between a plane's two axes (0 for orthonormal planes)."""
    return float(tree_dot(plane.axis_u, plane.axis_v) / (tree_norm(plane.axis_u) * tree_norm(plane.axis_v)))


def grid_around(
    point_coords: np.ndarray, resolution: int = DEFAULT_RESOLUTION, margin: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Equal-aspect ``alphas, betas`` covering the points' bounding box plus ``margin`` of its size."""
    lo, hi = point_coords.min(axis=0), point_coords.max(axis=0)
    size = float(max(hi - lo))
    size = size if size > 0 else 1.0
    center = (lo + hi) / 2
    half = size * (0.5 + margin)
    return (
        np.linspace(center[0] - half, center[0] + half, resolution),
        np.linspace(center[1] - half, center[1] + half, resolution),
    )
