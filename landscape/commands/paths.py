"""``landscape paths``: barriers between representatives (straight lines, aligned) and trained Bezier curves.

Results go to ``paths/<name>`` in the run file (default: ``paths/representatives``).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import ConfigError

if TYPE_CHECKING:  # heavy modules load inside the functions: `landscape --help` stays fast
    from ..storage import Run
from .slice import default_figures_folder

ORDER = 41


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "paths",
        help="barrier matrix and trained low-loss curves between representative minima",
        description="For every pair of the chosen minima: the loss along the straight line before and after "
        "aligning the second onto the first (hidden-unit permutation and rescaling), the barrier of each, and a "
        "quadratic Bezier curve trained to lower the loss along the path (Garipov et al. 2018). Points as in "
        "`landscape slice` (default: one representative per solution type, or without types the networks at "
        "the 0, 25, 50 and 75 % final-loss quantiles). Stores paths/<name> in the run file and writes figures.",
    )
    p.add_argument("run", help="run file (.h5)")
    p.add_argument("points", nargs="*", help="two or more points (index, init:INDEX, type name, cluster:C)")
    p.add_argument(
        "--bezier-steps", type=int, default=1000, metavar="S", help="Adam steps per curve (default: 1000; 0: no curves)"
    )
    p.add_argument("--samples", type=int, default=16, metavar="T", help="t samples per Bezier step (default: 16)")
    p.add_argument(
        "--learning-rate",
        type=float,
        default=0.01,
        metavar="LR",
        help="Adam learning rate for the control point (default: 0.01)",
    )
    p.add_argument(
        "--path-points",
        type=int,
        default=101,
        metavar="N",
        help="t values on which profiles and barriers are measured (default: 101)",
    )
    p.add_argument("--seed", type=int, default=0, metavar="K", help="PRNG seed of the Bezier t samples (default: 0)")
    p.add_argument(
        "--name", default="representatives", metavar="NAME", help="stored under paths/<name> (default: representatives)"
    )
    p.add_argument("--figures", metavar="DIR", help="figure folder (default: figures/<run file stem>)")
    p.add_argument("--no-figures", action="store_true", help="store the results only")
    p.set_defaults(func=main)


def _default_specs(run: Run) -> list[str]:
    import numpy as np

    from ..points import type_representatives_of

    if run.has("types"):
        return [name for name in type_representatives_of(run) if name not in ("unconverged", "diverged")]
    loss = np.where((run.status >= 0) & np.isfinite(run.final_loss), run.final_loss, np.inf)
    order = np.argsort(loss)
    finished = order[np.isfinite(loss[order])]
    picks = [int(finished[int(q * (finished.size - 1))]) for q in (0.0, 0.25, 0.5, 0.75)]
    print(f"no types group: using the networks at the 0/25/50/75 % final-loss quantiles: {picks}", file=sys.stderr)
    return [str(i) for i in dict.fromkeys(picks)]


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

    from ..alignment import cast_like
    from ..paths import barrier_matrix, path_t, train_bezier_batch
    from ..points import resolve_point, run_context, type_names_of
    from ..slices import as_jax, barrier
    from ..storage import Run, check_writable, flatten_params, write_group

    if args.path_points < 3:
        raise ConfigError("--path-points: expected at least 3")
    if args.bezier_steps < 0:
        raise ConfigError("--bezier-steps: expected 0 or more")
    check_writable(args.run)  # before minutes of work whose result could not be stored
    with Run(args.run) as run:
        context = run_context(run)
        type_names = type_names_of(run)
        specs = args.points or _default_specs(run)
        if len(specs) < 2:
            raise ConfigError(f"paths need at least two points, got {len(specs)}")
        points = [resolve_point(run, spec, type_names) for spec in specs]
        name = run.name

    started = time.perf_counter()
    t = path_t(args.path_points)
    networks = [point.params for point in points]
    matrix = barrier_matrix(context.objective, context.x, context.y, networks, context.activation, t)
    labels = [p.label for p in points]
    own = np.array([float(context.objective(as_jax(n, context.dtype), context.x, context.y)) for n in networks])
    k = len(points)
    arrays: dict[str, Any] = {
        "labels": np.array(labels),
        "specs": np.array([p.spec for p in points]),
        "index": np.array([p.index for p in points]),
        "stage": np.array([p.stage for p in points]),
        "endpoint_loss": own,
        "t": t,
        **{key: value for key, value in matrix.items() if key != "aligned_ends"},
    }
    pairs = list(itertools.combinations(range(k), 2))
    bezier = None
    if args.bezier_steps > 0:
        stack = lambda trees: jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *trees)  # noqa: E731
        starts = stack([as_jax(networks[i], context.dtype) for i, _ in pairs])
        ends = stack([as_jax(cast_like(matrix["aligned_ends"][(i, j)], networks[i]), context.dtype) for i, j in pairs])
        keys = jax.random.split(jax.random.PRNGKey(args.seed), len(pairs))
        bezier = train_bezier_batch(
            context.objective,
            context.x,
            context.y,
            starts,
            ends,
            keys,
            steps=args.bezier_steps,
            samples=args.samples,
            learning_rate=args.learning_rate,
            n_eval=args.path_points,
        )
        profiles, linear = np.asarray(bezier.profile), np.asarray(bezier.linear_profile)
        bezier_barriers = np.array([barrier(p) for p in profiles])
        bezier_matrix = np.zeros((k, k))
        for (i, j), value in zip(pairs, bezier_barriers):
            bezier_matrix[i, j] = bezier_matrix[j, i] = value
        arrays["bezier"] = {
            "pairs": np.array(pairs, dtype=np.int64),
            "profile": profiles,
            "linear_profile": linear,
            "barrier": bezier_barriers,
            "barrier_linear": np.array([barrier(p) for p in linear]),
            "barrier_matrix": bezier_matrix,
            "best_step": np.asarray(bezier.best_step),
            "train_loss": np.asarray(bezier.train_loss),
            "control": flatten_params(jax.tree_util.tree_map(np.asarray, bezier.control)),
        }
    seconds = time.perf_counter() - started
    attrs = {
        "bezier_steps": args.bezier_steps,
        "samples": args.samples,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
        "seconds": seconds,
        "activation": context.activation,
        "meaning": "row i, column j: path from point i to point j (j aligned onto i for 'aligned' and 'bezier')",
    }
    write_group(args.run, f"paths/{args.name}", arrays, attrs)

    print(f"paths between {k} points in {seconds:.1f} s (compile included); stored paths/{args.name}", file=sys.stderr)
    from ..landscape_map import stationarity_lines

    for line in stationarity_lines(args.run, networks, labels):
        print(line)
    width = max(len(label) for label in labels)
    print(f"{'':{width}}  " + "  ".join(f"{label[:10]:>10}" for label in labels))
    straight, is_aligned = matrix["barrier_straight"], matrix["straight_is_aligned"]
    for i, label in enumerate(labels):
        print(
            f"{label:{width}}  "
            + "  ".join(
                f"{straight[i, j]:9.3g}{'a' if is_aligned[i, j] else 'u'}" if i != j else f"{'':10}" for j in range(k)
            )
        )
    print(
        "straight-line barriers above: the lower of unaligned (u) and aligned (a); pairs: unaligned / aligned / Bezier:"
    )
    for n, (i, j) in enumerate(pairs):
        extra = f" / {arrays['bezier']['barrier'][n]:.3g}" if bezier is not None else ""
        print(
            f"  {labels[i]} -> {labels[j]}: {matrix['barrier_linear'][i, j]:.3g} / {matrix['barrier_aligned'][i, j]:.3g}{extra}"
        )

    if not args.no_figures:
        from ..plots import save_figure
        from ..plots.geometry import plot_barrier_matrices, plot_path_profiles

        folder = Path(args.figures) if args.figures else default_figures_folder(args.run)
        panels = []
        for n, (i, j) in enumerate(pairs):
            curves = {"linear": matrix["profile_linear"][i, j], "aligned": matrix["profile_aligned"][i, j]}
            if bezier is not None:
                curves["bezier"] = arrays["bezier"]["profile"][n]
            panels.append((f"{labels[i]} -> {labels[j]}", curves))
        written = save_figure(plot_path_profiles(t, panels), folder, f"paths-{args.name}-profiles")
        matrices = {"linear": matrix["barrier_linear"], "aligned": matrix["barrier_aligned"]}
        if bezier is not None:
            matrices["Bezier (aligned ends)"] = arrays["bezier"]["barrier_matrix"]
        written += save_figure(
            plot_barrier_matrices(matrices, labels, f"{name}: loss barriers between minima"),
            folder,
            f"paths-{args.name}-barriers",
        )
        print(f"  figures: {', '.join(str(p) for p in written if p.suffix == '.png')}")
    return 0
