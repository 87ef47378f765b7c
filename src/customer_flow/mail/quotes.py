"""Trim the quoted history off a reply, for display; the original is kept whole elsewhere."""

from __future__ import annotations

import re

__all__ = ["subject_token", "ticket_subject", "trim_quoted"]

#: "On Mon, 1 Dec 2026, Ana <ana@x.pt> wrote:" and its kin in a few languages, and the
#: separators mail programs put above a quoted message.
_ATTRIBUTION = re.compile(
    r"^\s*(on\b.{0,300}\bwrote:|am\b.{0,300}\bschrieb.{0,100}:|le\b.{0,300}\ba écrit\s*:"
    r"|em\b.{0,300}\bescreveu:|el\b.{0,300}\bescribió:"
    r"|-{2,}\s*original message\s*-{2,}|-{2,}\s*mensagem original\s*-{2,}"
    r"|_{10,}|from:\s.+)\s*$",
    re.I,
)
_TOKEN = re.compile(r"\[#(\d{1,15})\]")
_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|vs|antw|res|enc)\s*(\[\d+\])?\s*:\s*)+", re.I)


def trim_quoted(text: str) -> str:
    """The new part of a reply: the text above the first attribution line ("On ... wrote:")
    or the first run of ``>`` lines that goes on to the end. A message that is all quote
    stays whole."""
    lines = text.split("\n")
    cut = len(lines)
    for i, line in enumerate(lines):
        if _ATTRIBUTION.match(line) and i > 0:
            cut = i
            break
    # A block of quoted lines at the end (blank lines between them allowed).
    end = cut
    while end > 0 and (lines[end - 1].startswith(">") or not lines[end - 1].strip()):
        end -= 1
    trimmed = "\n".join(lines[:end]).strip()
    return trimmed or text.strip()


def subject_token(subject: str) -> int | None:
    """The ticket ID a ``[#123]`` token in a subject names, or None."""
    found = _TOKEN.search(subject)
    return int(found.group(1)) if found else None


def ticket_subject(subject: str) -> str:
    """A message's subject as a ticket's: without Re:/Fwd: and ticket tokens, at most 300
    characters, ``(no subject)`` when nothing is left."""
    plain = _PREFIX.sub("", _TOKEN.sub("", subject)).strip()
    return (" ".join(plain.split()) or "(no subject)")[:300]
