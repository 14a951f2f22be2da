"""``landscape run``: train a study and write its run file."""

from __future__ import annotations

import argparse
import json
import sys

from ..config import ConfigError, Study, load_study, parse_override

ORDER = 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="train a batched init study and write its HDF5 run file",
        description="Train every network of a study (default: the seed's 2-3-1 Euclidean-norm study) "
        "and write runs/<name>.h5, then print a summary.",
    )
    p.add_argument("study", nargs="?", help="study TOML file (default: the built-in Euclidean-norm 2-3-1 study)")
    p.add_argument("--inits", type=int, metavar="N", help="number of initialisations (overrides n_inits)")
    p.add_argument("--steps", type=int, metavar="S", help="optimiser steps per network (overrides train.steps)")
    p.add_argument("--seed", type=int, metavar="K", help="study seed (overrides seed)")
    p.add_argument("--chunk-size", type=int, metavar="C", help="networks per compiled chunk (default: automatic)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override any field, e.g. --set optimizer.name=sgd (repeatable)",
    )
    p.add_argument("--out", metavar="PATH", help="run file (default: runs/<study name>.h5)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run file, skipping finished chunks")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--no-classify", action="store_true", help="skip the solution types (landscape classify) and their figures"
    )
    p.add_argument("--no-report", action="store_true", help="skip the HTML study report (landscape report)")
    p.set_defaults(func=main)


def study_from_args(args: argparse.Namespace) -> Study | None:
    """The study named on the command line with its overrides (None: resume reads the file's)."""
    overrides = dict(parse_override(text) for text in args.set)
    for flag, field in (
        ("inits", "n_inits"),
        ("steps", "train.steps"),
        ("seed", "seed"),
        ("chunk_size", "train.chunk_size"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[field] = value
    if args.study is None and getattr(args, "resume", False) and args.out and not overrides:
        return None
    study = load_study(args.study) if args.study else Study()
    if overrides:
        study = study.replace(**overrides)
    return study


def main(args: argparse.Namespace) -> int:
    if args.resume and args.overwrite:
        raise ConfigError("--resume and --overwrite: choose one")
    import time

    study = study_from_args(args)  # before JAX loads: a bad field is reported at once

    from ..runner import format_summary, run_study, summarize
    from ..storage import Run

    started = time.perf_counter()
    out = run_study(
        study,
        args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        quiet=args.quiet,
        log=lambda message: print(message, file=sys.stderr),
    )
    stages = {"training (compile included)": time.perf_counter() - started}
    figures: list = []  # classify's figure files, which the report embeds instead of redrawing
    with Run(out) as run:
        summary = summarize(run)
        if args.json:
            print(json.dumps({"run_file": str(out), **summary}, indent=2))
        else:
            print(format_summary(summary, run.name))
            print(f"  run file: {out}")
        complete = run.complete
        chunk_seconds = run._train("chunk_seconds")
    if complete and not args.no_classify:
        from ..plots import run_figures_folder
        from .classify import classify_and_report

        timings: dict[str, float] = {}
        # PNGs only: SVGs doubled the drawing time; `landscape classify RUN.h5` writes both
        text = classify_and_report(out, run_figures_folder(out), timings=timings, written=figures, formats=("png",))
        stages.update(timings)
        print(text, file=sys.stderr if args.json else sys.stdout)
    if complete and not args.no_report:
        from ..report import build_report

        started = time.perf_counter()
        report = build_report(out, reuse=figures)
        stages["report"] = time.perf_counter() - started
        print(f"  report: {report}", file=sys.stderr if args.json else sys.stdout)
    after = sum(seconds for stage, seconds in stages.items() if not stage.startswith("training"))
    first = (
        f" (first chunk, with the one-time kernel compile: {chunk_seconds[0]:.1f} s)"
        if len(chunk_seconds) > 1 and chunk_seconds[0] == chunk_seconds[0]
        else ""
    )
    print(
        "stage times: "
        + ", ".join(
            f"{stage} {seconds:.1f} s" + (first if stage.startswith("training") else "")
            for stage, seconds in stages.items()
        )
        + (f"; after training {after:.1f} s" if len(stages) > 1 else ""),
        file=sys.stderr,
    )
    return 0
