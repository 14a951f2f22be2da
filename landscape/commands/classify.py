"""``landscape classify``: solution types of every network of a run, stored and plotted."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import add_finished_only

if TYPE_CHECKING:  # heavy modules load inside the functions: `landscape --help` stays fast
    from ..solutions import TypesResult
    from ..storage import Run

ORDER = 2


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classify",
        help="label every network's minimum (pyramid / valley / ridge / dead ...), cluster them, plot",
        description="Classify each trained network by the shape of its learned function (rule-based types "
        "with their causes), cluster the minima without rules, print a table of types with counts, "
        "fractions, 95% confidence intervals, loss ranges, success fractions and R², store it under the "
        "run file's 'types' group, and write figures. Works on any model and task; what does not apply "
        "is said in one line.",
    )
    p.add_argument("run", help="run file (.h5)")
    p.add_argument("--figures", metavar="DIR", help="folder for figures (default: figures/<run file stem>)")
    p.add_argument("--no-figures", action="store_true", help="do not write figures")
    p.add_argument("--no-clusters", action="store_true", help="skip the rule-free clustering")
    p.add_argument(
        "--clusters", type=int, metavar="K", help="fix the number of clusters (default: chosen from the linkage)"
    )
    p.add_argument(
        "--sample", type=int, default=3000, metavar="M", help="networks clustered hierarchically (default: 3000)"
    )
    p.add_argument(
        "--confidence", type=float, default=0.95, metavar="C", help="confidence level of the intervals (default: 0.95)"
    )
    add_finished_only(p)
    p.set_defaults(func=main)


def classify_and_report(
    path: str | Path,
    figures: str | Path | None,
    cluster: bool = True,
    n_clusters: int | None = None,
    sample_size: int = 3000,
    confidence: float = 0.95,
    timings: dict[str, float] | None = None,
    written: list[Path] | None = None,
    formats: tuple[str, ...] = ("png", "svg"),
    finished_only: bool = False,
) -> str:
    """Classify a run (:func:`landscape.solutions.classify_run`), store the ``types`` group, write
    figures; returns the printed text.

    ``timings``, if given, receives the seconds of the ``types`` (classify and store) and
    ``figures`` stages; ``written``, if given, the paths of the figure files (in ``formats``).
    ``finished_only``: on an incomplete run, classify the finished networks (else refused in one line)."""

    from ..plots import FigurePool
    from ..storage import check_writable

    check_writable(path)  # before work whose result could not be stored
    with FigurePool(None if figures is not None else 1) as pool:  # its workers start while we classify
        started = time.perf_counter()
        from ..solutions import classify_run
        from ..storage import Run

        with Run(path) as run:
            types = classify_run(
                run,
                cluster=cluster,
                n_clusters=n_clusters,
                sample_size=sample_size,
                confidence=confidence,
                finished_only=finished_only,
            )
            name = run.name
        types.write(path)
        if timings is not None:
            timings["types"] = time.perf_counter() - started
        lines = report_lines(types, name, path)
        if figures is not None:
            started = time.perf_counter()
            with Run(path) as run:
                paths = write_type_figures(run, types, figures, formats, pool)
            if timings is not None:
                timings["figures"] = time.perf_counter() - started
            if written is not None:
                written.extend(paths)
            lines += ["", f"figures: {len(paths)} files in {figures}"]
        return "\n".join(lines)


def report_lines(types: TypesResult, name: str, path: str | Path) -> list[str]:
    """The printed report of a :class:`~landscape.solutions.TypesResult`: table, skips, teacher, clusters."""
    import numpy as np

    lines = [f"solution types of '{name}' ({types.n_counted} networks; stored in {path}:/types)"]
    if types.problem is not None:
        lines.append(f"  problem: {types.problem.describe()}")
    if types.partial:
        lines.append(f"  {types.partial} (--finished-only; fractions over the finished networks)")
    lines += [f"  {line}" for line in types.skipped if not line.startswith("clustering")]
    lines.append(f"  {types.success_rule}")
    lines.append(types.format_table())
    at_limit, names = types.max_steps, np.asarray(types.names)
    if np.any(at_limit[names != "unconverged"]):
        parts = ", ".join(f"{t} {int(c)}" for t, c in zip(names, at_limit) if c and t != "unconverged")
        lines.append(f"  ran out of steps on a loss plateau (labelled by shape): {parts}")
    unfinished = (types.labels == "unconverged") & types.finished
    if np.any(unfinished):
        shapes, counts = np.unique(types.shapes[unfinished], return_counts=True)
        parts = ", ".join(f"{t} {int(c)}" for t, c in sorted(zip(shapes, counts), key=lambda item: -item[1]))
        lines.append(f"  unconverged (loss still falling at the step limit), shape so far: {parts}")
    if types.teacher is not None:
        error = types.teacher["error"]
        finite = error[np.isfinite(error)]
        if finite.size:
            lines.append(
                f"  teacher recovery (Hungarian match of unit directions (w, b)): match error median "
                f"{np.median(finite):.3g}, min {finite.min():.3g}, max {finite.max():.3g}; "
                f"{np.mean(finite < 0.05):.1%} of networks below 0.05 (stored in /types/teacher)"
            )
    if types.clusters is not None:
        from ..clustering import format_contingency, purity

        clusters = types.clusters
        lines.append("")
        lines.append(f"clusters without rules: {types.cluster_description}.")
        lines.append(f"  embedding: {types.embedding}")
        lines.append(format_contingency(clusters["contingency"], types.names, clusters, clusters["medoid"]))
        lines.append(
            f"  agreement with the rule-based types: adjusted Rand index {types.adjusted_rand:.3f}, "
            f"purity {purity(clusters['contingency']):.3f} (share of networks whose cluster's majority type is theirs)"
        )
    lines += [f"  {line}" for line in types.skipped if line.startswith("clustering")]
    return lines


def type_figure_jobs(run: Run, types: TypesResult) -> list[tuple[str, str, tuple]]:
    """Every type figure of a classified run as a :data:`landscape.plots.FigureJob`, costliest first."""
    from ..solutions import representative_panels

    names, units = types.names, types.units
    labels = types.finished_labels
    figure = "landscape.plots.types:"
    jobs = []
    if run.x.shape[1] == 2 and units is not None:
        target, surfaces, weights = representative_panels(
            run,
            names,
            types.summary["representative"],
            units["category"],
            units["active_fraction"],
            types.networks.get("cause"),
        )
        if surfaces:
            jobs += [
                ("type_contours", figure + "contours_figure", (surfaces, target)),
                ("unit_weights", figure + "unit_weights_figure", (weights,)),
                ("type_surfaces", figure + "surfaces_figure", (surfaces, target)),
            ]
    trajectory = run.trajectory[types.finished]
    jobs.append(
        ("loss_curves_by_type", figure + "loss_curves_figure", (trajectory, run.trajectory_steps, labels, names))
    )
    if units is not None:
        jobs.append(
            (
                "active_fractions",
                figure + "active_fraction_figure",
                (units["active_fraction"][types.finished], labels, names),
            )
        )
    jobs.append(("type_fractions", figure + "fractions_figure", (types.summary,)))
    if types.clusters is not None:
        clusters = (types.clusters["contingency"], names, types.cluster_description, types.adjusted_rand)
        jobs.append(("clusters_vs_types", figure + "clusters_figure", clusters))
    return jobs


def write_type_figures(
    run: Run, types: TypesResult, folder: str | Path, formats: tuple[str, ...] = ("png", "svg"), pool: Any = None
) -> list[Path]:
    """All type figures for a classified run (see :mod:`landscape.plots.types`), drawn by ``pool``
    (a :class:`landscape.plots.FigurePool`; default: one made here)."""
    from ..plots import FigurePool

    jobs = type_figure_jobs(run, types)
    if pool is not None:
        return pool.draw(jobs, folder, formats)
    with FigurePool() as own:
        return own.draw(jobs, folder, formats)


def main(args: argparse.Namespace) -> int:
    figures = None
    if not args.no_figures:
        if args.figures:
            figures = args.figures
        else:
            from ..plots import run_figures_folder

            figures = run_figures_folder(args.run)
    print(
        classify_and_report(
            args.run,
            figures,
            cluster=not args.no_clusters,
            n_clusters=args.clusters,
            sample_size=args.sample,
            confidence=args.confidence,
            finished_only=args.finished_only,
        )
    )
    return 0
