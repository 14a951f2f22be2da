"""Basin-of-attraction maps: solution type and final loss over a plane of inits."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from . import type_colour_map


def type_colours(names: list[str]) -> list[str]:
    colours = type_colour_map(names)
    return [colours[name] for name in names]


def _axis_label(kind: str, unit: int) -> str:
    return {
        "random": "random direction (×‖θ₀‖)",
        "filter": "filter-normalised direction",
        "rotate": f"rotation of unit {unit}'s weights (rad)",
        "output_scale": "output weights scale − 1",
    }.get(kind, kind)


def basin_map_figure(
    label_code: np.ndarray,
    label_names: list[str],
    final_loss: np.ndarray,
    coords_a: np.ndarray,
    coords_b: np.ndarray,
    directions: list[str],
    units: list[int],
    fractions: np.ndarray,
    boundary_edge_fraction: float,
    success_loss: float | None,
    title: str = "",
) -> Figure:
    """Two panels: the solution type of every init (left) and log10 final loss (right).

    ``label_code``/``final_loss`` are ``(G_b, G_a)`` grids (rows: axis b). The plane's origin,
    the base init, is marked with a white cross; the right panel's white contour is the
    success threshold (none when ``success_loss`` is None or NaN: success undefined for the loss).
    """
    fig = Figure(figsize=(12.5, 5.4))
    ax_types, ax_loss = fig.subplots(1, 2)
    extent = (coords_a[0], coords_a[-1], coords_b[0], coords_b[-1])
    n = len(label_names)
    cmap = ListedColormap(type_colours(label_names))
    ax_types.imshow(
        label_code,
        origin="lower",
        extent=extent,
        cmap=cmap,
        norm=BoundaryNorm(np.arange(n + 1) - 0.5, n),
        interpolation="nearest",
        aspect="auto",
    )
    handles = [
        Patch(color=c, label=f"{name} ({f:.1%})")
        for name, c, f in zip(label_names, type_colours(label_names), fractions)
    ]
    ax_types.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title="final type")
    ax_types.set_title(
        f"solution type ({label_code.shape[1]}×{label_code.shape[0]} inits); boundary edges {boundary_edge_fraction:.3f}",
        fontsize=9,
    )
    log_loss = np.log10(np.where(np.isfinite(final_loss) & (final_loss > 0), final_loss, np.nan))
    image = ax_loss.imshow(
        log_loss, origin="lower", extent=extent, cmap="viridis", interpolation="nearest", aspect="auto"
    )
    fig.colorbar(image, ax=ax_loss, label="log10 final loss")
    defined = success_loss is not None and np.isfinite(success_loss) and success_loss > 0
    finite = np.isfinite(log_loss)
    if defined and finite.any() and np.nanmin(log_loss) < np.log10(success_loss) < np.nanmax(log_loss):
        ax_loss.contour(
            coords_a,
            coords_b,
            log_loss,
            levels=[np.log10(success_loss)],
            colors="white",
            linewidths=0.8,
            linestyles="solid",
        )
    ax_loss.set_title(
        f"final loss; white line: success threshold {success_loss:.3g}"
        if defined
        else "final loss (success undefined for this loss)",
        fontsize=9,
    )
    for ax in (ax_types, ax_loss):
        ax.plot([0], [0], marker="x", color="white", markersize=9, markeredgewidth=2)
        ax.set_xlabel(_axis_label(directions[0], units[0]))
        ax.set_ylabel(_axis_label(directions[1], units[1]))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def basin_map_figure_from_group(group: dict[str, Any], title: str = "") -> Figure:
    """:func:`basin_map_figure` from a run file's ``basins`` group (``Run.group("basins")``)."""
    import json

    load = lambda v: json.loads(v) if isinstance(v, str) else list(v)  # noqa: E731
    return basin_map_figure(
        group["label"],
        load(group["label_names"]),
        group["final_loss"],
        group["coords_a"],
        group["coords_b"],
        load(group["directions_kind"]),
        load(group["units"]),
        group["fractions"],
        float(group["boundary_edge_fraction"]),
        float(group["success_loss"]),
        title,
    )
