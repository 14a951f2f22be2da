"""``landscape report``: one self-contained HTML page summarising a run file."""

from __future__ import annotations

import argparse
from pathlib import Path

ORDER = 90


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a run file (config, statuses, types, curvature, slices, ...)",
        description="Write one HTML page (figures embedded, no network access or JavaScript needed) summarising a "
        "run file: the config, training statuses and loss quantiles, the solution-type table with 95% confidence "
        "intervals, representative functions and unit diagrams, loss curves, curvature per type, slices and barriers, "
        "the basin map or sweep results where present, and how long each stage took. Analyses not yet run are listed "
        "with the command that runs them.",
    )
    p.add_argument("run", help="run file (.h5), basins run file or sweep file")
    p.add_argument(
        "--out", metavar="DIR", help="folder for index.html (default: <run stem>-report next to the run file)"
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..report import build_report

    path = build_report(args.run, Path(args.out) if args.out else None)
    print(f"report: {path}")
    return 0
