"""Sharding the inits axis over 2 (forced host) devices gives the same per-network results as 1.

Both sides run on the CPU backend: in this process when the suite runs on a CPU, else (a GPU
suite) in a second subprocess with one host device, so that the comparison is CPU against CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from landscape import Study, runner
from landscape.sharding import merge_run_files, process_chunks, run_process_share

SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, jax
    from landscape import Study, runner
    n_devices = int(sys.argv[2])
    assert len(jax.local_devices()) == n_devices, jax.local_devices()
    out = {}
    for fast in (True, False):
        study = Study().replace(**{"n_inits": 64, "train.steps": 30, "task.n_points": 128, "train.trajectory_points": 10})
        prepared = runner.prepare(study, fast=fast)
        assert prepared.n_devices == n_devices
        tag = prepared.trainer_kind
        keys_init, result = runner.train_networks(prepared, np.arange(37))  # odd: exercises padding
        # the sharded trainer really places half the batch on each device
        import jax.numpy as jnp
        from landscape.training import network_keys
        keys = network_keys(0, np.arange(38))
        raw = prepared.batch_trainer(prepared.batch_init(keys), keys, jnp.asarray(prepared.dataset.x), jnp.asarray(prepared.dataset.y))
        out[tag + "_devices"] = np.array(len(raw.final_loss.sharding.device_set))
        for name in ("final_loss", "grad_norm", "status", "steps", "trajectory"):
            out[f"{tag}_{name}"] = np.asarray(getattr(result, name))
        for i, leaf in enumerate(jax.tree.leaves(result.final_params)):
            out[f"{tag}_param{i}"] = np.asarray(leaf)
    np.savez(sys.argv[1], **out)
    """
)


def _cpu_results(tmp_path_factory, n_devices: int) -> dict:
    path = tmp_path_factory.mktemp("shard") / f"devices{n_devices}.npz"
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={n_devices}", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path), str(n_devices)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(path))


@pytest.fixture(scope="module")
def two_device_results(tmp_path_factory):
    return _cpu_results(tmp_path_factory, 2)


@pytest.fixture(scope="module")
def one_device_cpu_results(tmp_path_factory):
    return _cpu_results(tmp_path_factory, 1)


@pytest.mark.parametrize("fast", [True, False], ids=["fast_mlp", "general"])
def test_two_devices_same_per_network_results(two_device_results, fast, request):
    import jax

    if jax.default_backend() == "cpu":
        study = Study().replace(
            **{"n_inits": 64, "train.steps": 30, "task.n_points": 128, "train.trajectory_points": 10}
        )
        prepared = runner.prepare(study, fast=fast)
        tag = prepared.trainer_kind
        assert prepared.n_devices == 1
        _, result = runner.train_networks(prepared, np.arange(37))
        one = {
            name: np.asarray(getattr(result, name))
            for name in ("final_loss", "grad_norm", "status", "steps", "trajectory")
        }
        one.update({f"param{i}": np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(result.final_params))})
    else:  # the suite runs on a GPU: the one-device reference on the CPU backend too
        tag = "fast_mlp" if fast and "fast_mlp_devices" in two_device_results else "general"
        reference = request.getfixturevalue("one_device_cpu_results")
        one = {key[len(tag) + 1 :]: value for key, value in reference.items() if key.startswith(tag + "_")}
    assert two_device_results[f"{tag}_devices"] == 2
    np.testing.assert_array_equal(two_device_results[f"{tag}_status"], one["status"])
    np.testing.assert_array_equal(two_device_results[f"{tag}_steps"], one["steps"])
    for name in ("final_loss", "grad_norm", "trajectory"):
        np.testing.assert_allclose(two_device_results[f"{tag}_{name}"], one[name], rtol=1e-5, atol=1e-7)
    for i in range(sum(key.startswith(f"{tag}_param") for key in two_device_results)):
        np.testing.assert_allclose(two_device_results[f"{tag}_param{i}"], one[f"param{i}"], rtol=1e-5, atol=1e-7)


def test_process_chunks_partition():
    shares = [process_chunks(10, i, 3) for i in range(3)]
    assert sorted(sum(shares, [])) == list(range(10))
    assert shares[1] == [1, 4, 7]


def test_multi_process_parts_merge_into_the_single_process_run(tmp_path):
    """Two processes' shares, merged, equal the run made by one process."""
    from landscape.storage import Run

    study = Study().replace(
        **{"n_inits": 40, "train.steps": 30, "task.n_points": 64, "train.chunk_size": 16, "train.trajectory_points": 5}
    )
    whole = runner.run_study(study, tmp_path / "whole.h5", quiet=True)
    parts = [run_process_share(study, tmp_path / f"part{i}.h5", i, 2) for i in range(2)]
    with Run(parts[1]) as part:
        assert part.chunk_done.tolist() == [False, True, False] and not part.complete
    merged = merge_run_files(parts, tmp_path / "merged.h5")
    with Run(merged) as m, Run(whole) as w:
        assert m.complete and m.chunk_done.all()
        for name in ("final_loss", "grad_norm", "status", "steps", "trajectory"):
            np.testing.assert_array_equal(getattr(m, name), getattr(w, name))
        for a, b in zip(
            __import__("jax").tree.leaves(m.final_params), __import__("jax").tree.leaves(w.final_params), strict=True
        ):
            np.testing.assert_array_equal(a, b)


PALLAS_SCRIPT = textwrap.dedent(
    """
    import numpy as np, jax
    from landscape import Study, gpu_mlp, runner
    assert len(jax.local_devices()) == 2
    jax.default_backend = lambda: "gpu"  # a 2-GPU host, as far as the trainer choice goes
    gpu_mlp.INTERPRET = True  # the kernel in interpret mode on the CPU devices
    study = Study().replace(**{"n_inits": 64, "train.steps": 20, "task.n_points": 64, "train.trajectory_points": 6})
    sharded = runner.prepare(study)
    assert sharded.trainer_kind == "gpu_pallas" and sharded.n_devices == 2
    general = runner.prepare(study, fast=False, shard=False)
    _, a = runner.train_networks(sharded, np.arange(37))
    _, b = runner.train_networks(general, np.arange(37))
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_array_equal(a.steps, b.steps)
    for name in ("final_loss", "trajectory"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-4, atol=1e-6)
    for x, y in zip(jax.tree.leaves(a.final_params), jax.tree.leaves(b.final_params), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=2e-5)
    print("ok")
    """
)


def test_pallas_trainer_sharded_over_two_devices_equals_general():
    """The GPU trainer under shard_map (one kernel launch per device's slice), here on 2 forced CPU devices in
    Pallas interpret mode, against the unsharded general trainer."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", PALLAS_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
