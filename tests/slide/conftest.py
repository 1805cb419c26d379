"""Session fixtures: the test slides of builders.CASES, built once per session on demand."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from builders import missing_peers
from cases import CASES, build_case


@pytest.fixture(scope="session")
def slide_folder(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A function giving the folder of a test slide by case name, building it on first use.

    Skips (naming the missing distributions) where a peer that builds the case
    or the case it derives from is not installed.
    """
    root = tmp_path_factory.mktemp("slides")
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        chain = [name]
        while CASES[chain[-1]].source is not None:
            chain.append(str(CASES[chain[-1]].source))
        kinds = {kind for n in chain for kind in CASES[n].peers} | {"svs"}  # the root TIFF
        absent = sorted({peer for kind in kinds for peer in missing_peers(kind)})
        if absent:
            pytest.skip(f"slide case {name!r} needs {', '.join(absent)} (pip install -e '.[test]')")
        return build_case(name, root, built)

    return get
