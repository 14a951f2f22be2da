"""Remedy sweeps: success fraction (95% CI bars) against each factor; type breakdowns."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .basins import type_colours


def _format(value: Any) -> str:
    from ..sweeps import format_value

    return format_value(value)


def factor_points(table: dict[str, Any], factor: str) -> list[tuple[str, int, int, bool]]:
    """``(value text, successes, n, is_base)`` per value of ``factor``, in the file's order.

    one_at_a_time: the cells that set ``factor`` plus the base cell (cell 0) at the base value.
    grid: cells pooled over every other factor (marginal counts). A cell whose success is
    undefined (no threshold for its loss) counts as ``n = 0``.
    """
    settings = table["settings"]
    judged = np.where(np.isfinite(np.asarray(table.get("threshold", np.zeros(len(settings))), float)), 1, 0)
    table = {**table, "n": np.asarray(table["n"]) * judged, "successes": np.asarray(table["successes"]) * judged}
    values = table["factors"][factor]
    points = []
    if table["mode"] == "grid":
        for value in values:
            rows = [r for r, s in enumerate(settings) if s.get(factor) == value]
            points.append((_format(value), int(table["successes"][rows].sum()), int(table["n"][rows].sum()), False))
        return points
    base = table["factor_base"][factor]
    base_text = _format(base)
    seen_base = False
    for value in values:
        rows = [r for r, s in enumerate(settings) if factor in s and s[factor] == value]
        if rows:
            r = rows[0]
            points.append((_format(value), int(table["successes"][r]), int(table["n"][r]), False))
        else:  # the value equals the base study's: the base cell stands for it
            points.append((base_text, int(table["successes"][0]), int(table["n"][0]), True))
            seen_base = True
    if not seen_base:
        points.insert(0, (base_text, int(table["successes"][0]), int(table["n"][0]), True))
    return points


def success_by_factor_figure(table: dict[str, Any], wilson: Any, title: str = "") -> Figure:
    """One panel per factor: success fraction with Wilson 95% CI bars, base value highlighted.

    ``wilson(successes, n) -> (low, high)`` supplies the intervals (pooled counts in grid mode).
    """
    factors = list(table["factors"])
    cols = min(3, len(factors))
    rows = -(-len(factors) // cols)
    fig = Figure(figsize=(4.6 * cols, 3.6 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, factor in zip(axes, factors):
        every = factor_points(table, factor)
        points = [point for point in every if point[2] > 0]  # n = 0: success undefined
        omitted = f"; {len(every) - len(points)} without a success rule omitted" if len(points) < len(every) else ""
        if not points:
            ax.text(0.5, 0.5, "success undefined", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(factor, fontsize=9)
            continue
        xs = np.arange(len(points))
        fractions = np.array([k / n for _, k, n, _ in points])
        intervals = np.array([wilson(k, n) for _, k, n, _ in points])
        errors = np.stack([fractions - intervals[:, 0], intervals[:, 1] - fractions])
        base = np.array([is_base for *_, is_base in points])
        ax.bar(xs, fractions, color=np.where(base, "#e76f51", "#264653"), alpha=0.3)
        for mask, colour in ((~base, "#264653"), (base, "#e76f51")):
            if mask.any():
                ax.errorbar(xs[mask], fractions[mask], yerr=errors[:, mask], fmt="o", color=colour, capsize=4)
        labels = [text + (" (base)" if is_base else "") for text, *_, is_base in points]
        tilt = max(len(t) for t in labels) > 6
        ax.set_xticks(xs, labels, rotation=30 if tilt else 0, ha="right" if tilt else "center", fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(factor + (" (pooled over other factors)" if table["mode"] == "grid" else "") + omitted, fontsize=9)
        ax.set_ylabel("success fraction")
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[len(factors) :]:
        ax.set_visible(False)
    rule = table.get("success_definition") or f"final loss < {float(table['success_loss']):g}"
    note = f"success: {rule}; bars: Wilson 95% CI; red: the base study"
    if len(note) > 110:  # a long rule would run off the figure
        note = "success: each cell's own threshold (see the table); bars: Wilson 95% CI; red: the base study"
    fig.suptitle((title + "\n" if title else "") + note, fontsize=10)
    fig.tight_layout()
    return fig


def type_breakdown_figure(table: dict[str, Any], title: str = "") -> Figure | None:
    """Stacked bars of shape fractions for the ReLU-family cells (None if there are none)."""
    counts = np.asarray(table["type_counts"])
    rows = [r for r in range(len(counts)) if counts.shape[1] and counts[r, 0] >= 0]
    if not rows:
        return None
    names = list(table["type_names"])
    fig = Figure(figsize=(max(6.0, 0.55 * len(rows) + 3), 4.4))
    ax = fig.subplots()
    bottom = np.zeros(len(rows))
    for k, (name, colour) in enumerate(zip(names, type_colours(names))):
        share = counts[rows, k] / np.maximum(counts[rows].sum(axis=1), 1)
        ax.bar(np.arange(len(rows)), share, bottom=bottom, color=colour, label=name)
        bottom += share
    ax.set_xticks(np.arange(len(rows)), [str(table["label"][r]) for r in rows], rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("fraction of networks")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title="shape")
    ax.set_title(title or "shape of the learned function, ReLU-family cells", fontsize=10)
    fig.tight_layout()
    return fig
