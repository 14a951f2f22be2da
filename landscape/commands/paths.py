"""``landscape paths``: barriers between representatives (straight lines, aligned) and trained Bezier curves.

Results go to ``paths/<name>`` in the run file (default: ``paths/representatives``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import ConfigError
from . import add_finished_only
from .slice import default_figures_folder

ORDER = 41


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "paths",
        help="barrier matrix and trained low-loss curves between representative minima",
        description="For every pair of the chosen minima: the loss along the straight line before and after "
        "aligning the second onto the first (hidden-unit permutation and rescaling), the barrier of each, and a "
        "quadratic Bezier curve trained to lower the loss along the path (Garipov et al. 2018). Points as in "
        "`landscape slice` (default: one representative per solution type, or without types the four lowest-loss "
        "finished networks). Any model and loss the run records (alignment only for the built-in MLP; else one "
        "line says it was skipped). Stores paths/<name> in the run file and writes figures.",
    )
    p.add_argument("run", help="run file (.h5)")
    p.add_argument("points", nargs="*", help="two or more points (index, init:INDEX, type name, cluster:C)")
    p.add_argument(
        "--bezier-steps", type=int, default=1000, metavar="S", help="Adam steps per curve (default: 1000; 0: no curves)"
    )
    p.add_argument("--samples", type=int, default=16, metavar="T", help="t samples per Bezier step (default: 16)")
    p.add_argument(
        "--learning-rate",
        type=float,
        default=0.01,
        metavar="LR",
        help="Adam learning rate for the control point (default: 0.01)",
    )
    p.add_argument(
        "--path-points",
        type=int,
        default=101,
        metavar="N",
        help="t values on which profiles and barriers are measured (default: 101)",
    )
    p.add_argument("--seed", type=int, default=0, metavar="K", help="PRNG seed of the Bezier t samples (default: 0)")
    p.add_argument(
        "--name", default="representatives", metavar="NAME", help="stored under paths/<name> (default: representatives)"
    )
    add_finished_only(p)
    p.add_argument("--figures", metavar="DIR", help="figure folder (default: figures/<run file stem>)")
    p.add_argument("--no-figures", action="store_true", help="store the results only")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..paths import barriers_run
    from ..slices import print_notes
    from ..storage import Run, check_writable

    if args.points and len(args.points) < 2:
        raise ConfigError(f"paths need at least two points, got {len(args.points)}")
    check_writable(args.run)  # before minutes of work whose result could not be stored
    with Run(args.run) as run:
        result = barriers_run(
            run,
            args.points or None,
            bezier_steps=args.bezier_steps,
            samples=args.samples,
            learning_rate=args.learning_rate,
            path_points=args.path_points,
            seed=args.seed,
            name=args.name,
            finished_only=args.finished_only,
        )
        run_name = run.name
    result.write(args.run)
    print_notes(result.notes)
    k, seconds = len(result.labels), result.attrs["seconds"]
    print(f"paths between {k} points in {seconds:.1f} s (compile included); stored {result.group}", file=sys.stderr)
    for line in result.stationarity_lines():
        print(line)
    print(result.format())
    if not args.no_figures:
        from ..plots.geometry import save_paths_figures

        folder = Path(args.figures) if args.figures else default_figures_folder(args.run)
        written = save_paths_figures(result, run_name, folder)
        print(f"  figures: {', '.join(str(p) for p in written if p.suffix == '.png')}")
    return 0
