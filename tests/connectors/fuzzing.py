"""Mutated platform answers, served over loopback, through the real path fetch -> sync_source -> store.

`FuzzPlatform` wraps a conformance platform (which answers from recorded, documented payloads) and
mutates ONE data answer of a poll as a `Plan` says: hostile values inside one post, type confusion,
wrong page shapes, truncated or flipped bytes, stacked or lying content codings, absurd rate-limit
headers, control characters in Link, non-ASCII header values, deep JSON, UTF-16 feeds with a DTD...
A plan is (mutation, seed, which data call): the same plan always gives the same answer, so a failing
case printed by hypothesis or by `bench/fuzz.py` can be replayed exactly.

`run_case` polls a fresh source twice (the second poll reads the cursor the mutated answer left) and
reports what happened; both `test_fuzz.py` (a small seeded sample, SQLite and PostgreSQL) and
`bench/fuzz.py` (>= 10,000 cases per connector) use it.
"""

from __future__ import annotations

import copy
import functools
import gzip
import importlib
import json
import random
import re
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from fake_server import Call, FakeServer, Platform, Reply
from sqlalchemy import select, update

from monitor.kernel.store.catalog import ensure_source
from monitor.kernel.store.engine import Database
from monitor.kernel.store.pseudonym import Pseudonymiser
from monitor.kernel.store.tables import Mention
from monitor.matching import compile_query
from monitor.repoll import RepollStats, repoll_due
from monitor.sync import SourceRuntime, SyncResult, sync_source

CONNECTORS = ["mastodon", "bluesky", "hackernews", "rss", "appstore", "reddit", "youtube", "x", "trustpilot"]
KEY = Pseudonymiser("f" * 32)

HOSTILE_STRINGS: list[str] = [
    "",
    " ",
    "\ud800",  # lone surrogate: not encodable as UTF-8
    "ok\udfffok",
    "a\x00b",  # PostgreSQL refuses NUL in text
    "\x00",
    "\x1b[31m\r\n\x7f",
    "\u202e\u200b\ufeff",
    "x" * 100_000,
    "🙂" * 5_000,
    "<p>&amp;<b>Telia</b>&#0;&#xD800;</p>",
    "[t](javascript:alert(1)) **Telia**",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "Fri, 31 Dec 9999 23:59:59 -0100",
    "NaN",
    "1e400",
    "-1",
    "http://169.254.169.254/latest/meta-data/",
    "at://did:plc:x/app.bsky.feed.post/../../..",
    "%00%2e%2e/",
]
HOSTILE_NUMBERS: list[Any] = [
    -1,
    0,
    2**63,
    10**30,
    -(10**30),
    1.5,
    1e308,
    float("inf"),
    float("-inf"),
    float("nan"),
    True,
]
HOSTILE_VALUES: list[Any] = [
    *HOSTILE_STRINGS,
    *HOSTILE_NUMBERS,
    None,
    [],
    {},
    [None],
    ["x", 1, {}],
    {"$type": "app.bsky.embed.record", "record": {"uri": 5}},
    {"nested": {"nested": {"nested": [1, [2, [3]]]}}},
]
HOSTILE_DATES: list[Any] = [
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59+00:00",
    "2026-13-45T99:99:99Z",
    "Fri, 31 Dec 9999 23:59:59 -0100",
    "Mon, 01 Jan 0001 00:00:00 +0100",
    "",
    "yesterday",
    "\x00",
    1e20,
    -1e20,
    2**70,
    float("nan"),
    float("inf"),
    -62135596800,
    253402300800,
    {"date": "2026-11-20"},
    [2026, 11, 20],
    None,
]
HOSTILE_HEADER_VALUES = [
    "inf",
    "-inf",
    "1e400",
    "1e12",
    "nan",
    "-5",
    "",
    "abc",
    "9" * 400,
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Mon, 01 Jan 0001 00:00:00 GMT",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+01:00",
    "2026-11-20T12:05:00.000Z",
    "Ã¤Ã¶",  # UTF-8 bytes sent as Latin-1: non-ASCII header octets
]
DATE_KEY = re.compile(r"(date|time|created|published|indexed|updated|_at$|At$)", re.I)
COUNT_KEY = re.compile(r"(count|score|likes|rating|followers|num_|points|metrics|total)", re.I)
TEXT_KEY = re.compile(r"(text|content|body|title|selftext|label|name|handle|author|acct|lang|url|uri|link)", re.I)
TOKEN_KEY = re.compile(r"^(cursor|next_token|nextPageToken|after|max_id|nbPages|page|next)$", re.I)


@dataclass(frozen=True)
class Plan:
    mutation: str
    seed: int
    call: int = 0  # which data request of the poll gets the mutated answer (0 = the first)

    def __str__(self) -> str:
        return f"{self.mutation}/seed={self.seed}/call={self.call}"


@dataclass
class Applied:
    """What a mutation did: `local_to` is the original item when only that one post was changed."""

    mutation: str
    local_to: str | None = None
    status: int = 200  # the mutated answer's status (404/410 is how some platforms say "deleted")


@dataclass
class Outcome:
    plan: Plan | None
    results: list[SyncResult] = field(default_factory=list)
    escaped: BaseException | None = None
    stored: set[str] = field(default_factory=set)
    applied: Applied | None = None

    def excluded(self, baseline: set[str]) -> set[str]:
        """Baseline ids the mutation may legitimately have removed (the changed post itself)."""
        if self.applied is None or self.applied.local_to is None:
            return set(baseline)
        return {i for i in baseline if i in self.applied.local_to}


# ---------------------------------------------------------------------------------------- body helpers


def _as_bytes(reply: Reply) -> bytes:
    return reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body, ensure_ascii=True).encode()


def _json_of(reply: Reply) -> Any:
    if not isinstance(reply.body, bytes):
        return copy.deepcopy(reply.body)
    try:
        return json.loads(reply.body)
    except ValueError:
        return None


def _dump(value: Any, rng: random.Random) -> bytes:
    """JSON as platforms send it; lone surrogates only survive as `\\ud800` escapes (ensure_ascii)."""
    try:
        return json.dumps(value, ensure_ascii=rng.random() < 0.5).encode()
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True).encode()


def _items(value: Any) -> list[Any] | None:
    """The longest list of objects in a body: the page's posts/statuses/children/items."""
    best: list[Any] | None = None

    def walk(node: Any, depth: int) -> None:
        nonlocal best
        if depth > 8:
            return
        if isinstance(node, list):
            if node and all(isinstance(x, dict) for x in node) and (best is None or len(node) > len(best)):
                best = node
            for x in node:
                walk(x, depth + 1)
        elif isinstance(node, dict):
            for x in node.values():
                walk(x, depth + 1)

    walk(value, 0)
    return best


def _paths(node: Any, prefix: tuple[Any, ...] = (), depth: int = 0) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside `node` (keys and indexes)."""
    if depth > 10:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key), depth + 1)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index), depth + 1)


def _set(node: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


def _delete(node: Any, path: tuple[Any, ...]) -> None:
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]


def _deep(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"d": value}
    return value


def _other_type(value: Any, rng: random.Random) -> Any:
    choices: list[Any] = [
        "string",
        12345,
        -7.25,
        True,
        None,
        ["a", "b"],
        [{"x": 1}],
        {"k": "v"},
        {"text": {"text": "x"}},
    ]
    return rng.choice([c for c in choices if type(c) is not type(value)])


# ---------------------------------------------------------------------------------------- JSON mutations
# Each takes (body, rng) and returns (new body, original item if the change is confined to one post).

JsonMutation = Callable[[Any, random.Random], tuple[Any, Any]]


def _in_one_item(pick: Callable[[tuple[Any, ...], Any], bool], values: list[Any]) -> JsonMutation:
    def mutate(body: Any, rng: random.Random) -> tuple[Any, Any]:
        items = _items(body)
        if not items:
            return rng.choice(values), None
        item = rng.choice(items)
        original = json.dumps(item, ensure_ascii=False)
        candidates = [p for p in _paths(item) if pick(p, item)] or list(_paths(item))
        for path in rng.sample(candidates, min(len(candidates), rng.randint(1, 3))):
            try:
                _set(item, path, copy.deepcopy(rng.choice(values)))
            except (KeyError, IndexError, TypeError):
                continue  # an earlier change in this item replaced the path's parent
        return body, original

    return mutate


def _key_matches(pattern: re.Pattern[str]) -> Callable[[tuple[Any, ...], Any], bool]:
    return lambda path, item: isinstance(path[-1], str) and bool(pattern.search(path[-1]))


def _type_confusion(body: Any, rng: random.Random) -> tuple[Any, Any]:
    items = _items(body)
    if not items:
        return _other_type(body, rng), None
    item = rng.choice(items)
    original = json.dumps(item, ensure_ascii=False)
    paths = list(_paths(item))
    for path in rng.sample(paths, min(len(paths), rng.randint(1, 4))):
        try:
            node = item
            for step in path:
                node = node[step]
            _set(item, path, _other_type(node, rng))
        except (KeyError, IndexError, TypeError):
            continue
    return body, original


def _delete_keys(body: Any, rng: random.Random) -> tuple[Any, Any]:
    items = _items(body)
    if not items:
        return body, None
    item = rng.choice(items)
    original = json.dumps(item, ensure_ascii=False)
    paths = [p for p in _paths(item) if isinstance(p[-1], str)]
    for path in rng.sample(paths, min(len(paths), rng.randint(1, 4))):
        try:
            _delete(item, path)
        except (KeyError, IndexError, TypeError):
            continue
    return body, original


def _item_not_object(body: Any, rng: random.Random) -> tuple[Any, Any]:
    items = _items(body)
    if not items:
        return body, None
    index = rng.randrange(len(items))
    original = json.dumps(items[index], ensure_ascii=False)
    items[index] = rng.choice([None, "post", 42, [], [items[index]], True])
    return body, original


def _deep_in_item(body: Any, rng: random.Random) -> tuple[Any, Any]:
    items = _items(body)
    if not items:
        return _deep(rng.randint(50, 400)), None
    item = rng.choice(items)
    original = json.dumps(item, ensure_ascii=False)
    paths = list(_paths(item))
    _set(item, rng.choice(paths), _deep(rng.randint(30, 400)))
    return body, original


def _duplicate_items(body: Any, rng: random.Random) -> tuple[Any, Any]:
    items = _items(body)
    if items:
        items.extend(copy.deepcopy(rng.sample(items, min(len(items), 2))))
        rng.shuffle(items)
    return body, None


def _all_items_broken(body: Any, rng: random.Random) -> tuple[Any, Any]:
    items = _items(body)
    if items:
        items[:] = [rng.choice([None, "x", 1, [], {"unexpected": True}]) for _ in items]
    return body, None


def _wrong_shape(body: Any, rng: random.Random) -> tuple[Any, Any]:
    shapes: list[Any] = [[], {}, None, "ok", 42, [1, 2], {"error": "x"}, {"data": "x"}, {"items": {}}]
    if isinstance(body, dict) and body:
        key = rng.choice(list(body))
        shapes += [{**body, key: "x"}, {**body, key: {}}, {**body, key: None}, {key: body[key]}]
    if items := _items(body):
        shapes.append(items)
    return copy.deepcopy(rng.choice(shapes)), None


def _paging_token(body: Any, rng: random.Random) -> tuple[Any, Any]:
    paths = [p for p in _paths(body) if isinstance(p[-1], str) and TOKEN_KEY.match(p[-1])]
    values: list[Any] = [
        {"a": 1},
        [1, 2],
        10**40,
        -1,
        1.5,
        True,
        "\x01\x7f\r\n",
        "a" * 20_000,
        "../../admin",
        "\ud800",
        "http://169.254.169.254/",
    ]
    if not paths:
        if isinstance(body, dict):
            body[rng.choice(["cursor", "nextPageToken", "next"])] = rng.choice(values)
        return body, None
    for path in paths:
        _set(body, path, copy.deepcopy(rng.choice(values)))
    return body, None


JSON_MUTATIONS: dict[str, JsonMutation] = {
    "item_hostile_value": _in_one_item(lambda p, i: True, HOSTILE_VALUES),
    "item_dates": _in_one_item(_key_matches(DATE_KEY), HOSTILE_DATES),
    "item_counts": _in_one_item(_key_matches(COUNT_KEY), [*HOSTILE_NUMBERS, {"count": 1}, "12", None, []]),
    "item_texts": _in_one_item(_key_matches(TEXT_KEY), [*HOSTILE_STRINGS, {"text": "x"}, ["x"], 5]),
    "item_type_confusion": _type_confusion,
    "item_deleted_keys": _delete_keys,
    "item_not_object": _item_not_object,
    "item_deep_json": _deep_in_item,
    "duplicate_items": _duplicate_items,
    "all_items_broken": _all_items_broken,
    "wrong_shape": _wrong_shape,
    "paging_token": _paging_token,
}

# ---------------------------------------------------------------------------------------- XML mutations

XML_ITEM_VALUES = [
    "Fri, 31 Dec 9999 23:59:59 -0100",
    "Mon, 01 Jan 0001 00:00:00 +0100",
    "9999-12-31T23:59:59-01:00",
    "0001-01-01T00:00:00+01:00",
    "Sun, 99 Foo 2026 99:99:99 +9999",
    "",
    "x" * 200_000,
    "<div>" * 3_000 + "Telia",
    "&lt;script&gt;Telia&lt;/script&gt;",
    "javascript:alert(1)",
    "http://169.254.169.254/",
    "\u202e🙂" * 200,
]


def _xml_items(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter() if e.tag in ("item", "{http://www.w3.org/2005/Atom}entry")]


def _xml_item_mutation(body: bytes, rng: random.Random) -> tuple[bytes, str | None]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return body, None
    items = _xml_items(root)
    if not items:
        return body, None
    item = rng.choice(items)
    original = ET.tostring(item, encoding="unicode")
    children = list(item)
    for child in rng.sample(children, min(len(children), rng.randint(1, 3))):
        if rng.random() < 0.25:
            item.remove(child)
        else:
            child.text = rng.choice(XML_ITEM_VALUES)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True), original


def _xml_dtd(body: bytes, rng: random.Random) -> bytes:
    text = body.decode("utf-8", "replace")
    text = re.sub(r"^<\?xml[^>]*\?>", "", text.lstrip("\ufeff")).lstrip()
    bomb = '<!DOCTYPE lolz [<!ENTITY lol "lollollollollollollol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>'
    text = text.replace("<title>", "<title>&lol2;", 1)
    encoding = rng.choice(["utf-16", "utf-16-le", "utf-16-be", "utf-8"])
    declared = {"utf-16": "UTF-16", "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE", "utf-8": "UTF-8"}[encoding]
    document = f'<?xml version="1.0" encoding="{declared}"?>{bomb}{text}'
    return document.encode(encoding)


def _utf16(body: bytes, rng: random.Random) -> bytes:
    text = body.decode("utf-8", "replace").lstrip("\ufeff")
    text = re.sub(r"^<\?xml[^>]*\?>", '<?xml version="1.0" encoding="UTF-16"?>', text)
    return text.encode(rng.choice(["utf-16", "utf-16-le", "utf-16-be"]))


# ---------------------------------------------------------------------------------------- byte/header mutations

ByteMutation = Callable[[Reply, random.Random], Reply]


def _truncate(reply: Reply, rng: random.Random) -> Reply:
    body = _as_bytes(reply)
    return replace(reply, body=body[: rng.randrange(max(1, len(body)))])


def _flip_bytes(reply: Reply, rng: random.Random) -> Reply:
    body = bytearray(_as_bytes(reply))
    for _ in range(rng.randint(1, 8)):
        if body:
            body[rng.randrange(len(body))] = rng.randrange(256)
    return replace(reply, body=bytes(body))


def _insert_nul(reply: Reply, rng: random.Random) -> Reply:
    body = bytearray(_as_bytes(reply))
    for _ in range(rng.randint(1, 4)):
        body.insert(rng.randrange(len(body) + 1), 0)
    return replace(reply, body=bytes(body))


def _gzip_ok(reply: Reply, rng: random.Random) -> Reply:
    return replace(
        reply, body=gzip.compress(_as_bytes(reply)), headers={**reply.headers, "Content-Encoding": "gzip"}
    )


@functools.cache
def compression_bomb(layers: int) -> bytes:
    """60 MB of one byte, compressed `layers` times: built once per process, so that the fuzzer's own
    bytes never show up in the memory a case is measured to use (`bench/fuzz.py` builds them first)."""
    body = b" " * 60_000_000
    for _ in range(layers):
        body = gzip.compress(body, 9)
    return body


def _stacked_gzip(reply: Reply, rng: random.Random) -> Reply:
    body = gzip.compress(gzip.compress(_as_bytes(reply))) if rng.random() < 0.5 else compression_bomb(2)
    encoding = rng.choice(["gzip, gzip", "gzip,gzip", "deflate, gzip"])
    return replace(reply, body=body, headers={**reply.headers, "Content-Encoding": encoding})


def _gzip_bomb(reply: Reply, rng: random.Random) -> Reply:
    return replace(reply, body=compression_bomb(1), headers={**reply.headers, "Content-Encoding": "gzip"})


def _lying_encoding(reply: Reply, rng: random.Random) -> Reply:
    body = _as_bytes(reply)
    encoding, payload = rng.choice(
        [
            ("gzip", body),
            ("br", body),
            ("zstd", body),
            ("deflate", gzip.compress(body)),
            ("gzip", gzip.compress(body)[:-8]),
            ("identity, gzip", gzip.compress(body)),
            ("gzip", zlib.compress(body)),
            ("x-gzip", gzip.compress(body)),
        ]
    )
    return replace(reply, body=payload, headers={**reply.headers, "Content-Encoding": encoding})


def _deep_body(reply: Reply, rng: random.Random) -> Reply:
    depth = rng.choice([900, 5_000, 100_000])
    return replace(
        reply, body=b"[" * depth + b"]" * depth if rng.random() < 0.5 else b'{"a":' * depth + b"1" + b"}" * depth
    )


def _huge_number(reply: Reply, rng: random.Random) -> Reply:
    body = _as_bytes(reply)
    digits = b"9" * rng.choice([400, 5_000, 50_000])
    body, _ = re.subn(rb":\s*(\d+)", b":" + digits, body, count=rng.randint(1, 3))
    return replace(reply, body=body)


def _not_utf8(reply: Reply, rng: random.Random) -> Reply:
    body = _as_bytes(reply)
    text = body.decode("utf-8", "replace")
    return replace(reply, body=text.encode(rng.choice(["latin-1", "cp1252", "utf-16", "utf-32"]), "replace"))


def _retry_after(reply: Reply, rng: random.Random) -> Reply:
    name = rng.choice(["Retry-After", "X-Ratelimit-Reset", "x-rate-limit-reset"])
    return Reply(rng.choice([429, 503, 429]), {"error": "slow down"}, {name: rng.choice(HOSTILE_HEADER_VALUES)})


def _quota_headers(reply: Reply, rng: random.Random) -> Reply:
    """A good answer that says the quota is spent, with an absurd reset (Reddit reads these on success)."""
    return replace(
        reply,
        body=_as_bytes(reply),
        headers={
            **reply.headers,
            "X-Ratelimit-Remaining": rng.choice(["0", "0.0", "-1", "nan", "abc", "inf"]),
            "X-Ratelimit-Reset": rng.choice(HOSTILE_HEADER_VALUES),
            "X-Ratelimit-Used": rng.choice(HOSTILE_HEADER_VALUES),
        },
    )


def _link_header(reply: Reply, rng: random.Random) -> Reply:
    target = rng.choice(
        [
            "http://127.0.0.1:1/\x01\x7f",
            "http://example.org/\x00next",
            "http://169.254.169.254/latest",
            "javascript:alert(1)",
            "http://[::1]/next",
            "https://other.example/api?max_id=1",
            "http://" + "a" * 5_000 + "/",
            "http://h/%ZZ",
            "",
            "Ã¤Ã¶",
        ]
    )
    value = rng.choice([f'<{target}>; rel="next"', f"<{target}; rel=next", f'<{target}>; rel="next", <x', target])
    return replace(reply, body=_as_bytes(reply), headers={**reply.headers, "Link": value})


def _non_ascii_headers(reply: Reply, rng: random.Random) -> Reply:
    odd = rng.choice(["Ã¤Ã¶ÃŸ", "naïve", "\x85\xa0", "ÿþ"])
    name = rng.choice(["ETag", "Last-Modified", "Content-Type", "Link", "X-Ratelimit-Remaining", "Location"])
    return replace(reply, body=_as_bytes(reply), headers={**reply.headers, name: odd})


def _status(reply: Reply, rng: random.Random) -> Reply:
    status = rng.choice([201, 204, 206, 301, 302, 304, 307, 400, 401, 403, 404, 405, 410, 418, 451, 500, 599, 999])
    body = rng.choice([_as_bytes(reply), b"", b"<html>error</html>", b'{"error": "\\u0000nul \\ud800"}'])
    headers = {"Location": "http://169.254.169.254/"} if 300 <= status < 400 else {}
    return Reply(status, body, headers)


def _content_type_lie(reply: Reply, rng: random.Random) -> Reply:
    body = rng.choice([_as_bytes(reply), b"<html><body>502 Bad Gateway</body></html>", b"", b"\xff\xfe\x00"])
    return Reply(200, body, {"Content-Type": rng.choice(["text/html", "application/json", "image/png"])})


def _oversize(reply: Reply, rng: random.Random) -> Reply:
    return replace(reply, body=b'{"x": "' + b"a" * 3_000_000 + b'"}', chunked=rng.random() < 0.5)


def _chunked(reply: Reply, rng: random.Random) -> Reply:
    return replace(reply, body=_as_bytes(reply), chunked=True)


def _slow(reply: Reply, rng: random.Random) -> Reply:
    return Reply(**rng.choice([{"drip": True}, {"drip_headers": True}, {"hang": True}]))


BYTE_MUTATIONS: dict[str, ByteMutation] = {
    "truncated_body": _truncate,
    "flipped_bytes": _flip_bytes,
    "nul_bytes": _insert_nul,
    "gzip": _gzip_ok,
    "stacked_gzip": _stacked_gzip,
    "gzip_bomb": _gzip_bomb,
    "lying_content_encoding": _lying_encoding,
    "deep_json_body": _deep_body,
    "huge_json_numbers": _huge_number,
    "not_utf8": _not_utf8,
    "absurd_retry_after": _retry_after,
    "quota_headers": _quota_headers,
    "link_header": _link_header,
    "non_ascii_headers": _non_ascii_headers,
    "odd_status": _status,
    "content_type_lie": _content_type_lie,
    "oversize": _oversize,
    "chunked": _chunked,
    "slow_answer": _slow,
}
XML_MUTATIONS = {"xml_item": None, "xml_dtd_any_encoding": None, "xml_utf16": None}
SLOW = frozenset({"slow_answer"})  # each costs the request deadline: bench only, not the CI sample
ALL_MUTATIONS = sorted({*JSON_MUTATIONS, *BYTE_MUTATIONS, *XML_MUTATIONS})


def mutations_for(connector: str, *, slow: bool = True) -> list[str]:
    """The mutations that apply to this connector's answers (XML ones for feeds, JSON ones otherwise)."""
    own = XML_MUTATIONS if connector == "rss" else JSON_MUTATIONS
    names = sorted({*own, *BYTE_MUTATIONS})
    return [n for n in names if slow or n not in SLOW]


def mutate(reply: Reply, plan: Plan) -> tuple[Reply, Applied]:
    rng = random.Random(f"{plan.mutation}:{plan.seed}")
    applied = Applied(plan.mutation)
    if plan.mutation in BYTE_MUTATIONS:
        mutated = BYTE_MUTATIONS[plan.mutation](reply, rng)
        applied.status = mutated.status
        return mutated, applied
    body = _as_bytes(reply)
    if plan.mutation == "xml_item":
        new, applied.local_to = _xml_item_mutation(body, rng)
        return replace(reply, body=new), applied
    if plan.mutation == "xml_dtd_any_encoding":
        return replace(reply, body=_xml_dtd(body, rng)), applied
    if plan.mutation == "xml_utf16":
        return replace(reply, body=_utf16(body, rng)), applied
    value = _json_of(reply)
    new_value, local = JSON_MUTATIONS[plan.mutation](value, rng)
    applied.local_to = local
    return replace(reply, body=_dump(new_value, rng)), applied


class FuzzPlatform(Platform):
    """A conformance platform whose `plan.call`-th successful data answer is mutated."""

    def __init__(self, inner: Platform, plan: Plan | None) -> None:
        super().__init__()
        self.inner, self.plan = inner, plan
        self.source = inner.source
        self.data_answers = 0
        self.applied: Applied | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "base_url" and "inner" in self.__dict__:
            self.inner.base_url = value  # FakeServer sets it after construction

    def is_data(self, call: Call) -> bool:
        return self.inner.is_data(call)

    def handle(self, call: Call) -> Reply:
        reply = self.inner.handle(call)
        if not self.inner.is_data(call) or reply.status != 200:
            return reply
        index, self.data_answers = self.data_answers, self.data_answers + 1
        if self.plan is None or index != self.plan.call:
            return reply
        reply, self.applied = mutate(reply, self.plan)
        return reply


# ---------------------------------------------------------------------------------------- running a case


def load_case(connector: str) -> dict[str, Any]:
    case: dict[str, Any] = importlib.import_module(f"platform_{connector}").case()
    return case


def settings_for(case: dict[str, Any], url: str, **overrides: Any) -> dict[str, Any]:
    extra = case["settings"](url) if callable(case["settings"]) else dict(case["settings"])
    return {
        "base_url": url,
        "allow_private_network": True,
        "initial_lookback_hours": 48,
        "overlap_s": 0,
        "timeout_s": 1,
        "deadline_s": 1.5,
        "max_attempts": 2,
        "max_response_bytes": 2_000_000,
        **extra,
        **overrides,
    }


def _runtime(
    case: dict[str, Any], url: str, db: Database, source_name: str, clock: Callable[[], datetime]
) -> SourceRuntime:
    """A fresh source of the case's connector against the fake server at `url`, as the daemon builds it."""
    connector = case["connector"](settings_for(case, url), sleep=lambda s: None, rng=lambda: 0.5, clock=clock)
    query = case["query"]
    with db.transaction() as session:
        ref = ensure_source(session, query.brand, source_name, case["name"])
    return SourceRuntime(ref, connector, query, compile_query(query.brand), timedelta(minutes=5))


def run_case(case: dict[str, Any], plan: Plan | None, db: Database, source_name: str) -> Outcome:
    """Two polls of a fresh source against a server whose answer `plan` mutates; never raises."""
    outcome = Outcome(plan)
    platform = FuzzPlatform(case["platform"](), plan)
    now = case["now"]
    with FakeServer(platform) as server:
        clock = [now]
        runtime = _runtime(case, server.url, db, source_name, lambda: clock[0])
        connector, ref = runtime.connector, runtime.ref
        try:
            for at in (now, now + timedelta(days=2)):
                clock[0] = at
                outcome.results.append(sync_source(db, runtime, KEY, at))
        except Exception as exc:  # what the fuzzing counts: nothing may leave sync_source
            outcome.escaped = exc
        finally:
            connector.close()
        outcome.applied = platform.applied
    with db.transaction() as session:
        outcome.stored = set(
            session.scalars(select(Mention.external_id).where(Mention.source_id == ref.source_id))
        )
    return outcome


@dataclass
class RepollOutcome:
    """A re-poll of every stored mention against one mutated lookup answer."""

    plan: Plan | None
    stats: RepollStats | None = None
    escaped: BaseException | None = None
    erased: set[str] = field(default_factory=set)  # external ids erased as deleted by the source
    applied: Applied | None = None

    def wrongly_erased(self, baseline: set[str]) -> set[str]:
        """Erased beyond what the unmutated answer erases. A mutation inside one post may make that post
        look missing (and missing means deleted), so only its neighbours count."""
        extra = self.erased - baseline
        if self.applied is not None and self.applied.status in (404, 410):
            return set()  # the documented "deleted" answer of a per-post lookup (Mastodon, Hacker News, ...)
        if self.applied is not None and self.applied.local_to is not None:
            extra = {i for i in extra if i not in self.applied.local_to}
        return extra


def run_repoll_case(case: dict[str, Any], plan: Plan | None, db: Database, source_name: str) -> RepollOutcome:
    """A clean poll of a fresh source, then `repoll_due` over all it stored with the `plan.call`-th lookup
    answer mutated; never raises. Deleted posts are erased, so this is where a misread answer loses data."""
    outcome = RepollOutcome(plan)
    ids: dict[int, str] = {}  # stored mention id -> external id (erasure rewrites the external id)
    platform = FuzzPlatform(case["platform"](), None)
    now = case["now"]
    with FakeServer(platform) as server:
        runtime = _runtime(case, server.url, db, source_name, lambda: now)
        connector, ref = runtime.connector, runtime.ref
        try:
            sync_source(db, runtime, KEY, now)
            with db.transaction() as session:
                ids = dict(
                    session.execute(
                        select(Mention.id, Mention.external_id).where(Mention.source_id == ref.source_id)
                    ).all()
                )
                session.execute(
                    update(Mention).where(Mention.source_id == ref.source_id).values(next_repoll_at=now)
                )
            platform.plan, platform.data_answers = plan, 0
            outcome.stats = repoll_due(db, ref.source_id, connector, now)
        except Exception as exc:  # what the fuzzing counts: nothing may leave repoll_due
            outcome.escaped = exc
        finally:
            connector.close()
        outcome.applied = platform.applied
    with db.transaction() as session:
        gone = session.scalars(
            select(Mention.id).where(Mention.id.in_(list(ids)), Mention.anonymised_at.is_not(None))
        )
        outcome.erased = {ids[i] for i in gone}
    return outcome
