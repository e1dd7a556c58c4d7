"""`repmon eval grouping`: does the story stage group retellings of one incident, and only those?

The labelled set is generated when the evaluation runs, from real negative posts of different people in
`../shared/data/sentiment/train` (never copied into the repository):
- every real post is its own incident ("original"); pairs of different incidents must never share a story;
- each original gets one generated retelling of a structural type: `repost` (`RT @x: …`, cut like a classic
  retweet), `quote` (a comment added around the text), `truncation` (a link preview's cut text), `same_link`
  (another text sharing the original's link, with tracking parameters), `copy_paste` (a campaign copy:
  other handle, case, punctuation, a hashtag, one word dropped), `reply_link` (a short reply that points
  at the original through `parent_external_id`);
- the hand-written same-incident paraphrases in `grouping_paraphrases.json` (32 groups, sv/da/no/en).

Each half of the set (split by a hash of the incident) is run through the real `assign_stories` on its own
SQLite database, in time order, in batches, with the real scorer's vectors. `--calibrate` picks the
meaning thresholds on the calibration half only (see `calibrate`) and writes them for the scorer's model
version; the figures printed for the evaluation half are out of sample.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

import alerts.stories as stories_module
from alerts.config import StoriesConfig
from alerts.stories import (
    CALIBRATION_FILE,
    Semantic,
    assign_stories,
    load_calibration,
    semantic_thresholds,
    vector_version,
    words,
)

PARAPHRASES = Path(__file__).with_name("grouping_paraphrases.json")
EVAL_VERSION = "grouping-eval"  # the model version the evaluation's scores carry (see run_stories)
SOURCES = {
    "en": ("en_airline.jsonl",),
    "da": ("da_angrytweets.jsonl",),
    "sv": ("sv_reviews.jsonl", "sv_emoji.jsonl"),
    "no": ("no_norec.jsonl",),
}
STRUCTURAL = ("repost", "quote", "truncation", "same_link", "copy_paste", "reply_link")
KINDS = (*STRUCTURAL, "paraphrase")
TARGET_MERGED = 0.001  # different complaints merged in at most 0.1 % of pairs
TARGET_STRUCTURAL = 0.90
TARGET_PARAPHRASE = 0.60
CALIBRATION_MARGIN = 0.5  # the threshold is chosen for half the target, for headroom out of sample
GRID = tuple(round(float(x), 3) for x in np.arange(0.85, 0.9951, 0.01))
BATCH = 32
T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
MIN_WORDS = 8
MIN_CHARS = 50
COMMENTS = {
    "en": ("Same thing happened to me.", "This. Exactly this.", "Unbelievable, fix this!", "+1 still waiting too"),
    "sv": ("Samma sak hände mig.", "Precis så här är det.", "Otroligt, fixa det här!", "+1 väntar också"),
    "da": ("Det samme skete for mig.", "Præcis sådan er det.", "Utroligt, få det fikset!", "+1 venter også"),
    "no": ("Det samme skjedde med meg.", "Akkurat sånn er det.", "Utrolig, fiks dette!", "+1 venter også"),
}
SITES = ("news.example", "forum.example", "blogg.example", "avisen.example")
LINK = re.compile(r"\[link\]|https?://\S+", re.I)


class GroupingDataError(Exception):
    """The shared data is missing or unreadable; the message says what to do."""


@dataclass
class Item:
    """One post of the set, labelled with its incident."""

    key: str
    incident: str
    kind: str  # "original" or a retelling kind
    lang: str
    text: str
    minutes: float  # posted this long after T0
    part: str  # "calibration" or "evaluation"
    theme: str | None = None  # paraphrase theme: same theme in another language is left unlabelled
    parent: str | None = None
    links: list[str] = field(default_factory=list)
    url: str | None = None


def _part(incident: str) -> str:
    return "calibration" if hashlib.sha256(incident.encode()).digest()[0] % 2 == 0 else "evaluation"


def read_originals(data_dir: Path, per_language: int, seed: int) -> list[tuple[str, str]]:
    """(lang, text) of distinct real negative posts, `per_language` of each language, sampled reproducibly."""
    rng = random.Random(seed)
    chosen: list[tuple[str, str]] = []
    seen: set[str] = set()
    for lang, files in SOURCES.items():
        pool: list[str] = []
        for name in files:
            path = data_dir / name
            if not path.is_file():
                raise GroupingDataError(f"{path} not found: point --data at ../shared/data/sentiment/train")
            with path.open(encoding="utf-8") as handle:
                for line in handle:
                    try:
                        row = json.loads(line)
                    except ValueError:
                        continue  # one bad line never blocks its neighbours
                    if not isinstance(row, dict) or row.get("label") != "negative":
                        continue
                    text = " ".join(LINK.sub(" ", str(row.get("text") or "")).replace("@USER", " ").split())
                    key = " ".join(words(text))
                    if len(key.split()) >= MIN_WORDS and len(text) >= MIN_CHARS and key not in seen:
                        seen.add(key)
                        pool.append(text)
        rng.shuffle(pool)
        chosen += [(lang, text) for text in pool[:per_language]]
    return chosen


def _retell(kind: str, original: Item, rng: random.Random) -> Item:
    """One generated retelling of `original` (which may gain a link for `same_link`)."""
    text, lang = original.text, original.lang
    comment = rng.choice(COMMENTS[lang])
    links: list[str] = []
    parent = None
    if kind == "repost":
        text = f"RT @{rng.choice(('kund', 'kunde', 'jonas_k', 'mari88'))}: {text}"
        if len(text) > 140:
            text = text[:139] + "…"
    elif kind == "quote":
        text = f"{comment} “{text}”" if rng.random() < 0.5 else f"{text} — {comment}"
    elif kind == "truncation":
        cut = max(60, int(len(text) * rng.uniform(0.5, 0.85)))
        text = text[:cut].rstrip() + "…" if cut < len(text) else text
    elif kind == "same_link":
        slug = hashlib.sha256(original.key.encode()).hexdigest()[:10]
        url = f"https://{rng.choice(SITES)}/{lang}/{slug}"
        original.links.append(url)
        shared = f"https://www.{url.removeprefix('https://')}/?utm_source=social&utm_medium=share"
        if rng.random() < 0.5:  # sharing the original post's own address instead
            original.links.pop()
            shared = f"{original.url}?s=20"
        links = [shared]
        text = f"{comment} {shared}"
    elif kind == "copy_paste":
        found = text.split()
        drop = rng.randrange(1, len(found) - 1)
        found = [w for i, w in enumerate(found) if i != drop]
        text = " ".join(found)
        text = text.replace("@", "@_", 1) if rng.random() < 0.5 else text.upper()
        text = text.rstrip(".!") + rng.choice((" #fail", " #boycott", "!!", " #kundservice"))
    elif kind == "reply_link":
        text, parent = comment, original.key
    return replace(
        original,
        key=f"{original.key}:{kind}",
        kind=kind,
        text=text,
        minutes=original.minutes + rng.uniform(1, 180),
        parent=parent,
        links=links,
        url=f"https://social.example/@r/{original.key}-{kind}",
        theme=None,
    )


def build_set(data_dir: Path, per_language: int = 150, seed: int = 0) -> list[Item]:
    """The labelled grouping set: originals, one retelling each, and the hand-written paraphrases."""
    rng = random.Random(seed)
    items: list[Item] = []
    for n, (lang, text) in enumerate(read_originals(data_dir, per_language, seed)):
        key = f"o{n}"
        original = Item(
            key=key,
            incident=key,
            kind="original",
            lang=lang,
            text=f"@acme {text}",
            minutes=rng.uniform(0, 48 * 60),
            part=_part(key),
            url=f"https://social.example/@u{n}/{key}",
        )
        if rng.random() < 0.1:  # the brand's home page is no evidence: everyone links it
            original.links.append("https://www.acme.example/")
        retelling = _retell(STRUCTURAL[n % len(STRUCTURAL)], original, rng)
        items += [original, retelling]
    groups = json.loads(PARAPHRASES.read_text(encoding="utf-8"))["groups"]
    for g, group in enumerate(groups):
        incident = f"p{g}"
        start = rng.uniform(0, 48 * 60)
        for i, text in enumerate(group["posts"]):
            items.append(
                Item(
                    key=f"{incident}.{i}",
                    incident=incident,
                    kind="original" if i == 0 else "paraphrase",
                    lang=group["lang"],
                    text=text,
                    minutes=start + (rng.uniform(5, 240) if i else 0),
                    part=_part(incident),
                    theme=group["theme"],
                    url=f"https://social.example/@p{g}x{i}/{incident}.{i}",
                )
            )
    return items


# --------------------------------------------------------------------------- running the real stage


def run_stories(
    items: Sequence[Item],
    vectors: dict[str, np.ndarray],
    thresholds: Semantic | None = None,
    config: StoriesConfig | None = None,
) -> dict[str, int]:
    """Store `items` as mentions with scores on a fresh SQLite database and group them as the pipeline would.

    The scores carry a model version of their own, so only `thresholds` apply (never the packaged file's).
    """
    from monitor.kernel.store.tables import Base, Brand, Mention, Score, Source

    stories_module._warned_versions.add(EVAL_VERSION)  # "no calibration" is the point of a run without one
    config = (config or StoriesConfig()).model_copy(update=asdict(thresholds or Semantic()))
    version = EVAL_VERSION

    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    Base.metadata.create_all(engine)
    ordered = sorted(items, key=lambda it: (it.minutes, it.key))
    with Session(engine) as session, session.begin():
        brand = Brand(name="Acme")
        session.add(brand)
        session.flush()
        source = Source(brand_id=brand.id, name="eval", connector="file")
        session.add(source)
        session.flush()
        mentions = [
            Mention(
                source_id=source.id,
                brand_id=brand.id,
                external_id=item.key,
                url=item.url,
                author_key=f"{n:064x}",
                text=item.text,
                language=item.lang,
                parent_external_id=item.parent,
                links=list(item.links) or None,
                created_at=T0 + timedelta(minutes=item.minutes),
            )
            for n, item in enumerate(ordered)
        ]
        session.add_all(mentions)
        session.flush()
        ids = {m.external_id: m.id for m in mentions}
        for item, mention in zip(ordered, mentions, strict=True):
            vector = vectors.get(item.key)
            session.add(
                Score(
                    mention_id=mention.id,
                    model_version=version,
                    label="negative",
                    p_negative=0.9,
                    p_neutral=0.05,
                    p_positive=0.05,
                    language=item.lang,
                    embedding=None if vector is None else np.asarray(vector, dtype="<f2").tobytes(),
                    scored_at=mention.created_at,
                )
            )
    for start in range(0, len(ordered), BATCH):
        batch = ordered[start : start + BATCH]
        now = T0 + timedelta(minutes=batch[-1].minutes)
        with Session(engine) as session, session.begin():
            assign_stories(session, [ids[it.key] for it in batch], now, config)
    with Session(engine) as session:
        rows = session.execute(select(Mention.external_id, Mention.story_id)).all()
    engine.dispose()
    return {key: story for key, story in rows}


def metrics(items: Sequence[Item], stories: dict[str, int]) -> dict[str, Any]:
    """Pairwise figures: share of different-incident pairs merged, precision, recall per retelling kind."""
    first = {
        it.incident: it.key for it in sorted(items, key=lambda i: (i.minutes, i.key)) if it.kind == "original"
    }
    joined: dict[str, list[bool]] = defaultdict(list)
    for it in items:
        if it.kind != "original":
            joined[it.kind].append(stories[it.key] == stories[first[it.incident]])
    by_story: dict[int, list[Item]] = defaultdict(list)
    for it in items:
        by_story[stories[it.key]].append(it)
    unlabelled_pairs = _parallel_pairs(items)
    same_pairs = sum(n * (n - 1) // 2 for n in _incident_sizes(items).values())
    total_pairs = len(items) * (len(items) - 1) // 2
    different_pairs = total_pairs - same_pairs - unlabelled_pairs
    merged = together_same = 0
    for members in by_story.values():
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if a.incident == b.incident:
                    together_same += 1
                elif not (a.theme and a.theme == b.theme):
                    merged += 1
    together = together_same + merged
    return {
        "items": len(items),
        "incidents": len(first),
        "stories": len(by_story),
        "different_pairs": different_pairs,
        "merged_pairs": merged,
        "merged_rate": merged / different_pairs if different_pairs else 0.0,
        "pairwise_precision": together_same / together if together else 1.0,
        "pairwise_recall": together_same / same_pairs if same_pairs else 1.0,
        "joined": {kind: {"n": len(v), "rate": sum(v) / len(v)} for kind, v in sorted(joined.items()) if v},
    }


def _incident_sizes(items: Sequence[Item]) -> dict[str, int]:
    sizes: dict[str, int] = defaultdict(int)
    for it in items:
        sizes[it.incident] += 1
    return sizes


def _parallel_pairs(items: Sequence[Item]) -> int:
    """Pairs of different incidents with one paraphrase theme (parallel texts in two languages): unlabelled."""
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for it in items:
        if it.theme:
            per[it.theme][it.incident] += 1
    total = 0
    for sizes in per.values():
        n = sum(sizes.values())
        total += (n * n - sum(v * v for v in sizes.values())) // 2
    return total


def meets_targets(figures: dict[str, Any]) -> dict[str, bool]:
    joined = figures["joined"]
    checks = {"merged_rate": figures["merged_rate"] <= TARGET_MERGED}
    for kind, value in joined.items():
        checks[kind] = value["rate"] >= (TARGET_PARAPHRASE if kind == "paraphrase" else TARGET_STRUCTURAL)
    return checks


# --------------------------------------------------------------------------- calibration and the command


def embed(items: Sequence[Item], scorer: Any) -> dict[str, np.ndarray]:
    """The scorer's sentence vectors of every item (the expensive part: done once per run)."""
    from monitor.kernel.types import TextToScore

    out: dict[str, np.ndarray] = {}
    for start in range(0, len(items), 128):
        chunk = items[start : start + 128]
        results = scorer.score([TextToScore(mention_id=i, text=it.text) for i, it in enumerate(chunk)])
        for result in results:
            if result.embedding is not None:
                out[chunk[result.mention_id].key] = np.asarray(result.embedding, dtype=np.float32)
    return out


TOPIC_SIMILARITY_GRID = (0.5, 0.6, 0.7, 0.8)
TOPIC_OVERLAP_GRID = (0.1, 0.15, 0.2, 0.25, 0.3)


def calibrate(
    items: Sequence[Item], vectors: dict[str, np.ndarray], base: StoriesConfig
) -> tuple[dict[str, float] | None, list[dict[str, Any]]]:
    """Thresholds chosen on `items` (the calibration half; the evaluation half is never seen), in two steps.

    1. the (topic_similarity, topic_overlap) pair, without cosine-alone evidence, that joins the most
       paraphrases while merges of different incidents stay under half the target (ties: fewer merges);
    2. with it, the cosine-alone threshold (or none) that joins the most same-incident pairs under the same
       budget (ties: the stricter). Cosine alone rarely adds anything with sentiment-tuned vectors, and
       then this keeps it from spending the budget.
    """
    budget = TARGET_MERGED * CALIBRATION_MARGIN
    sweep: list[dict[str, Any]] = []

    def trial(thresholds: Semantic) -> dict[str, Any]:
        figures = metrics(items, run_stories(items, vectors, thresholds, base))
        sweep.append({**asdict(thresholds), **figures})
        return figures

    best_topic: tuple[tuple[float, float], Semantic] | None = None
    for topic_similarity in TOPIC_SIMILARITY_GRID:
        for topic_overlap in TOPIC_OVERLAP_GRID:
            thresholds = Semantic(None, topic_similarity, topic_overlap)
            figures = trial(thresholds)
            if figures["merged_rate"] <= budget:
                key = (figures["joined"].get("paraphrase", {}).get("rate", 0.0), -figures["merged_rate"])
                if best_topic is None or key > best_topic[0]:
                    best_topic = (key, thresholds)
    topic = best_topic[1] if best_topic else Semantic()
    best: tuple[tuple[float, float, float], Semantic] | None = None
    for similarity in (None, *sorted(GRID, reverse=True)):
        thresholds = replace(topic, similarity=similarity)
        if thresholds == Semantic():
            continue
        figures = trial(thresholds)
        if figures["merged_rate"] > budget:
            continue
        key = (figures["pairwise_recall"], -figures["merged_rate"], similarity or 1.0)
        if best is None or key > best[0]:
            best = (key, thresholds)
    if best is None:
        return None, sweep
    return {k: v for k, v in asdict(best[1]).items() if v is not None}, sweep


def write_calibration(
    version: str, thresholds: dict[str, float], details: dict[str, Any], path: Path | None = None
) -> Path:
    """Store the thresholds for `version`, keeping other versions' entries; written atomically."""
    path = path or CALIBRATION_FILE
    versions = load_calibration(path)
    versions[vector_version(version)] = {**thresholds, **details}
    payload = {
        "about": "Cosine thresholds for story grouping per scorer model version; "
        "written by `repmon eval grouping --calibrate` (docs/alerts.md, Stories).",
        "versions": dict(sorted(versions.items())),
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def evaluate(
    data_dir: Path,
    scorer: Any,
    *,
    per_language: int = 150,
    seed: int = 0,
    do_calibrate: bool = False,
    config: StoriesConfig | None = None,
    calibration_path: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Build the set, embed it, optionally calibrate on one half, and report both halves."""
    config = config or StoriesConfig()
    items = build_set(data_dir, per_language, seed)
    progress(f"{len(items)} posts in the set; embedding with {scorer.version} ...")
    vectors = embed(items, scorer)
    halves = {part: [it for it in items if it.part == part] for part in ("calibration", "evaluation")}
    report: dict[str, Any] = {"model_version": scorer.version, "per_language": per_language, "seed": seed}
    if do_calibrate:
        progress("calibrating on the calibration half ...")
        chosen, sweep = calibrate(halves["calibration"], vectors, config)
        report["sweep"] = [
            {k: r.get(k) for k in ("similarity", "topic_similarity", "topic_overlap", "merged_rate", "joined")}
            for r in sweep
        ]
        if chosen is None:
            report["calibrated"] = None
        else:
            cal = metrics(
                halves["calibration"], run_stories(halves["calibration"], vectors, Semantic(**chosen), config)
            )
            details = {
                "calibrated_on": f"{cal['items']} posts (calibration half), "
                f"per_language={per_language}, seed={seed}",
                "merged_rate_calibration": round(cal["merged_rate"], 6),
                "paraphrase_joined_calibration": round(cal["joined"].get("paraphrase", {}).get("rate", 0.0), 4),
            }
            write_calibration(scorer.version, chosen, details, calibration_path)
            report["calibrated"] = {**chosen, **details}
    semantic = semantic_thresholds(scorer.version, config, calibration_path)
    report["semantic"] = asdict(semantic)
    for part, subset in halves.items():
        progress(f"grouping the {part} half ...")
        figures = metrics(subset, run_stories(subset, vectors, semantic, config))
        figures["targets_met"] = meets_targets(figures)
        report[part] = figures
    return report


def format_report(report: dict[str, Any]) -> str:
    lines = [f"model version {report['model_version']}, semantic thresholds {report['semantic']}"]
    if "calibrated" in report:
        lines.append(f"calibrated and written: {report['calibrated']}")
    for part in ("calibration", "evaluation"):
        r = report[part]
        note = " (out of sample)" if part == "evaluation" else " (thresholds chosen here)"
        lines.append(
            f"\n{part} half{note}: {r['items']} posts, {r['incidents']} incidents -> {r['stories']} stories"
        )
        ok = "ok" if r["merged_rate"] <= TARGET_MERGED else "MISSED"
        lines.append(
            f"  different incidents merged: {r['merged_pairs']}/{r['different_pairs']} pairs = "
            f"{100 * r['merged_rate']:.3f} % (target <= {100 * TARGET_MERGED:.1f} %) {ok}"
        )
        lines.append(
            f"  pairwise precision {r['pairwise_precision']:.4f}, pairwise recall {r['pairwise_recall']:.4f}"
        )
        for kind in KINDS:
            if kind in r["joined"]:
                j = r["joined"][kind]
                target = TARGET_PARAPHRASE if kind == "paraphrase" else TARGET_STRUCTURAL
                flag = "ok" if j["rate"] >= target else "MISSED"
                lines.append(
                    f"  {kind:11s} joined {100 * j['rate']:5.1f} % of {j['n']:4d} (target {target:.0%}) {flag}"
                )
    return "\n".join(lines)
