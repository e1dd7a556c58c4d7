"""Block Kit for alerts. Every piece of user or detector text passes through `escape`.

Slack's mrkdwn treats `<...>` as control sequences (`<!channel>` pings a channel, `<@U123>` a user,
`<https://x|label>` disguises a link), so `&`, `<` and `>` in any text we did not write ourselves are
replaced by their HTML entities, exactly as Slack's formatting docs require. Links are built only from
http(s) URLs, with the characters that could break out of `<url|label>` percent-encoded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from monitor.kernel.states import AlertState

SEVERITY_EMOJI = {
    "low": ":large_blue_circle:",
    "medium": ":large_yellow_circle:",
    "high": ":large_orange_circle:",
    "critical": ":red_circle:",
}
STATE_LINE = {
    AlertState.ACKNOWLEDGED: ":white_check_mark: Acknowledged",
    AlertState.TICKETED: ":ticket: Ticket created",
    AlertState.MUTED: ":no_bell: Muted",
    AlertState.NOT_RELEVANT: ":no_entry_sign: Marked not relevant",
    AlertState.WRONG_SENTIMENT: ":arrows_counterclockwise: Sentiment corrected",
    AlertState.DONE: ":heavy_check_mark: Done",
}
CLOSED_STATES = (AlertState.NOT_RELEVANT, AlertState.DONE)
MUTE_1H, NOT_RELEVANT, DONE = "mute_1h", "not_relevant", "done"  # Slack button action ids, not states
WRONG_PREFIX = "wrong_sentiment:"  # + the corrected label
TEXT_LIMIT = 3000  # section text limit


def escape(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str | None, label: str) -> str:
    """`<url|label>` for http(s) URLs only; anything else is shown as escaped text, never as a link."""
    if not url or urlsplit(url).scheme not in ("http", "https"):
        return escape(label)
    safe_url = quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")  # encodes <, >, |, spaces, quotes
    return f"<{safe_url.replace('&', '&amp;')}|{escape(label)}>"


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text[:TEXT_LIMIT]}


def _plain(text: str, limit: int = 75) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit], "emoji": True}


def _num(value: object, digits: int) -> str:
    try:
        return f"{float(value):.{digits}f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return escape(value)


def _pct(value: object) -> str:
    try:
        return f"{float(value):.0%}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return escape(value)


def _is_high(value: object) -> bool:
    return isinstance(value, int | float) and value >= 0.5


def counts_line(view: dict[str, Any]) -> str:
    """Counts against the baseline, or the predicted reach: whichever the detector measured."""
    ev = view.get("evidence") or {}
    if "count" in ev and "baseline" in ev:
        return f"*{escape(ev['count'])}* mentions vs baseline *{_num(ev['baseline'], 1)}*"
    if "negative" in ev and "expected_negative" in ev:
        total = escape(ev.get("total", "?"))
        return f"*{escape(ev['negative'])}* negative of {total} vs expected *{_num(ev['expected_negative'], 1)}*"
    if "predicted_final" in ev:
        now = escape(ev.get("observed_reposts", "?"))
        return f"*{now}* reposts now, predicted reach *{_num(ev['predicted_final'], 0)}*"
    if "needs_help_probability" in ev:  # a single complaint: how sure, and how far it can reach
        parts = [f"needs help *{_pct(ev['needs_help_probability'])}*"]
        if "p_negative" in ev:
            parts.append(f"negative {_pct(ev['p_negative'])}")
        if ev.get("author_followers") is not None:
            parts.append(f"author reach *{escape(ev['author_followers'])}* followers")
        aspects = [escape(a) for a, p in (ev.get("aspects") or {}).items() if _is_high(p)]
        if aspects:
            parts.append("aspects: " + ", ".join(aspects))
        return " · ".join(parts)
    if ev.get("source") and ev.get("health"):
        reason = escape(ev.get("reason") or "no reason given")
        return f"source *{escape(ev['source'])}* is {escape(ev['health'])}: {reason}"
    return f"*{view.get('mention_count', 0)}* mention(s)"


def fallback_text(view: dict[str, Any]) -> str:
    """The notification text (also shown where blocks cannot be): escaped like everything else."""
    return f"[{view.get('severity', '?')}] {escape(view.get('brand', ''))}: {escape(view.get('headline', ''))}"


INCIDENT_KINDS = ("negative_spike", "volume_spike", "virality")


def incident_line(view: dict[str, Any]) -> str:
    """What a lead needs about an incident: how many customers, which languages and aspects, their tickets."""
    parts = [f":busts_in_silhouette: *{escape(view.get('customers', 0))}* customer(s) affected"]
    if view.get("languages"):
        parts.append("languages " + escape("/".join(view["languages"])))
    if view.get("aspects"):
        parts.append("top aspects " + escape(", ".join(view["aspects"][:3])))
    tickets = view.get("case_tickets") or []
    if tickets:
        parts.append("tickets " + ", ".join(link(t.get("url"), f"#{t.get('id')}") for t in tickets))
    return " · ".join(parts)


def alert_blocks(view: dict[str, Any]) -> list[dict[str, Any]]:
    alert_id = str(view["alert_id"])
    emoji = SEVERITY_EMOJI.get(view.get("severity", ""), ":white_circle:")
    meta = " · ".join(
        escape(part)
        for part in (
            view.get("brand"),
            "/".join(view.get("languages") or []) or "?",
            "/".join(view.get("sources") or []) or view.get("kind"),
        )
        if part
    )
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "block_id": f"head:{alert_id}",
            "text": _mrkdwn(f"{emoji} *{escape(view.get('headline', ''))}*"),
        },
        {"type": "context", "elements": [_mrkdwn(f"{meta} · {escape(view.get('kind', ''))}")]},
        {"type": "section", "text": _mrkdwn(counts_line(view))},
    ]
    if view.get("kind") in INCIDENT_KINDS:
        blocks.append({"type": "section", "text": _mrkdwn(incident_line(view))})
    top = view.get("top_post")
    if top:
        quote_text = "\n".join("> " + escape(line) for line in (top.get("text") or "").splitlines() or [""])
        blocks.append({"type": "section", "text": _mrkdwn(f"{quote_text}\n{link(top.get('url'), 'Open post')}")})
    status = _status_line(view)
    if status:
        blocks.append({"type": "context", "elements": [_mrkdwn(status)]})
    if view.get("state") not in CLOSED_STATES:
        blocks.append(_actions(alert_id, view))
    return blocks


def _status_line(view: dict[str, Any]) -> str:
    parts = []
    if view.get("state") in STATE_LINE:
        parts.append(STATE_LINE[view["state"]])
    if view.get("assignee"):
        parts.append(f":bust_in_silhouette: Assigned to <@{escape(view['assignee'])}>")
    ticket = view.get("ticket")
    if ticket:
        parts.append(":ticket: " + link(ticket.get("url"), f"Ticket #{ticket.get('id')}"))
    if view.get("muted_until"):
        until = datetime.fromisoformat(view["muted_until"])
        parts.append(f":no_bell: Muted until {until:%H:%M} UTC")
    return "  ".join(dict.fromkeys(parts))


def _actions(alert_id: str, view: dict[str, Any]) -> dict[str, Any]:
    assign: dict[str, Any] = {"type": "users_select", "action_id": "assign", "placeholder": _plain("Assign")}
    if view.get("assignee"):
        assign["initial_user"] = view["assignee"]
    ticket_button: dict[str, Any] = {
        "type": "button",
        "action_id": "create_ticket",
        "text": _plain("Create ticket"),
        "value": alert_id,
        "style": "primary",
    }
    options = [
        ("Mute 1 h", MUTE_1H),
        ("Not relevant", NOT_RELEVANT),
        ("Wrong sentiment: positive", WRONG_PREFIX + "positive"),
        ("Wrong sentiment: neutral", WRONG_PREFIX + "neutral"),
        ("Wrong sentiment: negative", WRONG_PREFIX + "negative"),
    ]
    return {
        "type": "actions",
        "block_id": f"alert:{alert_id}",
        "elements": [
            ticket_button,
            assign,
            {"type": "button", "action_id": "acknowledge", "text": _plain("Acknowledge"), "value": alert_id},
            # Done closes the customers' cases (a separate button: Slack's overflow menu holds 5 options)
            {"type": "button", "action_id": DONE, "text": _plain("Done"), "value": alert_id},
            {
                "type": "overflow",
                "action_id": "more",
                "options": [{"text": _plain(label), "value": value} for label, value in options],
            },
        ],
    }


def mention_lines(mentions: list[dict[str, Any]], limit: int = 10) -> str:
    lines = [
        f"• {escape(m.get('source') or '?')}: {escape(m.get('text') or '')} {link(m.get('url'), 'link')}"
        for m in mentions[:limit]
    ]
    if len(mentions) > limit:
        lines.append(f"… and {len(mentions) - limit} more")
    return "\n".join(lines)


def reply_blocks(text: str, mentions: list[dict[str, Any]], trusted: bool = False) -> list[dict[str, Any]]:
    """A thread follow-up. `trusted` text is ours (e.g. a ticket link we built) and keeps its markup."""
    body = text if trusted else escape(text)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": _mrkdwn(body)}]
    if mentions:
        blocks.append({"type": "section", "text": _mrkdwn(mention_lines(mentions))})
    return blocks


def digest_blocks(title: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    lines = [
        f"{SEVERITY_EMOJI.get(i.get('severity', ''), '')} {escape(i.get('brand', ''))}: "
        f"{escape(i.get('headline', ''))} {link(i.get('url'), 'post')}"
        for i in items[:40]
    ]
    if len(items) > 40:
        lines.append(f"… and {len(items) - 40} more")
    return [
        {"type": "section", "text": _mrkdwn(f"*{escape(title)}* ({len(items)} alert(s))")},
        {"type": "section", "text": _mrkdwn("\n".join(lines) or "nothing")},
    ]
