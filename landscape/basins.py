"""Basins of attraction: which solution type each init of a 2D plane of inits trains into.

The plane passes through network ``base_index``'s initial parameters θ₀ of a study. Each of
its two axes moves the init in one way, by a coordinate ``c`` in ``[-span, span]``:

- ``random``: θ + c·d, d a Gaussian direction over every parameter, rescaled to ‖θ₀‖;
- ``filter``: θ + c·d, d filter-normalised (Li et al. 2018, "Visualizing the Loss Landscape
  of Neural Nets"; :func:`landscape.slices.filter_normalise`): each unit's incoming weight
  vector of d is rescaled to the norm of that unit's weights in θ₀; bias directions are zero,
  as in the paper (a model of your own: each parameter leaf is one filter, and a note says so);
- ``rotate``: rotate hidden unit ``unit``'s incoming weight vector by the angle ``c``
  (radians) in the plane of the first two inputs (its bias and norm are kept; built-in MLP);
- ``output_scale``: multiply the output layer's weights by ``1 + c`` (built-in MLP).

Any model and loss the study names (``model.factory``, ``train.loss``) can be mapped: every
point is trained by the study's own trainer and judged by its :class:`~landscape.problem.Problem`
(task-aware success: ``task.success_loss``, else a tenth of the constant predictor's loss).
Solution types need the built-in MLP on MSE over data (:func:`landscape.problem.mlp_reason`);
other models are labelled by outcome (``fit`` / ``misfit`` / ``diverged``, or the training
status when success is undefined).

Point ``(a, b)`` of the plane is axis 2 applied to axis 1 applied to θ₀, so the grid's centre
(an odd grid always has one) is θ₀ itself. Every point is trained with θ₀'s network key (the
same dropout masks and minibatch order), so only the init varies across the map. A G×G grid
is G² networks trained by the study's batched trainer, in chunks of one compiled shape.

A basins TOML is a study file plus a ``[basins]`` table (see :class:`BasinsConfig` and
``runs/basins.toml``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .batching import chunked_map
from .config import ConfigError, Study, _from_dict, read_toml_file, study_from_dict
from .problem import Problem, mlp_reason
from .slices import filter_normalise
from .training import network_keys
from .vocabulary import STATUS_NAMES, Status, ordered_type_names

MLP_ONLY_KINDS = ("rotate", "output_scale")  # axes that move named parts of the built-in MLP

DIRECTION_KINDS = ("random", "filter", "rotate", "output_scale")
LINEAR_KINDS = ("random", "filter")


# ---------------------------------------------------------------------------------------------
# Configuration.


@dataclass(frozen=True)
class BasinsConfig:
    """The ``[basins]`` table.

    Attributes:
      base_index: network of the study whose init is the plane's origin.
      grid: points per side (odd, so the origin is a grid point); G² networks are trained.
      directions: the two axes' kinds, from :data:`DIRECTION_KINDS`.
      span: coordinates run over ``[-span, span]`` on each axis (radians for ``rotate``).
      units: hidden unit moved by a ``rotate`` axis, one per axis (ignored by other kinds).
      direction_seed: seed of the random / filter-normalised directions.
      success_loss: final loss below which a network succeeds (the success map, the loss contour,
        and the labels of models without solution types); 0 (default): the study's own rule,
        ``task.success_loss`` or a tenth of the constant predictor's loss (:class:`~landscape.problem.Problem`).
    """

    base_index: int = 0
    grid: int = 201
    directions: list[str] = field(default_factory=lambda: ["filter", "filter"])
    span: list[float] = field(default_factory=lambda: [1.0, 1.0])
    units: list[int] = field(default_factory=lambda: [0, 1])
    direction_seed: int = 0
    success_loss: float = 0.0


def validate_basins(config: BasinsConfig, study: Study) -> None:
    """Check the ``[basins]`` table against its study; errors name the field."""
    if not 0 <= config.base_index < study.n_inits:
        raise ConfigError(
            f"basins.base_index: expected a network index in [0, n_inits={study.n_inits}), got {config.base_index}"
        )
    if config.grid < 3 or config.grid % 2 == 0:
        raise ConfigError(
            f"basins.grid: expected an odd number >= 3 (the plane's origin must be a grid point), got {config.grid}"
        )
    for name, value in (("directions", config.directions), ("span", config.span), ("units", config.units)):
        if len(value) != 2:
            raise ConfigError(f"basins.{name}: expected two entries (one per axis), got {value!r}")
    for k, kind in enumerate(config.directions):
        if kind not in DIRECTION_KINDS:
            raise ConfigError(
                f"basins.directions[{k}]: unknown value {kind!r}; expected one of {', '.join(DIRECTION_KINDS)}"
            )
        if kind in MLP_ONLY_KINDS and study.model.factory:
            raise ConfigError(
                f"basins.directions[{k}]: {kind} moves parts of the built-in MLP; the study's model is its own "
                f"({study.model.factory}): use random or filter axes"
            )
        if kind == "rotate":
            if study.task.dim < 2:
                raise ConfigError(
                    f"basins.directions[{k}]: rotate needs at least 2 inputs, the task has {study.task.dim}"
                )
            if not 0 <= config.units[k] < study.model.hidden[0]:
                raise ConfigError(
                    f"basins.units[{k}]: expected a unit of the first hidden layer, 0..{study.model.hidden[0] - 1}, got {config.units[k]}"
                )
    for k, span in enumerate(config.span):
        if not span > 0:
            raise ConfigError(f"basins.span[{k}]: expected a positive number, got {span}")
    if config.direction_seed < 0:
        raise ConfigError(f"basins.direction_seed: expected a non-negative integer, got {config.direction_seed}")
    if not config.success_loss >= 0:
        raise ConfigError(
            f"basins.success_loss: expected a non-negative number (0: the study's rule), got {config.success_loss}"
        )


def basins_from_dict(data: dict[str, Any]) -> tuple[Study, BasinsConfig]:
    """A basins file's study and ``[basins]`` table, validated."""
    data = dict(data)
    table = data.pop("basins", {})
    if not isinstance(table, dict):
        raise ConfigError(f"basins: expected a table, got {table!r}")
    study = study_from_dict(data)
    config = _from_dict(BasinsConfig, table, "basins")
    validate_basins(config, study)
    return study, config


def load_basins(path: str | Path) -> tuple[Study, BasinsConfig]:
    """Read a basins TOML (a study plus a ``[basins]`` table, see ``runs/basins.toml``)."""
    return basins_from_dict(read_toml_file(path, "basins"))


# ---------------------------------------------------------------------------------------------
# The plane (one network; vmapped over grid points).


@dataclass(frozen=True)
class Axis:
    """One axis of the plane: its kind, its direction pytree (linear kinds) and its unit."""

    kind: str
    direction: Any = None
    unit: int = 0


def random_direction(params: Any, key: jax.Array) -> Any:
    """Gaussian direction over every leaf of ``params``, rescaled to the global norm ‖params‖."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    noise = [jax.random.normal(k, leaf.shape, leaf.dtype) for k, leaf in zip(keys, leaves)]
    norm = lambda tree: jnp.sqrt(sum(jnp.sum(leaf**2) for leaf in tree))  # noqa: E731
    scale = norm(leaves) / norm(noise)
    return jax.tree.unflatten(treedef, [scale * n for n in noise])


def filter_normalized_direction(params: Any, key: jax.Array) -> Any:
    """A Gaussian direction filter-normalised to ``params`` (Li et al. 2018), biases zero.

    For the built-in MLP's ``[{"w": (in, out), "b": (out,)}, ...]``, column j of each layer's
    ``w`` (unit j's incoming weights) gets the norm of the same column of ``params``; for any
    other pytree each leaf is one filter. The normalisation is :func:`landscape.slices.filter_normalise`'s.
    """
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(key, len(leaves))
    noise = jax.tree.unflatten(treedef, [jax.random.normal(k, leaf.shape, leaf.dtype) for k, leaf in zip(keys, leaves)])
    return filter_normalise(noise, params, bias_mode="zero")


def axis_notes(config: BasinsConfig, problem: Problem) -> list[str]:
    """One line per axis whose meaning changes on the problem's model (``filter`` on a model of
    your own normalises each parameter leaf as a whole: its units are not known).

    Raises:
      ConfigError: an axis that moves parts of the built-in MLP (``rotate``, ``output_scale``)
        on another model.
    """
    if problem.mlp is not None:
        return []
    notes = []
    for k, kind in enumerate(config.directions):
        if kind == "filter":
            notes.append(
                f"axis {k}: filter normalisation per parameter leaf (the model, {problem.model.name}, "
                "is your own, so its units are not known)"
            )
        elif kind in MLP_ONLY_KINDS:
            raise ConfigError(
                f"basins.directions[{k}]: {kind} needs the built-in MLP (the model is your own: "
                f"{problem.model.name}); use random or filter axes"
            )
    return notes


def make_axes(base_params: Any, config: BasinsConfig) -> list[Axis]:
    """The plane's two axes around ``base_params`` (one network's params)."""
    key = jax.random.PRNGKey(config.direction_seed)
    axes = []
    for k, (kind, unit) in enumerate(zip(config.directions, config.units)):
        axis_key = jax.random.fold_in(key, k)
        if kind == "random":
            axes.append(Axis(kind, random_direction(base_params, axis_key)))
        elif kind == "filter":
            axes.append(Axis(kind, filter_normalized_direction(base_params, axis_key)))
        else:
            axes.append(Axis(kind, None, int(unit)))
    return axes


def apply_axis(params: Any, axis: Axis, coordinate: jax.Array) -> Any:
    """Move one network's ``params`` by ``coordinate`` along ``axis`` (pure)."""
    if axis.kind in LINEAR_KINDS:
        return jax.tree.map(lambda p, d: p + coordinate * d, params, axis.direction)
    params = [dict(layer) for layer in params]
    if axis.kind == "rotate":
        w = params[0]["w"]
        cos, sin = jnp.cos(coordinate), jnp.sin(coordinate)
        w0, w1 = w[0, axis.unit], w[1, axis.unit]
        w = w.at[0, axis.unit].set(cos * w0 - sin * w1).at[1, axis.unit].set(sin * w0 + cos * w1)
        params[0]["w"] = w
        return params
    if axis.kind == "output_scale":
        params[-1]["w"] = params[-1]["w"] * (1.0 + coordinate)
        return params
    raise ValueError(f"unknown axis kind {axis.kind!r}")


def plane_point(base_params: Any, axes: list[Axis], a: jax.Array, b: jax.Array) -> Any:
    """One network's init at plane coordinates ``(a, b)``."""
    return apply_axis(apply_axis(base_params, axes[0], a), axes[1], b)


def plane_coordinates(config: BasinsConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(coords_a (G,), coords_b (G,))``, each ``linspace(-span, span, G)``."""
    return tuple(np.linspace(-s, s, config.grid) for s in config.span)  # type: ignore[return-value]


def plane_inits(base_params: Any, axes: list[Axis], coords_a: np.ndarray, coords_b: np.ndarray) -> Any:
    """Batched inits of the whole grid, leading axis ``G_b * G_a`` in row-major (b, a) order."""
    bb, aa = np.meshgrid(coords_b, coords_a, indexing="ij")
    dtype = jax.tree.leaves(base_params)[0].dtype
    return jax.jit(jax.vmap(lambda a, b: plane_point(base_params, axes, a, b)))(
        jnp.asarray(aa.ravel(), dtype), jnp.asarray(bb.ravel(), dtype)
    )


# ---------------------------------------------------------------------------------------------
# Success and classification, for any model the study names.


def success_threshold(problem: Problem, success_loss: float | None = None) -> tuple[float | None, str]:
    """``(threshold, one-line rule)``: ``success_loss`` when positive (a table's own setting), else the
    problem's task-aware rule (None when success is undefined for its loss)."""
    if success_loss:
        return float(success_loss), f"success: final loss < {success_loss:.3g} (set in the table)"
    return problem.success_loss, problem.success_rule()


def success_mask(final_loss: np.ndarray, status: np.ndarray, threshold: float) -> np.ndarray:
    """``(n,)`` bool: trained, not diverged, finite final loss below ``threshold``."""
    final_loss, status = np.asarray(final_loss), np.asarray(status)
    return (status >= 0) & (status != Status.DIVERGED) & np.isfinite(final_loss) & (final_loss < threshold)


def outcome_labels(final_loss: np.ndarray, status: np.ndarray, threshold: float | None) -> np.ndarray:
    """``(n,)`` str labels by outcome only: ``fit`` / ``misfit`` / ``diverged`` (``not_run`` kept), or the
    training status names when ``threshold`` is None (success undefined)."""
    final_loss, status = np.asarray(final_loss), np.asarray(status)
    if threshold is None:
        return np.array([STATUS_NAMES[int(s)] for s in status.reshape(-1)], dtype=object).astype(str)
    labels = np.where(success_mask(final_loss, status, threshold), "fit", "misfit").astype(object)
    labels[(status == Status.DIVERGED) | ~np.isfinite(final_loss)] = "diverged"
    labels[status == Status.NOT_RUN] = "not_run"
    return labels.astype(str)


def types_reason(problem: Problem) -> str | None:
    """None when solution types apply (the built-in MLP on MSE over data), else one line why not."""
    reason = mlp_reason(problem)
    return None if reason is None else f"solution types need the built-in MLP on MSE over data: {reason}"


def solution_types(prepared: Any, result: Any, success_loss: float | None = None) -> dict[str, np.ndarray]:
    """Solution types of trained networks, by :func:`landscape.solutions.classify_networks`.

    Used as in ``landscape classify``: the target's scale enables the flat-function test, and a
    network that ran out of steps is *unconverged* only if its loss was still falling over the
    last fifth of training (:func:`landscape.solutions.recent_loss_drop`).

    Args:
      prepared: the study's :class:`landscape.runner.Prepared` (data, record steps, problem).
      result: a batched :class:`landscape.training.TrainResult` (NumPy or JAX leaves).
      success_loss: for models without solution types (:func:`types_reason`), networks are
        labelled by outcome (:func:`outcome_labels`) against this threshold (0 or None: the
        problem's task-aware rule).

    Returns:
      ``label (n,)`` str types (unconverged/diverged override the shape) and ``shape (n,)`` str,
      the learned function's shape whatever the training status.
    """
    final_loss, status = np.asarray(result.final_loss), np.asarray(result.status)
    problem = prepared.problem
    if types_reason(problem) is not None:
        labels = outcome_labels(final_loss, status, success_threshold(problem, success_loss)[0])
        return {"label": labels, "shape": labels}
    from . import solutions

    study = prepared.study
    y = np.asarray(problem.y)
    drop = solutions.recent_loss_drop(
        np.asarray(result.trajectory), np.asarray(prepared.spec.record_steps), final_loss, study.train.steps
    )
    target_scale = float(np.sqrt(np.sum(np.var(y.reshape(y.shape[0], -1), axis=0))))
    out = solutions.classify_networks(
        result.final_params,
        problem.x,
        final_loss,
        status,
        activation=study.model.activation,
        leaky_slope=study.model.leaky_slope,
        target_scale=target_scale,
        recent_loss_drop=drop,
    )
    return {"label": np.asarray(out["label"]).astype(str), "shape": np.asarray(out["shape"]).astype(str)}


def solution_labels(prepared: Any, result: Any, success_loss: float | None = None) -> np.ndarray:
    """``(n,)`` str solution types (the ``label`` of :func:`solution_types`)."""
    return solution_types(prepared, result, success_loss)["label"]


def have_solution_types() -> bool:
    try:
        from .solutions import classify_networks  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Statistics of a label map (pure).


def basin_statistics(
    label_codes: np.ndarray, n_types: int, spacing: tuple[float, float] = (1.0, 1.0)
) -> dict[str, Any]:
    """Fractions and boundaries of a ``(G_b, G_a)`` map of integer type codes.

    ``spacing`` is ``(Δb, Δa)``: the distance between rows and between columns.

    Returns:
      fractions: ``(n_types,)`` share of grid points of each type.
      boundary_edges: ``(n_types, n_types)`` symmetric count of grid edges (4-neighbour pairs)
        joining type i to type j (diagonal zero).
      boundary_edge_fraction: edges joining different types / all ``2·G·(G-1)`` edges; 0 for
        one basin, about 1/G for one straight boundary across the map, near 1 when fragmented.
      boundary_length: the boundary's length in plane coordinates, each differing edge counting
        the grid spacing across it (a staircase: overestimates a smooth curve by up to 4/π).
    """
    codes = np.asarray(label_codes)
    fractions = np.bincount(codes.ravel(), minlength=n_types)[:n_types] / codes.size
    edges = np.zeros((n_types, n_types), dtype=np.int64)
    horizontal = (codes[:, :-1].ravel(), codes[:, 1:].ravel())  # neighbours along axis a
    vertical = (codes[:-1, :].ravel(), codes[1:, :].ravel())  # neighbours along axis b
    lengths = 0.0
    for (left, right), across in ((horizontal, spacing[0]), (vertical, spacing[1])):
        differ = left != right
        np.add.at(edges, (left[differ], right[differ]), 1)
        lengths += across * int(differ.sum())
    edges = edges + edges.T
    n_edges = codes[:, :-1].size + codes[:-1, :].size
    differing = int(np.triu(edges).sum())
    return {
        "fractions": fractions,
        "boundary_edges": edges,
        "boundary_edge_fraction": differing / n_edges if n_edges else 0.0,
        "boundary_length": lengths,
    }


# ---------------------------------------------------------------------------------------------
# The map.


@dataclass
class BasinMap:
    """A computed basin map (NumPy); grids are ``(G_b, G_a)``: rows axis b, columns axis a."""

    config: BasinsConfig
    coords_a: np.ndarray
    coords_b: np.ndarray
    label: np.ndarray  # (G, G) str
    label_names: list[str]
    label_code: np.ndarray  # (G, G) int8, index into label_names
    final_loss: np.ndarray
    status: np.ndarray
    steps: np.ndarray
    init_params: Any  # batched, leading axis G*G (row-major (b, a))
    final_params: Any
    directions: dict[str, Any]  # axis name -> direction pytree (linear kinds only)
    statistics: dict[str, Any]
    wall_seconds: float
    n_networks: int
    trainer: str = "general"  # which batched trainer ran it (Prepared.trainer_kind)
    success: np.ndarray | None = None  # (G, G) bool, None when success is undefined for the loss
    success_loss: float | None = None  # the threshold used (None: undefined)
    success_rule: str = ""  # one line saying what success means here
    classifier: str = ""  # what labelled the points
    notes: list[str] = field(default_factory=list)  # one line per thing changed or skipped

    @property
    def success_fraction(self) -> float | None:
        return None if self.success is None else float(np.mean(self.success))


def basin_map(
    prepared: Any,
    config: BasinsConfig,
    classify: Callable[..., np.ndarray] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BasinMap:
    """Train every init of the plane and label where it ends (float64 studies inside a scoped x64).

    Args:
      prepared: :func:`landscape.runner.prepare` of the study (data, model, batch trainer).
      config: the plane and grid.
      classify: ``(prepared, batched TrainResult) -> (n,) str``; default :func:`solution_labels`.
      progress: called with (networks done, total) after each chunk.
    """
    from .runner import x64_scope

    with x64_scope(prepared.study):
        return _basin_map(prepared, config, classify, progress)


def _basin_map(
    prepared: Any,
    config: BasinsConfig,
    classify: Callable[..., np.ndarray] | None,
    progress: Callable[[int, int], None] | None,
) -> BasinMap:
    from .runner import auto_chunk_size

    study = prepared.study
    problem = prepared.problem
    t0 = time.perf_counter()
    notes = axis_notes(config, problem)
    base_key = network_keys(study.seed, np.array([config.base_index]))
    base_params = jax.tree.map(lambda leaf: leaf[0], prepared.batch_init(base_key))
    axes = make_axes(base_params, config)
    coords_a, coords_b = plane_coordinates(config)
    inits = plane_inits(base_params, axes, coords_a, coords_b)
    total = config.grid**2
    n_devices = int(getattr(prepared, "n_devices", 1))
    chunk = auto_chunk_size(study.replace(n_inits=total), prepared.dataset.out_dim, n_devices)
    chunk = min(chunk, -(-total // n_devices) * n_devices)
    x = jnp.asarray(prepared.dataset.x, prepared.dtype)
    y = jnp.asarray(prepared.dataset.y, prepared.dtype)
    keys = jnp.repeat(base_key, chunk, axis=0)
    done = [0]

    def train(piece: Any) -> Any:
        out = prepared.batch_trainer(piece, keys[: len(jax.tree.leaves(piece)[0])], x, y)
        done[0] = min(done[0] + chunk, total)
        if progress:
            progress(done[0], total)
        return out

    result = chunked_map(train, inits, chunk)
    threshold, rule = success_threshold(problem, config.success_loss)
    if classify is None:
        reason = types_reason(problem)
        classifier = "landscape.solutions.classify_networks" if reason is None else "final loss only (outcome)"
        if reason is not None:
            notes.append(f"{reason}; points labelled by outcome")
        classify = lambda prep, res: solution_labels(prep, res, config.success_loss)  # noqa: E731
    else:
        classifier = getattr(classify, "__qualname__", "a classifier given from Python")
    labels = np.asarray(classify(prepared, result)).astype(str)
    names = order_type_names(np.unique(labels).tolist())
    codes = np.array([names.index(label) for label in labels], dtype=np.int8)
    shape = (config.grid, config.grid)
    spacing = (float(coords_b[1] - coords_b[0]), float(coords_a[1] - coords_a[0]))
    statistics = basin_statistics(codes.reshape(shape), len(names), spacing)
    directions = {f"axis{k}": axis.direction for k, axis in enumerate(axes) if axis.direction is not None}
    final_loss, status = np.asarray(result.final_loss), np.asarray(result.status)
    success = None
    if threshold is None:
        notes.append(rule)
    else:
        success = success_mask(final_loss, status, threshold).reshape(shape)
    return BasinMap(
        config=config,
        coords_a=coords_a,
        coords_b=coords_b,
        label=labels.reshape(shape),
        label_names=names,
        label_code=codes.reshape(shape),
        final_loss=final_loss.reshape(shape),
        status=status.reshape(shape),
        steps=np.asarray(result.steps).reshape(shape),
        init_params=jax.tree.map(np.asarray, inits),
        final_params=result.final_params,
        directions=jax.tree.map(np.asarray, directions),
        statistics=statistics,
        wall_seconds=time.perf_counter() - t0,
        n_networks=total,
        trainer=str(getattr(prepared, "trainer_kind", "general")),
        success=success,
        success_loss=threshold,
        success_rule=rule,
        classifier=classifier,
        notes=notes,
    )


def order_type_names(names: list[str]) -> list[str]:
    """Known types in :data:`landscape.vocabulary.TYPE_ORDER` order (outcome labels last), then the rest."""
    return ordered_type_names(np.asarray(names, dtype=str))


def basins_group(result: BasinMap) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``basins`` group's arrays and attributes for :func:`landscape.storage.write_group`."""
    from .storage import flatten_params, nest_paths

    c = result.config
    stats = result.statistics
    arrays = {
        "coords_a": result.coords_a,
        "coords_b": result.coords_b,
        "label": result.label_code,
        "final_loss": result.final_loss,
        "status": result.status,
        "steps": result.steps,
        "fractions": stats["fractions"],
        **({} if result.success is None else {"success": result.success.astype(np.uint8)}),
        "boundary_edges": stats["boundary_edges"],
        "init": {"params": nest_paths(flatten_params(result.init_params))},
        "final": {"params": nest_paths(flatten_params(result.final_params))},
        "directions": {name: nest_paths(flatten_params(tree)) for name, tree in result.directions.items()},
    }
    attrs = {
        "label_names": list(result.label_names),
        "base_index": c.base_index,
        "grid": c.grid,
        "directions_kind": list(c.directions),
        "span": list(c.span),
        "units": list(c.units),
        "direction_seed": c.direction_seed,
        "success_loss": float("nan") if result.success_loss is None else float(result.success_loss),
        "success_rule": result.success_rule,
        "success_fraction": float("nan") if result.success_fraction is None else result.success_fraction,
        "notes": list(result.notes),
        "boundary_edge_fraction": float(stats["boundary_edge_fraction"]),
        "boundary_length": float(stats["boundary_length"]),
        "wall_seconds": result.wall_seconds,
        "n_networks": result.n_networks,
        "trainer": result.trainer,
        "classifier": result.classifier,
        "layout": "grids are (G_b, G_a): row i is coords_b[i], column j is coords_a[j]; params' leading axis is i*G + j",
    }
    return arrays, attrs


def format_statistics(result: BasinMap) -> str:
    stats = result.statistics
    lines = [
        f"basin map: {result.config.grid}x{result.config.grid} = {result.n_networks} inits, {result.wall_seconds:.1f} s ({result.trainer} trainer)"
    ]
    for name, fraction in zip(result.label_names, stats["fractions"]):
        lines.append(f"  {name:12s} {fraction:7.3f}")
    lines.append(f"  {result.success_rule}")
    if result.success_fraction is not None:
        lines.append(f"  succeeding: {result.success_fraction:.3f} of the plane's inits")
    lines += [f"  note: {note}" for note in result.notes]
    lines.append(
        f"  boundary: {stats['boundary_edge_fraction']:.4f} of grid edges join different types; length {stats['boundary_length']:.3g} (plane units)"
    )
    return "\n".join(lines)


__all__ = [
    "Axis",
    "BasinMap",
    "BasinsConfig",
    "apply_axis",
    "basin_map",
    "basin_statistics",
    "basins_from_dict",
    "axis_notes",
    "filter_normalized_direction",
    "load_basins",
    "make_axes",
    "outcome_labels",
    "plane_inits",
    "plane_point",
    "random_direction",
    "solution_labels",
    "solution_types",
    "success_mask",
    "success_threshold",
    "types_reason",
]
