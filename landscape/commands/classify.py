"""``landscape classify``: solution types of every network of a run, stored and plotted."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # heavy modules load inside the functions: `landscape --help` stays fast
    from ..storage import Run

ORDER = 2


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classify",
        help="label every network's minimum (pyramid / valley / dead ...), cluster them, plot",
        description="Classify each trained network by the shape of its learned function (rule-based types "
        "with their causes), cluster the minima without rules, print a table of types with counts, "
        "fractions, 95% confidence intervals and loss ranges, store it under the run file's 'types' "
        "group, and write figures.",
    )
    p.add_argument("run", help="run file (.h5)")
    p.add_argument("--figures", metavar="DIR", help="folder for figures (default: figures/<run file stem>)")
    p.add_argument("--no-figures", action="store_true", help="do not write figures")
    p.add_argument("--no-clusters", action="store_true", help="skip the rule-free clustering")
    p.add_argument("--clusters", type=int, metavar="K", help="fix the number of clusters (default: chosen from the linkage)")
    p.add_argument("--sample", type=int, default=3000, metavar="M", help="networks clustered hierarchically (default: 3000)")
    p.add_argument("--confidence", type=float, default=0.95, metavar="C", help="confidence level of the intervals (default: 0.95)")
    p.set_defaults(func=main)


def classify_and_report(path: str | Path, figures: str | Path | None, cluster: bool = True, n_clusters: int | None = None, sample_size: int = 3000, confidence: float = 0.95, timings: dict[str, float] | None = None, written: list[Path] | None = None, formats: tuple[str, ...] = ("png", "svg")) -> str:
    """Classify a run, store the ``types`` group, write figures; returns the printed text.

    ``timings``, if given, receives the seconds of the ``types`` (classify and store) and
    ``figures`` stages; ``written``, if given, the paths of the figure files (in ``formats``)."""
    import numpy as np

    from ..solutions import Thresholds, classify_run, format_type_table, types_group_arrays
    from ..storage import Run, check_writable, write_group

    thresholds = Thresholds()
    check_writable(path)  # before work whose result could not be stored
    started = time.perf_counter()
    with Run(path) as run:
        analysis = classify_run(run, thresholds, cluster=cluster, n_clusters=n_clusters, sample_size=sample_size, confidence=confidence)
        name = run.name
    arrays, attrs = types_group_arrays(analysis, thresholds)
    write_group(path, "types", arrays, {**attrs, "seconds": time.perf_counter() - started})
    if timings is not None:
        timings["types"] = time.perf_counter() - started
    summary = analysis["summary"]
    n = int(np.sum(summary["count"]))
    lines = [f"solution types of '{name}' ({n} networks; stored in {path}:/types)"]
    lines.append(format_type_table(summary, analysis["causes"]))
    at_limit = analysis["max_steps"]
    if np.any(at_limit[summary["names"] != "unconverged"]):
        parts = ", ".join(f"{t} {int(c)}" for t, c in zip(summary["names"], at_limit) if c and t != "unconverged")
        lines.append(f"  ran out of steps on a loss plateau (labelled by shape): {parts}")
    unfinished = analysis["result"]["label"] == "unconverged"
    if np.any(unfinished):
        shapes, counts = np.unique(analysis["result"]["shape"][unfinished], return_counts=True)
        parts = ", ".join(f"{t} {int(c)}" for t, c in sorted(zip(shapes, counts), key=lambda item: -item[1]))
        lines.append(f"  unconverged (loss still falling at the step limit), shape so far: {parts}")
    if cluster:
        from ..clustering import format_contingency, purity

        found, table = analysis["clusters"], analysis["cluster_summary"]
        lines.append("")
        lines.append(f"clusters without rules: {found.description}.")
        lines.append(f"  embedding: {analysis['embedding']}")
        lines.append(format_contingency(table["contingency"], [str(t) for t in summary["names"]], table, found.medoids))
        lines.append(
            f"  agreement with the rule-based types: adjusted Rand index {analysis['adjusted_rand']:.3f}, "
            f"purity {purity(table['contingency']):.3f} (share of networks whose cluster's majority type is theirs)"
        )
    if figures is not None:
        started = time.perf_counter()
        with Run(path) as run:
            paths = write_type_figures(run, analysis, figures, formats)
        if timings is not None:
            timings["figures"] = time.perf_counter() - started
        if written is not None:
            written.extend(paths)
        lines.append("")
        lines.append(f"figures: {len(paths)} files in {figures}")
    return "\n".join(lines)


def write_type_figures(run: Run, analysis: dict[str, Any], folder: str | Path, formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """All type figures for a classified run (see :mod:`landscape.plots.types`)."""
    import functools

    from ..plots import save_figure as save_any

    save_figure = functools.partial(save_any, formats=formats)
    from ..plots import types as type_plots
    from ..solutions import representative_panels

    result, summary = analysis["result"], analysis["summary"]
    names = [str(t) for t in summary["names"]]
    labels = result["label"]
    written: list[Path] = []
    written += save_figure(type_plots.fractions_figure(summary), folder, "type_fractions")
    written += save_figure(type_plots.loss_curves_figure(run.trajectory, run.trajectory_steps, labels, names), folder, "loss_curves_by_type")
    if "active_fraction" in result:
        written += save_figure(type_plots.active_fraction_figure(result["active_fraction"], labels, names), folder, "active_fractions")
    if "clusters" in analysis:
        fig = type_plots.clusters_figure(analysis["cluster_summary"]["contingency"], names, analysis["clusters"].description, analysis["adjusted_rand"])
        written += save_figure(fig, folder, "clusters_vs_types")
    x = run.x
    if x.shape[1] != 2 or "active_fraction" not in result:
        return written
    target, surfaces, weights = representative_panels(
        run, names, summary["representative"], result["category"], result["active_fraction"], result["cause"]
    )
    written += save_figure(type_plots.surfaces_figure(surfaces, target), folder, "type_surfaces")
    written += save_figure(type_plots.contours_figure(surfaces, target), folder, "type_contours")
    written += save_figure(type_plots.unit_weights_figure(weights), folder, "unit_weights")
    return written


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
            args.run, figures, cluster=not args.no_clusters, n_clusters=args.clusters, sample_size=args.sample, confidence=args.confidence
        )
    )
    return 0
