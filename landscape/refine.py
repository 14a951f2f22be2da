"""Newton refinement: move trained networks onto the critical points they are close to.

Training stops at a gradient norm of about ``train.grad_tol`` in the training dtype; a Hessian taken
there mixes the curvature of the minimum with the slope still left, and small eigenvalues are not
yet separated from zero. A few damped Newton steps in float64 (Levenberg 1944, Marquardt 1963, on
the full Hessian: ``(H + mu I) d = -g``, a step kept only when it lowers the loss, ``mu`` shrunk
after a kept step and grown after a refused one) bring a network that sits near a smooth minimum to
a gradient norm of about ``1e-13``, and leave one that does not where it is:

* a network whose minimum lies on a kink of a piecewise-linear activation (a data point exactly on a
  unit's hyperplane, common in deep ReLU networks on many points) stops with a non-vanishing
  gradient: the loss is not differentiable there and its Hessian is one side's;
* since a step must lower the loss, a saddle is left rather than approached.

Steps keep the loss non-increasing, so refinement never moves a network to a different basin
through a barrier. Works for any model and loss twice differentiable almost everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from .types import Params

REFINE_TOL = 1e-10  # gradient norm below which a refined network counts as stationary


def refine_one(
    loss: Callable[[Params], jax.Array],
    params: Params,
    steps: int,
    residuals: Callable[[Params], jax.Array] | None = None,
) -> tuple[Params, dict[str, jax.Array]]:
    """Damped Newton refinement of one network (module doc); run in float64.

    Args:
      loss: ``params -> scalar`` (e.g. ``problem.loss``); params: one network.
      steps: iterations (each one curvature matrix and one solve).
      residuals: for a mean-squared-error loss, ``params -> (m,)`` with ``loss = mean(residuals**2)``:
        the curvature is then the Gauss-Newton matrix ``2 J^T J / m`` (Levenberg-Marquardt proper; one
        Jacobian per step instead of a Hessian, and positive semi-definite).
    Returns:
      ``(params, info)``: the refined parameters and ``grad_norm`` (after), ``grad_norm_before``,
      ``loss_before``, ``loss`` (after), ``accepted`` (number of kept steps). Jittable.
    """
    flat, unravel = ravel_pytree(params)

    def flat_loss(vector: jax.Array) -> jax.Array:
        return loss(unravel(vector))

    gradient = jax.grad(flat_loss)
    if residuals is None:
        hessian = jax.hessian(flat_loss)
    else:

        def hessian(vector: jax.Array) -> jax.Array:
            jacobian = jax.jacfwd(lambda v: jnp.reshape(residuals(unravel(v)), (-1,)))(vector)
            return 2.0 * (jacobian.T @ jacobian) / jacobian.shape[0]

    eye = jnp.eye(flat.shape[0], dtype=flat.dtype)

    def step(carry: tuple, _: Any) -> tuple[tuple, None]:
        vector, value, grad, damping, accepted = carry
        curvature = hessian(vector)
        scale = jnp.maximum(jnp.max(jnp.abs(jnp.diag(curvature))), jnp.finfo(flat.dtype).tiny)
        move = jnp.linalg.solve(curvature + damping * scale * eye, -grad)
        candidate = vector + move
        new_value, new_grad = flat_loss(candidate), gradient(candidate)
        lower = new_value < value
        # below rounding the loss cannot tell: then keep a step that shrinks the gradient and not the loss' value
        level = (new_value <= value + 4 * jnp.finfo(flat.dtype).eps * jnp.abs(value)) & (
            jnp.linalg.norm(new_grad) < jnp.linalg.norm(grad)
        )
        keep = jnp.isfinite(new_value) & (lower | level)
        return (
            jnp.where(keep, candidate, vector),
            jnp.where(keep, new_value, value),
            jnp.where(keep, new_grad, grad),
            jnp.clip(jnp.where(keep, damping / 3, damping * 4), 1e-15, 1e15),
            accepted + keep.astype(jnp.int32),
        ), None

    value, grad = flat_loss(flat), gradient(flat)
    start = (flat, value, grad, jnp.asarray(1e-3, flat.dtype), jnp.zeros((), jnp.int32))
    (vector, new_value, new_grad, _, accepted), _ = jax.lax.scan(step, start, None, length=steps)
    info = {
        "grad_norm_before": jnp.linalg.norm(grad),
        "grad_norm": jnp.linalg.norm(new_grad),
        "loss_before": value,
        "loss": new_value,
        "accepted": accepted,
    }
    return unravel(vector), info


def kink_margin(params: Params, x: jax.Array, activation: Callable[[jax.Array], jax.Array]) -> jax.Array:
    """Smallest ``|pre-activation|`` of any hidden unit on any data point, relative to that layer's
    largest, for one built-in MLP: about ``1e-15`` when a data point sits on a unit's kink."""
    from .models import hidden_preactivations

    margins = [
        jnp.min(jnp.abs(z)) / jnp.maximum(jnp.max(jnp.abs(z)), jnp.finfo(z.dtype).tiny)
        for z in hidden_preactivations(params, x, activation)
    ]
    return jnp.min(jnp.stack(margins)) if margins else jnp.asarray(jnp.inf)


__all__ = ["REFINE_TOL", "kink_margin", "refine_one"]
