"""Names as the duplicates model reads them: one name string split into a first name and a
surname, nicknames read as the name they stand for, and a phonetic key (Soundex).

A customer has one ``name`` string. The model compares the first name and the surname apart,
because they are different evidence: a shared surname is common among strangers (families,
colleagues, a popular name), while a different first name says two people.

Nothing here touches the database; every function is pure and cached.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache, lru_cache
from importlib import resources

__all__ = ["canon_given", "fold", "name_key", "nicknames", "parse_name", "soundex"]

#: Words that start a surname ("van der Berg", "de la Cruz"): kept with the word after them.
PARTICLES = frozenset(
    {
        "van", "der", "den", "de", "la", "da", "von", "del", "di", "du", "dos", "le", "st",
        "bin", "al", "el", "ter", "ten", "mac",
    }
)  # fmt: skip
#: Titles and suffixes, dropped wherever they are ("Dr Ana Lima Jr").
TITLES = frozenset(
    {"jr", "sr", "ii", "iii", "iv", "phd", "md", "esq", "mr", "mrs", "ms", "dr", "miss", "prof"}
)
_JOINED = re.compile(r"['\u2019\-.]")  # O'Brien -> obrien, Jean-Luc -> jeanluc
_NON_WORD = re.compile(r"[^\w]+")


@cache
def nicknames() -> dict[str, str]:
    """Nickname -> given name (``nicknames.json``): "bob" -> "robert"."""
    text = (resources.files(__package__) / "nicknames.json").read_text()
    found: dict[str, str] = json.loads(text)["nicknames"]
    return found


def fold(text: str) -> str:
    """Case-folded and accent-free (NFKD without combining marks); other scripts are kept."""
    plain = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in plain if not unicodedata.combining(c))


def _tokens(part: str) -> list[str]:
    words = _NON_WORD.sub(" ", _JOINED.sub("", fold(part))).split()
    return [w for w in words if w.replace("_", "") and w not in TITLES]


@lru_cache(maxsize=1 << 18)
def parse_name(name: str | None) -> tuple[str | None, str | None]:
    """(first name, surname) of one name string, folded (``fold``), with apostrophes, hyphens
    and dots inside words removed.

    - "Last, First [Middle]" (a comma): the surname is everything before the comma, joined; the
      first name is the first word after it.
    - One word: no first name; the word is the surname (the comparisons allow a lone name to be
      either part).
    - Particles first ("van der Berg Thomas"): surname "vanderberg", first name "thomas".
    - Otherwise the first word is the first name and the last word, with any particles right
      before it, the surname ("Anna van der Berg": "anna", "vanderberg"); middle words are
      dropped.
    """
    if not name or not name.strip():
        return None, None
    if "," in name:
        last, _, first = name.partition(",")
        lt, ft = _tokens(last), _tokens(first)
        if lt and ft:
            return ft[0], "".join(lt)
        words = lt or ft
    else:
        words = _tokens(name)
    if not words:
        return None, None
    if len(words) == 1:
        return None, words[0]
    if words[0] in PARTICLES:
        j = 0
        while j < len(words) - 1 and words[j] in PARTICLES:
            j += 1
        if j + 1 < len(words):
            return words[j + 1], "".join(words[: j + 1])
    i = len(words) - 1
    while i > 1 and words[i - 1] in PARTICLES:
        i -= 1
    return words[0], "".join(words[i:])


@lru_cache(maxsize=1 << 18)
def name_key(name: str | None) -> str | None:
    """All the words of a name of two words or more, folded and sorted: the same for "Nguyễn
    Văn Çelik" and "Çelik Nguyễn Văn" (whose first name and surname ``parse_name`` cannot
    tell), and for "Lima, Ana" and "Ana Lima"."""
    if not name:
        return None
    words = sorted(_tokens(name.replace(",", " ")))
    return " ".join(words) if len(words) > 1 else None


def canon_given(given: str | None) -> str | None:
    """The given name a nickname stands for ("bob" -> "robert"), else the name itself."""
    if given is None:
        return None
    return nicknames().get(given, given)


_SOUNDEX = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    "m": "5",
    "n": "5",
    "r": "6",
}


@lru_cache(maxsize=1 << 18)
def soundex(word: str | None) -> str | None:
    """American Soundex (4 characters) of the ASCII letters of a folded word: "robert" and
    "rupert" are both R163. A word with no ASCII letter (Cyrillic, Greek, CJK) keys on its
    first 3 characters instead."""
    if not word:
        return None
    letters = [c for c in word if "a" <= c <= "z"]
    if not letters:
        return word[:3]
    out, last = letters[0], _SOUNDEX.get(letters[0], "")
    for c in letters[1:]:
        code = _SOUNDEX.get(c, "")
        if code and code != last:
            out += code
        if c not in "hw":
            last = code
        if len(out) == 4:
            break
    return (out + "000")[:4]
