"""The import pages on both databases: upload → preview → import → result with the rejects
file, the list with Revert, CSRF on every form, and a viewer's read-only view."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from .conftest import Team, login
from .test_web_imports_api import GOOD_AND_BAD, upload


@pytest.fixture
def agent(team: Team, tmp_path: Path) -> tuple[TestClient, str]:
    team.client.app.state.import_dir = tmp_path / "imports"  # type: ignore[attr-defined]
    csrf = login(team.client, team["agent"].user.email)
    return team.client, csrf


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, html
    return found.group(1)


class TestImportPages:
    def test_upload_preview_import_result_and_rejects(
        self, team: Team, agent: tuple[TestClient, str]
    ) -> None:
        """The whole flow through plain forms, no JavaScript needed."""
        client, csrf = agent
        page = client.get("/imports")
        assert 200 == page.status_code
        assert 'enctype="multipart/form-data"' in page.text
        assert '<label for="file">' in page.text
        r = client.post("/imports/preview", data={"csrf_token": csrf}, files=upload())
        assert 200 == r.status_code, r.text
        assert "2 imported + 0 updated + 0 unchanged + 1 rejected = 3 rows read" in r.text
        assert "not-an-email" in r.text and 'data-row="2"' in r.text
        assert [] == team.hub.list_imports()
        done = client.post(
            "/imports/commit",
            data={
                "csrf_token": csrf,
                "upload": hidden(r.text, "upload"),
                "on_conflict": hidden(r.text, "on_conflict"),
            },
            follow_redirects=False,
        )
        assert 303 == done.status_code, done.text
        result = client.get(done.headers["location"])
        assert "2 imported + 0 updated + 0 unchanged + 1 rejected = 3 rows read" in result.text
        link = re.search(r'href="(/imports/\d+/rejects\.csv)"', result.text)
        assert link is not None
        rejects = client.get(link.group(1))
        assert 200 == rejects.status_code
        assert rejects.text.startswith("row,column,code,message,Full Name,E-mail,Phone Number")
        assert "Bad Row" in rejects.text

    def test_past_the_row_limit_the_page_says_use_the_cli(
        self, team: Team, agent: tuple[TestClient, str]
    ) -> None:
        """A preview past ``import_job_max_rows`` is the upload page again (413) with one
        line that says to use the CLI or split the file; nothing stays staged."""
        client, csrf = agent
        team.hub.settings.import_job_max_rows = 2
        r = client.post("/imports/preview", data={"csrf_token": csrf}, files=upload())
        assert 413 == r.status_code
        assert "people.csv: more than 2 rows" in r.text and "split the file" in r.text
        staged = Path(client.app.state.import_dir) / "uploads"  # type: ignore[attr-defined]
        assert [] == (list(staged.iterdir()) if staged.exists() else [])

    def test_reject_duplicates_is_carried_from_the_form_to_the_result(
        self, team: Team, agent: tuple[TestClient, str]
    ) -> None:
        """By default a likely duplicate is imported and listed; the checkbox (reject them)
        goes through the preview to the import."""
        from .test_web_imports_api import DOUBLES

        client, csrf = agent
        page = client.get("/imports")
        assert 'name="reject_duplicates"' in page.text
        flagged = client.post(
            "/imports/preview", data={"csrf_token": csrf}, files=upload(body=DOUBLES)
        )
        assert "2 imported + 0 updated + 0 unchanged + 0 rejected = 2 rows read" in flagged.text
        assert "Imported as possible duplicates" in flagged.text
        data = {"csrf_token": csrf, "reject_duplicates": "1"}
        r = client.post("/imports/preview", data=data, files=upload(body=DOUBLES))
        assert "1 imported + 0 updated + 0 unchanged + 1 rejected = 2 rows read" in r.text
        assert "1" == hidden(r.text, "reject_duplicates")
        done = client.post(
            "/imports/commit",
            data={"csrf_token": csrf, "upload": hidden(flagged.text, "upload")},
            follow_redirects=False,
        )
        assert 303 == done.status_code, done.text
        result = client.get(done.headers["location"])
        assert "Imported as possible duplicates" in result.text
        assert 'href="/customers/2"' in result.text
        assert "phone: same (+22.8)" in result.text
        assert 2 == team.hub.count_customers()

    def test_revert_from_the_list(self, team: Team, agent: tuple[TestClient, str]) -> None:
        client, csrf = agent
        r = client.post("/imports/preview", data={"csrf_token": csrf}, files=upload())
        client.post(
            "/imports/commit", data={"csrf_token": csrf, "upload": hidden(r.text, "upload")}
        )
        [batch] = team.hub.list_imports()
        listing = client.get("/imports")
        assert f'action="/imports/{batch.id}/revert"' in listing.text
        client.post(f"/imports/{batch.id}/revert", data={"csrf_token": csrf})
        assert "reverted" == team.hub.get_import(batch.id).status

    def test_too_many_rejects_imports_nothing_and_says_why(
        self, team: Team, agent: tuple[TestClient, str]
    ) -> None:
        """Past "max errors" the import is refused on the form, with no server path shown."""
        client, csrf = agent
        r = client.post("/imports/preview", data={"csrf_token": csrf}, files=upload())
        token = hidden(r.text, "upload")
        done = client.post(
            "/imports/commit", data={"csrf_token": csrf, "upload": token, "max_errors": "0"}
        )
        assert 422 == done.status_code
        assert "more than 0 rows rejected" in done.text
        assert token not in done.text
        assert [] == team.hub.list_imports()

    def test_forms_without_csrf_are_refused(
        self, team: Team, agent: tuple[TestClient, str]
    ) -> None:
        client, _ = agent
        assert 403 == client.post("/imports/preview", files=upload()).status_code
        assert 403 == client.post("/imports/commit", data={"upload": "x" * 30}).status_code

    def test_bad_file_shows_the_message_on_the_form(self, agent: tuple[TestClient, str]) -> None:
        client, csrf = agent
        r = client.post(
            "/imports/preview",
            data={"csrf_token": csrf},
            files={"file": ("notes.pdf", b"%PDF", "application/pdf")},
        )
        assert 422 == r.status_code
        assert "upload a CSV, TSV, XLSX or JSON Lines file" in r.text
        assert 'role="alert"' in r.text

    def test_viewer_sees_the_list_but_no_upload_or_revert(self, team: Team, tmp_path: Path) -> None:
        team.client.app.state.import_dir = tmp_path  # type: ignore[attr-defined]
        team.hub.import_file(_write(tmp_path / "a.csv"))
        csrf = login(team.client, team["viewer"].user.email)
        page = team.client.get("/imports")
        assert "a.csv" in page.text
        assert "/revert" not in page.text and 'type="file"' not in page.text
        r = team.client.post("/imports/preview", data={"csrf_token": csrf}, files=upload())
        assert 403 == r.status_code

    def test_nav_links_to_imports(self, agent: tuple[TestClient, str]) -> None:
        client, _ = agent
        assert '<a href="/imports">Import</a>' in client.get("/customers").text


def _write(path: Path) -> Path:
    path.write_text(GOOD_AND_BAD, encoding="utf-8")
    return path
