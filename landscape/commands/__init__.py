"""One module per ``landscape`` subcommand; each defines ``add_parser(subparsers)``.

A module's ``ORDER`` sets its place in ``landscape --help``.
"""

from __future__ import annotations

import argparse


def add_finished_only(p: argparse.ArgumentParser) -> None:
    """The ``--finished-only`` flag every analysis of a run file takes (see ``storage.finished_networks``)."""
    p.add_argument(
        "--finished-only",
        action="store_true",
        help="an incomplete run: analyse only its finished networks (refused without this flag)",
    )
