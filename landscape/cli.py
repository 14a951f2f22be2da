"""The command line: a thin shell over the library.

Each subcommand lives in its own module under :mod:`landscape.commands` and provides
``add_parser(subparsers)`` (which sets ``func``) — adding a module adds a subcommand.
Errors the user can fix print one line; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from . import commands

# Errors the user can fix: one line, exit 2. The landscape ones are looked up only in modules
# already imported (an error cannot come from a module that was never loaded), so that
# `landscape --help` and argument errors never import JAX, h5py or NumPy.
USER_ERROR_NAMES = (
    ("landscape.config", "ConfigError"),
    ("landscape.runner", "StudyError"),
    ("landscape.storage", "RunFileError"),
)
OS_USER_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError)


def user_errors() -> tuple[type[BaseException], ...]:
    found = [getattr(sys.modules[module], name) for module, name in USER_ERROR_NAMES if module in sys.modules]
    return (*found, *OS_USER_ERRORS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="landscape",
        description="Loss-landscape geometry of small neural networks: train thousands of networks "
        "from different initialisations, sort their minima, and measure the landscape between them.",
        epilog="workflow: landscape run [STUDY.toml]  ->  runs/<name>.h5 (classified, with figures and a report);\n"
        "then landscape hessian | slice | paths RUN.h5 add analyses, landscape report RUN.h5 rebuilds the page;\n"
        "landscape basins BASINS.toml and landscape sweep SWEEP.toml answer 'what helps?'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(
        pkgutil.iter_modules(commands.__path__),
        key=lambda m: getattr(importlib.import_module(f"{commands.__name__}.{m.name}"), "ORDER", 100),
    ):
        importlib.import_module(f"{commands.__name__}.{info.name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Exception as err:
        if args.debug or not isinstance(err, user_errors()):
            raise
        print(f"landscape {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"landscape {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
