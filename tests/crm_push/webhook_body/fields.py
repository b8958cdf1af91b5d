"""The webhook body's fields as one flat, readable list: `data.call.attribution.source` ->
`string or null`, read from the models' JSON schema, the shape receivers see."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def field_types(model: type[BaseModel]) -> list[tuple[str, str]]:
    """(dotted path, type) for every field, nested objects and their fields in body order."""
    schema = model.model_json_schema()
    return list(_walk(schema, schema.get("$defs", {}), prefix=""))


def _walk(node: dict[str, Any], defs: dict[str, Any], *, prefix: str) -> Any:
    required = set(node.get("required", ()))
    for name, prop in node["properties"].items():
        path = prefix + name
        nullable, inner = _unwrap_null(_resolve(prop, defs), defs)
        text = _type_text(inner)
        if nullable:
            text += " or null"
        if name not in required:
            text += ", may be absent"
        yield path, text
        if inner.get("type") == "object":
            yield from _walk(inner, defs, prefix=path + ".")


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return defs[ref.removeprefix("#/$defs/")] if ref else node


def _unwrap_null(node: dict[str, Any], defs: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    options = node.get("anyOf")
    if not options:
        return False, node
    kept = [_resolve(o, defs) for o in options if o.get("type") != "null"]
    if len(kept) != 1:
        raise AssertionError(f"a field of several types is not describable: {node}")
    return len(kept) < len(options), kept[0]


def _type_text(node: dict[str, Any]) -> str:
    if "enum" in node:
        return f"{node['type']}, one of " + ", ".join(map(str, node["enum"]))
    if "format" in node:
        return f"{node['type']} ({node['format']})"
    if "type" not in node:
        raise AssertionError(f"a field without a JSON type: {node}")
    return str(node["type"])
