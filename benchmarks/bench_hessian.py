"""Time the exact Hessian spectra of 10,000 networks of the default study (2-3-1 ReLU MLP, 1024 points).

    python benchmarks/bench_hessian.py [--networks 10000] [--run RUN.h5] [--chunk-size 1024] [--autodiff] [--json]

Everything ``landscape hessian --method dense`` computes per network: the 13 x 13 Hessian in
float64, ``eigh``, the derived quantities and the symmetry null-space check. Parameters: the
final networks of ``--run`` (tiled up to ``--networks`` if the run has fewer), else the study's
initial parameters (the cost does not depend on where the networks sit). Compile time (the first
call on one chunk) is reported separately from the time for all spectra once compiled.
``--autodiff`` also times the generic ``jax.hessian`` path instead of the fused closed form.
Target: seconds, not minutes, on a laptop CPU.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from landscape import Study, curvature, prepare
from landscape.storage import Run


def _parameters(args: argparse.Namespace) -> tuple[object, np.ndarray, np.ndarray, Study]:
    if args.run:
        with Run(args.run) as run:
            params, x, y, study = run.final_params, run.x, run.y, run.study
        n = jax.tree.leaves(params)[0].shape[0]
        index = np.arange(args.networks) % n
        return jax.tree.map(lambda leaf: leaf[index], params), x, y, study
    study = Study().replace(n_inits=args.networks)
    prepared = prepare(study)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(study.seed), i))(jnp.arange(args.networks))
    params = jax.tree.map(np.asarray, prepared.batch_init(keys))
    return params, np.asarray(prepared.dataset.x), np.asarray(prepared.dataset.y), study


def _time(hessian_fn, params, x, y, chunk: int) -> dict[str, float]:
    batch = curvature.make_dense_batch(hessian_fn, jnp.asarray(x), jnp.asarray(y), "relu")
    first_chunk = jax.tree.map(lambda leaf: leaf[:chunk], params)
    start = time.perf_counter()
    jax.block_until_ready(batch.lower(first_chunk).compile())
    compile_seconds = time.perf_counter() - start
    jax.block_until_ready(batch(first_chunk))  # warm the executable
    start = time.perf_counter()
    result = curvature.map_chunks(batch, params, chunk)
    seconds = time.perf_counter() - start
    n = result["eigenvalues"].shape[0]
    return {"compile_seconds": compile_seconds, "seconds": seconds, "networks_per_second": n / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", type=int, default=10_000)
    parser.add_argument("--run", help="take final networks from this run file")
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--autodiff", action="store_true", help="also time the generic jax.hessian path")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    params, x, y, study = _parameters(args)
    with jax.enable_x64(True):
        params = jax.tree.map(lambda leaf: np.asarray(leaf, np.float64), params)
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        from landscape.models import make_mlp

        model = make_mlp(study.model, study.init, x.shape[1], 1, jnp.float64)
        report = {
            "networks": args.networks,
            "n_points": int(x.shape[0]),
            "backend": jax.default_backend(),
            "chunk_size": args.chunk_size,
        }
        report["fused"] = _time(curvature.hessian_function(model), params, x, y, args.chunk_size)
        if args.autodiff:
            report["autodiff"] = _time(
                curvature.autodiff_hessian(curvature.loss_of_model(model)), params, x, y, args.chunk_size
            )
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"Hessian spectra of {args.networks} networks ({study.model.hidden} hidden, {x.shape[0]} points, float64, {report['backend']}):"
    )
    for name in ("fused", "autodiff"):
        if name in report:
            r = report[name]
            print(
                f"  {name:>8}: compile {r['compile_seconds']:.2f} s, all spectra {r['seconds']:.2f} s ({r['networks_per_second']:.0f} networks/s)"
            )


if __name__ == "__main__":
    main()
