"""Points of a run's parameter space named as users name them, and the run's loss to evaluate them.

Every geometry analysis (``landscape slice``, ``paths``, ``map``) takes points as

* ``17``           network 17's final parameters (a minimum);
* ``init:17``      network 17's initial parameters;
* ``pyramid``      the representative of a solution type (needs ``landscape classify``);
* ``cluster:3``    the medoid of cluster 3 (``types/clusters`` from ``landscape classify``).

:func:`resolve_point` turns such a name into one network's parameters; :func:`run_context` gives
the data and training objective of the run (in the study's dtype: call the loss inside
:func:`landscape.runner.x64_scope` for a float64 study).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import ConfigError
from .storage import Run, RunFileError


@dataclass(frozen=True)
class RunContext:
    """What evaluating a run's loss needs: its data, its objective and the activation (for alignment)."""

    objective: Any  # (params, x, y) -> scalar, the run's training loss (MSE of the stored MLP)
    x: np.ndarray  # (n_points, in_dim) in the study's dtype
    y: np.ndarray  # (n_points,) or (n_points, out_dim)
    activation: str
    dtype: Any  # jnp.float32 or jnp.float64


@dataclass(frozen=True)
class Point:
    """A parameter point named by a user."""

    spec: str  # as given, e.g. "init:17"
    label: str  # for tables and figures, e.g. "#17 pyramid"
    index: int  # network index (-1 when not a single network)
    stage: str  # "final" or "init"
    params: Any  # ONE network's parameters (NumPy)


def run_context(run: Run) -> RunContext:
    """The run's data and its training objective (mean squared error of the stored MLP)."""
    from .models import make_mlp
    from .runner import study_dtype
    from .training import make_objective

    study = run.study
    dtype = study_dtype(study)
    x, y = np.asarray(run.x, np.dtype(dtype)), np.asarray(run.y, np.dtype(dtype))
    out_dim = 1 if y.ndim == 1 else y.shape[1]
    model = make_mlp(study.model, study.init, x.shape[1], out_dim, dtype)
    return RunContext(make_objective(model), x, y, study.model.activation, dtype)


def type_names_of(run: Run) -> np.ndarray | None:
    """Each network's solution type (``(n_inits,)`` str), or None when the run is not classified."""
    if not run.has("types"):
        return None
    from .solutions import type_labels

    return np.asarray(type_labels(run))


def type_representatives_of(run: Run) -> dict[str, int]:
    """Type name -> its representative network; a one-line error when the run is not classified."""
    if not run.has("types"):
        raise RunFileError(
            f"{run.path}: no 'types' group; run `landscape classify {run.path}` first or name networks by index"
        )
    from .solutions import type_representatives

    return {str(k): int(v) for k, v in type_representatives(run).items()}


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
        raise ConfigError(f"point {spec!r}: network {index} has not been trained yet")
    params = run.params(stage, index)
    if stage == "init":
        label = f"init #{index}" + (f" (became {type_names[index]})" if type_names is not None else "")
    else:
        label = f"#{index}" + (f" {type_names[index]}" if type_names is not None else "")
    return Point(spec, label, index, stage, params)


__all__ = [
    "Point",
    "RunContext",
    "cluster_representative",
    "resolve_point",
    "run_context",
    "type_names_of",
    "type_representatives_of",
]
