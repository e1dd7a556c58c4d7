"""Recorded payloads must have the shape the platform's published spec documents.

Mastodon: OpenAPI 3.1 components (JSON Schema 2020-12); Bluesky: lexicons, checked by a small
lexicon-to-JSON-Schema translation of the constructs the post views use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from lexicon_schema import lexicon_schema
from referencing import Registry
from referencing.jsonschema import DRAFT202012

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _openapi_validator(spec_path: Path, schema_name: str) -> Draft202012Validator:
    spec = json.loads(spec_path.read_text())
    registry = Registry().with_resource("spec", DRAFT202012.create_resource(spec))
    schema = {"$ref": f"spec#/components/schemas/{schema_name}"}
    return Draft202012Validator(schema, registry=registry)


def _errors(validator: Draft202012Validator, payload: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(payload)]


def test_mastodon_payloads_match_openapi(shared_specs: Path) -> None:
    spec = shared_specs / "mastodon" / "schema.json"
    search = _openapi_validator(spec, "Search")
    status = _openapi_validator(spec, "Status")
    assert _errors(search, json.loads((FIXTURES / "mastodon" / "search_telia.json").read_text())) == []
    assert _errors(status, json.loads((FIXTURES / "mastodon" / "status.json").read_text())) == []
    for item in json.loads((FIXTURES / "mastodon" / "tag_telia.json").read_text()):
        assert _errors(status, item) == []


def test_validator_rejects_a_wrong_shape(shared_specs: Path) -> None:
    status = _openapi_validator(shared_specs / "mastodon" / "schema.json", "Status")
    broken = json.loads((FIXTURES / "mastodon" / "status.json").read_text())
    del broken["account"]
    broken["favourites_count"] = "many"
    assert len(_errors(status, broken)) >= 2


def test_bluesky_payloads_match_lexicons(shared_specs: Path) -> None:
    lexicons = shared_specs / "bluesky" / "lexicons"
    search = Draft202012Validator(lexicon_schema(lexicons, "app.bsky.feed.searchPosts#main"))
    post_record = Draft202012Validator(lexicon_schema(lexicons, "app.bsky.feed.post#main"))
    session = Draft202012Validator(lexicon_schema(lexicons, "com.atproto.server.createSession#main"))
    for name in ("search_telia.json", "search_embeds.json"):
        payload = json.loads((FIXTURES / "bluesky" / name).read_text())
        assert _errors(search, payload) == [], name
        for post in payload["posts"]:  # postView.record is `unknown`: check it as a feed.post record
            assert _errors(post_record, post["record"]) == [], name
    payload = json.loads((FIXTURES / "bluesky" / "search_telia.json").read_text())
    assert _errors(session, json.loads((FIXTURES / "bluesky" / "create_session.json").read_text())) == []
    broken = json.loads(json.dumps(payload["posts"][0]))
    del broken["author"]["handle"]
    broken["likeCount"] = "31"
    assert len(_errors(search, {"posts": [broken]})) >= 2


def _discovery_schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """Google discovery schemas as strict JSON Schema: bare `$ref` names resolved, no unknown fields."""

    def convert(node: Any) -> Any:
        if isinstance(node, dict):
            skip = ("id", "description", "annotations", "format", "properties")
            out = {k: convert(v) for k, v in node.items() if k not in skip}
            if "properties" in node:  # property names are data, not schema keywords
                out["properties"] = {name: convert(v) for name, v in node["properties"].items()}
            if "$ref" in out:
                return {"$ref": f"#/$defs/{out['$ref']}"}
            if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
                out["additionalProperties"] = False
            if out.get("type") == "string" and node.get("format") in ("int64", "uint64"):
                out["pattern"] = r"^-?\d+$"
            return out
        if isinstance(node, list):
            return [convert(v) for v in node]
        return node

    return {"$defs": {k: convert(v) for k, v in doc["schemas"].items()}, "$ref": f"#/$defs/{name}"}


def test_youtube_payloads_match_discovery(shared_specs: Path) -> None:
    doc = json.loads((shared_specs / "youtube" / "youtube.v3.json").read_text())
    validator = Draft202012Validator(_discovery_schema(doc, "CommentThreadListResponse"))
    payload = json.loads((FIXTURES / "youtube" / "comment_threads.json").read_text())
    assert _errors(validator, payload) == []
    payload["items"][0]["snippet"]["topLevelComment"]["snippet"]["likes"] = 3  # misspelt field
    assert _errors(validator, payload)


def test_x_payloads_match_openapi(shared_specs: Path) -> None:
    validator = _openapi_validator(shared_specs / "x" / "latest-openapi.json", "Get2TweetsSearchRecentResponse")
    payload = json.loads((FIXTURES / "x" / "search_recent_telia.json").read_text())
    assert _errors(validator, payload) == []
    payload["data"][0]["public_metrics"]["like_count"] = "88"
    payload["data"][1]["created_at"] = 1763640012
    assert len(_errors(validator, payload)) >= 2
