"""House rules checked in CI: ruff lint and format, import-linter layer contracts, the Qt pin."""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)


@pytest.mark.skipif(
    shutil.which("ruff") is None, reason="ruff not installed (pip install -e '.[test]')"
)
def test_ruff_lint_clean():
    result = _run("ruff", "check", "src", "tests", "benchmarks", "packaging")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    shutil.which("ruff") is None, reason="ruff not installed (pip install -e '.[test]')"
)
def test_ruff_format_clean():
    result = _run("ruff", "format", "--check", "src", "tests", "benchmarks", "packaging")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    shutil.which("lint-imports") is None,
    reason="import-linter not installed (pip install -e '.[test]')",
)
def test_import_contracts_hold():
    result = _run("lint-imports", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower() or "0 broken" in result.stdout.lower()


def test_pyside6_is_kept_below_6_12():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pyside = [d for d in deps if d.lower().startswith("pyside6-essentials")]
    assert pyside and re.search(r"<\s*6\.12", pyside[0]), pyside


def test_python_m_biofeedback_works_like_the_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "biofeedback", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("biofeedback ")


def test_the_licence_is_mit_in_an_spdx_expression_with_its_file():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]
    assert {"Homepage", "Documentation", "Issues", "Source"} <= set(project["urls"])


def test_the_version_has_one_source():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    attr = pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "biofeedback.__version__"
    # from the source tree, not the installed metadata
    code = "import sys; sys.path.insert(0, 'src'); from biofeedback.cli import main; main(['--version'])"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    from biofeedback import __version__

    assert result.stdout.strip() == f"biofeedback {__version__}", result.stderr


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    block = re.search(r"## Run the tests.*?```(?:sh|bash)?\n(.*?)```", readme, re.S)
    assert block, "README.md must have a '## Run the tests' section with the command"
    command = block.group(1).strip()
    assert command in ci


def _functions_of_at_least(lines: int, root: Path = ROOT) -> list[str]:
    """``path:line name (n lines)`` for every function under src/ that is ``lines`` or longer."""
    found = []
    for path in sorted((root / "src").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length >= lines:
                    where = path.relative_to(root)
                    found.append(f"{where}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_in_src_is_100_lines_or_longer():
    # Long functions hide their steps: split them into named helpers.
    assert _functions_of_at_least(100) == []


def test_the_function_length_check_finds_long_functions(tmp_path):
    # The check above must be able to fail: a 100-line function in a scratch tree is reported.
    def source(name: str, lines: int) -> str:
        return f"def {name}():\n" + "".join(f"    x{i} = {i}\n" for i in range(lines - 1))

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "long.py").write_text(source("long", 100), encoding="utf-8")
    (tmp_path / "src" / "short.py").write_text(source("short", 99), encoding="utf-8")
    assert _functions_of_at_least(100, tmp_path) == ["src/long.py:1 long (100 lines)"]


@pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None,
    reason="mypy not installed (pip install -e '.[test]')",
)
def test_mypy_finds_no_errors():
    # files, strictness and the untyped libraries are configured in pyproject.toml [tool.mypy]
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_the_readme_installs_into_a_venv_and_names_the_system_packages():
    """Debian's own Python refuses pip outside a venv (externally-managed-environment), and Qt
    aborts without libxcb-cursor0: the two fresh-machine commands make a venv first."""
    readme = (ROOT / "README.md").read_text()
    commands = [
        re.search(rf"## {title}.*?```sh\n(.*?)```", readme, re.S)
        for title in ("Start on the simulated sensor", "Run the tests")
    ]
    assert all(commands), "README.md must keep its two fresh-machine commands"
    for match in commands:
        assert match is not None
        command = match.group(1).strip()
        assert command.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install")
    for package in ("python3-venv", "libxcb-cursor0"):
        assert package in readme
        assert package in (ROOT / ".ci" / "run").read_text()


#: Notes that live outside this repository: the project's docs must state the facts themselves.
_OUTSIDE_NOTES = re.compile(r"\b(SPEC|ARCHITECTURE)\.md\b")


def _outside_note_mentions(root: Path = ROOT) -> list[str]:
    """``path:line: text`` for every line in src, docs or README.md that names such a note."""
    files = [
        *(p for p in (root / "src").rglob("*") if p.suffix in (".py", ".toml", ".md")),
        *(root / "docs").rglob("*.md"),
        root / "README.md",
    ]
    return [
        f"{path.relative_to(root)}:{number}: {line.strip()}"
        for path in sorted(f for f in files if f.is_file())
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if _OUTSIDE_NOTES.search(line)
    ]


def test_src_docs_and_readme_do_not_point_to_notes_outside_the_repo():
    # Write the fact into docs/ (clinical-background.md, hardware.md, signal-processing.md,
    # architecture.md) with its external source, and point there.
    hits = _outside_note_mentions()
    assert hits == [], "\n".join(hits)


def test_the_outside_note_check_finds_mentions(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "docs").mkdir()
    (tmp_path / "src" / "a.py").write_text('"""Defaults (SPEC.md section 2)."""\n', "utf-8")
    (tmp_path / "docs" / "b.md").write_text("# B\n\nSee ARCHITECTURE.md.\n", "utf-8")
    (tmp_path / "README.md").write_text("SPECS.md and architecture.md are fine\n", "utf-8")
    assert _outside_note_mentions(tmp_path) == [
        "docs/b.md:3: See ARCHITECTURE.md.",
        'src/a.py:1: """Defaults (SPEC.md section 2)."""',
    ]


def test_no_two_test_files_share_a_name():
    """The tests are collected without __init__.py files (rootdir-relative module names), so
    two test files with one basename stop the whole collection in a fresh checkout."""
    seen: dict[str, Path] = {}
    clashes = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        if path.name in seen:
            clashes.append(f"{seen[path.name].relative_to(ROOT)} and {path.relative_to(ROOT)}")
        seen.setdefault(path.name, path)
    assert not clashes, "rename one of: " + "; ".join(clashes)
