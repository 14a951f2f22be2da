"""The command line: a thin shell over the library.

Each subcommand lives in its own module under :mod:`landscape.commands` and provides
``add_parser(subparsers)`` (which sets ``func``) — adding a module adds a subcommand.

Every failure ends in ONE line on stderr (``landscape <command>: error: ...``):

- exit 2: what the user can act on: a bad study (``ConfigError``, ``StudyError``), a file that is
  not a readable run (``RunFileError`` and its subclasses ``IncompleteRun``, ``ModelUnavailable``),
  a path that cannot be read or written (``OSError`` with its path), a damaged HDF5 file (an error
  raised inside h5py), linear algebra that failed on a degenerate landscape (``LinAlgError``),
  memory exhausted;
- exit 130: interrupted (Ctrl-C);
- exit 1: anything else, as ``internal error: <Type>: <message>`` with a hint to rerun with
  ``--debug`` (or ``LANDSCAPE_DEBUG=1``), which shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import traceback
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
EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1
EXIT_INTERRUPTED = 130
MAX_LINE = 600  # characters of an error message kept on its one line


def user_errors() -> tuple[type[BaseException], ...]:
    return tuple(getattr(sys.modules[module], name) for module, name in USER_ERROR_NAMES if module in sys.modules)


def debug_requested(args: argparse.Namespace | None = None) -> bool:
    """``--debug`` on the command line, or ``LANDSCAPE_DEBUG`` set to anything but ``""``/``0``."""
    return bool(getattr(args, "debug", False)) or os.environ.get("LANDSCAPE_DEBUG", "") not in ("", "0")


def one_line(text: str) -> str:
    """``text`` on one line: its lines joined with '; ', cut at :data:`MAX_LINE` characters."""
    joined = "; ".join(line.strip() for line in str(text).splitlines() if line.strip())
    return joined if len(joined) <= MAX_LINE else joined[: MAX_LINE - 3] + "..."


def _raised_inside(err: BaseException, package: str) -> bool:
    """The innermost frames of ``err``'s traceback are in ``package`` (e.g. h5py reading a damaged file)."""
    frames = traceback.extract_tb(err.__traceback__)
    marker = f"{os.sep}{package}{os.sep}"  # Cython frames are named relative: "h5py/_objects.pyx"
    return any(marker in os.sep + frame.filename.replace("/", os.sep) for frame in frames[-3:])


def _os_error_line(err: OSError) -> str:
    reason = err.strerror or str(err) or type(err).__name__
    names = [str(name) for name in (err.filename, err.filename2) if name is not None]
    return f"{' -> '.join(names)}: {reason}" if names and not any(name in reason for name in names) else reason


def error_line(command: str, err: BaseException) -> tuple[str, int]:
    """The one line printed for ``err`` raised by ``landscape <command>``, and the exit code.

    Foreseen errors (bad input, unreadable or damaged files, degenerate linear algebra, memory)
    give exit 2; anything else is an internal error, exit 1.
    """
    prefix = f"landscape {command}: error:"
    name = type(err).__name__
    if isinstance(err, user_errors()):
        return f"{prefix} {one_line(str(err)) or name}", EXIT_USER_ERROR
    if isinstance(err, MemoryError) or "RESOURCE_EXHAUSTED" in str(err)[:2000]:
        return (
            f"{prefix} out of memory ({one_line(str(err)) or name}); use fewer networks or a smaller chunk size",
            EXIT_USER_ERROR,
        )
    if name == "LinAlgError":
        return (
            f"{prefix} linear algebra failed in `landscape {command}` ({one_line(str(err))}); the networks "
            "analysed may be degenerate (identical, diverged or non-finite)",
            EXIT_USER_ERROR,
        )
    if isinstance(err, (OSError, KeyError, RuntimeError, ValueError)) and _raised_inside(err, "h5py"):
        filename = getattr(err, "filename", None)
        where = f"{filename}: " if filename else ""
        return (
            f"{prefix} {where}damaged or unreadable HDF5 data ({name}: {one_line(str(err))})",
            EXIT_USER_ERROR,
        )
    if isinstance(err, UnicodeDecodeError):
        return f"{prefix} an input file is not UTF-8 text ({one_line(str(err))})", EXIT_USER_ERROR
    if name == "JSONDecodeError":  # only stored metadata and study files are parsed as JSON
        return f"{prefix} damaged JSON in the input ({one_line(str(err))})", EXIT_USER_ERROR
    if isinstance(err, OSError):
        return f"{prefix} {one_line(_os_error_line(err))}", EXIT_USER_ERROR
    message = one_line(str(err))
    return (
        f"landscape {command}: internal error: {name}: {message} (run again with --debug for the traceback)",
        EXIT_INTERNAL_ERROR,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="landscape",
        description="Loss-landscape geometry of small neural networks: train thousands of networks "
        "from different initialisations, sort their minima, and measure the landscape between them.",
        epilog="workflow: landscape run [STUDY.toml]  ->  runs/<name>.h5 (classified, with figures and a report);\n"
        "then landscape hessian | slice | paths RUN.h5 add analyses, landscape report RUN.h5 rebuilds the page;\n"
        "landscape basins BASINS.toml and landscape sweep SWEEP.toml answer 'what helps?'.\n"
        "errors print one line (exit 2: bad input or file; 1: internal); --debug or LANDSCAPE_DEBUG=1 shows tracebacks.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    debug_help = "show the full traceback of an error (also: LANDSCAPE_DEBUG=1)"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(
        pkgutil.iter_modules(commands.__path__),
        key=lambda m: getattr(importlib.import_module(f"{commands.__name__}.{m.name}"), "ORDER", 100),
    ):
        importlib.import_module(f"{commands.__name__}.{info.name}").add_parser(sub)
    for command_parser in sub.choices.values():  # `landscape report RUN --debug` works too
        if "--debug" not in command_parser._option_string_actions:  # noqa: SLF001 - argparse has no public query
            command_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    return parser


def subcommands(parser: argparse.ArgumentParser | None = None) -> dict[str, argparse.ArgumentParser]:
    """``{name: parser}`` of every subcommand (tests drive each one; a new command is covered at once)."""
    parser = parser or build_parser()
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return dict(action.choices)
    return {}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = debug_requested(args)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"landscape {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - every failure is one line unless --debug
        if debug:
            raise
        line, code = error_line(args.command, err)
        sys.stdout.flush()
        print(line, file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
