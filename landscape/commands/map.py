"""``landscape map``: minima, transition states and a disconnectivity graph between chosen minima.

Results go to ``/landscape_map`` in the run file; figures to the run's figure folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import ConfigError
from . import add_finished_only
from .slice import default_figures_folder

ORDER = 42


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "map",
        help="transition states, minimum-energy paths and a disconnectivity graph between minima",
        description="Quench the chosen points to minima, relax a nudged elastic band with a climbing image between "
        "every pair (Henkelman et al. 2000), refine each band's highest point to an index-1 saddle by eigenvector "
        "following and verify it by its Hessian outside the symmetry null space, descend from both sides of every "
        "transition state (new minima join the map), and draw the disconnectivity graph (Becker & Karplus 1997) "
        "and the barrier matrices (straight line, Bezier curve, band, transition state). Points as in `landscape "
        "paths` (default: the type representatives plus the lowest-loss converged network of each type; without "
        "types the four lowest-loss finished networks). Any model and loss the run records: what holds only for "
        "the built-in MLP (alignment, symmetry null space, solution types) is skipped with one line. Stores "
        "/landscape_map in the run file.",
    )
    p.add_argument("run", help="run file (.h5)")
    p.add_argument("points", nargs="*", help="two or more points (index, init:INDEX, type name, cluster:C)")
    p.add_argument(
        "--extra",
        type=int,
        default=1,
        metavar="N",
        help="default points: minima per type beyond its representative (default: 1)",
    )
    p.add_argument("--images", type=int, default=11, metavar="N", help="images per band, ends included (default: 11)")
    p.add_argument("--neb-steps", type=int, default=400, metavar="S", help="FIRE steps per band (default: 400)")
    p.add_argument(
        "--start",
        choices=("line", "bezier"),
        default="line",
        help="start bands on the aligned straight line or the trained Bezier curve (default: line)",
    )
    p.add_argument(
        "--bezier-steps", type=int, default=300, metavar="S", help="Adam steps per Bezier curve (default: 300; 0: none)"
    )
    p.add_argument(
        "--grad-tol", type=float, default=1e-7, metavar="G", help="stationary when |grad| < G, float64 (default: 1e-7)"
    )
    p.add_argument(
        "--linear-loss", action="store_true", help="disconnectivity graph on a linear loss axis (default: log)"
    )
    add_finished_only(p)
    p.add_argument("--figures", metavar="DIR", help="figure folder (default: figures/<study name>)")
    p.add_argument("--no-figures", action="store_true", help="store the results only")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..landscape_map import MapSettings, format_map, map_run
    from ..slices import print_notes
    from ..storage import Run, check_writable

    if args.images < 3:
        raise ConfigError("--images: expected at least 3")
    if args.points and len(args.points) < 2:
        raise ConfigError(f"a map needs at least two points, got {len(args.points)}")
    settings = MapSettings(
        n_images=args.images,
        neb_steps=args.neb_steps,
        climb_after=min(100, args.neb_steps // 4),
        grad_tol=args.grad_tol,
        start=args.start,
    )
    check_writable(args.run)  # before minutes of work whose result could not be stored
    with Run(args.run) as run:
        result = map_run(
            run,
            args.points or None,
            settings,
            bezier_steps=args.bezier_steps,
            extra_per_type=args.extra,
            finished_only=args.finished_only,
        )
        name = run.name
    result.write(args.run)
    print_notes(result.notes)
    print(format_map(result))
    print(
        f"map of {len(result['points/labels'])} points in {result.attrs['seconds']:.1f} s (compile included); "
        f"stored {args.run}:/landscape_map",
        file=sys.stderr,
    )
    if not args.no_figures:
        from ..plots import save_figure
        from ..plots.disconnectivity import barrier_panels, map_disconnectivity

        folder = Path(args.figures) if args.figures else default_figures_folder(args.run)
        written = save_figure(
            map_disconnectivity(result.arrays, name, not args.linear_loss), folder, "map-disconnectivity"
        )
        labels = [str(v) for v in result["points/labels"]]
        written += save_figure(
            barrier_panels(result["barriers"], labels, f"{name}: loss barriers between the mapped points"),
            folder,
            "map-barriers",
        )
        print(f"  figures: {', '.join(str(p) for p in written if p.suffix == '.png')}")
    return 0
