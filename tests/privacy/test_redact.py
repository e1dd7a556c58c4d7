"""The matcher behind retention and erasure: every form a copy takes, and nothing else."""

from __future__ import annotations

from monitor.privacy.redact import REDACTED, Needles, needles_for, slack_escape

TEXT = "Väntat 45 min på Telia-support & fortfarande <ingen> hjälp. Usch."


def test_exact_escaped_and_truncated_copies_are_removed():
    r = needles_for(texts=[TEXT]).compile()
    assert r.text(f"> {TEXT}") == f"> {REDACTED}"
    assert r.text(f"*{slack_escape(TEXT)}*") == f"*{REDACTED}*"
    assert r.text(f"{TEXT[:40]}… (more)") == f"{REDACTED}… (more)"
    assert r.text("Väntat 45 min") == "Väntat 45 min"  # too short a fragment to be a copy


def test_short_texts_match_whole_words_only():
    r = needles_for(texts=["ok"]).compile()
    assert r.text("broken token") == "broken token"
    assert r.text("they said: ok") == f"they said: {REDACTED}"


def test_handles_in_all_spellings_but_not_inside_other_words():
    r = needles_for(handles=["@Anna_K@mastodon.social"]).compile()
    assert r.text("by @anna_k@Mastodon.Social today") == f"by {REDACTED} today"
    assert r.text("cc @Anna_K") == f"cc {REDACTED}"
    assert r.text("@anna_kristina wrote") == "@anna_kristina wrote"
    short = needles_for(handles=["bob"]).compile()
    assert short.text("Bob said hi to @bob") == f"Bob said hi to {REDACTED}"  # bare names are not handles


def test_json_values_are_redacted_in_a_new_object():
    payload = {"blocks": [{"text": f"<https://ex.org/1|post>: {TEXT}"}], "n": 3}
    r = needles_for(texts=[TEXT], literals=["https://ex.org/1"]).compile()
    out = r.json(payload)
    assert out == {"blocks": [{"text": f"<{REDACTED}|post>: {REDACTED}"}], "n": 3}
    assert payload["blocks"][0]["text"].endswith("Usch.")  # the original is untouched


def test_empty_needles_are_falsy():
    assert not Needles()
    assert not needles_for(texts=["  "], literals=[None], handles=[""])
