"""The documentation site: its examples run, and its API reference covers the API.

Every ```python block of the README, the home page, the quick start and the
how-to guides is run, page by page and in order.  The README and the quick start
use only the sample files of :mod:`lazydcm.examples`, as a reader's fresh
environment has them: they run in an empty folder, with the examples written
to a new cache folder, and must leave that folder empty.  The other pages run in
a folder holding the files they name, built here with :mod:`lazydcm.testing.synth` (and
imagecodecs for the JPEG ones).  A line ``print(...)  # text`` is checked: what
it prints must be `text`, or the start of `text` followed by ``:`` or ``,`` and
an explanation.  The commands of the command-line page run there too.  The site
itself is built by ``.ci/run`` with ``mkdocs build --strict``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest

import lazydcm
from lazydcm import examples
from lazydcm.testing import synth

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: The pages whose examples use lazydcm.examples only, relative to the repository root.
SELF_CONTAINED_PAGES = ["README.md", "docs/quickstart.md"]
#: The pages whose examples use the files build_example_files writes.
PAGES = ["docs/index.md", "docs/how-to/cine.md", "docs/how-to/whole-slide.md",
         "docs/how-to/server.md", "docs/how-to/dask.md"]  # fmt: skip
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"


#: ``print(args)  # comment`` on a line of its own.
PRINT_WITH_COMMENT = re.compile(r"^(?P<indent> *)print\((?P<args>.*)\) +# (?P<comment>.*)$", re.M)


def python_blocks(markdown: str) -> list[str]:
    """The contents of the fenced ```python blocks of `markdown`, in order."""
    return re.findall(r"^```python\n(.*?)^```$", markdown, flags=re.S | re.M)


def with_checked_prints(block: str) -> str:
    """`block` with each commented ``print`` replaced by a call that checks the comment."""
    return PRINT_WITH_COMMENT.sub(
        lambda m: f"{m['indent']}_print_as_commented({m['args']}, comment={m['comment']!r})",
        block,
    )


def print_as_commented(*args: object, comment: str) -> None:
    """Print `args` as ``print`` would, and check that `comment` says what was printed."""
    shown = " ".join(str(arg) for arg in args)
    print(shown)
    assert comment == shown or comment.startswith((f"{shown}:", f"{shown},")), (
        f"the page says {comment!r}, the code printed {shown!r}"
    )


def build_example_files(folder: Path) -> None:
    """Write the files the pages other than the self-contained ones use into `folder`."""
    imagecodecs = pytest.importorskip("imagecodecs")

    # ct.dcm, cine.dcm, mislabelled.dcm: the shipped examples, under the names the
    # command-line page and the how-to guides use.
    for name in ("ct", "cine", "mislabelled"):
        shutil.copyfile(examples.get_path(name), folder / f"{name}.dcm")

    # us.dcm: 10 JPEG Baseline frames of 64 x 64 colour, YBR_FULL_422, with a BOT.
    frames = []
    for i in range(10):
        rgb = np.zeros((64, 64, 3), np.uint8)
        rgb[..., 0] = (np.arange(64) * 4 + i * 8) % 256
        rgb[..., 1] = 128
        rgb[..., 2] = 255 - np.arange(64)[:, None] * 4
        frames.append(bytes(imagecodecs.jpeg8_encode(rgb, level=95)))
    ybr = synth.ImagePixel(
        64, 64, 3, bits_allocated=8, number_of_frames=10,
        photometric_interpretation="YBR_FULL_422", planar_configuration=0,
    )  # fmt: skip
    synth.write_encapsulated(
        folder / "us.dcm", frames, ybr, transfer_syntax_uid=JPEG_BASELINE, bot="full"
    )

    # slide.dcm: a 192 x 128 whole-slide level in 3 x 2 JPEG tiles of 64 x 64, empty BOT.
    y, x = np.mgrid[0:128, 0:192]
    pixels = np.stack([(x * 1.3) % 256, (y * 2) % 256, (x + y) % 256], axis=-1).astype(np.uint8)
    tiles = [
        bytes(imagecodecs.jpeg8_encode(pixels[r * 64 : r * 64 + 64, c * 64 : c * 64 + 64]))
        for r in range(2)
        for c in range(3)
    ]
    tiled = synth.ImagePixel(
        64, 64, 3, bits_allocated=8, number_of_frames=6,
        photometric_interpretation="YBR_FULL_422", planar_configuration=0,
    )  # fmt: skip
    total_matrix = [(0x00480006, "UL", 192), (0x00480007, "UL", 128)]
    synth.write_encapsulated(
        folder / "slide.dcm", tiles, tiled, transfer_syntax_uid=JPEG_BASELINE, extra=total_matrix
    )


@pytest.fixture
def examples_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """lazydcm.examples' folder for this test session (never the user's cache)."""
    folder = tmp_path_factory.getbasetemp() / "examples"
    monkeypatch.setenv("LAZYDCM_EXAMPLES_DIR", str(folder))
    return folder


@pytest.fixture
def example_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, examples_cache: Path) -> Path:
    build_example_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    lazydcm.clear_index_cache()  # the server page shows a first open
    return tmp_path


@pytest.fixture
def empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, examples_cache: Path) -> Path:
    """An empty working folder; lazydcm.examples writes to this session's cache folder."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    lazydcm.clear_index_cache()
    return folder


def run_page(page: str, scratch: Path) -> None:
    """Run the ```python blocks of `page` in order, as a script would, prints checked.

    Dask's workers keep their scratch files in `scratch` (by default they would
    leave a ``dask-scratch-space`` folder in the system's temporary folder).
    """
    blocks = python_blocks((ROOT / page).read_text())
    assert blocks, f"{page} has no ```python block"
    namespace: dict[str, object] = {
        "__name__": "__main__",
        "_print_as_commented": print_as_commented,
    }

    with contextlib.ExitStack() as stack:
        if any(re.search(r"^(from|import) dask\b", block, re.M) for block in blocks):
            dask = pytest.importorskip("dask")
            stack.enter_context(dask.config.set({"temporary-directory": str(scratch)}))
        for k, block in enumerate(blocks):
            code = compile(with_checked_prints(block), f"{page}, python block {k + 1}", "exec")
            exec(code, namespace)  # the documentation's own examples


@pytest.mark.parametrize("page", SELF_CONTAINED_PAGES)
def test_page_examples_run_with_the_shipped_examples(
    page: str, empty_folder: Path, tmp_path: Path
) -> None:
    run_page(page, scratch=tmp_path)

    assert os.listdir(empty_folder) == []  # no file was needed here, none was left


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(
    page: str, example_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    run_page(page, scratch=tmp_path_factory.mktemp("dask"))


def test_command_line_examples_run(
    example_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lazydcm.cli import main

    blocks = re.findall(r"^```bash\n(.*?)^```$", (DOCS / "cli.md").read_text(), flags=re.S | re.M)
    commands = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert all(line.startswith("lazydcm ") for line in commands), commands

    for line in commands:
        status = main(shlex.split(line)[1:])

        out, err = capsys.readouterr()
        assert status == 0, f"{line}: {out}{err}"
        assert "error" not in err, f"{line}: {err}"


def test_commented_prints_are_checked() -> None:
    block = "x = 3\nif x:\n    print(x, x + 1)  # 3 4: two numbers\nprint(x)\n"

    checked = with_checked_prints(block)

    assert "    _print_as_commented(x, x + 1, comment='3 4: two numbers')" in checked
    assert "\nprint(x)\n" in checked
    with pytest.raises(AssertionError, match="the page says"):
        print_as_commented(5, comment="50")


def test_reference_covers_the_public_api() -> None:
    pages = "\n".join(p.read_text() for p in (DOCS / "reference").glob("*.md"))
    documented = set(re.findall(r"^::: lazydcm\.(\w+)", pages, flags=re.M))

    public = set(lazydcm.__all__) - {"__version__"}

    assert sorted(public - documented) == []
