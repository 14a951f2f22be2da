"""The names of what flows between modules, in one place.

``Params`` is one network's parameters (any pytree of arrays; the built-in MLP's is a list of
``{"w": (fan_in, fan_out), "b": (fan_out,)}`` layers). Batched parameters carry a leading
``(n_networks,)`` axis on every leaf. ``Loss`` is a loss of one network on data, the shape of
``train.loss`` factories and of ``run_study(loss_fn=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

Params = Any  # a pytree of arrays: one network (or a batch, leading axis = network)
Array = jax.Array | np.ndarray
Loss = Callable[[Params, jax.Array, jax.Array], jax.Array]  # (params, x (n, d), y (n,) | (n, o)) -> ()
Objective = Callable[[Params, jax.Array, jax.Array, jax.Array | None], jax.Array]  # ... dropout_key -> ()

__all__ = ["Array", "Loss", "Objective", "Params"]
