"""The import rules of docs/architecture.md hold, and `lint-imports` (in `make lint`) fails
when an import breaks one."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def lint_imports(source_root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with this repository's contracts, over the `tollway` under `source_root`."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--config", str(ROOT / "pyproject.toml"),
         "--no-cache"],
        cwd=source_root, env={"PYTHONPATH": str(source_root), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_code_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_forbidden_import_fails_the_lint(tmp_path: Path) -> None:
    shutil.copytree(
        ROOT / "tollway", tmp_path / "tollway", ignore=shutil.ignore_patterns("__pycache__")
    )
    storage = tmp_path / "tollway" / "ratelimit" / "memory.py"
    storage.write_text(storage.read_text() + "\nfrom tollway.models import ApiKey  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    assert "Rate limiting knows neither models nor the code that calls it BROKEN" in result.stdout
    assert "tollway.ratelimit.memory -> tollway.models" in result.stdout
