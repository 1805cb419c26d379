"""The README's commands: CI runs the test command verbatim, and the first one works.

The README's first command is what a new user types; the slow test runs it the
way they would, in a fresh virtual environment, from a copy of this checkout
(setuptools writes ``build/`` and ``*.egg-info`` next to the sources it builds,
and the working tree must stay clean).  Another slow test runs the Python
examples of the README and of the quick start there, as a new user would copy
them into a script, with nothing but what ``pip install .`` installs (and
pydicom, which the quick start's pydicom example imports).
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from test_docs import SELF_CONTAINED_PAGES, print_as_commented, python_blocks, with_checked_prints

from lazydcm import examples

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


def fresh_environment(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A copy of the checkout, a new virtual environment, and its activated environment.

    Returns the checkout, the environment's scripts folder and the variables.
    """
    checkout = tmp_path / "lazydcm"
    shutil.copytree(ROOT, checkout, ignore=NOT_SOURCES)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    # As `source venv/bin/activate` would leave it, without this test's environment.
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    environ |= {"VIRTUAL_ENV": str(env_dir), "PATH": f"{bin_dir}{os.pathsep}{environ['PATH']}"}
    environ |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return checkout, bin_dir, environ


@pytest.mark.slow
def test_first_command_works_in_a_fresh_virtual_environment(tmp_path: Path) -> None:
    # Arrange: a copy of the checkout, a new virtual environment, an empty folder.
    install, run = bash_blocks(README.read_text())[0].split(" && ")
    checkout, bin_dir, environ = fresh_environment(tmp_path)
    env_dir = Path(environ["VIRTUAL_ENV"])
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


@pytest.mark.slow
def test_readme_and_quick_start_examples_run_in_a_fresh_virtual_environment(
    tmp_path: Path,
) -> None:
    # Arrange: lazydcm installed as the quick start says (and pydicom), a new home
    # folder (so a new cache), an empty working folder, each page as one script
    # whose commented prints are checked.
    checkout, bin_dir, environ = fresh_environment(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    environ = {
        k: v for k, v in environ.items() if k not in ("XDG_CACHE_HOME", "LAZYDCM_EXAMPLES_DIR")
    }
    environ["HOME"] = str(home)
    installed = subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "-q", str(checkout), "pydicom"],
        env=environ, capture_output=True, text=True,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    work = tmp_path / "work"
    work.mkdir()
    prelude = inspect.getsource(print_as_commented) + "\n_print_as_commented = print_as_commented\n"

    for page in SELF_CONTAINED_PAGES:
        blocks = python_blocks((ROOT / page).read_text())
        script = tmp_path / f"{Path(page).stem}.py"
        script.write_text(prelude + "\n".join(with_checked_prints(block) for block in blocks))

        # Act
        done = subprocess.run(
            [bin_dir / "python", str(script)], cwd=work, env=environ, capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip

        # Assert: it ran, printed what the page says, and needed no file of its own.
        assert done.returncode == 0, f"{page}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        assert list(work.iterdir()) == [], page
    if sys.platform == "linux":  # the examples went to the new home's cache
        cached = home / ".cache" / "lazydcm" / f"examples-{examples.REVISION}"
        assert sorted(p.name for p in cached.iterdir()) == sorted(
            f"{name}.dcm" for name in examples.NAMES
        )
