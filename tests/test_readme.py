"""The README's Python examples run as written (in a scratch folder)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples_and_they_run(tmp_path, monkeypatch, capsys):
    blocks = python_blocks()
    assert blocks, "the README should show the Python API"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    assert "networks" in capsys.readouterr().out


def test_readme_names_the_two_commands():
    text = README.read_text()
    assert "pip install -e . && landscape run" in text
    assert "pip install -e '.[test]' && python -m pytest" in text
