"""The documentation site: its examples run, and its API reference covers the API.

Every ```python block of the README, the home page, the quick start and the
how-to guides is run, page by page and in order, in a folder holding the files
the pages name, built here with :mod:`lazydcm.testing.synth` (and imagecodecs for the
JPEG ones).  A line ``print(...)  # text`` is checked: what it prints must be
`text`, or the start of `text` followed by ``:`` or ``,`` and an explanation.
The commands of the command-line page run there too.  The site itself is built
by ``.ci/run`` with ``mkdocs build --strict``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

import lazydcm
from lazydcm.testing import synth

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: The pages whose examples run, relative to the repository root.
PAGES = ["README.md", "docs/index.md", "docs/quickstart.md", "docs/how-to/cine.md",
         "docs/how-to/whole-slide.md", "docs/how-to/server.md", "docs/how-to/dask.md"]  # fmt: skip
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"


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
    """Write the files the pages use into `folder`."""
    imagecodecs = pytest.importorskip("imagecodecs")

    # ct.dcm: one signed CT slice, 12 bits stored, with rescale and window values.
    y, x = np.mgrid[0:64, 0:64]
    ct = (np.hypot(x - 32, y - 32) * 45).astype(np.int16)  # 0 to 2036: -1024 to 1012 HU
    image = synth.ImagePixel(64, 64, bits_stored=12, pixel_representation=1)
    extra = [
        (0x00080060, "CS", "CT"),
        (0x00281050, "DS", "40"),  # Window Center
        (0x00281051, "DS", "400"),  # Window Width
        (0x00281052, "DS", "-1024"),  # Rescale Intercept
        (0x00281053, "DS", "1"),  # Rescale Slope
        (0x00281054, "LO", "HU"),  # Rescale Type
    ]
    synth.write_native(folder / "ct.dcm", ct[None], image, extra=extra)

    # cine.dcm: 60 native frames of 128 x 128, 12 bits stored in 16.
    t = np.arange(60)[:, None, None]
    yy, xx = np.mgrid[0:128, 0:128]
    cine = ((xx + yy + 4 * t) % 256 * 16 + 1).astype(np.uint16)
    image = synth.ImagePixel(128, 128, bits_stored=12, number_of_frames=60)
    synth.write_native(folder / "cine.dcm", cine, image)

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

    # mislabelled.dcm: RGB JPEG Lossless frames under a header that says one sample.
    rgb = np.random.default_rng(3).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    stream = bytes(imagecodecs.jpeg8_encode(rgb, lossless=True, predictor=1))
    image = synth.ImagePixel(32, 32, bits_allocated=8, number_of_frames=2)
    synth.write_encapsulated(
        folder / "mislabelled.dcm", [stream, stream], image, transfer_syntax_uid=JPEG_LOSSLESS_SV1
    )

    # enhanced.dcm: 3 CT frames; rescale and spacing shared, a window per frame.
    element, sequence = synth.encode_element, synth.encode_sequence
    rescale = [(0x00281052, "DS", -1024), (0x00281053, "DS", 1), (0x00281054, "LO", "HU")]
    shared_item = sequence(0x00289110, [element(0x00280030, "DS", [0.5, 0.5])]) + sequence(
        0x00289145, [b"".join(element(*e) for e in rescale)]
    )  # Pixel Measures, Pixel Value Transformation
    windows = [(40, 400), (300, 1500), (-600, 1200)]
    frame_items = [
        sequence(0x00289132, [element(0x00281050, "DS", c) + element(0x00281051, "DS", w)])
        for c, w in windows
    ]  # Frame VOI LUT
    groups = [sequence(0x52009229, [shared_item]), sequence(0x52009230, frame_items)]
    volume = (np.arange(3 * 32 * 32).reshape(3, 32, 32) % 2000).astype(np.int16)
    image = synth.ImagePixel(32, 32, pixel_representation=1, number_of_frames=3)
    synth.write_native(
        folder / "enhanced.dcm", volume, image, extra=[(0x00080060, "CS", "CT"), *groups]
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
def example_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    build_example_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    lazydcm.clear_index_cache()  # the server page shows a first open
    return tmp_path


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page: str, example_folder: Path) -> None:
    blocks = python_blocks((ROOT / page).read_text())
    assert blocks, f"{page} has no ```python block"
    # As a script would run them, with the commented prints checked.
    namespace: dict[str, object] = {
        "__name__": "__main__",
        "_print_as_commented": print_as_commented,
    }

    for k, block in enumerate(blocks):
        code = compile(with_checked_prints(block), f"{page}, python block {k + 1}", "exec")
        exec(code, namespace)  # the documentation's own examples


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
