"""Minimum-energy paths: the nudged elastic band with a climbing image.

A band is ``(n_images, n_params)`` points of a flat parameter vector from one minimum (image 0) to
another (image ``n_images - 1``); the ends stay fixed. Each interior image feels the true force
perpendicular to the path and a spring force along it; after ``climb_after`` steps the highest
image stops feeling springs and climbs along the tangent instead, so that it converges onto the
saddle point of the path (Henkelman, Uberuaga & Jonsson 2000). The tangent is the "improved
tangent" of Henkelman & Jonsson (2000): towards the higher neighbour, energy-weighted at extrema,
which keeps the band free of kinks. The whole band moves by FIRE (Bitzek et al. 2006) with a
fixed number of steps in ``lax.scan``, so one band is one compiled program and
:func:`neb_batch` ``vmap``-s it over pairs of minima.

Starting bands: :func:`line_band` (the straight line, e.g. after aligning the second minimum
onto the first) and :func:`curve_band` (any sampled curve, e.g. a trained Bezier curve), each
with images equally spaced in arc length.

References:
  Henkelman, Uberuaga & Jonsson (2000), A climbing image nudged elastic band method for finding
  saddle points and minimum energy paths, J. Chem. Phys. 113, 9901.
  Henkelman & Jonsson (2000), Improved tangent estimate in the nudged elastic band method for
  finding minimum energy paths and saddle points, J. Chem. Phys. 113, 9978.
  Bitzek, Koskinen, Gahler, Moseler & Gumbsch (2006), Structural relaxation made simple,
  Phys. Rev. Lett. 97, 170201 (FIRE).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

FlatLoss = Callable[[jax.Array], jax.Array]  # (n_params,) -> scalar


# ---------------------------------------------------------------------------------------------
# Starting bands.


def resample_by_arc_length(points: np.ndarray, n_images: int) -> np.ndarray:
    """``(n_images, P)`` points equally spaced in arc length along the polyline ``points (m, P)``
    (ends kept exactly). NumPy: building a band compiles nothing."""
    points = np.asarray(points)
    segment = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(segment)])
    targets = np.linspace(0.0, 1.0, n_images) * arc[-1]
    right = np.clip(np.searchsorted(arc, targets, side="right"), 1, points.shape[0] - 1)
    left = right - 1
    width = np.maximum(arc[right] - arc[left], np.finfo(float).tiny)
    w = np.clip((targets - arc[left]) / width, 0.0, 1.0)[:, None]
    band = (1 - w) * points[left] + w * points[right]
    band[0], band[-1] = points[0], points[-1]
    return band.astype(points.dtype)


def line_band(start: np.ndarray, end: np.ndarray, n_images: int) -> np.ndarray:
    """``(n_images, P)``: the straight line from ``start`` to ``end``, equally spaced."""
    start, end = np.asarray(start), np.asarray(end)
    t = np.linspace(0.0, 1.0, n_images)[:, None]
    band = (1 - t) * start + t * end
    band[0], band[-1] = start, end
    return band.astype(start.dtype)


def curve_band(curve: Callable[[np.ndarray], np.ndarray], n_images: int, n_samples: int = 401) -> np.ndarray:
    """``(n_images, P)`` images equally spaced in arc length along ``curve(t) -> (P,)``, t in [0, 1]."""
    return resample_by_arc_length(np.stack([np.asarray(curve(t)) for t in np.linspace(0.0, 1.0, n_samples)]), n_images)


def bezier_band(
    start: np.ndarray, control: np.ndarray, end: np.ndarray, n_images: int, n_samples: int = 401
) -> np.ndarray:
    """:func:`curve_band` of the quadratic Bezier curve ``start, control, end`` (flat vectors)."""
    start, control, end = (np.asarray(v) for v in (start, control, end))
    t = np.linspace(0.0, 1.0, n_samples)[:, None]
    return resample_by_arc_length((1 - t) ** 2 * start + 2 * t * (1 - t) * control + t**2 * end, n_images)


# ---------------------------------------------------------------------------------------------
# Forces.


def improved_tangents(band: jax.Array, energies: jax.Array) -> jax.Array:
    """``(n_images, P)`` unit tangents of the interior images (zeros at the ends), Henkelman &
    Jonsson (2000) eqs. 8-11."""
    forward = band[2:] - band[1:-1]
    backward = band[1:-1] - band[:-2]
    e_prev, e_here, e_next = energies[:-2], energies[1:-1], energies[2:]
    up = (e_next > e_here) & (e_here > e_prev)
    down = (e_next < e_here) & (e_here < e_prev)
    d_max = jnp.maximum(jnp.abs(e_next - e_here), jnp.abs(e_prev - e_here))[:, None]
    d_min = jnp.minimum(jnp.abs(e_next - e_here), jnp.abs(e_prev - e_here))[:, None]
    mixed = jnp.where(
        (e_next > e_prev)[:, None], forward * d_max + backward * d_min, forward * d_min + backward * d_max
    )
    tangent = jnp.where(up[:, None], forward, jnp.where(down[:, None], backward, mixed))
    norm = jnp.linalg.norm(tangent, axis=1, keepdims=True)
    tangent = tangent / jnp.maximum(norm, jnp.finfo(band.dtype).tiny)
    zero = jnp.zeros_like(band[:1])
    return jnp.concatenate([zero, tangent, zero])


def neb_forces(band: jax.Array, energies: jax.Array, grads: jax.Array, spring: float, climbing: jax.Array) -> jax.Array:
    """``(n_images, P)`` NEB forces (zero at the fixed ends).

    Interior image ``i``: ``-grad_perp + k (|R_{i+1} - R_i| - |R_i - R_{i-1}|) tau``; the climbing
    image (index ``climbing``, or -1 for none) instead ``-grad + 2 (grad . tau) tau``.
    """
    tangent = improved_tangents(band, energies)
    along = jnp.sum(grads * tangent, axis=1, keepdims=True)
    lengths = jnp.linalg.norm(jnp.diff(band, axis=0), axis=1)
    spring_force = (
        spring
        * jnp.concatenate([jnp.zeros(1, band.dtype), lengths[1:] - lengths[:-1], jnp.zeros(1, band.dtype)])[:, None]
        * tangent
    )
    nudged = -(grads - along * tangent) + spring_force
    climb = -grads + 2.0 * along * tangent
    is_climber = (jnp.arange(band.shape[0]) == climbing)[:, None]
    force = jnp.where(is_climber, climb, nudged)
    interior = ((jnp.arange(band.shape[0]) > 0) & (jnp.arange(band.shape[0]) < band.shape[0] - 1))[:, None]
    return jnp.where(interior, force, 0.0)


# ---------------------------------------------------------------------------------------------
# FIRE on the whole band.


class BandResult(NamedTuple):
    """A relaxed band.

    Attributes:
      band: ``(n_images, P)`` final images; energies: ``(n_images,)`` their losses.
      climbing: index of the climbing image (the highest interior image at the end).
      max_force: ``()`` the largest NEB force norm over the images at the end.
      climber_grad_norm: ``()`` the climbing image's true gradient norm.
      force_history: ``(steps,)`` largest NEB force norm at each step.
    """

    band: jax.Array
    energies: jax.Array
    climbing: jax.Array
    max_force: jax.Array
    climber_grad_norm: jax.Array
    force_history: jax.Array


def _energies_and_grads(loss_fn: FlatLoss, band: jax.Array) -> tuple[jax.Array, jax.Array]:
    return jax.vmap(jax.value_and_grad(loss_fn))(band)


def _highest_interior(energies: jax.Array) -> jax.Array:
    return jnp.argmax(energies[1:-1]) + 1


def nudged_elastic_band(
    loss_fn: FlatLoss,
    band: jax.Array,
    steps: int = 1000,
    spring: float = 1.0,
    climb_after: int = 200,
    dt: float = 0.05,
    dt_max: float = 0.5,
    max_move: float = 0.05,
    null_fn: Callable[[jax.Array], jax.Array] | None = None,
) -> BandResult:
    """Relax a band ``(n_images, P)`` into a minimum-energy path with a climbing image.

    FIRE (Bitzek et al. 2006: ``N_min = 5``, ``f_inc = 1.1``, ``f_dec = 0.5``, ``alpha_start = 0.1``,
    ``f_alpha = 0.99``) on all images at once; no image moves more than ``max_move`` per step.
    The climbing image is the highest interior image, re-chosen every step once
    ``step >= climb_after``.

    Args:
      loss_fn: ``(P,) -> scalar`` (static under jit: reuse the same object).
      band: initial images, ends included (e.g. :func:`line_band`); the ends never move.
      spring: spring constant (loss per squared parameter distance).
      null_fn: optional ``(P,) -> (P, k)`` orthonormal symmetry directions at a point; forces are
        projected off them, so images do not drift along flat symmetry orbits.
    """
    dtype = band.dtype

    def step(state: tuple, index: jax.Array) -> tuple[tuple, jax.Array]:
        points, velocity, time_step, alpha, n_positive = state
        energies, grads = _energies_and_grads(loss_fn, points)
        climbing = jnp.where(index >= climb_after, _highest_interior(energies), -1)
        force = neb_forces(points, energies, grads, spring, climbing)
        if null_fn is not None:  # no motion along exact symmetries (rescalings, dead units): they change nothing
            bases = jax.vmap(null_fn)(points)
            force = force - jnp.einsum("ipk,ik->ip", bases, jnp.einsum("ipk,ip->ik", bases, force))
        power = jnp.sum(force * velocity)
        force_norm = jnp.linalg.norm(force)
        velocity_norm = jnp.linalg.norm(velocity)
        mixed = (1 - alpha) * velocity + alpha * velocity_norm * force / jnp.maximum(force_norm, jnp.finfo(dtype).tiny)
        uphill = power <= 0
        velocity = jnp.where(uphill, 0.0, mixed)
        grow = (~uphill) & (n_positive > 5)
        time_step = jnp.where(uphill, time_step * 0.5, jnp.where(grow, jnp.minimum(time_step * 1.1, dt_max), time_step))
        alpha = jnp.where(uphill, 0.1, jnp.where(grow, alpha * 0.99, alpha))
        n_positive = jnp.where(uphill, 0, n_positive + 1)
        velocity = velocity + time_step * force
        move = time_step * velocity
        move_norm = jnp.linalg.norm(move, axis=1, keepdims=True)
        move = move * jnp.minimum(1.0, max_move / jnp.maximum(move_norm, jnp.finfo(dtype).tiny))
        points = points + move
        return (points, velocity, time_step, alpha, n_positive), jnp.max(jnp.linalg.norm(force, axis=1))

    state = (band, jnp.zeros_like(band), jnp.asarray(dt, dtype), jnp.asarray(0.1, dtype), jnp.zeros((), jnp.int32))
    (points, *_), history = jax.lax.scan(step, state, jnp.arange(steps))
    energies, grads = _energies_and_grads(loss_fn, points)
    climbing = _highest_interior(energies)
    force = neb_forces(points, energies, grads, spring, climbing if steps > climb_after else jnp.asarray(-1))
    return BandResult(
        points, energies, climbing, jnp.max(jnp.linalg.norm(force, axis=1)), jnp.linalg.norm(grads[climbing]), history
    )


@functools.partial(jax.jit, static_argnames=("loss_fn", "steps", "climb_after", "null_fn"))
def neb_batch(
    loss_fn: FlatLoss,
    bands: jax.Array,
    steps: int = 1000,
    spring: float = 1.0,
    climb_after: int = 200,
    dt: float = 0.05,
    dt_max: float = 0.5,
    max_move: float = 0.05,
    null_fn: Callable[[jax.Array], jax.Array] | None = None,
) -> BandResult:
    """:func:`nudged_elastic_band` for ``bands (n_pairs, n_images, P)`` in one jitted ``vmap``."""

    def one(band: jax.Array) -> BandResult:
        return nudged_elastic_band(loss_fn, band, steps, spring, climb_after, dt, dt_max, max_move, null_fn)

    return jax.vmap(one)(bands)
