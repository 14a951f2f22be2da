"""Time transition-state searches between pairs of minima of the default study.

    python benchmarks/bench_map.py [RUN.h5] [--pairs 100] [--json]

Picks the lowest-loss converged networks of each solution type of a classified default-study run
(default ``runs/euclid-2-3-1.h5``; make it with ``landscape run``), enough points for ``--pairs``
pairs, and runs :func:`landscape.landscape_map.map_minima` on the first ``--pairs`` of their
pairs: quench, one compiled nudged-elastic-band program over all pairs, saddle refinement from
each band's highest point, Hessian verification, descent from both sides of every transition
state. Prints the wall time per stage (compilation included: one call is what a user waits for)
and how many bands ended in a verified transition state, downhill or unresolved. Target: 100 pairs
in under a minute on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?", default="runs/euclid-2-3-1.h5")
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from landscape import Run
    from landscape.landscape_map import CONNECTION_KINDS, MapSettings, map_minima, mlp_problem
    from landscape.models import make_mlp
    from landscape.solutions import type_labels

    k = 2
    while k * (k - 1) // 2 < args.pairs:
        k += 1
    with Run(args.run) as run:
        study, labels, loss, status = run.study, np.asarray(type_labels(run)).astype(str), run.final_loss, run.status
        names = [t for t in dict.fromkeys(labels.tolist()) if t not in ("unconverged", "diverged", "not_run")]
        per_type = {
            t: list(np.flatnonzero((labels == t) & (status == 0))[np.argsort(loss[(labels == t) & (status == 0)])])
            for t in names
        }
        chosen: list[int] = []
        while len(chosen) < k and any(per_type.values()):  # round robin over types, lowest loss first
            for t in names:
                if per_type[t] and len(chosen) < k:
                    chosen.append(int(per_type[t].pop(0)))
        networks = [run.params("final", i) for i in chosen]
        x, y = run.x, run.y
    pairs = list(itertools.combinations(range(len(chosen)), 2))[: args.pairs]
    started = time.perf_counter()
    with jax.enable_x64(True):
        x64, y64 = jnp.asarray(x, jnp.float64), jnp.asarray(y, jnp.float64)
        model = make_mlp(study.model, study.init, x.shape[1], 1, jnp.float64)
        like = jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float64), networks[0])
        problem = mlp_problem(model, like, x64, y64, study.model.activation)
        points = [
            np.asarray(ravel_pytree(jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float64), n))[0]) for n in networks
        ]
        result = map_minima(
            problem, points, [f"#{i}" for i in chosen], np.asarray(x64), np.asarray(y64), MapSettings(), pairs
        )
    seconds = time.perf_counter() - started
    kinds = {name: int(np.sum(result["bands/kind"] == code)) for code, name in enumerate(CONNECTION_KINDS)}
    summary = {
        "pairs": len(pairs),
        "points": len(chosen),
        "seconds": round(seconds, 2),
        "stage_seconds": {k: round(v, 2) for k, v in result.attrs["stage_seconds"].items()},
        "bands": kinds,
        "transition_states": int(len(result["transition_states/loss"])),
        "minima": int(len(result["minima/loss"])),
        "devices": str(jax.devices()),
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(f"map of {len(pairs)} pairs between {len(chosen)} minima: {seconds:.1f} s (compile included)")
    for stage, value in summary["stage_seconds"].items():
        print(f"  {stage:<32} {value:7.1f} s")
    print(
        f"  bands: {kinds}; distinct verified transition states {summary['transition_states']}; minima in the map {summary['minima']}"
    )


if __name__ == "__main__":
    main()
