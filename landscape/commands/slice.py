"""``landscape slice``: the loss over a plane through three networks, or a random plane around one.

Points are named as in :mod:`landscape.points` (``17``, ``init:17``, a type name, ``cluster:3``).
The work is :func:`landscape.slices.slice_run`; the result goes to ``slices/<name>`` in the run
file and the figures to ``--figures``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import add_finished_only

ORDER = 40


def default_figures_folder(run_path: str | Path) -> Path:
    """``figures/<run file stem>``, where every command puts a run's figures by default."""
    from ..plots import run_figures_folder

    return run_figures_folder(run_path)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "slice",
        help="loss over a plane through three networks, or a random plane around one",
        description="Evaluate the loss on a grid over a 2D slice of parameter space: the plane through three "
        "points (orthonormal axes, points at their true coordinates) or a random filter-normalised plane "
        "around one point (Li et al. 2018). Points: a network index (its minimum), init:INDEX, a solution type "
        "name (its representative) or cluster:C. Works for any model and loss the run records. Stores "
        "slices/<name> in the run file and writes figures.",
    )
    p.add_argument("run", help="run file (.h5)")
    p.add_argument("points", nargs="*", help="three points for a plane (default: the first three type representatives)")
    p.add_argument("--random", metavar="POINT", help="a random filter-normalised plane around this point instead")
    p.add_argument("--resolution", type=int, default=101, metavar="N", help="grid points per axis (default: 101)")
    p.add_argument(
        "--margin",
        type=float,
        default=0.3,
        metavar="M",
        help="three-point planes: margin around the points, as a fraction of their spread (default: 0.3)",
    )
    p.add_argument(
        "--span", type=float, default=1.0, metavar="S", help="random planes: grid over [-span, span]^2 (default: 1)"
    )
    p.add_argument(
        "--bias-mode",
        choices=("with_unit", "zero", "same"),
        default="with_unit",
        help="random planes: how bias directions are normalised (default: with the unit's weights)",
    )
    p.add_argument(
        "--seed", type=int, default=0, metavar="K", help="random planes: PRNG seed of the directions (default: 0)"
    )
    p.add_argument(
        "--no-align", action="store_true", help="three-point planes: do not align points 2 and 3 onto point 1 first"
    )
    p.add_argument("--name", metavar="NAME", help="slice name under slices/ (default: built from the points)")
    p.add_argument("--surface", action="store_true", help="also draw a 3D surface")
    add_finished_only(p)
    p.add_argument("--figures", metavar="DIR", help="figure folder (default: figures/<run file stem>)")
    p.add_argument("--no-figures", action="store_true", help="store the slice only")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import numpy as np

    from ..config import ConfigError
    from ..slices import print_notes, slice_run
    from ..storage import Run, check_writable

    if args.random is not None and args.points:
        raise ConfigError("give either three points or --random POINT, not both")
    check_writable(args.run)  # before work whose result could not be stored
    with Run(args.run) as run:
        result = slice_run(
            run,
            [args.random] if args.random is not None else args.points,
            random=args.random is not None,
            resolution=args.resolution,
            margin=args.margin,
            span=args.span,
            bias_mode=args.bias_mode,
            seed=args.seed,
            align=not args.no_align,
            name=args.name,
            finished_only=args.finished_only,
        )
        run_name = run.name
    result.write(args.run)
    print_notes(result.notes)
    print(
        f"slice '{result.name}': {args.resolution}x{args.resolution} grid in {result.attrs['seconds']:.2f} s "
        f"(compile included); loss range {np.nanmin(result.loss):.3g} .. {np.nanmax(result.loss):.3g}; "
        f"stored {result.group}",
        file=sys.stderr,
    )
    for label, c, value in zip(result.point_labels, result.point_coords, result.point_loss):
        print(f"  {label}: coordinates ({c[0]:.3f}, {c[1]:.3f}), loss {value:.4g}")
    if not args.no_figures:
        from ..plots.geometry import save_slice_figures

        folder = Path(args.figures) if args.figures else default_figures_folder(args.run)
        written = save_slice_figures(result, run_name, folder, surface=args.surface)
        print(f"  figures: {', '.join(str(p) for p in written if p.suffix == '.png')}")
    return 0
