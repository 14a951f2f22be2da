"""The study report: one self-contained HTML page summarising a run file.

``build_report(run_path)`` reads a run file and writes ``<run stem>-report/index.html`` next to
it: the config, how training ended, loss quantiles, the solution-type table with confidence
intervals, representative functions and unit diagrams per type, loss curves, curvature per
type, slices and barriers, the basin map or sweep results where present, and how long each
stage took. Figures are PNGs embedded as ``data:`` URIs and the CSS is inline, so the page
needs no network access and no JavaScript; it can be mailed or attached as one file.

The report composes the analyses' own typed results and plot functions: the solution types
(:mod:`landscape.solutions`), :class:`landscape.curvature.CurvatureResult`,
:class:`landscape.slices.SliceResult`, :class:`landscape.paths.PathsResult`,
:class:`landscape.landscape_map.MapResult`, the basin map and sweep table. It recomputes no
analysis and reads the file only through :class:`~landscape.storage.Run`'s public API.

It reports on any run file: an incomplete run gets a banner (chunks missing, the resume command)
and shares over its finished networks (``not_run`` is never diverged); a group computed before the
training data changed (``Run.stale_analyses``) carries a "stale" line with the command that
recomputes it; success follows the task-aware rule (``Problem.success_rule``); a run whose model
the commands cannot rebuild (trained from Python objects) names the Python call for each missing
analysis. Each section is built on its own: a missing group gives a short "not run" note with the
command that runs it, and a group whose figure or table fails to draw shows the error in one line
instead of breaking the page.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import json
import os
import re
import tempfile
import time
import traceback
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .storage import Run
from .vocabulary import STATUS_MEANINGS, STATUS_NAMES, Status, type_colour_map

FIGURE_DPI = 100
WIDE_INCHES = 10.5  # figures wider than this span the whole grid row


# ---------------------------------------------------------------------------------------------
# Public entry points.


def report_path_for(run_path: str | Path) -> Path:
    """Where ``landscape report RUN.h5`` writes by default: ``<run stem>-report/index.html`` beside it."""
    path = Path(run_path)
    return path.parent / f"{path.stem}-report" / "index.html"


# Report figures that `landscape classify` also draws, by the file name it saves them under.
SAME_AS_CLASSIFY = {
    "loss curves": "loss_curves_by_type",
    "type fractions": "type_fractions",
    "active fractions": "active_fractions",
    "clusters vs types": "clusters_vs_types",
    "representative contours": "type_contours",
    "unit diagrams": "unit_weights",
    "representative surfaces": "type_surfaces",
}


def build_report(run_path: str | Path, out_dir: str | Path | None = None, reuse: list[Path] | None = None) -> Path:
    """Write the HTML report of a run file; returns the path of ``index.html``.

    Args:
      run_path: a run file (``landscape run``), a basins run file or a sweep file.
      out_dir: folder for ``index.html`` (default: ``<run stem>-report`` next to the run file).
      reuse: PNG files just written by ``landscape classify`` from this run's ``types`` group
        (``landscape run`` passes them); the report embeds them instead of drawing them again.
    Raises:
      RunFileError: the file is not a readable run file (one line, as every command).
    """
    out = Path(out_dir) / "index.html" if out_dir is not None else report_path_for(run_path)
    pngs = {path.stem: path for path in reuse or [] if path.suffix == ".png"}
    drawn = {name: pngs[stem] for name, stem in SAME_AS_CLASSIFY.items() if stem in pngs}
    with Run(run_path) as run:
        page = render_report(run, reuse=drawn)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".index.", suffix=".html.tmp", dir=out.parent)
    except OSError as err:  # the CLI prints these as one line
        kind = PermissionError if isinstance(err, PermissionError) else FileNotFoundError
        raise kind(f"{out.parent}: cannot write the report there ({err.strerror or err})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is meant to be shared
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


@dataclass
class Section:
    """One part of the page: its anchor, title, body HTML and what the timing table needs."""

    key: str
    title: str
    body: str = ""
    ran: bool = True
    timings: list[tuple[str, float | None, str]] = field(default_factory=list)  # (stage, seconds, note)


def render_report(run: Run, reuse: dict[str, Path] | None = None) -> str:
    """The whole page as a string (no files written); ``reuse``: see :func:`_figure`."""
    started = time.perf_counter()
    builders: list[tuple[str, str, Callable[[Run], Section]]] = [
        ("training", "Training", functools.partial(_training_section, reuse=reuse)),
        ("types", "Solution types", functools.partial(_types_section, reuse=reuse)),
        ("curvature", "Curvature", _curvature_section),
        ("geometry", "Slices and barriers", _geometry_section),
        ("map", "Map between minima", _map_section),
        ("basins", "Basins of attraction", _basins_section),
        ("sweep", "Sweep", _sweep_section),
        ("config", "Configuration", _config_section),
    ]
    sections = [_guarded(key, title, build, run) for key, title, build in builders]
    if run.has("sweep/summary"):  # a sweep file: its table is the point of the page
        sections.insert(0, sections.pop(next(i for i, s in enumerate(sections) if s.key == "sweep")))
    seconds = time.perf_counter() - started
    timing = _timing_section(run, sections, seconds)
    sections.insert(0, timing)
    return _page(run, sections)


def _guarded(key: str, title: str, build: Callable[[Run], Section], run: Run) -> Section:
    """``build(run)``, or a section that says in one line why it could not be built."""
    try:
        section = build(run)
    except Exception as err:  # noqa: BLE001 - one broken analysis must not take the page down
        section = Section(key, title, _error_line(f"this section could not be built: {_one_line(err)}"), ran=True)
    if section.ran:
        try:
            section.body = _stale_lines(run, key) + section.body
        except Exception as err:  # noqa: BLE001
            section.body = _error_line(f"staleness could not be checked: {_one_line(err)}") + section.body
    return section


# ---------------------------------------------------------------------------------------------
# Small HTML helpers.


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    where = traceback.extract_tb(err.__traceback__)
    place = f" (at {Path(where[-1].filename).name}:{where[-1].lineno})" if where else ""
    return f"{type(err).__name__}: {text[0] if text else ''}"[:400] + place


def _error_line(message: str) -> str:
    return f'<p class="error">{_esc(message)}</p>'


def _not_run(what: str, command: str, note: str = "") -> str:
    extra = f"<p>{_esc(note)}</p>" if note else ""
    return f'<div class="notrun"><p>{_esc(what)} Run:</p><pre class="command"><code>{_esc(command)}</code></pre>{extra}</div>'


def _not_run_section(key: str, title: str, what: str, command: str, note: str, stage: str | None = None) -> Section:
    """A section for an analysis the file does not hold: what is missing and the command that makes it."""
    section = Section(key, title, _not_run(what, command, note), ran=False)
    if stage is not None:
        section.timings.append((stage, None, "not run"))
    return section


def _fmt(value: Any, digits: int = 3) -> str:
    """Numbers for tables: general format, NaN as an en dash."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _esc(value)
    if not np.isfinite(number):
        return "&ndash;"
    if number == int(number) and abs(number) < 1e6 and isinstance(value, (int, np.integer)):
        return f"{int(number)}"
    return f"{number:.{digits}g}"


def _pct(value: float) -> str:
    return "&ndash;" if not np.isfinite(value) else f"{100 * value:.1f}%"


_NUMERIC = re.compile(r"^(?:[-+#\[]?\d|&ndash;|\[\d|-?\d|&minus;)")


def _table(header: list[str], rows: list[list[str]], caption: str = "") -> str:
    """An HTML table; cells are already-escaped HTML. Columns whose cells all look numeric are right-aligned."""
    width = len(header)
    numeric = [
        i > 0
        and bool(rows)
        and all(_NUMERIC.match(re.sub(r"<[^>]+>", "", row[i]).strip() or "&ndash;") for row in rows if i < len(row))
        for i in range(width)
    ]
    head = "".join(f'<th class="{"num" if numeric[i] else ""}">{h}</th>' for i, h in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"num" if i < width and numeric[i] else ""}">{c}</td>' for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    cap = f"<caption>{caption}</caption>" if caption else ""
    return f'<div class="tablewrap"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


SAVED_DPI = 130  # landscape.plots.save_figure's default


def _png_width_pixels(png: bytes) -> int:
    return int.from_bytes(png[16:20], "big")  # the IHDR chunk's width


def _figure(make: Callable[[], Any], caption: str, name: str, reuse: dict[str, Path] | None = None) -> str:
    """A figure made by ``make()`` embedded as a base64 PNG; an error line if it fails.

    ``reuse``: report figure name -> a PNG ``landscape classify`` just drew from the same data, embedded as is.

    Warnings raised while drawing are shown under the figure (they usually explain odd axes).
    """
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if reuse and name in reuse:  # drawn a moment ago by `landscape classify`, from the same data
                png = reuse[name].read_bytes()
                width_in = _png_width_pixels(png) / SAVED_DPI
            else:
                fig = make()
                if fig is None:
                    return ""
                width_in, _ = fig.get_size_inches()
                buffer = io.BytesIO()
                fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight", facecolor="white")
                png = buffer.getvalue()
    except Exception as err:  # noqa: BLE001
        return f'<figure class="failed">{_error_line(f"figure {name!r} could not be drawn: {_one_line(err)}")}</figure>'
    data = base64.b64encode(png).decode("ascii")
    notes = sorted({str(w.message).splitlines()[0] for w in caught})
    note = "".join(f'<br><span class="muted">matplotlib: {_esc(n)}</span>' for n in notes[:3])
    wide = " wide" if width_in > WIDE_INCHES else ""
    return (
        f'<figure class="fig{wide}"><img src="data:image/png;base64,{data}" alt="{_esc(name)}" loading="eager">'
        f"<figcaption>{caption}{note}</figcaption></figure>"
    )


def _grid(figures: list[str]) -> str:
    figures = [f for f in figures if f]
    return f'<div class="grid">{"".join(figures)}</div>' if figures else ""


# ---------------------------------------------------------------------------------------------
# Reading groups through the public Run API: each top-level group is read once per report
# (``Run.group``, attributes merged into their group's dict) and looked up from then on.

_GROUPS: weakref.WeakKeyDictionary[Run, dict[str, Any]] = weakref.WeakKeyDictionary()


def _tree(run: Run, top: str) -> dict[str, Any] | None:
    """The top-level group ``top`` as a nested dict (read once per report), or None when absent."""
    cache = _GROUPS.setdefault(run, {})
    if top not in cache:
        cache[top] = run.group(top) if run.has(top) else None
    return cache[top]


def _node(run: Run, path: str) -> Any:
    parts = [p for p in path.strip("/").split("/") if p]
    node: Any = _tree(run, parts[0])
    for part in parts[1:]:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _read(run: Run, path: str, default: Any = None) -> Any:
    """One dataset (NumPy; strings as str) or attribute ``group:attr``; ``default`` if absent."""
    if ":" in path:
        group, attr = path.split(":", 1)
        if group == "/":
            value = run.attrs.get(attr)
        else:
            node = _node(run, group)
            value = node.get(attr) if isinstance(node, dict) else None
        if value is None or isinstance(value, dict):
            return default
        return value.decode() if isinstance(value, bytes) else value
    value = _node(run, path)
    if value is None or isinstance(value, (dict, str, bytes)):
        return default
    value = np.asarray(value)
    return value if value.ndim else value[()]


def _json_attr(run: Run, path: str, default: Any = None) -> Any:
    value = _read(run, path)
    if value is None:
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return list(value) if isinstance(value, np.ndarray) else value


def _seconds(run: Run, group: str) -> float | None:
    for attr in ("seconds", "wall_seconds", "total_seconds"):
        value = _read(run, f"{group}:{attr}")
        if value is not None:
            try:
                return float(value)
            except (TypeError, ValueError):
                continue
    return None


def _subgroups(run: Run, name: str, marker: str) -> list[str]:
    """``name`` itself if it holds ``marker``, else its subgroups that do (``slices/<a>``, ``paths/<b>``)."""
    tree = _tree(run, name)
    if not isinstance(tree, dict):
        return []
    if marker in tree:
        return [name]
    return [f"{name}/{key}" for key, value in tree.items() if isinstance(value, dict) and marker in value]


def _stored_types(run: Run) -> Any:
    """The run's :class:`~landscape.solutions.TypesResult` (None when not classified), read once per run.

    Raises:
      RunFileError: a damaged ``types`` group (one line naming the command that recomputes it).
    """
    context = _context(run)
    if not context.types_read:
        from .solutions import TypesResult
        from .storage import RunFileError

        context.types_read = True
        try:
            context.types = TypesResult.read(run)
        except RunFileError as err:
            context.types_error = err
    if context.types_error is not None:
        raise context.types_error
    return context.types


def _type_labels(run: Run) -> tuple[np.ndarray, list[str]] | None:
    """``(labels (n,) str, names in table order)`` from the ``types`` group, or None (not classified,
    or a group too damaged to read: the types section says so)."""
    from .storage import RunFileError

    try:
        types = _stored_types(run)
    except RunFileError:
        return None
    return None if types is None else (np.asarray(types.labels, dtype=str), types.names)


# ---------------------------------------------------------------------------------------------
# What every section needs to know about the run: which networks finished, which analyses are
# stale, and whether (and why not) the run's model and loss can be rebuilt for the commands.

# Analysis group -> the command that (re)computes it.
ANALYSIS_COMMANDS = {
    "types": "classify",
    "hessian": "hessian",
    "slices": "slice",
    "paths": "paths",
    "landscape_map": "map",
    "basins": "basins",
}
# The Python call that computes an analysis for a run trained from Python objects.
_PROBLEM = "problem=landscape.problem_of(run, model=..., loss_fn=...)"
PYTHON_CALLS = {
    "classify": f"landscape.solutions.classify_run(run, {_PROBLEM}).write(run.path)",
    "hessian": f"landscape.curvature.analyse_run(run, {_PROBLEM}).write(run.path)",
    "slice": f"landscape.slices.slice_run(run, {_PROBLEM}).write(run.path)",
    "paths": f"landscape.paths.barriers_run(run, {_PROBLEM}).write(run.path)",
    "map": f"landscape.landscape_map.map_run(run, {_PROBLEM}).write(run.path)",
}
# Report section -> the analysis groups it shows.
SECTION_GROUPS = {
    "types": ("types",),
    "curvature": ("hessian",),
    "geometry": ("slices", "paths"),
    "map": ("landscape_map",),
    "basins": ("basins",),
}


@dataclass
class Context:
    """Facts about the run that several sections use.

    ``finished (n,)`` bool: networks whose training finished (status >= 0; ``not_run`` is never
    diverged); ``stale``: analysis groups computed from other training results; ``problem``: the
    run's :class:`~landscape.problem.Problem`, or None with ``problem_reason`` saying why not;
    ``types``: the stored :class:`~landscape.solutions.TypesResult` once ``types_read``.
    """

    finished: np.ndarray
    stale: list[str]
    problem: Any = None
    problem_reason: str | None = None
    types: Any = None  # the stored TypesResult (see _stored_types)
    types_read: bool = False
    types_error: Exception | None = None  # why a damaged group could not be read

    @property
    def n_finished(self) -> int:
        return int(self.finished.sum())


_CONTEXTS: weakref.WeakKeyDictionary[Run, Context] = weakref.WeakKeyDictionary()


def _context(run: Run) -> Context:
    if run in _CONTEXTS:
        return _CONTEXTS[run]
    finished = np.asarray(run.status) >= 0
    try:
        stale = list(run.stale_analyses())
    except Exception as err:  # noqa: BLE001 - a damaged stamp must not hide the report
        stale = [f"(could not check: {_one_line(err)})"]
    problem, reason = None, None
    try:
        from .problem import problem_of

        problem = problem_of(run)
    except Exception as err:  # noqa: BLE001 - ModelUnavailable and friends: said once, in one line
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    context = Context(finished, stale, problem, reason)
    _CONTEXTS[run] = context
    return context


def _stale_lines(run: Run, key: str) -> str:
    """The "stale" line of each group of section ``key`` that was computed before the training data changed."""
    lines = []
    for name in _context(run).stale:
        top = name.split("/", 1)[0]
        if top not in SECTION_GROUPS.get(key, ()):
            continue
        command = ANALYSIS_COMMANDS.get(top, top)
        target = "BASINS.toml" if command == "basins" else str(run.path)
        lines.append(
            f'<p class="stale">stale: <code>/{_esc(name)}</code> was computed before the training data changed; '
            f"recompute with <code>landscape {_esc(command)} {_esc(target)}</code></p>"
        )
    return "".join(lines)


def _path_text(run: Run) -> str:
    return str(run.path)


# Points a command needs when none are named: slice a plane through 3, paths and map 2 or more.
POINTS_NEEDED = {"slice": 3, "paths": 2, "map": 2}


def _points_hint(run: Run, verb: str, note: str) -> tuple[str, str]:
    """``(command, note)`` for a command that takes points: the bare command when its default points
    exist, else the lowest-loss finished networks named, else why it cannot apply to this run."""
    from .points import default_point_specs, lowest_loss_networks

    needed = POINTS_NEEDED[verb]
    usable = (np.asarray(run.status) >= 0) & np.isfinite(np.asarray(run.final_loss, float))
    defaults, _ = default_point_specs(run, needed, usable)
    if len(defaults) >= needed:
        return f"landscape {verb} {run.path}", note
    picks = lowest_loss_networks(run, needed, usable)
    if len(picks) >= needed:
        return (
            f"landscape {verb} {run.path} {' '.join(map(str, picks))}",
            f"The default points (type representatives) are too few here ({len(defaults)} of {needed}); "
            f"these are the {needed} lowest-loss finished networks. {note}",
        )
    return "", (
        f"Not applicable to this run: needs {needed} finished networks with a finite loss, it has {int(usable.sum())}."
    )


@functools.cache
def _takes_finished_only(verb: str) -> bool:
    """``landscape <verb>`` can analyse the finished networks of an incomplete run."""
    from .cli import subcommands

    parser = subcommands().get(verb)
    return parser is not None and "--finished-only" in parser._option_string_actions  # noqa: SLF001


def _absent_html(run: Run, what: str, command: str, note: str) -> tuple[str, bool]:
    """``(html, computable)``: what is missing and the command that makes it; when the command cannot
    rebuild this run's model (trained from Python objects), that reason and the Python call instead."""
    reason = _context(run).problem_reason
    verb = command.split()[1] if command.startswith("landscape ") else command
    if reason is None and verb in POINTS_NEEDED and command.startswith("landscape "):
        command, note = _points_hint(run, verb, note)
        if not command:
            return f'<div class="notrun"><p>{_esc(what)} {_esc(note)}</p></div>', False
    if not run.complete and command.startswith("landscape ") and _takes_finished_only(verb):
        command += " --finished-only"
    if reason is not None and verb in PYTHON_CALLS:
        return (
            f'<div class="notrun"><p>{_esc(what)} <code>landscape {_esc(verb)}</code> cannot compute it for this '
            f"run: {_esc(reason)}</p><p>From Python:</p>"
            f'<pre class="command"><code>{_esc(PYTHON_CALLS[verb])}</code></pre></div>'
        ), False
    return _not_run(what, command, note), True


def _absent(run: Run, key: str, title: str, what: str, command: str, note: str, stage: str | None = None) -> Section:
    """A section for an analysis the file does not hold (see :func:`_absent_html`)."""
    body, computable = _absent_html(run, what, command, note)
    section = Section(key, title, body, ran=False)
    if stage is not None:
        section.timings.append((stage, None, "not run" if computable else "not computable by the command"))
    return section


# ---------------------------------------------------------------------------------------------
# Sections.


def success_summary(run: Run) -> tuple[str, int, int] | None:
    """``(rule, successes, finished)`` under the task-aware success rule
    (:meth:`landscape.problem.Problem.success_rule`), or None when success is undefined here."""
    context = _context(run)
    problem = context.problem
    if problem is None or problem.success_loss is None:
        return None
    final_loss = np.asarray(run.final_loss, dtype=float)[context.finished]
    successes = int(np.sum(np.isfinite(final_loss) & (final_loss < float(problem.success_loss))))
    return problem.success_rule(), successes, context.n_finished


def _success_html(run: Run, final_loss: np.ndarray, context: Context) -> str:
    """One paragraph: the success rule and the share of finished networks that meet it (or why undefined)."""
    from .stats import wilson_interval

    if context.problem is None:
        return f'<p class="muted">success: not computed ({_esc(context.problem_reason)})</p>'
    found = success_summary(run)
    if found is None:
        return f'<p class="muted">{_esc(context.problem.success_rule())}</p>'
    rule, successes, finished = found
    if not finished:
        return f'<p class="muted">{_esc(rule)}; no network has finished</p>'
    low, high = (float(v) for v in wilson_interval(successes, finished))
    return (
        f'<p class="success"><b>{successes} of {finished} finished networks succeed '
        f"({_pct(successes / finished)}, 95% CI [{_pct(low)}, {_pct(high)}])</b>; {_esc(rule)}</p>"
    )


def _training_section(run: Run, reuse: dict[str, Path] | None = None) -> Section:
    figure = functools.partial(_figure, reuse=reuse)
    from .plots import report as report_plots
    from .stats import wilson_interval

    status = np.asarray(run.status)
    final_loss = np.asarray(run.final_loss, dtype=float)
    context = _context(run)
    n = context.n_finished  # shares are over the finished networks; not_run is never diverged
    finished_codes = [int(Status.CONVERGED), int(Status.MAX_STEPS), int(Status.DIVERGED)]
    codes = finished_codes + ([int(Status.NOT_RUN)] if np.any(status == Status.NOT_RUN) else [])
    counts = np.array([int(np.sum(status == c)) for c in codes])
    low, high = wilson_interval(counts[:3], n)
    rows = [
        [
            _esc(STATUS_NAMES[c]),
            f"{k}",
            _pct(k / n if n else np.nan),
            f"[{_pct(lo)}, {_pct(hi)}]",
            _esc(STATUS_MEANINGS[c]),
        ]
        for c, k, lo, hi in zip(finished_codes, counts[:3], low, high, strict=True)
    ]
    if len(codes) > 3:
        rows.append(
            [_esc(STATUS_NAMES[-1]), f"{counts[3]}", "&ndash;", "&ndash;", _esc(STATUS_MEANINGS[-1] + "; not counted")]
        )
    body = ""
    if run.has("sweep/summary"):
        body += '<p class="muted">This is a sweep file: the training numbers below are those of cell 0, the base study; the Sweep section compares all cells.</p>'
    body += "<h3>How training ended</h3>" + _table(
        ["status", "networks", "share", "95% CI (Wilson)", "meaning"],
        rows,
        caption=f"shares over the {n} networks whose training finished",
    )
    body += _success_html(run, final_loss, context)

    quantiles = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
    q_rows = []
    for label, mask in (("all finished", status >= 0), ("converged", status == 0), ("max_steps", status == 1)):
        values = final_loss[mask & np.isfinite(final_loss)]
        if values.size:
            q_rows.append([_esc(label), f"{values.size}"] + [_fmt(v) for v in np.quantile(values, quantiles)])
    steps = np.asarray(run.steps)
    done = status >= 0
    body += "<h3>Final loss quantiles</h3>" + _table(
        ["networks", "n", "min", "5%", "25%", "median", "75%", "95%", "max"],
        q_rows,
        caption="loss on the full data after training (non-finite losses left out)",
    )
    if done.any():
        grad = np.asarray(run.grad_norm, float)[done]
        grad = grad[np.isfinite(grad)]
        gradient = (
            f"final gradient norm: median {_fmt(np.median(grad))}, 95% quantile {_fmt(np.quantile(grad, 0.95))}"
            if grad.size
            else "no finite final gradient norm"
        )
        body += (
            f'<p class="muted">optimiser steps used: median {int(np.median(steps[done]))} of {run.study.train.steps}; '
            f"{gradient}</p>"
        )
    trajectory, traj_steps = run.trajectory, run.trajectory_steps
    labelled = _type_labels(run)
    figures = [
        figure(
            lambda: report_plots.status_figure([STATUS_NAMES[c] for c in finished_codes], counts[:3], low, high),
            "Share of the finished networks per training status.",
            "statuses",
        ),
        figure(
            lambda: report_plots.final_loss_figure(final_loss, status),
            "Final losses on a log scale, stacked by status.",
            "final losses",
        ),
    ]
    if labelled is not None:
        from .plots import types as type_plots

        labels, names = labelled
        figures.append(
            figure(
                lambda: type_plots.loss_curves_figure(trajectory, traj_steps, labels, names),
                "Loss curves coloured by final solution type (thin: sample of networks; thick: median).",
                "loss curves",
            )
        )
    else:
        figures.append(
            figure(
                lambda: report_plots.loss_curves_by_status(trajectory, traj_steps, status),
                "Loss curves by training status (classify the run to colour them by solution type).",
                "loss curves",
            )
        )
    body += "<h3>Figures</h3>" + _grid(figures)
    seconds = run.attrs.get("wall_seconds")
    chunk_seconds = _read(run, "train/chunk_seconds")
    if seconds is None and chunk_seconds is not None and np.any(np.isfinite(chunk_seconds)):
        seconds = float(np.nansum(chunk_seconds))
    rate = run.attrs.get("net_steps_per_second")
    note = f"{_fmt(rate)} network-steps/s" if rate is not None else ""
    if not run.complete:
        note = (note + "; " if note else "") + "run INCOMPLETE"
    section = Section("training", "Training", body)
    section.timings.append(("training", None if seconds is None else float(seconds), note))
    return section


def _types_section(run: Run, reuse: dict[str, Path] | None = None) -> Section:
    figure = functools.partial(_figure, reuse=reuse)
    if not run.has("types"):
        return _absent(
            run,
            "types",
            "Solution types",
            "Solution types were not computed for this run.",
            f"landscape classify {_path_text(run)}",
            "It labels every network's minimum (pyramid / valley / dead ...) and stores the 'types' group.",
            "solution types",
        )
    types = _stored_types(run)
    section = Section("types", "Solution types")
    from .plots import types as type_plots

    names, summary = types.names, types.summary
    causes, at_limit = types.causes, summary.get("max_steps")
    colours = type_colour_map(names)
    representatives = types.representatives
    rows = []
    for i, name in enumerate(names):
        rep = int(representatives.get(name, -1))
        rows.append(
            [
                f'<span class="swatch" style="background:{colours[name]}"></span>{_esc(name)}',
                f"{int(summary['count'][i])}",
                _pct(float(summary["fraction"][i])),
                f"[{_pct(float(summary['ci_low'][i]))}, {_pct(float(summary['ci_high'][i]))}]",
                f"{_fmt(summary['loss_min'][i])} / {_fmt(summary['loss_median'][i])} / {_fmt(summary['loss_max'][i])}",
                "&ndash;" if rep < 0 else f"#{rep}",
                "&ndash;" if at_limit is None else f"{int(at_limit[i])}",
                _esc(causes[i]) if causes is not None else "",
            ]
        )
    conf = f"{types.confidence:.0%}"
    body = _table(
        [
            "type",
            "networks",
            "share",
            f"{conf} CI (Wilson)",
            "final loss min / median / max",
            "representative",
            "at step limit",
            "typical cause",
        ],
        rows,
    )
    method = types.attrs.get("method")
    if method:
        body += f'<p class="muted">{_esc(method)}</p>'
    ari, purity = types.adjusted_rand, types.attrs.get("cluster_purity")
    clusters_method = str(types.attrs.get("clusters_method", ""))
    if ari is not None:
        body += f'<p class="muted">Rule-free clustering agrees with these types: adjusted Rand index {_fmt(ari)}, purity {_fmt(purity)}. {_esc(clusters_method)}</p>'

    labels = np.asarray(types.labels, dtype=str)
    figures = [
        figure(
            lambda: type_plots.fractions_figure(summary),
            "Share of each type with its confidence interval.",
            "type fractions",
        )
    ]
    figures += _representative_figures(run, types, reuse)
    if types.units is not None and "active_fraction" in types.units:
        active = types.units["active_fraction"]
        figures.append(
            figure(
                lambda: type_plots.active_fraction_figure(active, labels, names),
                "Per-unit active fractions by type; 0 is a dead unit.",
                "active fractions",
            )
        )
    if types.clusters is not None and "contingency" in types.clusters and ari is not None:
        contingency = types.clusters["contingency"]
        cluster_names = [str(t) for t in types.clusters.get("type_names", names)]
        figures.append(
            figure(
                lambda: type_plots.clusters_figure(contingency, cluster_names, clusters_method, float(ari)),
                "Rule-free clusters (rows) against the rule-based types (columns).",
                "clusters vs types",
            )
        )
    section.body = body + "<h3>Figures</h3>" + _grid(figures)
    seconds = types.attrs.get("seconds")
    seconds = float(seconds) if isinstance(seconds, (int, float)) else None
    section.timings.append(("solution types", seconds, "" if seconds is not None else "time not recorded"))
    return section


def _representative_figures(run: Run, types: Any, reuse: dict[str, Path] | None = None) -> list[str]:
    """Learned function, unit hyperplanes and unit weights of each type's representative (2-input nets)."""
    from .plots import types as type_plots

    units = types.units or {}
    category = units.get("category")
    problem = _context(run).problem
    reason = _context(run).problem_reason
    if problem is not None:
        from .problem import unit_reason

        reason = unit_reason(problem) or (None if problem.in_dim == 2 else f"the model has {problem.in_dim} inputs")
    if reason is None and category is None:
        reason = "the types group holds no unit categories"
    if reason is not None:
        return [
            '<p class="muted">Representative functions and unit diagrams (two-input, one-hidden-layer built-in MLPs) '
            f"not drawn: {_esc(reason)}.</p>"
        ]
    from .solutions import representative_panels

    active, cause = units.get("active_fraction"), types.networks.get("cause")
    target, surfaces, weights = representative_panels(
        run, types.names, types.summary["representative"], category, active, cause
    )
    if not surfaces:
        return []
    return [
        _figure(
            lambda: type_plots.contours_figure(surfaces, target),
            "The learned function of each type's representative (the network whose final loss is nearest the type's median), with each hidden unit's hyperplane.",
            "representative contours",
            reuse,
        ),
        _figure(
            lambda: type_plots.unit_weights_figure(weights),
            "Unit diagrams: each hidden unit's input weights as an arrow, with its offset, output weight, active fraction and role. Merged units show as parallel arrows, dead ones dashed.",
            "unit diagrams",
            reuse,
        ),
        _figure(
            lambda: type_plots.surfaces_figure(surfaces, target),
            "The same functions as 3D surfaces.",
            "representative surfaces",
            reuse,
        ),
    ]


def _curvature_section(run: Run) -> Section:
    """The ``/hessian`` group through :class:`landscape.curvature.CurvatureResult` (as ``landscape hessian`` stores it)."""
    from .curvature import CurvatureResult

    result = CurvatureResult.read(run) if run.has("hessian") else None
    if result is None:
        return _absent(
            run,
            "curvature",
            "Curvature",
            "Hessian spectra were not computed for this run.",
            f"landscape hessian {_path_text(run)}",
            "It stores eigenvalues of the loss Hessian at every final network (group 'hessian') and tells minima from saddles per type.",
            "curvature (Hessian)",
        )
    from .curvature import format_curvature_table
    from .plots import curvature as curvature_plots

    section = Section("curvature", "Curvature")
    summary = {key: np.asarray(value) for key, value in result.summary.items() if not isinstance(value, dict)}
    labelled = _type_labels(run) if result.label_source == "types" else None
    type_order = labelled[1] if labelled is not None else []
    if "type" in summary and summary["type"].size:  # rows in the order of the types table, not by count
        rank = {name: i for i, name in enumerate(type_order)}
        order = sorted(range(len(summary["type"])), key=lambda i: rank.get(str(summary["type"][i]), len(rank)))
        summary = {
            key: value[order] if value.ndim >= 1 and len(value) == len(order) else value
            for key, value in summary.items()
        }
    body = _notes_html(result.notes)
    if "type" in summary and summary["type"].size and "max_eigenvalue_median" in summary:
        dense = "median_near_zero" in summary
        column = lambda key, i: _fmt(summary[key][i]) if key in summary else "&ndash;"  # noqa: E731
        rows = []
        for i, name in enumerate(str(t) for t in summary["type"]):
            row = [
                _esc(name),
                f"{int(summary['count'][i])}",
                f"{int(summary['n_saddle'][i])}",
                f"{column('max_eigenvalue_median', i)} [{column('max_eigenvalue_q25', i)}, {column('max_eigenvalue_q75', i)}]",
                column("trace_median", i),
                column("min_eigenvalue_median", i),
                column("condition_number_median", i),
            ]
            if dense:
                row += [
                    f"{column('median_near_zero', i)} / {column('median_zero_predicted', i)}",
                    _pct(float(summary["zero_match"][i])),
                ]
            rows.append(row)
        header = [
            "type",
            "networks",
            "saddles",
            "&lambda;<sub>max</sub> median [IQR]",
            "trace median",
            "&lambda;<sub>min</sub> median",
            "condition median",
        ]
        if dense:
            header += ["zero eigenvalues observed / predicted by symmetry", "match"]
        body += _table(
            header,
            rows,
            caption=f"Hessian of the training loss at the final networks ({_esc(result.method)}; "
            f"{int(result.analysed.sum())} of {result.analysed.size} networks analysed)",
        )
        body += (
            '<details><summary>as <code>landscape hessian</code> prints it</summary><pre class="table">'
            f"{_esc(format_curvature_table(result))}</pre></details>"
        )
    else:
        body += _error_line(
            "the /hessian group holds no per-type summary (damaged, or written by an older version); "
            f"recompute it with: landscape hessian {run.path}"
        )

    analysed = result.analysed
    figures = []
    if analysed.any():
        eigenvalues, spectra_note = result.spectra()
        networks = result.networks
        labels = np.where(analysed, result.labels, "not analysed")
        rep_names = [str(t) for t in result.representatives.get("type", [])]
        present = [str(t) for t in dict.fromkeys(result.labels[analysed].tolist())]
        type_names = [t for t in type_order if t in present] + [t for t in present if t not in type_order]
        figures = [
            _figure(
                lambda: curvature_plots.spectra_by_type(
                    eigenvalues[analysed], labels[analysed], networks["zero_tolerance"][analysed], type_names
                ),
                "Hessian spectra by type: |eigenvalue| by rank; red crosses are negative (saddles), grey ones within "
                f"the zero tolerance. {_esc(spectra_note)}",
                "spectra by type",
            ),
            _figure(
                lambda: curvature_plots.top_eigenvalue_by_type(
                    networks["max_eigenvalue"][analysed],
                    networks["trace"][analysed],
                    labels[analysed],
                    type_names,
                    networks["is_saddle"][analysed],
                ),
                "Largest eigenvalue and trace per network, by type (bar: median).",
                "top eigenvalue by type",
            ),
        ]
        density = result.density
        if isinstance(density, dict) and "grid" in density and "slq" in density:
            rep_index = result.representatives.get("index", [])
            curve_names = [f"{t} (net {int(i)})" for t, i in zip(rep_names, rep_index, strict=False)]
            figures.append(
                _figure(
                    lambda: curvature_plots.spectral_density(
                        density["grid"],
                        density["slq"],
                        density.get("exact"),
                        result.representatives.get("eigenvalues"),
                        curve_names,
                    ),
                    "Spectral density of each type's representative: stochastic Lanczos quadrature against exact eigenvalues.",
                    "spectral density",
                )
            )
    section.body = body + ("<h3>Figures</h3>" + _grid(figures) if figures else "")
    section.timings.append(("curvature (Hessian)", result.attrs.get("seconds"), result.method))
    return section


def _notes_html(notes: list[str]) -> str:
    return "".join(f'<p class="muted">note: {_esc(note)}</p>' for note in notes)


def _geometry_section(run: Run) -> Section:
    section = Section("geometry", "Slices and barriers")
    slices, paths = _subgroups(run, "slices", "loss"), _subgroups(run, "paths", "barrier_aligned")
    from .paths import PathsResult

    parts = []
    if slices:
        blocks = []
        for name in slices:
            blocks.append(_slice_block(run, name))
            section.timings.append(
                (
                    name,
                    _seconds(run, name),
                    f"{_read(run, f'{name}:kind', '')} {_read(run, f'{name}:resolution', '')}&sup2; grid".strip(),
                )
            )
        parts.append("<h3>Slices</h3>" + _grid(blocks))
    else:
        body, computable = _absent_html(
            run,
            "No loss slices were computed.",
            f"landscape slice {_path_text(run)}",
            "It evaluates the loss over the plane through three minima (default: the representatives of the first three solution types).",
        )
        parts.append("<h3>Slices</h3>" + body)
        section.timings.append(("slices", None, "not run" if computable else "not computable by the command"))
    if paths:
        for name in paths:
            try:
                result = PathsResult.read(run, name.split("/", 1)[-1])
                if result is None:
                    raise KeyError(f"no '{name}' group")
                parts.append(_paths_result_block(run, result))
            except Exception as err:  # noqa: BLE001 - one damaged group, one line
                parts.append(f"<h3>Barriers: <code>{_esc(name)}</code></h3>" + _error_line(_one_line(err)))
            section.timings.append((name, _seconds(run, name), f"{_read(run, f'{name}:bezier_steps', 0)} Bezier steps"))
    else:
        body, computable = _absent_html(
            run,
            "No paths between minima were computed.",
            f"landscape paths {_path_text(run)}",
            "It measures loss barriers along straight lines (before and after aligning units) and trained Bezier curves.",
        )
        parts.append("<h3>Barriers</h3>" + body)
        section.timings.append(("paths", None, "not run" if computable else "not computable by the command"))
    section.ran = bool(slices or paths)
    section.body = "".join(parts)
    return section


def _slice_block(run: Run, name: str) -> str:
    """The contour of one stored slice (a :class:`landscape.slices.SliceResult`), with its notes."""
    from .slices import SliceResult

    try:
        result = SliceResult.read(run, name.split("/", 1)[-1])
    except Exception as err:  # noqa: BLE001
        return f'<figure class="failed">{_error_line(f"slice {name!r} could not be read: {_one_line(err)}")}</figure>'
    from .plots.geometry import plot_slice_contour

    labels = [str(t) for t in result.point_labels]
    if not np.any(np.isfinite(result.loss)):
        return f'<figure class="failed">{_error_line(f"slice {name!r}: the loss is nowhere finite on this plane")}</figure>'

    def make() -> Any:
        marked = [f"{label} ({float(value):.2g})" for label, value in zip(labels, result.point_loss, strict=True)]
        aligned = " (aligned onto the first)" if result.attrs.get("aligned") else ""
        title = f"{result.name}: {', '.join(labels)}{aligned}"
        return plot_slice_contour(
            result.alpha, result.beta, result.loss, result.point_coords, marked, title, result.axis_labels
        )

    notes = "".join(f"<br>note: {_esc(note)}" for note in result.notes)
    return _figure(
        make,
        f"log10 loss over the slice <code>{_esc(name)}</code> ({_esc(result.kind)}); points marked with their own loss.{notes}",
        name,
    )


def _paths_result_block(run: Run, result: Any) -> str:
    """Barrier table and figures of a ``paths.PathsResult``."""
    from .plots.geometry import plot_barrier_matrices, plot_path_profiles

    labels = [str(t) for t in result.labels]
    bezier = result.bezier
    rows = []
    for n, (i, j) in enumerate(result.pairs):
        rows.append(
            [
                _esc(f"{labels[i]} → {labels[j]}"),
                _fmt(result.barrier_linear[i, j]),
                _fmt(result.barrier_aligned[i, j]) if result.aligned else "&ndash;",
                _fmt(bezier["barrier"][n]) if bezier is not None else "&ndash;",
            ]
        )
    table = _table(
        ["pair", "straight line", "aligned straight line", "trained Bezier curve"],
        rows,
        caption="loss barrier: highest loss along the path minus the higher endpoint loss",
    )
    if not result.pairs:
        table = '<p class="muted">Fewer than two points: no path to measure.</p>'

    def profiles() -> Any:
        panels = []
        for n, (i, j) in enumerate(result.pairs):
            curves = {"linear": result.profile_linear[i, j]}
            if result.aligned:
                curves["aligned"] = result.profile_aligned[i, j]
            if bezier is not None:
                curves["bezier"] = bezier["profile"][n]
            panels.append((f"{labels[i]} -> {labels[j]}", curves))
        return plot_path_profiles(result.t, panels)

    def matrices() -> Any:
        found = {"linear": result.barrier_linear}
        if result.aligned:
            found["aligned"] = result.barrier_aligned
        if bezier is not None and "barrier_matrix" in bezier:
            found["Bezier (aligned ends)" if result.aligned else "Bezier"] = bezier["barrier_matrix"]
        return plot_barrier_matrices(found, labels, f"loss barriers between minima ({result.group})")

    figures = []
    if result.pairs:
        figures = [
            _figure(
                matrices,
                "Barrier matrices: straight line, after aligning units, and along a trained Bezier curve.",
                f"{result.group} barriers",
            ),
            _figure(profiles, "Loss along each path between the points.", f"{result.group} profiles"),
        ]
    return f"<h3>Barriers: <code>{_esc(result.group)}</code></h3>" + _notes_html(result.notes) + table + _grid(figures)


def _map_section(run: Run) -> Section:
    """The disconnectivity graph and barrier matrices of ``/landscape_map`` (``landscape map``)."""
    if not run.has("landscape_map/minima"):
        return _absent(
            run,
            "map",
            "Map between minima",
            "No transition states or disconnectivity graph were computed.",
            f"landscape map {_path_text(run)}",
            "It finds minimum-energy paths and transition states between "
            "minima and draws which minima are joined below which loss.",
            "map (transition states)",
        )
    from .landscape_map import MapResult
    from .plots.disconnectivity import barrier_panels, map_disconnectivity

    result = MapResult.read(run)
    arrays = result.arrays
    notes = _notes_html([str(n) for n in result.notes])
    labels = [str(v) for v in arrays["points"]["labels"]]
    ts = arrays["transition_states"]
    rows = [
        [
            f"{t}",
            _fmt(ts["loss"][t], 5),
            _fmt(ts["grad_norm"][t], 2),
            f"{int(ts['index'][t])}",
            _fmt(ts["negative_eigenvalue"][t]),
            f"{int(ts['minima'][t][0])}&ndash;{int(ts['minima'][t][1])}",
            _esc(f"{ts['type'][t]}: {ts['cause'][t]}"),
        ]
        for t in range(len(ts["loss"]))
    ]
    body = notes + _table(
        ["#", "loss", "|grad|", "index", "negative eigenvalue", "joins minima", "what the saddle network computes"],
        rows,
        caption="verified transition states: gradient below the tolerance, one negative eigenvalue outside the symmetry null space",
    )
    body += _grid(
        [
            _figure(
                lambda: map_disconnectivity(arrays, run.name),
                "Disconnectivity graph: minima at their loss, joined at the lowest connection between them.",
                "disconnectivity graph",
            ),
            _figure(
                lambda: barrier_panels(arrays["barriers"], labels, "loss barriers between the mapped points"),
                "Barriers: straight line (lower of unaligned and aligned), Bezier curve, relaxed band, its transition state.",
                "map barriers",
            ),
        ]
    )
    section = Section("map", "Map between minima", body)
    section.timings.append(
        (
            "map (transition states)",
            _seconds(run, "landscape_map"),
            f"{len(labels)} points, {len(ts['loss'])} transition states",
        )
    )
    return section


def _basins_section(run: Run) -> Section:
    if not run.has("basins"):
        return _not_run_section(
            "basins",
            "Basins of attraction",
            "This run file holds no basin map.",
            "landscape basins STUDY",
            "STUDY is a basins TOML (a study plus a [basins] table, e.g. runs/basins.toml); it trains a plane of inits "
            "around one network's init and stores the map under /basins of that study's run file. Report that file.",
        )
    section = Section("basins", "Basins of attraction")
    from .plots.basins import basin_map_figure_from_group

    keys = ("label", "final_loss", "coords_a", "coords_b", "fractions")
    group = {key: _read(run, f"basins/{key}") for key in keys}
    for attr in (
        "label_names",
        "directions_kind",
        "units",
        "boundary_edge_fraction",
        "success_loss",
        "base_index",
        "grid",
        "trainer",
        "classifier",
    ):
        group[attr] = _read(run, f"basins:{attr}")
    names = _json_attr(run, "basins:label_names", [])
    rows = [
        [_esc(name), f"{int(round(float(f) * group['label'].size))}", _pct(float(f))]
        for name, f in zip(names, group["fractions"], strict=True)
    ]
    body = _table(
        ["final type", "inits", "share of the plane"],
        rows,
        caption=f"{int(group['grid'])}&times;{int(group['grid'])} inits around network {int(group['base_index'])}'s init",
    )
    body += f'<p class="muted">boundary edges: {_fmt(group["boundary_edge_fraction"])} of neighbouring grid pairs change type; classifier: {_esc(group["classifier"])}.</p>'
    body += _grid(
        [
            _figure(
                lambda: basin_map_figure_from_group(
                    group, f"{run.name}: basins around network {int(group['base_index'])}'s init"
                ),
                "Which type each init of the plane trains into (left) and its final loss (right); the cross is the base init.",
                "basin map",
            )
        ]
    )
    section.body = body
    section.timings.append(("basin map", _seconds(run, "basins"), f"{int(group['grid'])}&sup2; networks"))
    return section


def _sweep_section(run: Run) -> Section:
    if not run.has("sweep/summary"):
        return _not_run_section(
            "sweep",
            "Sweep",
            "This is not a sweep file.",
            "landscape sweep SWEEP",
            "SWEEP is a sweep TOML (a study plus a [sweep] table of factors, e.g. runs/remedies.toml); it writes runs/<name>.h5, "
            "whose report shows the success table.",
        )
    section = Section("sweep", "Sweep")
    from .plots.sweeps import success_by_factor_figure, type_breakdown_figure
    from .stats import wilson_interval
    from .sweeps import read_summary

    table = read_summary(run.path)
    rows = []
    for r in range(len(table["cell"])):
        rows.append(
            [
                f"{int(table['cell'][r])}",
                _esc(table["label"][r]),
                f"{int(table['successes'][r])} / {int(table['n'][r])}",
                _pct(float(table["fraction"][r])),
                f"[{_pct(float(table['ci_low'][r]))}, {_pct(float(table['ci_high'][r]))}]",
                _fmt(table["median_steps_to_success"][r]),
                _fmt(table["wall_seconds"][r]),
                _esc(table["trainer"][r]),
            ]
        )
    success = _esc(_read(run, "sweep/summary:success_definition", f"final MSE < {table['success_loss']:g}"))
    body = _table(
        ["cell", "setting", "successes", "share", "95% CI (Wilson)", "median steps to success", "seconds", "trainer"],
        rows,
        caption=f"{_esc(table['mode'])} sweep; success: {success}",
    )
    wilson = lambda k, n: tuple(float(v) for v in wilson_interval(k, n))  # noqa: E731
    figures = [
        _figure(
            lambda: success_by_factor_figure(table, wilson, title=run.name),
            "Success share against each factor (bars: 95% Wilson intervals; red: the base study).",
            "success by factor",
        ),
        _figure(
            lambda: type_breakdown_figure(table, title=f"{run.name}: solution types of ReLU-family cells"),
            "Solution types of the ReLU-family cells.",
            "type breakdown",
        ),
    ]
    section.body = body + _grid(figures)
    section.timings.append(
        ("sweep (all cells)", _seconds(run, "sweep/summary"), f"{len(table['cell'])} cells, compilation included")
    )
    return section


def _config_section(run: Run) -> Section:
    toml = str(run.attrs.get("config_toml", ""))
    versions = _json_attr(run, "/:versions", {}) or {}
    items = (
        ", ".join(f"{_esc(k)} {_esc(v)}" for k, v in versions.items()) if isinstance(versions, dict) else _esc(versions)
    )
    body = (
        f"<p>Rerun this exact study with <code>landscape run STUDY.toml</code> after saving the text below.</p>"
        f'<details open><summary>study TOML</summary><pre class="toml">{_esc(toml)}</pre></details>'
        f'<p class="muted">versions: {items}</p>'
    )
    return Section("config", "Configuration", body)


def _timing_section(run: Run, sections: list[Section], report_seconds: float) -> Section:
    rows = []
    total = 0.0
    for section in sections:
        for stage, seconds, note in section.timings:
            if seconds is not None and np.isfinite(seconds):
                total += seconds
            rows.append([_esc(stage), "&ndash;" if seconds is None else _duration(seconds), note])
    rows.append(["this report", _duration(report_seconds), "figures drawn and embedded"])
    body = _table(["stage", "wall time", "note"], rows, caption=f"recorded stages: {_duration(total)} in all")
    return Section("timing", "Time per stage", body)


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {seconds % 60:.0f} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


# ---------------------------------------------------------------------------------------------
# The page.


CSS = """
:root { --ink: #1d2733; --muted: #5b6776; --line: #dde3ea; --band: #16324f; --accent: #2a9d8f; --bad: #b42318; --paper: #f5f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: var(--ink); background: var(--paper); }
header { background: var(--band); color: #fff; padding: 28px 0 22px; }
.wrap { max-width: 1280px; margin: 0 auto; padding: 0 24px; }
header h1 { margin: 0 0 4px; font-size: 30px; letter-spacing: .2px; }
header p { margin: 2px 0; color: #c9d6e3; }
header code { color: #fff; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin-top: 18px; }
.card { background: rgba(255,255,255,.09); border-radius: 8px; padding: 10px 14px; }
.card .value { font-size: 22px; font-weight: 650; color: #fff; }
.card .label { font-size: 13px; color: #c9d6e3; }
nav { background: #fff; border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 2; }
nav .wrap { display: flex; flex-wrap: wrap; gap: 4px 18px; padding-top: 10px; padding-bottom: 10px; font-size: 14px; }
nav a { color: var(--band); text-decoration: none; }
nav a.absent { color: var(--muted); }
nav a.absent::after { content: " (not run)"; font-size: 12px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; margin: 22px 0; padding: 6px 24px 20px; }
section h2 { font-size: 22px; margin: 14px 0 10px; }
section h3 { font-size: 17px; margin: 20px 0 8px; color: var(--band); }
.tablewrap { overflow-x: auto; }
table { border-collapse: collapse; font-size: 14px; margin: 6px 0 10px; min-width: 50%; }
caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 13px; padding-top: 4px; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: #eef2f6; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
td:first-child { white-space: nowrap; }
pre.toml { column-width: 24em; column-rule: 1px solid #2b3a4d; column-gap: 28px; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 7px; vertical-align: -1px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 18px; align-items: start; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 10px; }
figure.wide { grid-column: 1 / -1; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; }
.muted { color: var(--muted); font-size: 14px; }
.error { color: var(--bad); background: #fef3f2; border-left: 4px solid var(--bad); padding: 6px 10px; font-size: 14px; margin: 6px 0; }
.banner { background: #fff7e6; border-left: 4px solid #d97706; padding: 8px 12px; margin: 14px 0 0; font-size: 15px; }
.stale { color: #92400e; background: #fff7e6; border-left: 4px solid #d97706; padding: 6px 10px; font-size: 14px; margin: 6px 0; }
.success { font-size: 15px; }
.notrun { background: #f8fafc; border: 1px dashed #b8c4d0; border-radius: 8px; padding: 4px 16px 10px; }
pre { background: #0f1b2a; color: #e6edf3; border-radius: 6px; padding: 10px 14px; overflow-x: auto; font: 13px/1.45 ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; }
pre.command { display: inline-block; margin: 2px 0 6px; min-width: 24em; }
code { font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 90%; }
details summary { cursor: pointer; color: var(--band); font-weight: 600; }
footer { color: var(--muted); font-size: 13px; padding: 10px 0 40px; }
"""


def _cards(run: Run) -> str:
    status = np.asarray(run.status)
    loss = np.asarray(run.final_loss, float)
    context = _context(run)
    finished, n = context.finished, context.n_finished
    cards = [("networks", f"{status.size:,}" + (f" ({n:,} finished)" if n < status.size else ""))]
    cards.append(("converged", _pct(float(np.sum(status == Status.CONVERGED)) / n) if n else "&ndash;"))
    found = success_summary(run)
    if found is not None and found[2]:
        cards.append(("succeed (task-aware rule)", _pct(found[1] / found[2])))
    finite = loss[finished & np.isfinite(loss)]
    cards.append(("median final loss", _fmt(np.median(finite)) if finite.size else "&ndash;"))
    labelled = _type_labels(run) if run.has("types") else None
    if labelled is not None:
        from .stats import wilson_interval

        labels, names = labelled
        counted = labels[finished] if labels.size == finished.size else labels
        for t in [t for t in names if t != "not_run"][:3]:
            count = int(np.sum(counted == t))
            low, high = wilson_interval(count, counted.size)
            cards.append(
                (f"{t} (95% CI {100 * float(low):.1f}-{100 * float(high):.1f}%)", _pct(count / max(counted.size, 1)))
            )
    seconds = run.attrs.get("wall_seconds")
    if seconds is not None:
        cards.append(("training time", _duration(float(seconds))))
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="value">{v}</div><div class="label">{_esc(k)}</div></div>' for k, v in cards
        )
        + "</div>"
    )


def _banners(run: Run) -> str:
    """Lines above every section: an incomplete run (and how to finish it), stale analyses, a model
    the commands cannot rebuild."""
    context = _context(run)
    lines = []
    chunk_done = np.asarray(run.chunk_done, bool)
    if not run.complete or not chunk_done.all():
        missing, n = int(np.sum(~chunk_done)), int(np.asarray(run.status).size)
        lines.append(
            f"Incomplete run: {missing} of {chunk_done.size} chunks not trained ({n - context.n_finished} of {n} "
            f"networks). Shares below are over the {context.n_finished} finished networks; networks not yet "
            f"trained are never counted as diverged. Finish it with "
            f"<code>landscape run --resume --out {_esc(run.path)}</code>."
        )
    if context.stale:
        names = ", ".join(f"<code>/{_esc(name)}</code>" for name in context.stale)
        lines.append(
            f"Stale analyses: {names} were computed before the training data changed (e.g. a resumed run); "
            "their sections say how to recompute them."
        )
    if context.problem_reason is not None:
        lines.append(f"The commands cannot rebuild this run's model: {_esc(context.problem_reason)}")
    return "".join(f'<div class="banner">{line}</div>' for line in lines)


def _page(run: Run, sections: list[Section]) -> str:
    attrs = run.attrs
    try:
        study = run.study
        description = study.description
        problem = _context(run).problem
        what = (
            problem.describe() if problem is not None else f"{attrs.get('model', 'MLP')}; {study.task.n_points} points"
        )
        recipe = (
            f"{what}; task {study.task.name}; "
            f"{study.optimizer.name} lr {study.optimizer.learning_rate:g}, {study.train.steps} steps; seed {study.seed}"
        )
    except Exception as err:  # noqa: BLE001
        description, recipe = "", f"study could not be read: {_one_line(err)}"
    state = "complete" if run.complete else f"INCOMPLETE ({int(run.chunk_done.sum())} of {run.chunk_done.size} chunks)"
    try:
        cards = _cards(run)
    except Exception as err:  # noqa: BLE001
        cards = _error_line(f"summary numbers could not be computed: {_one_line(err)}")
    try:
        banners = _banners(run)
    except Exception as err:  # noqa: BLE001
        banners = _error_line(f"the run's state could not be summarised: {_one_line(err)}")
    nav = "".join(f'<a href="#{s.key}" class="{"" if s.ran else "absent"}">{_esc(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{s.key}"><h2>{_esc(s.title)}</h2>{s.body}</section>' for s in sections)
    generated = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    from . import __version__

    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="landscape {_esc(__version__)}">
<link rel="icon" href="data:,">
<title>{_esc(run.name)}: landscape report</title>
<style>{CSS}</style>
</head>
<body>
<header><div class="wrap">
<h1>{_esc(run.name)}</h1>
<p>{_esc(description)}</p>
<p>{_esc(recipe)}</p>
<p>run file <code>{_esc(run.path)}</code> &middot; {_esc(state)} &middot; created {_esc(attrs.get("created", "?"))}, finished {_esc(attrs.get("finished", "?"))} &middot; {_esc(attrs.get("backend", "?"))} ({_esc(attrs.get("devices", "?"))})</p>
{cards}
</div></header>
<nav><div class="wrap">{nav}</div></nav>
<main class="wrap">
{banners}
{body}
</main>
<footer><div class="wrap">Generated {_esc(generated)} by <code>landscape report</code> {_esc(__version__)}. Self-contained: figures are embedded, no network access or scripts needed.</div></footer>
</body>
</html>
"""
