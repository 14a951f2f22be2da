"""Figures: functions that take analysis results (or a Run) and return matplotlib Figures.

They never compute landscape quantities and never call ``plt.show()``; :func:`save_figure`
writes a Figure as PNG plus a vector format. One module per analysis area. Figures are built
as ``matplotlib.figure.Figure()`` objects, not through pyplot, so they need no display and do
not touch a notebook's backend.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure


def save_figure(fig: Figure, folder: str | Path, name: str, formats: tuple[str, ...] = ("png", "svg"), dpi: int = 130) -> list[Path]:
    """Write ``fig`` as ``folder/name.<fmt>`` for each format; returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = folder / f"{name}.{fmt}"
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        paths.append(path)
    return paths
