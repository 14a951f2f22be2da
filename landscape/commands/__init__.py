"""One module per ``landscape`` subcommand; each defines ``add_parser(subparsers)``.

A module's ``ORDER`` sets its place in ``landscape --help``.
"""
