"""Stationary points, checked: minimum, saddle (with its index) or not stationary; and Hessian-based
searches that converge onto them (eigenvector following towards index-1 saddles, rational-function
descent towards minima).

Everything here works on ONE point of a loss over a flat parameter vector ``(n_params,)``:
``loss_fn(flat) -> scalar``. Batches of points ``vmap`` over these functions.

**The one rule** (:func:`stationary_kind`): a point is *stationary* when its gradient norm is below
a stated tolerance ``grad_tol``; only then is it a *minimum* (Hessian index 0) or a *saddle* (index
>= 1). Everything else is *not stationary*, whatever its Hessian looks like. Every command says it
this way (``landscape hessian``, ``landscape paths``, ``landscape map``).

**Index outside the symmetry null space.** Neural-network losses have exact flat directions
(positive rescaling of a live ReLU unit, every parameter of a dead unit, the bias trade of a
unit active on all data: :func:`landscape.curvature.symmetry_directions`). Away from an exact
critical point a symmetry direction's eigenvalue is of the size of the gradient and of either
sign, so it must not count. Here the Hessian is projected onto the orthogonal complement of the
symmetry directions (``Q H Q`` with ``Q = I - N N^T``, ``N`` an orthonormal basis of them) and the
null directions are given a large positive curvature, so they are never followed, never
stepped along and never counted. The index is the number of the remaining eigenvalues below
``-tolerance``, with :func:`landscape.curvature.zero_tolerance`'s rule
(``rtol * max|lambda| + atol`` over the non-null eigenvalues).

**Searches** (:func:`refine_saddle`, :func:`descend`): partitioned rational function optimisation
(P-RFO), the eigenvector-following method of Cerjan & Miller (1981) in Baker's (1986) form. In the
eigenbasis of the projected Hessian, with gradient components ``g_i``, the lowest mode is
maximised with shift ``lambda_p = lambda_0/2 + sqrt(lambda_0^2/4 + g_0^2)`` and every other mode
minimised with ``lambda_n`` the lowest eigenvalue of the bordered matrix
``[[diag(lambda_1..), g], [g^T, 0]]``; the step is ``-g_i / (lambda_i - shift)`` per mode, cut
to a trust radius. With no uphill mode it is plain RFO minimisation (a Newton step made safe
far from a minimum). Both run in ``lax.while_loop`` until the gradient norm is below the
tolerance or the iteration budget is spent; convergence is returned as data.

References:
  Cerjan & Miller (1981), J. Chem. Phys. 75, 2800; Baker (1986), An algorithm for the location
  of transition states, J. Comput. Chem. 7, 385; Wales (2003), Energy Landscapes, ch. 6.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

FlatLoss = Callable[[jax.Array], jax.Array]  # (n_params,) -> scalar
NullBasis = Callable[[jax.Array], jax.Array]  # (n_params,) -> (n_params, n_null) columns (zeros allowed)

# kind codes of stationary_kind
MINIMUM, SADDLE, NOT_STATIONARY = 0, 1, 2
KIND_NAMES = ("minimum", "saddle", "not stationary")
ZERO_RTOL = 1e-4  # as landscape.curvature
ZERO_ATOL = 1e-7
NULL_RTOL = 1e-6  # singular values of the symmetry directions below this (relative) span nothing
# A search stops when its progress measure (the loss descending, the gradient norm climbing) has not
# fallen by STALL_RTOL (relative) for STALL_PATIENCE iterations: e.g. on a kink of a ReLU loss, where
# a data point sits on a unit's hyperplane and the gradient jumps, so it cannot fall below any tolerance.
STALL_RTOL = 1e-12
STALL_PATIENCE = 25


# ---------------------------------------------------------------------------------------------
# The rule.


def stationary_kind(grad_norm: Any, index: Any, grad_tol: float) -> Any:
    """Kind codes: :data:`NOT_STATIONARY` where ``grad_norm >= grad_tol`` (or not finite), else
    :data:`SADDLE` where ``index > 0``, else :data:`MINIMUM`. NumPy or JAX arrays, any shape."""
    xp = jnp if isinstance(grad_norm, jax.Array) or isinstance(index, jax.Array) else np
    grad_norm = xp.asarray(grad_norm)
    stationary = xp.isfinite(grad_norm) & (grad_norm < grad_tol)
    return xp.where(stationary, xp.where(xp.asarray(index) > 0, SADDLE, MINIMUM), NOT_STATIONARY)


def describe_kind(kind: int, index: int, grad_norm: float, grad_tol: float) -> str:
    """The words every command prints: ``minimum``, ``saddle of index 2``, or
    ``not stationary (|grad| 2.1e-03 >= 1e-05)``."""
    kind = int(kind)
    if kind == NOT_STATIONARY:
        return f"not stationary (|grad| {grad_norm:.2g} >= {grad_tol:.0e})"
    return "minimum" if kind == MINIMUM else f"saddle of index {int(index)}"


# ---------------------------------------------------------------------------------------------
# Curvature outside the symmetry null space.


def no_null_space(flat: jax.Array) -> jax.Array:
    """The null basis of a loss without symmetries: ``(n_params, 0)``."""
    return jnp.zeros((flat.shape[0], 0), flat.dtype)


def orthonormal_columns(directions: jax.Array, keep: jax.Array | None = None) -> jax.Array:
    """An orthonormal basis ``(n_params, min(n_params, n_dirs))`` of the span of the kept columns of
    ``directions`` (others zeroed); columns beyond the rank are zero. Static shapes (vmaps)."""
    if directions.shape[1] == 0:
        return directions
    if keep is not None:
        directions = directions * keep[None, :].astype(directions.dtype)
    u, s, _ = jnp.linalg.svd(directions, full_matrices=False)
    scale = jnp.max(s)
    spans = s > NULL_RTOL * jnp.where(scale > 0, scale, 1.0)
    return u * (spans & (scale > 0))[None, :].astype(u.dtype)


def projected_hessian(hessian: jax.Array, null_basis: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(H_proj, Q, stiff)``: ``Q H Q + stiff * N N^T`` with ``Q = I - N N^T``, where ``stiff`` is
    far above every curvature, so null directions become stiff positive modes."""
    n = hessian.shape[0]
    projector = null_basis @ null_basis.T
    complement = jnp.eye(n, dtype=hessian.dtype) - projector
    stiff = 1e3 * (1.0 + jnp.max(jnp.abs(hessian)))
    inside = complement @ hessian @ complement
    return 0.5 * (inside + inside.T) + stiff * projector, complement, stiff


class Curvature(NamedTuple):
    """Gradient and curvature of one point outside the symmetry null space.

    Attributes:
      loss, grad_norm: scalars (the full gradient).
      eigenvalues: ``(n_params,)`` ascending eigenvalues of the projected Hessian; null directions
        read ``+inf``.
      eigenvectors: ``(n_params, n_params)`` columns, same order.
      index: eigenvalues below ``-tolerance``; tolerance: ``rtol * max|lambda| + atol`` (non-null).
      n_null: dimension of the symmetry null space removed.
      kind: :func:`stationary_kind` code.
    """

    loss: jax.Array
    grad_norm: jax.Array
    eigenvalues: jax.Array
    eigenvectors: jax.Array
    index: jax.Array
    tolerance: jax.Array
    n_null: jax.Array
    kind: jax.Array


def curvature(
    loss_fn: FlatLoss,
    flat: jax.Array,
    null_fn: NullBasis = no_null_space,
    grad_tol: float = 1e-6,
    zero_rtol: float = ZERO_RTOL,
    zero_atol: float = ZERO_ATOL,
    hessian_fn: Callable[[jax.Array], jax.Array] | None = None,
) -> Curvature:
    """Is ``flat`` a minimum, a saddle (of which index) or not stationary? (jittable, vmaps)

    Args:
      loss_fn: ``(n_params,) -> scalar``; flat: the point.
      null_fn: ``flat -> (n_params, n_null)`` orthonormal symmetry directions (zero columns allowed).
      grad_tol: stationary when the gradient norm is below this.
      hessian_fn: ``flat -> (n_params, n_params)`` (default ``jax.hessian(loss_fn)``).
    """
    loss, grad = jax.value_and_grad(loss_fn)(flat)
    hessian = (hessian_fn or jax.hessian(loss_fn))(flat)
    null_basis = null_fn(flat)
    projected, _, stiff = projected_hessian(hessian, null_basis)
    values, vectors = jnp.linalg.eigh(projected)
    null = values > 0.5 * stiff
    magnitude = jnp.where(null, 0.0, jnp.abs(values))
    tolerance = zero_rtol * jnp.max(magnitude) + zero_atol
    index = jnp.sum((values < -tolerance) & ~null).astype(jnp.int32)
    grad_norm = jnp.linalg.norm(grad)
    return Curvature(
        loss,
        grad_norm,
        jnp.where(null, jnp.inf, values),
        vectors,
        index,
        tolerance,
        jnp.sum(null).astype(jnp.int32),
        stationary_kind(grad_norm, index, grad_tol),
    )


# ---------------------------------------------------------------------------------------------
# Eigenvector following (P-RFO) and RFO descent.


def prfo_step(
    grad: jax.Array, hessian: jax.Array, null_basis: jax.Array, uphill: bool, trust_radius: float
) -> jax.Array:
    """One P-RFO step (``uphill``: maximise along the lowest non-null mode) or RFO step, cut to
    ``trust_radius``. ``grad (P,)``, ``hessian (P, P)``, ``null_basis (P, k)``."""
    projected, complement, _ = projected_hessian(hessian, null_basis)
    grad = complement @ grad
    values, vectors = jnp.linalg.eigh(projected)
    g = vectors.T @ grad
    tiny = jnp.finfo(grad.dtype).tiny
    if uphill:
        lam0, g0 = values[0], g[0]
        shift_up = 0.5 * lam0 + 0.5 * jnp.sqrt(lam0**2 + 4.0 * g0**2)
        denominator = lam0 - shift_up
        step0 = jnp.where(
            jnp.abs(denominator) > tiny, -g0 / jnp.where(jnp.abs(denominator) > tiny, denominator, 1.0), 0.0
        )
        rest_values, rest_g = values[1:], g[1:]
    else:
        rest_values, rest_g = values, g
    m = rest_values.shape[0]
    bordered = (
        jnp.zeros((m + 1, m + 1), grad.dtype)
        .at[:m, :m]
        .set(jnp.diag(rest_values))
        .at[:m, m]
        .set(rest_g)
        .at[m, :m]
        .set(rest_g)
    )
    shift_down = jnp.linalg.eigvalsh(bordered)[0]
    denominator = rest_values - shift_down
    safe = jnp.abs(denominator) > tiny
    rest_step = jnp.where(safe, -rest_g / jnp.where(safe, denominator, 1.0), 0.0)
    modes = jnp.concatenate([step0[None], rest_step]) if uphill else rest_step
    step = vectors @ modes
    length = jnp.linalg.norm(step)
    return step * jnp.minimum(1.0, trust_radius / jnp.maximum(length, tiny))


class SearchResult(NamedTuple):
    """Where a search ended: ``params (P,)``, ``loss``, ``grad_norm``, ``iterations``,
    ``converged`` (gradient norm below the tolerance)."""

    params: jax.Array
    loss: jax.Array
    grad_norm: jax.Array
    iterations: jax.Array
    converged: jax.Array


def _search(
    loss_fn: FlatLoss,
    flat: jax.Array,
    null_fn: NullBasis,
    uphill: bool,
    grad_tol: float,
    max_iterations: int,
    trust_radius: float,
    hessian_fn: Callable[[jax.Array], jax.Array] | None,
) -> SearchResult:
    hess = hessian_fn or jax.hessian(loss_fn)
    value_and_grad = jax.value_and_grad(loss_fn)

    def progress(loss: jax.Array, grad: jax.Array) -> jax.Array:
        # what must keep falling: the loss when descending, the gradient norm when climbing
        return jnp.linalg.norm(grad) if uphill else loss

    def cond(state: tuple) -> jax.Array:
        _, _, grad, iteration, _, since = state
        grad_norm = jnp.linalg.norm(grad)
        return (
            (grad_norm >= grad_tol) & (iteration < max_iterations) & jnp.isfinite(grad_norm) & (since < STALL_PATIENCE)
        )

    def body(state: tuple) -> tuple:
        point, _, grad, iteration, best, since = state
        point = point + prfo_step(grad, hess(point), null_fn(point), uphill, trust_radius)
        loss, grad = value_and_grad(point)
        measure = progress(loss, grad)
        improved = measure < best - STALL_RTOL * jnp.abs(best)
        return point, loss, grad, iteration + 1, jnp.where(improved, measure, best), jnp.where(improved, 0, since + 1)

    loss, grad = value_and_grad(flat)
    state = (flat, loss, grad, jnp.zeros((), jnp.int32), progress(loss, grad), jnp.zeros((), jnp.int32))
    point, loss, grad, iterations, _, _ = jax.lax.while_loop(cond, body, state)
    grad_norm = jnp.linalg.norm(grad)
    return SearchResult(point, loss, grad_norm, iterations, grad_norm < grad_tol)


def refine_saddle(
    loss_fn: FlatLoss,
    flat: jax.Array,
    null_fn: NullBasis = no_null_space,
    grad_tol: float = 1e-8,
    max_iterations: int = 200,
    trust_radius: float = 0.1,
    hessian_fn: Callable[[jax.Array], jax.Array] | None = None,
) -> SearchResult:
    """Converge from ``flat`` (e.g. a climbing image) onto an index-1 saddle by eigenvector following
    (P-RFO, Baker 1986) outside the symmetry null space. Verify the result with :func:`curvature`."""
    return _search(loss_fn, flat, null_fn, True, grad_tol, max_iterations, trust_radius, hessian_fn)


def descend(
    loss_fn: FlatLoss,
    flat: jax.Array,
    null_fn: NullBasis = no_null_space,
    grad_tol: float = 1e-8,
    max_iterations: int = 500,
    trust_radius: float = 0.1,
    hessian_fn: Callable[[jax.Array], jax.Array] | None = None,
) -> SearchResult:
    """Converge from ``flat`` onto a minimum by RFO steps (every mode minimised) outside the symmetry
    null space."""
    return _search(loss_fn, flat, null_fn, False, grad_tol, max_iterations, trust_radius, hessian_fn)


def step_off(flat: jax.Array, direction: jax.Array, distance: float) -> jax.Array:
    """``(2, P)``: the two points ``flat -/+ distance * direction / |direction|`` (the downhill sides
    of a saddle along its negative-curvature eigenvector)."""
    unit = direction / jnp.linalg.norm(direction)
    return jnp.stack([flat - distance * unit, flat + distance * unit])
