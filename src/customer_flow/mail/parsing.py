"""Read a raw message into what a ticket needs, with the stdlib ``email`` package.

Nothing here trusts the message: headers that will not decode are read with replacement
characters, a part whose charset Python does not know is read as UTF-8 with replacements, HTML
goes through ``nh3`` (no script, no style, no remote images), and the text kept is bounded.
"""

from __future__ import annotations

import email
import email.policy
import html as html_lib
import re
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr

import nh3

from customer_flow.mail.models import Attachment, ParsedMail

__all__ = [
    "MAX_TEXT",
    "attachment_parts",
    "automatic_reason",
    "clean_filename",
    "html_to_text",
    "message_ids",
    "normalise_id",
    "parse",
    "parse_headers",
    "sanitise_html",
]

#: The most characters of text kept to show (a comment holds at most 100,000).
MAX_TEXT = 90_000
#: The most MIME parts looked at; a message with more is read up to there.
MAX_PARTS = 1000
_ID = re.compile(r"<([^<>\s]{1,900})>")
_MAILER_DAEMON = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|bounce[s]?)([+-].*)?@", re.I)
#: Block-level tags whose end is a line break in the text of an HTML mail.
_BLOCKS = re.compile(r"<\s*(br|/p|/div|/li|/tr|/h[1-6]|/blockquote)\s*/?\s*>", re.I)
_SAFE_TAGS = {
    "a", "b", "blockquote", "br", "code", "div", "em", "i", "li", "ol", "p", "pre", "span",
    "strong", "table", "tbody", "td", "th", "thead", "tr", "u", "ul", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr",
}  # fmt: skip


def header_text(value: object) -> str:
    """A header as text: RFC 2047 words decoded (any charset Python knows, cp1252 included);
    what will not decode is kept with replacement characters, never an error."""
    if value is None:
        return ""
    raw = str(value)
    try:
        text = str(make_header(decode_header(raw)))
    except (LookupError, UnicodeError, ValueError, AssertionError):
        text = raw
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(text.split())


def normalise_id(value: str) -> str:
    """A Message-ID without its angle brackets or spaces."""
    found = _ID.search(value)
    return found.group(1) if found else value.strip().strip("<>").strip()


def message_ids(value: object) -> list[str]:
    """The Message-IDs a header (In-Reply-To, References) names, in order, at most 50."""
    if value is None:
        return []
    return _ID.findall(str(value))[-50:]


def automatic_reason(msg: Message, sender: str | None) -> str | None:
    """Why a message is a machine's (no ticket may come of it), or None for a person's."""
    auto = header_text(msg.get("Auto-Submitted")).lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = header_text(msg.get("Precedence")).lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress-Reply"):
        if msg.get(name) is not None:
            return f"{name} header"
    if msg.get("List-Id") is not None or msg.get("List-Unsubscribe") is not None:
        return "a mailing list message"
    if msg.get_content_type() == "multipart/report":
        return "a delivery report"
    if sender is None:
        return "no sender address"
    if _MAILER_DAEMON.match(sender):
        return f"from {sender}"
    return_path = header_text(msg.get("Return-Path"))
    if return_path.strip() == "<>":
        return "a bounce (empty Return-Path)"
    return None


def sanitise_html(value: str) -> str:
    """HTML safe to show: nh3 keeps a few formatting tags, drops scripts, styles, event
    attributes, images and every URL scheme but http(s) and mailto on links."""
    return nh3.clean(
        value,
        tags=_SAFE_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def html_to_text(value: str) -> str:
    """The text of an HTML mail: sanitised by nh3 first, block ends made line breaks."""
    safe = sanitise_html(value)
    with_breaks = _BLOCKS.sub("\n", safe)
    text = nh3.clean(with_breaks, tags=set())
    lines = [" ".join(line.split()) for line in html_lib.unescape(text).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _decode(part: Message, defects: list[str]) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception as exc:  # a malformed transfer encoding: email raises little, but may
        defects.append(f"a {part.get_content_type()} part would not decode: {exc}")
        return ""
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        defects.append(f"unknown charset {charset!r}: read as UTF-8")
        return payload.decode("utf-8", "replace")


def _addresses(msg: Message, name: str) -> list[str]:
    values = [header_text(v) for v in msg.get_all(name, [])]
    return [a.lower() for _, a in getaddresses(values) if "@" in a][:50]


def parse_headers(msg: Message) -> tuple[str | None, str]:
    """The sender's address (lower-cased, or None when there is none) and name."""
    name, address = parseaddr(header_text(msg.get("From")))
    address = address.strip().lower()
    if "@" not in address or len(address) > 320 or any(c.isspace() for c in address):
        return None, name
    return address, name[:200]


def clean_filename(value: str | None) -> str:
    """An attachment's name fit to show and to send back: decoded, no folders, no control
    characters, at most 255 characters."""
    name = header_text(value or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip(" .")
    return name[:255] or "attachment"


def _is_attachment(part: Message) -> bool:
    disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
    return disposition == "attachment" or bool(part.get_filename())


def attachment_parts(raw: bytes) -> list[tuple[Attachment, bytes]]:
    """The attachments with their bytes, in the order ``parse`` lists them."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    found: list[tuple[Attachment, bytes]] = []
    for count, part in enumerate(msg.walk()):
        if count >= MAX_PARTS:
            break
        if part.is_multipart() or not _is_attachment(part):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        meta = Attachment(
            filename=clean_filename(part.get_filename()),
            content_type=part.get_content_type()[:100],
            size=len(data),
        )
        found.append((meta, data))
    return found


def parse(raw: bytes, *, headers_only: bool = False) -> ParsedMail:
    """A raw message read into a ``ParsedMail``; never raises on malformed input.

    The first text/plain part that is no attachment is the text; without one, the first
    text/html part's text (sanitised). Attachments are listed with their sizes."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    defects = [type(d).__name__ for d in msg.defects][:20]
    sender, sender_name = parse_headers(msg)
    message_id = msg.get("Message-ID")
    plain: str | None = None
    html: str | None = None
    attachments: list[Attachment] = []
    if not headers_only:
        for count, part in enumerate(msg.walk()):
            if count >= MAX_PARTS:
                defects.append(f"more than {MAX_PARTS} parts: the rest is not read")
                break
            if part.is_multipart():
                continue
            ctype = part.get_content_type()
            if _is_attachment(part):
                payload = part.get_payload(decode=True)
                attachments.append(
                    Attachment(
                        filename=clean_filename(part.get_filename()),
                        content_type=ctype[:100],
                        size=len(payload) if isinstance(payload, bytes) else 0,
                    )
                )
            elif ctype == "text/plain" and plain is None:
                plain = _decode(part, defects)
            elif ctype == "text/html" and html is None:
                html = _decode(part, defects)
    safe_html = sanitise_html(html) if html is not None else None
    if plain is not None and plain.strip():
        text = plain
    elif html is not None:
        text = html_to_text(html)
    else:
        text = ""
    text = text.replace("\r\n", "\n").replace("\x00", "")
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "\n[… the rest of the message is in the original]"
    return ParsedMail(
        sender=sender,
        sender_name=sender_name,
        to=_addresses(msg, "To") + _addresses(msg, "Cc"),
        subject=header_text(msg.get("Subject"))[:1000],
        message_id=normalise_id(str(message_id)) if message_id else None,
        in_reply_to=message_ids(msg.get("In-Reply-To")),
        references=message_ids(msg.get("References")),
        automatic=automatic_reason(msg, sender),
        text=text,
        html=safe_html,
        attachments=attachments,
        defects=defects,
    )
