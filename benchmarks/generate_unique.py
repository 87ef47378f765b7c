"""A second customer generator, unlike ``generate.py``: clean-ish rows, every email unique.

Issue 19 asks for speed measured on a file the bench's own generator did not make: a file of
N customers with unique emails (so every row is a new customer and each email key lands at a
random place in the unique index), names from a wider pool, phones unique too, and two extra
columns (``City``, ``Plan``) kept as extra attributes. Vectorised with Polars: 2,000,000 rows
take a few seconds. Output is identical for the same ``n_rows`` and ``seed``.

    python -m benchmarks.generate_unique --rows 2000000 --out /tmp/u.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

FIRST = [
    "Ada",
    "Aiko",
    "Alba",
    "Aleksander",
    "Amara",
    "Ana",
    "Andrés",
    "Anya",
    "Aria",
    "Arjun",
    "Astrid",
    "Aurora",
    "Axel",
    "Bea",
    "Björn",
    "Camila",
    "Carlos",
    "Chen",
    "Chiara",
    "Chloé",
    "Dario",
    "Dev",
    "Diego",
    "Eero",
    "Elif",
    "Elin",
    "Emil",
    "Emma",
    "Eva",
    "Fatima",
    "Felix",
    "Freya",
    "Gaia",
    "Hana",
    "Hugo",
    "Ida",
    "Ines",
    "Ivan",
    "Jamal",
    "Jana",
    "Jin",
    "Joana",
    "Jonas",
    "Kai",
    "Kalinda",
    "Karim",
    "Kenji",
    "Lara",
    "Leila",
    "Leo",
    "Lina",
    "Luca",
    "Luís",
    "Maja",
    "Marek",
    "Maria",
    "Mateo",
    "Mei",
    "Mia",
    "Mika",
    "Nadia",
    "Nia",
    "Nika",
    "Noah",
    "Nora",
    "Olek",
    "Omar",
    "Oscar",
    "Paula",
    "Pedro",
    "Priya",
    "Rafael",
    "Ravi",
    "Rosa",
    "Ruth",
    "Sami",
    "Sara",
    "Sofia",
    "Sven",
    "Tariq",
    "Teo",
    "Uma",
    "Valentina",
    "Vera",
    "Viktor",
    "Wen",
    "Yara",
    "Yusuf",
    "Zainab",
    "Zoe",
]
LAST = [
    "Abe",
    "Adeyemi",
    "Almeida",
    "Andersen",
    "Bauer",
    "Becker",
    "Bianchi",
    "Carvalho",
    "Castro",
    "Chowdhury",
    "Costa",
    "Dahl",
    "Dubois",
    "Eriksson",
    "Fernandes",
    "Fischer",
    "Garcia",
    "Gomes",
    "Gonzalez",
    "Haddad",
    "Hansen",
    "Hoffmann",
    "Ibrahim",
    "Ito",
    "Jensen",
    "Kaya",
    "Khan",
    "Kim",
    "Kowalski",
    "Kumar",
    "Larsen",
    "Laurent",
    "Lee",
    "Lima",
    "Lopez",
    "Martins",
    "Meyer",
    "Moreau",
    "Müller",
    "Nakamura",
    "Nguyen",
    "Nielsen",
    "Novak",
    "Okafor",
    "Oliveira",
    "Park",
    "Pereira",
    "Petrov",
    "Popescu",
    "Rahman",
    "Ribeiro",
    "Rossi",
    "Santos",
    "Schmidt",
    "Silva",
    "Singh",
    "Sousa",
    "Suzuki",
    "Tanaka",
    "Torres",
    "Wagner",
    "Wang",
    "Weber",
    "Yilmaz",
    "Zhang",
    "Ziegler",
]
DOMAINS = [f"mail{i}.example" for i in range(40)] + ["example.com", "example.org", "corp.example"]
CITIES = [
    "Lisboa",
    "Porto",
    "Braga",
    "Faro",
    "Coimbra",
    "Aveiro",
    "Évora",
    "Madrid",
    "Paris",
    "Berlin",
    "Oslo",
    "Tokyo",
]
PLANS = ["free", "team", "business", "enterprise"]


def frame(n_rows: int, seed: int = 7) -> pl.DataFrame:
    """The rows: ``Name, Email, Phone, City, Plan``, every email and phone unique."""
    i = pl.int_range(0, n_rows, dtype=pl.Int64, eager=True)
    # A scramble of i (an odd multiplier modulo a power of two is a bijection), so that
    # neither names nor emails follow the file's order.
    m = (i * 2_654_435_761 + seed * 97) % (1 << 32)

    def pick(pool: list[str], index: pl.Series) -> pl.Series:
        return pl.Series(pool).gather(index % len(pool))

    first = pick(FIRST, m)
    last = pick(LAST, m // 7)
    return pl.DataFrame(
        {
            "Name": first + " " + last,
            "Email": first.str.to_lowercase()
            + "."
            + last.str.to_lowercase()
            + "."
            + m.cast(pl.String)
            + "@"
            + pick(DOMAINS, i),
            # +1 202 and seven digits from i: unique up to 8,000,000 rows.
            "Phone": "+1 202 " + (i + 2_000_000).cast(pl.String),
            "City": pick(CITIES, m),
            "Plan": pick(PLANS, m // 13),
        }
    )


def generate(n_rows: int, out: Path, seed: int = 7) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    frame(n_rows, seed).write_csv(out)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    generate(args.rows, args.out, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
