"""Reading the shared labelled data and our validation split (skips when ../shared/data is absent)."""

from __future__ import annotations

import pytest

from models.data import DataError, in_validation, is_binary, read_jsonl


def test_every_shared_file_reads_and_binary_files_are_recognised(shared_data) -> None:
    files = sorted((shared_data / "sentiment").glob("*/*.jsonl"))
    assert files
    binary = {f.stem for f in files if is_binary(read_jsonl(f))}
    assert binary == {"sv_reviews", "en_scandisent_mt"}


def test_validation_split_is_about_a_tenth_and_stable(shared_data) -> None:
    rows = read_jsonl(shared_data / "sentiment" / "train" / "da_angrytweets.jsonl")
    share = sum(in_validation(r.text) for r in rows) / len(rows)
    assert 0.07 < share < 0.13
    assert [in_validation(r.text) for r in rows[:50]] == [in_validation(r.text) for r in rows[:50]]


def test_bad_rows_name_file_and_line(tmp_path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "ok", "label": "positive"}\nnot json\n')
    with pytest.raises(DataError, match=r"x\.jsonl:2"):
        read_jsonl(path)
    path.write_text('{"label": "positive"}\n')
    with pytest.raises(DataError, match="needs a string 'text'"):
        read_jsonl(path)
