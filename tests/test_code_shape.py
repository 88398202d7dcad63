"""The size rules of CONTRIBUTING.md hold over `tollway/`: no module over 400 lines, no
function over 60."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "tollway"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_60_lines() -> None:
    long = {}
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}"] = lines
    assert long == {}


POSITIONAL_BY_INTERFACE = {"GuardedResolver.resolve"}
"""Signatures a library calls positionally (aiohttp's `AbstractResolver.resolve`)."""


def _positional_beyond_two(
    body: list[ast.stmt], path: Path, public: bool, cls: str | None
) -> list[str]:
    found = []
    for node in body:
        if isinstance(node, ast.ClassDef):
            inner = public and not node.name.startswith("_")
            found += _positional_beyond_two(node.body, path, inner, node.name)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = f"{cls}.{node.name}" if cls else node.name
            if not public or name in POSITIONAL_BY_INTERFACE or node.args.vararg:
                continue
            if node.name.startswith("_") and node.name != "__init__":
                continue
            positional = node.args.posonlyargs + node.args.args
            static = any(
                isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list
            )
            if cls and not static:
                positional = positional[1:]
            if len(positional) > 2:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {name}")
    return found


def test_public_functions_take_arguments_past_the_second_by_keyword() -> None:
    found = []
    for path in modules():
        found += _positional_beyond_two(ast.parse(path.read_text()).body, path, True, None)
    assert found == []
