"""Every subcommand on damaged and unusual input: one line on stderr, a known exit code, never a traceback.

The commands are discovered from the CLI's parser, so a new command is fuzzed as soon as it exists.
Files are built once per module (a tiny run, then damaged copies of it) and every command runs
in-process through ``landscape.cli.main``.
"""

from __future__ import annotations

import argparse
import os
import shutil

import h5py
import numpy as np
import pytest

from landscape import run_study
from landscape.cli import subcommands
from tests.conftest import small_study

COMMANDS = subcommands()

# Options that keep a command cheap when the input happens to be usable; each is used only by the
# commands that have the option, so a new command needs no entry here.
CHEAP_FLAGS = ("--no-figures", "--quiet", "--no-clusters", "--no-report")
CHEAP_VALUES = {
    "--resolution": "9",
    "--neb-steps": "10",
    "--images": "5",
    "--bezier-steps": "5",
    "--path-points": "5",
    "--samples": "4",
    "--inits": "4",
    "--steps": "10",
    "--grid": "3",
}


def _tiny_study(**overrides):
    base = {"n_inits": 8, "train.steps": 60, "task.n_points": 32, "train.trajectory_points": 5}
    return small_study(**{**base, **overrides})


def _positional(parser: argparse.ArgumentParser) -> argparse.Action:
    return next(a for a in parser._actions if not a.option_strings and a.dest != "help")  # noqa: SLF001


def takes_run_file(parser: argparse.ArgumentParser) -> bool:
    """The command's first argument is a run file (else it is a study / basins / sweep TOML)."""
    action = _positional(parser)
    return action.dest == "run" or ".h5" in (action.help or "")


def cheap_options(parser: argparse.ArgumentParser, out_dir) -> list[str]:
    options = parser._option_string_actions  # noqa: SLF001
    argv = [flag for flag in CHEAP_FLAGS if flag in options]
    for flag, value in CHEAP_VALUES.items():
        if flag in options:
            argv += [flag, value]
    if "--figures" in options and "--no-figures" not in options:
        argv += ["--figures", str(out_dir / "figures")]
    return argv


def _damage(source, target, edit) -> None:
    shutil.copy(source, target)
    with h5py.File(target, "r+") as f:
        edit(f)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """``{kind: path}`` of damaged and unusual inputs, built once."""
    folder = tmp_path_factory.mktemp("fuzz")
    incomplete = folder / "incomplete.h5"
    study = _tiny_study(**{"train.chunk_size": 4})
    run_study(study, incomplete, quiet=True, max_chunks=1)
    good = folder / "good.h5"
    shutil.copy(incomplete, good)
    run_study(study, good, quiet=True, resume=True)  # the same compiled chunk: no second compile
    found = {}
    size = good.stat().st_size
    truncated = folder / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[: size // 2])
    found["truncated"] = truncated
    header_only = folder / "header-only.h5"
    header_only.write_bytes(good.read_bytes()[:600])
    found["header only"] = header_only
    noise = folder / "noise.h5"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    found["random bytes"] = noise
    empty = folder / "empty.h5"
    empty.write_bytes(b"")
    found["empty file"] = empty
    foreign = folder / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["data"] = np.arange(10.0)
    found["HDF5 not a run file"] = foreign
    missing_train = folder / "missing-train.h5"
    _damage(good, missing_train, lambda f: f.__delitem__("train/final_loss"))
    found["run file without train/final_loss"] = missing_train

    def wrong_status(f):
        del f["train/status"]
        f["train/status"] = np.zeros(3, np.int8)

    bad_shape = folder / "bad-shape.h5"
    _damage(good, bad_shape, wrong_status)
    found["run file with a wrong-shaped train/status"] = bad_shape
    bad_config = folder / "bad-config.h5"
    _damage(good, bad_config, lambda f: f.attrs.__setitem__("config_json", "{not json"))
    found["run file with damaged config"] = bad_config

    def damaged_types(f):
        group = f.create_group("types")  # an analysis group whose datasets are missing
        group.attrs["label_names"] = '["pyramid"]'

    types_damaged = folder / "types-damaged.h5"
    _damage(good, types_damaged, damaged_types)
    found["run file with an emptied types group"] = types_damaged
    found["incomplete run"] = incomplete
    toml = folder / "study.toml"
    toml.write_text("[train]\nsteps = 10\n")
    found["a study TOML"] = toml
    bad_toml = folder / "bad.toml"
    bad_toml.write_text("[train\nsteps = = 1\n")
    found["TOML syntax error"] = bad_toml
    binary_toml = folder / "binary.toml"
    binary_toml.write_bytes(b"\xff\xfe\x00garbage\x80\x81")
    found["binary TOML"] = binary_toml
    found["missing path"] = folder / "does-not-exist.h5"
    found["a directory"] = folder / "a-folder"
    (folder / "a-folder").mkdir()
    return found


RUN_FILE_KINDS = (
    "truncated",
    "header only",
    "random bytes",
    "empty file",
    "HDF5 not a run file",
    "run file without train/final_loss",
    "run file with a wrong-shaped train/status",
    "run file with damaged config",
    "run file with an emptied types group",
    "incomplete run",
    "a study TOML",
    "missing path",
    "a directory",
)
TOML_KINDS = (
    "TOML syntax error",
    "binary TOML",
    "random bytes",
    "truncated",
    "missing path",
    "a directory",
)
# Inputs that must be refused, whatever the command: no usable run / study in them.
REFUSED = {
    "truncated",
    "header only",
    "random bytes",
    "HDF5 not a run file",
    "missing path",
    "a directory",
    "TOML syntax error",
    "binary TOML",
    "a study TOML",
}


def cases():
    for name, parser in COMMANDS.items():
        kinds = RUN_FILE_KINDS if takes_run_file(parser) else TOML_KINDS
        for kind in kinds:
            yield pytest.param(name, kind, id=f"{name}-{kind.replace(' ', '_')}")


def run_command(argv, capsys) -> tuple[int, str, str]:
    from landscape.cli import main

    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_failure(command: str, code: int, err: str) -> None:
    assert code in (0, 1, 2), code
    assert "Traceback" not in err, err[-3000:]
    if code:
        last = err.rstrip("\n").splitlines()[-1]
        assert last.startswith(f"landscape {command}: "), last
        assert code == 2, f"unforeseen internal error: {last}"


@pytest.mark.parametrize(("command", "kind"), list(cases()))
def test_every_command_on_damaged_input_fails_in_one_line(command, kind, inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default figure folders and run files land here
    monkeypatch.delenv("LANDSCAPE_DEBUG", raising=False)
    parser = COMMANDS[command]
    path = inputs[kind]
    if kind not in REFUSED and os.path.isfile(path):
        private = tmp_path / path.name  # commands that write analyses write into a copy
        shutil.copy(path, private)
        path = private
    argv = [command, str(path), *cheap_options(parser, tmp_path)]
    if "--out" in parser._option_string_actions:  # noqa: SLF001
        argv += ["--out", str(tmp_path / ("out" if command == "report" else "out.h5"))]
    code, _, err = run_command(argv, capsys)
    assert_one_line_failure(command, code, err)
    if kind in REFUSED:
        assert code == 2, f"{kind} was accepted by {command}"


def test_resume_of_a_damaged_run_file_is_one_line(inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for kind in ("truncated", "random bytes", "HDF5 not a run file", "run file with damaged config"):
        target = tmp_path / "resume.h5"
        shutil.copy(inputs[kind], target)
        code, _, err = run_command(["run", "--resume", "--out", str(target), "--quiet", "--no-report"], capsys)
        assert_one_line_failure("run", code, err)
        assert code == 2, (kind, err)


def test_debug_shows_the_traceback(inputs, capsys, monkeypatch):
    from landscape.cli import main
    from landscape.storage import RunFileError

    with pytest.raises(RunFileError):
        main(["--debug", "info", str(inputs["random bytes"])])
    with pytest.raises(RunFileError):
        main(["info", str(inputs["random bytes"]), "--debug"])
    monkeypatch.setenv("LANDSCAPE_DEBUG", "1")
    with pytest.raises(RunFileError):
        main(["info", str(inputs["random bytes"])])


def test_unforeseen_errors_are_one_internal_error_line(capsys, monkeypatch):
    """An error no one foresaw: one line, exit 1, naming the type and --debug; KeyboardInterrupt: exit 130."""
    import landscape.commands.info as info
    from landscape.cli import main

    monkeypatch.delenv("LANDSCAPE_DEBUG", raising=False)

    def boom(args):
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setattr(info, "main", boom)
    code, _, err = run_command(["info", "x.h5"], capsys)
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("landscape info: internal error: ZeroDivisionError: division by zero; second line")
    assert "--debug" in err
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "info", "x.h5"])

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(info, "main", interrupted)
    code, _, err = run_command(["info", "x.h5"], capsys)
    assert code == 130 and err == "landscape info: interrupted\n"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (np.linalg.LinAlgError("Singular matrix"), "linear algebra failed in `landscape info` (Singular matrix)"),
        (MemoryError(), "out of memory"),
        (PermissionError(13, "Permission denied", "/x/run.h5"), "/x/run.h5: Permission denied"),
        (IsADirectoryError(21, "Is a directory", "/x"), "/x: Is a directory"),
    ],
)
def test_foreseen_errors_are_exit_2(error, expected, capsys, monkeypatch):
    import landscape.commands.info as info

    def raise_it(args):
        raise error

    monkeypatch.setattr(info, "main", raise_it)
    code, _, err = run_command(["info", "x.h5"], capsys)
    assert code == 2 and err.count("\n") == 1 and expected in err, err


def test_every_command_is_fuzzed():
    """Discovery found the commands the package ships (a renamed parser would silently shrink the fuzz)."""
    assert {"run", "info", "classify", "hessian", "slice", "paths", "map", "report"} <= set(COMMANDS)
