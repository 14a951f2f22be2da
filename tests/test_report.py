"""The study report: built from a real small run with its analyses, rendered in headless Chromium.

The browser is driven through the Chrome DevTools protocol over ``--remote-debugging-pipe``
(null-separated JSON on file descriptors 3 and 4, the transport Puppeteer uses): standard
library only, no websocket, no port to race for, and the protocol reports what ``--dump-dom``
cannot: console messages, uncaught exceptions, failed loads, every network request, and each
image's ``naturalWidth``. Tests that need the browser skip only when no Chromium binary exists.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from landscape.cli import main as cli_main
from landscape.report import build_report, render_report, report_path_for
from landscape.storage import Run, write_group

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chromium() -> str | None:
    """``$LANDSCAPE_CHROMIUM`` or the first Chromium-family binary on PATH."""
    explicit = os.environ.get("LANDSCAPE_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """A headless Chromium driven over the DevTools protocol pipe (fd 3: commands in, fd 4: out)."""

    def __init__(self, binary: str, profile: Path, timeout: float = 60.0):
        self.timeout = timeout
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # Move Chrome's ends above fd 10, so dup2 onto 3 and 4 in the child cannot clobber them.
        child_in = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def wire_pipes() -> None:  # runs in the child, before exec
            os.dup2(child_in, 3, inheritable=True)
            os.dup2(child_out, 4, inheritable=True)

        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--mute-audio",
            "--hide-scrollbars",
            "about:blank",
        ]
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=wire_pipes,
            close_fds=False,
        )
        os.close(child_in)
        os.close(child_out)
        self._write, self._read = to_chrome_w, from_chrome_r
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    # transport
    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._read], [], [], left)
            if ready:
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    stderr = (
                        self.process.stderr.read().decode(errors="replace")[-2000:]
                        if self.process.poll() is not None
                        else ""
                    )
                    raise RuntimeError(f"Chromium closed the DevTools pipe; stderr tail:\n{stderr}")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict[str, Any]:
        """Send a command and wait for its result (events that arrive meanwhile are kept)."""
        wanted = self._send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        for event in self.events:
            if event["method"] == method and event.get("sessionId") == session:
                return event
        while True:
            message = self._receive(deadline)
            if "method" in message:
                self.events.append(message)
                if message["method"] == method and message.get("sessionId") == session:
                    return message

    def close(self) -> None:
        try:
            self._send("Browser.close")
        except OSError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stderr.close()
        os.close(self._write)
        os.close(self._read)

    # one page
    def render(
        self, url: str, width: int = 1280, height: int = 900, screenshot: Path | None = None, full_page: bool = True
    ) -> dict[str, Any]:
        """Load ``url`` and return what the page reports about itself, plus console problems.

        Returns a dict with ``images`` (src kind, naturalWidth, naturalHeight, complete, alt),
        ``title``, ``errors_shown`` (``.error`` elements' text), ``sections`` (ids),
        ``scripts`` (number of script elements), ``console_errors`` (console errors, uncaught
        exceptions, failed loads) and ``requests`` (every URL the page asked for).
        """
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", {}, session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        start = len(self.events)
        self.call("Page.navigate", {"url": url}, session)
        self.wait_event("Page.loadEventFired", session)
        probe = """JSON.stringify({
            title: document.title,
            images: Array.from(document.images).map(i => ({src: i.src.slice(0, 22), naturalWidth: i.naturalWidth,
                     naturalHeight: i.naturalHeight, complete: i.complete, alt: i.alt})),
            errors_shown: Array.from(document.querySelectorAll('.error')).map(e => e.textContent),
            sections: Array.from(document.querySelectorAll('section')).map(s => s.id),
            scripts: document.scripts.length,
            height: document.documentElement.scrollHeight,
            body_font_px: parseFloat(getComputedStyle(document.body).fontSize)
        })"""
        value = self.call("Runtime.evaluate", {"expression": probe, "returnByValue": True}, session)["result"]["value"]
        result = json.loads(value)
        if screenshot is not None:
            clip_height = min(int(result["height"]), 16000) if full_page else height
            shot = self.call(
                "Page.captureScreenshot",
                {
                    "format": "png",
                    "captureBeyondViewport": full_page,
                    "clip": {"x": 0, "y": 0, "width": width, "height": clip_height, "scale": 1},
                },
                session,
            )
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        events = [e for e in self.events[start:] if e.get("sessionId") == session]
        problems = []
        for event in events:
            params = event["params"]
            if event["method"] == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                problems.append(
                    "console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
                )
            elif event["method"] == "Runtime.exceptionThrown":
                problems.append("exception: " + params["exceptionDetails"].get("text", ""))
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                problems.append("log: " + params["entry"]["text"])
            elif event["method"] == "Network.loadingFailed":
                problems.append("load failed: " + params.get("errorText", ""))
        result["console_errors"] = problems
        result["requests"] = [
            e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"
        ]
        self.call("Target.closeTarget", {"targetId": target})
        return result


def render_in_chromium(html_path: Path, screenshot: Path | None = None, width: int = 1280) -> dict[str, Any]:
    """Open ``html_path`` in a fresh headless Chromium; see :meth:`Browser.render`."""
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium binary (install Debian's `chromium` package, or set LANDSCAPE_CHROMIUM)")
    profile = html_path.parent / ".chromium-profile"
    browser = Browser(binary, profile)
    try:
        return browser.render(html_path.resolve().as_uri(), width=width, screenshot=screenshot)
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Fixtures: a small run with every analysis its command can add quickly.

ANALYSES = (
    ("types", ["classify", "{run}", "--no-figures"]),
    ("hessian", ["hessian", "{run}", "--no-figures"]),
    ("slices", ["slice", "{run}", "--resolution", "9", "--no-figures"]),
    ("paths", ["paths", "{run}", "--bezier-steps", "10", "--path-points", "11", "--no-figures"]),
)


@pytest.fixture(scope="module")
def analysed_run(tmp_path_factory, small_run_path):
    """A copy of the small run with every analysis whose command exists, and its report."""
    import importlib.util

    folder = tmp_path_factory.mktemp("report")
    path = folder / "small.h5"
    shutil.copy(small_run_path, path)
    added = []
    for group, argv in ANALYSES:
        if importlib.util.find_spec(f"landscape.commands.{argv[0]}") is None:
            continue
        assert cli_main([a.format(run=path) for a in argv]) == 0, f"landscape {argv[0]} failed"
        added.append(group)
    return path, added


@pytest.fixture(scope="module")
def analysed_report(analysed_run):
    path, added = analysed_run
    return build_report(path), added


# ---------------------------------------------------------------------------------------------
# Without a browser.


def test_cli_writes_the_bare_report_where_report_path_for_says(small_run_copy, capsys):
    expected = small_run_copy.parent / "small-report" / "index.html"
    assert report_path_for(small_run_copy) == expected
    assert cli_main(["report", str(small_run_copy)]) == 0
    assert capsys.readouterr().out.strip() == f"report: {expected}"
    assert (expected.stat().st_mode & 0o044) == 0o044  # readable by others, like any file
    page = expected.read_text()
    with Run(small_run_copy) as run:
        status, loss = run.status, run.final_loss
    for command in (
        "landscape classify",
        "landscape hessian",
        "landscape slice",
        "landscape paths",
        "landscape basins STUDY",
        "landscape sweep SWEEP",
    ):
        assert command in page, command
    assert 'class="error"' not in page
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page
    # the status table's counts are the file's own
    for code, name in ((0, "converged"), (1, "max_steps")):
        assert f'<td class="">{name}</td><td class="num">{int(np.sum(status == code))}</td>' in page
    # the loss quantile row of all finished networks: its median is the data's
    finished = loss[(status >= 0) & np.isfinite(loss)]
    assert f"{np.median(finished):.3g}" in page

    out = small_run_copy.parent / "elsewhere"
    assert cli_main(["report", str(small_run_copy), "--out", str(out)]) == 0
    assert (out / "index.html").read_text().count("<img") == 3
    # user errors are one line and exit status 2, like every command
    (small_run_copy.parent / "not-a-run.h5").write_text("hello")
    blocker = small_run_copy.parent / "a-file"
    blocker.write_text("")
    for argv in (
        ["report", str(small_run_copy.parent / "missing.h5")],
        ["report", str(small_run_copy.parent / "not-a-run.h5")],
        ["report", str(small_run_copy), "--out", str(blocker / "sub")],
    ):
        assert cli_main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("landscape report: error: ") and err.count("\n") == 1, err

    browser = render_in_chromium(expected)  # last: skips only when no browser exists
    assert browser["console_errors"] == [] and browser["errors_shown"] == []
    assert len(browser["images"]) == 3 and all(i["naturalWidth"] > 100 for i in browser["images"])


def test_broken_group_gives_one_error_line_and_the_rest_renders(small_run_copy):
    write_group(small_run_copy, "hessian", {"eigenvalues": np.zeros((3, 2))}, {"method": "dense", "seconds": 1.5})
    with Run(small_run_copy) as run:
        page = render_report(run)
    curvature = page.split('<section id="curvature">')[1].split("</section>")[0]
    assert 'class="error"' in curvature
    assert page.count('class="error"') == curvature.count('class="error"')  # the other sections are intact
    assert all(
        len(line.split("</p>")[0].splitlines()) == 1 for line in curvature.split('class="error">')[1:]
    )  # one line each
    assert "How training ended" in page and 'id="config"' in page
    assert "1.5 s" in page  # the group's own seconds attribute reaches the timing table


def test_type_and_curvature_tables_match_their_groups(analysed_report, analysed_run):
    report, added = analysed_report
    if "types" not in added:
        pytest.skip("no classify command in this checkout")
    page = report.read_text()
    with Run(analysed_run[0]) as run:
        summary = run.group("types/summary")
    for name, count, low, high in zip(
        summary["names"], summary["count"], summary["ci_low"], summary["ci_high"], strict=True
    ):
        row = page.split(f"</span>{name}</td>")[1].split("</tr>")[0]
        assert f'<td class="num">{int(count)}</td>' in row
        assert f"[{100 * low:.1f}%, {100 * high:.1f}%]" in row
    if "hessian" in added:  # the curvature table: one row per type with the group's counts, in the types table's order
        with Run(analysed_run[0]) as run:
            curvature = run.group("hessian/summary")
        section = page.split('<section id="curvature">')[1].split("</section>")[0]
        rows = [r for r in section.split("<tr>")[2:]]
        assert [r.split("</td>")[0].removeprefix('<td class="">') for r in rows] == [
            str(t) for t in summary["names"] if t in curvature["type"]
        ]
        for name, count, saddles in zip(curvature["type"], curvature["count"], curvature["n_saddle"], strict=True):
            row = next(r for r in rows if r.startswith(f'<td class="">{name}</td>'))
            assert f'<td class="num">{int(count)}</td><td class="num">{int(saddles)}</td>' in row


# ---------------------------------------------------------------------------------------------
# In the browser.


def test_report_renders_in_chromium(analysed_report, tmp_path):
    report, added = analysed_report
    shot = Path(os.environ.get("LANDSCAPE_REPORT_SCREENSHOT", tmp_path / "report.png"))
    page = render_in_chromium(report, screenshot=shot)
    assert page["console_errors"] == []
    assert page["scripts"] == 0
    assert page["errors_shown"] == [], page["errors_shown"]
    # every figure is an embedded PNG that decodes to a real picture
    assert len(page["images"]) >= 3 + 4 * ("types" in added) + 2 * ("hessian" in added) + ("slices" in added) + 2 * (
        "paths" in added
    )
    for image in page["images"]:
        assert image["src"].startswith("data:image/png;base64"), image
        assert image["complete"] and image["naturalWidth"] > 100 and image["naturalHeight"] > 50, image
    # self-contained: nothing but the file itself and data: URIs was requested
    assert all(url.startswith(("data:", "file:")) for url in page["requests"]), page["requests"]
    assert set(page["sections"]) >= {
        "timing",
        "training",
        "types",
        "curvature",
        "geometry",
        "basins",
        "sweep",
        "config",
    }
    assert page["body_font_px"] >= 14
    assert shot.stat().st_size > 10_000


def test_basin_map_and_sweep_sections_render_in_chromium(small_run_copy, tmp_path):
    """A basin map added by `landscape basins` and a sweep file from `landscape sweep`, both tiny."""
    import importlib.util

    from tests.conftest import small_study

    if (
        importlib.util.find_spec("landscape.commands.basins") is None
        or importlib.util.find_spec("landscape.commands.sweep") is None
    ):
        pytest.skip("no basins / sweep commands in this checkout")
    with Run(small_run_copy) as run:
        study_toml = run.study.to_toml()
    basins_toml = tmp_path / "basins.toml"
    basins_toml.write_text(study_toml + "\n[basins]\ngrid = 3\n")
    assert (
        cli_main(
            [
                "basins",
                str(basins_toml),
                "--out",
                str(small_run_copy),
                "--figures",
                str(tmp_path / "figures"),
                "--quiet",
            ]
        )
        == 0
    )
    sweep_toml = tmp_path / "sweep.toml"
    base = small_study(n_inits=8, **{"train.steps": 50, "name": "tiny-sweep"}).to_toml()
    sweep_toml.write_text(
        base + '\n[sweep]\nmode = "one_at_a_time"\nsuccess_loss = 0.01\n"model.hidden" = [[3], [4]]\n'
    )
    sweep_file = tmp_path / "tiny-sweep.h5"
    assert (
        cli_main(
            ["sweep", str(sweep_toml), "--out", str(sweep_file), "--figures", str(tmp_path / "figures"), "--quiet"]
        )
        == 0
    )

    basins_page = build_report(small_run_copy).read_text()
    basins = basins_page.split('<section id="basins">')[1].split("</section>")[0]
    assert basins.count("<img") == 1 and "landscape basins STUDY" not in basins
    with Run(small_run_copy) as run:
        grid = run.group("basins")
    counts = [int(round(f * 9)) for f in grid["fractions"]]
    assert sum(counts) == 9 and all(f'<td class="num">{c}</td>' in basins for c in counts)

    report = build_report(sweep_file)
    sweep = report.read_text().split('<section id="sweep">')[1].split("</section>")[0]
    assert sweep.count("<tr>") == 1 + 2  # header + base cell + model.hidden=4
    page = render_in_chromium(report)  # last: skips only when no browser exists
    assert page["sections"][:2] == ["timing", "sweep"]  # a sweep file leads with its table
    assert page["console_errors"] == [] and page["errors_shown"] == []
    assert len(page["images"]) >= 4 and all(i["naturalWidth"] > 100 for i in page["images"])


def test_report_embeds_the_figures_classify_just_drew_instead_of_redrawing(small_run_copy, tmp_path, monkeypatch):
    from landscape.commands.classify import classify_and_report
    from landscape.plots import types as type_plots

    written: list[Path] = []
    classify_and_report(small_run_copy, tmp_path / "figs", cluster=False, written=written, formats=("png",))
    assert {p.suffix for p in written} == {".png"}
    contours = next(p for p in written if p.stem == "type_contours")

    def refuse(*args, **kwargs):
        raise AssertionError("redrawn")

    monkeypatch.setattr(type_plots, "contours_figure", refuse)
    page = build_report(small_run_copy, tmp_path / "reused", reuse=written).read_text()
    assert base64.b64encode(contours.read_bytes()).decode("ascii") in page
    assert "redrawn" not in page
    page = build_report(
        small_run_copy, tmp_path / "drawn"
    ).read_text()  # without reuse it draws (and here fails, in one line)
    assert (
        "representative contours&#x27; could not be drawn" in page
        or "'representative contours' could not be drawn" in page
    )


# ---------------------------------------------------------------------------------------------
# The report on any file: incomplete, stale, a model of one's own, task-aware success.


def _section(page: str, key: str) -> str:
    return page.split(f'<section id="{key}">')[1].split("</section>")[0]


def _tiny(**overrides):
    from tests.conftest import small_study

    base = {"n_inits": 8, "train.steps": 60, "task.n_points": 32, "train.trajectory_points": 5}
    return small_study(**{**base, **overrides})


@pytest.fixture(scope="module")
def incomplete_run(tmp_path_factory):
    from landscape import run_study

    path = tmp_path_factory.mktemp("incomplete") / "incomplete.h5"
    run_study(_tiny(**{"train.chunk_size": 4}), path, quiet=True, max_chunks=1)
    return path


def test_incomplete_run_banner_and_shares_over_finished_networks(incomplete_run):
    with Run(incomplete_run) as run:
        status, done = run.status, run.chunk_done
        page = render_report(run)
    assert done.tolist() == [True, False] and np.sum(status == -1) == 4
    banner = page.split('<div class="banner">')[1].split("</div>")[0]
    assert "1 of 2 chunks not trained (4 of 8 networks)" in banner
    assert f"landscape run --resume --out {incomplete_run}" in banner and "over the 4 finished networks" in banner
    training = _section(page, "training")
    finished = status[status >= 0]
    for code, name in ((0, "converged"), (1, "max_steps"), (2, "diverged")):
        count = int(np.sum(finished == code))
        share = f"{100 * count / finished.size:.1f}%"  # over the 4 finished, not the 8
        assert f'<td class="">{name}</td><td class="num">{count}</td><td class="num">{share}</td>' in training, name
    assert f"<code>landscape classify {incomplete_run} --finished-only</code>" in page  # the hint that works here
    assert re.search(r'<td class="">not_run</td><td class="\w*">4</td><td class="\w*">&ndash;</td>', training)
    assert 'class="error"' not in page


def test_analyses_computed_before_a_resume_are_marked_stale(incomplete_run, tmp_path, capsys):
    from landscape import run_study

    path = tmp_path / "resumed.h5"
    shutil.copy(incomplete_run, path)
    assert cli_main(["classify", str(path), "--finished-only", "--no-figures", "--no-clusters"]) == 0
    with Run(path) as run:
        assert 'class="stale"' not in render_report(run)  # current: nothing flagged
    run_study(_tiny(**{"train.chunk_size": 4}), path, quiet=True, resume=True)
    with Run(path) as run:
        assert run.complete and run.stale_analyses() == ["types"]
        page = render_report(run)
    types = _section(page, "types")
    assert (
        f'<p class="stale">stale: <code>/types</code> was computed before the training data changed; '
        f"recompute with <code>landscape classify {path}</code></p>"
    ) in types
    assert page.count('class="stale"') == 1 and "Stale analyses: <code>/types</code>" in page
    assert "Incomplete run" not in page
    capsys.readouterr()
    assert cli_main(["info", str(path)]) == 0  # landscape info says it too
    assert (
        f"  stale: /types was computed before the training data changed; recompute with: landscape classify {path}"
        in capsys.readouterr().out.splitlines()
    )


def test_task_aware_success_share_is_the_files_own(small_run_path):
    from landscape.problem import problem_of

    with Run(small_run_path) as run:
        problem = problem_of(run)
        loss, finished = run.final_loss, run.status >= 0
        page = render_report(run)
    successes = int(np.sum(loss[finished] < problem.success_loss))
    assert f"<b>{successes} of {int(finished.sum())} finished networks succeed" in page
    assert html_escape(problem.success_rule()) in page


def html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)


@pytest.fixture(scope="module")
def object_run(tmp_path_factory):
    """A teacher-student run trained from Python objects: no command can rebuild its model."""
    from landscape import load_study, run_study
    from landscape.examples.teacher_student import make_loss, make_model

    study = load_study("runs/teacher_student.toml").replace(
        n_inits=4, **{"train.steps": 40, "model.factory": "", "train.loss": "mse", "task.n_points": 16}
    )
    path = tmp_path_factory.mktemp("objects") / "objects.h5"
    run_study(study, path, quiet=True, model=make_model(study), loss_fn=make_loss(study))
    return path


def test_a_run_trained_from_objects_says_which_python_call_computes_each_analysis(object_run):
    with Run(object_run) as run:
        page = render_report(run)
    assert "The commands cannot rebuild this run's model: " in page
    for key, command in (("types", "classify"), ("curvature", "hessian"), ("geometry", "slice"), ("map", "map")):
        section = _section(page, key)
        assert f"<code>landscape {command}</code> cannot compute it for this run" in section, key
        assert "From Python:" in section and "problem_of" in page
        assert f"landscape {command} {object_run}" not in section  # no command that would fail
    assert "success: not computed" in page
    assert 'class="error"' not in page


def test_a_factory_model_of_ones_own_reports_its_problem_and_success_rule(teacher_student_path):
    from landscape.problem import problem_of

    with Run(teacher_student_path) as run:
        problem = problem_of(run)
        page = render_report(run)
    assert html_escape(problem.describe()) in page and "no dataset" in page
    assert "(task.success_loss)" in page
    assert 'class="error"' not in page
