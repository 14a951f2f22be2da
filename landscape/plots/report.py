"""Figures of a study's training outcome for the report: statuses, final losses, loss curves.

Inputs are arrays read from a run file (``train/status``, ``train/final_loss``,
``train/trajectory``); nothing here trains or evaluates a network. The figures by solution type
live in :mod:`landscape.plots.types`; these are the ones that need no analysis at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from ..vocabulary import STATUS_COLOURS, STATUS_NAMES


def status_figure(names: Sequence[str], counts: np.ndarray, ci_low: np.ndarray, ci_high: np.ndarray) -> Figure:
    """Horizontal bars: share of networks per training status, with confidence intervals.

    Args:
      names: ``(k,)`` status names (``converged``, ``max_steps``, ``diverged``, ``not_run``).
      counts: ``(k,)`` networks per status; ci_low, ci_high: ``(k,)`` interval ends of the share.
    """
    counts = np.asarray(counts)
    total = max(int(counts.sum()), 1)
    share = counts / total
    fig = Figure(figsize=(6.0, 0.55 * len(names) + 1.3), layout="constrained")
    ax = fig.add_subplot()
    rows = np.arange(len(names))[::-1]
    ax.barh(rows, share, color=[STATUS_COLOURS.get(n, "#8888cc") for n in names], height=0.6)
    ax.errorbar(
        share,
        rows,
        xerr=[share - np.asarray(ci_low), np.asarray(ci_high) - share],
        fmt="none",
        ecolor="k",
        capsize=4,
        lw=1,
    )
    for row, s, high, c in zip(rows, share, ci_high, counts, strict=True):
        ax.text(min(float(high) + 0.02, 0.98), row, f"{s:.1%}  (n={int(c)})", va="center", fontsize=9)
    ax.set_yticks(rows, list(names))
    ax.set_xlim(0, 1.0)
    ax.set_xlabel("share of networks")
    ax.set_title(f"How training ended ({total} networks; bars: 95% Wilson intervals)", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


def final_loss_figure(final_loss: np.ndarray, status: np.ndarray, bins: int = 50) -> Figure:
    """Histogram of ``log10`` final loss, stacked by training status.

    Args: final_loss ``(n,)``; status ``(n,)`` int8 codes (non-finite losses are left out).
    """
    final_loss, status = np.asarray(final_loss, float), np.asarray(status)
    finite = np.isfinite(final_loss) & (final_loss > 0)
    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.add_subplot()
    if not finite.any():
        ax.text(0.5, 0.5, "no finite final losses", ha="center", va="center", transform=ax.transAxes)
        return fig
    logs = np.log10(final_loss[finite])
    edges = np.linspace(logs.min() - 1e-9, logs.max() + 1e-9, bins + 1)
    codes = [c for c in STATUS_NAMES if np.any(status[finite] == c)]
    ax.hist(
        [logs[status[finite] == c] for c in codes],
        bins=edges,
        stacked=True,
        color=[STATUS_COLOURS[STATUS_NAMES[c]] for c in codes],
        label=[STATUS_NAMES[c] for c in codes],
    )
    for q, style in ((0.5, "-"), (0.25, ":"), (0.75, ":")):
        ax.axvline(np.quantile(logs, q), color="k", ls=style, lw=0.9)
    ax.set_xlabel("log10 final loss (full data)")
    ax.set_ylabel("networks")
    ax.legend(fontsize=8)
    ax.set_title("Final losses (lines: median and quartiles)", fontsize=10)
    return fig


def loss_curves_by_status(
    trajectory: np.ndarray, steps: np.ndarray, status: np.ndarray, per_status: int = 30, seed: int = 0
) -> Figure:
    """Loss versus step, a sample of networks per status plus each status's median curve.

    Used when the run has no solution types (:func:`landscape.plots.types.loss_curves_figure`
    colours by type otherwise). Args: trajectory ``(n, n_record)``, steps ``(n_record,)``,
    status ``(n,)``.
    """
    from .types import loss_curves_figure

    status = np.asarray(status)
    labels = np.array([STATUS_NAMES.get(int(code), "") for code in status])
    names = list(STATUS_NAMES.values())
    return loss_curves_figure(
        trajectory,
        steps,
        labels,
        names,
        per_type=per_status,
        seed=seed,
        colours=STATUS_COLOURS,
        title="Loss curves by training status",
        size=(6.4, 3.8),
    )
