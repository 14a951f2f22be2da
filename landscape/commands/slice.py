"""``landscape slice``: the loss over a plane through three networks, or a random plane around one.

Points are named on the command line as

* ``17``           network 17's final parameters (a minimum);
* ``init:17``      network 17's initial parameters;
* ``pyramid``      the representative of a solution type (needs ``landscape classify``);
* ``cluster:3``    the medoid of cluster 3 (``types/clusters`` from ``landscape classify``).

The result goes to ``slices/<name>`` in the run file and the figures to ``--figures``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import ConfigError

if TYPE_CHECKING:  # heavy modules load inside the functions: `landscape --help` stays fast
    from ..storage import Run

ORDER = 40


def default_figures_folder(run_path: str | Path) -> Path:
    """``figures/<run file stem>``, where every command puts a run's figures by default."""
    from ..plots import run_figures_folder

    return run_figures_folder(run_path)


def type_default_points(run: Run, wanted: tuple[str, ...] = ("pyramid", "valley", "dead")) -> list[str]:
    """Type names of the run to slice through when none are named (all of ``wanted`` present)."""
    from ..points import type_representatives_of

    representatives = type_representatives_of(run)
    chosen = [name for name in wanted if name in representatives]
    if len(chosen) < 3:
        others = [name for name in representatives if name not in chosen and name not in ("unconverged", "diverged")]
        chosen += others[: 3 - len(chosen)]
    return chosen


# ---------------------------------------------------------------------------------------------
# The command.


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "slice",
        help="loss over a plane through three networks, or a random plane around one",
        description="Evaluate the loss on a grid over a 2D slice of parameter space: the plane through three "
        "points (orthonormal axes, points at their true coordinates) or a random filter-normalised plane "
        "around one point (Li et al. 2018). Points: a network index (its minimum), init:INDEX, a solution type "
        "name (its representative) or cluster:C. Stores slices/<name> in the run file and writes figures.",
    )
    p.add_argument("run", help="run file (.h5)")
    p.add_argument("points", nargs="*", help="three points for a plane (default: pyramid valley dead representatives)")
    p.add_argument("--random", metavar="POINT", help="a random filter-normalised plane around this point instead")
    p.add_argument("--resolution", type=int, default=101, metavar="N", help="grid points per axis (default: 101)")
    p.add_argument(
        "--margin",
        type=float,
        default=0.3,
        metavar="M",
        help="three-point planes: margin around the points, as a fraction of their spread (default: 0.3)",
    )
    p.add_argument(
        "--span",
        type=float,
        default=1.0,
        metavar="S",
        help="random planes: grid over [-span, span]^2 in direction units (default: 1)",
    )
    p.add_argument(
        "--bias-mode",
        choices=("with_unit", "zero", "same"),
        default="with_unit",
        help="random planes: how bias directions are normalised (default: with the unit's weights)",
    )
    p.add_argument(
        "--seed", type=int, default=0, metavar="K", help="random planes: PRNG seed of the directions (default: 0)"
    )
    p.add_argument(
        "--no-align", action="store_true", help="three-point planes: do not align points 2 and 3 onto point 1 first"
    )
    p.add_argument("--name", metavar="NAME", help="slice name under slices/ (default: built from the points)")
    p.add_argument("--surface", action="store_true", help="also draw a 3D surface")
    p.add_argument("--figures", metavar="DIR", help="figure folder (default: figures/<run file stem>)")
    p.add_argument("--no-figures", action="store_true", help="store the slice only")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    """Runs the command inside the study's scoped x64 (float64 runs are evaluated in float64)."""
    from ..runner import x64_scope
    from ..storage import Run

    with Run(args.run) as run:
        study = run.study
    with x64_scope(study):
        return _main(args)


def _main(args: argparse.Namespace) -> int:
    import jax
    import numpy as np

    from .. import slices
    from ..alignment import align, cast_like
    from ..points import resolve_point, run_context, type_names_of
    from ..storage import Run, check_writable, flatten_params, write_group

    if args.resolution < 2:
        raise ConfigError("--resolution: expected at least 2")
    check_writable(args.run)  # before work whose result could not be stored
    with Run(args.run) as run:
        context = run_context(run)
        type_names = type_names_of(run)
        if args.random is not None:
            if args.points:
                raise ConfigError("give either three points or --random POINT, not both")
            points = [resolve_point(run, args.random, type_names)]
        else:
            specs = args.points or type_default_points(run)
            if len(specs) != 3:
                raise ConfigError(f"a plane needs three points, got {len(specs)} ({' '.join(specs)})")
            points = [resolve_point(run, spec, type_names) for spec in specs]

    started = time.perf_counter()
    params = [slices.as_jax(point.params, context.dtype) for point in points]
    attrs: dict[str, Any] = {"resolution": args.resolution, "point_specs": [p.spec for p in points]}
    if args.random is not None:
        plane = slices.random_plane(jax.random.PRNGKey(args.seed), params[0], bias_mode=args.bias_mode)
        alphas = betas = np.linspace(-args.span, args.span, args.resolution)
        name = args.name or f"random-{points[0].spec.replace(':', '')}-seed{args.seed}"
        axis_labels = ("alpha (filter-normalised direction 1)", "beta (filter-normalised direction 2)")
        attrs.update(
            kind="random",
            bias_mode=args.bias_mode,
            filter_normalised=True,
            seed=args.seed,
            span=args.span,
            axes_cosine=slices.axes_cosine(plane),
            aligned=False,
        )
    else:
        aligned = not args.no_align
        if aligned:
            reference = points[0].params
            params = [params[0]] + [
                slices.as_jax(cast_like(align(reference, p.params, context.activation)[0], reference), context.dtype)
                for p in points[1:]
            ]
        try:
            plane = slices.plane_through_points(*params)
        except ValueError as err:
            raise ConfigError(f"points {' '.join(p.spec for p in points)}: {err}") from None
        alphas, betas = slices.grid_around(plane.point_coords, args.resolution, args.margin)
        name = args.name or "plane-" + "-".join(p.spec.replace(":", "") for p in points)
        axis_labels = ("u: towards point 2 (parameter distance)", "v: in-plane, orthogonal to u")
        attrs.update(kind="three_points", aligned=aligned, margin=args.margin)

    loss = np.asarray(
        slices.plane_grid(
            context.objective, context.x, context.y, plane.origin, plane.axis_u, plane.axis_v, alphas, betas
        )
    )
    coords = np.asarray(plane.point_coords)
    on_plane = np.asarray(
        slices.plane_losses(
            context.objective,
            context.x,
            context.y,
            plane.origin,
            plane.axis_u,
            plane.axis_v,
            jax.numpy.asarray(coords, context.dtype),
        )
    )
    own = np.array([float(context.objective(p, context.x, context.y)) for p in params])
    seconds = time.perf_counter() - started
    attrs["seconds"] = seconds

    labels = [p.label for p in points]
    arrays = {
        "alpha": alphas,
        "beta": betas,
        "loss": loss,
        "point_coords": coords,
        "point_loss": own,
        "point_loss_on_plane": on_plane,
        "point_labels": np.array(labels),
        "point_index": np.array([p.index for p in points]),
        "point_stage": np.array([p.stage for p in points]),
        "origin": flatten_params(plane.origin),
        "axis_u": flatten_params(plane.axis_u),
        "axis_v": flatten_params(plane.axis_v),
    }
    write_group(args.run, f"slices/{name}", arrays, attrs)
    print(
        f"slice '{name}': {args.resolution}x{args.resolution} grid in {seconds:.2f} s (compile included); "
        f"loss range {np.nanmin(loss):.3g} .. {np.nanmax(loss):.3g}; stored slices/{name}",
        file=sys.stderr,
    )
    for label, c, value in zip(labels, coords, own):
        print(f"  {label}: coordinates ({c[0]:.3f}, {c[1]:.3f}), loss {value:.4g}")

    if not args.no_figures:
        from ..plots import save_figure
        from ..plots.geometry import plot_slice_contour, plot_slice_surface

        folder = Path(args.figures) if args.figures else default_figures_folder(args.run)
        marked = [f"{label} ({value:.2g})" for label, value in zip(labels, own)]
        if args.random is not None:
            title = f"{run_name(args.run)}: random filter-normalised plane around {labels[0]} (axes cosine {attrs['axes_cosine']:.2f})"
        else:
            title = f"{run_name(args.run)}: plane through {', '.join(labels)}{' (aligned onto the first)' if attrs['aligned'] else ''}"
        written = save_figure(
            plot_slice_contour(alphas, betas, loss, coords, marked, title, axis_labels), folder, f"slice-{name}"
        )
        if args.surface:
            written += save_figure(
                plot_slice_surface(alphas, betas, loss, coords, labels, own, title, axis_labels),
                folder,
                f"slice-{name}-surface",
            )
        print(f"  figures: {', '.join(str(p) for p in written if p.suffix == '.png')}")
    return 0


def run_name(path: str | Path) -> str:
    from ..storage import Run

    with Run(path) as run:
        return run.name
