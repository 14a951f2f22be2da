"""``landscape basins``: a basin-of-attraction map over a plane of inits."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from ..config import parse_override

ORDER = 60


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "basins",
        help="map which solution type each init of a 2D plane of inits trains into",
        description="Train a GxG grid of inits on a plane through one network's init (a basins TOML: a study "
        "plus a [basins] table), label each by its final solution type, store the map under /basins of the "
        "study's run file (training the study first if the file does not exist) and draw it.",
    )
    p.add_argument("basins", help="basins TOML (e.g. runs/basins.toml)")
    p.add_argument("--grid", type=int, metavar="G", help="points per side, odd (overrides basins.grid)")
    p.add_argument(
        "--base-index",
        type=int,
        metavar="I",
        help="network whose init is the plane's origin (overrides basins.base_index)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a study field (model.activation=elu) or a basins field (basins.span=[2.0, 2.0]); repeatable",
    )
    p.add_argument("--out", metavar="PATH", help="run file (default: runs/<study name>.h5)")
    p.add_argument("--overwrite", action="store_true", help="retrain the study if the run file holds a different one")
    p.add_argument("--figures", metavar="DIR", help="folder for the figure (default: figures/<run file stem>)")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..basins import basin_map, basins_group, format_statistics, load_basins, validate_basins
    from ..config import _from_dict
    from ..plots import save_figure
    from ..plots.basins import basin_map_figure
    from ..runner import StudyError, default_out_path, prepare, run_study
    from ..storage import Run, check_writable, write_group

    say = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    study, config = load_basins(args.basins)
    study_overrides, basin_overrides = {}, {}
    for text in args.set:
        key, value = parse_override(text)
        if key.startswith("basins."):
            basin_overrides[key.removeprefix("basins.")] = value
        else:
            study_overrides[key] = value
    if args.grid is not None:
        basin_overrides["grid"] = args.grid
    if args.base_index is not None:
        basin_overrides["base_index"] = args.base_index
    if study_overrides:
        study = study.replace(**study_overrides)
    if basin_overrides:
        config = _from_dict(type(config), {**dataclasses.asdict(config), **basin_overrides}, "basins")
    validate_basins(config, study)

    out = Path(args.out) if args.out else default_out_path(study)
    reuse = False
    if out.exists():
        with Run(out) as run:
            reuse = run.complete and run.study.to_json() == study.to_json()
        if not reuse and not args.overwrite:
            raise StudyError(
                f"{out}: holds a different (or unfinished) study; pass --overwrite to retrain it, or choose another --out"
            )
        if reuse:
            check_writable(out)  # before training the map, whose result could not be stored
    if not reuse:
        say(f"training the study '{study.name}' ({study.n_inits} networks) into {out}")
        run_study(study, out, overwrite=True, quiet=args.quiet)
    else:
        say(f"reusing the study in {out}")

    say(
        f"basin map: {config.grid}x{config.grid} = {config.grid**2} inits around network {config.base_index}, directions {config.directions}, span {config.span}"
    )
    prepared = prepare(study)
    result = basin_map(prepared, config, progress=lambda done, total: say(f"  {done}/{total} trained"))
    arrays, attrs = basins_group(result)
    write_group(out, "basins", arrays, attrs)
    print(format_statistics(result))
    centre = config.grid // 2
    with Run(out) as run:
        alone = float(run.final_loss[config.base_index])
    print(
        f"  origin: final loss {result.final_loss[centre, centre]:.6g} on the map, {alone:.6g} for network {config.base_index} trained alone"
    )
    print(f"  classifier: {attrs['classifier']}")
    problem = prepared.problem
    fig = basin_map_figure(
        result.label_code,
        result.label_names,
        result.final_loss,
        result.coords_a,
        result.coords_b,
        config.directions,
        config.units,
        result.statistics["fractions"],
        float(result.statistics["boundary_edge_fraction"]),
        result.success_loss,
        title=f"{study.name}: basins around network {config.base_index}'s init ({problem.model.name}, "
        f"{study.optimizer.name} lr {study.optimizer.learning_rate:g}, {study.train.steps} steps)",
    )
    if args.figures:
        folder = Path(args.figures)
    else:
        from ..plots import run_figures_folder

        folder = run_figures_folder(out)
    paths = save_figure(fig, folder, f"{study.name}-basins")
    print(f"  run file: {out} (group /basins)")
    print(f"  figure: {paths[0]}")
    return 0
