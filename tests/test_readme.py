"""The README's commands: CI runs the test command verbatim, and the first one works.

The README's first command is what a new user types; the slow test runs it the
way they would, in a fresh virtual environment, from a copy of this checkout
(setuptools writes ``build/`` and ``*.egg-info`` next to the sources it builds,
and the working tree must stay clean).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"

#: What a copy of the checkout leaves out: version control, build output and caches.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "venv", "build", "dist", "site", "*.egg-info", "__pycache__",
    ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis", ".benchmarks",
)  # fmt: skip


def bash_blocks(markdown: str) -> list[str]:
    """The contents of the fenced ```bash blocks of `markdown`, in order."""
    return re.findall(r"^```bash\n(.*?)\n```$", markdown, flags=re.S | re.M)


def test_readme_starts_with_the_demo_then_the_tests() -> None:
    blocks = bash_blocks(README.read_text())

    assert blocks[0] == 'pip install ".[cli]" && lazydcm demo'
    assert blocks[1] == 'pip install ".[test,imagecodecs]" && python -m pytest -q'


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    blocks = bash_blocks(README.read_text())

    assert blocks[1] in CI.read_text().splitlines()


def test_ci_builds_the_docs_strictly_after_the_tests() -> None:
    lines = [line.strip() for line in CI.read_text().splitlines()]
    tests = lines.index(bash_blocks(README.read_text())[1])

    build = next(i for i, line in enumerate(lines) if line.startswith("mkdocs build"))
    assert "--strict" in lines[build].split()
    assert tests < build


def test_readme_points_to_the_docs_site() -> None:
    assert 'pip install ".[docs]" && mkdocs serve' in README.read_text()


@pytest.mark.slow
def test_first_command_works_in_a_fresh_virtual_environment(tmp_path: Path) -> None:
    # Arrange: a copy of the checkout, a new virtual environment, an empty folder.
    install, run = bash_blocks(README.read_text())[0].split(" && ")
    checkout = tmp_path / "lazydcm"
    shutil.copytree(ROOT, checkout, ignore=NOT_SOURCES)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    # As `source venv/bin/activate` would leave it, without this test's environment.
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    environ |= {"VIRTUAL_ENV": str(env_dir), "PATH": f"{bin_dir}{os.pathsep}{environ['PATH']}"}
    environ |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()

    # Act: the README's command, its install in the checkout, the demo from elsewhere.
    installed = subprocess.run(
        install, shell=True, cwd=checkout, env=environ, capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    demo = subprocess.run(
        run, shell=True, cwd=elsewhere, env=environ, capture_output=True, text=True, timeout=300
    )

    # Assert: it streamed and checked every frame, said how fast, and drew the montage.
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Traceback" not in demo.stderr, demo.stderr
    assert re.search(r"[\d,]+ frames/s", demo.stdout), demo.stdout
    assert re.search(r"Checked: all \d+ frames match", demo.stdout), demo.stdout
    pictures = [elsewhere / name for name in re.findall(r"[\w./-]+\.png", demo.stdout)]
    assert pictures, demo.stdout
    for picture in pictures:
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", picture
    # The installed package ran, not the checkout's sources.
    where = subprocess.run(
        [bin_dir / "python", "-c", "import lazydcm; print(lazydcm.__file__)"],
        cwd=elsewhere, env=environ, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert Path(where.stdout.strip()).is_relative_to(env_dir)
