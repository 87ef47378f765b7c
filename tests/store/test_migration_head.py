"""Opening a database at the newest migration skips Alembic; any doubt about the head asks it.

``Store._at_head`` reads the head from the migration scripts' text, so that every command does
not import Alembic and every script (about 0.15 s). These tests hold it to Alembic's answer.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from customer_flow.store import engine
from customer_flow.store.engine import Store, _script_head

MIGRATIONS = Path(str(resources.files(engine.__package__) / "migrations"))


def script(folder: Path, name: str, revision: str, down: str) -> None:
    (folder / name).write_text(f'"""A migration."""\n\nrevision = "{revision}"\n{down}\n')


class TestScriptHead:
    def test_is_alembics_head(self) -> None:
        """The head read from the text is the one Alembic finds by loading every script."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        assert ScriptDirectory.from_config(cfg).get_current_head() == _script_head(
            MIGRATIONS / "versions"
        )

    def test_a_chain_with_annotations_has_one_head(self, tmp_path: Path) -> None:
        """Alembic's own template writes ``down_revision: Union[str, None] = ...``."""
        script(tmp_path, "a.py", "0001", "down_revision = None")
        script(tmp_path, "b.py", "0002", 'down_revision: Union[str, None] = "0001"')
        assert "0002" == _script_head(tmp_path)

    @pytest.mark.parametrize(
        "down",
        [
            'down_revision = ("0001", "0002")',  # a merge point: only Alembic reads it
            "down_revision = PREVIOUS",  # not a plain value
            "",  # none at all
        ],
    )
    def test_a_script_not_read_plainly_leaves_it_to_alembic(
        self, tmp_path: Path, down: str
    ) -> None:
        script(tmp_path, "a.py", "0001", "down_revision = None")
        script(tmp_path, "b.py", "0003", down)
        assert _script_head(tmp_path) is None

    def test_two_heads_leave_it_to_alembic(self, tmp_path: Path) -> None:
        script(tmp_path, "a.py", "0001", "down_revision = None")
        script(tmp_path, "b.py", "0002", 'down_revision = "0001"')
        script(tmp_path, "c.py", "0003", 'down_revision = "0001"')
        assert _script_head(tmp_path) is None


class TestAtHead:
    def test_a_migrated_database_is_at_head(self, db_url: str) -> None:
        store = Store(db_url)
        try:
            assert store._at_head()
        finally:
            store.close()

    def test_a_database_at_another_revision_is_not_at_head(self, db_url: str) -> None:
        """A version table naming another revision is not at head: ``migrate`` then asks
        Alembic."""
        store = Store(db_url)
        head = store.current_revision()
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'behind'"))
        try:
            assert not store._at_head()
        finally:
            with store.engine.begin() as conn:
                conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
            store.close()

    def test_an_empty_database_is_not_at_head(self, tmp_path: Path) -> None:
        store = Store(f"sqlite:///{tmp_path / 'empty.db'}", migrate=False)
        try:
            assert not store._at_head()
        finally:
            store.close()
