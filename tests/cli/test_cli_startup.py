"""A light command loads no heavy library: Polars, Splink, FastAPI and matplotlib (and what
only they pull in) are imported by the commands that use them, never by ``--help``,
``customers show``, ``customers list`` or ``tickets list``.

Each command runs as a whole process, the way a user types it, through a small runner that
calls the console script's ``main`` and then writes the names in ``sys.modules`` to a file.
The speed itself is measured in ``benchmarks/bench_startup.py``; this test keeps the cause away.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from customer_flow.customers.models import CustomerCreate
from customer_flow.hub import Hub, bundled_example
from customer_flow.tickets.models import TicketCreate

#: What no light command may import, and why each one is heavy.
HEAVY = {
    "polars": "the import pipeline and the duplicates model",
    "splink": "finding duplicates",
    "duckdb": "Splink's engine and the import's duplicate check",
    "fastapi": "the web app",
    "starlette": "the web app",
    "matplotlib": "report charts",
    "numpy": "Polars and the import",
    "pandas": "Splink",
    "alembic": "migrations: an up-to-date database needs none",
    "jsonschema": "checking a ticket_types.json",
    "argon2": "passwords",
}

RUNNER = """
import atexit, json, sys

def _dump(path: str) -> None:
    with open(path, "w") as f:
        json.dump(sorted(sys.modules), f)

atexit.register(_dump, sys.argv[1])
sys.argv = ["customer-flow", *sys.argv[2:]]
from customer_flow.cli.main import main
main()
"""


def loaded_modules(tmp_path: Path, *args: str) -> set[str]:
    """Run ``customer-flow ARGS`` in a new interpreter; the top-level packages it imported."""
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert 0 == done.returncode, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    return {name.split(".")[0] for name in json.loads(out.read_text())}


@pytest.fixture
def filled(db_url: str) -> str:
    """A database with a customer and a ticket, so that each command has rows to show."""
    with Hub.open(db_url, actor="tester") as hub:
        hub.load_ticket_types(bundled_example("ticket_types.json"))
        customer = hub.add_customer(CustomerCreate(name="Ana Lima", email="ana@lima.pt"))
        hub.open_ticket(TicketCreate(customer_id=customer.id, type="complaint", subject="Late"))
    return db_url


LIGHT = [
    pytest.param(["--help"], id="help"),
    pytest.param(["customers", "show", "1"], id="customers-show"),
    pytest.param(["customers", "list"], id="customers-list"),
    pytest.param(["tickets", "list"], id="tickets-list"),
    pytest.param(["customers", "list", "--json"], id="customers-list-json"),
]


class TestLightCommands:
    @pytest.mark.parametrize("args", LIGHT)
    def test_import_no_heavy_library(self, filled: str, tmp_path: Path, args: list[str]) -> None:
        """The command imports none of the heavy libraries (the message says who needs each)."""
        loaded = loaded_modules(tmp_path, "--db", filled, *args)
        found = {name: why for name, why in HEAVY.items() if name in loaded}
        assert {} == found, f"customer-flow {' '.join(args)} imported {found}"

    def test_help_imports_no_database_or_model_library(self, tmp_path: Path) -> None:
        """``--help`` lists the commands: it opens no database and parses nothing, so it
        imports neither SQLAlchemy nor Pydantic (each command imports the models it parses)."""
        loaded = loaded_modules(tmp_path, "--help")
        assert set() == loaded & {"sqlalchemy", "pydantic", "pydantic_settings", *HEAVY}


class TestTheCheckCanFail:
    def test_a_heavy_command_is_seen_loading_polars(self, db_url: str, tmp_path: Path) -> None:
        """``validate`` reads a file with Polars: the runner sees it, so the check above would
        see a light command doing the same."""
        loaded = loaded_modules(
            tmp_path, "--db", db_url, "validate", str(bundled_example("messy_customers.csv"))
        )
        assert {"polars", "numpy"} <= loaded
