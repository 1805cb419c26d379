"""The ``lazydcm`` command.

* ``lazydcm info FILE...``: what a file holds and what is wrong with it
  (:mod:`lazydcm.cli.info`).
* ``lazydcm export FILE -o DIR``: frames as PNG, NumPy or TIFF files
  (:mod:`lazydcm.cli.export`).
* ``lazydcm montage FILE -o sheet.png``: a contact sheet of evenly spaced frames
  (:mod:`lazydcm.cli.montage`).
* ``lazydcm demo``: build a sample cine, stream it, and draw it
  (:mod:`lazydcm.cli.demo`).

Each command module has ``add_parser(subparsers)`` and ``run(args) -> int``.
Errors print one line, ``lazydcm: error: FILE: ...`` (naming the file unless
the error is about the command line), and exit with status 1 (``--debug`` shows
the traceback); a command given several files reports each one that fails and
goes on with the others.  A :class:`~lazydcm.LazyDcmWarning` prints as one
``lazydcm: warning: ...`` line.  The packages of the ``cli`` extra are
imported by the commands that use them, never by ``import lazydcm``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Sequence
from typing import TextIO

from lazydcm.cli import demo, export, info, montage
from lazydcm.cli.display import CommandError, error_message
from lazydcm.errors import LazyDcmError, LazyDcmWarning

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lazydcm", description="Describe, export and view the frames of DICOM files."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (info, export, montage, demo):
        command.add_parser(commands)
    return parser


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Print a warning as one line, without the source line Python adds."""
    print(f"lazydcm: warning: {message}", file=sys.stderr if file is None else file)


def _silence_stdout() -> None:
    # ValueError, OSError: stdout is not a file (captured, or closed).
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lazydcm`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default", LazyDcmWarning)
            warnings.showwarning = _show_warning
            status: int = args.run(args)
            return status
    except BrokenPipeError:
        # The reader went away (``lazydcm info ... | head``): stop quietly, and
        # keep Python from reporting the pipe again when it flushes stdout at exit.
        _silence_stdout()
        return 1
    except (LazyDcmError, CommandError, OSError) as exc:
        if args.debug:
            raise
        # Commands that read several files report each one's error themselves.
        print(f"lazydcm: error: {error_message(exc, getattr(args, 'file', None))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("lazydcm: interrupted", file=sys.stderr)
        return 130
