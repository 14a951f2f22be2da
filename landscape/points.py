"""Points of a run's parameter space named as users name them, and the default points of an analysis.

Every geometry analysis (``landscape slice``, ``paths``, ``map``) takes points as

* ``17``           network 17's final parameters (a minimum);
* ``init:17``      network 17's initial parameters;
* ``pyramid``      the representative of a solution type (needs ``landscape classify``);
* ``cluster:3``    the medoid of cluster 3 (``types/clusters`` from ``landscape classify``).

:func:`resolve_point` turns such a name into one network's parameters (a point needs only the
run); the loss to evaluate it with is the run's :class:`~landscape.problem.Problem`
(:func:`landscape.problem.problem_of`). :func:`select_points` resolves a list of names, or picks
the default ones (:func:`default_point_specs`), honouring incomplete runs (``finished_only``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import ConfigError
from .storage import Run, RunFileError
from .vocabulary import OUTCOME_TYPES, Status, ordered_type_names


@dataclass(frozen=True)
class Point:
    """A parameter point named by a user."""

    spec: str  # as given, e.g. "init:17"
    label: str  # for tables and figures, e.g. "#17 pyramid"
    index: int  # network index (-1 when not a single network)
    stage: str  # "final" or "init"
    params: Any  # ONE network's parameters (NumPy)


@dataclass(frozen=True)
class PointSelection:
    """The points an analysis uses, and what the reader should know about how they were chosen.

    Attributes:
      points: the resolved points, in order.
      notes: one line each (a default chosen without types, an incomplete run); print and store them.
    """

    points: list[Point]
    notes: list[str]

    @property
    def specs(self) -> list[str]:
        return [p.spec for p in self.points]


@contextlib.contextmanager
def opened(run: Run | str | Path) -> Iterator[Run]:
    """An open :class:`~landscape.storage.Run` for a run or a path (a given run is left open)."""
    if isinstance(run, Run):
        yield run
        return
    with Run(run) as opened_run:
        yield opened_run


def group_attrs(run: Run, name: str) -> dict[str, Any]:
    """The attributes of group ``name`` only (JSON lists and dicts decoded), not its members'."""
    attrs = {}
    for key, value in run._file[name].attrs.items():  # noqa: SLF001 - the group's own attributes
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, str) and value[:1] in "[{":
            try:
                value = json.loads(value)
            except ValueError:
                pass
        attrs[key] = value.item() if isinstance(value, np.generic) else value
    return attrs


def type_names_of(run: Run) -> np.ndarray | None:
    """Each network's solution type (``(n_inits,)`` str), or None when the run is not classified."""
    if not run.has("types"):
        return None
    from .solutions import type_labels

    return np.asarray(type_labels(run))


def type_representatives_of(run: Run) -> dict[str, int]:
    """Type name -> its representative network, in :data:`~landscape.vocabulary.TYPE_ORDER`; a
    one-line error when the run is not classified."""
    if not run.has("types"):
        raise RunFileError(
            f"{run.path}: no 'types' group; run `landscape classify {run.path}` first or name networks by index"
        )
    from .solutions import type_representatives

    representatives = {str(k): int(v) for k, v in type_representatives(run).items()}
    return {name: representatives[name] for name in ordered_type_names(list(representatives))}


def cluster_representative(run: Run, cluster: int) -> int:
    """Cluster ``cluster``'s medoid (``types/clusters/medoid``, written by ``landscape classify``),
    else its lowest-loss member by ``types/clusters/assignment``."""
    clusters = run.group("types/clusters") if run.has("types/clusters") else {}
    medoids = np.asarray(clusters.get("medoid", []))
    if 0 <= cluster < medoids.size:
        return int(medoids[cluster])
    if "assignment" not in clusters:
        raise RunFileError(
            f"{run.path}: no cluster labels (types/clusters); run `landscape classify {run.path}` first or name networks by index"
        )
    members = np.flatnonzero(np.asarray(clusters["assignment"]) == cluster)
    if members.size == 0:
        raise ConfigError(f"cluster {cluster}: no network belongs to it")
    loss = run.final_loss[members]
    return int(members[np.argmin(np.where(np.isfinite(loss), loss, np.inf))])


def resolve_point(run: Run, spec: str, type_names: np.ndarray | None = None) -> Point:
    """The parameters named by ``spec`` (see the module doc); ``type_names`` label the point."""
    stage, body = ("init", spec[5:]) if spec.startswith("init:") else ("final", spec)
    if body.lstrip("-").isdigit():
        index = int(body)
    elif body.startswith("cluster:"):
        try:
            index = cluster_representative(run, int(body[8:]))
        except ValueError:
            raise ConfigError(f"point {spec!r}: expected cluster:<integer>") from None
    else:
        representatives = type_representatives_of(run)
        if body not in representatives:
            raise ConfigError(
                f"point {spec!r}: not a network index or a type in this run ({', '.join(representatives)})"
            )
        index = representatives[body]
    if not 0 <= index < run.n_inits:
        raise ConfigError(f"point {spec!r}: network index {index} outside 0..{run.n_inits - 1}")
    if run.status[index] < 0:
        raise ConfigError(f"point {spec!r}: network {index} has not been trained yet (its chunk is not done)")
    params = run.params(stage, index)
    if stage == "init":
        label = f"init #{index}" + (f" (became {type_names[index]})" if type_names is not None else "")
    else:
        label = f"#{index}" + (f" {type_names[index]}" if type_names is not None else "")
    return Point(spec, label, index, stage, params)


def is_finite_point(point: Point) -> bool:
    """Every parameter of the point is finite (a diverged network's may not be)."""
    import jax

    return all(bool(np.all(np.isfinite(np.asarray(leaf)))) for leaf in jax.tree_util.tree_leaves(point.params))


def usable_networks(run: Run, usable: np.ndarray | None = None) -> np.ndarray:
    """``(n_inits,)`` bool: networks whose final parameters may be a point, within ``usable`` if given.

    A usable network finished training (status ``CONVERGED`` or ``MAX_STEPS``) with a finite final
    loss. A ``DIVERGED`` network never is, even when its last recorded loss is finite: its kept
    parameters are the last finite ones before the blow-up, not an end of training. ``NOT_RUN``
    networks have no final parameters.
    """
    status = np.asarray(run.status)
    ended = (status == Status.CONVERGED) | (status == Status.MAX_STEPS)
    mask = ended & np.isfinite(np.asarray(run.final_loss, float))
    return mask if usable is None else mask & np.asarray(usable, bool)


def lowest_loss_networks(run: Run, count: int, usable: np.ndarray | None = None) -> list[int]:
    """The ``count`` lowest-final-loss :func:`usable_networks` (within ``usable`` if given)."""
    loss = np.asarray(run.final_loss, float)
    candidates = np.flatnonzero(usable_networks(run, usable))
    return [int(i) for i in candidates[np.argsort(loss[candidates], kind="stable")][:count]]


def default_point_specs(
    run: Run, count: int, usable: np.ndarray | None = None, fallback_count: int | None = None, minimum: int = 1
) -> tuple[list[str], str | None]:
    """The points an analysis uses when none are named, and a one-line note when they are a fallback.

    With a ``types`` group: the representative of each type that is not an outcome label
    (``unconverged``, ``diverged``, ``not_run``), in :data:`~landscape.vocabulary.TYPE_ORDER`, at most
    ``count`` (representatives of networks outside ``usable`` are left out), topped up to ``minimum``
    with the lowest-loss networks not already chosen (with a note). Without one: the
    ``fallback_count`` (default ``count``) lowest-loss networks, with a note saying so. Only
    :func:`usable_networks` (within ``usable`` if given) are chosen: never a diverged network.
    """
    usable = usable_networks(run, usable)
    if run.has("types"):
        representatives = type_representatives_of(run)
        names = [t for t, i in representatives.items() if t not in OUTCOME_TYPES and usable[i]][:count]
        if len(names) >= minimum:
            return names, None
        taken = {representatives[t] for t in names}
        extra = [i for i in lowest_loss_networks(run, minimum + len(taken), usable) if i not in taken]
        extra = extra[: minimum - len(names)]
        note = (
            f"{len(names)} solution type(s) with a usable representative: adding the lowest-loss finished "
            f"network(s) {', '.join(map(str, extra))}"
        )
        return names + [str(i) for i in extra], note if extra else None
    picks = lowest_loss_networks(run, fallback_count or count, usable)
    note = (
        f"no 'types' group (run `landscape classify`): using the {len(picks)} lowest-loss finished networks "
        f"({', '.join(map(str, picks))})"
    )
    return [str(i) for i in picks], note


def select_points(
    run: Run,
    specs: list[str] | None,
    count: int,
    finished_only: bool = False,
    minimum: int = 1,
    fallback_count: int | None = None,
) -> PointSelection:
    """Resolve ``specs`` (or :func:`default_point_specs` when empty), refusing what cannot be used.

    Args:
      run: an open run.
      specs: point names (see the module doc), or None / empty for the defaults.
      count: how many default points to take (``fallback_count`` of them without types).
      finished_only: an incomplete run is refused (one line) unless this is set; then only finished
        networks may be named or chosen, and a note says how many were used.
      minimum: fewest points the analysis needs.

    Raises:
      IncompleteRun: an incomplete run without ``finished_only``.
      ConfigError: too few points, or fewer than ``minimum`` distinct points with finite parameters.
    """
    from .storage import finished_networks, partial_note

    finished = finished_networks(run, finished_only)
    notes = [note] if (note := partial_note(run, finished)) else []
    if not specs:
        usable = usable_networks(run, finished)
        specs, fallback = default_point_specs(run, count, usable, fallback_count, minimum)
        notes += [fallback] if fallback else []
        if len(specs) < minimum:
            raise ConfigError(
                f"{run.path}: found {len(specs)} usable default point(s), need {minimum} "
                f"({int(usable.sum())} of {usable.size} networks converged or ran out of steps with a finite loss); "
                "name the points"
            )
    type_names = type_names_of(run)
    points = [resolve_point(run, spec, type_names) for spec in specs]
    for point in points:
        if not is_finite_point(point):
            raise ConfigError(
                f"point {point.spec!r}: its parameters are not finite (a diverged network); choose another"
            )
    return PointSelection(points, notes)


def distinct_count(points: list[Point]) -> int:
    """How many of the points have different parameters."""
    import jax

    flats = [
        np.concatenate([np.ravel(np.asarray(leaf, float)) for leaf in jax.tree_util.tree_leaves(p.params)])
        for p in points
    ]
    distinct: list[np.ndarray] = []
    for flat in flats:
        if not any(flat.shape == other.shape and np.array_equal(flat, other) for other in distinct):
            distinct.append(flat)
    return len(distinct)


__all__ = [
    "Point",
    "PointSelection",
    "cluster_representative",
    "default_point_specs",
    "distinct_count",
    "group_attrs",
    "opened",
    "is_finite_point",
    "lowest_loss_networks",
    "resolve_point",
    "select_points",
    "type_names_of",
    "type_representatives_of",
    "usable_networks",
]
