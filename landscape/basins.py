"""Basins of attraction: which solution type each init of a 2D plane of inits trains into.

The plane passes through network ``base_index``'s initial parameters θ₀ of a study. Each of
its two axes moves the init in one way, by a coordinate ``c`` in ``[-span, span]``:

- ``random``: θ + c·d, d a Gaussian direction over every parameter, rescaled to ‖θ₀‖;
- ``filter``: θ + c·d, d filter-normalised (Li et al. 2018, "Visualizing the Loss Landscape
  of Neural Nets"): each unit's incoming weight vector of d is rescaled to the norm of that
  unit's weights in θ₀; bias directions are zero, as in the paper;
- ``rotate``: rotate hidden unit ``unit``'s incoming weight vector by the angle ``c``
  (radians) in the plane of the first two inputs (its bias and norm are kept);
- ``output_scale``: multiply the output layer's weights by ``1 + c``.

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

from .config import ConfigError, Study, _from_dict, read_toml_file, study_from_dict
from .training import Status, network_keys

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
      success_loss: final MSE below which a network counts as fitting the target (used for
        the loss contour on the map, and for labels when no solution-type classifier exists).
    """

    base_index: int = 0
    grid: int = 201
    directions: list[str] = field(default_factory=lambda: ["filter", "filter"])
    span: list[float] = field(default_factory=lambda: [1.0, 1.0])
    units: list[int] = field(default_factory=lambda: [0, 1])
    direction_seed: int = 0
    success_loss: float = 1e-2


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
    if not config.success_loss > 0:
        raise ConfigError(f"basins.success_loss: expected a positive number, got {config.success_loss}")


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


def filter_normalized_direction(params: Any, key: jax.Array, eps: float = 1e-12) -> Any:
    """Li et al. (2018) filter normalisation for an MLP ``[{"w": (in, out), "b": (out,)}, ...]``.

    Column j of each layer's ``w`` (unit j's incoming weights) gets the norm of the same
    column of ``params``; bias directions are zero.
    """
    keys = jax.random.split(key, len(params))
    direction = []
    for k, layer in zip(keys, params):
        noise = jax.random.normal(k, layer["w"].shape, layer["w"].dtype)
        column_norm = jnp.linalg.norm(layer["w"], axis=0, keepdims=True)
        noise_norm = jnp.linalg.norm(noise, axis=0, keepdims=True)
        out = {"w": noise * column_norm / (noise_norm + eps)}
        if "b" in layer:
            out["b"] = jnp.zeros_like(layer["b"])
        direction.append(out)
    return direction


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
# Classification (issue 3's contract), with a loss-only stand-in while it is absent.


def solution_types(prepared: Any, result: Any, success_loss: float = 1e-2) -> dict[str, np.ndarray]:
    """Solution types of trained networks, by :func:`landscape.solutions.classify_networks`.

    Used as in ``landscape classify``: the target's scale enables the flat-function test, and a
    network that ran out of steps is *unconverged* only if its loss was still falling over the
    last fifth of training (:func:`landscape.solutions.recent_loss_drop`).

    Args:
      prepared: the study's :class:`landscape.runner.Prepared` (data, record steps).
      result: a batched :class:`landscape.training.TrainResult` (NumPy or JAX leaves).
      success_loss: without ``landscape.solutions``, networks are labelled by outcome only:
        ``fit`` (final loss below this), ``misfit`` or ``diverged``.

    Returns:
      ``label (n,)`` str types (unconverged/diverged override the shape) and ``shape (n,)`` str,
      the learned function's shape whatever the training status.
    """
    final_loss, status = np.asarray(result.final_loss), np.asarray(result.status)
    try:
        from . import solutions
    except ImportError:
        solutions = None
    if solutions is not None:
        study = prepared.study
        y = np.asarray(prepared.dataset.y)
        drop = solutions.recent_loss_drop(
            np.asarray(result.trajectory), np.asarray(prepared.spec.record_steps), final_loss, study.train.steps
        )
        target_scale = float(np.sqrt(np.sum(np.var(y.reshape(y.shape[0], -1), axis=0))))
        out = solutions.classify_networks(
            result.final_params,
            prepared.dataset.x,
            final_loss,
            status,
            activation=study.model.activation,
            leaky_slope=study.model.leaky_slope,
            target_scale=target_scale,
            recent_loss_drop=drop,
        )
        return {"label": np.asarray(out["label"]).astype(str), "shape": np.asarray(out["shape"]).astype(str)}
    labels = np.where(np.isfinite(final_loss) & (final_loss < success_loss), "fit", "misfit").astype(object)
    labels[(status == Status.DIVERGED) | ~np.isfinite(final_loss)] = "diverged"
    return {"label": labels.astype(str), "shape": labels.astype(str)}


def solution_labels(prepared: Any, result: Any, success_loss: float = 1e-2) -> np.ndarray:
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
    t0 = time.perf_counter()
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
    parts = []
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        piece = jax.tree.map(lambda leaf: leaf[start:stop], inits)
        if stop - start < chunk:  # pad to the compiled shape with copies of the last point
            piece = jax.tree.map(
                lambda leaf: jnp.concatenate([leaf, jnp.repeat(leaf[-1:], chunk - (stop - start), axis=0)]), piece
            )
        result = prepared.batch_trainer(piece, keys, x, y)
        parts.append(jax.tree.map(lambda leaf: np.asarray(leaf)[: stop - start], result))
        if progress:
            progress(stop, total)
    result = jax.tree.map(lambda *leaves: np.concatenate(leaves), *parts)
    classify = classify or (lambda prep, res: solution_labels(prep, res, config.success_loss))
    labels = np.asarray(classify(prepared, result)).astype(str)
    names = order_type_names(np.unique(labels).tolist())
    codes = np.array([names.index(label) for label in labels], dtype=np.int8)
    shape = (config.grid, config.grid)
    spacing = (float(coords_b[1] - coords_b[0]), float(coords_a[1] - coords_a[0]))
    statistics = basin_statistics(codes.reshape(shape), len(names), spacing)
    directions = {f"axis{k}": axis.direction for k, axis in enumerate(axes) if axis.direction is not None}
    return BasinMap(
        config=config,
        coords_a=coords_a,
        coords_b=coords_b,
        label=labels.reshape(shape),
        label_names=names,
        label_code=codes.reshape(shape),
        final_loss=np.asarray(result.final_loss).reshape(shape),
        status=np.asarray(result.status).reshape(shape),
        steps=np.asarray(result.steps).reshape(shape),
        init_params=jax.tree.map(np.asarray, inits),
        final_params=result.final_params,
        directions=jax.tree.map(np.asarray, directions),
        statistics=statistics,
        wall_seconds=time.perf_counter() - t0,
        n_networks=total,
        trainer=str(getattr(prepared, "trainer_kind", "general")),
    )


def order_type_names(names: list[str]) -> list[str]:
    """Known types in :data:`landscape.solutions.TYPE_ORDER` order (outcome labels last), then the rest."""
    try:
        from .solutions import ordered_type_names

        return list(ordered_type_names(np.asarray(names)))
    except ImportError:
        pass
    first = [n for n in ("pyramid", "valley", "dead", "fit") if n in names]
    last = [n for n in ("misfit", "unconverged", "diverged") if n in names]
    return first + sorted(n for n in names if n not in first and n not in last) + last


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
        "success_loss": c.success_loss,
        "boundary_edge_fraction": float(stats["boundary_edge_fraction"]),
        "boundary_length": float(stats["boundary_length"]),
        "wall_seconds": result.wall_seconds,
        "n_networks": result.n_networks,
        "trainer": result.trainer,
        "classifier": "landscape.solutions.classify_networks"
        if have_solution_types()
        else "final loss only (landscape.solutions absent)",
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
    "filter_normalized_direction",
    "load_basins",
    "make_axes",
    "plane_inits",
    "plane_point",
    "random_direction",
    "solution_labels",
    "solution_types",
]
