#!/usr/bin/env bash
# One GPU check, under 5 minutes on one NVIDIA GPU (H100/H200 class):
#   1. the device;
#   2. the GPU-relevant tests on the GPU backend (the Pallas kernel compiled for real, not interpreted);
#   3. benchmarks/bench_train.py --device gpu: the default workload at N = 1e5 and 1e6, width 8 and
#      4096 points at N = 1e5, each against ../shared/bench/ref_train.cu (compiled with
#      nvcc -O3 -arch=native -use_fast_math when nvcc is there; otherwise (c) is skipped with a note);
#   4. the default study end to end (landscape run: training, types, figures, report), timed;
#   5. one table of everything.
#
#   bash benchmarks/gpu_check.sh              # from the repository root, in its virtual environment
#
# Every step has its own time limit (440 s in all; about 4.5 minutes when nothing times out), so one slow step
# cannot eat the others' time; a step that fails or times out is reported in the table and the
# script goes on. Set PYTHON to choose the interpreter.
set -u
cd "$(dirname "$0")/.."
export JAX_PLATFORMS=cuda
OUT=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
PY=${PYTHON:-python}
START=$(date +%s)

step() {  # step NAME LIMIT_SECONDS COMMAND...: run, log to $OUT/NAME.log, record status and seconds
  local name=$1 limit=$2
  shift 2
  echo "== $name (limit ${limit}s): $*"
  local t0 rc
  t0=$(date +%s%N)
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  tail -n 25 "$OUT/$name.log"
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((($(date +%s%N) - t0) / 1000000))" >>"$OUT/steps.tsv"
  [ "$rc" = 124 ] && echo "   (timed out after ${limit}s)"
  return 0
}

echo "== device"
nvidia-smi -L 2>/dev/null || echo "nvidia-smi: not found"
$PY -c "import jax; print('JAX', jax.__version__, jax.default_backend(), jax.devices())" || { echo "no JAX GPU backend: nothing to check"; exit 2; }
command -v nvcc >/dev/null && nvcc --version | tail -n 1 || echo "nvcc: not found; (c) ref_train.cu will be skipped"

# GPU-relevant tests. First the kernel: compiled for real against the general trainer, the automatic
# choice, the capability checks, the Triton lowering (interpret-mode tests are left to the CPU suite).
step tests_kernel 40 $PY -m pytest -q -p no:cacheprovider tests/test_gpu_mlp.py -k "compiled or capability or lowers or activations"
# Then what a GPU changes elsewhere: float64 identities under a scoped x64, chunk sizing by device memory,
# dropout, the CPU kernel's tests skipping, curvature (float64 eigh and Lanczos on the GPU).
# (every test compiles for the GPU, about 4 s each on an H200: the curvature tests alone outrun this step, so they
# are left to the teacher-student step below, which computes float64 Hessians on the GPU)
step tests_suite 150 $PY -m pytest -q -p no:cacheprovider tests/test_training.py tests/test_dropout.py tests/test_fast_path.py

bench() {  # bench NAME LIMIT ARGS...
  local name=$1 limit=$2
  shift 2
  step "$name" "$limit" $PY benchmarks/bench_train.py --device gpu --json --build-dir "$OUT/build" "$@"
}
mkdir -p "$OUT/build"  # ref_train.cu is compiled once, here
bench default_1e5 40 --n 100000 --baseline-steps 100
bench default_1e6 35 --n 1000000 --skip-baseline
bench width8_1e5 25 --n 100000 --hidden 8 --skip-baseline
bench points4096_1e5 30 --n 100000 --points 4096 --steps 500 --skip-baseline

# The default study end to end, in a scratch folder (it writes runs/ and figures/ where it runs).
mkdir -p "$OUT/e2e"
step default_study 60 bash -c "cd '$OUT/e2e' && JAX_PLATFORMS=cuda $PY -m landscape run --quiet --overwrite"
# A model of one's own on the GPU: the teacher-student example (factories, float64, no dataset), then its Hessians.
step byo_study 60 bash -c "cd '$OUT/e2e' && cp -r '$PWD/runs' . && JAX_PLATFORMS=cuda $PY -m landscape run runs/teacher_student.toml --inits 2048 --quiet --overwrite --no-report && JAX_PLATFORMS=cuda $PY -m landscape hessian runs/teacher-student-8.h5 --no-figures"

echo
echo "== summary (logs in $OUT; $(($(date +%s) - START)) s in all)"
$PY - "$OUT" <<'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
steps = {}
for line in (out / "steps.tsv").read_text().splitlines():
    name, rc, milliseconds = line.split("\t")
    steps[name] = (int(rc), float(milliseconds) / 1000)


def outcome(name):
    rc, seconds = steps.get(name, (None, 0.0))
    return "not run" if rc is None else ("ok" if rc == 0 else ("timed out" if rc == 124 else f"failed (rc {rc})")), seconds


def bench_json(name):
    lines = [l for l in (out / f"{name}.log").read_text().splitlines() if l.startswith("{")] if (out / f"{name}.log").exists() else []
    return json.loads(lines[-1]) if lines else None


print("| check | result | (a) project net-steps/s | (c) ref_train.cu | (a)/(c) | (b) jit(vmap(scan)) | frac<1e-2 (a) / (c) | compile (a) | wall s |")
print("|---|---|---|---|---|---|---|---|---|")
for name, label in [("default_1e5", "default, N=1e5"), ("default_1e6", "default, N=1e6"), ("width8_1e5", "H=8, N=1e5"), ("points4096_1e5", "4096 points, 500 steps, N=1e5")]:
    status, seconds = outcome(name)
    report = bench_json(name)
    if report is None:
        print(f"| {label} | {status} | - | - | - | - | - | - | {seconds:.0f} |")
        continue
    a, b, c = report["a"], report.get("b"), report.get("c")
    ratio = f"{a['net_steps_per_s'] / c['net_steps_per_s']:.2f}" if c else "(c) skipped"
    print(
        f"| {label} | {status} | {a['net_steps_per_s']:.3g} ({a['kind']}, {a['seconds']:.2f} s) | "
        + (f"{c['net_steps_per_s']:.3g} ({c['seconds']:.2f} s)" if c else "-")
        + f" | {ratio} | " + (f"{b['net_steps_per_s']:.3g}" if b else "-")
        + f" | {a['frac_below_1e-2']:.3f} / " + (f"{c['frac_below_1e-2']:.3f}" if c else "-")
        + f" | {a['compile_s']:.1f} s | {seconds:.0f} |"
    )
for name, label in [("tests_kernel", "tests: Pallas kernel compiled"), ("tests_suite", "tests: training, dropout, fast path"), ("default_study", "landscape run, default study end to end"), ("byo_study", "teacher-student example (own model, float64): run + hessian")]:
    status, seconds = outcome(name)
    log = (out / f"{name}.log").read_text().splitlines() if (out / f"{name}.log").exists() else []
    detail = next((l.strip("= ") for l in reversed(log) if " passed" in l or " failed" in l or "error" in l.lower()), "") if name.startswith("tests") else ""
    print(f"| {label} | {status} {detail} | | | | | | | {seconds:.0f} |")
EOF
