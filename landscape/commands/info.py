"""``landscape info``: what a run file holds."""

from __future__ import annotations

import argparse

from ..storage import describe_run

ORDER = 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="print what a run file holds", description="Print a run file's study, state (complete or not), statuses, datasets and analyses.")
    p.add_argument("run", help="run file (.h5)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    print(describe_run(args.run))
    return 0
