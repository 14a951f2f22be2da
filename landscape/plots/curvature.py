"""Curvature figures: Hessian spectra by solution type, top eigenvalues, spectral density.

Inputs are the arrays :mod:`landscape.curvature` returns (or the run file's ``hessian`` group
stores); nothing here computes a landscape quantity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from ..curvature import CurvatureResult

POSITIVE, NEGATIVE, NEAR_ZERO = "#1f77b4", "#d62728", "#8c8c8c"


def _type_order(labels: np.ndarray, type_names: Sequence[str] | None) -> list[str]:
    if type_names is not None:
        return [str(t) for t in type_names]
    names, counts = np.unique(labels, return_counts=True)
    return [str(n) for n in names[np.argsort(-counts, kind="stable")]]


def spectra_by_type(
    eigenvalues: np.ndarray,
    labels: np.ndarray,
    tolerance: np.ndarray,
    type_names: Sequence[str] | None = None,
    max_per_type: int = 40,
    seed: int = 0,
    note: str = "",
) -> Figure:
    """One panel per type: each sampled network's eigenvalues sorted, ``|lambda|`` on a log scale.

    Args:
      eigenvalues: ``(n_nets, m)`` ascending (all, or bottom-k and top-k for Lanczos).
      labels: ``(n_nets,)`` type names; tolerance: ``(n_nets,)`` zero tolerance.
      note: appended to the title (e.g. which eigenvalues a Lanczos run kept).
    Positive eigenvalues are blue dots, negative ones red crosses, those within the zero
    tolerance grey; a network's points are joined in order of the signed eigenvalue.
    """
    labels = np.asarray(labels).astype(str)
    names = _type_order(labels, type_names)
    rng = np.random.default_rng(seed)
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(4.2 * cols, 3.4 * rows), layout="constrained")
    grid = fig.subplots(rows, cols, sharey=True, squeeze=False)
    for ax in grid.flat[len(names) :]:
        ax.set_visible(False)
    axes = grid.flat[: len(names)]
    finite = np.abs(eigenvalues[np.isfinite(eigenvalues)])
    floor = 1e-12 * (finite.max() if finite.size and finite.max() > 0 else 1.0)  # exact zeros drawn here
    for ax, name in zip(axes, names, strict=True):
        members = np.flatnonzero((labels == name) & np.all(np.isfinite(eigenvalues), axis=1))
        sample = rng.choice(members, size=min(max_per_type, members.size), replace=False) if members.size else members
        rank = np.arange(1, eigenvalues.shape[1] + 1)
        for i in sample:
            values = eigenvalues[i]
            magnitude = np.maximum(np.abs(values), floor)
            ax.plot(rank, magnitude, color="0.75", lw=0.5, zorder=1)
            zero = np.abs(values) <= tolerance[i]
            for mask, color, marker in (
                (~zero & (values > 0), POSITIVE, "o"),
                (~zero & (values < 0), NEGATIVE, "x"),
                (zero, NEAR_ZERO, "."),
            ):
                ax.scatter(rank[mask], magnitude[mask], s=10, c=color, marker=marker, lw=0.8, zorder=2)
        if members.size:
            ax.axhline(np.median(tolerance[members]), color=NEAR_ZERO, ls="--", lw=0.8)
        n_saddle = int(np.sum(np.any(eigenvalues[members] < -tolerance[members, None], axis=1))) if members.size else 0
        ax.set_title(f"{name}: {members.size} nets, {n_saddle} saddles\n({sample.size} shown)", fontsize=9)
        ax.set_yscale("log")
        ax.set_xlabel("eigenvalue rank (ascending signed)")
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in grid[:, 0]:
        ax.set_ylabel("|eigenvalue| of the loss Hessian\n(exact zeros drawn at 1e-12 of the largest)")
    handles = [
        axes[0].scatter([], [], c=POSITIVE, marker="o", s=10, label="positive"),
        axes[0].scatter([], [], c=NEGATIVE, marker="x", s=10, label="negative"),
        axes[0].scatter([], [], c=NEAR_ZERO, marker=".", s=10, label="zero (within tolerance)"),
    ]
    axes[0].plot([], [], color=NEAR_ZERO, ls="--", lw=0.8, label="median zero tolerance")
    axes[0].legend(handles=[*handles, axes[0].lines[-1]], fontsize=7, loc="lower right")
    fig.suptitle(
        "Hessian spectra at the final networks, by solution type" + (f" ({note})" if note else ""), fontsize=10
    )
    return fig


def top_eigenvalue_by_type(
    max_eigenvalue: np.ndarray,
    trace: np.ndarray,
    labels: np.ndarray,
    type_names: Sequence[str] | None = None,
    is_saddle: np.ndarray | None = None,
    seed: int = 0,
) -> Figure:
    """Strip plots of the top eigenvalue and the trace per network, grouped by type (log scale).

    Saddles (index > 0) are drawn as red crosses; a black bar marks each type's median.
    """
    labels = np.asarray(labels).astype(str)
    names = _type_order(labels, type_names)
    rng = np.random.default_rng(seed)
    saddle = np.zeros(labels.shape, bool) if is_saddle is None else np.asarray(is_saddle, bool)
    fig = Figure(figsize=(max(6.0, 1.6 * len(names) * 2), 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, values, title in ((axes[0], max_eigenvalue, "largest eigenvalue"), (axes[1], trace, "trace")):
        for position, name in enumerate(names):
            members = (labels == name) & np.isfinite(values) & (values > 0)
            jitter = position + rng.uniform(-0.3, 0.3, members.sum())
            ax.scatter(jitter[~saddle[members]], values[members][~saddle[members]], s=5, alpha=0.5, c=POSITIVE, lw=0)
            ax.scatter(jitter[saddle[members]], values[members][saddle[members]], s=14, c=NEGATIVE, marker="x", lw=0.8)
            if members.any():
                ax.hlines(np.median(values[members]), position - 0.35, position + 0.35, color="k", lw=1.5)
        ax.set_xticks(range(len(names)), [f"{n}\n(n={int(np.sum(labels == n))})" for n in names], fontsize=8)
        ax.set_yscale("log")
        ax.set_title(f"Hessian {title} by type", fontsize=10)
    axes[0].scatter([], [], c=NEGATIVE, marker="x", s=14, label="saddle (negative eigenvalue)")
    axes[0].scatter([], [], c=POSITIVE, s=5, label="minimum")
    axes[0].legend(fontsize=7)
    return fig


def spectral_density(
    grid: np.ndarray,
    slq_densities: np.ndarray,
    exact_densities: np.ndarray | None,
    exact_eigenvalues: np.ndarray | None,
    names: Sequence[str],
) -> Figure:
    """Hessian eigenvalue density by stochastic Lanczos quadrature (Ghorbani et al. 2019).

    Args:
      grid: ``(G,)``; slq_densities: ``(n_curves, G)``; exact_densities: same shape or None
      (the same Gaussian smoothing of exact eigenvalues, dashed); exact_eigenvalues:
      ``(n_curves, n_params)`` drawn as ticks under each curve, or None; names: curve labels.
    """
    fig = Figure(figsize=(7.0, 3.2 + 0.2 * len(names)), layout="constrained")
    ax = fig.subplots()
    colors = [f"C{i}" for i in range(len(names))]
    floor = 1e-6 * np.nanmax(slq_densities) if slq_densities.size else 1e-6
    for i, name in enumerate(names):
        ax.plot(grid, np.maximum(slq_densities[i], floor), color=colors[i], lw=1.4, label=f"{name}: SLQ")
        if exact_densities is not None:
            ax.plot(
                grid,
                np.maximum(exact_densities[i], floor),
                color=colors[i],
                lw=0.9,
                ls="--",
                label=f"{name}: exact eigh",
            )
        if exact_eigenvalues is not None:
            ax.plot(
                exact_eigenvalues[i],
                np.full(exact_eigenvalues.shape[1], floor * 3 ** (i + 1)),
                "|",
                color=colors[i],
                ms=8,
            )
    ax.set_yscale("log")
    ax.set_xlabel("Hessian eigenvalue")
    ax.set_ylabel("density (Gaussian-smoothed)")
    ax.set_title("Spectral density of a representative network per type (stochastic Lanczos quadrature)", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def curvature_figures(result: CurvatureResult) -> dict[str, Figure]:
    """The figures of a :class:`~landscape.curvature.CurvatureResult`, by file name: spectra and top
    eigenvalues of the analysed networks by type, and the representatives' SLQ densities. Empty
    when no network was analysed."""
    analysed = result.analysed
    if not analysed.any():
        return {}
    eigenvalues, note = result.spectra()
    labels = np.asarray(result.labels).astype(str)[analysed]
    type_names = [str(t) for t in result.representatives["type"]]
    networks = result.networks
    figures = {
        "spectra_by_type": spectra_by_type(
            eigenvalues[analysed], labels, networks["zero_tolerance"][analysed], type_names, note=note
        ),
        "top_eigenvalue_by_type": top_eigenvalue_by_type(
            networks["max_eigenvalue"][analysed],
            networks["trace"][analysed],
            labels,
            type_names,
            networks["is_saddle"][analysed],
        ),
    }
    if len(type_names):
        figures["slq_density"] = spectral_density(
            result.density["grid"],
            result.density["slq"],
            result.density["exact"],
            result.representatives["eigenvalues"],
            [f"{t} (net {int(i)})" for t, i in zip(type_names, result.representatives["index"], strict=True)],
        )
    return figures
