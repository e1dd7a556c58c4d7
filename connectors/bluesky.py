"""Bluesky: `app.bsky.feed.searchPosts` through an app-password session on the account's PDS.

Unauthenticated search on the public AppView is unreliable (it has answered 403 for long periods), so
the connector logs in with `com.atproto.server.createSession` (an app password, never the main one) and
sends every call to the PDS, which proxies `app.bsky.*` reads to the AppView. Results are paged by the
opaque `cursor`; `since`/`until` bound the walk server-side. Re-poll uses `app.bsky.feed.getPosts`
(at most 25 URIs per call); a URI missing from the answer is a deleted (or taken down) post.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field, SecretStr

from connectors.http.base import HttpConnector, HttpSettings, iso, parse_time
from connectors.http.client import Decoder, Request, Response
from connectors.http.paging import BodyFieldPaginator
from monitor.kernel.types import BrandQuery, EngagementUpdate, FetchedMention, SourceError

GET_POSTS_MAX = 25


class BlueskySettings(HttpSettings):
    base_url: str = Field("https://bsky.social", description="the account's PDS (proxies app.bsky reads)")
    identifier: str = Field(description="handle or DID of the account the app password belongs to")
    app_password: SecretStr
    language: str | None = Field(None, description="only posts in this language (searchPosts `lang`)")
    page_size: int = Field(25, gt=0, le=100)


def web_url(uri: str, handle: str | None) -> str | None:
    """`at://did/app.bsky.feed.post/rkey` -> `https://bsky.app/profile/<handle>/post/<rkey>`."""
    parts = uri.removeprefix("at://").split("/")
    if len(parts) != 3 or parts[1] != "app.bsky.feed.post":
        return None
    return f"https://bsky.app/profile/{handle or parts[0]}/post/{parts[2]}"


def quoted_uri(embed: Any) -> str | None:
    """The AT URI a post quotes: `embed.record.uri` (app.bsky.embed.record), or one level deeper,
    `embed.record.record.uri`, when the quote comes with media (app.bsky.embed.recordWithMedia)."""
    inner = embed.get("record") if isinstance(embed, dict) else None
    if isinstance(inner, dict) and isinstance(inner.get("record"), dict):
        inner = inner["record"]
    uri = inner.get("uri") if isinstance(inner, dict) else None
    return uri if isinstance(uri, str) and uri.startswith("at://") else None


class BlueskyConnector(HttpConnector):
    name = "bluesky"
    description = "Bluesky post search (app-password session on the PDS)"
    Settings = BlueskySettings
    paginator = BodyFieldPaginator(("cursor",))
    limits = (
        "search only (no firehose): posts the AppView's search index returns; deep paging may stop early "
        "(`hitsTotal` is approximate)",
        "posts from accounts that opted out of logged-out visibility may be hidden",
    )
    settings: BlueskySettings

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._access_jwt: str | None = None

    def authenticate(self) -> dict[str, str]:
        if self._access_jwt is None:
            request = Request(
                url=self.url("/xrpc/com.atproto.server.createSession"),
                method="POST",
                json_body={
                    "identifier": self.settings.identifier,
                    "password": self.settings.app_password.get_secret_value(),
                },
            )
            response, body = self.client.send(request)
            if not isinstance(body, dict) or not body.get("accessJwt"):
                raise self.client.error("auth", f"createSession answered without a session ({response.status})")
            self._access_jwt = str(body["accessJwt"])
            self.scrubber.add(self._access_jwt)
            self.scrubber.add(str(body.get("refreshJwt") or ""))
        return {"Authorization": f"Bearer {self._access_jwt}"}

    def inspect_failure(self, response: Response) -> SourceError | None:
        """403 on a read while the session is valid is the AppView refusing search (it has done so for
        whole periods and IP ranges), not bad credentials: back off and retry instead of disabling."""
        if response.status == 403 and "createSession" not in response.url and self._access_jwt is not None:
            return SourceError(
                "transient", f"bluesky: the AppView refused the request (403) although logged in: {response.url}"
            )
        return None

    def send(self, request: Request, *, decode: Decoder | None = Response.json) -> tuple[Response, Any]:
        """Access tokens live ~2 hours; on `ExpiredToken` (HTTP 400) log in again once."""
        try:
            return super().send(request, decode=decode)
        except SourceError as exc:
            if "ExpiredToken" not in str(exc) or self._access_jwt is None:
                raise
            self._access_jwt = None
            return super().send(request, decode=decode)

    def build_request(
        self, query: BrandQuery, stream: str, lower: datetime, upper: datetime, token: Any
    ) -> Request:
        return Request(
            url=self.url("/xrpc/app.bsky.feed.searchPosts"),
            params={
                "q": stream.partition(":")[2],
                "sort": "latest",
                "since": iso(lower),
                "until": iso(upper + timedelta(milliseconds=1)),  # `until` is exclusive
                "limit": self.settings.page_size,
                "lang": self.settings.language,
                "cursor": token,
            },
        )

    def parse_page(self, body: Any, response: Response, stream: str) -> list[FetchedMention]:
        posts = body.get("posts") if isinstance(body, dict) else None
        if not isinstance(posts, list):
            raise self.client.error("malformed", f"searchPosts answer has no `posts` list ({response.url})")
        return self.mentions_from(posts, self.to_mention)

    def to_mention(self, post: dict[str, Any]) -> FetchedMention | None:
        record = post.get("record") or {}
        author = post.get("author") or {}
        uri = post.get("uri")
        created = parse_time(record.get("createdAt")) or parse_time(post.get("indexedAt"))
        if not uri or created is None:
            return None
        links: list[str] = []
        for facet in record.get("facets") or []:
            for feature in facet.get("features") or []:
                if feature.get("$type") == "app.bsky.richtext.facet#link" and feature.get("uri"):
                    links.append(feature["uri"])
        embed = record.get("embed") or {}
        media = embed.get("media") or {}  # recordWithMedia: images or an external card next to the quote
        external = embed.get("external") or media.get("external") or {}
        if external.get("uri"):
            links.append(external["uri"])
        langs = record.get("langs") or []
        parent = ((record.get("reply") or {}).get("parent") or {}).get("uri")
        quoted = quoted_uri(embed)
        text = str(record.get("text") or "").strip() or self._stand_in_text(post, embed, media)
        if not text:
            self._item_notes.append(f"post {uri} has no text, alt text or quoted text: skipped")
            return None
        return FetchedMention(
            external_id=uri,
            text=text,
            created_at=created,
            url=web_url(uri, author.get("handle")),
            author=author.get("handle") or author.get("did"),
            language=langs[0] if langs else None,
            likes=post.get("likeCount"),
            reposts=post.get("repostCount"),
            replies=post.get("replyCount"),
            quotes=post.get("quoteCount"),
            parent_external_id=parent or quoted,
            links=tuple(dict.fromkeys(links)),
            raw={"cid": post.get("cid"), "did": author.get("did")},
        )

    def _stand_in_text(self, post: dict[str, Any], embed: dict[str, Any], media: dict[str, Any]) -> str:
        """Text for a post whose own text is empty (an image post): its images' alt texts, else the text of
        the post it quotes (from the hydrated view, `post.embed`), else ""."""
        images = embed.get("images") or media.get("images") or []
        alts = [str(i.get("alt")).strip() for i in images if isinstance(i, dict) and i.get("alt")]
        if any(alts):
            return "\n".join(a for a in alts if a)
        view = post.get("embed") or {}
        quoted = view.get("record") or {}
        if isinstance(quoted.get("record"), dict):  # recordWithMedia#view: the quote sits one level deeper
            quoted = quoted["record"]
        value = quoted.get("value") or {}
        return str(value.get("text") or "").strip() if isinstance(value, dict) else ""

    def repoll(self, external_ids: Sequence[str]) -> Iterator[EngagementUpdate]:
        for start in range(0, len(external_ids), GET_POSTS_MAX):
            batch = list(external_ids[start : start + GET_POSTS_MAX])
            _, body = self.send(Request(url=self.url("/xrpc/app.bsky.feed.getPosts"), params={"uris": batch}))
            # getPosts silently omits deleted and taken-down posts
            posts = self.looked_up(body, "posts")
            yield from self.lookup_updates(batch, posts, lambda p: p.get("uri"), self._engagement)

    def _engagement(self, post: dict[str, Any], now: datetime) -> EngagementUpdate:
        """One post's counts from a lookup answer (`lookup_updates` skips a post it cannot read)."""
        return EngagementUpdate(
            external_id=post["uri"],
            observed_at=now,
            likes=post.get("likeCount"),
            reposts=post.get("repostCount"),
            replies=post.get("replyCount"),
            quotes=post.get("quoteCount"),
        )
