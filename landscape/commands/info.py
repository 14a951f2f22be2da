"""``landscape info``: what a run file holds."""

from __future__ import annotations

import argparse

ORDER = 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="print what a run file holds (or drop a stored analysis)",
        description="Print a run file's study, state (complete or not), statuses, datasets and analyses. With --drop, remove a stored analysis group instead (atomically: the file is republished without it).",
    )
    p.add_argument("run", help="run file (.h5)")
    p.add_argument(
        "--drop",
        action="append",
        default=[],
        metavar="GROUP",
        help="remove the analysis group GROUP (e.g. types, hessian, slices/NAME); repeatable",
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from ..storage import RunFileError, describe_run

    if args.drop:
        from ..storage import check_writable, drop_group

        check_writable(args.run)
        for name in args.drop:
            try:
                drop_group(args.run, name.strip("/"))
            except ValueError:
                raise RunFileError(
                    f"{args.run}: '{name}' is the study itself (training data), not an analysis; it cannot be dropped"
                ) from None
            print(f"dropped /{name.strip('/')} from {args.run}")
        return 0
    print(describe_run(args.run))
    for line in stale_lines(args.run):
        print(line)
    return 0


def stale_lines(path: str) -> list[str]:
    """One line per analysis group computed before the training data changed, with its recompute command."""
    from ..report import ANALYSIS_COMMANDS
    from ..storage import Run

    with Run(path) as run:
        stale = run.stale_analyses()
    lines = []
    for name in stale:
        command = ANALYSIS_COMMANDS.get(name.split("/", 1)[0])
        target = "BASINS.toml" if command == "basins" else path
        how = f"; recompute with: landscape {command} {target}" if command else ""
        lines.append(f"  stale: /{name} was computed before the training data changed{how}")
    return lines
