"""Remedy sweeps: one base study, some factors varied over lists, every cell a batched study.

A sweep file is a study TOML plus a ``[sweep]`` table::

    name = "remedies"
    n_inits = 256            # every field of the base study, as in any study file

    [sweep]
    mode = "one_at_a_time"   # or "grid" (every combination)
    success_loss = 0.01      # optional: one threshold for every cell (default: each cell's own rule)
    "model.hidden" = [[3], [4], [6]]
    model.activation = ["relu", "elu"]       # TOML dotted keys work too
    optimizer = [{name = "sgd", learning_rate = 0.1}]   # a table value sets several fields

Factor names are the dotted study fields of :meth:`landscape.config.Study.replace`; a value
that is a table sets each of its fields under the factor's name. ``one_at_a_time`` runs the
base study once and then every factor's values alone around it (values equal to the base
are not repeated); ``grid`` runs the product of all factors.

*Success* is judged in each cell by that cell's own problem (:class:`landscape.problem.Problem`,
task-aware): the final training loss (no dropout) is finite and below ``task.success_loss``, or,
when that is 0, below a tenth of the constant predictor's loss (R² > 0.9), so cells whose task or
width change the target's scale are judged alike. ``[sweep] success_loss`` sets one threshold for
every cell instead. A cell whose loss is the user's own without ``task.success_loss`` has no
success (its row says so). Success fractions carry Wilson score intervals (Wilson 1927).

Any model and loss the study names (``model.factory``, ``train.loss``) can be swept; solution
types (the shape breakdown) need the built-in MLP on MSE over data with a ReLU-family activation,
and a cell without them says why in one line.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .basins import success_mask, success_threshold, types_reason
from .batching import chunked_map
from .config import ConfigError, Study, read_toml_file, study_from_dict, study_to_dict
from .stats import wilson_interval
from .vocabulary import Status

MODES = ("grid", "one_at_a_time")
LEGACY_SUCCESS_LOSS = 1e-2  # the fixed threshold of sweep files written before task-aware success
LEGACY_RULE = "success: final loss < 0.01 (a cell stored before task-aware success)"
SWEEP_KEYS = ("mode", "success_loss")
RELU_FAMILY = ("relu", "leaky_relu")

# ---------------------------------------------------------------------------------------------
# Configuration.


@dataclass(frozen=True)
class SweepConfig:
    """The ``[sweep]`` table: how factors combine and what counts as success.

    ``factors`` maps a dotted study field (or a table prefix such as ``optimizer``) to the
    list of values it takes, in file order.
    """

    factors: dict[str, list[Any]] = field(default_factory=dict)
    mode: str = "one_at_a_time"
    success_loss: float = 0.0  # one threshold for every cell; 0: each cell's own (task-aware) rule


@dataclass(frozen=True)
class Cell:
    """One cell of a sweep: the factor values it sets and the study they give."""

    index: int
    settings: dict[str, Any]  # factor name -> value, as written in the sweep file
    study: Study

    @property
    def label(self) -> str:
        if not self.settings:
            return "base"
        return ", ".join(f"{name}={format_value(value)}" for name, value in self.settings.items())


@dataclass(frozen=True)
class Sweep:
    base: Study
    config: SweepConfig

    @property
    def name(self) -> str:
        return self.base.name


def format_value(value: Any) -> str:
    """Compact text for a factor value: ``[3]`` -> ``3``, tables -> ``k=v k=v``."""
    if isinstance(value, dict):
        return " ".join(f"{k}={format_value(v)}" for k, v in value.items())
    if isinstance(value, list) and len(value) == 1:
        return format_value(value[0])
    if isinstance(value, list):
        return "-".join(format_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def setting_overrides(name: str, value: Any) -> dict[str, Any]:
    """A factor value as dotted overrides: tables expand under the factor's name."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(setting_overrides(f"{name}.{key}", sub))
        return out
    if name == "model.hidden" and isinstance(value, int) and not isinstance(value, bool):
        return {name: [value]}  # a bare width means one hidden layer
    return {name: value}


def _flatten_factors(table: dict[str, Any], prefix: str = "") -> dict[str, list[Any]]:
    factors: dict[str, list[Any]] = {}
    for key, value in table.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            factors.update(_flatten_factors(value, path))
        elif isinstance(value, list):
            if not value:
                raise ConfigError(f"sweep.{path}: expected a non-empty list of values to sweep")
            factors[path] = value
        else:
            raise ConfigError(f"sweep.{path}: expected a list of values to sweep, got {value!r}")
    return factors


def sweep_from_dict(data: dict[str, Any]) -> Sweep:
    """Build and validate a sweep from parsed TOML; errors name the field (``sweep.mode``)."""
    data = dict(data)
    table = data.pop("sweep", None)
    if table is None:
        raise ConfigError("sweep: missing [sweep] table; a sweep file is a study plus a [sweep] table of factors")
    if not isinstance(table, dict):
        raise ConfigError(f"sweep: expected a table, got {table!r}")
    base = study_from_dict(data)
    table = dict(table)
    mode = table.pop("mode", "one_at_a_time")
    if mode not in MODES:
        raise ConfigError(f"sweep.mode: unknown value {mode!r}; expected one of {', '.join(MODES)}")
    success_loss = table.pop("success_loss", 0.0)
    if isinstance(success_loss, bool) or not isinstance(success_loss, (int, float)) or not success_loss >= 0:
        raise ConfigError(
            f"sweep.success_loss: expected a non-negative number (0: each cell's own rule), got {success_loss!r}"
        )
    factors = _flatten_factors(table)
    if not factors:
        raise ConfigError('sweep: no factors; add e.g. model.activation = ["relu", "elu"] to [sweep]')
    for name, values in factors.items():
        for k, value in enumerate(values):
            try:
                base.replace(**setting_overrides(name, value))
            except ConfigError as err:
                raise ConfigError(f"sweep.{name}[{k}]: {err}") from None
    sweep = Sweep(base, SweepConfig(factors=factors, mode=mode, success_loss=float(success_loss)))
    expand_cells(sweep)  # combinations can be invalid even when each value is valid alone
    return sweep


def load_sweep(path: str | Path) -> Sweep:
    """Read a sweep TOML file (see ``runs/remedies.toml``)."""
    return sweep_from_dict(read_toml_file(path, "sweep"))


def expand_cells(sweep: Sweep) -> list[Cell]:
    """The sweep's cells, in a fixed order (cell 0 is the base study in one_at_a_time mode)."""
    base, config = sweep.base, sweep.config
    if config.mode == "grid":
        names = list(config.factors)
        combos = [dict(zip(names, values)) for values in itertools.product(*config.factors.values())]
    else:
        combos = [{}]
        base_json = base.to_json()
        for name, values in config.factors.items():
            for value in values:
                if base.replace(**setting_overrides(name, value)).to_json() != base_json:
                    combos.append({name: value})
    cells = []
    for index, settings in enumerate(combos):
        overrides: dict[str, Any] = {}
        for name, value in settings.items():
            overrides.update(setting_overrides(name, value))
        try:
            study = base.replace(**overrides, name=f"{base.name}-cell{index}")
        except ConfigError as err:
            label = Cell(index, settings, base).label
            raise ConfigError(f"sweep cell {index} ({label}): {err}") from None
        cells.append(Cell(index, settings, study))
    return cells


def base_value(study: Study, name: str, like: Any = None) -> Any:
    """The base study's value of a factor (for a table factor, only the keys ``like`` sets)."""
    node: Any = study_to_dict(study)
    for part in name.split("."):
        node = node[part]
    if isinstance(node, dict) and isinstance(like, dict):
        return {k: node[k] for k in like if k in node}
    return node


# ---------------------------------------------------------------------------------------------
# Outcomes of one cell (pure: arrays in, arrays out).


def steps_to_success(trajectory: np.ndarray, record_steps: np.ndarray, success_loss: float | None) -> np.ndarray:
    """``(n,)`` first recorded step whose training loss is below ``success_loss`` (NaN: never).

    The trajectory holds the loss the optimiser saw (with dropout/minibatches when enabled),
    at ``record_steps``; the answer's resolution is that schedule's spacing. All NaN when
    ``success_loss`` is None (success undefined).
    """
    if success_loss is None:
        return np.full(np.asarray(trajectory).shape[0], np.nan)
    below = np.asarray(trajectory) < success_loss
    first = np.argmax(below, axis=1)
    return np.where(below.any(axis=1), np.asarray(record_steps)[first].astype(float), np.nan)


@dataclass(frozen=True)
class SuccessSummary:
    n: int
    successes: int
    fraction: float
    ci_low: float
    ci_high: float
    median_steps: float  # median steps_to_success over successful networks that crossed

    @classmethod
    def of(cls, success: np.ndarray, steps: np.ndarray | None = None, confidence: float = 0.95) -> SuccessSummary:
        success = np.asarray(success, dtype=bool)
        n, k = int(success.size), int(success.sum())
        low, high = (float(v) for v in wilson_interval(k, n, confidence))
        median = float("nan")
        if steps is not None and k:
            crossed = np.asarray(steps)[success]
            crossed = crossed[np.isfinite(crossed)]
            median = float(np.median(crossed)) if crossed.size else float("nan")
        return cls(n, k, k / n if n else float("nan"), float(low), float(high), median)

    @classmethod
    def undefined(cls, n: int) -> SuccessSummary:
        """``n`` networks whose success is not defined (no threshold): no fraction, no interval."""
        nan = float("nan")
        return cls(int(n), 0, nan, nan, nan, nan)


def type_counts(labels: np.ndarray, names: list[str]) -> np.ndarray:
    """``(len(names),)`` counts of each type name in ``labels``."""
    labels = np.asarray(labels).astype(str)
    return np.array([int(np.sum(labels == name)) for name in names], dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Running.


@dataclass
class CellResult:
    """Everything a cell produced, in memory (NumPy)."""

    cell: Cell
    x: np.ndarray
    y: np.ndarray
    init_params: Any
    final_params: Any
    final_loss: np.ndarray
    grad_norm: np.ndarray
    status: np.ndarray
    steps: np.ndarray
    trajectory: np.ndarray
    record_steps: np.ndarray
    success: np.ndarray
    steps_to_success: np.ndarray
    summary: SuccessSummary
    wall_seconds: float
    labels: np.ndarray | None = None  # shape of the learned function (ReLU-family cells), str
    types: np.ndarray | None = None  # solution types (status overrides shape), str
    trainer: str = "general"  # which batched trainer ran the cell (Prepared.trainer_kind)
    success_loss: float | None = None  # the cell's threshold (None: success undefined for its loss)
    success_rule: str = ""  # one line: what success means in this cell
    model_name: str = "mlp"  # the model's name (Model.name)
    sources: dict[str, str] = field(default_factory=lambda: {"model": "mlp", "loss": "mse", "target": "config"})
    notes: list[str] = field(default_factory=list)  # one line per thing skipped, and why

    @property
    def threshold(self) -> float:
        """The success threshold as a number (NaN: undefined), for tables and files."""
        return float("nan") if self.success_loss is None else float(self.success_loss)


def train_cell(study: Study) -> tuple[Any, Any, Any, float]:
    """Train every network of ``study`` in memory, in chunks of one compiled shape
    (:func:`landscape.batching.chunked_map` over network indices).

    Returns ``(prepared, init_params, TrainResult, seconds)``; seconds include compilation.
    """
    from .runner import auto_chunk_size, prepare, train_networks

    t0 = time.perf_counter()
    prepared = prepare(study)
    chunk = auto_chunk_size(
        study, prepared.dataset.out_dim, int(getattr(prepared, "n_devices", 1)), prepared.trainer_kind
    )
    init, result = chunked_map(lambda indices: train_networks(prepared, indices), np.arange(study.n_inits), chunk)
    return prepared, init, result, time.perf_counter() - t0


def run_cell(cell: Cell, success_loss: float = 0.0, classify: Callable[..., np.ndarray] | None = None) -> CellResult:
    """Train one cell and judge it by its own problem; ReLU-family MLP cells are also labelled by ``classify``.

    Args:
      cell: the cell.
      success_loss: one threshold for every cell; 0: the cell's task-aware rule
        (:attr:`landscape.problem.Problem.success_loss`).
      classify: ``classify(prepared, batched TrainResult)`` returns ``(n,)`` str labels, or a dict
        with ``label`` (types: unconverged/diverged override the shape) and ``shape`` (the learned
        function's shape whatever the status), e.g. :func:`landscape.basins.solution_types`. The
        breakdown counts shapes; networks whose type is ``unconverged`` are counted separately.
    """
    prepared, init, result, seconds = train_cell(cell.study)
    problem = prepared.problem
    threshold, rule = success_threshold(problem, success_loss)
    record_steps = np.asarray(prepared.spec.record_steps)
    final_loss = np.asarray(result.final_loss)
    status = np.asarray(result.status)
    trajectory = np.asarray(result.trajectory)
    notes = []
    if threshold is None:
        success = np.zeros(final_loss.shape, dtype=bool)
        notes.append(rule)
    else:
        success = success_mask(final_loss, status, threshold)
    crossing = steps_to_success(trajectory, record_steps, threshold)
    labels = types = None
    if classify is not None:
        reason = types_reason(problem)
        if reason is None and problem.activation not in RELU_FAMILY:
            reason = f"the shape breakdown is written for ReLU-family activations, not {problem.activation}"
        if reason is None:
            out = classify(prepared, result)
            types = out if not isinstance(out, dict) else out["label"]
            shapes = out if not isinstance(out, dict) else out.get("shape", out["label"])
            types, labels = np.asarray(types).astype(str), np.asarray(shapes).astype(str)
        elif problem.mlp is None or problem.loss_fn is not None:
            notes.append(reason)
    return CellResult(
        cell=cell,
        x=np.asarray(prepared.dataset.x),
        y=np.asarray(prepared.dataset.y),
        init_params=init,
        final_params=result.final_params,
        final_loss=final_loss,
        grad_norm=np.asarray(result.grad_norm),
        status=status,
        steps=np.asarray(result.steps),
        trajectory=trajectory,
        record_steps=record_steps,
        success=success,
        steps_to_success=crossing,
        summary=SuccessSummary.of(success, crossing)
        if threshold is not None
        else SuccessSummary.undefined(success.size),
        wall_seconds=seconds,
        labels=labels,
        types=types,
        trainer=str(getattr(prepared, "trainer_kind", "general")),
        success_loss=threshold,
        success_rule=rule,
        model_name=problem.model.name,
        sources=dict(problem.sources),
        notes=notes,
    )


def summary_table(sweep: Sweep, results: list[CellResult]) -> dict[str, Any]:
    """Per-cell success table (arrays, one row per cell) plus what is needed to plot it."""
    type_names = sorted({str(name) for r in results if r.labels is not None for name in np.unique(r.labels)})
    preferred = [n for n in ("pyramid", "valley", "dead") if n in type_names]
    type_names = preferred + [n for n in type_names if n not in preferred]
    counts = np.full((len(results), len(type_names)), -1, dtype=np.int64)
    still_moving = np.full(len(results), -1, dtype=np.int64)
    for row, r in enumerate(results):
        if r.labels is not None:
            counts[row] = type_counts(r.labels, type_names)
            still_moving[row] = int(np.sum(r.types == "unconverged"))
    factor_base = {
        name: base_value(sweep.base, name, next((v for v in values if isinstance(v, dict)), None))
        for name, values in sweep.config.factors.items()
    }
    return {
        "cell": np.array([r.cell.index for r in results], dtype=np.int64),
        "label": np.array([r.cell.label for r in results]),
        "n": np.array([r.summary.n for r in results], dtype=np.int64),
        "successes": np.array([r.summary.successes for r in results], dtype=np.int64),
        "threshold": np.array([r.threshold for r in results]),
        "fraction": np.array([r.summary.fraction for r in results]),
        "ci_low": np.array([r.summary.ci_low for r in results]),
        "ci_high": np.array([r.summary.ci_high for r in results]),
        "median_steps_to_success": np.array([r.summary.median_steps for r in results]),
        "wall_seconds": np.array([r.wall_seconds for r in results]),
        "trainer": np.array([r.trainer for r in results]),
        "type_counts": counts,
        "still_moving": still_moving,
        "median_final_loss": np.array(
            [
                float(np.nanmedian(np.where(r.status == Status.DIVERGED, np.nan, r.final_loss)))
                if np.any(r.status != Status.DIVERGED)
                else float("nan")
                for r in results
            ]
        ),
        "type_names": type_names,
        "settings": [r.cell.settings for r in results],
        "factors": dict(sweep.config.factors),
        "factor_base": factor_base,
        "mode": sweep.config.mode,
        "success_loss": sweep.config.success_loss,
        "success_definition": success_definition(sweep, results),
        "notes": collect_notes(results),
        "confidence": 0.95,
    }


def collect_notes(results: list[CellResult]) -> list[str]:
    """Each cell note once, prefixed by the cells it holds for (``cells 0, 2: ...``)."""
    cells: dict[str, list[int]] = {}
    for r in results:
        for note in r.notes:
            cells.setdefault(note, []).append(r.cell.index)
    return [
        f"cell{'s' if len(index) > 1 else ''} {', '.join(map(str, index))}: {note}" for note, index in cells.items()
    ]


def success_definition(sweep: Sweep, results: list[CellResult]) -> str:
    """One line: what success means in this sweep (one threshold, or each cell's own rule)."""
    if sweep.config.success_loss:
        return (
            f"final loss (no dropout) finite and < {sweep.config.success_loss:g} in every cell ([sweep] success_loss)"
        )
    rules = sorted({r.success_rule for r in results})
    if len(rules) == 1:
        return f"{rules[0]} (final loss without dropout)"
    return (
        "each cell's own rule: final loss (no dropout) below task.success_loss, else a tenth of the cell's "
        "constant-predictor loss (R² > 0.9); thresholds per cell in the table"
    )


def format_table(table: dict[str, Any], markdown: bool = True) -> str:
    """The success table as Markdown (one row per cell)."""
    names = list(table["type_names"])
    head = (
        [
            "cell",
            "setting",
            "success",
            "threshold",
            "fraction [95% CI]",
            "median final loss",
            "median steps to success",
            "wall s",
            "trainer",
        ]
        + names
        + ["still moving"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in range(len(table["cell"])):
        median = table["median_steps_to_success"][row]
        threshold = float(table["threshold"][row]) if "threshold" in table else float(table["success_loss"])
        defined = np.isfinite(threshold)
        cells = [
            str(int(table["cell"][row])),
            str(table["label"][row]),
            f"{int(table['successes'][row])}/{int(table['n'][row])}" if defined else "undefined",
            f"{threshold:.3g}" if defined else "–",
            f"{table['fraction'][row]:.3f} [{table['ci_low'][row]:.3f}, {table['ci_high'][row]:.3f}]"
            if defined
            else "–",
            f"{table['median_final_loss'][row]:.2g}",
            "–" if not np.isfinite(median) else f"{median:.0f}",
            f"{table['wall_seconds'][row]:.1f}",
            str(table["trainer"][row]),
        ]
        counts = table["type_counts"][row]
        cells += ["" if counts[k] < 0 else str(int(counts[k])) for k in range(len(names))]
        cells.append("" if table["still_moving"][row] < 0 else str(int(table["still_moving"][row])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_sweep(
    sweep: Sweep,
    out: str | Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    classify: Callable[..., np.ndarray] | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Run every cell and store them all in one file; returns ``(path, summary table)``.

    The file is a run file of cell 0 (so ``landscape info`` and :class:`~landscape.storage.Run`
    read it) with every cell under ``sweep/cells/<i>/`` and the table under ``sweep/summary``.
    Each cell is written (atomically) as soon as it finishes, so an interrupted sweep keeps its
    finished cells; ``resume`` reads them back and runs only the others (a finished cell whose
    stored study differs from the sweep's is an error).
    """
    from .runner import StudyError

    say = log or (lambda message: None)
    out = Path(out)
    if resume and overwrite:
        raise StudyError("--resume and --overwrite: choose one")
    if out.exists() and not overwrite and not resume:
        raise StudyError(f"{out}: already exists; pass --resume to finish it or --overwrite to replace it")
    cells = expand_cells(sweep)
    finished = _finished_cells(out, cells, sweep.config.success_loss) if resume and out.exists() else {}
    rule = (
        f"final loss < {sweep.config.success_loss:g} in every cell"
        if sweep.config.success_loss
        else "each cell's task-aware rule (task.success_loss, else a tenth of the constant predictor's loss)"
    )
    say(
        f"sweep '{sweep.name}': {len(cells)} cells ({sweep.config.mode}), {sweep.base.n_inits} networks each; success: {rule}"
    )
    if finished:
        say(f"resuming {out}: {len(finished)} of {len(cells)} cells already done")
    results: list[CellResult] = []
    said: set[str] = set()  # notes already printed (each once)
    t_start = time.perf_counter()
    for cell in cells:
        if cell.index in finished:
            results.append(finished[cell.index])
            continue
        result = run_cell(cell, sweep.config.success_loss, classify)
        if cell.index == 0 or not out.exists():
            _write_root(out, result, overwrite)
        _write_cell(out, result)
        s = result.summary
        judged = (
            f"success {s.successes:4d}/{s.n} = {s.fraction:.3f} [{s.ci_low:.3f}, {s.ci_high:.3f}] "
            f"(loss < {result.success_loss:.3g})"
            if result.success_loss is not None
            else "success undefined"
        )
        say(f"  cell {cell.index:2d} {cell.label:40s} {judged}  {result.wall_seconds:.1f} s")
        for note in result.notes:
            if note not in said:
                said.add(note)
                say(f"    note: {note}")
        results.append(result)
    table = summary_table(sweep, results)
    table["total_seconds"] = time.perf_counter() - t_start
    _write_summary(out, sweep, table)
    return out, table


# ---------------------------------------------------------------------------------------------
# Storage of a sweep (composes landscape.storage; no computation here).


def _write_root(out: Path, result: CellResult, overwrite: bool) -> None:
    from .runner import _device_metadata
    from .storage import create_run_file, flatten_params, mark_complete, write_chunk

    study = result.cell.study
    out.parent.mkdir(parents=True, exist_ok=True)
    if overwrite and out.exists():
        out.unlink()
    init_flat = flatten_params(result.init_params)
    shapes = {name: (value.shape[1:], value.dtype) for name, value in init_flat.items()}
    create_run_file(
        out,
        study,
        result.x,
        result.y,
        shapes,
        result.record_steps,
        study.n_inits,
        {**_device_metadata(), "model": result.model_name, "sources": json.dumps(result.sources), "sweep": True},
    )
    arrays = {
        "final_loss": result.final_loss,
        "grad_norm": result.grad_norm,
        "status": result.status,
        "steps": result.steps,
        "trajectory": result.trajectory,
    }
    write_chunk(out, 0, 0, init_flat, flatten_params(result.final_params), arrays, result.wall_seconds)
    mark_complete(out, {"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "wall_seconds": result.wall_seconds})


def _finished_cells(out: Path, cells: list[Cell], success_loss: float) -> dict[int, CellResult]:
    """The cells already stored in a sweep file, read back as :class:`CellResult`."""
    from .runner import StudyError
    from .storage import Run, unflatten_params

    def flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out_: dict[str, Any] = {}
        for key, value in tree.items():
            if isinstance(value, dict):
                out_.update(flat(value, f"{prefix}{key}/"))
            elif isinstance(value, np.ndarray):
                out_[f"{prefix}{key}"] = value
        return out_

    found: dict[int, CellResult] = {}
    with Run(out) as run:
        stored = run.group("sweep/cells") if run.has("sweep/cells") else {}
    for cell in cells:
        group = stored.get(str(cell.index))
        if not isinstance(group, dict) or "success" not in group:
            continue
        if str(group["config_json"]) != cell.study.to_json():
            raise StudyError(
                f"{out}: cell {cell.index} ({cell.label}) was run with other settings; pass --overwrite to start the sweep again"
            )
        train, summary_types = group["train"], group.get("types")
        labels = types = None
        if isinstance(summary_types, dict):
            names = np.array(json.loads(str(summary_types["label_names"])))
            shapes = np.array(json.loads(str(summary_types["shape_names"])))
            types, labels = names[summary_types["label"]], shapes[summary_types["shape"]]
        found[cell.index] = CellResult(
            cell=cell,
            x=group["data"]["x"],
            y=group["data"]["y"],
            init_params=unflatten_params(flat(group["init"]["params"])),
            final_params=unflatten_params(flat(group["final"]["params"])),
            final_loss=train["final_loss"],
            grad_norm=train["grad_norm"],
            status=train["status"],
            steps=train["steps"],
            trajectory=train["trajectory"],
            record_steps=train["trajectory_steps"],
            success=group["success"].astype(bool),
            steps_to_success=group["steps_to_success"],
            summary=SuccessSummary(
                int(group["n"]),
                int(group["successes"]),
                float(group["fraction"]),
                float(group["ci_low"]),
                float(group["ci_high"]),
                float(group["median_steps_to_success"]),
            ),
            wall_seconds=float(group["wall_seconds"]),
            labels=labels,
            types=types,
            trainer=str(group["trainer"]),
            success_loss=_stored_threshold(group),
            success_rule=str(group.get("success_rule", LEGACY_RULE)),
            notes=json.loads(str(group["notes"])) if "notes" in group else [],
        )
    return found


def _stored_threshold(group: dict[str, Any]) -> float | None:
    """A stored cell's threshold (None: undefined); cells stored before per-cell thresholds were
    judged by the old fixed 0.01."""
    value = float(group.get("success_loss", LEGACY_SUCCESS_LOSS))
    return value if np.isfinite(value) else None


def _write_cell(out: Path, result: CellResult) -> None:
    from .storage import flatten_params, nest_paths, write_group

    arrays: dict[str, Any] = {
        "data": {"x": result.x, "y": result.y},
        "init": {"params": nest_paths(flatten_params(result.init_params))},
        "final": {"params": nest_paths(flatten_params(result.final_params))},
        "train": {
            "final_loss": result.final_loss,
            "grad_norm": result.grad_norm,
            "status": result.status,
            "steps": result.steps,
            "trajectory": result.trajectory,
            "trajectory_steps": result.record_steps,
        },
        "success": result.success.astype(np.uint8),
        "steps_to_success": result.steps_to_success,
    }
    if result.labels is not None:
        names = sorted(np.unique(result.types).tolist())
        shapes = sorted(np.unique(result.labels).tolist())
        arrays["types"] = {
            "label": np.searchsorted(np.array(names), result.types).astype(np.int8),
            "label_names": json.dumps(names),
            "shape": np.searchsorted(np.array(shapes), result.labels).astype(np.int8),
            "shape_names": json.dumps(shapes),
        }
    attrs = {
        "label": result.cell.label,
        "settings": json.dumps(result.cell.settings),
        "config_json": result.cell.study.to_json(),
        "config_toml": result.cell.study.to_toml(),
        "wall_seconds": result.wall_seconds,
        "trainer": result.trainer,
        "successes": result.summary.successes,
        "n": result.summary.n,
        "fraction": result.summary.fraction,
        "ci_low": result.summary.ci_low,
        "ci_high": result.summary.ci_high,
        "median_steps_to_success": result.summary.median_steps,
        "success_loss": result.threshold,
        "success_rule": result.success_rule,
        "notes": json.dumps(result.notes),
    }
    write_group(out, f"sweep/cells/{result.cell.index}", arrays, attrs)


SUMMARY_ARRAYS = (
    "cell",
    "label",
    "n",
    "successes",
    "threshold",
    "fraction",
    "ci_low",
    "ci_high",
    "median_final_loss",
    "median_steps_to_success",
    "wall_seconds",
    "trainer",
    "type_counts",
    "still_moving",
)
SUMMARY_ATTRS = (
    "type_names",
    "settings",
    "factors",
    "factor_base",
    "mode",
    "success_loss",
    "confidence",
    "total_seconds",
    "notes",
)


def _write_summary(out: Path, sweep: Sweep, table: dict[str, Any]) -> None:
    from .runner import _device_metadata
    from .storage import write_group

    attrs = {key: table[key] for key in SUMMARY_ATTRS}
    attrs.update({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in attrs.items()})
    attrs["base_config_toml"] = sweep.base.to_toml()
    attrs.update(_device_metadata())
    attrs["success_definition"] = table["success_definition"]
    write_group(out, "sweep/summary", {key: table[key] for key in SUMMARY_ARRAYS}, attrs)


def read_summary(path: str | Path) -> dict[str, Any]:
    """The ``sweep/summary`` table of a sweep file, in the form :func:`summary_table` returns."""
    from .storage import Run

    with Run(path) as run:
        group = run.group("sweep/summary")
    table = {key: group[key] for key in SUMMARY_ARRAYS if key in group}  # older files lack "threshold"
    if "threshold" not in table:
        table["threshold"] = np.full(len(table["cell"]), float(group["success_loss"]))
    for key in SUMMARY_ATTRS:
        value = group.get(key, [] if key == "notes" else None)
        table[key] = (
            json.loads(value)
            if isinstance(value, str) and key in ("type_names", "settings", "factors", "factor_base", "notes")
            else value
        )
    for key in ("backend", "devices", "success_definition"):
        if key in group:
            table[key] = str(group[key])
    table["label"] = np.asarray(table["label"]).astype(str)
    table["trainer"] = np.asarray(table["trainer"]).astype(str)
    table["success_loss"] = float(table["success_loss"])
    return table


__all__ = [
    "Cell",
    "CellResult",
    "Sweep",
    "SweepConfig",
    "SuccessSummary",
    "expand_cells",
    "format_table",
    "load_sweep",
    "read_summary",
    "run_cell",
    "run_sweep",
    "steps_to_success",
    "success_mask",
    "summary_table",
    "sweep_from_dict",
    "wilson_interval",
]
