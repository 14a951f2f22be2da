"""Figures of solution types: learned functions, unit weights, active fractions, loss curves,
type fractions with confidence intervals, and clusters against types.

Inputs are arrays computed elsewhere (:mod:`landscape.solutions`, :mod:`landscape.clustering`);
nothing here evaluates a network.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import cm
from matplotlib.figure import Figure

from . import type_colour_map

UNIT_COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


def type_colours(names: Sequence[str]) -> dict[str, str]:
    return type_colour_map(list(names))


def _grid(n_items: int, max_cols: int = 3) -> tuple[int, int]:
    """``(rows, cols)`` of a panel grid for ``n_items`` panels (at least one cell)."""
    cols = max(1, min(max_cols, n_items))
    return max(1, -(-n_items // cols)), cols


def _empty(fig: Figure, message: str) -> Figure:
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def _draw_lines(ax, w: np.ndarray, b: np.ndarray, reach: float, style: dict, dead=None, label: str = "unit") -> None:
    """Each unit's line ``w.x + b = 0`` in 2-D (``w (2, h)``, ``b (h,)``), an arrow on its active side."""
    t = np.linspace(-3 * reach, 3 * reach, 2)
    for j in range(w.shape[1]):
        wj, bj = np.asarray(w[:, j], float), float(b[j])
        norm = np.linalg.norm(wj)
        if norm == 0 or not np.isfinite(norm):
            continue
        foot = -bj * wj / norm**2  # closest point of the line w.x + b = 0 to the origin
        along = np.array([-wj[1], wj[0]]) / norm
        is_dead = bool(dead[j]) if dead is not None else False
        colour = style.get("color") or UNIT_COLOURS[j % len(UNIT_COLOURS)]
        ax.plot(
            foot[0] + t * along[0],
            foot[1] + t * along[1],
            ":" if is_dead else style.get("ls", "-"),
            color=colour,
            lw=style.get("lw", 1.6),
            label=(f"{label} {j}" + (" (dead)" if is_dead else ""))
            if not style.get("one_label")
            else (label if j == 0 else "_nolegend_"),
        )
        ax.annotate("", xy=foot + 0.15 * wj / norm, xytext=foot, arrowprops={"arrowstyle": "->", "color": colour})


def surfaces_figure(panels: Sequence[dict], target: dict | None = None) -> Figure:
    """3D surfaces of the learned function, one panel per type (plus the target first).

    Each panel: ``{"title": str, "g0", "g1", "f": (res, res) arrays}``.
    """
    items = ([{**target, "title": target.get("title", "target")}] if target else []) + list(panels)
    rows, cols = _grid(len(items))
    fig = Figure(figsize=(4.2 * cols, 4.0 * rows))
    if not items:
        return _empty(fig, "no representative to draw")
    for i, item in enumerate(items):
        ax = fig.add_subplot(rows, cols, i + 1, projection="3d")
        ax.plot_surface(
            item["g0"], item["g1"], item["f"], cmap=cm.viridis, linewidth=0, antialiased=True, rcount=60, ccount=60
        )
        ax.set_title(item["title"], fontsize=9)
        ax.set_xlabel("x0")
        ax.set_ylabel("x1")
        ax.view_init(elev=28, azim=-60)
    fig.suptitle("Learned function of a representative network per type")
    return fig


def contours_figure(panels: Sequence[dict], target: dict | None = None) -> Figure:
    """Contour maps with each hidden unit's hyperplane (pre-activation = 0) drawn on top.

    Each panel: ``{"title", "g0", "g1", "f", "w": (d, h), "b": (h,), "dead": (h,) bool}``;
    the target panel has no units. A panel with ``teacher_w (2, k)`` and ``teacher_b (k,)`` also
    shows the teacher's hyperplanes (black, dashed).
    """
    items = ([{**target, "title": target.get("title", "target")}] if target else []) + list(panels)
    rows, cols = _grid(len(items))
    fig = Figure(figsize=(4.0 * cols, 3.7 * rows), layout="constrained")
    if not items:
        return _empty(fig, "no representative to draw")
    low, high = float(items[0]["g0"].min()), float(items[0]["g0"].max())
    for i, item in enumerate(items):
        ax = fig.add_subplot(rows, cols, i + 1)
        filled = ax.contourf(item["g0"], item["g1"], item["f"], levels=20, cmap="viridis")
        ax.contour(item["g0"], item["g1"], item["f"], levels=10, colors="white", linewidths=0.4)
        fig.colorbar(filled, ax=ax, shrink=0.8)
        if "w" in item:
            _draw_lines(ax, item["w"], item["b"], high - low, {}, item["dead"])
        if "teacher_w" in item:
            _draw_lines(
                ax,
                item["teacher_w"],
                item["teacher_b"],
                high - low,
                {"color": "black", "ls": "--", "lw": 1.0, "one_label": True},
                label="teacher's units",
            )
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="lower left")
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.set_aspect("equal")
        ax.set_title(item["title"], fontsize=9)
    teacher = "; black dashed: the teacher's" if any("teacher_w" in item for item in items) else ""
    fig.suptitle(
        f"Contours of the learned function; lines: unit hyperplanes w.x + b = 0 (arrow: active side; dotted: dead{teacher})"
    )
    return fig


def unit_weights_figure(panels: Sequence[dict]) -> Figure:
    """The accepted answer's diagnostic: each unit's input weights as an arrow from the origin.

    Each panel: ``{"title", "w": (2, h), "b": (h,), "a": (h,), "active_fraction": (h,), "category": (h,) names}``.
    A merged pair shows as two parallel arrows with the same offset, a dead unit dashed.
    """
    rows, cols = _grid(len(panels))
    fig = Figure(figsize=(4.0 * cols, 3.9 * rows), layout="constrained")
    if not panels:
        return _empty(fig, "no representative to draw")
    for i, item in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        reach = max(1e-9, float(np.max(np.abs(item["w"])))) * 1.35
        for j in range(item["w"].shape[1]):
            w = item["w"][:, j]
            colour = UNIT_COLOURS[j % len(UNIT_COLOURS)]
            dead = item["category"][j] == "dead"
            ax.annotate(
                "",
                xy=w,
                xytext=(0, 0),
                arrowprops={"arrowstyle": "-|>", "color": colour, "lw": 2, "ls": "--" if dead else "-"},
            )
            ax.text(
                w[0],
                w[1],
                f" u{j}: b={item['b'][j]:+.2f}, a={item['a'][j]:+.2f}\n active {item['active_fraction'][j]:.0%}, {item['category'][j]}",
                fontsize=7,
                color=colour,
                va="bottom",
            )
        ax.axhline(0, color="0.8", lw=0.6)
        ax.axvline(0, color="0.8", lw=0.6)
        ax.set_xlim(-reach, reach)
        ax.set_ylim(-reach, reach)
        ax.set_aspect("equal")
        ax.set_xlabel("w0")
        ax.set_ylabel("w1")
        ax.set_title(item["title"], fontsize=9)
    fig.suptitle("Input weights per unit (arrow), offset b, output weight a, active fraction, role")
    return fig


def active_fraction_figure(active_fraction: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> Figure:
    """Distribution of per-unit active fractions, one histogram per type.

    Args: active_fraction ``(n, h)``; labels ``(n,)`` str; names: types to show.
    """
    colours = type_colours(names)
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    bins = np.linspace(0, 1, 41)
    active_fraction = np.asarray(active_fraction)
    drawn = False
    for t in names:
        values = active_fraction[np.asarray(labels) == t].ravel()
        if values.size:
            ax.hist(
                values,
                bins=bins,
                histtype="step",
                lw=1.6,
                color=colours[t],
                label=f"{t} ({values.size} units)",
                density=True,
            )
            drawn = True
    if drawn:
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax.set_xlabel("active fraction of a hidden unit (share of data points with pre-activation > 0)")
    ax.set_ylabel("density")
    ax.set_title("Per-unit active fractions by type (0 = dead unit)")
    return fig


def loss_curves_figure(
    trajectory: np.ndarray,
    steps: np.ndarray,
    labels: np.ndarray,
    names: Sequence[str],
    per_type: int = 25,
    seed: int = 0,
    colours: dict[str, str] | None = None,
    title: str = "Loss curves coloured by final type",
    size: tuple[float, float] = (7.5, 4.5),
) -> Figure:
    """Loss versus step per group (final type by default): a sample of networks and each group's median.

    Args: trajectory ``(n, n_record)`` losses at ``steps (n_record,)``; labels ``(n,)`` group names;
    ``colours`` per name (default: the type palette). Non-finite or non-positive losses (a
    diverged network) are left out of the log-scale plot and of the medians.
    """
    colours = colours or type_colours(names)
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    x = np.asarray(steps) + 1
    trajectory = np.asarray(trajectory, float).reshape(len(np.asarray(labels)), -1)
    positive = np.where(np.isfinite(trajectory) & (trajectory > 0), trajectory, np.nan)
    for t in names:
        members = np.flatnonzero(np.asarray(labels) == t)
        members = members[np.any(np.isfinite(positive[members]), axis=1)] if members.size else members
        if members.size == 0:
            continue
        for i in rng.choice(members, min(per_type, members.size), replace=False):
            ax.plot(x, positive[i], color=colours[t], alpha=0.15, lw=0.7)
        median = np.full(x.shape, np.nan)
        has = np.any(np.isfinite(positive[members]), axis=0)
        median[has] = np.nanmedian(positive[members][:, has], axis=0)
        ax.plot(x, median, color=colours[t], lw=2.4, label=f"{t} (median of {members.size})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step + 1")
    ax.set_ylabel("training loss")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no finite loss to draw", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title, fontsize=10)
    return fig


def fractions_figure(summary: dict) -> Figure:
    """Bar chart of type fractions with their confidence intervals (from :func:`type_summary`)."""
    names = [str(t) for t in summary["names"]]
    colours = type_colours(names)
    fraction = np.asarray(summary["fraction"])
    low, high = np.asarray(summary["ci_low"]), np.asarray(summary["ci_high"])
    fig = Figure(figsize=(1.2 * len(names) + 2.5, 4), layout="constrained")
    if not names:
        return _empty(fig, "no classified network")
    ax = fig.add_subplot()
    positions = np.arange(len(names))
    ax.bar(positions, fraction, color=[colours[t] for t in names])
    ax.errorbar(positions, fraction, yerr=[fraction - low, high - fraction], fmt="none", ecolor="black", capsize=5)
    for p, f, top, c in zip(positions, fraction, high, summary["count"]):
        ax.text(p, top + 0.005, f"{f:.1%}\n(n={int(c)})", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(positions, names)
    ax.set_ylabel("fraction of networks")
    top = float(np.nanmax(high)) if np.any(np.isfinite(high)) else 1.0
    ax.set_ylim(0, min(1.08, top * 1.25 + 0.05))
    conf = float(summary.get("confidence", 0.95))
    ax.set_title(f"Type fractions with {conf:.0%} Wilson intervals (N = {int(np.sum(summary['count']))})")
    return fig


def clusters_figure(
    contingency: np.ndarray, type_names: Sequence[str], description: str, adjusted_rand: float
) -> Figure:
    """The contingency table of rule-free clusters (rows) against rule-based types (columns)."""
    table = np.asarray(contingency)
    fig = Figure(figsize=(1.0 * len(type_names) + 3, 0.45 * table.shape[0] + 2.2), layout="constrained")
    if table.size == 0:
        return _empty(fig, "no clusters")
    ax = fig.add_subplot()
    shares = table / np.maximum(table.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for (r, c), v in np.ndenumerate(table):
        if v:
            ax.text(
                c, r, str(v), ha="center", va="center", fontsize=8, color="white" if shares[r, c] > 0.6 else "black"
            )
    ax.set_xticks(np.arange(len(type_names)), type_names)
    ax.set_yticks(np.arange(table.shape[0]), [f"cluster {i} (n={int(s)})" for i, s in enumerate(table.sum(axis=1))])
    ax.set_xlabel("rule-based type")
    import textwrap

    note = textwrap.fill(description, 110)
    ax.set_title(f"Clusters vs types (adjusted Rand index {adjusted_rand:.2f})\n{note}", fontsize=8)
    return fig
