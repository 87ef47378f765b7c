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


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update(a.name for a in node.names)
    return found


def test_domain_modules_do_not_import_the_interfaces_or_the_hub() -> None:
    """Arrows only point down: domain modules never reach up to hub, cli or web."""
    domain = ["customers", "ticket_types", "data", "audit", "store", "schema", "models"]
    for name in domain:
        assert not _imports(SRC / f"{name}.py") & {"hub", "cli", "web"}, name


def test_domain_modules_never_print_exit_or_read_the_environment() -> None:
    banned = {"print", "exit", "getenv", "environ"}
    for name in ["customers", "ticket_types", "data", "audit", "store"]:
        tree = ast.parse((SRC / f"{name}.py").read_text())
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert not used & banned, (name, used & banned)


def test_every_error_survives_pickling() -> None:
    """Errors cross process boundaries (multiprocessing pools, workers) intact."""
    import pickle

    from customer_flow import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
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
