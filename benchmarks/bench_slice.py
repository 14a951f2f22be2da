"""Time a 101 x 101 loss slice of the default network (2-3-1 ReLU MLP, 1024 points) once compiled.

    python benchmarks/bench_slice.py [--resolution 101] [--repeats 5] [--batch-size 2048] [--json]

Builds three networks of the default study (their initial parameters: the timing does not
depend on where the points lie), the plane through them, and times ``plane_grid``: the first
call (trace + compile + run) and the best of ``--repeats`` later calls. Also times a random
filter-normalised plane around one point, and a 101-point line profile. Target: a compiled
101 x 101 slice well under a second on CPU.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np


def _timed(fn, repeats: int) -> tuple[float, float]:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - start
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - start)
    return first, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=101)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=512, help="grid points per vmapped batch inside lax.map")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from landscape import Study, prepare
    from landscape.slices import grid_around, line_losses, plane_grid, plane_through_points, random_plane
    from landscape.training import make_objective

    study = Study()
    prepared = prepare(study)
    objective = make_objective(prepared.model)
    x, y = jax.numpy.asarray(prepared.dataset.x), jax.numpy.asarray(prepared.dataset.y)
    networks = [prepared.model.init(jax.random.PRNGKey(i)) for i in range(3)]
    plane = plane_through_points(*networks)
    alphas, betas = grid_around(plane.point_coords, args.resolution)
    three = _timed(
        lambda: plane_grid(objective, x, y, plane.origin, plane.axis_u, plane.axis_v, alphas, betas, args.batch_size),
        args.repeats,
    )
    around = random_plane(jax.random.PRNGKey(0), networks[0])
    span = np.linspace(-1, 1, args.resolution)
    rand = _timed(
        lambda: plane_grid(objective, x, y, around.origin, around.axis_u, around.axis_v, span, span, args.batch_size),
        args.repeats,
    )
    t = np.linspace(0, 1, 101)
    line = _timed(lambda: line_losses(objective, x, y, networks[0], networks[1], t), args.repeats)

    points = args.resolution**2
    result = {
        "model": prepared.model.name,
        "n_points": int(x.shape[0]),
        "grid": f"{args.resolution}x{args.resolution}",
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0]),
        "three_point_plane_first_call_s": three[0],
        "three_point_plane_compiled_s": three[1],
        "random_plane_compiled_s": rand[1],
        "line_101_compiled_s": line[1],
        "grid_points_per_second": points / three[1],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{result['model']}, {result['n_points']} data points, {result['grid']} grid on {result['backend']} ({result['device']})"
    )
    print(
        f"  three-point plane: first call {three[0]:.3f} s (trace + compile + run), compiled {three[1] * 1e3:.1f} ms "
        f"({points / three[1]:.3g} grid points/s)"
    )
    print(f"  random filter-normalised plane: compiled {rand[1] * 1e3:.1f} ms")
    print(f"  101-point line profile: compiled {line[1] * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
