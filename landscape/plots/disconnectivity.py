"""Figures of the map between minima: the disconnectivity graph and the barrier matrices.

Both take arrays of a :class:`landscape.landscape_map.MapResult` (or its stored ``/landscape_map``
group) and return a Figure; nothing here computes landscape quantities.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from . import type_colour_map
from .geometry import plot_barrier_matrices


def disconnectivity_graph(
    tree: dict[str, np.ndarray],
    minima_type: Sequence[str],
    leaf_labels: Sequence[str] | None = None,
    log_loss: bool = True,
    title: str = "",
    note: str = "",
) -> Figure:
    """A disconnectivity graph (Becker & Karplus 1997): each minimum is a leaf at its loss; two
    groups of minima join at the loss of the lowest connection between them (a transition state
    or a relaxed band's highest point); groups never joined stay separate trees.

    Args:
      tree: ``height (N,)``, ``parent (N,)``, ``children (N, 2)``, ``x (N,)`` from
        :func:`landscape.landscape_map.disconnectivity_tree` (leaves first, ``M`` of them).
      minima_type: ``(M,)`` solution type of each minimum (leaf colour, the shared type palette).
      leaf_labels: ``(M,)`` text under each leaf (default: the minimum's number).
      log_loss: loss axis on a log scale.
    """
    height, parent, children, xpos = (np.asarray(tree[k]) for k in ("height", "parent", "children", "x"))
    types = [str(t) for t in minima_type]
    m = len(types)
    colours = type_colour_map(list(dict.fromkeys(types)))
    fig = Figure(figsize=(max(5.0, 0.7 * m + 2.5), 4.8), layout="constrained")
    ax = fig.add_subplot()
    top = float(np.nanmax(height)) if height.size else 1.0
    low = float(np.nanmin(height)) if height.size else 0.0
    roof = top * 1.5 if log_loss else top + 0.1 * (top - low + 1e-12)
    for node in range(len(height)):
        up = height[parent[node]] if parent[node] >= 0 else roof
        ax.plot([xpos[node], xpos[node]], [height[node], up], color="#333333", linewidth=1.2, solid_capstyle="butt")
        if children[node][0] >= 0:
            a, b = children[node]
            ax.plot([xpos[a], xpos[b]], [height[node], height[node]], color="#333333", linewidth=1.2)
    for leaf in range(m):
        ax.plot(
            [xpos[leaf]],
            [height[leaf]],
            marker="o",
            markersize=9,
            color=colours[types[leaf]],
            markeredgecolor="k",
            zorder=3,
        )
    labels = [str(v) for v in leaf_labels] if leaf_labels is not None else [str(i) for i in range(m)]
    ax.set_xticks(xpos[:m], labels, rotation=60, ha="right", fontsize=7)
    ax.set_xlim(-0.7, m - 0.3)
    if log_loss:
        ax.set_yscale("log")
    ax.set_ylabel("training loss (MSE)")
    ax.grid(axis="y", alpha=0.3)
    handles = [
        Line2D(
            [], [], marker="o", linestyle="none", markersize=8, markerfacecolor=colours[t], markeredgecolor="k", label=t
        )
        for t in colours
    ]
    ax.legend(
        handles=handles,
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title="minimum's type",
        title_fontsize=8,
    )
    if title:
        ax.set_title(title, fontsize=10)
    if note:
        fig.text(0.01, -0.02, note, fontsize=7, va="top", wrap=True)
    return fig


def barrier_panels(barriers: dict[str, np.ndarray], labels: Sequence[str], title: str = "") -> Figure:
    """The barrier matrices between the mapped points side by side, each labelled with what it measures.

    Args:
      barriers: the ``barriers`` arrays of a map: ``straight`` (and ``straight_is_aligned``),
        ``bezier``, ``band``, ``transition_state`` ``(k, k)``; missing ones are skipped; NaN where a
        pair has no such path (e.g. no verified transition state).
    """
    matrices: dict[str, np.ndarray] = {}
    if "straight" in barriers:
        aligned = np.asarray(barriers.get("straight_is_aligned", np.zeros_like(barriers["straight"], bool)), bool)
        k = aligned.shape[0]
        n_aligned = int(aligned[np.triu_indices(k, 1)].sum())
        matrices[
            f"straight line: lower of unaligned\nand aligned ({n_aligned} of {k * (k - 1) // 2} pairs aligned)"
        ] = barriers["straight"]
    if "bezier" in barriers and np.any(np.isfinite(np.asarray(barriers["bezier"])[~np.eye(len(labels), dtype=bool)])):
        matrices["trained Bezier curve\n(aligned ends)"] = barriers["bezier"]
    if "band" in barriers:
        matrices["relaxed NEB band\n(highest sampled point)"] = barriers["band"]
    if "transition_state" in barriers:
        matrices["band's verified transition state\n(grey, nan: none verified)"] = barriers["transition_state"]
    return plot_barrier_matrices(matrices, list(labels), title)


def map_disconnectivity(arrays: dict, name: str = "", log_loss: bool = True) -> Figure:
    """:func:`disconnectivity_graph` of a map's arrays (``MapResult.arrays`` or the stored group),
    leaves named by the point they were quenched from or how they were found."""
    points, minima = arrays["points"], arrays["minima"]
    minimum_of_point = {int(m): str(label) for label, m in zip(points["labels"], points["minimum"])}
    leaves = [f"{m}: {minimum_of_point.get(m, str(minima['source'][m]))}" for m in range(len(minima["loss"]))]
    note = (
        "Joins: the lowest connection between two groups, a verified transition state (at its loss) or a relaxed "
        "band (at its highest sampled point). Leaves: minima quenched from the points and found by descending "
        "from transition states."
    )
    types = np.asarray(minima["type"]).astype(str)
    types = np.where(types == "", "minimum (no solution types for this model)", types)
    return disconnectivity_graph(
        arrays["tree"], types, leaves, log_loss, f"{name}: disconnectivity graph".strip(": "), note
    )
