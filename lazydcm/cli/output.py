"""Writing output files whole, or not at all.

:func:`write_whole` writes a file under a temporary name in its folder and
renames it into place when it is complete (a rename within a folder replaces
the target in one step, POSIX ``rename(2)``).  A command that fails or is
interrupted while writing leaves no half-written image behind, and a reader
never sees one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["write_whole"]


def write_whole(target: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(file)`` on a new file, then make it `target`.

    The file is ``.NAME.*.part`` in the folder of `target` until `write` returns;
    it is removed if `write` raises (an ``OSError`` that names no file is raised
    again naming `target`).  It is created as ``open`` creates files
    (permissions from the umask), never over an existing one.
    """
    partial = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
    file = open(partial, "xb")  # noqa: SIM115 (closed below, before the rename)
    try:
        with file:
            write(file)
        os.replace(partial, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
        if isinstance(exc, OSError) and exc.filename is None and exc.strerror:
            # A failed write (a full disk) names no file: this one is the target.
            raise OSError(exc.errno, exc.strerror, str(target)) from exc
        raise
