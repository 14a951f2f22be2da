"""``landscape sweep``: run every cell of a remedy sweep and tabulate success."""

from __future__ import annotations

import argparse
import sys

from ..config import parse_override

ORDER = 61


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a sweep of studies (factors varied over lists) and tabulate success with 95%% CIs",
        description="Run every cell of a sweep TOML (a study plus a [sweep] table of factors) as a batched "
        "study, store all cells in one file (runs/<name>.h5: /sweep/cells/<i>, /sweep/summary), print the "
        "success table and draw success fraction against each factor.",
    )
    p.add_argument("sweep", help="sweep TOML (e.g. runs/remedies.toml)")
    p.add_argument("--inits", type=int, metavar="N", help="networks per cell (overrides n_inits)")
    p.add_argument("--steps", type=int, metavar="S", help="optimiser steps (overrides train.steps)")
    p.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="override a base-study field; repeatable"
    )
    p.add_argument("--out", metavar="PATH", help="sweep file (default: runs/<name>.h5)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing sweep file")
    p.add_argument(
        "--resume",
        action="store_true",
        help="finish an interrupted sweep file: keep its finished cells, run the others",
    )
    p.add_argument("--figures", metavar="DIR", help="folder for figures (default: figures/<sweep file stem>)")
    p.add_argument("--markdown", metavar="PATH", help="also write the success table as Markdown to PATH")
    p.add_argument("--quiet", action="store_true", help="no per-cell messages")
    p.add_argument(
        "--replot",
        action="store_true",
        help="train nothing: print the table and redraw the figures from the existing sweep file",
    )
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..basins import solution_types
    from ..plots import save_figure
    from ..plots.sweeps import success_by_factor_figure, type_breakdown_figure
    from ..runner import _device_metadata
    from ..sweeps import format_table, load_sweep, read_summary, run_sweep, sweep_from_dict, wilson_interval

    sweep = load_sweep(args.sweep)
    overrides = dict(parse_override(text) for text in args.set)
    if args.inits is not None:
        overrides["n_inits"] = args.inits
    if args.steps is not None:
        overrides["train.steps"] = args.steps
    if overrides:
        base = sweep.base.replace(**overrides)
        sweep = sweep_from_dict(
            {
                **_study_dict(base),
                "sweep": {"mode": sweep.config.mode, "success_loss": sweep.config.success_loss, **sweep.config.factors},
            }
        )
    say = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    out = Path(args.out) if args.out else Path("runs") / f"{sweep.name}.h5"
    success_loss = sweep.config.success_loss
    classify = lambda prepared, result: solution_types(prepared, result, success_loss)  # noqa: E731
    if args.replot:
        path, table = out, read_summary(out)
        machine = {"backend": table.get("backend", "?"), "devices": table.get("devices", "?")}
    else:
        path, table = run_sweep(sweep, out, overwrite=args.overwrite, resume=args.resume, classify=classify, log=say)
        machine = _device_metadata()
    text = format_table(table)
    header = (
        f"Sweep '{sweep.name}' ({table['mode']}, {len(table['cell'])} cells, {sweep.base.n_inits} inits each, {sweep.base.train.steps} steps). "
        f"Success: {table.get('success_definition') or f'final loss < {success_loss:g}'}; 95% Wilson intervals. "
        f"Wall time {float(table['total_seconds']):.0f} s on {machine['backend']} ({machine['devices']}); per-cell times include compilation."
    )
    print(header)
    print(text)
    for note in table.get("notes") or []:
        print(f"note: {note}")
    if args.markdown:
        Path(args.markdown).write_text(header + "\n\n" + text + "\n")
    if args.figures:
        folder = Path(args.figures)
    else:
        from ..plots import run_figures_folder

        folder = run_figures_folder(out)
    paths = save_figure(
        success_by_factor_figure(
            table,
            lambda k, n: tuple(float(v) for v in wilson_interval(k, n)),
            title=f"{sweep.name}: {sweep.base.n_inits} inits per cell",
        ),
        folder,
        f"{sweep.name}-success",
    )
    breakdown = type_breakdown_figure(
        table,
        title=f"{sweep.name}: shape of the learned function after {sweep.base.train.steps} steps, ReLU-family cells",
    )
    if breakdown is not None:
        paths += save_figure(breakdown, folder, f"{sweep.name}-types")
    print(f"sweep file: {path} (groups /sweep/cells/<i>, /sweep/summary)")
    print("figures: " + ", ".join(str(p) for p in paths if p.suffix == ".png"))
    return 0


def _study_dict(study):
    from ..config import study_to_dict

    return study_to_dict(study)
