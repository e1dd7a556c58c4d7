"""Reddit Markdown to plain text: the markup goes, every word stays, and it never fails."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.markdown import markdown_to_text, markdown_to_text_and_links


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("**Telia** är nere", "Telia är nere"),
        ("__bold__ and *it* and _it_ and ***both***", "bold and it and it and both"),
        ("## tl;dr\n\nno internet since Monday", "tl;dr\n\nno internet since Monday"),
        ("Title\n=====\n\nbody", "Title\n\nbody"),
        ("> quoted **reply**\n>> nested", "quoted reply\nnested"),
        ("```\nping **8.8.8.8**\n```\nstill down", "ping **8.8.8.8**\n\nstill down"),
        ("run `ipconfig /all` then", "run ipconfig /all then"),
        (r"5\*3 \# not a heading, \[not a link\](x)", "5*3 # not a heading, [not a link](x)"),
        ("snake_case_name stays", "snake_case_name stays"),
        ("&amp; &#x200B; &gt; >!spoiler!< ^(tiny) ^up ~~old~~", "& > spoiler tiny up old"),
        ("* one\n* two\n\n---\n\n|a|b|\n|---|---|\n|1|2|", "- one\n- two\n\n|a|b|\n|1|2|"),
    ],
)
def test_markup_becomes_plain_text(source: str, text: str) -> None:
    assert markdown_to_text(source) == text


def test_links_keep_their_text_and_hand_over_their_targets() -> None:
    text, links = markdown_to_text_and_links(
        'See [the status page](https://www.telia.se/driftinfo "Driftinfo"), <https://downdetector.se/telia> '
        "and https://example.org/a."
    )
    assert text == "See the status page, https://downdetector.se/telia and https://example.org/a."
    assert links == ("https://www.telia.se/driftinfo", "https://downdetector.se/telia", "https://example.org/a")
    assert markdown_to_text_and_links("[x](javascript:alert(1))")[1] == ()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=300))
def test_never_fails_and_drops_no_plain_word(source: str) -> None:
    text = markdown_to_text(source)
    assert isinstance(text, str)
    plain = [w for w in source.split() if w.isalnum()]
    for word in plain:
        assert word in text


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.from_regex(r"[A-Za-zåäöÅÄÖ0-9]{1,12}", fullmatch=True), min_size=1, max_size=12))
def test_emphasised_words_come_out_bare(words: list[str]) -> None:
    source = " ".join(f"**{w}**" if i % 2 else f"*{w}*" for i, w in enumerate(words))
    assert markdown_to_text(source) == " ".join(words)
