"""A Griffe extension for the API reference: Sphinx roles in docstrings become Markdown.

lazydcm's docstrings are numpydoc and name other objects with Sphinx roles
(``:class:`~lazydcm.FrameSequence```, ``:func:`pixel_array```), which Markdown
would show literally.  Each role becomes a code span; one whose target is a page
of the reference also becomes a link (``[`FrameSequence`][lazydcm.FrameSequence]``,
resolved by mkdocs-autorefs).  Double-backtick literals are already Markdown.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`<]+?)`")

REFERENCE = Path(__file__).parent / "reference"


def _documented() -> frozenset[str]:
    """The objects the reference pages render (their ``::: name`` lines)."""
    names = set()
    for page in REFERENCE.glob("*.md"):
        names.update(re.findall(r"^::: *(\S+)", page.read_text(), flags=re.M))
    return frozenset(names)


DOCUMENTED = _documented()


def _target(name: str) -> str | None:
    """The rendered object `name` refers to, if any.

    Docstrings name objects by their defining module (``lazydcm.header.PixelInfo``)
    or relatively (``FrameSequence.close``); the reference renders them as
    ``lazydcm.PixelInfo`` and ``lazydcm.FrameSequence.close``.
    """
    parts = name.split(".")
    if parts[0] == "lazydcm":
        parts = parts[1:]
    for k in range(len(parts)):
        candidate = ".".join(["lazydcm", *parts[k:]])
        if candidate in DOCUMENTED:
            return candidate
        owner, _, member = candidate.rpartition(".")
        if owner in DOCUMENTED and not member.startswith("_"):
            return candidate  # a public member, rendered with its class
    return None


def _replace(match: re.Match[str]) -> str:
    role, short, name = match.groups()
    name = name.strip()
    shown = name.rsplit(".", 1)[-1] if short else name
    if role in ("func", "meth"):
        shown += "()"
    target = _target(name)
    return f"[`{shown}`][{target}]" if target else f"`{shown}`"


def markdown(text: str) -> str:
    """`text` with its Sphinx roles written as Markdown."""
    return ROLE.sub(_replace, text)


class RstRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring as Markdown code spans and links."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
