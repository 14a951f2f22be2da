"""``landscape run``: train a study and write its run file."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

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


# the command that recomputes each analysis group (a group's first path part)
RECOMPUTE = {
    "types": "landscape classify {run}",
    "hessian": "landscape hessian {run}",
    "map": "landscape map {run}",
    "slices": "landscape slice {run} (the same plane)",
    "paths": "landscape paths {run} (the same pair)",
    "basins": "landscape basins BASINS.toml --out {run}",
}


def recompute_command(group: str, run: str) -> str:
    """The command that recomputes analysis group ``group`` (e.g. ``slices/plane-0-1-2``) of run file ``run``."""
    head = group.split("/")[0]
    return RECOMPUTE.get(head, f"landscape {head} {{run}}").format(run=run)


def stale_line(stale: list[str], run: str) -> str | None:
    """One line listing stale analysis groups with the command that recomputes each (None: none stale)."""
    if not stale:
        return None
    items = "; ".join(f"/{group} ({recompute_command(group, run)})" for group in stale)
    return f"stale analyses (computed before the training results changed): {items}"


def _guarded(stage: str, out: object, retry: str, args: argparse.Namespace, work: Any) -> Any:
    """``work()``, or None and one printed line when it fails: the trained run file is never lost to a
    failing analysis or figure (``--debug`` shows the traceback)."""
    from ..cli import debug_requested, one_line

    try:
        return work()
    except Exception as err:  # noqa: BLE001 - the run file is written; say what failed in one line
        if debug_requested(args):
            raise
        print(
            f"  {stage}: not completed ({type(err).__name__}: {one_line(str(err))}); the run file {out} is intact; "
            f"retry with: {retry}",
            file=sys.stderr,
        )
        return None


def main(args: argparse.Namespace) -> int:
    if args.resume and args.overwrite:
        raise ConfigError("--resume and --overwrite: choose one")
    import time

    study = study_from_args(args)  # before JAX loads: a bad field is reported at once

    from ..runner import default_out_path, format_summary, run_study, summarize
    from ..storage import Run

    started = time.perf_counter()
    try:
        out = run_study(
            study,
            args.out,
            resume=args.resume,
            overwrite=args.overwrite,
            quiet=args.quiet,
            log=lambda message: print(message, file=sys.stderr),
        )
    except KeyboardInterrupt:
        _summarize_interrupted(args.out or (default_out_path(study) if study is not None else None))
        raise
    stages = {"training (compile included)": time.perf_counter() - started}
    figures: list = []  # classify's figure files, which the report embeds instead of redrawing
    text_out = sys.stderr if args.json else sys.stdout
    with Run(out) as run:
        summary = summarize(run)
        if args.json:
            print(json.dumps({"run_file": str(out), **summary}, indent=2))
        else:
            print(format_summary(summary, run.name))
            print(f"  run file: {out}")
        complete = run.complete
        chunk_seconds = run._train("chunk_seconds")
        stale = run.stale_analyses()
    classified = False
    if complete and not args.no_classify:
        from ..plots import run_figures_folder
        from .classify import classify_and_report

        timings: dict[str, float] = {}
        # PNGs only: SVGs doubled the drawing time; `landscape classify RUN.h5` writes both
        text = _guarded(
            "solution types",
            out,
            f"landscape classify {out}",
            args,
            lambda: classify_and_report(
                out, run_figures_folder(out), timings=timings, written=figures, formats=("png",)
            ),
        )
        stages.update(timings)
        if text is not None:
            print(text, file=text_out)
        with Run(out) as run:
            classified = run.has("types") and run.analysis_state("types") == "current"
        if "types" in stale and classified:
            print("recomputed /types: the training results changed since it was computed", file=text_out)
    line = stale_line([group for group in stale if not (group == "types" and classified)], str(out))
    if line:
        print(line, file=text_out)
    if complete and not args.no_report:
        from ..report import build_report

        started = time.perf_counter()
        report = _guarded("report", out, f"landscape report {out}", args, lambda: build_report(out, reuse=figures))
        stages["report"] = time.perf_counter() - started
        if report is not None:
            print(f"  report: {report}", file=text_out)
    print(format_stage_times(stages, chunk_seconds), file=sys.stderr)
    return 0


def _summarize_interrupted(path: object) -> None:
    """Print the summary of an interrupted run's finished chunks (networks not run counted apart)."""
    from pathlib import Path

    from ..runner import format_summary, summarize
    from ..storage import Run, RunFileError

    if path is None or not Path(str(path)).exists():
        return
    try:
        with Run(path) as run:
            if run.complete or not (run.status >= 0).any():
                return
            print(format_summary(summarize(run), run.name))
    except RunFileError:
        return


def format_stage_times(stages: dict[str, float], chunk_seconds: Any) -> str:
    """One line of stage times; the first chunk's time (compile included) when there were several."""
    import numpy as np

    chunk_seconds = np.asarray(chunk_seconds, float)
    after = sum(seconds for stage, seconds in stages.items() if not stage.startswith("training"))
    first = (
        f" (first chunk, with the one-time kernel compile: {chunk_seconds[0]:.1f} s)"
        if chunk_seconds.size > 1 and np.isfinite(chunk_seconds[0])
        else ""
    )
    return (
        "stage times: "
        + ", ".join(
            f"{stage} {seconds:.1f} s" + (first if stage.startswith("training") else "")
            for stage, seconds in stages.items()
        )
        + (f"; after training {after:.1f} s" if len(stages) > 1 else "")
    )
