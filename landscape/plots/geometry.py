"""Figures of the geometry between minima: 2D slices, 1D path profiles, barrier matrices.

Every function takes arrays already computed (by :mod:`landscape.slices` / :mod:`landscape.paths`,
or read back from a run file's ``slices/<name>`` and ``paths`` groups) and returns a Figure.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps, colors
from matplotlib.figure import Figure

_POINT_COLORS = ("#ffffff", "#ff4fa3", "#40e0d0", "#ffd700", "#9acd32", "#ff8c00")
_PATH_STYLES = {
    "linear": {"color": "#888888", "linestyle": "--"},
    "aligned": {"color": "#1f77b4", "linestyle": "-"},
    "bezier": {"color": "#d62728", "linestyle": "-"},
}


def _log_loss(loss: np.ndarray) -> np.ndarray:
    floor = np.nanmin(loss[loss > 0]) if np.any(loss > 0) else 1e-12
    return np.log10(np.clip(loss, floor, None))


def plot_slice_contour(
    alphas: np.ndarray,
    betas: np.ndarray,
    loss: np.ndarray,
    point_coords: np.ndarray,
    point_labels: Sequence[str],
    title: str = "",
    axis_labels: tuple[str, str] = ("alpha", "beta"),
    levels: int = 30,
) -> Figure:
    """Filled contours of ``log10(loss)`` over a plane, with the given points marked and labelled.

    Args:
      alphas, betas: ``(n_alpha,)``, ``(n_beta,)`` grid coordinates.
      loss: ``(n_beta, n_alpha)``.
      point_coords: ``(k, 2)`` plane coordinates of the marked points; labels ``(k,)``.
    """
    fig = Figure(figsize=(6.4, 6.0))
    ax = fig.add_subplot()
    log_loss = _log_loss(np.asarray(loss))
    filled = ax.contourf(alphas, betas, log_loss, levels=levels, cmap="viridis")
    ax.contour(alphas, betas, log_loss, levels=filled.levels[::3], colors="k", linewidths=0.4, alpha=0.5)
    fig.colorbar(filled, ax=ax, label="log10 loss")
    # each point: a coloured marker with its number; the full labels go in a legend below the map
    for i, ((a, b), label) in enumerate(zip(np.asarray(point_coords, dtype=float), point_labels)):
        color = _POINT_COLORS[i % len(_POINT_COLORS)]
        ax.plot(
            [a],
            [b],
            marker="o",
            markersize=13,
            markerfacecolor=color,
            markeredgecolor="k",
            linestyle="none",
            label=f"{i + 1}: {label}",
        )
        ax.annotate(str(i + 1), (a, b), ha="center", va="center", fontsize=8, fontweight="bold", color="k")
    ax.set_aspect("equal")
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(_wrap(title), fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=8, frameon=False, ncol=1)
    return fig


def _wrap(title: str, width: int = 60) -> str:
    return "\n".join(textwrap.wrap(title, width)) if title else ""


def plot_slice_surface(
    alphas: np.ndarray,
    betas: np.ndarray,
    loss: np.ndarray,
    point_coords: np.ndarray,
    point_labels: Sequence[str],
    point_loss: np.ndarray,
    title: str = "",
    axis_labels: tuple[str, str] = ("alpha", "beta"),
) -> Figure:
    """A 3D surface of ``log10(loss)`` over a plane, points drawn at their own loss."""
    fig = Figure(figsize=(7, 5.5))
    ax = fig.add_subplot(projection="3d")
    grid_a, grid_b = np.meshgrid(alphas, betas)
    log_loss = _log_loss(np.asarray(loss))
    ax.plot_surface(
        grid_a,
        grid_b,
        log_loss,
        cmap="viridis",
        linewidth=0,
        antialiased=True,
        alpha=0.85,
        rcount=min(101, len(betas)),
        ccount=min(101, len(alphas)),
    )
    floor = np.nanmin(log_loss)
    for i, ((a, b), label, value) in enumerate(zip(np.asarray(point_coords), point_labels, np.asarray(point_loss))):
        z = np.log10(max(float(value), 10.0**floor))
        ax.scatter([a], [b], [z], color=_POINT_COLORS[i % len(_POINT_COLORS)], edgecolor="k", s=40, depthshade=False)
        ax.text(a, b, z, f"  {label}", fontsize=8)
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_zlabel("log10 loss")
    ax.set_title(_wrap(title), fontsize=10)
    return fig


def plot_path_profiles(
    t: np.ndarray,
    pairs: Sequence[tuple[str, dict[str, np.ndarray]]],
    columns: int = 3,
    log_scale: bool = True,
) -> Figure:
    """1D loss profiles along paths, one panel per pair of endpoints.

    Args:
      t: ``(n_t,)`` path parameter in [0, 1].
      pairs: ``[(panel title, {"linear": (n_t,), "aligned": (n_t,), "bezier": (n_t,)}), ...]``;
        any subset of curve names (others get default styles). Legend entries carry barriers.
    """
    n = max(len(pairs), 1)
    columns = min(columns, n)
    rows = -(-n // columns)
    fig = Figure(figsize=(4.2 * columns, 3.2 * rows))
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    for ax, (title, curves) in zip(axes, pairs):
        positive = True
        for name, profile in curves.items():
            profile = np.asarray(profile, dtype=float)
            height = float(np.max(profile) - max(profile[0], profile[-1]))
            ax.plot(t, profile, label=f"{name} (barrier {height:.3g})", **_PATH_STYLES.get(name, {}))
            positive &= bool(np.all(np.isfinite(profile)) and np.all(profile > 0))
        if log_scale and positive:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("t")
        ax.set_ylabel("loss")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(pairs) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_barrier_matrices(matrices: dict[str, np.ndarray], labels: Sequence[str], title: str = "") -> Figure:
    """Heatmaps of ``(k, k)`` barrier matrices side by side (shared log colour scale), values written in."""
    names = list(matrices)
    k = len(labels)
    fig = Figure(figsize=(2.4 + (0.9 + 0.6 * k) * len(names), 1.8 + 0.6 * k), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(names), squeeze=False)).ravel()
    values = (
        np.concatenate([np.asarray(m)[~np.eye(k, dtype=bool)] for m in matrices.values()]) if k > 1 else np.array([1.0])
    )
    positive = values[values > 0]
    vmax = float(positive.max()) if positive.size else 1.0
    vmin = max(float(positive.min()) if positive.size else vmax * 1e-3, vmax * 1e-4)
    norm = colors.LogNorm(vmin=vmin, vmax=vmax)
    image = None
    for n, (ax, name) in enumerate(zip(axes, names)):
        matrix = np.asarray(matrices[name], dtype=float)
        shown = np.where(np.eye(k, dtype=bool), np.nan, np.clip(matrix, vmin, None))
        cmap = colormaps["magma"].with_extremes(bad="#dddddd")
        image = ax.imshow(shown, cmap=cmap, norm=norm)
        for i in range(k):
            for j in range(k):
                ax.text(
                    j,
                    i,
                    "" if i == j else f"{matrix[i, j]:.2g}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if matrix[i, j] < np.sqrt(vmin * vmax) else "black",
                )
        ax.set_xticks(range(k), labels, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(k), labels if n == 0 else [""] * k, fontsize=8)
        ax.set_title(name, fontsize=10)
    if image is not None:
        fig.colorbar(image, ax=list(axes), label="barrier (loss)", shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------------
# A stored result's figures, as the commands draw them.


def save_slice_figures(result: Any, run_name: str, folder: str | Path, surface: bool = False) -> list[Path]:
    """The contour (and, with ``surface``, the 3D surface) of a :class:`~landscape.slices.SliceResult`,
    saved as ``slice-<name>[-surface].{png,svg}``; none when the loss is nowhere finite."""
    from . import save_figure

    if not np.any(np.isfinite(result.loss)):
        return []
    labels = [str(label) for label in result.point_labels]
    marked = [f"{label} ({value:.2g})" for label, value in zip(labels, result.point_loss)]
    if result.kind == "random":
        title = (
            f"{run_name}: random filter-normalised plane around {labels[0]} "
            f"(axes cosine {result.attrs.get('axes_cosine', float('nan')):.2f})"
        )
    else:
        aligned = " (aligned onto the first)" if result.attrs.get("aligned") else ""
        title = f"{run_name}: plane through {', '.join(labels)}{aligned}"
    args = (result.alpha, result.beta, result.loss, result.point_coords)
    written = save_figure(plot_slice_contour(*args, marked, title, result.axis_labels), folder, f"slice-{result.name}")
    if surface:
        written += save_figure(
            plot_slice_surface(*args, labels, result.point_loss, title, result.axis_labels),
            folder,
            f"slice-{result.name}-surface",
        )
    return written


def save_paths_figures(result: Any, run_name: str, folder: str | Path) -> list[Path]:
    """The profiles and barrier matrices of a :class:`~landscape.paths.PathsResult`, saved as
    ``paths-<name>-profiles`` and ``paths-<name>-barriers`` (``.png``, ``.svg``)."""
    from . import save_figure

    labels = [str(label) for label in result.labels]
    panels = []
    for n, (i, j) in enumerate(result.pairs):
        curves = {"linear": result.profile_linear[i, j]}
        if result.aligned:
            curves["aligned"] = result.profile_aligned[i, j]
        if result.bezier is not None:
            curves["bezier"] = result.bezier["profile"][n]
        panels.append((f"{labels[i]} -> {labels[j]}", curves))
    written = save_figure(plot_path_profiles(result.t, panels), folder, f"paths-{result.name}-profiles")
    matrices = {"linear": result.barrier_linear}
    if result.aligned:
        matrices["aligned"] = result.barrier_aligned
    if result.bezier is not None:
        matrices["Bezier (aligned ends)" if result.aligned else "Bezier"] = result.bezier["barrier_matrix"]
    written += save_figure(
        plot_barrier_matrices(matrices, labels, f"{run_name}: loss barriers between minima"),
        folder,
        f"paths-{result.name}-barriers",
    )
    return written
