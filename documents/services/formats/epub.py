"""EPUB e-books, read with the standard library (EbookLib is AGPL): ``META-INF/container.xml`` names the
package document (OPF), whose spine lists the XHTML documents in reading order; their text then goes
through the web-page reader (``formats.html``). The two XML files are parsed by defusedxml (no entity
declarations, no network)."""

from __future__ import annotations

import posixpath
import zipfile
from typing import NamedTuple
from urllib.parse import unquote, urldefrag

import defusedxml.ElementTree

_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_OPF = "{http://www.idpf.org/2007/opf}"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
XHTML_TYPES = ("application/xhtml+xml", "text/html", "application/x-dtbook+xml")


class EpubBook(NamedTuple):
    title: str  # the first dc:title, "" when none
    documents: list[str]  # archive member names of the spine's XHTML documents, in reading order


def epub_book(archive: zipfile.ZipFile) -> EpubBook:
    """The title and reading order of the EPUB in ``archive``: the first ``rootfile`` of its container, that
    package's first ``dc:title`` and its spine's items (hrefs resolved against the package's folder; items
    missing from the manifest or the archive, not XHTML, or the EPUB 3 navigation document are skipped, and a
    document listed twice is read once).

    Raises ``KeyError`` (a part missing), ``ValueError`` (no package document named; defusedxml's refusals
    of entity declarations are ValueErrors too) and ``xml.etree.ElementTree.ParseError``.
    """
    container = defusedxml.ElementTree.fromstring(archive.read("META-INF/container.xml"))
    rootfile = container.find(f".//{_CONTAINER}rootfile")
    path = rootfile.get("full-path", "") if rootfile is not None else ""
    if not path:
        raise ValueError("the container names no package document")
    package = defusedxml.ElementTree.fromstring(archive.read(path))
    title = package.find(f"{_OPF}metadata/{_DC_TITLE}")
    base = posixpath.dirname(path)
    manifest = {}
    for item in package.iterfind(f"{_OPF}manifest/{_OPF}item"):
        if item.get("media-type") in XHTML_TYPES and "nav" not in (item.get("properties") or "").split():
            href = unquote(urldefrag(item.get("href", "")).url)
            manifest[item.get("id")] = posixpath.normpath(posixpath.join(base, href))
    names = set(archive.namelist())
    spine = (manifest.get(itemref.get("idref")) for itemref in package.iterfind(f"{_OPF}spine/{_OPF}itemref"))
    documents = list(dict.fromkeys(name for name in spine if name in names))  # each once, in first-seen order
    return EpubBook(" ".join((title.text or "").split()) if title is not None else "", documents)
