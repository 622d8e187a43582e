"""leakproof.raw.split_lines: every physical line is parsable (strict RFC 4180) or rejected with
its reason, checked against a regular-expression oracle of RFC 4180 on seeded random lines, and
DuckDB's CSV reader reads the clean copy exactly as Python's csv module reads those lines."""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

import duckdb
import pytest

from leakproof.raw import split_lines
from leakproof.raw._fast import plain_file

FIELD = '(?:[^",\\r\\n]*|"(?:[^"]|"")*")'
RECORD = re.compile(f"{FIELD}(?:,{FIELD}){{2}}")


def test_each_kind_of_bad_line_is_rejected_with_its_reason() -> None:
    lines = [
        b"a,b,c",
        b"1,2,3",
        b"4,5,6,7",
        b'"x"y,1,2',
        b"\xff,1,2",
        b"10,11,12\r",
        b'13,"un,14',
        b"",
        b"a,b\rc",
        b'"a""b",",",""""',
        b'ab""c,1,2',
        b"15,16",
    ]
    split = split_lines(b"\n".join(lines) + b"\n")
    assert split.header == "a,b,c" and split.data_lines == 11
    assert [(r.line_number, r.reason_code) for r in split.rejected] == [
        (3, "wrong_field_count"),
        (4, "bad_quoting"),
        (5, "undecodable"),
        (7, "unclosed_quote"),
        (8, "empty_line"),
        (9, "carriage_return"),
        (11, "bad_quoting"),
        (12, "wrong_field_count"),
    ]
    assert split.rejected[0].reason == "4 fields where the header has 3"
    assert split.rejected[2].raw_line == "\\xff,1,2"
    assert split.rejected[2].reason == "bytes that are not valid utf-8 (byte 0xff)"
    assert list(split.rows) == [1, 5, 9]  # data rows: line - 1
    assert split.clean == b'a,b,c\n1,2,3\n10,11,12\n"a""b",",",""""\n'


def test_a_clean_file_is_read_as_it_is_and_other_encodings_are_transcoded() -> None:
    data = b"a,b\n1,2\n3,4"
    split = split_lines(data)
    assert (split.clean, list(split.rows), split.rejected) == (None, [1, 2], [])
    latin = split_lines("a,b\n1,é\n".encode("latin-1"), encoding="latin-1")
    assert latin.clean == "a,b\n1,é\n".encode() and latin.rejected == []
    utf16 = split_lines("a;b\r\n1;2\r\n".encode("utf-16"), delimiter=";", encoding="utf-16")
    assert utf16.clean == b"a;b\n1;2\n" and list(utf16.rows) == [1]
    assert split_lines(b"\xef\xbb\xbfa,b\n1,2\n").clean == b"a,b\n1,2\n"
    assert split_lines(b"").data_lines == 0


@pytest.mark.parametrize("seed", range(2))
def test_random_lines_match_the_rfc_4180_oracle_and_duckdb_reads_the_clean_copy(
    seed: int, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    alphabet = ["a", "1", ",", '"', " ", "\r", "\xe9"]
    connection = duckdb.connect()
    for trial in range(200):
        lines = ["a,b,c"] + [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 9))) for _ in range(6)
        ]
        data = ("\n".join(lines) + "\n").encode()
        split = split_lines(data)
        rejected = {r.line_number for r in split.rejected}
        for number, line in enumerate(lines[1:], start=2):
            body = line[:-1] if line.endswith("\r") else line
            parsable = RECORD.fullmatch(body) is not None and "\r" not in body
            assert parsable == (number not in rejected), (trial, line)
        path = tmp_path / "clean.csv"
        path.write_bytes(data if split.clean is None else split.clean)
        read = connection.execute(
            f"select * from read_csv('{path}', header = true, auto_detect = false, "
            "columns = {'a': 'VARCHAR', 'b': 'VARCHAR', 'c': 'VARCHAR'}, delim = ',', "
            "quote = '\"', escape = '\"', new_line = '\\n')"
        ).fetchall()
        expected = [
            tuple(v or None for v in next(csv.reader([lines[row].rstrip("\r")], strict=True)))
            for row in split.rows
        ]
        assert read == expected, trial


def test_the_fast_path_reads_a_file_as_is_only_when_split_lines_would(tmp_path: Path) -> None:
    """plain_file (DuckDB recognises a file whose every line is plain) never lets through a file
    split_lines would reject a line of or rewrite, and is taken for plainly quoted files."""
    rng = random.Random(7)
    alphabet = ["a", "1", ",", '"', "\xe9", "x"]
    taken = 0
    for trial in range(50):
        lines = ["a,b,c"] + [
            rng.choice(['1,"x,y",z', "1,2,3", '"",,"a"'])
            if rng.random() < 0.8
            else "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7)))
            for _ in range(rng.randint(1, 5))
        ]
        data = ("\n".join(lines) + ("\n" if trial % 3 else "")).encode()
        path = tmp_path / f"{trial}.csv"
        path.write_bytes(data)
        split = split_lines(data)
        plain = plain_file(
            path, delimiter=",", quote='"', encoding="utf-8", header=True, fields=None
        )
        if plain is not None:
            taken += 1
            assert split.rejected == [] and split.clean is None, (trial, lines)
            assert plain == (split.header, split.data_lines), trial
        elif split.rejected == [] and '""' not in data.decode():
            pytest.fail(f"the fast path missed a plain file: {lines}")
    assert taken > 12
    for data in [b"a,b\r\n1,2\r\n", b"\xef\xbb\xbfa,b\n1,2\n", b"a,b\n1,2\n\n", b"a,b\n\xff,2\n"]:
        path = tmp_path / "other.csv"
        path.write_bytes(data)
        kwargs = {"delimiter": ",", "quote": '"', "header": True, "fields": None}
        assert plain_file(path, encoding="utf-8", **kwargs) is None, data
    assert plain_file(path, encoding="latin-1", **kwargs) is None


def test_the_declared_dialect_is_validated(tmp_path: Path) -> None:
    """A dialect the strict reader cannot honour is a declaration problem naming the key."""
    import yaml

    from leakproof.declarations import load
    from leakproof.exceptions import DeclarationError

    root = Path(__file__).resolve().parents[2]
    document = yaml.safe_load((root / "use_cases" / "marketing.yml").read_text())
    meta = document["sources"][0]["tables"][0]["config"]["meta"]
    meta.update({"escape": "\\", "encoding": "klingon", "delimiter": ";", "decimal": ";"})
    path = tmp_path / "marketing.yml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(DeclarationError) as error:
        load(path)
    text = str(error.value)
    assert "meta.escape: only the RFC 4180 escape is read" in text
    assert "meta.encoding: 'klingon' is not a known encoding" in text
    assert "meta.decimal: the decimal separator must differ from the delimiter" in text
