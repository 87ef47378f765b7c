"""The mail templates: Jinja2, plain text and HTML, shipped in ``mail/templates/`` and
overridable by an admin with files of the same name in ``mail_template_dir``.

Templates run sandboxed (an admin's file may not reach Python's internals), the HTML one with
autoescape on. An override that fails to render falls back to the shipped template, so a
typo never stops a reply: ``check`` says what is wrong with the overrides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

__all__ = ["NAMES", "check", "render"]

#: The templates there are: a reply to the customer and an agent's notification, each as text
#: and as HTML (sent together, multipart/alternative).
NAMES = ("reply.txt", "reply.html", "notify.txt", "notify.html")


def _environment(override: Path | None, *, shipped_only: bool = False) -> SandboxedEnvironment:
    loaders: list[Any] = []
    if override is not None and not shipped_only:
        loaders.append(FileSystemLoader(str(override)))
    loaders.append(PackageLoader("customer_flow.mail", "templates"))
    return SandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        autoescape=lambda name: bool(name and name.endswith(".html")),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def render(name: str, context: dict[str, Any], override: Path | None) -> str:
    """Render template ``name`` (an admin's override first, else the shipped one)."""
    try:
        return _environment(override).get_template(name).render(**context)
    except TemplateError:
        return _environment(None, shipped_only=True).get_template(name).render(**context)


def check(override: Path | None, contexts: dict[str, dict[str, Any]]) -> list[str]:
    """What is wrong with the overrides, one line each (empty when they all render with the
    sample ``contexts`` by template name)."""
    problems = []
    for name in NAMES:
        if override is None or not (override / name).is_file():
            continue
        try:
            _environment(override).get_template(name).render(**contexts[name])
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            problems.append(f"{override / name}{f':{line}' if line else ''}: {exc.message}")
    return problems
