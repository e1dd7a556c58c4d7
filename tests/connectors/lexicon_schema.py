"""Translate AT Protocol lexicons into one JSON Schema, so recorded Bluesky payloads can be validated
with jsonschema like the OpenAPI-described platforms. Covers the lexicon constructs the feed/actor
lexicons use: object, array, string (+ datetime format, maxLength, enum), integer, boolean, ref,
union (open unless `closed`), unknown, blob/bytes/cid-link, token, record and query/procedure output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _ref_key(ref: str, nsid: str) -> str:
    if ref.startswith("#"):
        return f"{nsid}#{ref[1:]}"
    return ref if "#" in ref else f"{ref}#main"


def _convert(node: dict[str, Any], nsid: str) -> dict[str, Any]:
    kind = node.get("type")
    if kind == "object":
        props = {k: _convert(v, nsid) for k, v in node.get("properties", {}).items()}
        nullable = set(node.get("nullable", []))
        for name in nullable:
            props[name] = {"anyOf": [props[name], {"type": "null"}]}
        return {"type": "object", "properties": props, "required": node.get("required", [])}
    if kind == "array":
        out: dict[str, Any] = {"type": "array", "items": _convert(node["items"], nsid)}
        if "maxLength" in node:
            out["maxItems"] = node["maxLength"]
        return out
    if kind == "string":
        out = {"type": "string"}
        if "enum" in node:
            out["enum"] = node["enum"]
        if "maxLength" in node:
            out["maxLength"] = node["maxLength"]
        if node.get("format") == "datetime":
            out["pattern"] = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
        if node.get("format") == "at-uri":
            out["pattern"] = r"^at://"
        return out
    if kind == "integer":
        return {"type": "integer"}
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "ref":
        return {"$ref": f"#/$defs/{_ref_key(node['ref'], nsid)}"}
    if kind == "union":
        keys = [_ref_key(r, nsid) for r in node["refs"]]
        options: list[dict[str, Any]] = [{"$ref": f"#/$defs/{k}"} for k in keys]
        type_names = [k.removesuffix("#main") for k in keys]
        if not node.get("closed"):  # open union: unknown $type values are allowed
            options.append({"not": {"properties": {"$type": {"enum": type_names}}, "required": ["$type"]}})
        return {"type": "object", "anyOf": options}
    if kind == "record":
        return _convert(node["record"], nsid)
    if kind in ("query", "procedure"):
        return _convert(node["output"]["schema"], nsid)
    return {}  # unknown, blob, bytes, cid-link, token, params


def lexicon_schema(root: Path, main: str) -> dict[str, Any]:
    """A JSON Schema validating the definition `main` ("nsid#name") against every lexicon under root."""
    defs: dict[str, Any] = {}
    for path in root.rglob("*.json"):
        doc = json.loads(path.read_text())
        for name, node in doc.get("defs", {}).items():
            defs[f"{doc['id']}#{name}"] = _convert(node, doc["id"])
    return {"$defs": defs, "$ref": f"#/$defs/{main}"}
