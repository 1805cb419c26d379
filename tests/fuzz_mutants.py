"""A mutation fuzzer over real DICOM files: every mutant ends in a frame or a LazyDcmError.

Mutants of pydicom's test files and of pydicom-data's (``helpers.REAL_FILES``
with pixel data, up to ``--max-size`` bytes) are made by one to four of: byte
flips, interesting bytes, truncations (often at a structure), 16- and 32-bit
length-field mutations, offset-table and item-length words, group 0028 values,
bytes near the start of a fragment (JPEG SOF, JPEG 2000 SIZ, RLE header),
removed or duplicated chunks, removed or duplicated items.  Mutant *c* of seed
*s* is a pure function of ``(s, c)`` and of the installed test data, so any case
can be replayed alone.

Each mutant is opened with :class:`lazydcm.FrameSequence` (alternately from a
file on disk, from bytes and from a file object; sometimes with the imagecodecs
backend) and its frames are read (the first ``MAX_FRAMES``, then the last),
its first encoded frame is taken, and :func:`lazydcm.decoders.suggest.suggest_overrides`
is asked about it.  Mutants are read in batches by worker processes limited to
2 GiB of address space (``RLIMIT_AS``).  A case fails on

* a crash (the worker dies of a signal: SIGSEGV, SIGBUS, SIGABRT, ...);
* a hang (no progress for ``--timeout`` seconds);
* ``MemoryError``, also as the cause of a ``DecodeError``;
* any exception other than a :class:`~lazydcm.errors.LazyDcmError` or an ``IndexError``;
* any warning other than a :class:`~lazydcm.errors.LazyDcmWarning`.

A worker that dies or hangs is replaced, and the case it was on is run again
alone to confirm it.  Usage (from the repository root)::

    python tests/fuzz_mutants.py --cases 100000 --seed 1         # a campaign
    python tests/fuzz_mutants.py --replay 1:4711                 # one case, here (2 GiB)
    python tests/fuzz_mutants.py --save 1:4711 mutant.dcm        # write one mutant out

The exit status is 1 when any case failed.  ``tests/test_fuzz.py`` runs a few
thousand cases under pytest; docs/robustness.md records the campaigns.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import selectors
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

#: The address-space limit of a worker.
MEMORY_LIMIT = 2 << 30
#: Frames read from the start of each mutant (then the last one).
MAX_FRAMES = 32
DEFAULT_MAX_SIZE = 1 << 20

# -- the corpus ----------------------------------------------------------------------


def corpus(max_size: int = DEFAULT_MAX_SIZE) -> list[Path]:
    """The real files mutants are made from, in a fixed order: those with pixel data.

    (Files without pixel data would only exercise the header walk, which every
    mutant exercises anyway.)
    """
    from helpers import REAL_FILES, file_id

    from lazydcm import opening
    from lazydcm.errors import LazyDcmError
    from lazydcm.sources import MemorySource

    files = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(REAL_FILES, key=file_id):
            if not 0 < path.stat().st_size <= max_size:
                continue
            try:
                opening.open(MemorySource(path.read_bytes())).close()
            except LazyDcmError:
                continue
            files.append(path)
    return files


# -- mutations -----------------------------------------------------------------------

_BYTES = (0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE)
_U16 = (0, 1, 2, 3, 8, 16, 64, 128, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF)
_U32 = (0, 1, 2, 7, 8, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 0xFFFFFFFE, 0xFFFFFFFF)
_IS = (b"0", b"-1", b"1", b"2147483647", b"2147483648", b"1e99", b"nan", b"inf", b"", b"7.5",
       b"999999999999", b"-2147483648", b"\\", b"3\\4", b"1A")  # fmt: skip
_CS = (b"RGB", b"YBR_FULL", b"YBR_FULL_422", b"MONOCHROME1", b"PALETTE COLOR", b"", b"XYZ")
_ITEM_TAGS = (b"\xfe\xff\x00\xe0", b"\xfe\xff\xdd\xe0", b"\xfe\xff\x0d\xe0")
_PIXEL_TAG = b"\xe0\x7f\x10\x00"
_VR = re.compile(rb"[\x00-\xff]{4}(?=[A-Z][A-Z])")
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())


@dataclass
class Mutant:
    """One mutant: where it came from and what was done to it."""

    seed: int
    case: int
    origin: str
    data: bytes
    steps: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.seed}:{self.case}"


def _structure(data: bytes) -> dict[str, list[int]]:
    """Offsets of the structures mutations aim at (found by their byte patterns)."""
    found: dict[str, list[int]] = {"item": [], "pixel": [], "g0028": [], "element": []}
    for tag in _ITEM_TAGS:
        found["item"] += [m.start() for m in re.finditer(re.escape(tag), data)]
    found["pixel"] = [m.start() for m in re.finditer(re.escape(_PIXEL_TAG), data)]
    found["g0028"] = [m.start() for m in re.finditer(rb"\x28\x00[\x00-\xff]{2}[A-Z]{2}", data)]
    # Explicit VR element headers: an even group below 0x8000 then two capitals.
    for m in re.finditer(rb"[\x00-\xff][\x00-\x7f][\x00-\xff]{2}[A-Z][A-Z]", data[:200_000]):
        if data[m.start()] % 2 == 0:
            found["element"].append(m.start())
    return found


def _put(data: bytearray, at: int, value: bytes) -> None:
    if at >= 0 and at + len(value) <= len(data):
        data[at : at + len(value)] = value


def _u32(rng: random.Random, size: int) -> int:
    choice = rng.random()
    if choice < 0.5:
        return rng.choice(_U32)
    if choice < 0.7:
        return max(0, size + rng.randint(-16, 16)) & 0xFFFFFFFF
    return rng.randrange(1 << rng.choice((4, 8, 16, 32)))


def mutate_once(rng: random.Random, data: bytearray, where: dict[str, list[int]]) -> str | None:
    """Apply one random mutation to `data` in place; return its description.

    None when the mutation drawn does not apply to this file (nothing was changed).
    """
    size = len(data)
    kind = rng.choices(
        ["flip", "byte", "truncate", "length", "table", "g0028", "remove", "duplicate", "item",
         "codestream"],
        weights=[12, 8, 10, 16, 10, 12, 6, 6, 8, 12],
    )[0]  # fmt: skip
    if not size:
        return None
    if kind == "flip":
        at = rng.randrange(size)
        bit = rng.randrange(8)
        data[at] ^= 1 << bit
        return f"flip bit {bit} of byte {at}"
    if kind == "byte":
        at = rng.randrange(size)
        data[at] = rng.choice(_BYTES) if rng.random() < 0.7 else rng.randrange(256)
        return f"set byte {at} to {data[at]:#04x}"
    if kind == "truncate":
        anchors = where["item"] + where["pixel"] + where["element"]
        if anchors and rng.random() < 0.6:
            at = min(size, max(0, rng.choice(anchors) + rng.randint(-2, 14)))
        else:
            at = rng.randrange(size)
        del data[at:]
        return f"truncate at {at}"
    if kind == "codestream":
        # A byte near the start of a fragment: JPEG SOF, JPEG 2000 SIZ, RLE header.
        if not where["item"]:
            return None
        at = rng.choice(where["item"]) + 8 + int(rng.expovariate(1 / 40))
        if at >= size:
            return None
        if rng.random() < 0.5:
            data[at] = rng.choice(_BYTES) if rng.random() < 0.6 else rng.randrange(256)
            return f"set codestream byte {at} to {data[at]:#04x}"
        data[at] ^= 1 << rng.randrange(8)
        return f"flip a bit of codestream byte {at}"
    if kind == "length":
        if rng.random() < 0.5 and where["item"] + where["pixel"]:
            anchors = where["item"] + where["pixel"]
        else:
            anchors = where["element"] + where["item"] + where["pixel"]
        if not anchors:
            return None
        at = rng.choice(anchors)
        vr = bytes(data[at + 4 : at + 6])
        if vr in _LONG_VRS or bytes(data[at : at + 2]) == b"\xfe\xff":
            offset = 8 if vr in _LONG_VRS else 4
            value = _u32(rng, size)
            _put(data, at + offset, struct.pack("<I", value))
            return f"set the 32-bit length at {at + offset} to {value}"
        value = rng.choice(_U16) if rng.random() < 0.7 else rng.randrange(1 << 16)
        _put(data, at + 6, struct.pack("<H", value))
        return f"set the 16-bit length at {at + 6} to {value}"
    if kind == "table":
        # A 32- or 64-bit word just after an item tag or the pixel tag: BOT entries,
        # item lengths, Extended Offset Table values.
        anchors = where["item"] + where["pixel"] + [m.start() for m in re.finditer(
            rb"\xe0\x7f[\x01\x02]\x00OV", bytes(data))]  # fmt: skip
        if not anchors:
            return None
        at = rng.choice(anchors) + 4 + 4 * rng.randrange(16)
        if rng.random() < 0.3:
            value = rng.choice((0, 1 << 62, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, size))
            _put(data, at, struct.pack("<Q", value))
            return f"set the 64-bit word at {at} to {value}"
        value = _u32(rng, size)
        _put(data, at, struct.pack("<I", value))
        return f"set the 32-bit word at {at} to {value}"
    if kind == "g0028":
        if not where["g0028"]:
            return None
        at = rng.choice(where["g0028"])
        vr = bytes(data[at + 4 : at + 6])
        length = struct.unpack_from("<H", data, at + 6)[0] if at + 8 <= size else 0
        if vr in (b"US", b"SS") and length >= 2:
            value = rng.choice(_U16) if rng.random() < 0.8 else rng.randrange(1 << 16)
            _put(data, at + 8, struct.pack("<H", value))
            return f"set the US value at {at + 8} to {value}"
        if vr in (b"IS", b"DS", b"CS") and length:
            text = rng.choice(_CS if vr == b"CS" else _IS)[:length].ljust(length, b" ")
            _put(data, at + 8, text)
            return f"set the {vr.decode()} value at {at + 8} to {text!r}"
        value = rng.choice(_U16)
        _put(data, at + 8, struct.pack("<H", value))
        return f"set the word at {at + 8} to {value}"
    if kind == "remove":
        at = rng.randrange(size)
        n = min(size - at, rng.choice((1, 2, 4, 8, 12, rng.randrange(1, 4096))))
        del data[at : at + n]
        return f"remove {n} bytes at {at}"
    if kind == "duplicate":
        at = rng.randrange(size)
        n = min(size - at, rng.choice((2, 4, 8, 16, rng.randrange(1, 4096))))
        to = rng.randrange(size)
        data[to:to] = data[at : at + n]
        return f"copy {n} bytes from {at} to {to}"
    # "item": duplicate or remove one whole item (tag to the next item tag).
    items = sorted(where["item"])
    if len(items) < 2:
        return None
    k = rng.randrange(len(items) - 1)
    start, stop = items[k], items[k + 1]
    if rng.random() < 0.5:
        data[start:start] = data[start:stop]
        return f"duplicate the item at {start} ({stop - start} bytes)"
    del data[start:stop]
    return f"remove the item at {start} ({stop - start} bytes)"


def make_mutant(seed: int, case: int, files: list[Path]) -> Mutant:
    """Mutant `case` of `seed` (a pure function of both and of `files`)."""
    from helpers import file_id

    rng = random.Random(f"lazydcm-fuzz:{seed}:{case}")
    path = files[rng.randrange(len(files))]
    data = bytearray(path.read_bytes())
    mutant = Mutant(seed, case, file_id(path), b"")
    for _ in range(rng.choice((1, 1, 1, 1, 1, 2, 2, 3, 4))):
        where = _structure(bytes(data))
        for _attempt in range(10):
            step = mutate_once(rng, data, where)
            if step is not None:
                mutant.steps.append(step)
                break
    mutant.data = bytes(data)
    return mutant


# -- reading one mutant ----------------------------------------------------------------


class ContractError(Exception):
    """A mutant made lazydcm fail in a way the contract does not allow."""


def _memory_error_in(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, MemoryError):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def read_mutant(mutant: Mutant, folder: Path) -> Counter[str]:
    """Open `mutant` and read what it holds; return the outcomes seen (error class names).

    Raises
    ------
    ContractError
        On an exception outside the contract, a MemoryError or a foreign warning.
    """
    import lazydcm
    from lazydcm import opening
    from lazydcm.decoders.suggest import suggest_overrides
    from lazydcm.sources import MemorySource

    outcomes: Counter[str] = Counter()
    how = mutant.case % 3
    decoder = "imagecodecs" if mutant.case % 4 == 3 else None
    path = folder / f"mutant-{mutant.seed}-{mutant.case}.dcm"

    def guarded(what: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except (lazydcm.LazyDcmError, IndexError) as exc:
            if _memory_error_in(exc):
                raise ContractError(
                    f"{what}: MemoryError behind {type(exc).__name__}: {exc}"
                ) from exc
            outcomes[type(exc).__name__] += 1
            return None
        except ContractError:
            raise
        except Exception as exc:
            raise ContractError(f"{what}: {type(exc).__name__}: {exc}") from exc

    def source() -> Any:
        if how == 0:
            path.write_bytes(mutant.data)
            return path
        if how == 1:
            return mutant.data
        return io.BytesIO(mutant.data)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clear = getattr(lazydcm, "clear_index_cache", None)
        if clear is not None:
            clear()
        try:
            src = source()
            frames = guarded("open", lambda: _open(lazydcm, src, decoder))
            if frames is not None:
                outcomes["opened"] += 1
                with frames:
                    _ = (len(frames), frames.shape, frames.dtype, frames.nbytes, repr(frames))
                    _ = (
                        frames.offset_table,
                        repr(frames.header),
                        frames.photometric_interpretation,
                    )
                    n = len(frames)
                    for i in [*range(min(n, MAX_FRAMES)), *([-1] if n > MAX_FRAMES else [])]:
                        frame = guarded(f"frame {i}", lambda i=i: frames[i])
                        if frame is not None:
                            outcomes["frame"] += 1
                    view = guarded("encoded_frame(0)", lambda: frames.encoded_frame(0))
                    if view is not None:
                        view.release()
            opened = guarded(
                "opening.open", lambda: opening.open(MemorySource(mutant.data, name="mutant"))
            )
            if opened is not None:
                guarded("suggest_overrides", lambda: suggest_overrides(opened))
                opened.close()
        finally:
            path.unlink(missing_ok=True)
    for warning in caught:
        if not issubclass(warning.category, lazydcm.LazyDcmWarning):
            raise ContractError(f"{warning.category.__name__}: {warning.message}")
    return outcomes


def _open(lazydcm: Any, src: Any, decoder: str | None) -> Any:
    try:
        return lazydcm.FrameSequence(src, cache_bytes=0, decoder=decoder)
    except lazydcm.DecoderUnavailableError:
        if decoder is None:
            raise
        if isinstance(src, io.BytesIO):
            src.seek(0)
        return lazydcm.FrameSequence(src, cache_bytes=0)


# -- worker processes ------------------------------------------------------------------


#: For testing the harness itself: "CASE:KIND,..." makes a worker crash (SIGSEGV),
#: hang, raise a foreign exception or exhaust its memory on those cases.
SELFTEST = "LAZYDCM_FUZZ_SELFTEST"


def _selftest(case: int) -> None:
    items = [item.split(":") for item in os.environ.get(SELFTEST, "").split(",") if item]
    kind = {int(c): k for c, k in items}.get(case)
    if kind == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif kind == "hang":
        time.sleep(3600)
    elif kind == "error":
        raise ContractError("ValueError: a self-test error")
    elif kind == "memory":
        bytearray(MEMORY_LIMIT)


def worker(seed: int, start: int, stop: int, max_size: int, folder: Path) -> int:
    """Read cases [start, stop) and print one JSON line per case (the parent's side).

    Mutants are written to `folder`, which the parent made and removes: a worker
    killed by a signal or for hanging runs no clean-up of its own.
    """
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    files = corpus(max_size)
    out = sys.stdout
    for case in range(start, stop):
        mutant = make_mutant(seed, case, files)
        record: dict[str, Any] = {"case": case}
        try:
            _selftest(case)
            record["outcomes"] = dict(read_mutant(mutant, folder))
        except ContractError as exc:
            record["failure"] = str(exc)
            record["trace"] = traceback.format_exc()
        except MemoryError:
            record["failure"] = "MemoryError"
            record["trace"] = traceback.format_exc()
        print(json.dumps(record), file=out, flush=True)
    return 0


@dataclass
class Report:
    """What a run found."""

    seed: int
    cases: int = 0
    failures: dict[int, str] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


def _spawn(seed: int, start: int, stop: int, max_size: int, folder: Path) -> subprocess.Popen[str]:
    """A worker for cases [start, stop) writing its mutants into `folder`.

    Its stderr goes to a file (a pipe could fill up).
    """
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    env["RUST_BACKTRACE"] = "0"  # contained Rust panics print one line, not a backtrace
    args = [sys.executable, str(Path(__file__).resolve()), "--worker"]
    args += ["--seed", str(seed), "--start", str(start), "--stop", str(stop)]
    args += ["--max-size", str(max_size), "--folder", str(folder)]
    stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed by _stderr_tail)
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=HERE.parent
    )
    proc.stderr_file = stderr  # type: ignore[attr-defined]
    return proc


def _stderr_tail(proc: subprocess.Popen[str]) -> str:
    """The end of what a worker wrote to stderr; closes the file (idempotent)."""
    file = getattr(proc, "stderr_file", None)
    if file is None or file.closed:
        return ""
    file.seek(0)
    text: str = file.read()[-2000:]
    file.close()
    return text


def _death(proc: subprocess.Popen[str]) -> str:
    code = proc.returncode
    tail = _stderr_tail(proc)
    if code is not None and code < 0:
        return f"crash: killed by {signal.Signals(-code).name}\n{tail}"
    return f"worker exited with status {code}: {tail}"


def run_alone(seed: int, case: int, max_size: int, timeout: float, folder: Path) -> str | None:
    """Run one case in a fresh worker writing into `folder`; its failure, or None if it passes."""
    proc = _spawn(seed, case, case + 1, max_size, folder)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        _stderr_tail(proc)
        return f"hang: no result in {timeout:.0f} s"
    for line in out.splitlines():
        record = json.loads(line)
        _stderr_tail(proc)
        return str(record["failure"]) if "failure" in record else None
    return _death(proc)


def campaign(
    seed: int,
    cases: int,
    *,
    first: int = 0,
    workers: int | None = None,
    batch: int = 250,
    timeout: float = 20.0,
    max_size: int = DEFAULT_MAX_SIZE,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Run cases [first, first + cases) of `seed` in worker processes."""
    # One folder for the mutants of every worker, removed here, after the last
    # worker has stopped (those killed leave their current mutant in it).
    with tempfile.TemporaryDirectory(prefix="lazydcm-fuzz-") as folder:
        return _campaign(
            seed, cases, first=first, workers=workers, batch=batch, timeout=timeout,
            max_size=max_size, progress=progress, folder=Path(folder),
        )  # fmt: skip


def _campaign(
    seed: int,
    cases: int,
    *,
    first: int,
    workers: int | None,
    batch: int,
    timeout: float,
    max_size: int,
    progress: Callable[[Report], None] | None,
    folder: Path,
) -> Report:
    """:func:`campaign`, its workers writing their mutants into `folder`."""
    report = Report(seed)
    started = time.perf_counter()
    pending: Iterator[tuple[int, int]] = iter(
        (s, min(s + batch, first + cases)) for s in range(first, first + cases, batch)
    )
    workers = workers or os.cpu_count() or 1
    selector = selectors.DefaultSelector()
    # proc -> [next case expected, stop, time of last progress, partial line]
    running: dict[subprocess.Popen[str], list[Any]] = {}

    def launch(start: int, stop: int) -> None:
        proc = _spawn(seed, start, stop, max_size, folder)
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        selector.register(proc.stdout, selectors.EVENT_READ, proc)
        running[proc] = [start, stop, time.monotonic(), ""]

    def fill() -> None:
        while len(running) < workers:
            span = next(pending, None)
            if span is None:
                return
            launch(*span)

    def retire(proc: subprocess.Popen[str], why: str | None) -> None:
        """Stop a worker; if it stopped early, confirm the culprit and go on after it."""
        assert proc.stdout is not None
        selector.unregister(proc.stdout)
        state = running.pop(proc)
        if why is not None:
            proc.kill()
        proc.wait()
        nxt, stop = state[0], state[1]
        if nxt < stop:
            reason = why or _death(proc)
            alone = run_alone(seed, nxt, max_size, timeout, folder)
            report.failures[nxt] = (
                alone if alone is not None else f"{reason} (not reproduced alone)"
            )
            report.cases += 1
            if nxt + 1 < stop:
                launch(nxt + 1, stop)
        if proc.stdout is not None:
            proc.stdout.close()
        _stderr_tail(proc)

    try:
        fill()
        while running:
            for key, _ in selector.select(timeout=1.0):
                proc = key.data
                state = running[proc]
                chunk = proc.stdout.read() if proc.stdout is not None else ""
                if not chunk:  # end of output: the worker finished or died
                    retire(proc, None)
                    continue
                lines = (state[3] + chunk).split("\n")
                state[3] = lines.pop()
                for line in lines:
                    record = json.loads(line)
                    report.cases += 1
                    if "failure" in record:
                        report.failures[record["case"]] = record["failure"] + "\n" + record["trace"]
                    else:
                        report.outcomes.update(record["outcomes"])
                    state[0] = record["case"] + 1
                    state[2] = time.monotonic()
            now = time.monotonic()
            for proc, state in list(running.items()):
                if now - state[2] > timeout:
                    retire(proc, f"hang: no progress for {timeout:.0f} s")
            fill()
            if progress is not None:
                progress(report)
    finally:
        # Interrupted (Ctrl-C, an error here): stop the workers before their
        # folder is removed.
        for proc in running:
            proc.kill()
            proc.wait()
            _stderr_tail(proc)
    report.seconds = time.perf_counter() - started
    return report


# -- command line ----------------------------------------------------------------------


def _case(text: str) -> tuple[int, int]:
    seed, case = text.split(":")
    return int(seed), int(case)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--first", type=int, default=0, help="the first case number")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds without progress")
    parser.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE)
    parser.add_argument("--replay", type=_case, help="SEED:CASE: run one case in this process")
    parser.add_argument("--save", nargs=2, metavar=("SEED:CASE", "PATH"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--stop", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        return worker(args.seed, args.start, args.stop, args.max_size, Path(args.folder))
    if args.save:
        seed, case = _case(args.save[0])
        mutant = make_mutant(seed, case, corpus(args.max_size))
        Path(args.save[1]).write_bytes(mutant.data)
        print(f"{mutant.label}: {mutant.origin}: {'; '.join(mutant.steps)}")
        return 0
    if args.replay:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        seed, case = args.replay
        mutant = make_mutant(seed, case, corpus(args.max_size))
        print(f"{mutant.label}: {mutant.origin}: {'; '.join(mutant.steps)}")
        with tempfile.TemporaryDirectory() as folder:
            print(dict(read_mutant(mutant, Path(folder))))
        return 0

    last = [0.0]

    def progress(report: Report) -> None:
        if time.monotonic() - last[0] > 10:
            last[0] = time.monotonic()
            print(f"  {report.cases} cases, {len(report.failures)} failures", file=sys.stderr)

    report = campaign(
        args.seed, args.cases, first=args.first, workers=args.workers, timeout=args.timeout,
        max_size=args.max_size, progress=progress,
    )  # fmt: skip
    files = corpus(args.max_size)
    print(
        f"seed {args.seed}: {report.cases} cases (from {args.first}) over {len(files)} files "
        f"in {report.seconds:.0f} s: {len(report.failures)} failures"
    )
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in report.outcomes.most_common()))
    for case, failure in sorted(report.failures.items()):
        mutant = make_mutant(args.seed, case, files)
        print(f"\nFAIL {mutant.label}: {mutant.origin}: {'; '.join(mutant.steps)}\n{failure}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
