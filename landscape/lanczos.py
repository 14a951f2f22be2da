"""Matrix-free curvature: Hessian-vector products, Lanczos, trace estimation, spectral density.

Everything here sees a symmetric operator only through ``matvec: (dim,) -> (dim,)``, so it
works for networks far too large for a dense Hessian. All functions are pure, jittable
(static ``dim``/``n_steps``/``n_probes``) and reproducible from an explicit PRNG key.

References:
  Lanczos (1950); full reorthogonalisation and "twice is enough" Gram-Schmidt: Parlett,
  *The Symmetric Eigenvalue Problem* (1998), ch. 13; Giraud et al. (2005).
  Hutchinson (1989) trace estimator; Hutch++: Meyer, Musco, Musco & Woodruff (2021).
  Stochastic Lanczos quadrature density: Ghorbani, Krishnan & Xiao (2019), "An Investigation
  into Neural Net Optimization via Hessian Eigenvalue Density", ICML; Golub & Meurant (2010).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

MatVec = Callable[[jax.Array], jax.Array]


def hessian_vector_product(loss: Callable[[jax.Array], jax.Array], point: jax.Array) -> MatVec:
    """``v -> H(point) v`` for a scalar ``loss`` of a flat vector, by forward-over-reverse AD.

    Args:
      loss: ``(dim,) -> ()``.
      point: ``(dim,)`` where the Hessian is taken.
    Returns:
      ``matvec: (dim,) -> (dim,)``; one call costs about two gradient evaluations
      (Pearlmutter 1994), and the Hessian is never formed.
    """
    grad = jax.grad(loss)

    def matvec(vector: jax.Array) -> jax.Array:
        return jax.jvp(grad, (point,), (vector,))[1]

    return matvec


class LanczosResult(NamedTuple):
    """A Lanczos tridiagonalisation ``Q A Q^T = T`` with ``T = tridiag(betas, alphas, betas)``.

    ``alphas`` (n_steps,), ``betas`` (n_steps - 1,) (a zero marks a restart after an invariant
    subspace was found), ``basis`` (n_steps, dim) orthonormal rows, the first the start vector.
    """

    alphas: jax.Array
    betas: jax.Array
    basis: jax.Array


def _orthogonalise(vector: jax.Array, basis: jax.Array) -> jax.Array:
    """Remove ``basis``'s rows from ``vector``; classical Gram-Schmidt applied twice."""
    for _ in range(2):
        vector = vector - basis.T @ (basis @ vector)
    return vector


def lanczos(matvec: MatVec, start: jax.Array, n_steps: int, key: jax.Array) -> LanczosResult:
    """Lanczos iteration with full reorthogonalisation against every previous basis vector.

    Each new vector is reorthogonalised twice against the whole basis, so the basis stays
    orthonormal to working precision and no ghost eigenvalues appear. When the Krylov space
    becomes invariant (a Hessian with repeated or zero eigenvalues does this early), the
    iteration restarts from a random vector orthogonal to the basis and records ``beta = 0``:
    the tridiagonal matrix splits into blocks, Ritz values stay exact, and the quadrature
    weights of the new block are zero (it is orthogonal to ``start``). With ``n_steps == dim``
    the Ritz values are the whole spectrum, multiplicities included.

    Args:
      matvec: ``(dim,) -> (dim,)``, a symmetric operator.
      start: ``(dim,)`` nonzero start vector (normalised here).
      n_steps: Krylov dimension, at most ``dim`` (static).
      key: PRNG key for restart vectors.
    Returns:
      :class:`LanczosResult`.
    """
    dim = start.shape[0]
    if not 1 <= n_steps <= dim:
        raise ValueError(f"n_steps must be in 1..{dim}, got {n_steps}")
    dtype = start.dtype
    eps = jnp.finfo(dtype).eps
    basis = jnp.zeros((n_steps, dim), dtype).at[0].set(start / jnp.linalg.norm(start))
    alphas = jnp.zeros((n_steps,), dtype)
    betas = jnp.zeros((max(n_steps - 1, 0),), dtype)

    def step(i: jax.Array, carry: tuple[Any, ...]) -> tuple[Any, ...]:
        basis, alphas, betas, scale = carry
        q = basis[i]
        w = matvec(q)
        alpha = jnp.dot(q, w)
        w = _orthogonalise(w, basis)  # rows past i are still zero, so this is "against 0..i"
        beta = jnp.linalg.norm(w)
        scale = jnp.maximum(scale, jnp.abs(alpha) + beta)
        broke_down = beta <= 100 * eps * jnp.sqrt(dim) * jnp.maximum(scale, jnp.finfo(dtype).tiny)
        fresh = _orthogonalise(jax.random.normal(jax.random.fold_in(key, i), (dim,), dtype), basis)
        fresh = _orthogonalise(fresh, basis)
        nxt = jnp.where(broke_down, fresh / jnp.linalg.norm(fresh), w / jnp.where(broke_down, 1.0, beta))
        alphas = alphas.at[i].set(alpha)
        if n_steps > 1:
            last = i + 1 < n_steps
            basis = jnp.where(last, basis.at[jnp.minimum(i + 1, n_steps - 1)].set(nxt), basis)
            betas = jnp.where(last, betas.at[jnp.minimum(i, n_steps - 2)].set(jnp.where(broke_down, 0.0, beta)), betas)
        return basis, alphas, betas, scale

    basis, alphas, betas, _ = jax.lax.fori_loop(0, n_steps, step, (basis, alphas, betas, jnp.zeros((), dtype)))
    return LanczosResult(alphas, betas, basis)


def tridiagonal(result: LanczosResult) -> jax.Array:
    """The ``(n_steps, n_steps)`` tridiagonal matrix ``T`` of a Lanczos run."""
    return jnp.diag(result.alphas) + jnp.diag(result.betas, 1) + jnp.diag(result.betas, -1)


def ritz_pairs(result: LanczosResult) -> tuple[jax.Array, jax.Array]:
    """Ritz values ``(n_steps,)`` ascending and Ritz vectors ``(n_steps, dim)`` (rows)."""
    values, vectors = jnp.linalg.eigh(tridiagonal(result))
    return values, vectors.T @ result.basis


def extreme_eigenpairs(
    matvec: MatVec, dim: int, k: int, key: jax.Array, n_steps: int | None = None, dtype: Any = jnp.float32
) -> dict[str, jax.Array]:
    """Top-``k`` and bottom-``k`` eigenpairs of a symmetric operator by one Lanczos run.

    Args:
      matvec: ``(dim,) -> (dim,)``.
      k: number of eigenpairs at each end (static).
      key: PRNG key (start vector and restarts).
      n_steps: Krylov dimension (default ``min(dim, max(4k, 40))``).
    Returns:
      ``top_values`` (k,) descending, ``top_vectors`` (k, dim), ``bottom_values`` (k,)
      ascending, ``bottom_vectors`` (k, dim). With ``n_steps < dim`` the extreme Ritz values
      converge first (Kaniel-Paige theory); interior ones may not be eigenvalues yet.
    """
    n_steps = min(dim, max(4 * k, 40)) if n_steps is None else min(n_steps, dim)
    k = min(k, n_steps)
    start_key, restart_key = jax.random.split(key)
    result = lanczos(matvec, jax.random.normal(start_key, (dim,), dtype), n_steps, restart_key)
    values, vectors = ritz_pairs(result)
    return {
        "top_values": values[::-1][:k],
        "top_vectors": vectors[::-1][:k],
        "bottom_values": values[:k],
        "bottom_vectors": vectors[:k],
    }


def _rademacher(key: jax.Array, shape: tuple[int, ...], dtype: Any) -> jax.Array:
    return jax.random.rademacher(key, shape, dtype=dtype)


def hutchinson_trace(
    matvec: MatVec, dim: int, key: jax.Array, n_probes: int = 64, dtype: Any = jnp.float32
) -> jax.Array:
    """Hutchinson's (1989) estimate ``mean_i z_i^T A z_i`` of ``tr A`` with Rademacher ``z_i``.

    Unbiased; variance ``2 (||A||_F^2 - sum_i A_ii^2) / n_probes``.
    """
    probes = _rademacher(key, (n_probes, dim), dtype)
    return jnp.mean(jax.vmap(lambda z: jnp.dot(z, matvec(z)))(probes))


def hutchpp_trace(matvec: MatVec, dim: int, key: jax.Array, n_matvecs: int = 66, dtype: Any = jnp.float32) -> jax.Array:
    """Hutch++ (Meyer, Musco, Musco & Woodruff 2021): ``tr A`` with error O(1/n_matvecs).

    A third of the budget sketches the top of the spectrum (``Q = orth(A S)``), whose trace is
    taken exactly; Hutchinson estimates the rest on the complement. Exact when the rank of
    ``A`` is at most ``n_matvecs // 3``. Much better than Hutchinson for low-rank-plus-small
    Hessians, which is what trained networks have.
    """
    m = max(n_matvecs // 3, 1)
    sketch_key, probe_key = jax.random.split(key)
    batched = jax.vmap(matvec)
    sketch = _rademacher(sketch_key, (m, dim), dtype)
    q = orthonormal_columns(batched(sketch).T)  # (dim, m), columns past the rank are zero
    top = jnp.trace(q.T @ batched(q.T).T)
    probes = _rademacher(probe_key, (m, dim), dtype)
    projected = probes - (probes @ q) @ q.T
    rest = jnp.sum(projected * batched(projected)) / m
    return top + rest


def orthonormal_columns(matrix: jax.Array) -> jax.Array:
    """An orthonormal basis of the column space of ``matrix`` (n, m), as (n, m) columns.

    Gram-Schmidt applied twice per column ("twice is enough", Giraud et al. 2005); columns
    that add nothing new (rank deficiency) come back as zeros. Pure JAX on purpose, not
    ``jnp.linalg.qr``: on CPU, jaxlib's batched LAPACK kernels (QR, eigh) split a vmapped
    batch over XLA's intra-op thread pool and block a pool thread until the pieces finish. Two
    such kernels running at once (the Lanczos ``eigh`` and the Hutch++ QR are independent, so
    XLA runs them concurrently) can block every thread of a small pool (two on a 2-core
    machine) with the pieces still queued: a deadlock at 0% CPU. With one LAPACK call per
    compiled function at most one pool thread ever waits.
    """
    n, m = matrix.shape
    eps = jnp.finfo(matrix.dtype).eps
    scale = jnp.max(jnp.linalg.norm(matrix, axis=0))
    threshold = 100 * eps * jnp.sqrt(n) * jnp.maximum(scale, jnp.finfo(matrix.dtype).tiny)

    def column(j: jax.Array, basis: jax.Array) -> jax.Array:
        vector = _orthogonalise(matrix[:, j], basis.T)  # columns past j are still zero
        norm = jnp.linalg.norm(vector)
        keep = norm > threshold
        return basis.at[:, j].set(jnp.where(keep, vector / jnp.where(keep, norm, 1.0), 0.0))

    return jax.lax.fori_loop(0, m, column, jnp.zeros_like(matrix))


def slq_nodes_weights(
    matvec: MatVec, dim: int, key: jax.Array, n_probes: int = 8, n_steps: int = 64, dtype: Any = jnp.float32
) -> tuple[jax.Array, jax.Array]:
    """Stochastic Lanczos quadrature (Ghorbani, Krishnan & Xiao 2019, Alg. 1).

    For each Gaussian probe ``v`` (normalised), ``n_steps`` of Lanczos from ``v`` give the
    Gauss quadrature rule ``v^T f(A) v ~= sum_j weights_j f(nodes_j)`` (nodes = Ritz values,
    weights = squared first components of the tridiagonal's eigenvectors); it is exact for
    polynomials of degree < 2 n_steps. Averaged over probes this estimates the spectral
    density ``(1/dim) sum_i delta(t - lambda_i)``.

    Returns:
      ``nodes`` (n_probes, n_steps) and ``weights`` (n_probes, n_steps), each row summing to 1.
    """
    n_steps = min(n_steps, dim)

    def one(probe_key: jax.Array) -> tuple[jax.Array, jax.Array]:
        start_key, restart_key = jax.random.split(probe_key)
        result = lanczos(matvec, jax.random.normal(start_key, (dim,), dtype), n_steps, restart_key)
        values, vectors = jnp.linalg.eigh(tridiagonal(result))
        return values, vectors[0] ** 2

    return jax.vmap(one)(jax.random.split(key, n_probes))


def slq_density(nodes: jax.Array, weights: jax.Array, grid: jax.Array, sigma: float) -> jax.Array:
    """Spectral density on ``grid`` (G,) from SLQ ``nodes``/``weights`` (n_probes, n_steps).

    Each quadrature node is smoothed by a Gaussian of width ``sigma`` (Ghorbani et al. 2019,
    eq. 3); the result integrates to one over the real line.
    """
    kernel = jnp.exp(-0.5 * ((grid[:, None, None] - nodes[None]) / sigma) ** 2) / (sigma * jnp.sqrt(2 * jnp.pi))
    return jnp.mean(jnp.sum(kernel * weights[None], axis=-1), axis=-1)


def exact_density(eigenvalues: jax.Array, grid: jax.Array, sigma: float) -> jax.Array:
    """The same Gaussian-smoothed density from exact eigenvalues ``(dim,)``: the SLQ reference."""
    kernel = jnp.exp(-0.5 * ((grid[:, None] - eigenvalues[None]) / sigma) ** 2) / (sigma * jnp.sqrt(2 * jnp.pi))
    return jnp.mean(kernel, axis=-1)
