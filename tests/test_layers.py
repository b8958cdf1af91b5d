"""The import-linter contracts of pyproject.toml: the real tree keeps them, and a copy of it with
one wrong import breaks the contract that forbids it, so a wrong import fails ./scripts/lint."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "numberpool", "pbx_webhooks", "crm_push")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
_NOT_SOURCE = shutil.ignore_patterns("__pycache__", "*.pyc", "templates", "static", "_bundled")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports on `tree`, with its packages first on the path so they, not the installed
    checkout, are the ones analysed."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_of_tree(into: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, into / package, ignore=_NOT_SOURCE)
    shutil.copy(ROOT / "pyproject.toml", into / "pyproject.toml")
    return into


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "wrong_import", "broken"),
    [
        # A lower layer reaching up: the core importing a domain.
        ("app/models/site.py", "import app.calls.service", "Entry points > domains"),
        # Two domains importing each other (sites is below numbers).
        ("app/sites/service.py", "import app.numbers.service", "Entry points > domains"),
        # The engine growing an HTTP endpoint again.
        ("numberpool/service.py", "import fastapi", "The pool engine has no HTTP"),
        # The dashboard reaching for the demo.
        ("app/dashboard/web.py", "import app.demo.seed", "The dashboard never imports the demo"),
        # One PBX provider borrowing from another.
        (
            "pbx_webhooks/providers/mango.py",
            "import pbx_webhooks.providers.generic",
            "One file per PBX provider",
        ),
        # A cycle between two modules of one package.
        ("app/kit/clock.py", "import app.kit.schemas", "No package cycles"),
    ],
)
def test_a_wrong_import_breaks_its_contract(
    tmp_path: Path, module: str, wrong_import: str, broken: str
) -> None:
    tree = copy_of_tree(tmp_path)
    source = tree / module
    source.write_text(source.read_text() + f"\n{wrong_import}  # the wrong import\n")
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    broken_contracts = [line for line in result.stdout.splitlines() if " BROKEN" in line]
    assert any(line.startswith(broken) for line in broken_contracts), result.stdout
