"""Reading, mapping, cleaning and validating customer files (no database needed)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest
from benchmarks.generate import generate, proper_case

from customer_flow.core.errors import ValidationError
from customer_flow.customers import records as customers
from customer_flow.data import sources as data
from customer_flow.data.cleaning import Context, clean_batch, validate
from customer_flow.data.imports import ImportOptions, ImportReport
from customer_flow.data.phones import email_fast, phone_fast
from customer_flow.hub import Hub


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def cleaned(path: Path, **options: object) -> tuple[pl.DataFrame, Context]:
    """Run read -> map -> clean -> validate on a file; one frame of all batches."""
    with data.open_source(path) as source:
        plan = data.plan_columns(source.header, **options)  # type: ignore[arg-type]
        ctx = Context(region="US")
        frames = [
            validate(clean_batch(data.map_columns(b, plan), ctx), plan.targets, plan.extras)
            for b in data.read_batches(source, 1000)
        ]
    return pl.concat(frames, how="diagonal_relaxed"), ctx


@pytest.fixture
def checker(tmp_path: Path) -> Hub:
    """A Hub for validate_file: it never touches the database."""
    return Hub.open(f"sqlite:///{tmp_path / 'v.db'}", actor="tester", default_region="US")


def report_of(hub: Hub, path: Path, **options: object) -> ImportReport:
    return hub.validate_file(path, ImportOptions.model_validate(options))


class TestReading:
    def test_sniffs_semicolon_and_tab_delimiters(self, tmp_path: Path) -> None:
        """The delimiter is sniffed from the header line; .tsv files use tabs."""
        semi = write(tmp_path, "a.csv", "Name;Email\nAna Lima;ana@lima.pt\n")
        tsv = write(tmp_path, "b.tsv", "Name\tEmail\nAna Lima\tana@lima.pt\n")
        for path, sep in ((semi, ";"), (tsv, "\t")):
            with data.open_source(path) as source:
                assert sep == source.delimiter
                assert source.header == ["Name", "Email"]

    @pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
    def test_detects_the_encoding(self, tmp_path: Path, encoding: str) -> None:
        """UTF-8 with or without a BOM, UTF-16 and cp1252 all read back the same names."""
        text = "Name,Email\r\nJosé Müller,jose@ex.io\r\nFrançoise Çelik,f@ex.io\r\n"
        path = write(tmp_path, "c.csv", text.encode(encoding))
        df, _ = cleaned(path)
        assert df["__name"].to_list() == ["José Müller", "Françoise Çelik"]

    def test_half_utf8_half_cp1252_is_read_line_by_line_and_noted(self, tmp_path: Path) -> None:
        """A file that mixes UTF-8 and cp1252 lines loses no character, and the report says so."""
        raw = "Name\nJosé Utf\n".encode() + "Renée Cp\n".encode("cp1252")
        path = write(tmp_path, "m.csv", raw)
        with data.open_source(path) as source:
            assert source.encoding == "mixed"
            assert any("cp1252" in n for n in source.notes)
        df, _ = cleaned(path)
        assert df["__name"].to_list() == ["José Utf", "Renée Cp"]

    def test_quoted_fields_hold_newlines_and_mixed_line_endings(self, tmp_path: Path) -> None:
        """CRLF, LF and old-Mac CR endings in one file, and a newline inside quotes."""
        raw = b'Name,Notes\r\nAna,"two\nlines"\nBo,x\rCy,y\r\n'
        path = write(tmp_path, "n.csv", raw)
        df, _ = cleaned(path)
        assert df["__name"].to_list() == ["Ana", "Bo", "Cy"]
        assert json.loads(df["__extra"][0]) == {"Notes": "two\nlines"}

    def test_reads_xlsx_and_json_lines(self, tmp_path: Path) -> None:
        """XLSX (first sheet, first row the header) and JSON Lines read like CSV."""
        import xlsxwriter

        xlsx = tmp_path / "c.xlsx"
        wb = xlsxwriter.Workbook(str(xlsx))
        ws = wb.add_worksheet()
        for r, row in enumerate(
            [["Customer ID", "Full Name", "Mobile"], [7, "Ana Lima", "415 555 0123"]]
        ):
            for c, v in enumerate(row):
                ws.write(r, c, v)
        wb.close()
        jsonl = write(
            tmp_path, "c.jsonl", '{"ID": 8, "Name": "Bo Berg"}\n\n{"ID": 9, "Name": "Cy"}\n'
        )
        x, _ = cleaned(xlsx)
        assert x.select("__id", "__name", "__phone").rows() == [("7", "Ana Lima", "+14155550123")]
        j, _ = cleaned(jsonl)
        assert j.select("__id", "__name").rows() == [("8", "Bo Berg"), ("9", "Cy")]

    def test_a_bad_json_line_is_rejected_not_skipped(self, tmp_path: Path) -> None:
        """In JSON Lines, a line that is not an object is a rejected row with its number."""
        path = write(tmp_path, "b.jsonl", '{"Name": "Ana"}\n[1, 2]\n{"Name": \n{"Name": "Cy"}\n')
        df, _ = cleaned(path)
        codes = [[e["code"] for e in (x or [])] for x in df["__errors"].to_list()]
        assert codes == [[], ["bad_json"], ["bad_json"], []]
        assert df["__row"].to_list() == [1, 2, 3, 4]

    def test_empty_file_is_refused(self, tmp_path: Path) -> None:
        """An empty file gives a one-line error with a code."""
        with pytest.raises(ValidationError) as exc:
            data.open_source(write(tmp_path, "e.csv", b""))
        assert exc.value.code == "empty_file"

    def test_binary_file_is_refused(self, tmp_path: Path) -> None:
        """A PNG renamed .csv is named for what it is."""
        png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
        with pytest.raises(ValidationError) as exc:
            data.open_source(write(tmp_path, "image.csv", png))
        assert exc.value.code == "binary_file"
        assert "PNG" in exc.value.message

    def test_random_bytes_are_refused_as_binary(self, tmp_path: Path) -> None:
        """Bytes with no known signature, neither UTF-8 nor text in a single-byte encoding."""
        noise = random.Random(7).randbytes(64 * 1024)
        with pytest.raises(ValidationError) as exc:
            data.open_source(write(tmp_path, "noise.csv", noise))
        assert exc.value.code == "binary_file"

    def test_a_cp1252_file_dense_with_accents_is_text(self, tmp_path: Path) -> None:
        """Every name with accents, in cp1252: not UTF-8, but no binary data either (it was
        refused as binary: each byte UTF-8 could not read counted against it)."""
        rows = "".join(f"José Núñez Ãçôé{i},jn{i}@example.org\n" for i in range(200))
        path = write(tmp_path, "w.csv", ("Name,Email\n" + rows).encode("cp1252"))
        df, _ = cleaned(path)
        assert df.height == 200
        assert df["__name"][0] == "José Núñez Ãçôé0"

    def test_duplicate_header_names_are_refused(self, tmp_path: Path) -> None:
        """Two columns with one name would make a value ambiguous: refused, naming both. Names
        that differ in case are two extra attributes, or refused if they are one field."""
        with pytest.raises(ValidationError) as exc:
            data.open_source(write(tmp_path, "d.csv", "Name,Email,Email\nA,a@x.io,b@x.io\n"))
        assert exc.value.code == "duplicate_header"
        assert "columns 2 and 3" in exc.value.message
        with data.open_source(write(tmp_path, "t.csv", "Name,Tier,tier\nA,x,y\n")) as source:
            assert data.plan_columns(source.header).extras == ["Tier", "tier"]
        with pytest.raises(ValidationError) as exc:
            data.plan_columns(["Name", "Email", "email"])
        assert exc.value.code == "ambiguous_columns"

    def test_nul_bytes_are_removed_with_a_warning_on_the_row(self, tmp_path: Path) -> None:
        """NUL bytes (which PostgreSQL cannot store) are removed by cleaning, which counts them
        and warns on the row (not a note on the whole file)."""
        path = write(tmp_path, "z.csv", b"Name,Email\nAn\x00a,a@x.io\nBo,b@x.io\n")
        with data.open_source(path) as source:
            assert source.notes == []
        df, ctx = cleaned(path)
        assert df["__name"].to_list() == ["Ana", "Bo"]
        assert ctx.changed["control_characters"] == 1
        codes = [[w["code"] for w in (x or [])] for x in df["__warnings"].to_list()]
        assert codes == [["control_characters"], []]

    def test_unterminated_quote_is_an_error_naming_the_row(self, tmp_path: Path) -> None:
        """A quote that is never closed stops the read with the row number."""
        path = write(tmp_path, "q.csv", 'Name,Email\nAna,a@x.io\n"Bo,b@x.io\nCy,c@x.io\n')
        with pytest.raises(ValidationError) as exc:
            cleaned(path)
        assert exc.value.code == "bad_csv"
        assert "row" in exc.value.message


class TestMapping:
    @pytest.mark.parametrize(
        ("header", "target"),
        [
            ("E-mail", "Email"),
            ("Email Address", "Email"),
            ("Phone Number", "Phone"),
            ("Mobile", "Phone"),
            ("TEL", "Phone"),
            ("Full Name", "Name"),
            ("customer_id", "ID"),
        ],
    )
    def test_common_aliases_ignoring_case_and_spaces(self, header: str, target: str) -> None:
        """Headers map by alias, whatever their case and spacing."""
        names = ["Name", header] if target != "Name" else [header]
        plan = data.plan_columns(names)
        assert header == plan.targets[target]

    def test_first_and_last_name_make_the_name(self, tmp_path: Path) -> None:
        """First Name + Last Name become the name."""
        path = write(tmp_path, "f.csv", "First Name,Last Name\nAna,Lima\n,Solo\n")
        df, _ = cleaned(path)
        assert df["__name"].to_list() == ["Ana Lima", "Solo"]

    def test_map_overrides_and_ignores(self, tmp_path: Path) -> None:
        """--map names a column's field, or ignores it with an empty target."""
        plan = data.plan_columns(
            ["Who", "Digits", "Notes"], data.parse_mapping(["Who=Name", "Digits=phone", "Notes="])
        )
        assert plan.targets == {"Name": "Who", "Phone": "Digits"}
        assert plan.ignored == ["Notes"]

    def test_map_of_a_missing_column_is_an_error(self) -> None:
        """A --map that names no column of the file says which columns there are."""
        with pytest.raises(ValidationError) as exc:
            data.plan_columns(["Name"], {"Phone Number": "Phone"})
        assert "columns: Name" in exc.value.message

    def test_two_columns_for_one_field_are_refused(self) -> None:
        """Email and E-mail both map to Email: the user must choose."""
        with pytest.raises(ValidationError) as exc:
            data.plan_columns(["Name", "Email", "E-mail"])
        assert exc.value.code == "ambiguous_columns"

    def test_a_header_of_10000_columns_needs_ignore_unknown(self, tmp_path: Path) -> None:
        """10,000 unknown columns are too many extras: refused, unless --ignore-unknown."""
        header = ["Name", *(f"c{i}" for i in range(9999))]
        with pytest.raises(ValidationError) as exc:
            data.plan_columns(header)
        assert exc.value.code == "too_many_columns"
        assert len(data.plan_columns(header, ignore_unknown=True).ignored) == 9999

    def test_no_name_column_is_refused(self) -> None:
        """Without a name column every row would fail: one clear error instead."""
        with pytest.raises(ValidationError) as exc:
            data.plan_columns(["Email", "Phone"])
        assert exc.value.code == "missing_column"

    def test_unknown_columns_are_extras_or_listed(self, tmp_path: Path, checker: Hub) -> None:
        """Unknown columns are kept as extra attributes, or listed as ignored; never dropped
        silently."""
        path = write(tmp_path, "u.csv", "Name,City,Tier\nAna,Lisbon,\n")
        df, _ = cleaned(path)
        assert json.loads(df["__extra"][0]) == {"City": "Lisbon"}
        report = report_of(checker, path, ignore_unknown=True)
        assert report.columns == {"Name": "Name", "City": "ignored", "Tier": "ignored"}
        assert any("City, Tier" in n for n in report.notes)


class TestCleaning:
    def test_each_rule_counts_the_values_it_changed(self, tmp_path: Path) -> None:
        """NFC, whitespace, name order and case, email domain, phone: each counts its changes."""
        text = (
            "Name,Email,Phone\n"
            '"  SMITH,   JOHN ",John@EXAMPLE.Org,(415) 555-0123\n'
            "jose\u0301 da silva,ana@lima.pt,+1 415 555 0199\n"
            "Ana Lima,ana2@lima.pt,\n"
        )
        df, ctx = cleaned(write(tmp_path, "r.csv", text))
        assert df["__name"].to_list() == ["John Smith", "José da Silva", "Ana Lima"]
        assert df["__email"][0] == "John@example.org"
        assert df["__phone"].to_list() == ["+14155550123", "+14155550199", None]
        assert ctx.changed["unicode_nfc"] == 1
        assert ctx.changed["name_order"] == 1
        assert ctx.changed["name_case"] == 2
        assert ctx.changed["email"] == 1
        assert ctx.changed["phone"] == 2

    @pytest.mark.parametrize(
        ("raw", "clean"),
        [
            ("O'BRIEN, SEAN", "Sean O'Brien"),
            ("jean-luc picard", "Jean-Luc Picard"),
            ("ANNA VAN DER BERG", "Anna van der Berg"),
            ("mary mcdonald", "Mary McDonald"),
            ("Smith, Jr.", "Smith, Jr."),
            ("McAdams Rachel", "McAdams Rachel"),
            ("ДМИТРИЙ ИВАНОВ", "Дмитрий Иванов"),
        ],
    )
    def test_name_case_and_order(self, tmp_path: Path, raw: str, clean: str) -> None:
        """Shouted or all-lower names get proper case; "Last, First" is turned round."""
        df, _ = cleaned(write(tmp_path, "n.csv", f'Name\n"{raw}"\n'))
        assert clean == df["__name"][0]
        assert proper_case(clean.upper()) == clean or raw == clean or "," in raw

    def test_exact_duplicates_are_rejected_naming_the_first(self, tmp_path: Path) -> None:
        """A row equal (after cleaning) to an earlier one is not imported; it names that row."""
        text = "Name,Email\nAna Lima,ana@lima.pt\n  ANA LIMA ,ana@LIMA.pt\nBo,bo@x.io\n"
        df, ctx = cleaned(write(tmp_path, "d.csv", text))
        errors = df["__errors"].to_list()
        assert errors[0] is None
        assert errors[1][0]["code"] == "duplicate_row"
        assert errors[1][0]["message"] == "the same as row 1"
        assert ctx.changed["duplicate_rows"] == 1

    def test_formula_in_a_name_is_imported_with_a_warning(self, tmp_path: Path) -> None:
        """A name that starts like a formula is data: kept, flagged formula_like."""
        df, _ = cleaned(write(tmp_path, "f.csv", 'Name\n"=HYPERLINK(""http://x"")"\n'))
        assert df["__name"][0] == '=HYPERLINK("http://x")'
        assert [w["code"] for w in df["__warnings"][0]] == ["formula_like"]


class TestValidation:
    def test_errors_and_warnings_have_stable_codes(self, tmp_path: Path) -> None:
        """Bad values reject the row with a code; doubtful ones flag it."""
        text = (
            "ID,Name,Email,Phone\n"
            "x1,Ana,ana@lima.pt,\n"
            "2,,b@x.io,\n"
            "3,Cy,not-an-email,\n"
            "4,Di,d@x.io,call me\n"
            "5,Ed,ed@example.com,555-0123\n"
        )
        df, _ = cleaned(write(tmp_path, "v.csv", text))
        codes = [[e["code"] for e in (x or [])] for x in df["__errors"].to_list()]
        assert codes == [
            ["id_invalid"],
            ["name_missing"],
            ["email_invalid"],
            ["phone_not_a_number"],
            [],
        ]
        warns = [w["code"] for w in df["__warnings"][4]]
        assert warns == ["email_example_domain", "phone_local_only"]

    def test_a_row_with_10000_columns_is_rejected_not_cut(self, tmp_path: Path) -> None:
        """A row with more fields than the header is rejected with wrong_field_count."""
        wide = ",".join(["x"] * 10_000)
        text = f"Name,Email\nAna,a@x.io\nBo,{wide}\nCy,c@x.io\n"
        df, _ = cleaned(write(tmp_path, "w.csv", text))
        assert df["__name"].to_list() == ["Ana", "Bo", "Cy"]
        bad = df["__errors"][1]
        assert bad[0]["code"] == "wrong_field_count"
        assert "10001 fields" in bad[0]["message"]

    def test_a_1mb_cell_is_rejected_with_value_too_long(self, tmp_path: Path) -> None:
        """A 1 MB value is read whole, then refused with a reason (in an extra or a name)."""
        big = "y" * 1_000_000
        text = f"Name,Notes\nAna,{big}\n{big},ok\n"
        df, _ = cleaned(write(tmp_path, "b.csv", text))
        assert [e["code"] for e in df["__errors"][0]] == ["value_too_long"]
        assert [e["code"] for e in df["__errors"][1]] == ["name_too_long"]

    def test_validate_finds_repeated_ids_and_emails(self, tmp_path: Path, checker: Hub) -> None:
        """validate checks the file against itself: a repeated ID or email is an error."""
        path = write(tmp_path, "r.csv", "ID,Name,Email\n1,Ana,a@x.io\n1,Bo,b@x.io\n2,Cy,A@X.IO\n")
        report = report_of(checker, path)
        assert (report.imported, report.rejected) == (1, 2)
        assert report.errors == {"id_duplicate_in_file": 1, "email_duplicate_in_file": 1}

    def test_header_only_reads_no_rows(self, tmp_path: Path, checker: Hub) -> None:
        """A file with only a header is a report of zero rows, not an error."""
        report = report_of(checker, write(tmp_path, "h.csv", "Name,Email\n"))
        assert report.rows_read == 0
        assert report.accounted


class TestFastPathAgreesWithTheLibraries:
    def _phones(self, n: int) -> list[str]:
        rng = random.Random(5)
        from benchmarks.generate import _format_phone, _Phones

        phones = _Phones(rng)
        out = []
        for _ in range(n):
            cc, nat = phones.make()
            ext = str(rng.randint(1, 999)) if rng.random() < 0.05 else ""
            out.append(_format_phone(rng, cc, nat, ext).strip())
            digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 15)))
            seps = rng.choice(["", " ", "-", "."])
            mangled = seps.join(digits[i : i + 3] for i in range(0, len(digits), 3))
            out.append(rng.choice(["", "+", "(", "1 ", "011 "]) + mangled)
        return out

    def test_phones(self) -> None:
        """On a large random sample (generated formats and random digit strings), every value
        the fast path decides gets the library's validity, and its E.164 form when valid."""
        values = self._phones(15_000)
        fast = phone_fast(pl.Series(values), "US")
        assert fast.decided.sum() > len(values) * 0.5
        for v, e164, valid, decided in zip(
            values, fast.e164.to_list(), fast.valid.to_list(), fast.decided.to_list(), strict=True
        ):
            if not decided:
                continue
            lib, warnings = customers.clean_phone(v, "US")
            assert (v, valid) == (v, not any(w.code == "phone_invalid" for w in warnings))
            if valid:
                assert (v, lib) == (v, e164)

    def test_cleaning_stores_what_clean_phone_stores(self) -> None:
        """The import's phone step (fast path and library) stores the value, warning code and
        message that ``clean_phone`` gives, on the same sample: an invalid number keeps the
        value given, on both paths ("06 12 34 56 78" in the US is not +10612345678)."""
        from customer_flow.data.cleaning import normalise_phones

        values = [*self._phones(6000), "06 12 34 56 78", "+1 415 123 4567", "415 123 4567"]
        values = [" ".join(v.split()) for v in values if v.strip()]
        frame = normalise_phones(pl.DataFrame({"__phone": values}), Context(region="US"))
        fast = phone_fast(pl.Series(values), "US")
        assert fast.decided.filter(~fast.valid).sum() > 100  # both paths are exercised
        rows = frame.select("__phone", "__phone_warning", "__phone_warning_message").iter_rows()
        for v, (got, code, message) in zip(values, rows, strict=True):
            try:
                lib, warnings = customers.clean_phone(v, "US")
            except ValidationError:
                continue
            want = (warnings[0].code, warnings[0].message) if warnings else (None, None)
            assert (v, lib, *want) == (v, got, code, message)
        stored = dict(zip(values, frame["__phone"], strict=True))
        assert stored["06 12 34 56 78"] == "06 12 34 56 78"
        assert stored["+1 415 123 4567"] == "+1 415 123 4567"

    def test_phones_in_another_default_region(self) -> None:
        """The fast path follows the region's own metadata (GB: national prefix 0, IDD 00)."""
        values = [
            "020 7946 0958",
            "+44 20 7946 0958",
            "07700 900123",
            "+1 415 555 0123",
            "7946 0958",
        ]
        fast = phone_fast(pl.Series(values), "GB")
        for v, e164, decided in zip(values, fast.e164, fast.decided, strict=True):
            if decided:
                assert customers.clean_phone(v, "GB")[0] == e164

    def test_emails(self) -> None:
        """Every email the fast path accepts, email-validator accepts with the same form."""
        rng = random.Random(9)
        alphabet = "abcXYZ019._%+-@!#'ü "
        values = [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(3, 20))) for _ in range(20_000)
        ]
        locals_ = ["Ana", "b.c", "x+y"]
        domains = ["Ex.COM", "a-b.io", "x.test", "ü.de", "a..b", "b.c0"]
        values += [f"{rng.choice(locals_)}@{rng.choice(domains)}" for _ in range(5000)]
        fast = email_fast(pl.Series(values))
        checked = 0
        for v, norm, decided in zip(values, fast.normalized, fast.decided, strict=True):
            if not decided:
                continue
            checked += 1
            assert (v, customers.clean_email(v)[0]) == (v, norm)
        assert checked > 1000


class TestGeneratorTruth:
    def test_the_pipeline_agrees_with_the_generated_truth(self, tmp_path: Path) -> None:
        """On a seeded messy file, every row's status, reject code and clean values match the
        truth written beside it."""
        made = generate(6000, seed=3, out_dir=tmp_path)
        df, _ = cleaned(made.data)
        truth = pl.read_csv(made.truth, infer_schema=False)
        assert len(truth) == len(df)
        got = df.select(
            status=pl.when(pl.col("__errors").list.len() > 0)
            .then(pl.lit("reject"))
            .otherwise(pl.lit("ok")),
            code=pl.col("__errors").list.first().struct.field("code").fill_null(""),
            name=pl.col("__name").fill_null(""),
            email=pl.col("__email").fill_null(""),
            phone=pl.col("__phone").fill_null(""),
        )
        want = truth.select(
            "status",
            code=pl.col("reject_code").fill_null(""),
            name=pl.col("name").fill_null(""),
            email=pl.col("email").fill_null(""),
            phone=pl.col("phone").fill_null(""),
        )
        assert want["status"].to_list() == got["status"].to_list()
        assert want["code"].to_list() == got["code"].to_list()
        ok = want["status"] == "ok"
        for col in ("name", "email", "phone"):
            assert want[col].filter(ok).to_list() == got[col].filter(ok).to_list()
        kinds = set(truth["kind"].to_list())
        assert {
            "typo",
            "swapped_names",
            "nickname",
            "phone_format",
            "missing_fields",
            "email_domain",
        } <= kinds


class TestProgress:
    """The import's progress: records read so far, and about how many the file has."""

    def _estimate(self, path: Path) -> int | None:
        with data.open_source(path) as source:
            return data.estimate_rows(source)

    def test_a_small_file_is_counted_and_a_big_one_estimated(self, tmp_path: Path) -> None:
        small = write(tmp_path, "s.csv", "Name,Email\nAna,a@x.io\nBo,b@x.io\nCy,c@x.io")
        assert 3 == self._estimate(small)
        rng = random.Random(3)
        rows = "".join(f"{'x' * rng.randint(5, 40)},{i}@example.org\n" for i in range(120_000))
        big = write(tmp_path, "b.csv", "Name,Email\n" + rows)
        estimate = self._estimate(big)
        assert estimate is not None and abs(estimate - 120_000) < 120_000 * 0.05
        lines = write(tmp_path, "j.jsonl", '{"Name": "Ana"}\n{"Name": "Bo"}\n')
        assert 2 == self._estimate(lines)

    def test_parquet_is_exact_and_xlsx_unknown(self, tmp_path: Path) -> None:
        parquet = tmp_path / "p.parquet"
        pl.DataFrame({"Name": [f"N{i}" for i in range(1234)]}).write_parquet(parquet)
        assert 1234 == self._estimate(parquet)
        import xlsxwriter

        xlsx = tmp_path / "x.xlsx"
        wb = xlsxwriter.Workbook(str(xlsx))
        ws = wb.add_worksheet()
        ws.write(0, 0, "Name")
        ws.write(1, 0, "Ana")
        wb.close()
        assert self._estimate(xlsx) is None

    def test_the_import_tells_rows_read_and_the_total(self, hub: Hub, tmp_path: Path) -> None:
        rows = "".join(f"Person {i},p{i}@example.org\n" for i in range(2500))
        path = write(tmp_path, "p.csv", "Name,Email\n" + rows)
        told: list[tuple[int, int | None]] = []
        hub.import_file(
            path,
            ImportOptions(batch_rows=1000),
            progress=lambda n, total: told.append((n, total)),
        )
        assert [(1000, 2500), (2000, 2500), (2500, 2500)] == told
