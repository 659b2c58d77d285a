"""Decoding text files of any encoding (BOM, UTF-8, UTF-16 without BOM, Windows-1252, charset-normalizer),
and telling text from binary data."""

from __future__ import annotations

import codecs
import re
from typing import TYPE_CHECKING

import charset_normalizer

from documents.services.extract_errors import SUPPORTED, EmptyFile, UnsupportedType

if TYPE_CHECKING:
    from pathlib import Path

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_BINARY = "This file does not look like a document (it contains binary data). " + SUPPORTED
_BINARY_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")  # as _CONTROL, but ESC is common in logs
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", re.IGNORECASE)
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
_WESTERN_SYMBOLS = set(
    "\u00a0\u2018\u2019\u201a\u201c\u201d\u201e\u2013\u2014\u2026\u2022\u00b7\u00ab\u00bb"
    "\u00b0\u00b1\u00d7\u00f7\u00a9\u00ae\u2122\u20ac\u00a3\u00a5\u00a7\u00b6\u00bf\u00a1"
    "\u00b2\u00b3\u00b9\u00bc\u00bd\u00be"
)


def decode_text(data: bytes, *, partial: bool = False) -> str:
    """Decode text in any encoding: a BOM (UTF-8/16/32) wins, then UTF-8, then UTF-16 without BOM, then
    Windows-1252 when that reads like Western text, else charset-normalizer's best guess. Newlines become
    "\\n" and a leading BOM is dropped. With ``partial`` the data is only a file's head and may end inside a
    character. Raises ``UnsupportedType`` when the bytes are not text."""
    encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None) or _utf16_by_nuls(data)
    try:
        text = codecs.getincrementaldecoder(encoding or "utf-8")().decode(data, final=not partial)
    except UnicodeDecodeError:
        if encoding:
            raise UnsupportedType(_BINARY) from None
        text = _decode_legacy(data)
    sample = text[:100_000]
    if "\x00" in sample or len(_BINARY_CONTROL.findall(sample)) > len(sample) / 100:
        raise UnsupportedType(_BINARY)
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _utf16_by_nuls(data: bytes) -> str | None:
    """UTF-16 without BOM shows as NUL bytes on one side of each pair; other NULs mean binary data."""
    sample = data[:4096]
    if b"\x00" not in sample:
        return None
    pairs = len(sample) // 2 or 1
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > 0.3 * pairs and even < 0.02 * pairs:
        return "utf-16-le"
    if even > 0.3 * pairs and odd < 0.02 * pairs:
        return "utf-16-be"
    raise UnsupportedType(_BINARY)


def _decode_legacy(data: bytes) -> str:
    try:
        western = data.decode("cp1252")
    except UnicodeDecodeError:
        western = None
    if western is not None and looks_western(western):
        return western
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise UnsupportedType(_BINARY)
    return str(best)


def read_text(path: Path, kind: str) -> str:
    """The decoded text of a text-kind file (HTML honours its <meta charset>); EmptyFile when blank."""
    data = path.read_bytes()
    text = (_html_declared_charset(data) if kind == "html" else None) or decode_text(data)
    if not text.strip():
        raise EmptyFile("This file is empty.")
    return text


def _html_declared_charset(data: bytes) -> str | None:
    """The page decoded with its <meta charset> when it has no BOM, is not UTF-8 and the charset is known."""
    if data.startswith(tuple(bom for bom, _ in _BOMS)) or (match := _META_CHARSET.search(data[:4096])) is None:
        return None
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    try:
        return data.decode(match.group(1).decode("ascii")).replace("\r\n", "\n").replace("\r", "\n")
    except (LookupError, UnicodeDecodeError):
        return None


def looks_western(text: str) -> bool:
    """Windows-1252 reads right when non-ASCII letters come alone or in pairs inside Latin words and the
    other non-ASCII characters are typographic symbols (Cyrillic, Greek, ... read as 1252 look like runs of
    accented letters and stray symbols)."""
    runs = _NON_ASCII_RUN.findall(text[:200_000])
    odd = sum(
        1
        for run in runs
        if sum(ch.isalpha() for ch in run) > 2 or any(not ch.isalpha() and ch not in _WESTERN_SYMBOLS for ch in run)
    )
    return odd <= 0.05 * len(runs)
