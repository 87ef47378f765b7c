"""The imports API on both databases: preview, import, list, read, revert, rejects files,
the upload limit and unsupported files."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import time
from pathlib import Path
from time import process_time

import pytest
from fastapi.testclient import TestClient

import xlsx_support
from customer_flow.core.config import Settings
from customer_flow.data import staging
from customer_flow.hub import Hub
from customer_flow.web import uploads
from customer_flow.web.app import create_app

from .conftest import Team

GOOD_AND_BAD = (
    "Full Name,E-mail,Phone Number\n"
    "ada lovelace,ADA@Example.COM,+44 20 7946 0000\n"
    "Bad Row,not-an-email,\n"
    "  Grace   Hopper ,grace@example.com,\n"
)


def upload(name: str = "people.csv", body: str = GOOD_AND_BAD) -> dict[str, tuple[str, bytes, str]]:
    return {"file": (name, body.encode(), "text/csv")}


@pytest.fixture
def client(team: Team, tmp_path: Path) -> TestClient:
    team.client.app.state.import_dir = tmp_path / "imports"  # type: ignore[attr-defined]
    return team.client


class TestPreview:
    def test_preview_counts_cleaning_and_row_problems(self, team: Team, client: TestClient) -> None:
        """A dry run reports the balance, the cleaning counts and the bad row's problem."""
        r = client.post("/api/v1/imports/preview", files=upload(), headers=team["agent"].headers)
        assert 200 == r.status_code, r.text
        body = r.json()
        report = body["report"]
        assert (3, 2, 1) == (report["rows_read"], report["imported"], report["rejected"])
        assert (
            report["imported"] + report["updated"] + report["unchanged"] + report["rejected"]
            == report["rows_read"]
        )
        assert report["cleaning"], report
        assert report["rejects_file"] is None
        [problem] = report["rejects"]
        assert (2, "E-mail") == (problem["row"], problem["column"])
        assert 0 == len(team.hub.list_imports())
        rejects = client.get(body["rejects_url"], headers=team["agent"].headers)
        assert 200 == rejects.status_code
        rows = list(csv.reader(io.StringIO(rejects.text)))
        assert ["row", "column", "code", "message"] == rows[0][:4]
        assert "Bad Row" in rows[1]

    def test_preview_token_belongs_to_its_uploader(self, team: Team, client: TestClient) -> None:
        """Another agent cannot import or read someone else's staged upload."""
        r = client.post("/api/v1/imports/preview", files=upload(), headers=team["agent"].headers)
        token = r.json()["upload"]
        other = client.post(
            "/api/v1/imports", data={"upload": token}, headers=team["agent2"].headers
        )
        assert 404 == other.status_code
        assert "upload_not_found" == other.json()["code"]
        assert (
            404 == client.get(r.json()["rejects_url"], headers=team["agent2"].headers).status_code
        )

    def test_a_file_named_like_a_rejects_file_is_read_as_itself(
        self, team: Team, client: TestClient
    ) -> None:
        """The upload's name cannot clash with the rejects file written beside it."""
        h = team["agent"].headers
        r = client.post("/api/v1/imports/preview", files=upload("preview.rejects.csv"), headers=h)
        assert 200 == r.status_code, r.text
        assert (3, 1) == (r.json()["report"]["rows_read"], r.json()["report"]["rejected"])
        assert "preview.rejects.csv" == r.json()["report"]["source"]

    def test_an_expired_upload_is_gone_and_swept(
        self, team: Team, client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """Past its time to live a staged upload cannot be imported, and the next upload
        removes its folder."""
        h = team["agent"].headers
        token = client.post("/api/v1/imports/preview", files=upload(), headers=h).json()["upload"]
        folder = tmp_path / "imports" / "uploads" / token
        assert folder.is_dir()
        monkeypatch.setattr(staging, "PREVIEW_TTL", -10)
        r = client.post("/api/v1/imports", data={"upload": token}, headers=h)
        assert ("upload_not_found", 404) == (r.json()["code"], r.status_code)
        client.post("/api/v1/imports/preview", files=upload(), headers=h)
        assert not folder.exists()
        assert [] == team.hub.list_imports()

    def test_png_renamed_csv_is_a_clear_422(self, team: Team, client: TestClient) -> None:
        png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
        r = client.post(
            "/api/v1/imports/preview",
            files={"file": ("photo.csv", png, "text/csv")},
            headers=team["agent"].headers,
        )
        assert 422 == r.status_code, r.text
        assert "binary_file" == r.json()["code"]

    def test_unknown_extension_is_a_clear_422(self, team: Team, client: TestClient) -> None:
        r = client.post(
            "/api/v1/imports/preview",
            files={"file": ("report.pdf", b"%PDF-1.4", "application/pdf")},
            headers=team["agent"].headers,
        )
        assert 422 == r.status_code
        assert "unsupported_file" == r.json()["code"]
        assert "report.pdf" in r.json()["detail"]

    def test_upload_over_the_limit_is_413_naming_it(
        self, web_hub, tmp_path: Path, team: Team
    ) -> None:  # type: ignore[no-untyped-def]
        """The body limit refuses a big upload with 413 and says the limit."""
        web_hub.settings.max_upload_bytes = 4096
        small = TestClient(create_app(hub=web_hub))
        big = "Name,Email\n" + "x,y@example.com\n" * 1000
        r = small.post(
            "/api/v1/imports/preview", files=upload(body=big), headers=team["agent"].headers
        )
        assert 413 == r.status_code
        assert "too_large" == r.json()["code"]
        assert "4096 bytes" in r.json()["detail"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


class TestStaging:
    """Staged uploads and kept rejects files hold personal data: private folders and files
    under the app's data folder, and stale previews swept."""

    def test_folders_are_0700_and_files_0600(self, team: Team, client: TestClient) -> None:
        """Preview, then import: every folder and file of the staging area is owner-only."""
        base = Path(client.app.state.import_dir)  # type: ignore[attr-defined]
        h = team["agent"].headers
        old = os.umask(0o022)  # the usual umask, which gave 0755/0644 before
        try:
            token = client.post("/api/v1/imports/preview", files=upload(), headers=h).json()[
                "upload"
            ]
            staged = base / "uploads" / token
            assert (staged / "preview.rejects.csv").exists()
            found = sorted(base.rglob("*"))
            assert {base / "uploads", staged, staged / "file"} <= set(found)
            for path in [base, *found]:
                assert (0o700 if path.is_dir() else 0o600) == _mode(path), path
            r = client.post("/api/v1/imports", data={"upload": token}, headers=h)
            assert 201 == r.status_code, r.text
        finally:
            os.umask(old)
        kept = base / "batches" / str(r.json()["batch_id"])
        assert {"rejects.csv", "report.json"} == {p.name for p in kept.iterdir()}
        for path in [base / "batches", kept, *kept.iterdir()]:
            assert (0o700 if path.is_dir() else 0o600) == _mode(path), path

    def test_default_folder_is_in_the_user_data_folder(
        self, team: Team, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """Without a folder set, uploads are staged under the user data folder (platformdirs),
        one folder per database, not in the shared temp directory."""
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
        app = create_app(hub=team.hub)
        r = TestClient(app).post(
            "/api/v1/imports/preview", files=upload(), headers=team["agent"].headers
        )
        assert 200 == r.status_code, r.text
        [key] = (tmp_path / "data" / "customer-flow" / "imports").iterdir()
        assert (key / "uploads" / r.json()["upload"]).is_dir()
        assert Path(app.state.import_dir) == key
        assert 0o700 == _mode(key)

    def test_the_import_dir_setting_is_used(
        self, team: Team, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("CUSTOMER_FLOW_IMPORT_DIR", str(tmp_path / "staging"))
        settings = Settings(database_url=team.hub.settings.database_url)
        assert tmp_path / "staging" == settings.resolved_import_dir()
        with Hub(settings) as hub:
            token = (
                TestClient(create_app(hub=hub))
                .post("/api/v1/imports/preview", files=upload(), headers=team["agent"].headers)
                .json()["upload"]
            )
        assert (tmp_path / "staging" / "uploads" / token / "owner.json").exists()

    def test_only_stale_previews_are_swept(self, team: Team, client: TestClient) -> None:
        """The next upload removes the previews older than the time to live, and only them."""
        base = Path(client.app.state.import_dir)  # type: ignore[attr-defined]
        h = team["agent"].headers
        stale = client.post("/api/v1/imports/preview", files=upload(), headers=h).json()["upload"]
        fresh = client.post("/api/v1/imports/preview", files=upload(), headers=h).json()["upload"]
        hour_ago = time.time() - uploads.PREVIEW_TTL - 60
        os.utime(base / "uploads" / stale, (hour_ago, hour_ago))
        third = client.post("/api/v1/imports/preview", files=upload(), headers=h).json()["upload"]
        assert {fresh, third} == {p.name for p in (base / "uploads").iterdir()}


_BOMB_PREVIEW = """
hub = Hub(Settings(database_url={url!r}, password_memory_kib=19456, password_time_cost=2))
user = hub.add_user(UserCreate(email="a@team.example.org", name="a", role="agent",
                               password="correct horse battery"))
token = hub.create_token("t", user_id=user.id).token
client = TestClient(create_app(hub=hub))
client.app.state.import_dir = {folder!r}
with open({path!r}, "rb") as fh:
    r = client.post("/api/v1/imports/preview", files={{"file": ("bomb.xlsx", fh, "x")}},
                    headers={{"Authorization": "Bearer " + token}})
print(r.status_code)
print(r.text)
"""


class TestLimits:
    """Issue 15: an XLSX bomb, and a file of 2,000,000 rows, cost the server little."""

    def test_xlsx_bomb_is_a_422_problem_in_bounded_memory(
        self, db_url: str, xlsx_bomb: Path, tmp_path: Path
    ) -> None:
        """A 1 MB upload that unpacks to 1 GiB is refused from the ZIP directory: a problem
        naming the part, and the server's memory hardly moves (measured in a process of its
        own: openpyxl took one from 318 MB to 22.7 GB)."""
        code = _BOMB_PREVIEW.format(url=db_url, folder=str(tmp_path), path=str(xlsx_bomb))
        proc, grew = xlsx_support.run_measured(
            code,
            warm="from fastapi.testclient import TestClient\n"
            "from customer_flow.core.config import Settings\n"
            "from customer_flow.hub import Hub\n"
            "from customer_flow.users.models import UserCreate\n"
            "from customer_flow.web.app import create_app",
            tmp_path=tmp_path,
        )
        assert 0 == proc.returncode, proc.stderr[-3000:]
        status, body = proc.stdout.split("\n", 1)
        problem = json.loads(body)
        assert ("422", "xlsx_too_large") == (status, problem["code"])
        assert "xl/sharedStrings.xml unpacks to 1,073,7" in problem["detail"]
        assert grew < 150, f"peak memory grew {grew:.0f} MB"

    def test_preview_and_import_past_the_row_limit_are_413(
        self, team: Team, client: TestClient
    ) -> None:
        """The web reads at most ``web_import_max_rows`` rows: past it, a 413 problem that says
        to use the CLI or split the file, and nothing is imported or staged."""
        team.hub.settings.web_import_max_rows = 3
        h = team["agent"].headers
        ok = client.post("/api/v1/imports/preview", files=upload(), headers=h)
        assert 200 == ok.status_code, ok.text
        four = GOOD_AND_BAD + "Alan Turing,alan@example.com,\n"
        for url in ("/api/v1/imports/preview", "/api/v1/imports"):
            r = client.post(url, files=upload(body=four), headers=h)
            assert (413, "too_many_rows") == (r.status_code, r.json()["code"]), r.text
            assert "more than 3 rows" in r.json()["detail"]
            assert "customer-flow import" in r.json()["detail"]
        assert [] == team.hub.list_imports()
        base = Path(client.app.state.import_dir)  # type: ignore[attr-defined]
        assert [ok.json()["upload"]] == [p.name for p in (base / "uploads").iterdir()]

    def test_a_2m_row_xlsx_preview_costs_seconds_not_minutes(
        self, team: Team, client: TestClient, tmp_path: Path
    ) -> None:
        """2,000,000 one-cell rows (row numbers written, so no ratio check stops it; 103 s of
        CPU a preview before): refused at the default 100,000-row limit in a few seconds."""
        path = xlsx_support.many_rows(tmp_path / "rows.xlsx", rows=2_000_000, numbered=True)
        started = process_time()
        with path.open("rb") as fh:
            r = client.post(
                "/api/v1/imports/preview",
                files={"file": ("rows.xlsx", fh, "application/octet-stream")},
                data={"mapping": "x=Name"},  # the one column's header is "x"
                headers=team["agent"].headers,
            )
        spent = process_time() - started
        assert (413, "too_many_rows") == (r.status_code, r.json()["code"]), r.text
        assert "more than 100,000 rows" in r.json()["detail"]
        assert spent < 20, f"{spent:.1f} s of CPU"


class TestCommit:
    def test_previewed_upload_imports_and_keeps_rejects(
        self, team: Team, client: TestClient
    ) -> None:
        """The token imports the previewed file; the batch's rejects file is downloadable."""
        h = team["agent"].headers
        token = client.post("/api/v1/imports/preview", files=upload(), headers=h).json()["upload"]
        r = client.post("/api/v1/imports", data={"upload": token}, headers=h)
        assert 201 == r.status_code, r.text
        result = r.json()
        assert (2, 1) == (result["report"]["imported"], result["report"]["rejected"])
        batch = client.get(f"/api/v1/imports/{result['batch_id']}", headers=team["viewer"].headers)
        assert "people.csv" == batch.json()["source"]
        rejects = client.get(result["rejects_url"], headers=team["viewer"].headers)
        assert 200 == rejects.status_code
        assert "not-an-email" in rejects.text
        again = client.post("/api/v1/imports", data={"upload": token}, headers=h)
        assert 404 == again.status_code  # the staged file went with the import

    def test_direct_upload_with_options_and_revert(self, team: Team, client: TestClient) -> None:
        h = team["admin"].headers
        body = "Who,Mail\nAda Lovelace,ada@example.com\n"
        r = client.post(
            "/api/v1/imports",
            files=upload(body=body),
            data={"mapping": ["Who=Name", "Mail=Email"], "on_conflict": "update"},
            headers=h,
        )
        assert 201 == r.status_code, r.text
        batch_id = r.json()["batch_id"]
        assert r.json()["rejects_url"] is None
        listed = client.get("/api/v1/imports", headers=team["viewer"].headers).json()
        assert [batch_id] == [b["id"] for b in listed]
        reverted = client.post(f"/api/v1/imports/{batch_id}/revert", headers=h)
        assert "reverted" == reverted.json()["status"]
        assert 409 == client.post(f"/api/v1/imports/{batch_id}/revert", headers=h).status_code
        assert 404 == client.get(f"/api/v1/imports/{batch_id}/rejects", headers=h).status_code

    def test_max_errors_refuses_all_and_hides_server_paths(
        self, team: Team, client: TestClient
    ) -> None:
        h = team["agent"].headers
        r = client.post("/api/v1/imports", files=upload(), data={"max_errors": "0"}, headers=h)
        assert 422 == r.status_code
        assert "too_many_errors" == r.json()["code"]
        assert "/" not in r.json()["detail"].split("by row")[-1]
        assert [] == team.hub.list_imports()

    def test_bad_mapping_and_no_file_are_422(self, team: Team, client: TestClient) -> None:
        h = team["agent"].headers
        r = client.post("/api/v1/imports", files=upload(), data={"mapping": "oops"}, headers=h)
        assert ("bad_mapping", 422) == (r.json()["code"], r.status_code)
        assert 422 == client.post("/api/v1/imports", headers=h).status_code

    def test_viewer_may_not_import(self, team: Team, client: TestClient) -> None:
        r = client.post("/api/v1/imports", files=upload(), headers=team["viewer"].headers)
        assert 403 == r.status_code
        assert [] == team.hub.list_imports()


DOUBLES = (
    "Full Name,E-mail,Phone Number\n"
    "Ada Lovelace,ada@lovelace.io,+44 20 7946 0000\n"
    '"Lovelace, Ada",countess@lovelace.io,+44 20 7946 0000\n'
)


class TestPossibleDuplicates:
    def test_imported_flagged_by_default_rejected_with_reject_duplicates(
        self, team: Team, client: TestClient
    ) -> None:
        """Row 2 is row 1's person ("Last, First", the same phone): with reject_duplicates a
        possible_duplicate reject naming row 1; by default it is imported, and the report
        lists it with its candidate."""
        h = team["agent"].headers
        r = client.post(
            "/api/v1/imports/preview",
            files=upload(body=DOUBLES),
            data={"reject_duplicates": "true"},
            headers=h,
        )
        report = r.json()["report"]
        assert (1, 1, 1) == (report["imported"], report["rejected"], report["possible_duplicates"])
        [problem] = report["rejects"]
        assert ("possible_duplicate", 2) == (problem["code"], problem["row"])
        assert (
            "row 1 of this file (Ada Lovelace), probability 1.000: phone: same (+"
            in (problem["message"])
        )
        r = client.post("/api/v1/imports", files=upload(body=DOUBLES), headers=h)
        assert 201 == r.status_code, r.text
        report = r.json()["report"]
        assert (2, 0) == (report["imported"], report["rejected"])
        [listed] = report["duplicates"]
        assert (2, 2) == (listed["row"], listed["id"])
        assert [(1, 1)] == [(c["id"], c["row"]) for c in listed["candidates"]]
        assert ["possible_duplicate"] == [
            w["code"] for w in team.hub.get_customer(2).model_dump()["warnings"]
        ]
