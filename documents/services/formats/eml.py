"""E-mail messages (RFC 822, ``.eml``) with the standard library's ``email`` package (``policy.default``: headers
decoded, ``get_body``, ``iter_attachments``): the subject as the title, the headers as a first paragraph, the body
(text/plain preferred, else text/html through ``html_blocks``) and the attachments' names; the attachments
themselves (``eml_attachments``) become documents of their own (``documents.services.attachments``).

Malformed messages do not raise here beyond ``ValueError`` (the caller's ``CorruptFile``): the parser records
defects and goes on; a body in an unknown charset is decoded by ``decode_text``.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser

from documents.services.decode import decode_text
from documents.services.extract_errors import CorruptFile
from documents.services.formats import Block
from documents.services.formats.html import html_blocks

HEADERS = ("From", "To", "Cc", "Date")
# Bounds that keep the standard library's parser fast (``eml_bounds``; the caller refuses a message past them).
# Its time grows with lines x multipart depth (every line is checked against each enclosing boundary: 25 MB take
# 0.8 s with 3 multiparts, 3.4 s with 50, 8.7 s with 100) and with the number of parts (0.7 ms each).
EML_MAX_MULTIPARTS = 50
EML_MAX_PARTS = 2000
# Structured headers are parsed in quadratic time (4,000 addresses: 2.2 s): the ones shown are read raw and clipped
# (``eml_header``), and a part whose Content-Type or Content-Disposition is longer than this is damaged.
HEADER_MAX_CHARS = 2000
_NESTED_MULTIPART_DEPTH = 3  # multipart parts inside the attachments are opened this deep
_BOUNDARY = re.compile(rb"boundary\s*=", re.IGNORECASE)
_FOLD = re.compile(r"\r?\n(?=[ \t])")


@dataclass(frozen=True)
class EmlAttachment:
    """One attachment: its file name (given or made up from its type) and its decoded bytes."""

    filename: str
    data: bytes


def eml_read(data: bytes) -> tuple[list[Block], str]:
    """An e-mail message's blocks (``eml_blocks``) and its subject, from its bytes. Raises ``CorruptFile`` for a
    message with more than ``EML_MAX_MULTIPARTS`` multipart sections or ``EML_MAX_PARTS`` parts (the parser's
    time grows with them) or malformed MIME."""
    multiparts, parts = eml_bounds(data)
    if multiparts > EML_MAX_MULTIPARTS or parts > EML_MAX_PARTS:
        raise CorruptFile(
            f"This e-mail message has more than {EML_MAX_MULTIPARTS} multipart sections or {EML_MAX_PARTS:,} parts,"
            " so it is not read."
        )
    try:
        message = eml_parse(data)
        return list(eml_blocks(message)), eml_header(message, "Subject")
    except (RecursionError, ValueError, LookupError, IndexError, TypeError, AttributeError) as exc:  # malformed MIME
        raise CorruptFile("This e-mail message is damaged, so its text cannot be read.") from exc


def eml_bounds(data: bytes) -> tuple[int, int]:
    """Upper bounds, counted in linear time before parsing, of the multipart sections ``data`` declares and of its
    parts (lines starting with "--"): compare them with ``EML_MAX_MULTIPARTS`` and ``EML_MAX_PARTS``."""
    return len(_BOUNDARY.findall(data)), data.count(b"\n--") + data.startswith(b"--")


def eml_parse(data: bytes) -> EmailMessage:
    """The message in ``data`` (check ``eml_bounds`` first: the parser is slow past them). Malformed MIME is
    mostly recorded as defects; raises ValueError for a part whose Content-Type or Content-Disposition is longer
    than ``HEADER_MAX_CHARS`` (parsing it would take quadratic time)."""
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)  # policy.default's message factory
    for part in message.walk():
        for name, value in part.raw_items():
            if name.lower() in ("content-type", "content-disposition") and len(value) > HEADER_MAX_CHARS:
                raise ValueError(f"a {name} header of {len(value)} characters")
    return message


def eml_header(message: Message, name: str) -> str:
    """A header's value as shown: the raw value (at most ``HEADER_MAX_CHARS`` characters of it, "…" marking a
    cut) unfolded, encoded words decoded, whitespace collapsed; "" when it is missing. Linear (the policy's
    structured parsing is not)."""
    raw = next((str(value) for key, value in message.raw_items() if key.lower() == name.lower()), "")
    clipped = _FOLD.sub("", raw[:HEADER_MAX_CHARS])
    try:
        text = str(make_header(decode_header(clipped)))
    except (ValueError, LookupError, UnicodeError, HeaderParseError):  # a broken encoded word, an unknown charset
        text = clipped
    return " ".join(text.split()) + ("\u2026" if len(raw) > HEADER_MAX_CHARS else "")


def eml_blocks(message: EmailMessage) -> Iterator[Block]:
    """The subject (a level-0 heading), "From: …; To: …; Cc: …; Date: …", the body's blocks (the text part, else
    or when it is empty the HTML one) and, when there are any, "Attachments: a.pdf, b.docx"."""
    if subject := eml_header(message, "Subject"):
        yield Block(subject, 0)
    if fields := [f"{name}: {value}" for name in HEADERS if (value := eml_header(message, name))]:
        yield Block("; ".join(fields))
    body = message.get_body(preferencelist=("plain", "html"))
    text = part_text(body) if body is not None else ""
    if body is not None and not text.strip() and body.get_content_subtype() == "plain":
        body = message.get_body(preferencelist=("html",))  # an empty text part beside the HTML one
        text = part_text(body) if body is not None else ""
    if body is not None:
        yield from html_blocks(text) if body.get_content_subtype() == "html" else [Block(text)]
    if names := [attachment_filename(part, n) for n, part in enumerate(_attachment_parts(message), start=1)]:
        yield Block("Attachments: " + ", ".join(names))


def part_text(part: Message) -> str:
    """A text part's content: its bytes in its declared charset, else (unknown or wrong charset) as
    ``decode_text`` reads them; "" when it holds no text."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes) or not payload:
        return ""
    charset = part.get_content_charset()
    if charset:
        try:
            return payload.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return decode_text(payload)
    except ValueError:  # UnsupportedType: binary data in a text part
        return payload.decode("utf-8", "replace")


def eml_attachments(message: EmailMessage, limit: int) -> tuple[list[EmlAttachment], int]:
    """The first ``limit`` attachments of ``message`` (decoded; an attached message as its bytes, to be read as a
    document of its own) and how many more it has. Inline images of an HTML body (a Content-ID, not marked
    "attachment") are not attachments."""
    found: list[EmlAttachment] = []
    more = 0
    for number, part in enumerate(_attachment_parts(message), start=1):
        if len(found) >= limit:
            more += 1
            continue
        found.append(EmlAttachment(attachment_filename(part, number), _part_bytes(part)))
    return found, more


def attachment_filename(part: Message, number: int) -> str:
    """The attachment's file name, else "attachment-N" with an extension from its type (an attached message:
    its subject, ".eml")."""
    try:
        name = part.get_filename()
    except (ValueError, TypeError, IndexError, LookupError):
        name = None
    if name and name.strip():
        return name.strip()
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        inner = part.get_payload(0) if part.is_multipart() else None
        subject = eml_header(inner, "Subject") if isinstance(inner, Message) else ""
        return f"{subject or f'attachment-{number}'}.eml"
    return f"attachment-{number}{mimetypes.guess_extension(content_type) or ''}"


def _attachment_parts(message: Message, depth: int = 0) -> Iterator[Message]:
    if not isinstance(message, EmailMessage):
        return
    for part in message.iter_attachments():
        if part.get("Content-ID") and part.get_content_disposition() != "attachment":
            continue  # an image the HTML body shows
        if part.get_content_maintype() == "multipart":
            if depth < _NESTED_MULTIPART_DEPTH:
                yield from _attachment_parts(part, depth + 1)
            continue
        yield part


def _part_bytes(part: Message) -> bytes:
    if part.get_content_type() == "message/rfc822" and part.is_multipart():
        inner = part.get_payload(0)
        return inner.as_bytes(policy=policy.default) if isinstance(inner, Message) else b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""
