"""``landscape hessian``: Hessian spectra of every final network, per-type curvature summary.

Thin: parse the flags, call :func:`landscape.curvature.analyse_run`, store, print, draw.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from . import add_finished_only

ORDER = 20


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hessian",
        help="Hessian spectra at every final network: minima vs saddles, flat directions, per-type table",
        description="Compute the Hessian of the training loss at every final network of a run (any model and "
        "loss the run file names), store eigenvalues and derived quantities in the run file's 'hessian' group, "
        "print curvature by solution type (from the 'types' group if present, else one group 'all') and save figures.",
    )
    p.add_argument("run", help="run file (.h5)")
    p.add_argument(
        "--method",
        choices=("dense", "lanczos"),
        default="dense",
        help="exact dense Hessians (default) or matrix-free Lanczos",
    )
    p.add_argument(
        "--top-k",
        type=int,
        default=5,
        metavar="K",
        help="lanczos: eigenvalues kept at each end of the spectrum (default: 5)",
    )
    p.add_argument(
        "--zero-rtol",
        type=float,
        default=None,
        metavar="R",
        help="|lambda| <= R * max|lambda| + atol counts as zero (default: 1e-4)",
    )
    p.add_argument(
        "--zero-atol", type=float, default=None, metavar="A", help="absolute part of the zero tolerance (default: 1e-7)"
    )
    p.add_argument(
        "--chunk-size", type=int, default=1024, metavar="C", help="networks per compiled batch (default: 1024)"
    )
    p.add_argument(
        "--seed", type=int, default=0, metavar="K", help="key for Lanczos start vectors and SLQ probes (default: 0)"
    )
    p.add_argument(
        "--refine",
        type=int,
        default=0,
        metavar="N",
        help="dense: first move each network onto the critical point it is near with N float64 Newton steps "
        "(Levenberg-Marquardt), then take the Hessians there and count float64 zeros (default: 0, off)",
    )
    add_finished_only(p)
    p.add_argument("--figures", metavar="DIR", help="folder for figures (default: figures/<run file stem>/hessian)")
    p.add_argument("--no-figures", action="store_true", help="do not draw figures")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from .. import curvature
    from ..storage import Run, check_writable

    check_writable(args.run)  # before minutes of work whose result could not be stored
    with Run(args.run) as run:
        result = curvature.analyse_run(
            run,
            method=args.method,
            finished_only=args.finished_only,
            top_k=args.top_k,
            zero_rtol=curvature.ZERO_RTOL if args.zero_rtol is None else args.zero_rtol,
            zero_atol=curvature.ZERO_ATOL if args.zero_atol is None else args.zero_atol,
            chunk_size=args.chunk_size,
            seed=args.seed,
            refine_steps=args.refine,
        )
    result.write(args.run)
    print(curvature.format_curvature_table(result))
    for note in result.notes:
        print(f"  note: {note}")
    print(f"  stored in {args.run}:/hessian")

    if not args.no_figures:
        from ..plots import save_figure
        from ..plots.curvature import curvature_figures
        from .slice import default_figures_folder

        folder = Path(args.figures) if args.figures else default_figures_folder(args.run) / "hessian"
        figures = curvature_figures(result)
        written = [path for name, figure in figures.items() for path in save_figure(figure, folder, name)]
        if figures:
            print(f"  figures: {', '.join(str(p) for p in written if p.suffix == '.png')}")
        else:
            print("  figures: none (no network could be analysed)")
    return 0
