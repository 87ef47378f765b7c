"""Data files: reading, cleaning, validating and exporting customer files.

This is the seed's ``data.py``. The foundation reads the seed's ``id.csv`` format
(``ID,Name,Email,Phone``) so that ``init --demo`` loads the bundled example; the bulk import
pipeline (sniffing, header aliases, batch cleaning, rejects, export) grows here.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from .errors import ValidationError
from .models import CustomerCreate

__all__ = ["ID_CSV_COLUMNS", "read_id_csv"]

ID_CSV_COLUMNS = ("ID", "Name", "Email", "Phone")


def read_id_csv(path: Path) -> Iterator[CustomerCreate]:
    """Yield the customers of a file in the seed's ``id.csv`` format, IDs kept."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != ID_CSV_COLUMNS:
            raise ValidationError(
                f"{path.name}: expected the columns {','.join(ID_CSV_COLUMNS)}, "
                f"got {','.join(reader.fieldnames or ())}",
                code="bad_header",
            )
        for line, row in enumerate(reader, start=2):
            try:
                customer_id = int(row["ID"]) if row["ID"] else None
            except ValueError as exc:
                raise ValidationError(
                    f"{path.name}: line {line}: ID {row['ID']!r} is not a whole number",
                    field="ID",
                ) from exc
            yield CustomerCreate(
                id=customer_id, name=row["Name"], email=row["Email"] or None, phone=row["Phone"]
            )
