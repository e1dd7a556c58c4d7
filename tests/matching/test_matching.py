"""Brand matching in Swedish, Danish, Norwegian and English, and the query language's errors."""

from __future__ import annotations

import pytest

from monitor.matching import QueryError, build_brand_query, compile_brand, compile_query


def check(query: str, text: str, expected: bool, **kwargs: str | None) -> None:
    assert compile_query(query).matches(text, **kwargs) is expected, (query, text, kwargs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # sv
        ("Telias kundtjänst svarar aldrig", True),  # genitive without apostrophe
        ("Teliakundtjänst är det värsta jag varit med om", True),  # closed compound
        ("Ringde Telia:s support igen", True),
        ("Vi åkte till Italien i somras", False),  # 'telia' inside another word
        ("Det fina med vitalia är priset", False),
        # da
        ("Telia-kundeservice har lagt mig på hold i 40 minutter", True),  # hyphen compound
        ("Hvorfor er Telias net nede igen?", True),
        # no
        ("@Telia_Norge svar meg!", True),  # handle starting with the brand
        ("Byttet fra TELIA til Telenor", True),  # case folding
        # en
        ("Telia's support is great today", True),
        ("#TeliaFail again", True),  # hashtag compound, case marks the join
        ("Ever been to Castelia?", False),
    ],
)
def test_telia(text: str, expected: bool) -> None:
    check("telia", text, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SAS ställde in mitt flyg", True),
        ("SAS:s kundtjänst är stängd", True),  # Swedish genitive of an acronym
        ("SAS' kundeservice svarer ikke", True),  # Danish/Norwegian genitive after s
        ("SAS-flyget var försenat", True),
        ("Never flying #SASfail", True),  # short brand, case marks the join
        ("#SASFail igen", True),
        ("Kansas City is lovely", False),  # substring inside a word
        ("sasha is my cat", False),  # short brand + short rest is not a compound
        ("Sasha ringde", False),
        ("SASHA", False),
        ("sassy answer from support", False),
    ],
)
def test_short_brand_needs_a_real_word_start(text: str, expected: bool) -> None:
    check("SAS", text, expected)


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("Mærsk", "Maersk har mistet min container"),  # æ transliterated
        ("Mærsk", "Märsk levererar aldrig i tid"),  # Æ == Ä
        ("Maersk", "Mærsk's ships"),
        ("Føtex", "Fötex har tilbud"),  # Ø == Ö
        ("Føtex", "Foetex har tilbud"),
        ("Føtex", "Fotex har tilbud"),  # diacritics dropped by the writer
        ("Åhléns", "AHLENS kassan krånglar"),  # Å and é folded
        ("Müller", "Mueller Milch"),  # ü
        ("Ørsted", "Orsteds aktie faldt"),
    ],
)
def test_case_and_diacritics_folding(query: str, text: str) -> None:
    check(query, text, True)


def test_folding_does_not_conflate_different_words() -> None:
    check("Føtex", "Fatex", False)
    check("Åhléns", "Ahlstrom", False)


def test_phrase_genitive_and_compound() -> None:
    q = '"Telia kundtjänst"'
    check(q, "Telias kundtjänst är hopplös", True)  # genitive on the first word
    check(q, "Teliakundtjänst", True)  # whole phrase as one closed compound
    check(q, "Telia har ingen kundtjänst", False)  # not consecutive
    check(q, "kundtjänst Telia", False)  # order matters in phrases
    check('"kundtjänst Telia"', "Ring kundtjänst Telia nu", True)


def test_or_and_exclusion() -> None:
    q = "(telenor OR telia) -jobb NOT stadium"
    check(q, "Telenor har nedetid i Oslo", True)
    check(q, "Telia söker folk, sök jobb här", False)
    check(q, "Telia Stadium was packed", False)
    check(q, "Tele2 is down", False)


def test_implicit_and_binds_tighter_than_or() -> None:
    q = "telia faktura OR telenor"
    check(q, "Telenor", True)
    check(q, "Telia", False)
    check(q, "Telia skickade fel faktura", True)
    check("telia AND faktura", "fakturaen fra Telia", False)  # 'fakturaen' is a compound of a 7-letter word
    check("telia AND faktura*", "fakturaen fra Telia", True)


def test_near() -> None:
    q = "telia NEAR/2 faktura"
    check(q, "Telia skickade en faktura", True)  # two words between
    check(q, "faktura från Telia", True)  # either order
    check(q, "Telia skickade mig en ny faktura", False)  # four words between
    check('"kundeservice" NEAR/0 (telia OR telenor)', "Telenor kundeservice svarer ikke", True)


def test_hashtag_and_handle_only_terms() -> None:
    check("#telia", "Elsker #telia", True)
    check("#telia", "Elsker telia", False)
    check("@telia_sverige", "@Telia_Sverige hjälp!", True)
    check("@telia_sverige", "Telia Sverige hjälp!", False)


def test_prefix_term() -> None:
    check("tele*", "Telekommunikation", True)
    check("tele*", "Hotell", False)


def test_language_filter_uses_tag_then_identifier() -> None:
    q = "telia lang:sv,no"
    check(q, "Telia is down", True, language="sv-SE")
    check(q, "Telia er nede", True, language="nb")  # Bokmål tag normalised to no
    check(q, "Telia er nede", False, language="da")
    check(q, "Why is Telia always down when I need it, and nobody can help?", False)  # identified en
    check(q, "Varför är Telia alltid nere när jag behöver det?", True)  # identified sv
    check(q, "Telia 👎", True)  # no evidence either way: kept (three-valued logic)
    check("telia -lang:en", "Telia 👎", True)


def test_source_filter() -> None:
    q = "telia (source:mastodon OR source:bluesky)"
    check(q, "Telia", True, source="Mastodon")
    check(q, "Telia", False, source="reddit")
    check(q, "Telia", True)  # unknown source: kept
    check("telia -source:rss", "Telia", False, source="rss")


@pytest.mark.parametrize(
    ("query", "position", "message"),
    [
        ("", 0, "empty query"),
        ("telia OR", 8, "term was expected"),
        ("(telia OR telenor", 0, "missing ')'"),
        ("telia)", 5, "unbalanced ')'"),
        ('telia "kundtjänst', 6, "unterminated phrase"),
        ("telia NEAR faktura", 6, "NEAR needs a distance"),
        ("telia NEAR/2 -faktura", 13, "NEAR needs words"),
        ("-telia", 0, "at least one word"),
        ("lang:sv", 0, "at least one word"),
        ("telia langg:sv", 6, "unknown filter"),
        ("telia ()", 7, "empty parentheses"),
        ("te*lia", 0, "'*'"),
        ("telia lang:", 6, "needs a value"),
        ("telia !!!", 6, "no letters or digits"),
    ],
)
def test_query_errors_name_the_position(query: str, position: int, message: str) -> None:
    with pytest.raises(QueryError) as info:
        compile_query(query)
    assert info.value.position == position
    assert message in str(info.value)


def test_brand_query_builder() -> None:
    expr = build_brand_query(
        "Posten", aliases=["PostNord"], include=["paket", "leverans"], exclude=["Aftenposten"], languages=["sv"]
    )
    matcher = compile_query(expr)
    assert matcher.matches("Postnords leverans är sen igen", language="sv")
    assert not matcher.matches("Posten har stängt", language="sv")  # no include term
    assert not matcher.matches("Posten leverans Aftenposten", language="sv")  # excluded term
    assert not matcher.matches("PostNord leverans", language="en")


def test_compile_brand_prefers_explicit_query() -> None:
    assert compile_brand("Telia", query="telenor").matches("Telenor")
    assert not compile_brand("Telia", query="telenor").matches("Telia")
    assert compile_brand("Coca-Cola").matches("Coca Cola smager bedst")  # hyphen splits words
    assert compile_brand("H&M", aliases=["Hennes & Mauritz"]).matches("H&Ms returer tar evigheter")


def test_builder_rejects_termless_names() -> None:
    with pytest.raises(QueryError):
        build_brand_query('"')
    with pytest.raises(QueryError):
        build_brand_query("Telia", languages=["s v"])


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        # Danish
        ("DSB", "DSB's tog er forsinket igen", True),
        ("DSB", "DSBs kundeservice tager aldrig telefonen", True),
        ("DSB", "Nu kører #DSB-toget endelig", True),
        ("Ørsted", "Ørsteds aktie styrtdykker", True),
        ("IKEA", "Ikeavarehuset i Taastrup var kaos", True),  # closed compound
        ("Coop", "Coopbutikken har lukket", True),
        ("Coop", "Coopers are making barrels", False),  # inflection, not a compound
        # Norwegian
        ("Telenor", "Telenors dekning er elendig", True),
        ("Vy", "Vys kundeservice svarer ikke", True),  # two-letter brand, genitive
        ("Vy", "Vy-toget sto i to timer", True),
        ("Vy", "Fine vyer over fjorden", False),  # 'vyer' (views) is not Vy
        ("Posten", "Postens pakke kom aldri", True),
        ("Posten", "Leste det i Aftenposten", False),
        ("Posten", "Postenbudet kom ikke", True),
        # Swedish
        ("SJ", "SJ:s tåg är inställt igen", True),
        ("SJ", "Det var sjukt bra", False),
        ("Klarna", "Klarnas app krånglar", True),
        ("Klarna", "Det klarnar upp i eftermiddag", False),  # the verb, not the brand
        ("Tele2", "Tele2s nät är nere", True),
        ("Tele2", "Tele22 är inget bolag", False),
        # English
        ("McDonald's", "McDonalds drive-thru took 40 minutes", True),  # apostrophes fold away
        ("McDonald's", "mcdonald’s app is broken", True),
        ("Apple -applebees", "Dinner at Applebee's tonight", False),  # exclusions fix compound look-alikes
        ("Norwegian (flight OR delayed OR cancelled)", "Norwegian cancelled my flight", True),
        ("Norwegian (flight OR delayed OR cancelled)", "I am learning Norwegian", False),
    ],
)
def test_nordic_and_english_brands(query: str, text: str, expected: bool) -> None:
    check(query, text, expected)
