"""The map between minima: a database of minima, transition states and their connections.

:func:`map_minima` takes a few networks of a run (type representatives, cluster medoids, any
minima), and builds the map in the way energy-landscape codes do (Wales 2003; pele's
``DoubleEndedConnect``; Ballard et al. 2017 for neural networks):

1. **Quench** every point to a local minimum (:func:`landscape.saddles.descend`, float64) and
   check it (:func:`landscape.saddles.curvature`: stationary or not, index outside the
   symmetry null space).
2. For every pair, a **minimum-energy path**: a nudged elastic band with a climbing image
   (:mod:`landscape.neb`), all pairs in one compiled ``vmap``; the band starts from the straight
   line after aligning the second minimum onto the first, or from a trained Bezier curve.
3. A band whose highest interior image is no higher than its higher end has **no barrier**
   (a ``downhill`` connection). Otherwise its climbing image is refined to an index-1 saddle by
   eigenvector following; a saddle with gradient norm below ``grad_tol`` and exactly one negative
   eigenvalue outside the symmetry null space is a **transition state**. It is connected to
   minima by stepping off along -/+ its negative eigenvector and descending both sides; minima
   found that way enter the database.
4. Minima and transition states are **deduplicated modulo symmetry**: two points are the same
   when the functions they compute differ by less than ``match_tol`` (RMS over the data) and
   their losses agree; functions are invariant under every symmetry of the network (unit
   permutations, positive rescaling, a dead unit's parameters). Stored parameters are in a
   canonical form (:func:`canonical_form`).

:func:`disconnectivity_tree` turns the database into the tree of a disconnectivity graph (Becker &
Karplus 1997): minima as leaves, joined at the loss of the lowest connection between the
groups. :class:`MapResult` holds everything as arrays; ``write``/``read`` use the run file's
``/landscape_map`` group. The computation never reads or writes files itself except through
:func:`map_run`, which reads a run and returns a result.
"""

from __future__ import annotations

import functools
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from . import neb, saddles
from .alignment import align, canonical_scale, cast_like, is_positively_homogeneous, permute_units
from .problem import Problem, function_reason, mlp_reason

GROUP = "landscape_map"
CONNECTION_KINDS = ("transition_state", "downhill", "unresolved")  # codes 0, 1, 2 of bands/kind


# ---------------------------------------------------------------------------------------------
# One network as a loss over a flat vector.


@dataclass(frozen=True, eq=False)
class FlatProblem:
    """A network's training loss as a function of flat parameters, with what the searches need.

    Attributes:
      loss: ``(P,) -> scalar``; hessian: ``(P,) -> (P, P)``; null: ``(P,) -> (P, k)`` orthonormal
        symmetry directions; predict: ``(P,) -> (n_points,)`` the network's outputs on the data;
        unravel: ``(P,) -> params pytree``; activation: the hidden activation (None: not the built-in
        MLP, so no alignment, canonical form or solution types); band_null: a cheaper
        ``(P,) -> (P, k)`` basis of the rescaling and dead-unit directions only (no SVD), which the
        elastic band projects its forces off at every step.
      key: what determines every function above (study, sources, data, layout; see :func:`run_problem`):
        two problems with the same key are equal, so the compiled searches (static arguments of
        module-level ``jax.jit``s) are reused by a later call on the same run; None: equal only to itself.
    """

    loss: Any
    hessian: Any
    null: Any
    predict: Any
    unravel: Any
    activation: str | None
    band_null: Any = None
    key: Any = None

    def __hash__(self) -> int:
        return hash(self.key) if self.key is not None else id(self)

    def __eq__(self, other: object) -> bool:
        if self.key is None or not isinstance(other, FlatProblem):
            return self is other
        return self.key == other.key


def mlp_problem(
    model: Any, like: Any, x: jax.Array, y: jax.Array, activation: str, leaky_slope: float = 0.01
) -> FlatProblem:
    """:class:`FlatProblem` of a built-in MLP (``like``: one network's params, for the layout)."""
    from .curvature import hessian_function, symmetry_directions
    from .training import make_objective

    objective = make_objective(model)
    hessian_fn = hessian_function(model)
    _, unravel = ravel_pytree(like)

    def loss(flat: jax.Array) -> jax.Array:
        return objective(unravel(flat), x, y)

    def hessian(flat: jax.Array) -> jax.Array:
        return hessian_fn(unravel(flat), x, y)

    def null(flat: jax.Array) -> jax.Array:
        directions, keep, _ = symmetry_directions(unravel(flat), x, activation, leaky_slope)
        return saddles.orthonormal_columns(directions, keep)

    def predict(flat: jax.Array) -> jax.Array:
        return jnp.reshape(model.apply(unravel(flat), x), (x.shape[0], -1))[:, 0]

    return FlatProblem(
        loss, hessian, null, predict, unravel, activation, _rescaling_and_dead_basis(like, x, activation)
    )


def _rescaling_and_dead_basis(like: Any, x: jax.Array, activation: str) -> Any:
    """``flat -> (P, sum over units of (unit size))`` orthonormal columns: per hidden unit, its
    normalised rescaling direction ``(w_in, b, -w_out)`` if it is live (positively homogeneous
    activations), or the unit vectors of its parameters if it is dead (ReLU). Units have disjoint
    supports, so no orthogonalisation is needed. Only for the bands: the checks use
    :func:`landscape.curvature.symmetry_directions` in full."""
    from .curvature import _unit_parameter_masks
    from .models import activation_function, activation_properties, hidden_preactivations

    if not activation_properties(activation).positively_homogeneous:
        return None
    units = _unit_parameter_masks(like)
    _, unravel = ravel_pytree(like)
    act = activation_function(activation)

    def basis(flat: jax.Array) -> jax.Array:
        preacts = hidden_preactivations(unravel(flat), x, act)
        columns = []
        for layer, unit, member, sign in units:
            dead = jnp.all(preacts[layer][:, unit] <= 0) if activation == "relu" else jnp.zeros((), bool)
            rescale = flat * jnp.asarray(sign, flat.dtype)
            rescale = rescale / jnp.maximum(jnp.linalg.norm(rescale), jnp.finfo(flat.dtype).tiny)
            positions = np.flatnonzero(member)
            for n, position in enumerate(positions):
                coordinate = jnp.zeros_like(flat).at[position].set(1.0)
                columns.append(jnp.where(dead, coordinate, rescale if n == 0 else jnp.zeros_like(flat)))
        return jnp.stack(columns, axis=1)

    return basis


def symmetry_reason(problem: Problem) -> str | None:
    """None when the symmetry null space of the problem's networks is known (the built-in MLP,
    with data to tell dead units), else why not: then the index of a stationary point counts
    every direction, flat symmetric ones included (a minimum may then read as degenerate)."""
    if problem.mlp is None:
        return f"the model is your own ({problem.model.name}); its symmetry directions are not known"
    if not problem.has_data:
        return "the run has no dataset, so dead units cannot be told"
    return None


def flat_problem(problem: Problem, like: Any) -> FlatProblem:
    """:class:`FlatProblem` of any run's :class:`~landscape.problem.Problem` (``like``: one network's
    params, for the layout; call it inside the dtype scope the loss is evaluated in).

    The built-in MLP on data gets its symmetry null space (:func:`symmetry_reason`) and the fused
    Hessian where one exists; any other model the autodiff Hessian and no null space. ``predict``
    is the model's output on the data (or on draws from the task's distribution when the run has
    no dataset), else the flat parameters themselves (minima are then told apart by parameters).
    """
    from .curvature import hessian_function, symmetry_directions

    _, unravel = ravel_pytree(like)
    dtype = jax.tree.leaves(like)[0].dtype
    x, y = jnp.asarray(problem.x, dtype), jnp.asarray(problem.y, dtype)

    def loss(flat: jax.Array) -> jax.Array:
        return problem.objective(unravel(flat), x, y)

    if function_reason(problem) is None:
        inputs = jnp.asarray(problem.inputs(256), dtype)

        def predict(flat: jax.Array) -> jax.Array:
            return jnp.reshape(problem.model.apply(unravel(flat), inputs), (-1,))
    else:

        def predict(flat: jax.Array) -> jax.Array:
            return flat

    if symmetry_reason(problem) is not None:
        return FlatProblem(loss, jax.hessian(loss), saddles.no_null_space, predict, unravel, problem.activation)
    activation, leaky_slope = problem.activation, problem.mlp.leaky_slope
    hessian_fn = hessian_function(problem.model, problem.loss_fn)

    def hessian(flat: jax.Array) -> jax.Array:
        return hessian_fn(unravel(flat), x, y)

    def null(flat: jax.Array) -> jax.Array:
        directions, keep, _ = symmetry_directions(unravel(flat), x, activation, leaky_slope)
        return saddles.orthonormal_columns(directions, keep)

    return FlatProblem(
        loss, hessian, null, predict, unravel, activation, _rescaling_and_dead_basis(like, x, activation)
    )


def run_problem(problem: Problem, like: Any) -> FlatProblem:
    """:func:`flat_problem` with its :attr:`FlatProblem.key` (the model and loss objects, the data and
    inputs, the layout), so that a second map of the same run, or of another run of the same model on
    the same data (another seed), reuses every compiled program (JAX's own cache of the module-level
    searches; nothing is kept here). :func:`landscape.problem.problem_of` gives the same model and loss
    objects for the same configuration (:attr:`Problem.objective`); objects passed in are their own key."""
    import dataclasses
    import hashlib

    layout = tuple((tuple(np.shape(leaf)), str(np.asarray(leaf).dtype)) for leaf in jax.tree.leaves(like))
    data = [problem.x, problem.y, problem.inputs(256)]  # the inputs: draws from the task when there is no dataset
    digest = hashlib.sha1(b"".join(np.ascontiguousarray(a).tobytes() for a in data)).hexdigest()
    key = (problem.objective, digest, layout)
    return dataclasses.replace(flat_problem(problem, like), key=key)


def canonical_form(params: Any, x: np.ndarray, activation: str = "relu") -> list[dict[str, np.ndarray]]:
    """One MLP's parameters with the symmetries removed (one hidden layer): every unit rescaled to a
    unit-norm incoming vector (:func:`landscape.alignment.canonical_scale`, homogeneous activations),
    then units ordered live first by the angle of their direction, dead ones last (zeroed: their
    parameters are flat directions and carry no information)."""
    params = [{k: np.asarray(v, np.float64) for k, v in layer.items()} for layer in params]
    canonical = canonical_scale(params)[0] if is_positively_homogeneous(activation) else params
    if len(canonical) != 2:
        return canonical
    w, b = canonical[0]["w"], canonical[0].get("b", np.zeros(canonical[0]["w"].shape[1]))
    z = np.asarray(x, np.float64) @ w + b
    dead = np.all(z <= 0, axis=0) if activation == "relu" else np.zeros(w.shape[1], bool)
    angle = np.arctan2(w[1], w[0]) if w.shape[0] >= 2 else np.sign(w[0])
    order = np.lexsort((b, angle, dead))
    out = permute_units(canonical, [order])
    dead_sorted = dead[order]
    out[0]["w"][:, dead_sorted] = 0.0
    if "b" in out[0]:
        out[0]["b"][dead_sorted] = 0.0
    out[1]["w"][dead_sorted, :] = 0.0
    return out


# ---------------------------------------------------------------------------------------------
# Disconnectivity tree (Becker & Karplus 1997).


def disconnectivity_tree(
    minima_loss: np.ndarray, connections: np.ndarray, heights: np.ndarray
) -> dict[str, np.ndarray]:
    """The tree of a disconnectivity graph, by joining groups of minima at their lowest connection.

    Connections are taken in order of height (Kruskal / union-find): each one that joins two
    different groups adds an internal node at its height. So two minima are joined at the lowest
    height ``h`` such that a chain of connections no higher than ``h`` leads from one to the other
    (the minimax path). Groups that are never joined stay separate trees.

    Args:
      minima_loss: ``(M,)`` leaf heights; connections: ``(C, 2)`` minimum indices; heights: ``(C,)``.
    Returns:
      ``height (N,)`` (leaves first: node ``i < M`` is minimum ``i``), ``parent (N,)`` (-1 for a
      root), ``children (N, 2)`` (-1 for leaves), ``order (M,)`` leaf order for drawing (each group
      contiguous), ``x (N,)`` horizontal positions, ``join (M, M)`` the height at which two minima
      are joined (inf: never; a minimum's own loss on the diagonal).
    """
    minima_loss = np.asarray(minima_loss, float)
    m = minima_loss.size
    height = list(minima_loss)
    parent = [-1] * m
    children = [(-1, -1)] * m
    root_of = list(range(m))  # union-find over minima -> current top node
    group = list(range(m))

    def find(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    join = np.full((m, m), np.inf)
    np.fill_diagonal(join, minima_loss)
    members: dict[int, list[int]] = {i: [i] for i in range(m)}
    for c in np.argsort(np.asarray(heights, float), kind="stable"):
        a, b = (int(v) for v in connections[c])
        h = float(heights[c])
        ra, rb = find(a), find(b)
        if ra == rb or not np.isfinite(h):
            continue
        node = len(height)
        na, nb = root_of[ra], root_of[rb]
        h = max(h, height[na], height[nb])
        height.append(h)
        parent.append(-1)
        children.append((na, nb))
        parent[na] = parent[nb] = node
        for i in members[ra]:
            for j in members[rb]:
                join[i, j] = join[j, i] = h
        group[rb] = ra
        members[ra] = members[ra] + members.pop(rb)
        root_of[ra] = node
    n = len(height)
    # leaf order: depth-first from each root, lower child first; roots by their lowest minimum
    roots = [i for i in range(n) if parent[i] == -1]

    def lowest(node: int) -> float:
        return height[node] if children[node][0] < 0 else min(lowest(children[node][0]), lowest(children[node][1]))

    order: list[int] = []

    def visit(node: int) -> None:
        if children[node][0] < 0:
            order.append(node)
            return
        for child in sorted(children[node], key=lowest):
            visit(child)

    for root in sorted(roots, key=lowest):
        visit(root)
    xpos = np.zeros(n)
    xpos[np.asarray(order, int)] = np.arange(m)
    for node in range(m, n):  # children are created before parents
        xpos[node] = 0.5 * (xpos[children[node][0]] + xpos[children[node][1]])
    return {
        "height": np.asarray(height),
        "parent": np.asarray(parent, np.int64),
        "children": np.asarray(children, np.int64).reshape(n, 2),
        "order": np.asarray(order, np.int64),
        "x": xpos,
        "join": join,
    }


def minimax_barriers(join: np.ndarray, endpoint_loss: np.ndarray) -> np.ndarray:
    """``(k, k)`` barriers through the map: join height minus the higher of the two minima
    (``inf`` where the map holds no connection)."""
    endpoint_loss = np.asarray(endpoint_loss, float)
    out = join - np.maximum(endpoint_loss[:, None], endpoint_loss[None, :])
    np.fill_diagonal(out, 0.0)
    return np.maximum(out, 0.0)


# ---------------------------------------------------------------------------------------------
# The result.


@dataclass
class MapResult:
    """Minima, transition states, bands and barriers as arrays (the ``/landscape_map`` group).

    ``arrays`` is a nested dict (index it with slashes: ``result["minima/loss"]``):

    * ``points/``: ``labels``, ``specs``, ``stage`` ``(k,)`` str, ``index (k,)``, ``minimum (k,)`` (the
      database minimum each point quenched to), ``start_loss``, ``start_grad_norm``, ``start_kind``,
      ``start_index`` ``(k,)`` (the point before quenching);
    * ``minima/``: ``params/``, ``canonical/`` (flat parameter paths, leading axis m; canonical =
      params for a model of one's own), ``loss``, ``grad_norm``, ``index``, ``kind``, ``n_null``,
      ``type``, ``cause`` (empty strings where types do not apply), ``active_units`` (-1 then),
      ``source`` ``(m,)``;
    * ``transition_states/``: ``params/``, ``loss``, ``grad_norm``, ``index``,
      ``negative_eigenvalue``, ``minima (s, 2)``, ``band``, ``iterations``, ``side_kind (s, 2)``,
      ``type``, ``cause``, ``active_units``;
    * ``bands/`` (one row per pair ``(b,)``): ``pairs (b, 2)``, ``kind`` (:data:`CONNECTION_KINDS`),
      ``barrier``, ``path_max``, ``path_max_position``, ``transition_state``, ``energies
      (b, n_images)``, ``climbing``, ``max_force``, ``pass_*`` (the band's highest sampled point),
      ``refined_*``, ``bezier_max``;
    * ``connections/``: ``minima (c, 2)``, ``height``, ``transition_state`` ``(c,)``;
    * ``barriers/`` ``(k, k)``: ``straight`` (lower of ``straight_unaligned`` and
      ``straight_aligned``; ``straight_is_aligned`` says which), ``bezier``, ``band``,
      ``transition_state``, ``map`` (minimax through the whole map);
    * ``tree/``: the disconnectivity tree (:func:`disconnectivity_tree`).

    ``attrs``: the :class:`MapSettings`, ``seconds``, ``stage_seconds``, ``kind_codes``,
    ``connection_kinds``, ``rule``, ``bezier_steps``, ``seed``, ``run_name``, ``model`` (one line),
    ``notes`` (list, JSON when stored: what was skipped for this model and why), ``barrier_note``.
    """

    arrays: dict[str, Any]
    attrs: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        node: Any = self.arrays
        for part in name.split("/"):
            node = node[part]
        return node

    def write(self, path: Any, name: str = GROUP) -> None:
        """Store as the run file's ``/<name>`` group (replacing it)."""
        from .storage import write_group

        write_group(path, name, self.arrays, self.attrs)

    @classmethod
    def read(cls, run: Any, name: str = GROUP) -> MapResult | None:
        """Read back a stored group of a run (or a path); None when the map has not been computed.
        Attributes of subgroups stay with their subgroup; JSON attributes (``notes``,
        ``stage_seconds``, ...) are decoded."""
        from .points import group_attrs, opened

        with opened(run) as run:
            if not run.has(name):
                return None
            arrays = run.group(name)
            attrs = group_attrs(run, name)
        for key in attrs:
            arrays.pop(key, None)
        return cls(arrays, attrs)

    @property
    def notes(self) -> list[str]:
        """One line each: what was skipped for this model (alignment, symmetry null space, types)
        or how the points were chosen (an incomplete run, no types)."""
        from .storage import attr_list

        return attr_list(self.attrs, "notes")


# ---------------------------------------------------------------------------------------------
# Building the map.


@dataclass(frozen=True)
class MapSettings:
    """Options of :func:`map_minima` (defaults suit the seed's 2-3-1 network in float64)."""

    n_images: int = 11
    neb_steps: int = 400
    climb_after: int = 100
    spring: float = 0.1
    dt: float = 0.05
    dt_max: float = 0.5
    max_move: float = 0.05
    grad_tol: float = 1e-7
    saddle_iterations: int = 100
    descent_iterations: int = 200
    trust_radius: float = 0.05
    step_off: float = 0.02
    match_tol: float = 1e-3
    downhill_tol: float = 1e-9
    profile_points: int = 10  # loss samples per band segment when looking for the path's maximum
    start: str = "line"  # or "bezier"


class _Clock:
    """Wall time per stage (compilation included), for the stored attributes and the benchmark."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def mark(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._last
        self._last = now


def _bucket(n: int) -> int:
    """Batch sizes are padded (powers of two from 4 to 64, then multiples of 64) so that compiled
    programs are reused without much wasted work."""
    return max(4, 1 << max(0, int(n) - 1).bit_length()) if n <= 64 else -(-int(n) // 64) * 64


@dataclass(frozen=True)
class _Search:
    """What the compiled searches depend on besides the problem (a static, hashable argument)."""

    grad_tol: float
    descent_iterations: int
    saddle_iterations: int
    trust_radius: float


@functools.partial(jax.jit, static_argnums=(0, 1))
def _descend_batch(problem: FlatProblem, s: _Search, flats: jax.Array) -> saddles.SearchResult:
    return jax.vmap(
        lambda p: saddles.descend(
            problem.loss, p, problem.null, s.grad_tol, s.descent_iterations, s.trust_radius, problem.hessian
        )
    )(flats)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _refine_batch(problem: FlatProblem, s: _Search, flats: jax.Array) -> saddles.SearchResult:
    return jax.vmap(
        lambda p: saddles.refine_saddle(
            problem.loss, p, problem.null, s.grad_tol, s.saddle_iterations, s.trust_radius, problem.hessian
        )
    )(flats)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _check_batch(problem: FlatProblem, s: _Search, flats: jax.Array) -> saddles.Curvature:
    return jax.vmap(lambda p: saddles.curvature(problem.loss, p, problem.null, s.grad_tol, hessian_fn=problem.hessian))(
        flats
    )


@functools.partial(jax.jit, static_argnums=(0, 2, 4))
def _neb_batch(
    problem: FlatProblem,
    bands: jax.Array,
    steps: int,
    spring: float,
    climb_after: int,
    dt: float,
    dt_max: float,
    max_move: float,
) -> neb.BandResult:
    """:func:`landscape.neb.neb_batch` keyed by the problem (its loss and null space are closures made
    per call, so passing them as static arguments compiled the bands again on every map)."""
    null = problem.band_null or problem.null
    return neb.neb_batch(problem.loss, bands, steps, spring, climb_after, dt, dt_max, max_move, null)


@functools.partial(jax.jit, static_argnums=0)
def _loss_batch(problem: FlatProblem, flats: jax.Array) -> jax.Array:
    return jax.vmap(problem.loss)(flats)


@functools.partial(jax.jit, static_argnums=0)
def _predict_one(problem: FlatProblem, flat: jax.Array) -> jax.Array:
    return problem.predict(flat)


class _Operations:
    """The batched searches of one problem and settings, padded to a few batch sizes; compiled once
    per (problem key, settings) by JAX (module-level jits with static arguments), not cached here."""

    def __init__(self, problem: FlatProblem, s: MapSettings):
        search = _Search(s.grad_tol, s.descent_iterations, s.saddle_iterations, s.trust_radius)
        self._descend = functools.partial(_descend_batch, problem, search)
        self._refine = functools.partial(_refine_batch, problem, search)
        self._check = functools.partial(_check_batch, problem, search)
        self._loss = functools.partial(_loss_batch, problem)
        self.predict = functools.partial(_predict_one, problem)

    @staticmethod
    def _padded(function: Any, flats: Any) -> Any:
        flats = np.asarray(flats)
        n = flats.shape[0]
        padded = np.concatenate([flats, np.repeat(flats[:1], _bucket(n) - n, axis=0)])
        return jax.tree.map(lambda leaf: np.asarray(leaf)[:n], function(jnp.asarray(padded)))

    def band_profile(self, bands: np.ndarray, per_segment: int) -> tuple[np.ndarray, np.ndarray]:
        """``(points (B, S, P), loss (B, S))`` along each band's polyline, ``per_segment`` samples per
        segment plus the last image."""
        t = np.linspace(0.0, 1.0, per_segment, endpoint=False)[None, :, None]
        starts, steps = bands[:, :-1, None, :], np.diff(bands, axis=1)[:, :, None, :]
        points = (starts + t * steps).reshape(bands.shape[0], -1, bands.shape[2])
        points = np.concatenate([points, bands[:, -1:, :]], axis=1)
        flat = points.reshape(-1, points.shape[2])
        loss = self._padded(self._loss, flat).reshape(points.shape[:2])
        return points, loss

    def descend(self, flats: Any) -> saddles.SearchResult:
        return self._padded(self._descend, flats)

    def refine(self, flats: Any) -> saddles.SearchResult:
        return self._padded(self._refine, flats)

    def check(self, flats: Any) -> saddles.Curvature:
        return self._padded(self._check, flats)


def _describe(problem: FlatProblem, flats: np.ndarray, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """What each network computes: solution type (shape), cause, live units (built-in MLPs with a
    scalar output on data; else empty strings and -1)."""
    from .solutions import classify_networks

    if flats.shape[0] == 0 or problem.activation is None or np.ndim(y) != 1 or np.shape(x)[0] == 0:
        n = flats.shape[0]
        return {"type": np.full(n, "", "<U1"), "cause": np.full(n, "", "<U1"), "active_units": np.full(n, -1, np.int64)}
    params = jax.tree.map(np.asarray, jax.vmap(problem.unravel)(jnp.asarray(flats)))
    loss = np.zeros(flats.shape[0])  # the shape label does not use it
    target_scale = float(np.std(y))
    result = classify_networks(
        params, x, loss, np.zeros(len(loss), np.int8), problem.activation, target_scale=target_scale
    )
    live = (
        np.sum(np.asarray(result["active_fraction"]) > 0, axis=1)
        if "active_fraction" in result
        else np.full(len(loss), -1)
    )
    cause = result["cause"] if "cause" in result else np.full(len(loss), "")
    return {
        "type": np.asarray(result["shape"]).astype(str),
        "cause": np.asarray(cause).astype(str),
        "active_units": live.astype(np.int64),
    }


class _Database:
    """Minima (or saddles) deduplicated by the function they compute."""

    def __init__(self, problem: FlatProblem, tol: float, predict: Any):
        self.problem, self.tol = problem, tol
        self.flats: list[np.ndarray] = []
        self.functions: list[np.ndarray] = []
        self.losses: list[float] = []
        self.sources: list[str] = []
        self._predict = predict

    def add(self, flat: np.ndarray, loss: float, source: str) -> tuple[int, bool]:
        function = np.asarray(self._predict(jnp.asarray(flat)))
        for i, (other, other_loss) in enumerate(zip(self.functions, self.losses)):
            if (
                np.sqrt(np.mean((function - other) ** 2)) < self.tol
                and abs(loss - other_loss) <= self.tol * max(abs(loss), 1e-12) + 1e-12
            ):
                return i, False
        self.flats.append(np.asarray(flat))
        self.functions.append(function)
        self.losses.append(float(loss))
        self.sources.append(source)
        return len(self.flats) - 1, True


def map_minima(
    problem: FlatProblem,
    points: list[np.ndarray],
    labels: list[str],
    x: np.ndarray,
    y: np.ndarray,
    settings: MapSettings = MapSettings(),
    pairs: list[tuple[int, int]] | None = None,
    bezier_controls: dict[tuple[int, int], np.ndarray] | None = None,
) -> MapResult:
    """Minima, transition states and connections between the given points (see the module doc).

    Args:
      problem: the loss as a function of flat parameters (:func:`mlp_problem`), float64.
      points: ``k`` flat parameter vectors ``(P,)`` to start from; labels: their names.
      x, y: the data (to describe what networks compute and to canonicalise dead units).
      pairs: which points to connect (default: every pair).
      bezier_controls: ``{(i, j): control (P,)}`` trained Bezier control points between quenched
        minimum ``i`` and minimum ``j`` aligned onto it; used as start bands when
        ``settings.start == "bezier"``.
    Returns:
      A :class:`MapResult` (straight-line and Bezier barrier matrices are added by :func:`map_run`).
    """
    started = time.perf_counter()
    clock = _Clock()
    s = settings
    k = len(points)
    pairs = list(itertools.combinations(range(k), 2)) if pairs is None else pairs
    operations = _Operations(problem, s)
    descend, refine, check = operations.descend, operations.refine, operations.check
    start_check = check(np.stack(points))
    quenched = descend(jnp.asarray(np.stack(points)))
    clock.mark("quench")
    minima = _Database(problem, s.match_tol, operations.predict)
    point_minimum = [
        minima.add(np.asarray(quenched.params[i]), float(quenched.loss[i]), f"point {labels[i]}")[0] for i in range(k)
    ]

    # bands: start from the straight line (second end aligned onto the first) or a Bezier curve
    starts, ends = [], []
    for i, j in pairs:
        a = problem.unravel(jnp.asarray(minima.flats[point_minimum[i]]))
        b = problem.unravel(jnp.asarray(minima.flats[point_minimum[j]]))
        a_np = jax.tree.map(np.asarray, a)
        if problem.activation is None:  # symmetries not known: the band starts on the unaligned line
            aligned = jax.tree.map(np.asarray, b)
        else:
            aligned = cast_like(align(a_np, jax.tree.map(np.asarray, b), problem.activation)[0], a_np)
        starts.append(np.asarray(ravel_pytree(a)[0]))
        ends.append(np.asarray(ravel_pytree(jax.tree.map(jnp.asarray, aligned))[0]))
    if s.start == "bezier" and bezier_controls:
        bands = np.stack(
            [
                neb.bezier_band(st, bezier_controls[p], en, s.n_images)
                if p in bezier_controls
                else neb.line_band(st, en, s.n_images)
                for p, st, en in zip(pairs, starts, ends)
            ]
        )
    else:
        bands = np.stack([neb.line_band(st, en, s.n_images) for st, en in zip(starts, ends)])
    n_bands = bands.shape[0]  # padded like every batch, so that another map of as many pairs compiles nothing
    bands = jnp.asarray(np.concatenate([bands, np.repeat(bands[:1], _bucket(n_bands) - n_bands, axis=0)]))
    relaxed = _neb_batch(problem, bands, s.neb_steps, s.spring, s.climb_after, s.dt, s.dt_max, s.max_move)
    relaxed = jax.tree.map(lambda leaf: np.asarray(leaf)[:n_bands], relaxed)
    energies = np.asarray(relaxed.energies)
    clock.mark("bands (NEB)")
    climbing = np.asarray(relaxed.climbing)
    higher_end = np.maximum(energies[:, 0], energies[:, -1])
    # the relaxed band as a path: its loss between the images too, so that a narrow rise is not missed
    fine_points, fine_loss = operations.band_profile(np.asarray(relaxed.band), s.profile_points)
    top = np.argmax(fine_loss, axis=1)
    path_max = fine_loss[np.arange(len(pairs)), top]
    downhill = path_max <= higher_end + s.downhill_tol * np.maximum(np.abs(higher_end), 1.0)

    # transition states from the climbing images of bands with a barrier
    uphill = np.flatnonzero(~downhill)
    kind = np.where(downhill, 1, 2).astype(np.int8)
    band_ts = np.full(len(pairs), -1, np.int64)
    saddles_db = _Database(problem, s.match_tol, operations.predict)
    ts_rows: list[dict[str, Any]] = []
    # every relaxed band is a path between its ends: it joins them at its highest sampled loss
    connections: list[tuple[int, int, float, int]] = [
        (point_minimum[i], point_minimum[j], float(max(path_max[n], higher_end[n])), -1)
        for n, (i, j) in enumerate(pairs)
    ]  # (minimum a, minimum b, height, transition state or -1 for a band)
    refined_loss, refined_grad, refined_moved = (np.full(len(pairs), np.nan) for _ in range(3))
    refined_index = np.full(len(pairs), -1, np.int64)
    if uphill.size:
        # refine from the highest point of the path (the climbing image once the band has converged),
        # and from points half a segment either side of it; on a ReLU loss
        # the pass can sit on a kink, and a start in the right smooth piece is what converges
        half = max(1, s.profile_points // 2)
        last = fine_points.shape[1] - 1
        starts = [top[uphill], np.clip(top[uphill] - half, 0, last), np.clip(top[uphill] + half, 0, last)]
        candidates = np.stack([fine_points[uphill, where] for where in starts], axis=1)  # (U, C, P)
        n_candidates = candidates.shape[1]
        tried = refine(candidates.reshape(-1, candidates.shape[2]))
        tried_check = check(tried.params)
        ok = np.asarray((tried_check.kind == saddles.SADDLE) & (tried_check.index == 1)).reshape(-1, n_candidates)
        miss = np.abs(np.asarray(tried.loss).reshape(-1, n_candidates) - path_max[uphill, None])
        choice = np.argmin(np.where(ok, miss, np.inf + miss), axis=1)
        pick = np.arange(len(uphill)) * n_candidates + choice
        refined = jax.tree.map(lambda leaf: np.asarray(leaf)[pick], tried)
        verified = jax.tree.map(lambda leaf: np.asarray(leaf)[pick], tried_check)
        good = ok[np.arange(len(uphill)), choice]
        clock.mark("saddle refinement")
        off = np.asarray(
            jax.vmap(lambda p, v: saddles.step_off(p, v[:, 0], s.step_off))(refined.params, verified.eigenvectors)
        )
        sides = descend(off.reshape(-1, off.shape[-1]))
        side_kind = np.asarray(check(sides.params).kind)
        clock.mark("descent from transition states")
        refined_loss[uphill], refined_grad[uphill] = refined.loss, refined.grad_norm
        refined_index[uphill], refined_moved[uphill] = (
            verified.index,
            np.linalg.norm(refined.params - candidates[np.arange(len(uphill)), choice], axis=1),
        )
        for row, n in enumerate(uphill):
            if not good[row]:
                continue
            flat = np.asarray(refined.params[row])
            t_index, new = saddles_db.add(
                flat, float(refined.loss[row]), f"band {labels[pairs[n][0]]}-{labels[pairs[n][1]]}"
            )
            kind[n], band_ts[n] = 0, t_index
            if not new:
                continue
            ends_found = []
            for side in (2 * row, 2 * row + 1):
                m_index, m_new = minima.add(
                    np.asarray(sides.params[side]), float(sides.loss[side]), f"descent from TS {t_index}"
                )
                ends_found.append(m_index)
            ts_rows.append(
                {
                    "params": flat,
                    "loss": float(refined.loss[row]),
                    "grad_norm": float(refined.grad_norm[row]),
                    "index": int(verified.index[row]),
                    "negative_eigenvalue": float(verified.eigenvalues[row, 0]),
                    "minima": ends_found,
                    "band": int(n),
                    "iterations": int(refined.iterations[row]),
                    "side_kind": [int(side_kind[2 * row]), int(side_kind[2 * row + 1])],
                }
            )
            connections.append((ends_found[0], ends_found[1], float(refined.loss[row]), t_index))

    # check every minimum of the database
    min_flats = np.stack(minima.flats)
    min_check = check(min_flats)
    ts_flats = np.stack([r["params"] for r in ts_rows]) if ts_rows else np.zeros((0, min_flats.shape[1]))
    pass_flats = fine_points[np.arange(len(pairs)), top]  # each band's highest sampled point
    pass_check = check(pass_flats)
    both = _describe(problem, np.concatenate([min_flats, ts_flats, pass_flats]), x, y)  # one compile for all
    n_min, n_ts = len(min_flats), len(ts_flats)
    described = {key: value[:n_min] for key, value in both.items()}
    ts_described = {key: value[n_min : n_min + n_ts] for key, value in both.items()}
    pass_described = {key: value[n_min + n_ts :] for key, value in both.items()}
    clock.mark("checks and descriptions")
    batched_tree = lambda flats: jax.tree.map(np.asarray, jax.vmap(problem.unravel)(jnp.asarray(flats)))  # noqa: E731

    def canonical(flats: np.ndarray) -> Any:
        like = problem.unravel(jnp.asarray(min_flats[0]))
        if problem.activation is None:  # no known symmetries: the parameters as they are
            return _stack_trees([jax.tree.map(np.asarray, problem.unravel(jnp.asarray(f))) for f in flats], like)
        return _stack_trees(
            [canonical_form(problem.unravel(jnp.asarray(f)), x, problem.activation) for f in flats], like
        )

    conn = np.array([c[:2] for c in connections], np.int64).reshape(-1, 2)
    heights = np.array([c[2] for c in connections], float)
    tree = disconnectivity_tree(np.asarray(min_check.loss), conn, heights)
    point_loss = np.asarray(min_check.loss)[point_minimum]
    map_barrier = minimax_barriers(tree["join"][np.ix_(point_minimum, point_minimum)], point_loss)
    ts_barrier = np.full((k, k), np.nan)  # the band's own verified transition state over the higher end
    np.fill_diagonal(ts_barrier, 0.0)
    band_barrier = np.full((k, k), np.nan)  # the relaxed band's highest sampled point over the higher end
    np.fill_diagonal(band_barrier, 0.0)
    for n, (i, j) in enumerate(pairs):
        band_barrier[i, j] = band_barrier[j, i] = max(float(path_max[n] - higher_end[n]), 0.0)
        if kind[n] == 1:
            ts_barrier[i, j] = ts_barrier[j, i] = 0.0
        elif band_ts[n] >= 0:
            value = max(float(saddles_db.losses[band_ts[n]]) - max(point_loss[i], point_loss[j]), 0.0)
            ts_barrier[i, j] = ts_barrier[j, i] = value

    from .storage import flatten_params, nest_paths

    arrays: dict[str, Any] = {
        "points": {
            "labels": np.array(labels),
            "minimum": np.array(point_minimum, np.int64),
            "start_loss": np.asarray(start_check.loss),
            "start_grad_norm": np.asarray(start_check.grad_norm),
            "start_kind": np.asarray(start_check.kind).astype(np.int8),
            "start_index": np.asarray(start_check.index),
        },
        "minima": {
            "params": nest_paths(flatten_params(batched_tree(min_flats))),
            "canonical": nest_paths(flatten_params(canonical(min_flats))),
            "loss": np.asarray(min_check.loss),
            "grad_norm": np.asarray(min_check.grad_norm),
            "index": np.asarray(min_check.index),
            "kind": np.asarray(min_check.kind).astype(np.int8),
            "n_null": np.asarray(min_check.n_null),
            "type": described["type"],
            "cause": described["cause"],
            "active_units": described["active_units"],
            "source": np.array(minima.sources),
        },
        "transition_states": {
            "params": nest_paths(flatten_params(batched_tree(ts_flats))) if ts_rows else {},
            "loss": np.array([r["loss"] for r in ts_rows], float),
            "grad_norm": np.array([r["grad_norm"] for r in ts_rows], float),
            "index": np.array([r["index"] for r in ts_rows], np.int64),
            "negative_eigenvalue": np.array([r["negative_eigenvalue"] for r in ts_rows], float),
            "minima": np.array([r["minima"] for r in ts_rows], np.int64).reshape(-1, 2),
            "band": np.array([r["band"] for r in ts_rows], np.int64),
            "iterations": np.array([r["iterations"] for r in ts_rows], np.int64),
            "side_kind": np.array([r["side_kind"] for r in ts_rows], np.int64).reshape(-1, 2),
            "type": ts_described["type"],
            "cause": ts_described["cause"],
            "active_units": ts_described["active_units"],
        },
        "bands": {
            "pairs": np.array(pairs, np.int64).reshape(-1, 2),
            "path_max": path_max,
            "path_max_position": top / (fine_loss.shape[1] - 1),
            "pass_params": nest_paths(flatten_params(batched_tree(pass_flats))),
            "pass_loss": np.asarray(pass_check.loss),
            "pass_grad_norm": np.asarray(pass_check.grad_norm),
            "pass_index": np.asarray(pass_check.index),
            "pass_kind": np.asarray(pass_check.kind).astype(np.int8),
            "pass_type": pass_described["type"],
            "pass_cause": pass_described["cause"],
            "pass_active_units": pass_described["active_units"],
            "refined_loss": refined_loss,
            "refined_grad_norm": refined_grad,
            "refined_index": refined_index,
            "refined_distance": refined_moved,
            "energies": energies,
            "climbing": climbing,
            "max_force": np.asarray(relaxed.max_force),
            "kind": kind,
            "transition_state": band_ts,
            "barrier": np.maximum(path_max - higher_end, 0.0),
        },
        "connections": {
            "minima": conn,
            "height": heights,
            "transition_state": np.array([c[3] for c in connections], np.int64),
        },
        "barriers": {"transition_state": ts_barrier, "map": map_barrier, "band": band_barrier},
        "tree": {key: value for key, value in tree.items() if key != "join"},
    }
    attrs = {
        **{f: getattr(s, f) for f in MapSettings.__dataclass_fields__},
        "seconds": time.perf_counter() - started,
        "stage_seconds": clock.seconds,
        "kind_codes": list(saddles.KIND_NAMES),
        "connection_kinds": list(CONNECTION_KINDS),
        "rule": f"stationary if |grad| < {s.grad_tol:g}; index = eigenvalues below -(1e-4 max|lambda| + 1e-7) outside the symmetry null space",
    }
    return MapResult(arrays, attrs)


def _stack_trees(trees: list[Any], like: Any) -> Any:
    if not trees:
        return jax.tree.map(lambda leaf: np.zeros((0, *np.shape(leaf))), like)
    return jax.tree.map(lambda *leaves: np.stack([np.asarray(v) for v in leaves]), *trees)


def point_stationarity(problem: Problem, networks: list[Any], grad_tol: float | None = None) -> dict[str, Any]:
    """Stationary or not, and the index outside the symmetry null space, of networks of a problem
    (float64): ``kind``, ``index``, ``grad_norm`` ``(k,)`` and ``grad_tol`` (default: the study's
    ``train.grad_tol``, the trainer's own convergence rule); ``note``: one line when the null space
    is not known (:func:`symmetry_reason`), else absent."""
    grad_tol = problem.study.train.grad_tol if grad_tol is None else grad_tol
    with jax.enable_x64(True):
        as64 = [jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float64), n) for n in networks]
        flat = run_problem(problem, as64[0])
        # the map's compiled check (padded batches): a later map of the same run compiles it no more
        found = _Operations(flat, MapSettings()).check(np.stack([np.asarray(ravel_pytree(n)[0]) for n in as64]))
        grad_norm, index = np.asarray(found.grad_norm), np.asarray(found.index)
        out: dict[str, Any] = {
            "kind": np.asarray(saddles.stationary_kind(grad_norm, index, grad_tol)),
            "index": index,
            "grad_norm": grad_norm,
            "grad_tol": grad_tol,
        }
    reason = symmetry_reason(problem)
    if reason is not None:
        out["note"] = f"symmetry null space skipped: {reason}; the index counts every direction"
    return out


def network_stationarity(run: Any, networks: list[Any], grad_tol: float | None = None) -> dict[str, Any]:
    """:func:`point_stationarity` of networks of a run's problem (``problem_of(run)``)."""
    from .problem import problem_of

    return point_stationarity(problem_of(run), networks, grad_tol)


def stationarity_lines(run_path: Any, networks: list[Any], labels: list[str]) -> list[str]:
    """``  <label>: minimum | saddle of index k | not stationary (...)`` for each network, the words
    every command uses (:func:`landscape.saddles.describe_kind`)."""
    from .storage import Run

    with Run(run_path) as run:
        found = network_stationarity(run, networks)
    tol = found["grad_tol"]
    return [
        f"  {label}: {saddles.describe_kind(k, i, g, tol)}"
        for label, k, i, g in zip(labels, found["kind"], found["index"], found["grad_norm"])
    ]


def default_point_specs(run: Any, extra_per_type: int = 1) -> list[str]:
    """The type representatives (finished types only, in ``vocabulary.TYPE_ORDER``) plus
    ``extra_per_type`` more minima per type: the lowest-loss networks of the type that stopped
    converged. Needs the ``types`` group (see :func:`map_run` for a run without one)."""
    from .points import type_representatives_of
    from .solutions import type_labels
    from .vocabulary import OUTCOME_TYPES, Status

    representatives = {t: i for t, i in type_representatives_of(run).items() if t not in OUTCOME_TYPES}
    labels = np.asarray(type_labels(run)).astype(str)
    loss, status = run.final_loss, run.status
    specs = list(representatives)
    for name, rep in representatives.items():
        members = np.flatnonzero((labels == name) & (status == int(Status.CONVERGED)) & np.isfinite(loss))
        members = members[np.argsort(loss[members], kind="stable")]
        specs += [str(int(i)) for i in members if i != rep][:extra_per_type]
    return specs


def map_run(
    run: Any,
    specs: list[str] | None = None,
    settings: MapSettings = MapSettings(),
    bezier_steps: int = 300,
    seed: int = 0,
    extra_per_type: int = 1,
    *,
    problem: Problem | None = None,
    finished_only: bool = False,
) -> MapResult:
    """:func:`map_minima` between points of a run (``specs`` as ``landscape paths`` takes them:
    ``17``, ``init:17``, a type name, ``cluster:3``; default :func:`default_point_specs`, or without
    types the four lowest-loss finished networks, with a note), with the straight-line barriers
    (the lower of unaligned and aligned, saying which) and trained Bezier curves' barriers between
    the quenched minima beside the map's. Reads the run; writes nothing (:meth:`MapResult.write`).

    Any model and loss the run records (``problem``, default ``problem_of(run)``): what applies only
    to the built-in MLP (alignment, the symmetry null space, canonical forms, solution types of
    minima) is skipped for another with one line each in ``attrs["notes"]`` (JSON list).

    Raises:
      ConfigError, RunFileError: one line (fewer than two distinct finite points, an incomplete
        run without ``finished_only``, a model that cannot be rebuilt).
    """
    from .alignment import alignment_reason
    from .config import ConfigError
    from .paths import barrier_matrix, cast_like_tree, lower_straight_barrier, path_t, train_bezier_batch
    from .points import distinct_count, select_points
    from .problem import problem_of
    from .slices import barrier
    from .storage import finished_networks

    problem = problem_of(run) if problem is None else problem
    if not specs and run.has("types"):
        finished = finished_networks(run, finished_only)
        specs = [spec for spec in default_point_specs(run, extra_per_type) if not spec.isdigit() or finished[int(spec)]]
        if len(specs) < 2:  # too few types with minima: the defaults top up with the lowest-loss finished networks
            specs = None
    selection = select_points(run, specs, 4, finished_only, minimum=2)
    resolved, notes = selection.points, list(selection.notes)
    specs = selection.specs
    if distinct_count(resolved) < 2:
        raise ConfigError(
            f"{run.path}: a map needs two or more distinct points with finite parameters; "
            f"{' '.join(specs)} give {distinct_count(resolved)}"
        )
    for reason, what in (
        (alignment_reason(problem), "alignment"),
        (symmetry_reason(problem), "symmetry null space"),
        (mlp_reason(problem), "solution types of minima"),
    ):
        if reason is not None:
            notes.append(f"{what} skipped: {reason}")
    labels = [p.label for p in resolved]
    started = time.perf_counter()
    with jax.enable_x64(True):
        like = jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float64), resolved[0].params)
        flat = run_problem(problem, like)  # activation None for a model of one's own: no alignment
        x, y = jnp.asarray(problem.x, jnp.float64), jnp.asarray(problem.y, jnp.float64)
        points = [
            np.asarray(ravel_pytree(jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float64), p.params))[0])
            for p in resolved
        ]
        k = len(points)
        pairs = list(itertools.combinations(range(k), 2))
        # the quenched minima, for the straight-line and Bezier comparisons
        quenched = [flat.unravel(q) for q in _Operations(flat, settings).descend(np.stack(points)).params]
        quenched_np = [jax.tree.map(np.asarray, q) for q in quenched]
        objective = problem.objective
        t = path_t()
        clock = _Clock()
        straight = barrier_matrix(objective, x, y, quenched_np, flat.activation, t)
        clock.mark("straight lines")
        controls: dict[tuple[int, int], np.ndarray] = {}
        bezier_matrix = np.full((k, k), np.nan)
        np.fill_diagonal(bezier_matrix, 0.0)
        bezier_max = np.full(len(pairs), np.nan)
        if bezier_steps > 0 and pairs:
            stack = lambda trees: jax.tree.map(lambda *leaves: jnp.stack([jnp.asarray(v) for v in leaves]), *trees)  # noqa: E731
            starts = stack([quenched_np[i] for i, _ in pairs])
            ends = stack([cast_like_tree(straight["aligned_ends"][(i, j)], quenched_np[i]) for i, j in pairs])
            keys = jax.random.split(jax.random.PRNGKey(seed), len(pairs))
            curves = train_bezier_batch(objective, x, y, starts, ends, keys, steps=bezier_steps)
            for n, (i, j) in enumerate(pairs):
                profile = np.asarray(curves.profile[n])
                bezier_matrix[i, j] = bezier_matrix[j, i] = barrier(profile)
                bezier_max[n] = float(profile.max())
                controls[(i, j)] = np.asarray(ravel_pytree(jax.tree.map(lambda leaf, n=n: leaf[n], curves.control))[0])
        clock.mark("Bezier curves")
        result = map_minima(flat, points, labels, np.asarray(x), np.asarray(y), settings, pairs, controls)
        result.attrs["stage_seconds"] = {**clock.seconds, **result.attrs["stage_seconds"]}
    lower, is_aligned = lower_straight_barrier(straight["barrier_linear"], straight["barrier_aligned"])
    if flat.activation is None:
        is_aligned = np.zeros_like(is_aligned)
    result.arrays["points"].update(
        specs=np.array(specs),
        index=np.array([p.index for p in resolved], np.int64),
        stage=np.array([p.stage for p in resolved]),
    )
    result.arrays["barriers"].update(
        straight=lower,
        straight_is_aligned=is_aligned,
        straight_unaligned=straight["barrier_linear"],
        straight_aligned=straight["barrier_aligned"],
        bezier=bezier_matrix,
    )
    result.arrays["bands"]["bezier_max"] = bezier_max
    result.attrs.update(
        bezier_steps=bezier_steps,
        seed=seed,
        seconds=time.perf_counter() - started,
        run_name=run.name,
        model=problem.describe(),
        notes=notes,
        barrier_note="straight: lower of unaligned and aligned straight lines (straight_is_aligned says which); "
        "bezier: trained quadratic Bezier curve between the same quenched minima; transition_state: minimax over the map's connections",
    )
    return result


def format_map(result: MapResult) -> str:
    """The printed table: minima, transition states, and the barriers between the points."""
    kinds = saddles.KIND_NAMES
    grad_tol = float(result.attrs.get("grad_tol", 0.0))
    lines = [
        f"minima ({len(result['minima/loss'])}; stationary if |grad| < {grad_tol:g}):",
        f"  {'#':>3}  {'loss':>10}  {'|grad|':>8}  {'kind':<15}{'index':>5}  {'type':<10} {'what it computes':<40} source",
    ]
    for m in range(len(result["minima/loss"])):
        kind = kinds[int(result["minima/kind"][m])]
        lines.append(
            f"  {m:>3}  {result['minima/loss'][m]:10.5g}  {result['minima/grad_norm'][m]:8.1e}  {kind:<15}{int(result['minima/index'][m]):>5}  "
            f"{result['minima/type'][m]:<10} {result['minima/cause'][m]:<40} {result['minima/source'][m]}"
        )
    ts = result["transition_states"]
    lines.append(
        f"transition states ({len(ts['loss'])}; verified: |grad| < {grad_tol:g} and exactly one negative eigenvalue outside the symmetry null space):"
    )
    lines.append(
        f"  {'#':>3}  {'loss':>10}  {'|grad|':>8}  {'index':>5}  {'lambda_neg':>10}  {'joins':>7}  {'type':<10} what it computes"
    )
    for t in range(len(ts["loss"])):
        a, b = (int(v) for v in ts["minima"][t])
        lines.append(
            f"  {t:>3}  {ts['loss'][t]:10.5g}  {ts['grad_norm'][t]:8.1e}  {int(ts['index'][t]):>5}  {ts['negative_eigenvalue'][t]:10.3g}  "
            f"{a:>3}-{b:<3}  {ts['type'][t]:<10} {_what(ts['cause'][t], ts['active_units'][t])}"
        )
    bands = result["bands"]
    labels = [str(v) for v in result["points/labels"]]
    lines.append(
        "bands: highest sampled point of each relaxed band (the pass); 'transition state' when a verified one was "
        "refined from it, 'downhill' when the band never rises above its higher end:"
    )
    lines.append(
        f"  {'pair':<34} {'band':<17} {'pass loss':>10}  {'|grad|':>8}  {'index':>5}  {'type':<10} what it computes"
    )
    for n, (i, j) in enumerate(bands["pairs"]):
        how = CONNECTION_KINDS[int(bands["kind"][n])].replace("_", " ")
        pair = f"{labels[i]} -> {labels[j]}"
        lines.append(
            f"  {pair:<34} {how:<17} {bands['pass_loss'][n]:10.5g}  {bands['pass_grad_norm'][n]:8.1e}  "
            f"{int(bands['pass_index'][n]):>5}  {bands['pass_type'][n]:<10} "
            f"{_what(bands['pass_cause'][n], bands['pass_active_units'][n])}"
        )
    barriers = result["barriers"]
    lines.append(
        "barriers between the points: straight line (lower of unaligned u / aligned a), trained Bezier curve, "
        "relaxed band (NEB), its verified transition state, and the lowest route through the whole map:"
    )
    for n, (i, j) in enumerate(bands["pairs"]):
        straight = (
            f"{barriers['straight'][i, j]:.3g}{'a' if barriers['straight_is_aligned'][i, j] else 'u'}"
            if "straight" in barriers
            else "-"
        )
        bezier = _number(barriers["bezier"][i, j]) if "bezier" in barriers else "-"
        how = CONNECTION_KINDS[int(bands["kind"][n])].replace("_", " ")
        lines.append(
            f"  {labels[i]} -> {labels[j]}: straight {straight}, Bezier {bezier}, band {_number(bands['barrier'][n])} ({how}), "
            f"TS {_number(barriers['transition_state'][i, j])}, map {_number(barriers['map'][i, j])}"
        )
    return "\n".join(lines)


def _what(cause: str, active_units: int) -> str:
    """``cause; k live units``, or nothing where the model's units are not known (-1)."""
    return f"{cause}; {int(active_units)} live units" if int(active_units) >= 0 else str(cause)


def _number(value: float) -> str:
    return f"{value:.3g}" if np.isfinite(value) else "-"
