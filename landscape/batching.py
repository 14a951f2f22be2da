"""One chunked map over networks: bounded memory, one compiled shape.

Every analysis that runs a batched (``vmap``-ped, jitted) function over thousands of networks
goes through :func:`chunked_map`: the leading axis is cut into chunks of ``chunk_size``, the last
chunk is padded (by repeating its last row) so the function compiles once, and the padding is
cut from the results.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np


def leading_size(tree: Any) -> int:
    """The size of the leading (network) axis of a pytree's leaves."""
    return int(jax.tree_util.tree_leaves(tree)[0].shape[0])


def take(tree: Any, index: np.ndarray) -> Any:
    """Rows ``index`` of every leaf (NumPy)."""
    return jax.tree_util.tree_map(lambda leaf: np.asarray(leaf)[index], tree)


def chunked_map(
    function: Callable[..., Any],
    batched: Any,
    chunk_size: int,
    *,
    pad: bool = True,
    prepare: Callable[[Any], Any] | None = None,
) -> Any:
    """``function`` over the leading axis of ``batched``, ``chunk_size`` rows at a time.

    Args:
      function: batched function, ``tree (c, ...) -> tree (c, ...)`` (typically ``jit(vmap(f))``).
      batched: a pytree whose leaves share the leading axis ``(n, ...)``; may be a tuple of arguments
        (then passed as one pytree: write ``function`` to take that tuple).
      chunk_size: rows per call (at most ``n``).
      pad: pad the last chunk to ``chunk_size`` rows (repeating its last row) so ``function`` sees one shape.
      prepare: applied to each chunk before the call (e.g. ``np.nan_to_num``-ing leaves).

    Returns:
      ``function``'s outputs for all ``n`` rows, concatenated as NumPy arrays (same pytree structure).
    """
    n = leading_size(batched)
    chunk_size = max(1, min(int(chunk_size), n))
    pieces = []
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        index = np.arange(start, start + chunk_size).clip(max=n - 1) if pad else np.arange(start, stop)
        chunk = take(batched, index)
        if prepare is not None:
            chunk = prepare(chunk)
        result = jax.device_get(function(chunk))
        pieces.append(jax.tree_util.tree_map(lambda leaf: np.asarray(leaf)[: stop - start], result))
    return jax.tree_util.tree_map(lambda *leaves: np.concatenate(leaves), *pieces)


__all__ = ["chunked_map", "leading_size", "take"]
