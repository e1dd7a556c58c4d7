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


def _object(node: dict[str, Any], nsid: str) -> dict[str, Any]:
    props = {k: _convert(v, nsid) for k, v in node.get("properties", {}).items()}
    for name in set(node.get("nullable", [])):
        props[name] = {"anyOf": [props[name], {"type": "null"}]}
    return {"type": "object", "properties": props, "required": node.get("required", [])}


def _array(node: dict[str, Any], nsid: str) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "array", "items": _convert(node["items"], nsid)}
    if "maxLength" in node:
        out["maxItems"] = node["maxLength"]
    return out


_FORMATS = {
    "datetime": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$",
    "at-uri": r"^at://",
}


def _string(node: dict[str, Any], nsid: str) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "string"}
    out.update({key: node[key] for key in ("enum", "maxLength") if key in node})
    if node.get("format") in _FORMATS:
        out["pattern"] = _FORMATS[node["format"]]
    return out


def _union(node: dict[str, Any], nsid: str) -> dict[str, Any]:
    keys = [_ref_key(r, nsid) for r in node["refs"]]
    options: list[dict[str, Any]] = [{"$ref": f"#/$defs/{k}"} for k in keys]
    type_names = [k.removesuffix("#main") for k in keys]
    if not node.get("closed"):  # open union: unknown $type values are allowed
        options.append({"not": {"properties": {"$type": {"enum": type_names}}, "required": ["$type"]}})
    return {"type": "object", "anyOf": options}


_CONVERTERS = {
    "object": _object,
    "array": _array,
    "string": _string,
    "union": _union,
    "integer": lambda node, nsid: {"type": "integer"},
    "boolean": lambda node, nsid: {"type": "boolean"},
    "ref": lambda node, nsid: {"$ref": f"#/$defs/{_ref_key(node['ref'], nsid)}"},
    "record": lambda node, nsid: _convert(node["record"], nsid),
    "query": lambda node, nsid: _convert(node["output"]["schema"], nsid),
    "procedure": lambda node, nsid: _convert(node["output"]["schema"], nsid),
}


def _convert(node: dict[str, Any], nsid: str) -> dict[str, Any]:
    """One lexicon node as JSON Schema; unknown, blob, bytes, cid-link, token and params accept anything."""
    convert = _CONVERTERS.get(str(node.get("type")))
    return convert(node, nsid) if convert else {}


def lexicon_schema(root: Path, main: str) -> dict[str, Any]:
    """A JSON Schema validating the definition `main` ("nsid#name") against every lexicon under root."""
    defs: dict[str, Any] = {}
    for path in root.rglob("*.json"):
        doc = json.loads(path.read_text())
        for name, node in doc.get("defs", {}).items():
            defs[f"{doc['id']}#{name}"] = _convert(node, doc["id"])
    return {"$defs": defs, "$ref": f"#/$defs/{main}"}
