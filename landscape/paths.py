"""Paths between minima: straight lines before and after alignment, trained Bezier curves, barriers.

* :func:`pair_profiles`: the loss along the straight line between two networks, raw and after
  aligning the second onto the first (:func:`landscape.alignment.align`), with barriers.
* :func:`barrier_matrix`: those barriers for every pair of a list of networks (representatives
  of solution types or clusters).
* :func:`train_bezier` / :func:`train_bezier_batch`: a quadratic Bezier curve between two
  minima whose control point is trained to minimise the expected loss along the curve
  (Garipov et al. 2018); written for one pair, vmapped over pairs.

* :func:`barriers_run`: all of it between points of a run, for any model and loss (it evaluates
  the run's :class:`~landscape.problem.Problem`; alignment only where it applies), as a
  :class:`PathsResult` stored by :meth:`PathsResult.write` as ``paths/<name>`` and read back by
  :meth:`PathsResult.read`.

A *barrier* is the highest loss on a path minus the higher of its two endpoint losses
(:func:`landscape.slices.barrier`), measured on a fixed grid of ``t`` values in [0, 1].
"""

from __future__ import annotations

import functools
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .alignment import align, cast_like, parameter_distance
from .slices import Objective, as_jax, barrier, line_losses, tree_add, tree_scale
from .types import Params

if TYPE_CHECKING:
    from .problem import Problem
    from .storage import Run

DEFAULT_PATH_POINTS = 101


def path_t(n_points: int = DEFAULT_PATH_POINTS) -> np.ndarray:
    """``(n_points,)`` evenly spaced ``t`` in [0, 1], endpoints included."""
    return np.linspace(0.0, 1.0, n_points)


# ---------------------------------------------------------------------------------------------
# Straight lines and the barrier matrix.


class PairProfiles(NamedTuple):
    """Straight-line profiles between networks ``a`` and ``b``.

    ``linear``/``aligned``: ``(n_t,)`` losses from ``a`` (t=0) to ``b`` (t=1), the latter with
    ``b`` moved onto ``a``'s symmetry copy. ``aligned_end`` is that copy (``b``'s function).
    """

    linear: np.ndarray
    aligned: np.ndarray
    barrier_linear: float
    barrier_aligned: float
    aligned_end: Params
    distance_before: float
    distance_after: float


def pair_profiles(
    objective: Objective,
    x: jax.Array,
    y: jax.Array,
    a: Params,
    b: Params,
    activation: str | None,
    t: np.ndarray | None = None,
) -> PairProfiles:
    """Loss along the segment ``a -> b`` before and after aligning ``b`` onto ``a``.

    ``activation`` None: no alignment (a model whose symmetries are not known): the "aligned"
    profile is the straight line itself and ``aligned_end`` is ``b``.
    """
    t = path_t() if t is None else t
    a_jax = as_jax(a)
    linear = np.asarray(line_losses(objective, x, y, a_jax, as_jax(b), t))
    if activation is None:
        distance = parameter_distance(a, b)
        return PairProfiles(linear, linear, barrier(linear), barrier(linear), as_jax(b), distance, distance)
    aligned_b, info = align(a, b, activation)
    aligned_b = as_jax(cast_like(aligned_b, a))
    aligned = np.asarray(line_losses(objective, x, y, a_jax, aligned_b, t))
    return PairProfiles(
        linear, aligned, barrier(linear), barrier(aligned), aligned_b, info.distance_before, info.distance_after
    )


def barrier_matrix(
    objective: Objective,
    x: jax.Array,
    y: jax.Array,
    networks: list[Params],
    activation: str | None,
    t: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Straight-line barriers between every pair of ``networks`` (each ONE network's params).

    The line between ``i < j`` aligns ``j`` onto ``i`` (``activation`` None: no alignment, the
    aligned matrices repeat the unaligned ones); the matrices are filled symmetrically with
    zeros on the diagonal.

    Returns:
      ``barrier_linear``, ``barrier_aligned``: ``(k, k)``; ``profile_linear``,
      ``profile_aligned``: ``(k, k, n_t)`` (row ``i``, column ``j`` runs from ``i`` to ``j``);
      ``distance_linear``, ``distance_aligned``: ``(k, k)`` parameter distances;
      ``barrier_straight``: ``(k, k)`` the lower of the two straight-line barriers and
      ``straight_is_aligned``: ``(k, k)`` bool, which one it is (alignment can raise a barrier:
      report the lower one and say which); and ``aligned_ends``: dict ``(i, j) -> network j
      aligned onto i``.
    """
    t = path_t() if t is None else t
    k = len(networks)
    out = {
        name: np.zeros((k, k)) for name in ("barrier_linear", "barrier_aligned", "distance_linear", "distance_aligned")
    }
    out["profile_linear"] = np.zeros((k, k, len(t)))
    out["profile_aligned"] = np.zeros((k, k, len(t)))
    ends: dict[tuple[int, int], Params] = {}
    for i in range(k):
        own = np.asarray(line_losses(objective, x, y, as_jax(networks[i]), as_jax(networks[i]), t))
        out["profile_linear"][i, i] = out["profile_aligned"][i, i] = own
        for j in range(i + 1, k):
            pair = pair_profiles(objective, x, y, networks[i], networks[j], activation, t)
            for name, value in (
                ("barrier_linear", pair.barrier_linear),
                ("barrier_aligned", pair.barrier_aligned),
                ("distance_linear", pair.distance_before),
                ("distance_aligned", pair.distance_after),
            ):
                out[name][i, j] = out[name][j, i] = value
            out["profile_linear"][i, j], out["profile_linear"][j, i] = pair.linear, pair.linear[::-1]
            out["profile_aligned"][i, j], out["profile_aligned"][j, i] = pair.aligned, pair.aligned[::-1]
            ends[(i, j)] = pair.aligned_end
    out["barrier_straight"], out["straight_is_aligned"] = lower_straight_barrier(
        out["barrier_linear"], out["barrier_aligned"]
    )
    out["aligned_ends"] = ends
    return out


def lower_straight_barrier(barrier_linear: np.ndarray, barrier_aligned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(barrier, is_aligned)``: elementwise the lower of the unaligned and aligned straight-line
    barriers, and whether it is the aligned one (ties count as aligned)."""
    barrier_linear, barrier_aligned = np.asarray(barrier_linear), np.asarray(barrier_aligned)
    is_aligned = barrier_aligned <= barrier_linear
    return np.where(is_aligned, barrier_aligned, barrier_linear), is_aligned


# ---------------------------------------------------------------------------------------------
# Quadratic Bezier curves (Garipov et al. 2018).


def bezier_point(start: Params, control: Params, end: Params, t: jax.Array) -> Params:
    """``(1 - t)^2 start + 2 t (1 - t) control + t^2 end`` for a scalar ``t``."""
    return jax.tree_util.tree_map(
        lambda a, c, b: (1 - t) ** 2 * a + 2 * t * (1 - t) * c + t**2 * b, start, control, end
    )


def bezier_losses(
    objective: Objective, x: jax.Array, y: jax.Array, start: Params, control: Params, end: Params, t: jax.Array
) -> jax.Array:
    """``(n_t,)`` loss along the curve at the given ``t`` (vmapped)."""
    return jax.vmap(lambda s: objective(bezier_point(start, control, end, s), x, y))(t)


class BezierResult(NamedTuple):
    """A trained curve between two fixed endpoints.

    Attributes:
      control: the control point kept (pytree like one network's params). While no trained
        control point had a lower barrier than the straight line it is the midpoint
        ``(start + end) / 2``, for which the curve IS the straight line.
      profile: ``(n_t,)`` loss along the kept curve at the evaluation ``t``.
      linear_profile: ``(n_t,)`` loss along the straight line at the same ``t``.
      train_loss: ``(steps,)`` the sampled expected loss at each Adam step.
      best_step: step whose control point was kept (-1: the straight line was never beaten).
    """

    control: Params
    profile: jax.Array
    linear_profile: jax.Array
    train_loss: jax.Array
    best_step: jax.Array


def _train_bezier(
    objective: Objective,
    x: jax.Array,
    y: jax.Array,
    start: Params,
    end: Params,
    key: jax.Array,
    steps: int = 500,
    samples: int = 16,
    learning_rate: float = 1e-2,
    n_eval: int = DEFAULT_PATH_POINTS,
) -> BezierResult:
    """Train the control point of a quadratic Bezier curve from ``start`` to ``end``.

    The control point starts at the midpoint (the curve is then the straight line) and follows
    optax Adam on the Monte Carlo estimate of the expected loss along the curve,
    ``E_{t ~ U[0, 1]} L(curve(t))`` with ``samples`` fresh ``t`` per step. After every step the
    curve's barrier on the fixed grid of ``n_eval`` ``t`` values is measured and the best
    control point so far is kept, with the straight line itself as the first incumbent; so the
    returned curve's barrier is never above the straight line's on that grid (exactly: the
    reported profile is the one the choice was made on).

    Args:
      objective: ``(params, x, y) -> scalar`` (static; reuse the object to reuse the compile).
      start, end: pytrees of ONE network each (fixed endpoints, usually two minima, the second
        aligned onto the first).
      key: PRNG key for the ``t`` samples.

    References:
      Garipov, Izmailov, Podoprikhin, Vetrov & Wilson (2018), Loss surfaces, mode connectivity,
      and fast ensembling of DNNs. (They sample one t per minibatch; here ``samples`` per step
      on the full data.)
    """
    dtype = jax.tree_util.tree_leaves(start)[0].dtype
    t_eval = jnp.linspace(0.0, 1.0, n_eval, dtype=dtype)
    midpoint = tree_scale(tree_add(start, end), 0.5)
    linear_profile = line_losses(objective, x, y, start, end, t_eval)
    optimizer = optax.adam(learning_rate)

    def expected_loss(control: Params, t: jax.Array) -> jax.Array:
        return jnp.mean(bezier_losses(objective, x, y, start, control, end, t))

    def path_barrier(profile: jax.Array) -> jax.Array:
        return jnp.max(profile) - jnp.maximum(profile[0], profile[-1])

    def step(carry: tuple, inputs: tuple) -> tuple[tuple, jax.Array]:
        control, opt_state, best_control, best_profile, best_step = carry
        step_key, index = inputs
        t = jax.random.uniform(step_key, (samples,), dtype)
        loss, grads = jax.value_and_grad(expected_loss)(control, t)
        updates, opt_state = optimizer.update(grads, opt_state, control)
        control = optax.apply_updates(control, updates)
        profile = bezier_losses(objective, x, y, start, control, end, t_eval)
        # the kept curve is judged by exactly the numbers it is reported with
        better = jnp.all(jnp.isfinite(profile)) & (path_barrier(profile) < path_barrier(best_profile))
        keep = lambda new, old: jnp.where(better, new, old)  # noqa: E731
        best_control = jax.tree_util.tree_map(keep, control, best_control)
        return (control, opt_state, best_control, keep(profile, best_profile), keep(index, best_step)), loss

    carry = (midpoint, optimizer.init(midpoint), midpoint, linear_profile, jnp.int32(-1))
    (_, _, best_control, profile, best_step), train_loss = jax.lax.scan(
        step, carry, (jax.random.split(key, steps), jnp.arange(steps, dtype=jnp.int32))
    )
    return BezierResult(best_control, profile, linear_profile, train_loss, best_step)


train_bezier = functools.partial(jax.jit, static_argnames=("objective", "steps", "samples", "n_eval"))(_train_bezier)
train_bezier.__doc__ = _train_bezier.__doc__


@functools.partial(jax.jit, static_argnames=("objective", "steps", "samples", "n_eval"))
def train_bezier_batch(
    objective: Objective,
    x: jax.Array,
    y: jax.Array,
    starts: Params,
    ends: Params,
    keys: jax.Array,
    steps: int = 500,
    samples: int = 16,
    learning_rate: float = 1e-2,
    n_eval: int = DEFAULT_PATH_POINTS,
) -> BezierResult:
    """:func:`train_bezier` for a batch of pairs (leading axis on every leaf of ``starts``,
    ``ends`` and ``keys``), as one jitted, vmapped program."""

    def one(start: Params, end: Params, key: jax.Array) -> BezierResult:
        return _train_bezier(objective, x, y, start, end, key, steps, samples, learning_rate, n_eval)

    return jax.vmap(one)(starts, ends, keys)


def bezier_barrier(result: BezierResult) -> float:
    """Barrier of a trained curve on its evaluation grid."""
    return barrier(np.asarray(result.profile))


# ---------------------------------------------------------------------------------------------
# Paths between points of a run: computed from its Problem, stored as paths/<name>.

_PATHS_ARRAYS = (
    "labels",
    "specs",
    "index",
    "stage",
    "endpoint_loss",
    "t",
    "barrier_linear",
    "barrier_aligned",
    "profile_linear",
    "profile_aligned",
    "distance_linear",
    "distance_aligned",
    "barrier_straight",
    "straight_is_aligned",
)


@dataclass(frozen=True)
class PathsResult:
    """Barriers and profiles between ``k`` points of a run; stored as the group ``paths/<name>``.

    Row ``i``, column ``j`` of every matrix is the path from point ``i`` to point ``j`` (``j``
    aligned onto ``i`` for "aligned" and "bezier"). Datasets of the group (fields of the same names):

    * ``labels``, ``specs``, ``stage`` ``(k,)`` str; ``index (k,)`` int: the points;
    * ``endpoint_loss (k,)``: each point's loss; ``t (n_t,)``: where profiles are measured;
    * ``barrier_linear``, ``barrier_aligned`` ``(k, k)``: straight-line barriers before and after
      alignment (without alignment, ``attrs["aligned"]`` False, the aligned ones repeat the
      unaligned); ``profile_linear``, ``profile_aligned`` ``(k, k, n_t)``;
      ``distance_linear``, ``distance_aligned`` ``(k, k)``: parameter distances;
    * ``barrier_straight (k, k)``: the lower of the two, ``straight_is_aligned (k, k)`` bool: which;
    * ``bezier/`` (absent with ``bezier_steps = 0``): ``pairs (m, 2)``, ``profile``,
      ``linear_profile (m, n_t)``, ``barrier``, ``barrier_linear (m,)``, ``barrier_matrix (k, k)``,
      ``best_step (m,)``, ``train_loss (m, steps)``, ``control/`` (flat parameter paths, leading
      axis m): trained quadratic Bezier curves (Garipov et al. 2018);
    * ``stationarity/`` (new; absent in older files): ``kind``, ``index`` ``(k,)`` int
      (:data:`landscape.saddles.KIND_NAMES`), ``grad_norm (k,)`` of each point (float64), attr
      ``grad_tol``.

    Attributes (``attrs``): ``bezier_steps``, ``samples``, ``learning_rate``, ``seed``, ``seconds``,
    ``activation`` ("" for a model of one's own), ``aligned`` (bool), ``meaning``, ``notes`` (JSON
    list of one-line notes: ``"alignment skipped: <reason>"``, an incomplete run, a fallback choice
    of points). ``training_state`` is stamped by ``storage.write_group``.
    """

    name: str
    labels: np.ndarray
    specs: np.ndarray
    index: np.ndarray
    stage: np.ndarray
    endpoint_loss: np.ndarray
    t: np.ndarray
    barrier_linear: np.ndarray
    barrier_aligned: np.ndarray
    profile_linear: np.ndarray
    profile_aligned: np.ndarray
    distance_linear: np.ndarray
    distance_aligned: np.ndarray
    barrier_straight: np.ndarray
    straight_is_aligned: np.ndarray
    bezier: dict[str, Any] | None = None
    stationarity: dict[str, Any] | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """Every pair ``i < j``, in the order of ``bezier/*`` rows."""
        return list(itertools.combinations(range(len(self.labels)), 2))

    @property
    def aligned(self) -> bool:
        return bool(self.attrs.get("aligned", True))

    @property
    def notes(self) -> list[str]:
        from .storage import attr_list

        return attr_list(self.attrs, "notes")

    @property
    def group(self) -> str:
        return f"paths/{self.name}"

    def write(self, path: Any) -> None:
        """Store as ``paths/<name>`` of the run file at ``path`` (replacing it)."""
        from .storage import nest_paths, write_group

        arrays: dict[str, Any] = {key: getattr(self, key) for key in _PATHS_ARRAYS}
        if self.bezier is not None:
            arrays["bezier"] = {**self.bezier, "control": nest_paths(self.bezier["control"])}
        if self.stationarity is not None:
            arrays["stationarity"] = {k: v for k, v in self.stationarity.items() if k != "grad_tol"}
        attrs = {**self.attrs, "notes": json.dumps(self.notes)}
        if self.stationarity is not None:
            attrs["grad_tol"] = float(self.stationarity["grad_tol"])
        write_group(path, self.group, arrays, attrs)

    @classmethod
    def read(cls, run: Run | Any, name: str = "representatives") -> PathsResult | None:
        """``paths/<name>`` of a run (or a path), or None when it has not been computed."""
        from .points import group_attrs, opened
        from .slices import _strip_attrs
        from .storage import flatten_params

        with opened(run) as run:
            group = f"paths/{name}"
            if not run.has(group):
                return None
            tree = run.group(group)
            attrs = group_attrs(run, group)
        arrays = {key: np.asarray(tree[key]) for key in _PATHS_ARRAYS if key in tree}
        if "barrier_straight" not in arrays:  # files from before the lower straight barrier was stored
            arrays["barrier_straight"], arrays["straight_is_aligned"] = lower_straight_barrier(
                arrays["barrier_linear"], arrays["barrier_aligned"]
            )
        bezier = None
        if isinstance(tree.get("bezier"), dict):
            bezier = _strip_attrs(tree["bezier"])
            bezier["control"] = flatten_params(bezier.get("control", {}))
        stationarity = None
        if isinstance(tree.get("stationarity"), dict):
            stationarity = {**_strip_attrs(tree["stationarity"]), "grad_tol": attrs.get("grad_tol")}
        return cls(name=name, **arrays, bezier=bezier, stationarity=stationarity, attrs=attrs)

    def stationarity_lines(self) -> list[str]:
        """``  <label>: minimum | saddle of index k | not stationary (...)`` per point (empty when unknown)."""
        from .saddles import describe_kind

        if self.stationarity is None:
            return []
        s, tol = self.stationarity, float(self.stationarity["grad_tol"])
        return [
            f"  {label}: {describe_kind(int(k), int(i), float(g), tol)}"
            for label, k, i, g in zip(self.labels, s["kind"], s["index"], s["grad_norm"])
        ]

    def format(self) -> str:
        """The printed table: the lower straight-line barrier per pair, then each pair's barriers."""
        labels = [str(label) for label in self.labels]
        k = len(labels)
        width = max(len(label) for label in labels)
        lines = [f"{'':{width}}  " + "  ".join(f"{label[:10]:>10}" for label in labels)]
        for i, label in enumerate(labels):
            cells = [
                f"{self.barrier_straight[i, j]:9.3g}{'a' if self.straight_is_aligned[i, j] else 'u'}"
                if i != j
                else f"{'':10}"
                for j in range(k)
            ]
            lines.append(f"{label:{width}}  " + "  ".join(cells))
        aligned = "aligned (a)" if self.aligned else "aligned (a; alignment skipped: same as unaligned)"
        lines.append(
            f"straight-line barriers above: the lower of unaligned (u) and {aligned}; "
            "pairs: unaligned / aligned / Bezier:"
        )
        for n, (i, j) in enumerate(self.pairs):
            extra = f" / {self.bezier['barrier'][n]:.3g}" if self.bezier is not None else ""
            lines.append(
                f"  {labels[i]} -> {labels[j]}: {self.barrier_linear[i, j]:.3g} / {self.barrier_aligned[i, j]:.3g}{extra}"
            )
        return "\n".join(lines)


def barriers_run(
    run: Run,
    points: list[str] | None = None,
    *,
    problem: Problem | None = None,
    bezier_steps: int = 1000,
    samples: int = 16,
    learning_rate: float = 1e-2,
    path_points: int = DEFAULT_PATH_POINTS,
    seed: int = 0,
    align: bool = True,
    name: str = "representatives",
    finished_only: bool = False,
) -> PathsResult:
    """Straight-line barriers (unaligned and aligned), trained Bezier curves and each point's
    stationarity between two or more points of a run (see the module doc).

    Alignment (weight matching, :func:`landscape.alignment.align`) applies to the built-in MLP;
    for a model of one's own the note ``"alignment skipped: <reason>"`` is stored and the
    unaligned lines are used throughout (Bezier curves then join the unaligned ends).

    Args:
      run: an open run (read; nothing is written: call :meth:`PathsResult.write`).
      points: point names (:mod:`landscape.points`); default: every type representative (in
        ``vocabulary.TYPE_ORDER``), or without types the four lowest-loss finished networks.
      problem: the run's :class:`~landscape.problem.Problem` (default ``problem_of(run)``); pass the
        same object again to reuse the compiled programs.
      bezier_steps: Adam steps per curve (0: no curves); samples, learning_rate: of that training.
      path_points: ``t`` values on which profiles and barriers are measured.
      finished_only: analyse an incomplete run's finished networks (else it is refused in one line).

    Raises:
      ConfigError, RunFileError: one line (fewer than two distinct finite points, an incomplete
        run, a model that cannot be rebuilt).
    """
    from .alignment import alignment_reason
    from .config import ConfigError
    from .landscape_map import point_stationarity
    from .points import distinct_count, select_points
    from .problem import problem_of
    from .runner import x64_scope
    from .storage import flatten_params
    from .vocabulary import TYPE_ORDER

    if path_points < 3:
        raise ConfigError("path points: expected at least 3")
    if bezier_steps < 0:
        raise ConfigError("Bezier steps: expected 0 or more")
    if points is not None and 0 < len(points) < 2:
        raise ConfigError(f"paths need at least two points, got {len(points)}")
    problem = problem_of(run) if problem is None else problem
    selection = select_points(run, points, len(TYPE_ORDER), finished_only, minimum=2, fallback_count=4)
    chosen, notes = selection.points, list(selection.notes)
    if distinct_count(chosen) < 2:
        raise ConfigError(
            f"{run.path}: paths need two distinct points with finite parameters; "
            f"{' '.join(selection.specs)} give {distinct_count(chosen)}"
        )
    reason = alignment_reason(problem) if align else "not asked (--no-align)"
    if reason is not None and align:
        notes.append(f"alignment skipped: {reason}")
    activation = problem.activation if reason is None else None
    started = time.perf_counter()
    t = path_t(path_points)
    k = len(chosen)
    pairs = list(itertools.combinations(range(k), 2))
    with x64_scope(problem.study):
        x, y = jnp.asarray(problem.x, problem.dtype), jnp.asarray(problem.y, problem.dtype)
        networks = [jax.tree_util.tree_map(np.asarray, as_jax(p.params, problem.dtype)) for p in chosen]
        matrix = barrier_matrix(problem.objective, x, y, networks, activation, t)
        own = np.array([float(problem.loss(as_jax(n, problem.dtype))) for n in networks])
        bezier = None
        if bezier_steps > 0:
            stack = lambda trees: jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *trees)  # noqa: E731
            starts = stack([as_jax(networks[i], problem.dtype) for i, _ in pairs])
            ends = stack(
                [as_jax(cast_like_tree(matrix["aligned_ends"][(i, j)], networks[i]), problem.dtype) for i, j in pairs]
            )
            keys = jax.random.split(jax.random.PRNGKey(seed), len(pairs))
            curves = train_bezier_batch(
                problem.objective,
                x,
                y,
                starts,
                ends,
                keys,
                steps=bezier_steps,
                samples=samples,
                learning_rate=learning_rate,
                n_eval=path_points,
            )
            profiles, linear = np.asarray(curves.profile), np.asarray(curves.linear_profile)
            bezier_barriers = np.array([barrier(p) for p in profiles])
            bezier_matrix = np.zeros((k, k))
            for (i, j), value in zip(pairs, bezier_barriers):
                bezier_matrix[i, j] = bezier_matrix[j, i] = value
            bezier = {
                "pairs": np.array(pairs, dtype=np.int64).reshape(-1, 2),
                "profile": profiles,
                "linear_profile": linear,
                "barrier": bezier_barriers,
                "barrier_linear": np.array([barrier(p) for p in linear]),
                "barrier_matrix": bezier_matrix,
                "best_step": np.asarray(curves.best_step),
                "train_loss": np.asarray(curves.train_loss),
                "control": flatten_params(jax.tree_util.tree_map(np.asarray, curves.control)),
            }
    stationarity = point_stationarity(problem, networks)
    if stationarity.get("note"):
        notes.append(stationarity.pop("note"))
    straight, is_aligned = matrix["barrier_straight"], matrix["straight_is_aligned"]
    if activation is None:
        is_aligned = np.zeros_like(is_aligned)
    if not np.all(np.isfinite(own)):
        notes.append("some points' loss is not finite: their barriers mean nothing")
    attrs = {
        "bezier_steps": bezier_steps,
        "samples": samples,
        "learning_rate": learning_rate,
        "seed": seed,
        "seconds": time.perf_counter() - started,
        "activation": problem.activation or "",
        "aligned": activation is not None,
        "meaning": "row i, column j: path from point i to point j (j aligned onto i for 'aligned' and 'bezier')",
        "notes": notes,
    }
    return PathsResult(
        name=name,
        labels=np.array([p.label for p in chosen]),
        specs=np.array(selection.specs),
        index=np.array([p.index for p in chosen]),
        stage=np.array([p.stage for p in chosen]),
        endpoint_loss=own,
        t=t,
        barrier_linear=matrix["barrier_linear"],
        barrier_aligned=matrix["barrier_aligned"],
        profile_linear=matrix["profile_linear"],
        profile_aligned=matrix["profile_aligned"],
        distance_linear=matrix["distance_linear"],
        distance_aligned=matrix["distance_aligned"],
        barrier_straight=straight,
        straight_is_aligned=is_aligned,
        bezier=bezier,
        stationarity=stationarity,
        attrs=attrs,
    )


def cast_like_tree(params: Params, like: Params) -> Params:
    """``params`` with every leaf cast to the dtype of the matching leaf of ``like`` (any pytree)."""
    return jax.tree_util.tree_map(lambda p, r: np.asarray(p, dtype=np.asarray(r).dtype), params, like)
