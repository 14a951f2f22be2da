"""A bring-your-own model: the two-layer ReLU teacher-student problem of Safran & Shamir (2018).

Safran, I. & Shamir, O. (2018). "Spurious Local Minima are Common in Two-Layer ReLU Neural
Networks." ICML. The student is ``x -> sum_i relu(w_i . x)`` with ``n`` hidden units and output
weights fixed at 1; the teacher is the same with ``k`` orthonormal weight vectors ``v_j``; inputs
are standard Gaussian in ``d`` dimensions. The population loss

    F(W) = 1/2 E_x[(sum_i relu(w_i . x) - sum_j relu(v_j . x))^2]

has a closed form (no dataset), from ``E[relu(u . x) relu(v . x)] = |u||v| (sin t + (pi - t) cos t) / (2 pi)``
with ``t`` the angle between ``u`` and ``v`` (Cho & Saul 2009). Safran & Shamir found that gradient
descent from random inits ends in spurious (non-global) minima more and more often as ``n = k``
grows from 6 to 20.

Use it from a study file (the run file records the factories, so every command rebuilds them)::

    [model]
    factory = "landscape.examples.teacher_student:make_model"   # n = model.hidden[0]
    [train]
    loss = "landscape.examples.teacher_student:make_loss"
    [task]
    name = "teacher"                 # k = teacher_width orthonormal vectors in dim d
    teacher_orthonormal = true
    distribution = "gaussian"
    n_points = 0                     # no dataset: the loss is the population loss

See ``runs/teacher_student.toml``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..config import Study
from ..models import Model
from ..tasks import teacher_weights
from ..types import Loss, Params

SMALL_ANGLE = {"float64": 1e-6, "float32": 3e-3}  # radians: below it the kernel uses its series (see arccos_kernel)


def arccos_kernel(u: jax.Array, v: jax.Array) -> jax.Array:
    """``E[relu(u_i . x) relu(v_j . x)]`` for x ~ N(0, I): ``(m, d), (p, d) -> (m, p)`` (Cho & Saul 2009).

    ``|u||v| J(t) / (2 pi)`` with ``J(t) = sin t + (pi - t) cos t`` and ``t`` the angle between the
    vectors. ``J`` is twice differentiable where the vectors align, but ``arccos`` is not: below the
    angle :data:`SMALL_ANGLE` ``J`` comes from its series in ``t^2 = 2e + e^2/3 + 8e^3/45`` (``e = 1 - cos t``,
    analytic there), ``J = pi - pi t^2/2 + pi t^4/24`` (the ``t^3/3`` term changes values by < 1e-18
    and second derivatives by < 2e-6 there), so gradients and Hessians at a perfect fit are exact.
    :func:`population_loss` takes a unit's pairing with itself from the exact ``|u|^2 / 2``.
    """
    small_angle = SMALL_ANGLE[jnp.dtype(u.dtype).name]
    norm_u = jnp.sqrt(jnp.sum(u**2, axis=1) + 1e-30)
    norm_v = jnp.sqrt(jnp.sum(v**2, axis=1) + 1e-30)
    cosine = (u @ v.T) / (norm_u[:, None] * norm_v[None, :])  # unclipped: a clip's zero gradient at 1 would cut it
    gap = 1.0 - cosine
    small = gap < 0.5 * small_angle**2
    # the two branches see safe inputs only (no inf/NaN gradients from the branch not taken)
    safe_cosine = jnp.where(small, 0.0, jnp.clip(cosine, -1.0 + 1e-15, 1.0))
    angle = jnp.arccos(safe_cosine)
    exact = jnp.sin(angle) + (jnp.pi - angle) * safe_cosine
    safe_gap = jnp.where(small, gap, 0.0)
    angle2 = 2.0 * safe_gap + safe_gap**2 / 3.0 + 8.0 * safe_gap**3 / 45.0
    series = jnp.pi - jnp.pi * angle2 / 2.0 + jnp.pi * angle2**2 / 24.0
    return norm_u[:, None] * norm_v[None, :] * jnp.where(small, series, exact) / (2 * jnp.pi)


def population_loss(w: jax.Array, v: jax.Array) -> jax.Array:
    """Safran & Shamir's ``F(W)`` for student rows ``w (n, d)`` and teacher rows ``v (k, d)``."""
    student = arccos_kernel(w, w)
    student = student - jnp.diag(jnp.diag(student)) + jnp.diag(0.5 * jnp.sum(w**2, axis=1))
    cross = arccos_kernel(w, v)
    teacher = 0.5 * jnp.sum(v**2) + jnp.sum(arccos_kernel(v, v) * (1.0 - jnp.eye(v.shape[0])))
    return 0.5 * (jnp.sum(student) - 2.0 * jnp.sum(cross) + teacher)


def teacher_rows(study: Study) -> np.ndarray:
    """The teacher's ``(k, d)`` orthonormal weight vectors: the same as the study's ``teacher`` task draws."""
    w, _, _ = teacher_weights(study.task)
    return np.asarray(w.T)


def make_model(study: Study) -> Model:
    """The student: ``n = model.hidden[0]`` units in ``d = task.dim`` inputs, params ``{"w": (n, d)}``.

    Init: ``w_ij ~ N(0, 1/d)`` (Xavier-like, as in the paper), times ``init.scale``.
    """
    n, d, scale = study.model.hidden[0], study.task.dim, study.init.scale
    dtype = jnp.float64 if study.train.dtype == "float64" else jnp.float32

    def init(key: jax.Array) -> Params:
        return {"w": scale * jax.random.normal(key, (n, d), dtype) / np.sqrt(d)}

    def apply(
        params: Params, x: jax.Array, dropout_key: jax.Array | None = None, dropout_rate: float = 0.0
    ) -> jax.Array:
        return jnp.sum(jax.nn.relu(x @ params["w"].T), axis=1)

    return Model(init=init, apply=apply, name=f"{d}-{n}-1 ReLU student, unit output weights (Safran & Shamir 2018)")


def make_loss(study: Study) -> Loss:
    """The closed-form population loss against the study's orthonormal teacher; ignores x and y."""
    teacher = teacher_rows(study)

    def loss(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
        w = params["w"]
        return population_loss(w, jnp.asarray(teacher, w.dtype))

    return loss


__all__ = ["SMALL_ANGLE", "arccos_kernel", "make_loss", "make_model", "population_loss", "teacher_rows"]
