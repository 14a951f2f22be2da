"""The field's words, defined once: training statuses, solution-type names and their order,
their colours, and which network represents a group.

Every table, figure, report and stored group takes its names, order and colours from here.
"""

from __future__ import annotations

import enum

import numpy as np


class Status(enum.IntEnum):
    """How a network's training ended (stored as int8 under ``train/status``)."""

    CONVERGED = 0  # gradient norm fell below train.grad_tol; parameters frozen from then on
    MAX_STEPS = 1  # ran the whole step budget without meeting the tolerance
    DIVERGED = 2  # loss, gradient or parameters became NaN/inf; last finite parameters kept
    NOT_RUN = -1  # (run files only) the network's chunk has not finished yet

    @classmethod
    def describe(cls) -> dict[str, int]:
        return {s.name.lower(): int(s) for s in cls}


STATUS_NAMES = {
    int(s): s.name.lower() for s in Status
}  # {0: "converged", 1: "max_steps", 2: "diverged", -1: "not_run"}
STATUS_MEANINGS = {
    int(Status.CONVERGED): "gradient norm fell below train.grad_tol",
    int(Status.MAX_STEPS): "used the whole step budget",
    int(Status.DIVERGED): "loss or parameters became NaN/inf (last finite parameters kept)",
    int(Status.NOT_RUN): "its chunk has not been trained yet (an interrupted run)",
}
STATUS_COLOURS = {"converged": "#2a9d8f", "max_steps": "#e9c46a", "diverged": "#222222", "not_run": "#bbbbbb"}

# Labels that come from how training ended rather than from the learned function. ``not_run`` is
# never relabelled: a network that was not trained is not a diverged one.
OUTCOME_TYPES = ("unconverged", "diverged", "not_run")
# Preferred order of type names in tables and figures; names not listed follow, sorted. The default
# task's names (pyramid .. bent_ramp) first, then the task-independent shape words of
# landscape.solutions (bowl .. ramp), then constant functions, outcome-only labels and outcomes.
TYPE_ORDER = (
    "pyramid",
    "diamond",
    "valley",
    "wedge",
    "bent_ramp",
    "bowl",
    "fold",
    "ridge",
    "kinked_ramp",
    "ramp",
    "dead",
    "constant",
    "fit",
    "misfit",
    "unclassified",
    *OUTCOME_TYPES,
)

# One colour per solution type, shared by every figure (types, basins, sweeps, report).
TYPE_COLOURS = {
    "pyramid": "#2a9d8f",
    "diamond": "#52b788",
    "valley": "#e9c46a",
    "wedge": "#8ecae6",
    "bent_ramp": "#b5179e",
    "bowl": "#2a9d8f",
    "fold": "#8ecae6",
    "ridge": "#e9c46a",
    "kinked_ramp": "#b5179e",
    "ramp": "#cdb4db",
    "unclassified": "#dee2e6",
    "dead": "#6c757d",
    "constant": "#adb5bd",
    "fit": "#2a9d8f",
    "misfit": "#e76f51",
    "unconverged": "#f4a261",
    "diverged": "#000000",
    "not_run": "#ffffff",
}
OTHER_COLOURS = ("#7b2cbf", "#023047", "#90be6d", "#9d4edd", "#d62828")


def ordered_type_names(labels: np.ndarray | list[str] | tuple[str, ...]) -> list[str]:
    """The distinct names in ``labels``: those in :data:`TYPE_ORDER` first in that order, the rest sorted."""
    present = {str(label) for label in np.asarray(labels).reshape(-1)}
    return [t for t in TYPE_ORDER if t in present] + sorted(present - set(TYPE_ORDER))


def type_colour_map(names: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``{type name: colour}``; names without a fixed colour take the spare ones in order."""
    spare = iter(OTHER_COLOURS * (1 + len(names) // len(OTHER_COLOURS)))
    return {name: TYPE_COLOURS.get(name) or next(spare) for name in names}


def representative_index(members: np.ndarray, final_loss: np.ndarray, causes: np.ndarray | None = None) -> int:
    """The network that stands for a group: finite final loss nearest the group's median.

    ``members`` (k,) are network indices into ``final_loss`` (n,); with ``causes`` (n,), only the
    members with the group's most common cause are candidates, so the representative looks like
    most of its group. Returns -1 for an empty group, the first member when no loss is finite.
    """
    members = np.asarray(members, dtype=np.int64)
    if members.size == 0:
        return -1
    final_loss = np.asarray(final_loss, dtype=float)
    finite = members[np.isfinite(final_loss[members])]
    if finite.size == 0:
        return int(members[0])
    median = np.median(final_loss[finite])
    candidates = finite
    if causes is not None:
        member_causes = np.asarray(causes)[finite]
        values, counts = np.unique(member_causes, return_counts=True)
        candidates = finite[member_causes == values[np.argmax(counts)]]
    return int(candidates[np.argmin(np.abs(final_loss[candidates] - median))])


__all__ = [
    "OTHER_COLOURS",
    "OUTCOME_TYPES",
    "STATUS_COLOURS",
    "STATUS_MEANINGS",
    "STATUS_NAMES",
    "Status",
    "TYPE_COLOURS",
    "TYPE_ORDER",
    "ordered_type_names",
    "representative_index",
    "type_colour_map",
]
