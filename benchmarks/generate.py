"""A seeded generator of realistic, messy customer files, with the truth written beside them.

The file looks like an export from another tool: headers that need aliases
(``Customer ID, Full Name, E-mail, Phone Number``), names in every case and in "Last, First"
order, non-ASCII and decomposed (NFD) names, padded and upper-case emails, national and
international phone formats with extensions, 2-5 % invalid values, ~5 % near-duplicates and a
few exact duplicate rows.

Every row has a line in the truth file (``<name>.truth.csv``):

``row``            the record's number in the file (1 = the first record after the header);
``entity``         the real-world customer the row describes: near-duplicates share it, so a
                   duplicate finder can be scored pairwise (precision/recall) against it;
``kind``           ``original`` or the near-duplicate kind (:data:`NEAR_DUPLICATE_KINDS`), or
                   ``exact_duplicate``;
``status``         ``ok`` (imported) or ``reject``;
``id, name, email, phone``  the expected clean values (``id`` empty when the file gives none);
``warnings``       expected warning codes, ``;``-separated;
``reject_column, reject_code``  for rejected rows, the column at fault and the reason code.

Usage::

    python -m benchmarks.generate --rows 100000 --seed 7 --out /tmp/gen
    from benchmarks.generate import generate, generate_rows
    paths = generate(10_000, seed=1, out_dir=tmp)     # -> Generated(data=..., truth=...)
    rows, truth = generate_rows(1_000, seed=1)        # in memory

Output is identical for the same ``n_rows`` and ``seed``. Rows are made in chunks of
:data:`CHUNK` with a seed each, so memory stays flat for any size.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "HEADER",
    "NEAR_DUPLICATE_KINDS",
    "TRUTH_HEADER",
    "Generated",
    "generate",
    "generate_rows",
    "iter_chunks",
    "proper_case",
]

HEADER = ("Customer ID", "Full Name", "E-mail", "Phone Number")
TRUTH_HEADER = (
    "row",
    "entity",
    "kind",
    "status",
    "id",
    "name",
    "email",
    "phone",
    "warnings",
    "reject_column",
    "reject_code",
)
NEAR_DUPLICATE_KINDS = (
    "typo",
    "swapped_names",
    "nickname",
    "phone_format",
    "missing_fields",
    "email_domain",
)
CHUNK = 50_000
REGION = "US"
NEAR_DUPLICATE_RATE = 0.05
EXACT_DUPLICATE_RATE = 0.005
INVALID_RATE = 0.03
LOCAL_PHONE_RATE = 0.01

FIRST = (
    "Maria", "James", "Robert", "Elizabeth", "William", "Katherine", "Michael", "Margaret",
    "Richard", "Alexander", "Jennifer", "Thomas", "Joseph", "Christopher", "Daniel", "Anthony",
    "Susan", "Patricia", "Rebecca", "Jonathan", "Olivia", "Noah", "Emma", "Liam", "Sophia",
    "Lucas", "Mia", "Ethan", "Amelia", "Oliver", "Ava", "Isabella", "Charlotte", "Henry",
    "José", "Zoë", "François", "Łukasz", "Søren", "Anaïs", "Jürgen", "Björn", "Ana-Lucía",
    "Jean-Luc", "Siobhán", "Nguyễn Văn", "Dmitri", "Ayşe", "Chloé", "Renée", "Åsa", "Ines",
    "Дмитрий", "Олена", "Γιώργος", "Priya", "Aarav", "Wei", "Yuki", "Kwame", "Fatima",
)  # fmt: skip
LAST = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Taylor", "Moore",
    "Jackson", "Martin", "Lee", "Thompson", "White", "Harris", "Clark", "Lewis", "Walker",
    "O'Brien", "O'Connor", "D'Angelo", "McDonald", "McCarthy", "Smith-Jones", "van der Berg",
    "de la Cruz", "da Silva", "von Trapp", "Müller", "Schröder", "Nuñez", "Ødegaard",
    "Kowalczyk", "Żółć", "Dvořák", "Éluard", "Brontë", "Çelik", "Yılmaz", "Nakamura", "Okafor",
    "Иванов", "Шевченко", "Παπαδόπουλος", "Patel", "Singh", "Chen", "Kim", "Nguyen", "Haddad",
)  # fmt: skip
NICKNAMES = {
    "Robert": "Bob", "William": "Bill", "Elizabeth": "Liz", "Katherine": "Kate",
    "Michael": "Mike", "James": "Jim", "Margaret": "Peggy", "Richard": "Dick",
    "Alexander": "Alex", "Jennifer": "Jen", "Thomas": "Tom", "Joseph": "Joe",
    "Christopher": "Chris", "Daniel": "Dan", "Anthony": "Tony", "Susan": "Sue",
    "Patricia": "Pat", "Rebecca": "Becky", "Jonathan": "Jon", "Dmitri": "Dima",
}  # fmt: skip
DOMAINS = (
    "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me",
    "acme.io", "globex.com", "initech.co.uk", "umbrella.de", "hooli.xyz", "aol.com",
)  # fmt: skip
PARTICLES = frozenset({"van", "der", "de", "la", "da", "von", "del", "di", "du", "dos", "le"})
US_AREA_CODES = (
    "201", "212", "213", "305", "312", "347", "404", "415", "503", "512", "602", "617",
    "646", "702", "713", "718", "801", "808", "917", "206", "303", "614", "919", "971",
)  # fmt: skip
#: Other countries as (calling code, national number length, leading national digits).
FOREIGN = (
    ("44", 10, ("20", "121", "161", "7700", "7911")),
    ("49", 11, ("30", "89", "151", "160")),
    ("33", 9, ("1", "6", "7")),
    ("55", 11, ("11", "21")),
    ("91", 10, ("98", "99", "22")),
    ("61", 9, ("2", "4")),
)
BAD_EMAILS = ("{l}@", "{l}{d}", "{l} x@{d}", "{l}@@{d}", "{l}@{d}.", ".{l}@{d}")
BAD_PHONES = ("call me", "n/a", "none", "ask reception", "unknown", "-")
BAD_IDS = ("A-{n}", "{n}.5", "#{n}", "-{n}", "0", "{n}abc")
NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "phd", "md", "inc", "llc", "ltd"})


def proper_case(name: str) -> str:
    """The casing the importer gives an ALL-CAPS or all-lower name (the reference rule).

    Each word is capitalised after any letter-less character (so ``o'brien`` -> ``O'Brien``,
    ``jean-luc`` -> ``Jean-Luc``); ``Mc`` prefixes keep their capital; particles such as
    ``van der`` stay lower-case unless they begin the name.
    """
    out: list[str] = []
    for i, word in enumerate(name.split(" ")):
        low = word.lower()
        if i > 0 and low in PARTICLES:
            out.append(low)
            continue
        chars: list[str] = []
        boundary = True
        for ch in low:
            chars.append(ch.upper() if boundary else ch)
            boundary = not ch.isalpha()
        w = "".join(chars)
        if w.startswith("Mc") and len(w) > 2:
            w = "Mc" + w[2].upper() + w[3:]
        out.append(w)
    return " ".join(out)


@dataclass(frozen=True)
class Generated:
    """Paths written by :func:`generate`."""

    data: Path
    truth: Path
    rows: int


@dataclass
class _Entity:
    number: int
    first: str
    last: str
    local: str
    domain: str
    phone_e164: str
    phone_digits: tuple[str, str]  # (country code, national number)
    ext: str


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum()) or "x"


class _Phones:
    """Valid numbers by construction; validity is checked once per prefix with phonenumbers."""

    def __init__(self, rng: random.Random) -> None:
        import phonenumbers

        self._pn = phonenumbers
        self.rng = rng
        self._valid: dict[str, bool] = {}

    def _ok(self, cc: str, national: str, key: str) -> bool:
        if key not in self._valid:
            num = self._pn.parse(f"+{cc}{national}")
            self._valid[key] = bool(self._pn.is_valid_number(num))
        return self._valid[key]

    def make(self) -> tuple[str, str]:
        rng = self.rng
        if rng.random() < 0.85:
            while True:
                national = f"{rng.choice(US_AREA_CODES)}{rng.randint(200, 999)}"
                if self._ok("1", national + "5555", national):
                    return "1", national + f"{rng.randint(0, 9999):04d}"
        while True:
            cc, length, leads = rng.choice(FOREIGN)
            lead = rng.choice(leads)
            national = lead + "".join(str(rng.randint(0, 9)) for _ in range(length - len(lead)))
            # Foreign validity can depend on every digit: check the whole number.
            if self._ok(cc, national, cc + national):
                return cc, national


def _format_phone(rng: random.Random, cc: str, nat: str, ext: str) -> str:
    if cc == "1":
        a, b, c = nat[:3], nat[3:6], nat[6:]
        text = rng.choice(
            (
                f"({a}) {b}-{c}",
                f"{a}-{b}-{c}",
                f"{a}.{b}.{c}",
                f"{a}{b}{c}",
                f"+1 {a} {b} {c}",
                f"1-{a}-{b}-{c}",
                f"+1 ({a}) {b}-{c}",
                f"+1{a}{b}{c}",
                f" {a} {b} {c} ",
            )
        )
    else:
        head, tail = nat[:3], nat[3:]
        text = rng.choice(
            (
                f"+{cc} {head} {tail}",
                f"+{cc}{nat}",
                f"+{cc}-{head}-{tail}",
                f"011 {cc} {head} {tail}",
                f"+{cc} ({head}) {tail}",
            )
        )
    if ext:
        text = text.strip() + rng.choice((f" x{ext}", f" ext. {ext}", f" ext {ext}", f" #{ext}"))
    return text


def _render_name(rng: random.Random, first: str, last: str) -> tuple[str, str]:
    """A messy rendering of a name and the clean name the importer should make of it."""
    clean = f"{first} {last}"
    style = rng.random()
    if style < 0.12:
        text = f"{last}, {first}"
    elif style < 0.16:
        text = f"{last},{first}"
    else:
        text = clean
    case = rng.random()
    if case < 0.12:
        text = text.upper()
        clean = proper_case(clean.upper())  # what can be known of an ALL-CAPS name
    elif case < 0.22:
        text = text.lower()
        clean = proper_case(clean.lower())
    if rng.random() < 0.08:
        text = text.replace(" ", rng.choice(("  ", " \t", "\u00a0")), 1)
    if rng.random() < 0.08:
        text = f"  {text} "
    if rng.random() < 0.05:
        text = unicodedata.normalize("NFD", text)
    return text, clean


def _render_email(rng: random.Random, local: str, domain: str) -> tuple[str, str]:
    email = f"{local}@{domain}"
    r = rng.random()
    if r < 0.08:
        text = email.upper()
    elif r < 0.15:
        text = f"{local.capitalize()}@{domain.capitalize()}"
    else:
        text = email
    if rng.random() < 0.08:
        text = f" {text}  "
    # email-validator lower-cases the domain and keeps the local part as written.
    clean_local, _, clean_domain = text.strip().rpartition("@")
    return text, f"{clean_local}@{clean_domain.lower()}"


def _typo(rng: random.Random, word: str) -> str:
    """A typo that keeps the word's casing pattern: only lower-case letters after the first."""
    spots = [i for i in range(1, len(word) - 1) if word[i].islower() and word[i + 1].islower()]
    if not spots:
        return word + "e"
    i = rng.choice(spots)
    if rng.random() < 0.5 and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if rng.random() < 0.5:
        return word[:i] + word[i + 1 :]
    return word[:i] + rng.choice("aeiounrst") + word[i + 1 :]


def _entity(rng: random.Random, number: int, phones: _Phones) -> _Entity:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = f"{_ascii(first)}.{_ascii(last)}{number}"
    cc, nat = phones.make()
    ext = str(rng.randint(1, 9999)) if cc == "1" and rng.random() < 0.03 else ""
    e164 = f"+{cc}{nat}" + (f";ext={ext}" if ext else "")
    return _Entity(number, first, last, local, rng.choice(DOMAINS), e164, (cc, nat), ext)


def _row(rng: random.Random, ent: _Entity, kind: str) -> tuple[list[str], dict[str, str]]:
    """One raw row (ID filled in later) and its truth, for an entity and a kind."""
    first, last, local, domain = ent.first, ent.last, ent.local, ent.domain
    cc, nat = ent.phone_digits
    ext = ent.ext
    drop_email = drop_phone = False
    if kind == "typo":
        if rng.random() < 0.5:
            last = _typo(rng, last)
        else:
            first = _typo(rng, first)
        local = _typo(rng, local.split(".", 1)[0]) + "." + local.split(".", 1)[1]
    elif kind == "swapped_names":
        first, last = last, first
        drop_email = True
    elif kind == "nickname":
        first = NICKNAMES[first]
        local = f"{_ascii(first)}.{_ascii(last)}{ent.number}"
    elif kind == "phone_format":
        drop_email = True
    elif kind == "missing_fields":
        drop_email = True
        drop_phone = rng.random() < 0.5
    elif kind == "email_domain":
        domain = rng.choice([d for d in DOMAINS if d != domain])
    name_text, name_clean = _render_name(rng, first, last)
    if drop_email:
        email_text = email_clean = ""
    else:
        email_text, email_clean = _render_email(rng, local, domain)
    if drop_phone:
        phone_text = phone_clean = ""
    else:
        phone_text = _format_phone(rng, cc, nat, ext)
        phone_clean = ent.phone_e164
    truth = {
        "entity": str(ent.number),
        "kind": kind,
        "status": "ok",
        "name": unicodedata.normalize("NFC", name_clean),
        "email": email_clean,
        "phone": phone_clean,
        "warnings": "",
        "reject_column": "",
        "reject_code": "",
    }
    return ["", name_text, email_text, phone_text], truth


def _spoil(rng: random.Random, raw: list[str], truth: dict[str, str], number: int) -> None:
    """Make one value invalid (the row is rejected) or doubtful (imported with a warning)."""
    r = rng.random()
    local = f"user{number}"
    if r < 0.4:
        raw[2] = rng.choice(BAD_EMAILS).format(l=local, d=rng.choice(DOMAINS))
        truth.update(status="reject", reject_column="Email", reject_code="email_invalid")
    elif r < 0.65:
        raw[3] = rng.choice(BAD_PHONES)
        truth.update(status="reject", reject_column="Phone", reject_code="phone_not_a_number")
    elif r < 0.8:
        raw[1] = rng.choice(("", "  ", "\t"))
        truth.update(status="reject", reject_column="Name", reject_code="name_missing")
    else:
        raw[0] = rng.choice(BAD_IDS).format(n=number)
        truth.update(status="reject", reject_column="ID", reject_code="id_invalid")


def iter_chunks(
    n_rows: int, seed: int, *, chunk: int = CHUNK
) -> Iterator[list[tuple[list[str], dict[str, str]]]]:
    """Yield the rows in chunks: lists of (raw row, truth), row numbers and IDs filled in."""
    row_no = 0
    entity_no = 0
    for start in range(0, n_rows, chunk):
        size = min(chunk, n_rows - start)
        rng = random.Random(f"{seed}:{start}")
        phones = _Phones(rng)
        n_near = round(size * NEAR_DUPLICATE_RATE)
        n_exact = round(size * EXACT_DUPLICATE_RATE)
        n_base = size - n_near - n_exact
        entities = [_entity(rng, entity_no + i + 1, phones) for i in range(n_base)]
        entity_no += n_base
        items: list[tuple[list[str], dict[str, str]]] = []
        for ent in entities:
            raw, truth = _row(rng, ent, "original")
            r = rng.random()
            if r < INVALID_RATE:
                _spoil(rng, raw, truth, ent.number)
            elif r < INVALID_RATE + LOCAL_PHONE_RATE and ent.phone_digits[0] == "1":
                nat = ent.phone_digits[1]
                raw[3] = f"{nat[3:6]}-{nat[6:]}"
                truth.update(phone=raw[3], warnings="phone_local_only")
            items.append((raw, truth))
        used = {t["email"].lower() for _, t in items if t["status"] == "ok"}
        for _ in range(n_near):
            ent = rng.choice(entities)
            kind = rng.choice(NEAR_DUPLICATE_KINDS)
            if kind == "nickname" and ent.first not in NICKNAMES:
                kind = "typo"
            raw, truth = _row(rng, ent, kind)
            if truth["email"] and truth["email"].lower() in used:
                raw[2] = truth["email"] = ""  # emails are unique: two rows cannot share one
            used.add(truth["email"].lower())
            truth["id_required"] = "1"  # near-duplicates always carry an ID: never identical
            items.append((raw, truth))
        rng.shuffle(items)
        # IDs: 90 % of rows carry one, unique across the file (a spoiled ID stays spoiled).
        for i, (raw, truth) in enumerate(items):
            if raw[0] == "" and (truth.pop("id_required", "") or rng.random() < 0.9):
                raw[0] = str(start + i + 1)
            truth["id"] = raw[0] if truth["reject_code"] != "id_invalid" else ""
            if truth["status"] == "reject":
                truth["id"] = ""
        for _ in range(n_exact):
            idx = rng.randrange(len(items))
            src_raw, src_truth = items[idx]
            pos = rng.randint(idx + 1, len(items))
            dup = dict(src_truth)
            dup.update(
                kind="exact_duplicate",
                status="reject",
                id="",
                reject_column="",
                reject_code="duplicate_row",
            )
            items.insert(pos, (list(src_raw), dup))
        for _raw, truth in items:
            row_no += 1
            truth["row"] = str(row_no)
        yield items


def generate_rows(n_rows: int, seed: int = 0) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The rows (keyed by :data:`HEADER`) and their truth (keyed by :data:`TRUTH_HEADER`)."""
    rows: list[dict[str, str]] = []
    truth: list[dict[str, str]] = []
    for items in iter_chunks(n_rows, seed):
        for raw, t in items:
            rows.append(dict(zip(HEADER, raw, strict=True)))
            truth.append({k: t.get(k, "") for k in TRUTH_HEADER})
    return rows, truth


def generate(n_rows: int, seed: int, out_dir: Path, *, name: str = "customers") -> Generated:
    """Write ``<out_dir>/<name>.csv`` and ``<out_dir>/<name>.truth.csv``; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_path = out_dir / f"{name}.csv"
    truth_path = out_dir / f"{name}.truth.csv"
    with (
        data_path.open("w", newline="", encoding="utf-8") as data_fh,
        truth_path.open("w", newline="", encoding="utf-8") as truth_fh,
    ):
        data_w = csv.writer(data_fh)
        truth_w = csv.writer(truth_fh)
        data_w.writerow(HEADER)
        truth_w.writerow(TRUTH_HEADER)
        for items in iter_chunks(n_rows, seed):
            data_w.writerows(raw for raw, _ in items)
            truth_w.writerows([t.get(k, "") for k in TRUTH_HEADER] for _, t in items)
    return Generated(data=data_path, truth=truth_path, rows=n_rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--name", default="customers")
    args = parser.parse_args(argv)
    made = generate(args.rows, args.seed, args.out, name=args.name)
    print(f"{made.data}\n{made.truth}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
