"""Properties of the text and URL evidence over hostile input (hypothesis): never an exception, and the
retellings the stage promises to join always score as near-duplicates of their original."""

from __future__ import annotations

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from alerts.stories import (  # noqa: E402
    MIN_SHINGLES,
    containment,
    link_keys,
    near_duplicate,
    normalise_url,
    shingles,
    words,
)

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
WORD = st.text(alphabet=st.characters(categories=("Ll", "Lu", "Nd")), min_size=2, max_size=9)
TEXT = st.lists(WORD, min_size=MIN_SHINGLES + 3, max_size=40).map(" ".join)


@given(url=st.one_of(st.none(), st.text()), links=st.one_of(st.none(), st.lists(JSONISH, max_size=5)))
def test_link_keys_never_raise_and_never_keep_a_bare_host(url, links) -> None:
    for key in link_keys(url, links):
        host, _, rest = key.removeprefix("//").partition("/")
        assert host and rest


@given(
    host=st.from_regex(r"[a-z]{1,10}\.[a-z]{2,5}", fullmatch=True),
    path=st.from_regex(r"(/[a-z0-9]{1,8}){1,3}", fullmatch=True),
    tracking=st.lists(st.sampled_from(["utm_source=x", "utm_medium=social", "fbclid=abc", "s=20"]), max_size=3),
)
def test_tracking_parameters_scheme_and_www_do_not_change_a_link(host, path, tracking) -> None:
    plain = f"https://{host}{path}"
    decorated = f"http://www.{host}{path}/" + ("?" + "&".join(tracking) if tracking else "")
    assert normalise_url(plain) == normalise_url(decorated)


@given(text=st.text(max_size=300))
def test_words_and_shingles_never_raise(text: str) -> None:
    assert all(w == w.casefold() for w in words(text))
    shingles(text)


@given(text=TEXT, handle=st.from_regex(r"[a-z_]{1,12}", fullmatch=True), comment=TEXT)
def test_reposts_quotes_and_truncations_of_a_text_are_near_duplicates(text, handle, comment) -> None:
    original = shingles(text)
    assert shingles(f"RT @{handle}: {text}") == original
    assert containment(shingles(f"{comment} “{text}”"), original) == 1.0
    cut = text[: max(len(text) * 2 // 3, 1)]
    truncated = shingles(cut + "…")
    if len(truncated) >= MIN_SHINGLES:
        assert near_duplicate(truncated, original, 1.0) == 1.0
