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
* :func:`slice_run`: a run's slice as a :class:`SliceResult` (any model and loss: it evaluates the
  run's :class:`~landscape.problem.Problem`), stored by :meth:`SliceResult.write` as
  ``slices/<name>`` and read back by :func:`read_slices`.

The jitted evaluation takes the objective as a static argument: passing the same
``problem.objective`` again (the same :class:`~landscape.problem.Problem` object) reuses the
compiled program; nothing is cached by this module.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from .types import Params

if TYPE_CHECKING:
    from .problem import Problem
    from .storage import Run

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


def _is_mlp_layers(params: Params) -> bool:
    """The built-in MLP's layout: a list of ``{"w": (fan_in, fan_out), "b": (fan_out,)}`` layers."""
    return (
        isinstance(params, (list, tuple))
        and len(params) > 0
        and all(isinstance(layer, dict) and "w" in layer and jnp.ndim(layer["w"]) == 2 for layer in params)
    )


def filter_normalise(direction: Params, reference: Params, bias_mode: str = "with_unit") -> Params:
    """Rescale a random direction filter by filter to the norms of ``reference`` (Li et al. 2018).

    The one filter-normalised direction of the package (slices and basins use it). For the
    built-in MLP's layout ``[{"w": (fan_in, fan_out), "b": (fan_out,)}, ...]`` a *filter* is a
    unit: in every layer (hidden and output) unit ``j``'s incoming weights ``direction[l]["w"][:, j]``
    are rescaled to the norm of ``reference[l]["w"][:, j]``. Biases, by ``bias_mode``:

    * ``"with_unit"`` (default): the bias is part of the unit's filter: the vector
      ``(w[:, j], b[j])`` is rescaled as a whole to the norm of the reference's
      ``(w[:, j], b[j])``. In a tiny MLP a unit's bias sets where its hyperplane lies, so it
      moves with the unit.
    * ``"zero"``: bias directions are zero (biases stay at the reference), as in Li et al.'s
      reference code (``ignore='biasbn'``).
    * ``"same"``: biases are not normalised (the raw random draw).

    Any other pytree (a model of one's own, whose units are not known): every leaf is one filter,
    rescaled as a whole to the norm of the reference's leaf (``bias_mode`` does not apply).
    A zero reference filter gives a zero direction there.

    Args:
      direction, reference: pytrees of the same structure (one network's parameters).
      bias_mode: ``"with_unit"``, ``"zero"`` or ``"same"`` (MLP layout only).

    Returns:
      The normalised direction, same structure and dtypes as ``direction``.

    References:
      Li, Xu, Taylor, Studer & Goldstein (2018), Visualizing the loss landscape of neural nets.
    """
    if bias_mode not in BIAS_MODES:
        raise ValueError(f"bias_mode {bias_mode!r}: expected one of {', '.join(BIAS_MODES)}")
    if not _is_mlp_layers(reference):
        return jax.tree_util.tree_map(
            lambda d, r: d * (jnp.linalg.norm(r) / (jnp.linalg.norm(d) + 1e-10)), direction, reference
        )
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


def normalisation_of(reference: Params) -> str:
    """How :func:`filter_normalise` treats ``reference``'s layout, in words (stored with a slice)."""
    if _is_mlp_layers(reference):
        return "per unit (Li et al. 2018 filter normalisation)"
    return "per parameter array (the model is not the built-in MLP, so its units are not known)"


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


# ---------------------------------------------------------------------------------------------
# A slice of a run: computed from its Problem, stored as slices/<name>.

SLICE_KINDS = ("three_points", "random")
_SLICE_ARRAYS = (
    "alpha",
    "beta",
    "loss",
    "point_coords",
    "point_loss",
    "point_loss_on_plane",
    "point_labels",
    "point_index",
    "point_stage",
)


@dataclass(frozen=True)
class SliceResult:
    """The loss over one plane of a run's parameter space; stored as the group ``slices/<name>``.

    Datasets of the group (the fields of the same names):

    * ``alpha (n_alpha,)``, ``beta (n_beta,)``: plane coordinates of the grid;
    * ``loss (n_beta, n_alpha)``: training loss at ``origin + alpha[i] * axis_u + beta[j] * axis_v``
      in ``loss[j, i]`` (the layout ``matplotlib.contour(alpha, beta, loss)`` expects);
    * ``point_coords (k, 2)``: plane coordinates of the named points (k = 3, or 1 for a random plane);
    * ``point_loss (k,)``: each point's own loss; ``point_loss_on_plane (k,)``: the loss evaluated
      at its plane coordinates (equal up to rounding: a check that the plane passes through it);
    * ``point_labels``, ``point_stage`` ``(k,)`` str, ``point_index (k,)`` int: what the points are;
    * subgroups ``origin/``, ``axis_u/``, ``axis_v/``: the plane as flat parameter paths
      (``storage.flatten_params``; fields hold them flat, ``{"0/w": array}``).

    Attributes (``attrs``): ``kind`` (``"three_points"`` or ``"random"``), ``resolution``,
    ``point_specs`` (list), ``seconds``, ``aligned`` (bool), ``notes`` (JSON list of one-line notes:
    ``"alignment skipped: <reason>"``, an incomplete run, a fallback choice of points); three-point
    planes: ``margin``; random planes: ``bias_mode``, ``filter_normalised``, ``normalisation``,
    ``seed``, ``span``, ``axes_cosine``. ``training_state`` is stamped by ``storage.write_group``.
    """

    name: str
    alpha: np.ndarray
    beta: np.ndarray
    loss: np.ndarray
    point_coords: np.ndarray
    point_loss: np.ndarray
    point_loss_on_plane: np.ndarray
    point_labels: np.ndarray
    point_index: np.ndarray
    point_stage: np.ndarray
    origin: dict[str, np.ndarray]
    axis_u: dict[str, np.ndarray]
    axis_v: dict[str, np.ndarray]
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.attrs.get("kind", "three_points"))

    @property
    def notes(self) -> list[str]:
        from .storage import attr_list

        return attr_list(self.attrs, "notes")

    @property
    def group(self) -> str:
        return f"slices/{self.name}"

    @property
    def axis_labels(self) -> tuple[str, str]:
        if self.kind == "random":
            return "alpha (filter-normalised direction 1)", "beta (filter-normalised direction 2)"
        return "u: towards point 2 (parameter distance)", "v: in-plane, orthogonal to u"

    def write(self, path: Any) -> None:
        """Store as ``slices/<name>`` of the run file at ``path`` (replacing it)."""
        from .storage import nest_paths, write_group

        arrays: dict[str, Any] = {key: getattr(self, key) for key in _SLICE_ARRAYS}
        for key in ("origin", "axis_u", "axis_v"):
            arrays[key] = nest_paths(self.__dict__[key])
        write_group(path, self.group, arrays, {**self.attrs, "notes": json.dumps(self.notes)})

    @classmethod
    def read(cls, run: Run | Any, name: str) -> SliceResult:
        """Read ``slices/<name>`` back (a run or a path)."""
        from .points import group_attrs, opened
        from .storage import flatten_params

        with opened(run) as run:
            group = f"slices/{name}"
            if not run.has(group):
                raise KeyError(f"{run.path}: no '{group}' group; run `landscape slice` first")
            tree = run.group(group)
            attrs = group_attrs(run, group)
        planes = {key: flatten_params(_strip_attrs(tree.get(key, {}))) for key in ("origin", "axis_u", "axis_v")}
        arrays = {key: np.asarray(tree[key]) for key in _SLICE_ARRAYS if key in tree}
        k = len(arrays["point_coords"])
        for key, fill in (  # files from before these were stored
            ("point_stage", "final"),
            ("point_index", -1),
            ("point_labels", ""),
            ("point_loss", np.nan),
            ("point_loss_on_plane", np.nan),
        ):
            arrays.setdefault(key, np.full(k, fill))
        return cls(name=name, **arrays, **planes, attrs=attrs)


def _strip_attrs(tree: Any) -> Any:
    """A subgroup read by ``Run.group`` without the attributes it merges in (e.g. training_state)."""
    if not isinstance(tree, dict):
        return tree
    return {k: _strip_attrs(v) for k, v in tree.items() if isinstance(v, (dict, np.ndarray))}


def read_slices(run: Run | Any) -> list[SliceResult]:
    """Every stored slice of a run (a run or a path), by name; empty when none."""
    from .points import opened

    with opened(run) as run:
        if not run.has("slices"):
            return []
        names = sorted(run._file["slices"])  # noqa: SLF001
        return [SliceResult.read(run, name) for name in names]


def slice_run(
    run: Run,
    points: list[str] | None = None,
    *,
    problem: Problem | None = None,
    random: bool = False,
    resolution: int = DEFAULT_RESOLUTION,
    margin: float = 0.3,
    span: float = 1.0,
    bias_mode: str = "with_unit",
    seed: int = 0,
    align: bool = True,
    name: str | None = None,
    finished_only: bool = False,
    batch_size: int = DEFAULT_BATCH,
) -> SliceResult:
    """The loss over the plane through three points of a run, or a random plane around one point.

    Three points (``random=False``): the plane through them with orthonormal axes
    (:func:`plane_through_points`), points 2 and 3 first aligned onto point 1 by weight matching
    (:func:`landscape.alignment.align`) where it applies (the built-in MLP; else the note
    ``"alignment skipped: <reason>"`` and the unaligned plane), on a ``resolution`` x ``resolution``
    grid around them with ``margin``. Random (``random=True``, one point): two filter-normalised
    Gaussian directions (:func:`random_plane`, :func:`filter_normalise`, Li et al. 2018) seeded by
    ``seed``, on ``[-span, span]^2``.

    Args:
      run: an open run (read; nothing is written: call :meth:`SliceResult.write`).
      points: point names (:mod:`landscape.points`); default: the type representatives (in
        ``vocabulary.TYPE_ORDER``), or without types the lowest-loss finished networks.
      problem: the run's :class:`~landscape.problem.Problem` (default ``problem_of(run)``). Pass the
        same object again to reuse the compiled grid evaluation (it is keyed by ``problem.objective``).
      finished_only: analyse an incomplete run's finished networks (else it is refused in one line).

    Raises:
      ConfigError, RunFileError: one line (too few distinct finite points, collinear points, an
        incomplete run, a model that cannot be rebuilt).
    """
    from .alignment import align as align_networks
    from .alignment import alignment_reason, cast_like
    from .config import ConfigError
    from .points import distinct_count, select_points
    from .problem import problem_of
    from .runner import x64_scope
    from .storage import flatten_params

    if resolution < 2:
        raise ConfigError("resolution: expected at least 2")
    need = 1 if random else 3
    if points and len(points) != need:
        what = "a random plane takes one point" if random else "a plane needs three points"
        raise ConfigError(f"{what}, got {len(points)} ({' '.join(points)})")
    problem = problem_of(run) if problem is None else problem
    selection = select_points(run, points, need, finished_only, minimum=need)
    chosen, notes = selection.points, list(selection.notes)
    if not random and distinct_count(chosen) < 3:
        raise ConfigError(
            f"{run.path}: a plane needs three distinct points with finite parameters; "
            f"{' '.join(selection.specs)} give {distinct_count(chosen)} (try --random POINT)"
        )
    started = time.perf_counter()
    attrs: dict[str, Any] = {"resolution": resolution, "point_specs": selection.specs}
    with x64_scope(problem.study):
        x, y = jnp.asarray(problem.x, problem.dtype), jnp.asarray(problem.y, problem.dtype)
        params = [as_jax(point.params, problem.dtype) for point in chosen]
        if random:
            plane = random_plane(jax.random.PRNGKey(seed), params[0], bias_mode=bias_mode)
            alphas = betas = np.linspace(-span, span, resolution)
            name = name or f"random-{chosen[0].spec.replace(':', '')}-seed{seed}"
            normalisation = normalisation_of(params[0])
            attrs.update(
                kind="random",
                bias_mode=bias_mode,
                filter_normalised=True,
                normalisation=normalisation,
                seed=seed,
                span=span,
                axes_cosine=axes_cosine(plane),
                aligned=False,
            )
            if not _is_mlp_layers(params[0]):
                notes.append(f"filter normalisation: {normalisation}")
        else:
            reason = alignment_reason(problem) if align else "not asked (--no-align)"
            if reason is None:
                reference = chosen[0].params
                params = [params[0]] + [
                    as_jax(
                        cast_like(align_networks(reference, p.params, problem.activation)[0], reference), problem.dtype
                    )
                    for p in chosen[1:]
                ]
            elif align:
                notes.append(f"alignment skipped: {reason}")
            try:
                plane = plane_through_points(*params)
            except ValueError as err:
                raise ConfigError(f"points {' '.join(selection.specs)}: {err}") from None
            alphas, betas = grid_around(plane.point_coords, resolution, margin)
            name = name or "plane-" + "-".join(spec.replace(":", "") for spec in selection.specs)
            attrs.update(kind="three_points", aligned=reason is None, margin=margin)
        loss = np.asarray(
            plane_grid(problem.objective, x, y, plane.origin, plane.axis_u, plane.axis_v, alphas, betas, batch_size)
        )
        coords = np.asarray(plane.point_coords)
        on_plane = np.asarray(
            plane_losses(
                problem.objective,
                x,
                y,
                plane.origin,
                plane.axis_u,
                plane.axis_v,
                jnp.asarray(coords, problem.dtype),
                batch_size,
            )
        )
        own = np.array([float(problem.loss(p)) for p in params])
        planes = {
            key: flatten_params(jax.tree_util.tree_map(np.asarray, getattr(plane, key)))
            for key in ("origin", "axis_u", "axis_v")
        }
    if not np.any(np.isfinite(loss)):
        notes.append("the loss is not finite anywhere on the grid")
    attrs["seconds"] = time.perf_counter() - started
    attrs["notes"] = notes
    return SliceResult(
        name=name,
        alpha=np.asarray(alphas),
        beta=np.asarray(betas),
        loss=loss,
        point_coords=coords,
        point_loss=own,
        point_loss_on_plane=on_plane,
        point_labels=np.array([p.label for p in chosen]),
        point_index=np.array([p.index for p in chosen]),
        point_stage=np.array([p.stage for p in chosen]),
        **planes,
        attrs=attrs,
    )


def print_notes(notes: list[str]) -> None:
    """Each note on its own line of stderr (what an analysis skipped or chose, and why)."""
    for note in notes:
        print(note, file=sys.stderr)
