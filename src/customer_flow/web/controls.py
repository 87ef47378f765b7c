"""Refusing control characters at the edge (issue 15): one check for every route.

``refuse_control_characters`` is a dependency of the whole app. It reads the path and query
parameters, a JSON body's strings and keys, and a form's text fields (an uploaded file's bytes
are data: the importer cleans them), and refuses the request with 422 ``control_character``
when one holds a NUL or another C0 control other than tab, line feed and carriage return (see
``core.text``). It runs before the route, so nothing of the request reaches the database: on
PostgreSQL a NUL was a 500 on 17 operations, one of them the anonymous ``POST /login``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from customer_flow.core.errors import ValidationError
from customer_flow.core.text import CONTROL, describe, find_control

__all__ = ["NO_CONTROLS", "document_controls", "refuse_control_characters"]

# A control character in JSON text is always escaped: \u0000-\u001f, \u007f, or \b and \f.
# A body without one of these (the usual case) is not parsed a second time.
_JSON_ESCAPE = re.compile(rb"\\(?:u00[01][0-9a-fA-F]|u007[fF]|[bf])")
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def _refuse(where: str, char: str) -> ValidationError:
    return ValidationError(describe(where, char), code="control_character", field=where[:100])


async def refuse_control_characters(request: Request) -> None:
    """Raise ``ValidationError`` (422, ``control_character``) for a control character in any
    text the request carries."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and (found := CONTROL.search(value)):
            raise _refuse(name, found.group())
    for name, value in request.query_params.multi_items():
        if found := CONTROL.search(name + value):
            raise _refuse(name, found.group())
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        body = await request.body()
        if not _JSON_ESCAPE.search(body):
            return
        try:
            data = json.loads(body)
        except ValueError:
            return  # not JSON: the route's own parsing reports it
        hit = find_control(data)
        if hit is not None:
            raise _refuse(*hit)
    elif kind in _FORMS:
        form = await request.form()
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                continue
            if found := CONTROL.search(name + value):
                raise _refuse(name, found.group())


# -- the OpenAPI document ----------------------------------------------------------------------

#: What the check allows, as a JSON Schema pattern: so the spec says it, and a client (or
#: schemathesis) generating schema-valid strings generates accepted ones.
NO_CONTROLS = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"
_REF = "#/components/schemas/"


def _form_extras(node: Any, schemas: dict[str, Any]) -> None:
    """A form's fields beyond those it names are text, and checked like the rest: say so,
    instead of JSON Schema's default (any value at all)."""
    if isinstance(node, dict) and isinstance(ref := node.get("$ref"), str):
        node = schemas.get(ref.removeprefix(_REF))
    if not isinstance(node, dict) or node.get("type") != "object":
        return
    if node.get("additionalProperties", True) is True:
        node["additionalProperties"] = {"type": "string", "pattern": NO_CONTROLS}


def document_controls(spec: dict[str, Any]) -> dict[str, Any]:
    """Add ``NO_CONTROLS`` to every free-text string a request takes in ``spec`` (parameters,
    request bodies and the schemas they use, object keys included); responses are left as
    they are. Changes ``spec`` in place and returns it."""
    schemas = spec.get("components", {}).get("schemas", {})
    todo: list[Any] = []
    for ops in spec.get("paths", {}).values():
        for op in ops.values():
            if not isinstance(op, dict):
                continue
            todo += [p.get("schema") for p in op.get("parameters", [])]
            content = op.get("requestBody", {}).get("content", {})
            todo += [c.get("schema") for c in content.values()]
            for kind in _FORMS:
                if kind in content:
                    _form_extras(content[kind].get("schema"), schemas)
    seen: set[str] = set()
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo += node
            continue
        if not isinstance(node, dict):
            continue
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF) and ref not in seen:
            seen.add(ref)
            todo.append(schemas.get(ref.removeprefix(_REF)))
        # A file part (``contentMediaType``) is data, not text: its bytes may be anything.
        text_only = {"pattern", "enum", "const", "format", "contentMediaType"}
        if node.get("type") == "string" and not text_only & set(node):
            node["pattern"] = NO_CONTROLS
        if node.get("type") == "object" and node.get("additionalProperties", True) is not False:
            node.setdefault("propertyNames", {}).setdefault("pattern", NO_CONTROLS)
        todo += [v for k, v in node.items() if k != "propertyNames"]
    return spec
