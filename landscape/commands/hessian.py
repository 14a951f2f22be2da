"""``landscape hessian``: Hessian spectra of every final network, per-type curvature summary."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import ConfigError

if TYPE_CHECKING:  # heavy modules load inside the functions: `landscape --help` stays fast
    import numpy as np

    from ..storage import Run

ORDER = 20
DENSITY_POINTS = 400


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hessian",
        help="Hessian spectra at every final network: minima vs saddles, flat directions, per-type table",
        description="Compute the Hessian of the training loss (full data) at every final network of a run, "
        "store eigenvalues and derived quantities in the run file's 'hessian' group, print curvature by "
        "solution type (from the 'types' group if present, else one group 'all') and save figures.",
    )
    p.add_argument("run", help="run file (.h5)")
    p.add_argument(
        "--method",
        choices=("dense", "lanczos"),
        default="dense",
        help="exact dense Hessians (default) or matrix-free Lanczos",
    )
    p.add_argument(
        "--top-k",
        type=int,
        default=5,
        metavar="K",
        help="lanczos: eigenvalues kept at each end of the spectrum (default: 5)",
    )
    p.add_argument(
        "--zero-rtol",
        type=float,
        default=None,
        metavar="R",
        help="|lambda| <= R * max|lambda| + atol counts as zero (default: 1e-4)",
    )
    p.add_argument(
        "--zero-atol", type=float, default=None, metavar="A", help="absolute part of the zero tolerance (default: 1e-7)"
    )
    p.add_argument(
        "--chunk-size", type=int, default=1024, metavar="C", help="networks per compiled batch (default: 1024)"
    )
    p.add_argument(
        "--seed", type=int, default=0, metavar="K", help="key for Lanczos start vectors and SLQ probes (default: 0)"
    )
    p.add_argument("--figures", metavar="DIR", help="folder for figures (default: figures/<run file stem>/hessian)")
    p.add_argument("--no-figures", action="store_true", help="do not draw figures")
    p.set_defaults(func=main)


def _labels(run: Run) -> tuple[np.ndarray, dict[str, int] | None, str]:
    """Type names per network, representatives (None: choose here), and where they came from."""
    import numpy as np

    if not run.has("types"):
        return np.full(run.n_inits, "all"), None, "all"
    try:
        from ..solutions import type_labels, type_representatives
    except ImportError:
        return np.full(run.n_inits, "all"), None, "all"
    labels = np.asarray(type_labels(run)).astype(str)
    try:
        representatives = {str(k): int(v) for k, v in type_representatives(run).items()}
    except (KeyError, ValueError):
        representatives = None
    return labels, representatives, "types"


def _parameter_names(params_one: Any) -> list[str]:
    """Names of the flat parameters in ravel_pytree order, e.g. ``0/w[1,2]``."""
    import jax
    import numpy as np

    names = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(params_one)[0]:
        base = "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)
        for index in np.ndindex(np.shape(leaf)):
            names.append(f"{base}[{','.join(map(str, index))}]")
    return names


def main(args: argparse.Namespace) -> int:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from .. import curvature
    from ..models import make_mlp
    from ..storage import Run, RunFileError, check_writable, write_group

    if args.top_k < 1:
        raise ConfigError("--top-k must be at least 1")
    if args.chunk_size < 1:
        raise ConfigError("--chunk-size must be at least 1")
    rtol = curvature.ZERO_RTOL if args.zero_rtol is None else args.zero_rtol
    check_writable(args.run)  # before minutes of work whose result could not be stored
    atol = curvature.ZERO_ATOL if args.zero_atol is None else args.zero_atol

    with Run(args.run) as run:
        study = run.study
        x, y = run.x, run.y
        if y.ndim != 1:
            raise RunFileError(f"{run.path}: hessian supports scalar-output networks only (y has shape {y.shape})")
        final_params = run.final_params
        labels, representatives, label_source = _labels(run)
        # every type present gets a representative (the types group's, else the lowest loss)
        representatives = {**curvature.default_representatives(labels, run.final_loss), **(representatives or {})}
        representatives = {t: i for t, i in representatives.items() if t in set(labels.tolist())}
        status = run.status
        grad_norm, grad_tol = run.grad_norm, study.train.grad_tol

    with jax.enable_x64(True):  # Hessians in float64 whatever the training dtype: clean null spaces
        dtype = np.float64
        model = make_mlp(study.model, study.init, x.shape[1], 1, jnp.float64)
        hessian_fn = curvature.hessian_function(model)
        activation = study.model.activation
        one = jax.tree.map(lambda leaf: leaf[0], final_params)
        n_params = int(sum(np.size(leaf) for leaf in jax.tree.leaves(one)))
        key = jax.random.PRNGKey(args.seed)
        start = time.perf_counter()
        if args.method == "dense":
            result = curvature.dense_curvature(
                hessian_fn,
                final_params,
                x,
                y,
                activation,
                rtol,
                atol,
                args.chunk_size,
                dtype=dtype,
                leaky_slope=study.model.leaky_slope,
            )
        else:
            result = curvature.lanczos_curvature(
                curvature.loss_of_model(model),
                final_params,
                x,
                y,
                key,
                args.top_k,
                zero_rtol=rtol,
                zero_atol=atol,
                chunk_size=min(args.chunk_size, 256),
                dtype=dtype,
            )
        seconds = time.perf_counter() - start

        type_names = sorted(representatives, key=lambda t: -int(np.sum(labels == t)))
        rep_index = np.array([representatives[t] for t in type_names], dtype=np.int64)
        rep_params = jax.tree.map(lambda leaf: np.asarray(leaf)[rep_index], final_params)
        rep_params = jax.tree.map(lambda leaf: np.asarray(leaf, dtype), rep_params)
        rep_hessians, rep_values, rep_vectors = curvature.hessians_and_eigenvectors(
            hessian_fn, rep_params, np.asarray(x, dtype), np.asarray(y, dtype)
        )
        rep = {"eigenvalues": rep_values, "eigenvectors": rep_vectors}
        # SLQ density of each representative (Ghorbani et al. 2019), next to the exact one; H v from the
        # dense Hessians just computed (same as autodiff HVPs, without compiling them: seconds, more on a GPU)
        slq_nodes, slq_weights = curvature.slq_spectra_of_hessians(
            rep_hessians, key, n_probes=16, n_steps=min(64, n_params)
        )
        finite_reps = rep["eigenvalues"][np.all(np.isfinite(rep["eigenvalues"]), axis=1)]
        low, high = (float(finite_reps.min()), float(finite_reps.max())) if finite_reps.size else (-1.0, 1.0)
        pad = 0.05 * (high - low or 1.0)
        grid = np.linspace(low - pad, high + pad, DENSITY_POINTS)
        sigma = (high - low or 1.0) / 200
        slq_curves, exact_curves = map(
            np.asarray, curvature.density_curves(slq_nodes, slq_weights, rep["eigenvalues"], grid, sigma)
        )  # one compile

    from ..saddles import KIND_NAMES, stationary_kind

    # one rule in every command: stationary when |grad| < grad_tol; only then a minimum or a saddle
    kind = np.asarray(stationary_kind(np.asarray(grad_norm, float), result["index"], grad_tol)).astype(np.int8)
    result["stationary_kind"] = kind
    summary = curvature.type_summary(result, labels, kind)
    table = curvature.format_type_summary(summary, args.method)
    representatives_group = {
        "type": np.asarray(type_names),
        "index": rep_index,
        "eigenvalues": rep["eigenvalues"],
        "eigenvectors": rep["eigenvectors"],
        "slq_nodes": slq_nodes,
        "slq_weights": slq_weights,
    }
    attrs = {
        "method": args.method,
        "zero_rtol": rtol,
        "zero_atol": atol,
        "tolerance_rule": "zero if |lambda| <= zero_rtol * max|lambda| + zero_atol; saddle if any lambda < -tolerance",
        "dtype": "float64",
        "n_params": n_params,
        "param_names": _parameter_names(one),
        "label_source": label_source,
        "stationary_kind_codes": list(KIND_NAMES),
        "stationary_rule": f"stationary if train/grad_norm < train.grad_tol ({grad_tol:g}); then saddle if index > 0, else minimum",
        "seconds": seconds,
        "seed": args.seed,
        "top_k": args.top_k if args.method == "lanczos" else n_params,
    }
    write_group(
        args.run,
        "hessian",
        {
            **result,
            "representatives": representatives_group,
            "density": {"grid": grid, "slq": slq_curves, "exact": exact_curves, "sigma": np.float64(sigma)},
            "summary": summary,
        },
        attrs,
    )
    n_done = int(np.sum(status >= 0))
    print(table)
    print(
        f"  {args.method} spectra of {n_done} networks ({n_params} parameters each) in {seconds:.2f} s (compile included); "
        f"zero tolerance {rtol:g} * max|lambda| + {atol:g}"
    )
    if args.method == "dense":
        match = result["n_near_zero"] == result["n_zero_predicted"]
        converged = status == 0
        print(
            f"  near-zero eigenvalues equal the symmetry prediction for {int(match.sum())} of {match.size} networks "
            f"({int(match[converged].sum())} of {int(converged.sum())} converged ones): rescaling per live unit, "
            f"incoming+bias+outgoing per dead unit, affine redundancy of units linear on the data"
        )
    saddle = np.asarray(result["is_saddle"], bool)
    counts = {name: int(np.sum(kind == code)) for code, name in enumerate(KIND_NAMES)}
    print(
        f"  stationary points (|grad| < train.grad_tol = {grad_tol:g}): {counts['minimum']} minima, {counts['saddle']} saddles; "
        f"{counts['not stationary']} not stationary (stopped elsewhere; an eigenvalue below -tolerance at "
        f"{int(np.sum(saddle & (kind == 2)))} of them does not make them saddles)"
    )
    print(f"  stored in {args.run}:/hessian")

    if not args.no_figures:
        from ..plots import curvature as curvature_plots
        from ..plots import save_figure
        from .slice import default_figures_folder

        folder = Path(args.figures) if args.figures else default_figures_folder(args.run) / "hessian"
        if args.method == "dense":
            eigenvalues, note = result["eigenvalues"], ""
        else:
            k = result["top_eigenvalues"].shape[1]
            overlap = max(0, 2 * k - n_params)
            eigenvalues = np.concatenate(
                [result["bottom_eigenvalues"], result["top_eigenvalues"][:, ::-1][:, overlap:]], axis=1
            )
            note = f"Lanczos: bottom {k} and top {k} of {n_params}"
        written = []
        written += save_figure(
            curvature_plots.spectra_by_type(eigenvalues, labels, result["zero_tolerance"], type_names, note=note),
            folder,
            "spectra_by_type",
        )
        written += save_figure(
            curvature_plots.top_eigenvalue_by_type(
                result["max_eigenvalue"], result["trace"], labels, type_names, result["is_saddle"]
            ),
            folder,
            "top_eigenvalue_by_type",
        )
        written += save_figure(
            curvature_plots.spectral_density(
                grid,
                slq_curves,
                exact_curves,
                rep["eigenvalues"],
                [f"{t} (net {i})" for t, i in zip(type_names, rep_index, strict=True)],
            ),
            folder,
            "slq_density",
        )
        print(f"  figures: {', '.join(str(p) for p in written if p.suffix == '.png')}")
    return 0
