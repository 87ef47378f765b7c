"""Imported customers take part in the duplicate check on entry, and a revert keeps it right."""

from __future__ import annotations

from pathlib import Path

import pytest

from customer_flow.core.errors import DuplicateError
from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text("Name,Email,Phone\nAna Lima,ana@lima.pt,+1 415 555 2671\n")
    return path


class TestImportFeedsTheEntryCheck:
    def test_a_customer_like_an_imported_one_is_caught(self, hub: Hub, tmp_path: Path) -> None:
        report = hub.import_file(_file(tmp_path))
        assert report.imported == 1
        with pytest.raises(DuplicateError, match="Ana Lima"):
            hub.add_customer(
                CustomerCreate(name="Ana Lima", email="ana@work.io", phone="(415) 555-2671")
            )

    def test_after_a_revert_the_imported_customer_no_longer_matches(
        self, hub: Hub, tmp_path: Path
    ) -> None:
        report = hub.import_file(_file(tmp_path))
        assert report.batch_id is not None
        hub.revert_import(report.batch_id)
        added = hub.add_customer(
            CustomerCreate(name="Ana Lima", email="ana@work.io", phone="(415) 555-2671")
        )
        assert [] == [w for w in added.warnings if w.field == "duplicate"]


class TestDryRunWritesNothing:
    def test_a_dry_run_leaves_no_rejects_file_beside_the_input(
        self, db_url: str, tmp_path: Path
    ) -> None:
        from typer.testing import CliRunner

        from customer_flow.cli.main import app

        folder = tmp_path / "files"
        folder.mkdir()
        source = folder / "in.csv"
        source.write_text("Name,Email\nAna,ana@x.io\nBad,bad@\n")
        result = CliRunner().invoke(app, ["--db", db_url, "import", str(source), "--dry-run"])
        assert result.exit_code == 0, result.stderr
        assert "1 imported + 0 updated + 0 unchanged + 1 rejected = 2 rows read" in result.stderr
        assert ["in.csv"] == sorted(p.name for p in folder.iterdir())
