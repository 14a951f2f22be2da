"""Figures: functions that take analysis results (or a Run) and return matplotlib Figures.

They never compute landscape quantities and never call ``plt.show()``; :func:`save_figure`
writes a Figure as PNG plus a vector format. One module per analysis area. Figures are built
as ``matplotlib.figure.Figure()`` objects, not through pyplot, so they need no display and do
not touch a notebook's backend.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from ..vocabulary import OTHER_COLOURS, TYPE_COLOURS, type_colour_map  # noqa: F401  (one vocabulary)


def run_figures_folder(run_path: str | Path, root: str | Path = "figures") -> Path:
    """``figures/<run file stem>``: where every command puts a run file's figures by default.

    The folder keeps a ``.run`` note naming the run file it belongs to; if it belongs to
    another run file that still exists (same stem in another folder), this raises
    :class:`~landscape.storage.RunFileError` instead of mixing the two runs' figures.
    """
    from ..storage import RunFileError

    run_path = Path(run_path).resolve()
    folder = Path(root) / run_path.stem
    note = folder / ".run"
    if note.exists():
        owner = Path(note.read_text().strip())
        if owner != run_path and owner.exists():
            raise RunFileError(f"{folder}: holds the figures of {owner}, not {run_path}; pass --figures DIR")
    folder.mkdir(parents=True, exist_ok=True)
    note.write_text(f"{run_path}\n")
    return folder


def save_figure(
    fig: Figure, folder: str | Path, name: str, formats: tuple[str, ...] = ("png", "svg"), dpi: int = 130
) -> list[Path]:
    """Write ``fig`` as ``folder/name.<fmt>`` for each format; returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = folder / f"{name}.{fmt}"
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------------------------
# Drawing several figures at once.

FigureJob = tuple[str, str, tuple]  # (file name, "module:function" returning a Figure, its arguments)


def _draw_job(job: FigureJob, folder: str, formats: tuple[str, ...]) -> list[Path]:
    import importlib

    name, function, args = job
    module, attribute = function.split(":")
    return save_figure(getattr(importlib.import_module(module), attribute)(*args), folder, name, formats)


def _warm_up() -> None:
    """Import matplotlib and the figure modules in a worker before its first job arrives."""
    import matplotlib.backends.backend_agg  # noqa: F401

    from . import types  # noqa: F401


class FigurePool:
    """Draws figures in worker processes (matplotlib is single-threaded, so this is how several
    cores help); start it early, hand it jobs later.

    ``workers <= 1``, or a pool that cannot start, draws in this process instead. Workers are
    spawned, not forked (the parent runs JAX's threads), and import matplotlib while the caller
    is still computing. Use as a context manager; :meth:`draw` returns the paths written.
    """

    def __init__(self, workers: int | None = None):
        import os

        self.workers = min(2, os.cpu_count() or 1) if workers is None else workers
        self._pool = None
        if self.workers > 1:
            try:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
                self._warming = [self._pool.submit(_warm_up) for _ in range(self.workers)]
            except (OSError, ImportError, RuntimeError):
                self._pool = None

    def draw(self, jobs: list[FigureJob], folder: str | Path, formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
        """Draw and save every job's figure into ``folder``; paths in the order of ``jobs``."""
        folder = str(folder)
        if self._pool is None:
            return [path for job in jobs for path in _draw_job(job, folder, formats)]
        futures = [self._pool.submit(_draw_job, job, folder, formats) for job in jobs]
        return [Path(path) for future in futures for path in future.result()]

    def __enter__(self) -> FigurePool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
