"""Export from the web (issue 17, item 8), in-process on SQLite and PostgreSQL: the customers
list exports its current search, the queue its current view and filters, as CSV or XLSX,
through the export code with its formula protection; and the tickets export in the API."""

from __future__ import annotations

import csv
import io
import re

import openpyxl

from customer_flow.customers.models import CustomerCreate
from customer_flow.tickets.models import TicketCreate

from .conftest import Team, login
from .tickets_web_support import desk


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


class TestCustomersExport:
    def test_the_current_search_as_csv_and_xlsx(self, team: Team) -> None:
        team.hub.add_customer(CustomerCreate(name="=HYPERLINK(1) Rita", email="rita@x.pt"))
        team.hub.add_customer(CustomerCreate(name="Bo Other", email="bo@x.pt"))
        login(team.client, "viewer@team.example.org")
        page = team.client.get("/customers", params={"search": "rita"})
        link = re.search(r'href="(/customers/export\?[^"]+format=csv[^"]*)"', page.text)
        assert link is not None
        r = team.client.get(link.group(1).replace("&amp;", "&"))
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert 'filename="customers.csv"' in r.headers["content-disposition"]
        rows = _csv(r.text)
        assert ["ID", "Name", "Email", "Phone"] == rows[0][:4]
        assert [["'=HYPERLINK(1) Rita", "rita@x.pt"]] == [row[1:3] for row in rows[1:]]
        r = team.client.get("/customers/export", params={"format": "xlsx", "search": "rita"})
        sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
        assert sheet is not None
        values = [[c.value for c in row] for row in sheet.iter_rows()]
        assert "=HYPERLINK(1) Rita" == values[1][1]  # text, not a formula
        assert sheet.cell(2, 2).data_type == "s"

    def test_a_bad_format_and_no_login(self, team: Team) -> None:
        r = team.client.get("/customers/export", follow_redirects=False)
        assert r.status_code in (302, 303) and "/login" in r.headers["location"]
        login(team.client, "viewer@team.example.org")
        r = team.client.get("/customers/export", params={"format": "exe"})
        assert r.status_code == 422


class TestTicketsExport:
    def test_the_current_view_every_page(self, team: Team) -> None:
        cid = desk(team)

        def open_(**kw: object) -> int:
            new = {"customer_id": cid, "type": "question", **kw}
            return team.hub.open_ticket(TicketCreate.model_validate(new)).id

        mine = [open_(subject=f"=cmd{i}", assignee="agent") for i in range(30)]
        open_(subject="someone else's")
        login(team.client, "agent@team.example.org")
        page = team.client.get("/tickets", params={"view": "mine"})
        link = re.search(r'href="(/tickets/export\?[^"]*format=csv[^"]*)"', page.text)
        assert link is not None and "view=mine" in link.group(1)
        r = team.client.get(link.group(1).replace("&amp;", "&"))
        assert r.status_code == 200
        rows = _csv(r.text)
        assert "Subject" == rows[0][3]
        assert mine == [int(row[0]) for row in rows[1:]]  # all 30, past the page of 25
        assert {f"'=cmd{i}" for i in range(30)} == {row[3] for row in rows[1:]}
        r = team.client.get("/tickets/export", params={"view": "mine", "format": "xlsx"})
        sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
        assert sheet is not None and 31 == sheet.max_row
        assert "=cmd0" == sheet.cell(2, 4).value and sheet.cell(2, 4).data_type == "s"

    def test_the_api(self, team: Team) -> None:
        cid = desk(team)
        team.hub.open_ticket(TicketCreate(customer_id=cid, type="question", subject="@SUM(A1)"))
        r = team.client.get(
            "/api/v1/exports/tickets", params={"format": "csv"}, headers=team["viewer"].headers
        )
        assert r.status_code == 200
        assert "'@SUM(A1)" == _csv(r.text)[1][3]
        r = team.client.get("/api/v1/exports/tickets", params={"format": "pdf"},
                            headers=team["viewer"].headers)  # fmt: skip
        assert r.status_code == 422

    def test_the_api_takes_the_ticket_lists_filters_and_sort(self, team: Team) -> None:
        """The export's query parameters are the list's, less its paging, down to each one's
        rules (one definition serves both), and a filter narrows the export as the list."""
        spec = team.client.app.openapi()  # type: ignore[attr-defined]

        def params(path: str, skip: set[str]) -> dict[str, object]:
            found = spec["paths"][path]["get"]["parameters"]
            return {p["name"]: p["schema"] for p in found if p["name"] not in skip}

        listed = params("/api/v1/tickets", {"limit", "after", "saved_view"})
        exported = params("/api/v1/exports/tickets", {"format"})
        assert len(listed) == 12 and {"type", "status", "sla", "sort"} <= listed.keys()
        assert listed == exported
        cid = desk(team)
        for subject, priority in (("Low one", "low"), ("High one", "high")):
            team.hub.open_ticket(
                TicketCreate(customer_id=cid, type="question", subject=subject, priority=priority)
            )
        query = {"priority": "high", "sort": "-id"}
        headers = team["viewer"].headers
        on_list = team.client.get("/api/v1/tickets", params=query, headers=headers).json()
        exported_rows = _csv(
            team.client.get("/api/v1/exports/tickets", params=query, headers=headers).text
        )
        assert ["High one"] == [t["subject"] for t in on_list["items"]]
        assert ["High one"] == [row[3] for row in exported_rows[1:]]
