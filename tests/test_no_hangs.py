"""No hangs: the compiled Lanczos path finishes every time (run many times under a timeout).

On CPU, jaxlib's batched LAPACK kernels split a vmapped batch over XLA's intra-op thread pool
and block a pool thread until the pieces are done; two of them running at once (the Lanczos
``eigh`` and Hutch++'s QR) could block both threads of a 2-core machine's pool: a deadlock at
0% CPU in about 1 of 25 calls. The Hutch++ basis is now pure JAX (see
``landscape.lanczos.orthonormal_columns``).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

from landscape.lanczos import hutchpp_trace, orthonormal_columns

REPEATS = """
import jax, jax.numpy as jnp, numpy as np
jax.config.update("jax_enable_x64", True)
from landscape import curvature
from landscape.config import InitConfig, ModelConfig
from landscape.models import make_mlp

model = make_mlp(ModelConfig(hidden=(3,)), InitConfig(), 2, 1, jnp.float64)
n = 64
params = jax.vmap(model.init)(jax.random.split(jax.random.PRNGKey(0), n))
x = jnp.asarray(np.random.default_rng(0).normal(size=(128, 2)))
y = jnp.linalg.norm(x, axis=1)
loss = curvature.loss_of_model(model)
batch = jax.jit(jax.vmap(lambda p, k: curvature.lanczos_curvature_one(loss, p, x, y, k, 5)))
for i in range({repeats}):
    p = jax.tree.map(lambda leaf: np.asarray(leaf) * (1 + 1e-3 * i), params)
    out = jax.device_get(batch(p, jax.random.split(jax.random.PRNGKey(i), n)))
    assert np.isfinite(out["trace"]).all()
print("finished")
"""


def test_the_compiled_lanczos_path_never_hangs():
    code = textwrap.dedent(REPEATS.format(repeats=200))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "finished" in done.stdout


def test_orthonormal_columns_spans_the_columns_and_zeroes_the_rest():
    rng = np.random.default_rng(1)
    with jax.enable_x64(True):
        low_rank = rng.normal(size=(9, 3)) @ rng.normal(size=(3, 6))
        q = np.asarray(orthonormal_columns(jnp.asarray(low_rank)))
        kept = np.linalg.norm(q, axis=0) > 0.5
        assert kept.sum() == 3
        np.testing.assert_allclose(q[:, kept].T @ q[:, kept], np.eye(3), atol=1e-12)
        np.testing.assert_allclose(q @ (q.T @ low_rank), low_rank, atol=1e-10)  # same column space
        matrix = rng.normal(size=(20, 20))
        matrix = matrix + matrix.T
        exact = np.trace(matrix)
        estimate = float(
            hutchpp_trace(lambda v: jnp.asarray(matrix) @ v, 20, jax.random.PRNGKey(0), n_matvecs=60, dtype=jnp.float64)
        )
        np.testing.assert_allclose(estimate, exact, rtol=1e-10)  # rank <= n_matvecs // 3: exact
