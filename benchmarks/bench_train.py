"""Throughput of the batched trainer: network-steps per second, against a hand-written C loop.

    python benchmarks/bench_train.py                      # the default workload, (a) (b) (c) and ratios
    python benchmarks/bench_train.py --table              # plus widths 3..16 x dataset sizes 256..4096
    python benchmarks/bench_train.py --memory             # plus peak RSS of a 10^6-init study, short budget
    python benchmarks/bench_train.py --device gpu --n 100000   # on a GPU: (a) the Pallas kernel, (c) ref_train.cu

Default workload: 2-3-1 ReLU MLP on the Euclidean norm, 1024 points, full batch, Adam (lr 1e-2),
float32, N = 4096 inits, 2000 steps. Measured in one run on one machine:

(a) the project's trainer as users get it: ``landscape.runner.prepare`` (which picks the compiled
    trainer when it applies: :mod:`landscape.fast_mlp`'s C++ kernel on a CPU,
    :mod:`landscape.gpu_mlp`'s Pallas kernel on a GPU) over the runner's chunks, inits included;
(b) the plain ``jit(vmap(scan))`` trainer (:func:`landscape.training.make_batch_trainer`) on all N
    at once (on a GPU at most ``--baseline-n`` networks: it keeps every point's activations); its
    cost per step is constant, so it is timed over ``--baseline-steps`` steps;
(c) on ``--device cpu``: ``../shared/bench/ref_train.c`` compiled with ``gcc -O3 -march=native
    -ffast-math -fopenmp`` and run on all cores, when gcc and the file are present; on ``--device
    gpu``: ``../shared/bench/ref_train.cu`` compiled with ``nvcc -O3 -arch=native -use_fast_math``,
    when nvcc and the file are present (it takes H in 3, 4, 8, 16 and at most 4096 points).

Compile time is reported apart from run time. Prints the ratios (a)/(c) and (a)/(b), and the
fraction of networks below loss 1e-2 for (a) and (c) (same job, same answer: about a third;
the data and init draws differ, so expect agreement to a few percent, not exactly).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO.parent / "shared" / "bench" / "ref_train.c"
REFERENCE_CUDA = REPO.parent / "shared" / "bench" / "ref_train.cu"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=4096, help="networks (inits)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--points", type=int, default=1024)
    p.add_argument("--hidden", type=int, default=3)
    p.add_argument("--baseline-steps", type=int, default=200, help="steps for (b), whose cost per step is constant")
    p.add_argument("--skip-baseline", action="store_true", help="do not time (b)")
    p.add_argument("--baseline-n", type=int, default=16384, help="on a GPU, (b) trains at most this many networks")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--table", action="store_true", help="also the (a)/(c) table over widths and dataset sizes")
    p.add_argument("--table-n", type=int, default=1024)
    p.add_argument("--table-steps", type=int, default=500)
    p.add_argument("--memory", action="store_true", help="also peak RSS of a 10^6-init default study")
    p.add_argument("--memory-n", type=int, default=1_000_000)
    p.add_argument("--memory-steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=1, help="alternate (a) and (c) this many times; report medians")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.add_argument(
        "--build-dir",
        type=Path,
        default=None,
        help="where (c) is compiled, and reused from (default: a temporary folder)",
    )
    return p.parse_args(argv)


def study_for(n: int, steps: int, points: int, hidden: int):
    from landscape import Study

    return Study().replace(**{"n_inits": n, "train.steps": steps, "task.n_points": points, "model.hidden": [hidden]})


def time_project(n: int, steps: int, points: int, hidden: int) -> dict:
    """(a): the runner's trainer over the runner's chunks (init + train per chunk)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from landscape import runner
    from landscape.training import network_keys

    study = study_for(n, steps, points, hidden)
    t0 = time.perf_counter()
    prepared = runner.prepare(study)
    chunk = runner.auto_chunk_size(study, prepared.dataset.out_dim, prepared.n_devices, prepared.trainer_kind)
    x = jnp.asarray(prepared.dataset.x, prepared.dtype)
    y = jnp.asarray(prepared.dataset.y, prepared.dtype)
    keys = network_keys(study.seed, np.arange(chunk))
    init = prepared.batch_init(keys)
    compiled = prepared.batch_trainer.lower(init, keys, x, y).compile()
    compile_s = time.perf_counter() - t0  # includes building the kernel if it is not cached

    t0 = time.perf_counter()
    losses, updates = [], 0
    for start in range(0, n, chunk):
        idx = np.arange(start, start + chunk)  # the runner pads the last chunk to the same shape
        keys = network_keys(study.seed, idx)
        result = compiled(prepared.batch_init(keys), keys, x, y)
        losses.append(np.asarray(result.final_loss)[: min(chunk, n - start)])
        updates += int(np.sum(np.asarray(result.steps)[: min(chunk, n - start)]))
    seconds = time.perf_counter() - t0
    loss = np.concatenate(losses)
    return {
        "what": f"project trainer ({prepared.trainer_kind}, chunks of {chunk}, {prepared.n_devices} device(s))",
        "kind": prepared.trainer_kind,
        "net_steps_per_s": n * steps / seconds,
        "seconds": seconds,
        "compile_s": compile_s,
        "frac_below_1e-2": float(np.mean(loss < 1e-2)),
        "mean_updates": updates / n,  # converged networks stop early (frozen, as in train_one)
        "updates_per_s": updates / seconds,
        "device": str(jax.devices()[0]),
    }


def time_baseline(n: int, steps: int, points: int, hidden: int) -> dict:
    """(b): plain jit(vmap(scan)) over all n networks at once."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from landscape import runner
    from landscape.training import make_batch_trainer, network_keys

    study = study_for(n, steps, points, hidden)
    prepared = runner.prepare(study, fast=False, shard=False)
    trainer = make_batch_trainer(prepared.model, prepared.spec)
    keys = network_keys(study.seed, np.arange(n))
    init = prepared.batch_init(keys)
    x = jnp.asarray(prepared.dataset.x, prepared.dtype)
    y = jnp.asarray(prepared.dataset.y, prepared.dtype)
    t0 = time.perf_counter()
    compiled = trainer.lower(init, keys, x, y).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(init, keys, x, y))
    seconds = time.perf_counter() - t0
    return {
        "what": f"plain jit(vmap(scan)), {steps} steps",
        "net_steps_per_s": n * steps / seconds,
        "seconds": seconds,
        "compile_s": compile_s,
    }


def time_reference_cuda(n: int, steps: int, points: int, hidden: int, build_dir: Path) -> dict | None:
    """(c) on a GPU: ref_train.cu, or None when nvcc or the source is missing (or it cannot run the workload)."""
    nvcc = shutil.which("nvcc")
    if nvcc is None or not REFERENCE_CUDA.exists() or hidden not in (3, 4, 8, 16) or points > 4096:
        return None
    binary = build_dir / "ref_train_cu"
    if not binary.exists():
        subprocess.run(
            [nvcc, "-O3", "-arch=native", "-use_fast_math", str(REFERENCE_CUDA), "-o", str(binary)], check=True
        )
    out = subprocess.run(
        [str(binary), str(n), str(steps), str(points), str(hidden)], capture_output=True, text=True, check=True
    ).stdout
    fields = dict(re.findall(r"(\S+)=(\S+)", out))
    return {
        "what": "ref_train.cu (one thread per network)",
        "net_steps_per_s": float(fields["net_steps_per_s"]),
        "seconds": float(fields["seconds"]),
        "frac_below_1e-2": float(fields["frac_loss_below_1e-2"]),
    }


def time_reference(n: int, steps: int, points: int, hidden: int, build_dir: Path, device: str = "cpu") -> dict | None:
    """(c): the C loop on all cores (or on a GPU, :func:`time_reference_cuda`), or None when the compiler or the source is missing."""
    if device == "gpu":
        return time_reference_cuda(n, steps, points, hidden, build_dir)
    gcc = shutil.which("gcc")
    if gcc is None or not REFERENCE.exists():
        return None
    binary = build_dir / "ref_train"
    if not binary.exists():
        subprocess.run(
            [gcc, "-O3", "-march=native", "-ffast-math", "-fopenmp", str(REFERENCE), "-o", str(binary), "-lm"],
            check=True,
        )
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run(
        [str(binary), str(n), str(steps), str(points), str(hidden)], env=env, capture_output=True, text=True, check=True
    ).stdout
    fields = dict(re.findall(r"(\S+)=(\S+)", out))
    return {
        "what": f"ref_train.c, {threads} threads",
        "net_steps_per_s": float(fields["net_steps_per_s"]),
        "seconds": float(fields["seconds"]),
        "frac_below_1e-2": float(fields["frac_loss_below_1e-2"]),
    }


MEMORY_SCRIPT = """
import resource, sys, time
from landscape import Study, run_study
study = Study().replace(**{"n_inits": int(sys.argv[1]), "train.steps": int(sys.argv[2])})
t0 = time.perf_counter()
run_study(study, sys.argv[3], quiet=True, overwrite=True)
print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss(n: int, steps: int) -> dict:
    """Peak resident memory of a whole ``run_study`` of the default study (own process)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, str(n), str(steps), str(Path(tmp) / "mem.h5")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    seconds, kib = float(out[-2]), int(out[-1])
    return {"n": n, "steps": steps, "peak_rss_gib": kib / 2**20, "seconds": seconds}


def median_run(runs: list[dict]) -> dict:
    """The run with the median throughput."""
    return sorted(runs, key=lambda r: r["net_steps_per_s"])[len(runs) // 2]


def fmt(rate: float) -> str:
    return f"{rate:.3g}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "gpu":
        os.environ.setdefault("JAX_PLATFORMS", "cuda")
    else:
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax

    try:
        devices = jax.devices()
    except (RuntimeError, AssertionError) as err:
        print(
            f"--device {args.device}: no such JAX backend here ({str(err).splitlines()[0] if str(err) else type(err).__name__})",
            file=sys.stderr,
        )
        return 2
    print(f"machine: {os.cpu_count()} CPU threads; JAX {jax.__version__} on {devices}")
    print(
        f"workload: 2-{args.hidden}-1 relu, {args.points} points, full batch, Adam, float32, N={args.n}, {args.steps} steps"
    )
    report: dict = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.build_dir or scratch
        runs_a, runs_c = [], []
        for _ in range(max(1, args.repeats)):  # alternate, so that load from other processes hits both alike
            runs_a.append(time_project(args.n, args.steps, args.points, args.hidden))
            runs_c.append(time_reference(args.n, args.steps, args.points, args.hidden, Path(tmp), args.device))
        a = median_run(runs_a)
        c = None if runs_c[0] is None else median_run(runs_c)
        report["a"], report["c"] = a, c
        print(
            f"(a) {a['what']}: {fmt(a['net_steps_per_s'])} net-steps/s  ({a['seconds']:.2f} s; compile {a['compile_s']:.2f} s)"
            f"  frac<1e-2 {a['frac_below_1e-2']:.3f}  [updates applied: {a['mean_updates']:.0f}/network, {fmt(a['updates_per_s'])}/s]"
        )
        if args.device == "gpu" and a["kind"] != "gpu_pallas":
            print("    note: (a) is not the Pallas kernel here (see landscape.fast_mlp.unsupported_reason for why)")
        if not args.skip_baseline:
            n_baseline = min(args.n, args.baseline_n) if args.device == "gpu" else args.n
            b = time_baseline(n_baseline, min(args.steps, args.baseline_steps), args.points, args.hidden)
            b["what"] += f", N={n_baseline}"
            report["b"] = b
            print(
                f"(b) {b['what']}: {fmt(b['net_steps_per_s'])} net-steps/s  ({b['seconds']:.2f} s; compile {b['compile_s']:.2f} s)"
            )
        if c is None and args.device == "gpu":
            print(
                "(c) ref_train.cu: not run (nvcc or ../shared/bench/ref_train.cu missing, or H not in 3, 4, 8, 16, or > 4096 points)"
            )
        elif c is None:
            print("(c) ref_train.c: not run (gcc or ../shared/bench/ref_train.c missing)")
        else:
            ratios = [ra["net_steps_per_s"] / rc["net_steps_per_s"] for ra, rc in zip(runs_a, runs_c, strict=True)]
            report["ratios_a_over_c"] = ratios
            print(
                f"(c) {c['what']}: {fmt(c['net_steps_per_s'])} net-steps/s  ({c['seconds']:.2f} s)  frac<1e-2 {c['frac_below_1e-2']:.3f}"
            )
            print(
                f"(a)/(c) = {sorted(ratios)[len(ratios) // 2]:.3f}"
                + (f"  (median of {len(ratios)}: {', '.join(f'{r:.2f}' for r in ratios)})" if len(ratios) > 1 else "")
            )
            applied = sorted(ra["updates_per_s"] / rc["net_steps_per_s"] for ra, rc in zip(runs_a, runs_c, strict=True))
            report["ratios_applied_over_c"] = applied
            print(
                f"(a)/(c) counting only updates applied (no credit for networks frozen at convergence) = {applied[len(applied) // 2]:.3f}"
            )
            print(
                f"frac<1e-2: (a) {a['frac_below_1e-2']:.3f} vs (c) {c['frac_below_1e-2']:.3f} (difference {abs(a['frac_below_1e-2'] - c['frac_below_1e-2']):.3f})"
            )
        if "b" in report:
            print(f"(a)/(b) = {a['net_steps_per_s'] / report['b']['net_steps_per_s']:.2f}")

        if args.table:
            print(
                f"\n(a)/(c) over widths and dataset sizes (N={args.table_n}, {args.table_steps} steps; median ratio of {max(1, args.repeats)}):"
            )
            print("| H \\ points | " + " | ".join(str(p) for p in (256, 1024, 4096)) + " |")
            print("|---|---|---|---|")
            rows = []
            for hidden in (3, 8, 16):
                cells = []
                for points in (256, 1024, 4096):
                    pairs = [
                        (
                            time_project(args.table_n, args.table_steps, points, hidden),
                            time_reference(args.table_n, args.table_steps, points, hidden, Path(tmp), args.device),
                        )
                        for _ in range(max(1, args.repeats))
                    ]
                    ratios = sorted(ta["net_steps_per_s"] / tc["net_steps_per_s"] for ta, tc in pairs if tc)
                    ta = median_run([pair[0] for pair in pairs])
                    tc = median_run([pair[1] for pair in pairs]) if pairs[0][1] else None
                    ratio = ratios[len(ratios) // 2] if ratios else float("nan")
                    cells.append(
                        f"{ratio:.2f} ({fmt(ta['net_steps_per_s'])} vs {fmt(tc['net_steps_per_s']) if tc else '-'})"
                    )
                    rows.append(
                        {
                            "hidden": hidden,
                            "points": points,
                            "a": ta["net_steps_per_s"],
                            "c": tc["net_steps_per_s"] if tc else None,
                        }
                    )
                print(f"| {hidden} | " + " | ".join(cells) + " |")
            report["table"] = rows

    if args.memory:
        m = peak_rss(args.memory_n, args.memory_steps)
        report["memory"] = m
        print(
            f"\npeak RSS, run_study N={m['n']} steps={m['steps']}: {m['peak_rss_gib']:.2f} GiB ({m['seconds']:.0f} s)"
        )
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
