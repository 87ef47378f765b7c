"""The package's public face: what it exports, and the layers it keeps."""

from __future__ import annotations

import ast
from pathlib import Path

import customer_flow

SRC = Path(customer_flow.__file__).parent


def test_public_names_are_listed_once_and_importable() -> None:
    assert sorted(customer_flow.__all__) == customer_flow.__all__
    for name in customer_flow.__all__:
        assert hasattr(customer_flow, name), name


def test_the_import_contracts_hold() -> None:
    """The layers and the capabilities' named dependencies (pyproject.toml, import-linter)."""
    import subprocess
    import sys

    lint = Path(sys.executable).parent / "lint-imports"
    root = SRC.parent.parent
    done = subprocess.run([str(lint)], cwd=root, capture_output=True, text=True, timeout=120)
    assert 0 == done.returncode, done.stdout[-3000:]


#: The capability packages: they hold the rules, so they never print, exit or read the
#: environment (the doors do that, and hand them what they need).
CAPABILITIES = [
    "core",
    "store",
    "customers",
    "data",
    "tickets",
    "duplicates",
    "reports",
    "users",
    "mail",
    "jobs",
]


def test_capabilities_never_print_exit_or_read_the_environment() -> None:
    banned = {"print", "exit", "getenv", "environ"}
    for package in CAPABILITIES:
        for path in sorted((SRC / package).rglob("*.py")):
            if "migrations" in path.parts or path.name == "config.py":
                continue  # migrations run under Alembic; config.py is where settings are read
            tree = ast.parse(path.read_text())
            used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
            assert not used & banned, (str(path.relative_to(SRC)), used & banned)


def test_every_error_survives_pickling() -> None:
    """Errors cross process boundaries (multiprocessing pools, workers) intact."""
    import pickle

    from customer_flow.core import errors

    classes = [getattr(errors, n) for n in errors.__all__ if isinstance(getattr(errors, n), type)]
    assert len(classes) >= 12  # the tree, not the helpers (``cut``) listed beside it
    for cls in classes:
        try:
            error = cls("boom", code="c1", field="f1")
        except TypeError:  # a subclass with its own required arguments
            error = cls("boom", candidates=[])
        back = pickle.loads(pickle.dumps(error))
        assert (type(error), "boom", error.code, error.field, error.__dict__) == (
            type(back),
            str(back),
            back.code,
            back.field,
            back.__dict__,
        )
