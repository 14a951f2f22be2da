"""The public surface: every export resolves, and type checkers see the same names as users."""

from __future__ import annotations

import ast
import inspect

import landscape


def test_every_export_resolves_to_the_module_that_defines_it():
    for name in landscape.__all__:
        value = getattr(landscape, name)
        module = landscape._WHERE[name]
        assert getattr(value, "__module__", f"landscape.{module}").startswith(f"landscape.{module}"), name


def test_type_checking_imports_list_exactly_the_exports():
    tree = ast.parse(inspect.getsource(landscape))
    guarded = next(
        node for node in tree.body if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
    )
    seen = {
        (node.module, alias.name) for node in guarded.body if isinstance(node, ast.ImportFrom) for alias in node.names
    }
    assert seen == {(module, name) for name, module in landscape._WHERE.items()}
