"""The file connector: paging, resumable imports, bad rows reported by line, timestamps to UTC."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from connectors.file import FileConnector
from monitor.kernel import plugins
from monitor.kernel.store.ingest import store_page
from monitor.kernel.store.pseudonym import Pseudonymiser
from monitor.kernel.store.tables import Brand, Mention, Source
from monitor.kernel.types import BrandQuery, Connector, SourceError

QUERY = BrandQuery(brand="Telia", terms=("Telia",))


def row(i: int, **extra: object) -> dict[str, object]:
    return {
        "id": f"p{i}",
        "text": f"Telia post number {i} 🙂",
        "url": f"https://example.social/@a/{i}",
        "author": f"user{i % 3}",
        "created_at": f"2026-03-01T10:{i % 60:02d}:00+01:00",
        "likes": i,
        **extra,
    }


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def ids(pages: list) -> list[str]:
    return [m.external_id for p in pages for m in p.mentions]


def test_registered_and_conforms_to_protocol(tmp_path: Path) -> None:
    cls = plugins.load("connectors", "file")
    assert cls is FileConnector
    assert isinstance(FileConnector({"path": tmp_path / "x.jsonl"}), Connector)
    assert list(FileConnector({"path": tmp_path / "x.jsonl"}).repoll(["p1"])) == []


def test_pages_and_resume_from_cursor(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "export.jsonl", [row(i) for i in range(7)])
    conn = FileConnector({"path": path, "page_size": 3})
    pages = list(conn.fetch(QUERY, None))
    assert [len(p.mentions) for p in pages] == [3, 3, 1]
    assert pages[-1].cursor["offset"] == path.stat().st_size

    # Interrupted after the first page: resuming from its cursor yields exactly the rest.
    resumed = list(FileConnector({"path": path, "page_size": 3}).fetch(QUERY, pages[0].cursor))
    assert ids(resumed) == [f"p{i}" for i in range(3, 7)]
    # Nothing new: nothing yielded.
    assert list(conn.fetch(QUERY, pages[-1].cursor)) == []


def test_appended_rows_are_picked_up(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "export.jsonl", [row(i) for i in range(2)])
    conn = FileConnector({"path": path})
    cursor = list(conn.fetch(QUERY, None))[-1].cursor
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row(2)) + "\n")
    new = list(conn.fetch(QUERY, cursor))
    assert ids(new) == ["p2"]
    assert new[0].cursor["line"] == 4


def test_replaced_smaller_file_is_reimported_with_a_note(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "export.jsonl", [row(i) for i in range(5)])
    conn = FileConnector({"path": path})
    cursor = list(conn.fetch(QUERY, None))[-1].cursor
    write_jsonl(path, [row(9)])
    pages = list(conn.fetch(QUERY, cursor))
    assert ids(pages) == ["p9"]
    assert "re-imported from the start" in pages[0].notes[0]


def test_bad_jsonl_rows_are_reported_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    lines = [
        json.dumps(row(1)),
        "{not json",
        json.dumps(row(3, created_at="yesterday")),
        "",
        json.dumps({"id": "p5", "created_at": "2026-03-01T10:00:00Z"}),
        json.dumps(row(6, likes=-4)),
        json.dumps([1, 2]),
        json.dumps(row(8, url="javascript:alert(1)")),
        json.dumps(row(9)),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    conn = FileConnector({"path": path, "page_size": 4})
    pages = list(conn.fetch(QUERY, None))
    assert ids(pages) == ["p1", "p9"]
    notes = [n for p in pages for n in p.notes]
    assert [str(e).split(":")[0] for e in conn.errors] == [
        "line 2",
        "line 3",
        "line 5",
        "line 6",
        "line 7",
        "line 8",
    ]
    assert any("line 2: invalid JSON" in n for n in notes)
    assert any("line 3: created_at 'yesterday'" in n for n in notes)
    assert any("line 5: missing required field: text" in n for n in notes)
    assert any("line 6: likes -4" in n for n in notes)
    assert any("line 7: expected a JSON object" in n for n in notes)
    assert any("line 8: url" in n for n in notes)
    assert pages[-1].cursor["offset"] == path.stat().st_size  # bad rows do not stall the import


def test_fail_mode_stops_before_the_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text(json.dumps(row(1)) + "\n" + json.dumps(row(2)) + "\n{oops\n", encoding="utf-8")
    conn = FileConnector({"path": path, "page_size": 1, "on_error": "fail"})
    seen = []
    with pytest.raises(SourceError) as info:
        for page in conn.fetch(QUERY, None):
            seen.append(page)
    assert info.value.kind == "fatal"
    assert "line 3" in str(info.value)
    assert ids(seen) == ["p1", "p2"]


def test_timestamps_are_parsed_to_utc(tmp_path: Path) -> None:
    rows = [
        row(1, created_at="2026-03-01T10:00:00+02:00"),
        row(2, created_at="2026-03-01T10:00:00Z"),
        row(3, created_at="2026-03-01 10:00:00"),  # naive: taken as UTC
        row(4, created_at=1772359200),  # epoch seconds
        row(5, created_at="1772359200000"),  # epoch milliseconds as text
    ]
    pages = list(FileConnector({"path": write_jsonl(tmp_path / "e.jsonl", rows)}).fetch(QUERY, None))
    times = [m.created_at for m in pages[0].mentions]
    assert all(t.tzinfo is not None and t.utcoffset().total_seconds() == 0 for t in times)
    assert times[0] == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert times[1] == times[2] == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert times[3] == times[4] == datetime.fromtimestamp(1772359200, tz=UTC)


CSV_TEXT = (
    "\ufeffid;text;url;author;created_at;language;likes;reposts;replies;source;extra\n"
    'c1;"Telias kundtjänst; ingen svarar";https://x.test/1;anna;2026-03-01T09:00:00Z;sv-SE;1,204;3;;mastodon;a\n'
    'c2;"Flere linjer:\nTelenor svarer ikke\n""hjælp"" 😡";https://x.test/2;bo;2026-03-01T09:05:00Z;nb;;;2;;b\n'
    "c3;too;few\n"
    "c4;Telia ok;https://x.test/4;cy;2026-03-01T09:10:00Z;en;0;0;0;rss;c\n"
)


def test_csv_with_bom_semicolons_multiline_cells_and_a_short_row(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(CSV_TEXT.encode("utf-8"))
    conn = FileConnector({"path": path, "page_size": 2})
    pages = list(conn.fetch(QUERY, None))
    mentions = [m for p in pages for m in p.mentions]
    assert [m.external_id for m in mentions] == ["c1", "c2", "c4"]
    assert mentions[0].text == "Telias kundtjänst; ingen svarar"
    assert mentions[0].likes == 1204 and mentions[0].replies is None and mentions[0].language == "sv"
    assert mentions[1].text == 'Flere linjer:\nTelenor svarer ikke\n"hjælp" 😡'
    assert mentions[1].language == "no"
    assert [str(e) for e in conn.errors] == ["line 6: has 3 fields, the header has 11"]  # c2 spans lines 3-5
    assert mentions[2].raw["source"] == "rss" and mentions[2].raw["extra"] == "c"

    # Resume after the first page (which ended inside the file, after the multi-line record).
    resumed = list(FileConnector({"path": path, "page_size": 2}).fetch(QUERY, pages[0].cursor))
    assert ids(resumed) == ["c4"]
    assert pages[0].cursor["line"] == 6


def test_csv_without_required_columns_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("id,body,when\n1,Telia,2026-01-01\n", encoding="utf-8")
    with pytest.raises(SourceError) as info:
        list(FileConnector({"path": path}).fetch(QUERY, None))
    assert info.value.kind == "config"
    assert "text, created_at" in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as info:
        list(FileConnector({"path": tmp_path / "nope.jsonl"}).fetch(QUERY, None))
    assert info.value.kind == "config"


def test_format_sniffed_from_content(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "export.dat", [row(1)])
    assert ids(list(FileConnector({"path": path}).fetch(QUERY, None))) == ["p1"]


def test_interrupted_import_into_the_store_resumes_without_loss_or_duplicates(
    tmp_path: Path, engine: Engine
) -> None:
    """Crash after two committed pages, rerun from the stored cursor: every row stored exactly once."""
    path = write_jsonl(tmp_path / "export.jsonl", [row(i) for i in range(10)])
    pseudo = Pseudonymiser("k" * 32)
    with Session(engine) as session:
        brand = Brand(name="Telia")
        session.add(brand)
        session.flush()
        source = Source(brand_id=brand.id, name="import", connector="file")
        session.add(source)
        session.commit()
        source_id, brand_id = source.id, brand.id

    def run(limit: int | None) -> None:
        with Session(engine) as session:
            cursor = session.get(Source, source_id).cursor
        conn = FileConnector({"path": path, "page_size": 3})
        for n, page in enumerate(conn.fetch(QUERY, cursor)):
            if limit is not None and n == limit:
                # Crash: this page was fetched but its transaction never commits.
                with Session(engine) as session:
                    store_page(session, source_id, brand_id, page, pseudo)
                    session.rollback()
                return
            with Session(engine) as session, session.begin():
                store_page(session, source_id, brand_id, page, pseudo)

    run(limit=2)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Mention)) == 6
    run(limit=None)
    with Session(engine) as session:
        stored = session.scalars(select(Mention.external_id)).all()
        assert sorted(stored) == sorted(f"p{i}" for i in range(10))
        assert session.get(Source, source_id).cursor["offset"] == path.stat().st_size


def test_cursor_of_another_file_restarts_from_the_top(tmp_path: Path) -> None:
    first = write_jsonl(tmp_path / "a.jsonl", [row(i) for i in range(3)])
    cursor = list(FileConnector({"path": first}).fetch(QUERY, None))[-1].cursor
    second = write_jsonl(tmp_path / "b.jsonl", [row(i) for i in range(10, 15)])
    pages = list(FileConnector({"path": second}).fetch(QUERY, cursor))
    assert ids(pages) == [f"p{i}" for i in range(10, 15)]
    assert "instead of" in pages[0].notes[0]


def test_unterminated_csv_quote_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        'id,text,created_at\n1,Telia ok,2026-03-01T09:00:00Z\n2,"Telia never closes this quote,2026-03-01\n',
        encoding="utf-8",
    )
    conn = FileConnector({"path": path})
    pages = list(conn.fetch(QUERY, None))
    assert ids(pages) == ["1"]
    assert len(conn.errors) == 1 and conn.errors[0].line == 3 and "malformed CSV" in conn.errors[0].message
    assert pages[-1].cursor["offset"] == path.stat().st_size


def test_cp1252_export_and_invalid_utf8_rows(tmp_path: Path) -> None:
    text = "id;text;created_at\n1;Telias kundtjänst är bäst;2026-03-01T09:00:00Z\n"
    path = tmp_path / "excel.csv"
    path.write_bytes(text.encode("cp1252"))
    utf8 = FileConnector({"path": path})
    assert ids(list(utf8.fetch(QUERY, None))) == []
    assert utf8.errors[0].line == 2 and "not valid utf-8" in utf8.errors[0].message
    pages = list(FileConnector({"path": path, "encoding": "cp1252"}).fetch(QUERY, None))
    assert pages[0].mentions[0].text == "Telias kundtjänst är bäst"


def test_a_row_still_being_written_is_read_once_it_is_finished(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "export.jsonl", [row(1)])
    whole = json.dumps(row(2))
    with path.open("a", encoding="utf-8") as fh:
        fh.write(whole[:25])  # the exporting process is half-way through its next line
    conn = FileConnector({"path": path})
    pages = list(conn.fetch(QUERY, None))
    assert ids(pages) == ["p1"] and conn.errors == []  # not a bad row, and the cursor stays before it
    with path.open("a", encoding="utf-8") as fh:
        fh.write(whole[25:] + "\n")
    assert ids(list(conn.fetch(QUERY, pages[-1].cursor))) == ["p2"]


def test_a_complete_last_row_without_a_newline_is_read(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text(json.dumps(row(1)) + "\n" + json.dumps(row(2)), encoding="utf-8")
    assert ids(list(FileConnector({"path": path}).fetch(QUERY, None))) == ["p1", "p2"]
