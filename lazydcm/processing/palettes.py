"""Palette data for :func:`lazydcm.apply_color_lut`: well-known palettes, segmented tables.

:func:`expand_segmented` expands Segmented Palette Color LUT Data (PS3.3 C.7.9.2).
:func:`well_known_palette` gives the well-known colour palettes of PS3.6 Annex B.

A well-known palette is a Palette Color Lookup Table of 256 8-bit entries a channel, first value
mapped 0 (PS3.3 C.7.9), named by its SOP Instance UID and its Content Label.
The tables are the expanded (segmented ones included) red, green and blue LUT
Data of the palette datasets of PS3.6 Annex B, stored compressed; they were
checked against pydicom's copies of those datasets (tests/test_lut.py).
"""

from __future__ import annotations

import base64
import zlib
from functools import cache

import numpy as np

from lazydcm.errors import InvalidDicomError

__all__ = ["MAX_ENTRIES", "PALETTES", "expand_segmented", "palette_uid", "well_known_palette"]

#: The most entries a palette table has (a descriptor's 0 means 2**16, PS3.3 C.7.6.3.1.5).
MAX_ENTRIES = 1 << 16
#: Segments expanded in all for one table: a table of MAX_ENTRIES entries needs
#: far fewer, unless it is made of empty segments repeated by indirect ones.
MAX_SEGMENT_VISITS = 4 * MAX_ENTRIES

#: SOP Instance UID -> Content Label of the well-known palettes (PS3.6 Annex B).
PALETTES: dict[str, str] = {
    "1.2.840.10008.1.5.1": "HOT_IRON",
    "1.2.840.10008.1.5.2": "PET",
    "1.2.840.10008.1.5.3": "HOT_METAL_BLUE",
    "1.2.840.10008.1.5.4": "PET_20_STEP",
    "1.2.840.10008.1.5.5": "SPRING",
    "1.2.840.10008.1.5.6": "SUMMER",
    "1.2.840.10008.1.5.7": "FALL",
    "1.2.840.10008.1.5.8": "WINTER",
}

# The red, green and blue tables of each palette in the order above, 256 bytes each.
_DATA = (
    "eNrtmHVUVFkcgFUQQUFCUEQQlBAEBREUJVVKREEEpQVFSlCkQcABhq6ha+gaeugauru7hu7u0p09LpxhV47B7sGz"
    "+v393j2/+H733fsOHUFFQz+OeRIHD/80IRHxebKLFFTUl+muMjAy3WC5zcbBdZebl19A8JGwiOhTcUlpWbkXCorK"
    "qmpvNDS1dfUNjUwAZkBLa1t7R5CLm4eXD9g/MDg0HBIVEwdNTE5Nz4Tl5BUUlZRVVNXUNTS1tHV09cD7B4dHxyen"
    "Z+cXl1fXNz9+OmAOHTQHW/+Dz3+foKJj4uATEpNRUNMxMLGwcXHzCwqLikvLKSiraWjrGwGA1vYgNy9wYCgkBpqc"
    "DssrKquqa2rrgg+OTs4uru4//8MoR49hnMDCxj1FcObsORLSC+SUl2hor9Bfu8588xYrO+edezx89x88FHr8ROw7"
    "+hcdG5+QlJKWkZWdm19YXFpeWV1b39jc2t7Z3ds3MDQyNjE1M7ewtLK2sbVv/7/iH1L8zySkZJ7Lv3ylpPJa/e07"
    "LR09g/fGABMjQ31dbU2NN2qqyooKL+RkpSXFn4qKCD8SFODn5b7LxcnOeusm8/Vr9FdoaS5Rkl8gJTl39gzBKVxs"
    "rBMYx46iHD5w/7+jgV8qwAdTcwsrGzsHJ2dXd09vX7+AoJCwiMjv6N/m6uLs5OggvKutqa6qrCgPlp4MjYGEBoK9"
    "3ED21kCAkb62hpqygpy0uKiwID83FxsLEwMdNQUZMSE+DiY66hcHQExCRv6Vivo7HQNjUwsbB2d3b7+gsKi4xNTM"
    "nIKSipqGlo6e/uHx6fnl9f9o/lHQMDCx8QgIiUjIyKlo6OgZmRC1RPSShw/RSkQlxSVl5F4qqqi91dTWMzQGmFva"
    "2Du5uHv5+geFhkfGxCempGchIi2vrm9u7/48qisb/6/9/0/tt7Xb8X7bux3xt8XbMX/bvB31t9XbcX/bvR35t+X7"
    "y/7P9n3WH6Hfzvx93f9/DODXB2AniOKCXFhGahI0LhoSFhwA9vYA2QJNDLTUleSlxIQEuDlYGOnpaKjIyUiICAnw"
    "sDEx0FC+QSpmFlaOO9wIpYRExMSlZOUVlFTVNbR0DYxMTIFWtg4gVw9vcEBwGCQ6DpqUmgHLLSguq6xpaG7r7O0f"
    "Gp2cmV9a+9v+L4cMw14II7PrFQ1kAEgwfNtiXEjAkan7JvKQgSLzI/7/m/nvegqEzK6Y4XuxK81dmSGvtXf7diW2"
    "d/7Ce7JXYoBdweyZzA/0f+8qIz/F9QNbz6ffIPX/8BEU1KNox9Axjp/AxDqJjYOLdwqf4PQZwrNE54hJzpOSXbhI"
    "TkFJdYma5jIt3ZWr9AzXGK8zMd+4yXLrNisbOwcn152797h5ePn47ws8EHz4SEj4scgTUbGnz8QlJKWkZWSfy8m/"
    "eKnwSlFJWUX1tZr6m7ca7zS1tHV09fQNDN8bGZt8AJiamQMtLK2sbWzt7B0cnUDOLq5u7h6eXt4+vmA//4DAoOCQ"
    "0LDwCEhkVHRMbFw8NCExKTklNS09IzMLlp2Tm5dfUFhUXFJaVl5RWVVdU1tX39DY1NzS2tbe0dnV3dML7+sfGBwa"
    "HhkdG5+YnJqemZ2bX1hcWl5ZXVvf2NxCXL8+bm1urK+triwvLS7Mz83OTE9NToyPjY4MDw0O9PfBe3u6uzo72tta"
    "W5qbGhvq62prqqsqK8rLSkuKiwoL8vNyc7JhWZkZ6WmpKclJiQnQ+LjYmOioSEhEeFhoSHBQYIC/H9jXx9vL08Pd"
    "zdXFGeTk6GBvZ2tjbWVpATQ3MwV8MDE2em9ooK+nq6OtpflO4+0bdbXXqirKSoqvFF6+kJd7LisjLSUpIf7sqZjo"
    "E5HHwkKPHgo+ELjPz8fLw33v7h0uTg52Ntbbt1hu3mBmus54jYH+6hU62ss01JeoKCnIL14gIz1PQnyO6CzhmdME"
    "+KfwcHGwT2JhnjiOgX4M7SgqypHDh351EAJ83Nra3NzYWF9fW1tdXVlZXl5aWlxcWJifn5ubnZ2ZmZ6empqcnJgY"
    "Hx8bGx0dGRkeHhoaHBwY6O/v64PDe3t7erq7u7o6Ozs62tvb2lpbW1qam5uaGhsbGurr6+pqa2tqqqurqiorKyrK"
    "y8vKSktLSoqLi4oKCwsK8vPz8nJzc3Kys2GwrKzMzIyM9PS0tNTUlJTk5KSkxMSEBCg0Pj4uLjY2JiY6OioqMhIC"
    "iYgIDw8LCw0NCQkODgoKDAwI8Pf38wODfX19fLy9vbw8PT083N3d3FxdXVycnUEgJydHRwcHe3s7O1tbGxtraysr"
    "S0sLCyDQ3NzMzNQUAPjZr//7vH789P9fDpzf+99vDpD9Hj/2e/745c8/v/j37w/IzMpV"
)


def palette_uid(palette: str) -> str:
    """The SOP Instance UID of a well-known palette given by UID or Content Label.

    Raises
    ------
    ValueError
        `palette` is neither.
    """
    if palette in PALETTES:
        return palette
    for uid, name in PALETTES.items():
        if name == palette.strip().upper():
            return uid
    known = ", ".join(repr(name) for name in PALETTES.values())
    raise ValueError(f"Unknown palette {palette!r}: expected one of {known} or its UID")


@cache
def _tables() -> np.ndarray:
    blob = zlib.decompress(base64.b64decode("".join(_DATA)))
    tables = np.frombuffer(blob, dtype=np.uint8).reshape(len(PALETTES), 3, 256)
    tables.flags.writeable = False
    return tables


def well_known_palette(palette: str) -> np.ndarray:
    """The ``(3, 256)`` uint8 red, green and blue tables of a well-known palette."""
    uid = palette_uid(palette)
    table: np.ndarray = _tables()[list(PALETTES).index(uid)]
    return table


def expand_segmented(
    data: list[int],
    little: bool,
    bytes_8: bool,
    limit: int | None = None,
    last: int | None = None,
    depth: int = 0,
    start: int = 0,
    visits: list[int] | None = None,
) -> list[int]:
    """Expand Segmented Palette Color LUT Data (PS3.3 C.7.9.2).

    Opcode 0 is a discrete segment (C.7.9.2.1), 1 a linear one from the previous
    entry (C.7.9.2.2, rounded as pydicom rounds), 2 an indirect one that repeats
    `limit` segments from an offset (C.7.9.2.3; taken as an index into `data`,
    as pydicom takes it).  The table grows to at most 2**16 entries, indirect
    segments nest at most 8 deep, and at most :data:`MAX_SEGMENT_VISITS` segments
    are expanded in all (`visits` counts them through the nesting: zero-length
    segments repeated by nested indirect ones would otherwise take for ever), so
    hostile data can make it neither unbounded nor slow.

    Raises
    ------
    InvalidDicomError
        A segment that is unknown, cut short by the end of the data, or cannot come
        first (the messages are pydicom's; the error is also a ValueError).
    """
    if depth > 8:
        raise InvalidDicomError("Segmented Palette Color LUT Data nests indirect segments too deep")
    visits = [0] if visits is None else visits
    lut: list[int] = []
    offset = start
    segments = 0
    while offset + 1 < len(data):  # a trailing pad word is not a segment
        visits[0] += 1
        if visits[0] > MAX_SEGMENT_VISITS:
            raise InvalidDicomError(
                f"Segmented Palette Color LUT Data expands more than {MAX_SEGMENT_VISITS} "
                "segments (indirect segments repeating each other)"
            )
        opcode, length = data[offset], data[offset + 1]
        offset += 2
        if opcode == 0:
            lut.extend(data[offset : offset + length])
            offset += length
        elif opcode == 1:
            if lut:
                y0 = lut[-1]
            elif last:
                y0 = last
            else:
                raise InvalidDicomError(
                    "Error expanding a segmented palette color lookup table: the first segment "
                    "cannot be a linear segment"
                )
            _check_segment(data, offset, 1)
            y1 = data[offset]
            offset += 1
            if y0 == y1:
                lut.extend([y1] * length)
            else:
                step = (y1 - y0) / length
                lut.extend(int(v) for v in np.around(np.linspace(y0 + step, y1, length)))
        elif opcode == 2:
            if not lut:
                raise InvalidDicomError(
                    "Error expanding a segmented palette color lookup table: the first segment "
                    "cannot be an indirect segment"
                )
            _check_segment(data, offset, 4 if bytes_8 else 2)
            if bytes_8:  # a 32-bit byte offset in four 8-bit words, by word order
                order = (3, 2, 1, 0) if little else (2, 3, 0, 1)
                b = [data[offset + k] for k in order]
                byte_offset = (b[0] << 8 | b[1]) << 16 | (b[2] << 8 | b[3])
                offset += 4
            else:
                byte_offset = data[offset + 1] << 16 | data[offset]
                offset += 2
            lut.extend(
                expand_segmented(
                    data, little, bytes_8, length, lut[-1], depth + 1, byte_offset, visits
                )
            )
        else:
            raise InvalidDicomError(
                f"Error expanding a segmented palette lookup table: unknown segment type '{opcode}'"
            )
        if len(lut) > MAX_ENTRIES:
            raise InvalidDicomError(
                f"Segmented Palette Color LUT Data expands past {MAX_ENTRIES} entries"
            )
        segments += 1
        if segments == limit:
            break
    return lut


def _check_segment(data: list[int], offset: int, words: int) -> None:
    """Raise InvalidDicomError if the `words` values a segment needs at `offset` are not there."""
    if offset + words > len(data):
        raise InvalidDicomError(
            "Error expanding a segmented palette color lookup table: a segment needs "
            f"{words} values from value {offset}, but the data ends at value {len(data)}"
        )
