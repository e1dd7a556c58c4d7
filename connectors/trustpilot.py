"""Trustpilot: public reviews of one or more business units (API key).

`GET /v1/business-units/{id}/reviews?orderBy=createdat.desc&page=&perPage=` newest first; a
`links` entry with `rel: next-page` says more pages exist. The key goes in the `apikey` header.
Re-poll: `GET /v1/reviews/{id}` (404 once the review is removed); engagement is `numberOfLikes`.
Trustpilot's terms require an agreement (API access is granted per application) and forbid using
reviews outside the purposes agreed; see docs/sources.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import Field, SecretStr

from connectors.http.base import HttpConnector, HttpSettings, parse_time
from connectors.http.client import Request, Response
from monitor.kernel.types import BrandQuery, EngagementUpdate, FetchedMention


class TrustpilotSettings(HttpSettings):
    base_url: str = "https://api.trustpilot.com"
    api_key: SecretStr
    business_unit_ids: list[str] = Field(min_length=1, description="Trustpilot business unit ids (not domains)")
    page_size: int = Field(100, gt=0, le=100)


class _NextPageLink:
    def next_token(self, response: Response, body: Any, mentions: Sequence[FetchedMention], token: Any) -> Any:
        links = body.get("links") if isinstance(body, dict) else None
        has_next = any(isinstance(link, dict) and link.get("rel") == "next-page" for link in links or [])
        return int(token or 1) + 1 if has_next and mentions else None


class TrustpilotConnector(HttpConnector):
    name = "trustpilot"
    description = "Trustpilot business-unit reviews (API key)"
    Settings = TrustpilotSettings
    paginator = _NextPageLink()
    limits = (
        "only the configured business units' public reviews; invitation-only or private data needs OAuth",
        "reviews removed by Trustpilot disappear from the API and are erased here on re-poll",
    )
    settings: TrustpilotSettings

    def authenticate(self) -> dict[str, str]:
        return {"apikey": self.settings.api_key.get_secret_value()}

    def streams(self, query: BrandQuery) -> Sequence[str]:
        return [f"unit:{unit}" for unit in self.settings.business_unit_ids]

    def build_request(
        self, query: BrandQuery, stream: str, lower: datetime, upper: datetime, token: Any
    ) -> Request:
        unit = quote(stream.partition(":")[2], safe="")
        return Request(
            url=self.url(f"/v1/business-units/{unit}/reviews"),
            params={"orderBy": "createdat.desc", "page": int(token or 1), "perPage": self.settings.page_size},
        )

    def parse_page(self, body: Any, response: Response, stream: str) -> list[FetchedMention]:
        reviews = body.get("reviews") if isinstance(body, dict) else None
        if not isinstance(reviews, list):
            raise self.client.error("malformed", f"no `reviews` list in the answer ({response.url})")
        return self.mentions_from(reviews, self.to_mention)

    def to_mention(self, review: dict[str, Any]) -> FetchedMention | None:
        created = parse_time(review.get("createdAt"))
        if not review.get("id") or created is None:
            return None
        title, text = review.get("title") or "", review.get("text") or ""
        consumer = review.get("consumer") or {}
        unit = review.get("businessUnit") or {}
        return FetchedMention(
            external_id=str(review["id"]),
            text=f"{title}\n\n{text}".strip(),
            created_at=created,
            url=f"https://www.trustpilot.com/reviews/{review['id']}",
            author=consumer.get("displayName"),
            language=review.get("language"),
            likes=review.get("numberOfLikes"),
            rating=review.get("stars"),
            title=title or None,
            raw={"business_unit": unit.get("identifyingName"), "verified": review.get("isVerified")},
        )

    def repoll(self, external_ids: Sequence[str]) -> Iterator[EngagementUpdate]:
        for review_id in external_ids:
            response, body = self.send(Request(url=self.url(f"/v1/reviews/{quote(review_id, safe='')}")))
            now = self.clock()
            if response.status in (404, 410):
                yield EngagementUpdate(external_id=review_id, observed_at=now, deleted=True)
                continue
            if not isinstance(body, dict):
                raise self.client.error("malformed", f"unexpected review payload for {review_id}")
            yield EngagementUpdate(external_id=review_id, observed_at=now, likes=body.get("numberOfLikes"))
