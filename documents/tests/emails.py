"""E-mail messages (``.eml``) for tests, built with the standard library: real MIME, real attachments."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime


def make_message(
    subject: str = "Harbour works: the Gettysburg text",
    body: str = "Please find the documents attached.",
    html: str | None = None,
    attachments: list[tuple[str, bytes, str]] | None = None,
) -> EmailMessage:
    """A message from Alice to Bob with a text body (and an HTML alternative when ``html`` is given) and
    ``attachments`` as (file name, bytes, MIME type)."""
    message = EmailMessage()
    message["From"] = "Alice Example <alice@example.com>"
    message["To"] = "Bob Example <bob@example.com>"
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime(2024, 3, 1, 9, 30, tzinfo=UTC))
    message["Message-ID"] = "<1234@example.com>"
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for filename, data, mime in attachments or []:
        if mime == "message/rfc822":
            from email import message_from_bytes, policy

            message.add_attachment(message_from_bytes(data, policy=policy.default), filename=filename)
            continue
        maintype, subtype = mime.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message
