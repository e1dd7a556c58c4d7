import pytest

from monitor.kernel.store.pseudonym import Pseudonymiser, PseudonymKeyError

KEY = "k" * 32


def test_same_identity_same_key_regardless_of_spelling():
    p = Pseudonymiser(KEY)
    assert p.author_key("@Anna_S") == p.author_key("anna_s") == p.author_key(" ANNA_S ")
    assert len(p.author_key("anna_s")) == 64


def test_different_keys_give_unlinkable_pseudonyms():
    assert Pseudonymiser(KEY).author_key("anna") != Pseudonymiser("x" * 32).author_key("anna")
    assert Pseudonymiser(KEY).author_key("anna") != Pseudonymiser(KEY).author_key("bertil")


def test_no_author_no_key():
    assert Pseudonymiser(KEY).author_key(None) is None
    assert Pseudonymiser(KEY).author_key("  ") is None


def test_short_key_refused_and_key_never_shown():
    with pytest.raises(PseudonymKeyError):
        Pseudonymiser("short")
    assert KEY not in repr(Pseudonymiser(KEY))
