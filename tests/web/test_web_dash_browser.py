"""The reports dashboard and the duplicates review queue in a real Chromium (the fixtures and
launch flags of ``test_web_browser``): review a pair side by side, pick a field from the other
record, merge, see the survivor and undo; the dashboard draws its charts under the strict CSP;
payloads in duplicate candidates' names show as text; no sideways scroll on a narrow screen.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from customer_flow.customers.models import CustomerCreate
from customer_flow.tickets.models import TicketCreate

from .test_web_browser import (
    PAYLOADS,
    Server,
    _assert_no_sideways_scroll,
    _login,
    browser,
    page,
    server,
)

__all__ = ["browser", "page", "server"]  # the fixtures, re-used

pytestmark = pytest.mark.browser


def _pair(server: Server, name: str, other_name: str, phone: str, email: str) -> tuple[int, int]:
    a = server.hub.add_customer(CustomerCreate(name=name, phone=phone))
    b = server.hub.add_customer(
        CustomerCreate(name=other_name, phone=phone, email=email), allow_duplicate=True
    )
    return a.id, b.id


def _csp_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return errors


class TestReviewQueue:
    def test_review_side_by_side_pick_a_field_merge_see_the_survivor_and_undo(
        self, page: Any, server: Server
    ) -> None:
        from playwright.sync_api import expect

        a, b = _pair(server, "Marta Reis", "Reis, Marta", "+351 914 000 222", "marta@work.pt")
        _login(page, server)
        page.get_by_role("link", name="Duplicates").click()
        card = page.locator(f'#queue li[data-ids="{a},{b}"]')
        expect(card).to_contain_text("Marta Reis")
        expect(card).to_contain_text("Reis, Marta")
        card.get_by_role("link", name="Review").click()
        # Side by side, with the evidence per field.
        table = page.locator("#side-by-side")
        expect(table.locator('tr[data-field="name"]')).to_contain_text("Marta Reis")
        expect(table.locator('tr[data-field="name"]')).to_contain_text("Reis, Marta")
        expect(page.locator(f'section[data-pair="{a}-{b}"]')).to_contain_text("phone")
        # Keep the first record, but take the name from the other one.
        expect(page.get_by_label(f"keep #{a}")).to_be_checked()
        page.get_by_label(f"name from #{b}").check()
        page.get_by_role("button", name="Merge").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text(f"Merged into #{a}")
        survivor = page.locator("#survivor")
        expect(survivor).to_contain_text("Reis, Marta")
        expect(survivor).to_contain_text("marta@work.pt")  # the only email, kept
        assert server.hub.get_customer(a).name == "Reis, Marta"
        assert server.hub.get_customer(b).in_trash
        # The survivor's own page.
        page.get_by_role("link", name=f"#{a}").first.click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Reis, Marta")
        # Undo from the list of merges.
        page.goto(f"{server.url}/duplicates/merges")
        merge_id = server.hub.list_merges()[0].id
        page.locator(f'tr[data-merge="{merge_id}"]').get_by_role("button", name="Undo").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Merge {merge_id} undone")
        assert server.hub.get_customer(a).name == "Marta Reis"
        assert not server.hub.get_customer(b).in_trash

    def test_not_a_duplicate_removes_the_pair_from_the_queue(
        self, page: Any, server: Server
    ) -> None:
        from playwright.sync_api import expect

        a, b = _pair(server, "Tiago Luz", "Luz, Tiago", "+351 915 000 333", "tiago@luz.pt")
        _login(page, server)
        page.goto(f"{server.url}/duplicates/review?ids={a}&ids={b}")
        page.get_by_role("button", name="Not a duplicate").click()
        expect(page).to_have_url(f"{server.url}/duplicates")
        expect(page.locator(f'#queue li[data-ids="{a},{b}"]')).to_have_count(0)
        page.reload()
        expect(page.locator(f'li[data-ids="{a},{b}"]')).to_have_count(0)


class TestDashboard:
    def test_charts_are_drawn_under_the_csp_and_the_form_changes_the_period(
        self, page: Any, server: Server
    ) -> None:
        from playwright.sync_api import expect

        hub = server.hub
        kind = hub.list_ticket_types()[0].key if hub.list_ticket_types() else None
        if kind is not None:
            c = hub.add_customer(CustomerCreate(name="Chart Person"))
            hub.open_ticket(TicketCreate(customer_id=c.id, type=kind, subject="chart me"))
        errors = _csp_errors(page)
        _login(page, server)
        page.get_by_role("link", name="Reports").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Reports")
        expect(page.locator("canvas#tickets-over-time")).to_be_visible()
        # Chart.js drew on every canvas that has data (an instance is attached by reports.js).
        drawn = page.evaluate(
            """() => [...document.querySelectorAll('canvas')]
                 .filter(c => c.__chart && c.width > 0).map(c => c.id)"""
        )
        assert "tickets-over-time" in drawn and "customer-growth" in drawn
        # Interactive: hovering a point shows its tooltip.
        page.locator("canvas#tickets-over-time").hover()
        active = page.evaluate(
            "() => document.getElementById('tickets-over-time').__chart.tooltip.opacity"
        )
        assert active > 0
        page.get_by_label("Group by").select_option("type")
        page.get_by_role("button", name="Show").click()
        expect(page).to_have_url(re.compile(r"/reports\?.*group_by=type"))
        expect(page.locator("table[data-table=tickets] thead")).to_contain_text("type")
        link = (
            page.locator("#backlog-age-title")
            .locator("..")
            .get_by_role("link", name="Download CSV")
        )
        with page.expect_download() as info:
            link.click()
        assert info.value.suggested_filename.startswith("report-backlog_age-")
        assert errors == []

    def test_the_period_form_works_without_javascript(self, browser: Any, server: Server) -> None:
        from playwright.sync_api import expect

        context = browser.new_context(java_script_enabled=False)
        p = context.new_page()
        try:
            _login(p, server)
            p.goto(f"{server.url}/reports")
            p.get_by_label("Since").fill("2026-11-20")
            p.get_by_label("Until").fill("2026-11-02")
            p.get_by_role("button", name="Show").click()
            expect(p.get_by_role("alert")).to_contain_text("at or after it ends")
            p.get_by_label("Since").fill("2026-01-01")
            p.get_by_label("Until").fill("2026-01-31")
            p.get_by_role("button", name="Show").click()
            expect(p.locator("table[data-table=tickets]")).to_be_visible()
            expect(p.get_by_role("status")).to_contain_text("No tickets")
        finally:
            context.close()

    def test_narrow_screen_has_no_sideways_scroll(self, browser: Any, server: Server) -> None:
        _pair(server, "Nina Vaz", "Vaz, Nina", "+351 916 000 444", "nina@vaz.pt")
        context = browser.new_context(viewport={"width": 360, "height": 740})
        p = context.new_page()
        try:
            _login(p, server)
            ids = server.hub.find_duplicates().clusters[0].ids
            review = "/duplicates/review?" + "&".join(f"ids={i}" for i in ids)
            for path in ("/reports", "/duplicates", review, "/duplicates/merges"):
                p.goto(f"{server.url}{path}")
                _assert_no_sideways_scroll(p, path)
        finally:
            context.close()


class TestXssInTheQueue:
    @pytest.mark.parametrize("payload", PAYLOADS)
    def test_payloads_in_candidates_show_as_text_in_queue_and_side_by_side(
        self, page: Any, server: Server, payload: str
    ) -> None:
        """Names of likely duplicates carrying the payloads (emails cannot: they are
        validated) show as text in the queue, the side-by-side view, the evidence and the
        merge result; nothing runs (the page fixture fails on any dialog)."""
        from playwright.sync_api import expect

        n = PAYLOADS.index(payload)
        a, b = _pair(server, payload, payload, f"+351 917 000 55{n}", f"x{n}@payload.pt")
        _login(page, server)
        page.goto(f"{server.url}/duplicates")
        card = page.locator(f'#queue li[data-ids="{a},{b}"]')
        expect(card.locator(".name").first).to_have_text(payload)
        card.get_by_role("link", name="Review").click()
        expect(page.locator('tr[data-field="name"] .value').first).to_have_text(payload)
        expect(page.locator(f'section[data-pair="{a}-{b}"] h3')).to_contain_text(payload)
        page.get_by_role("button", name="Merge").click()
        expect(page.locator("#survivor")).to_contain_text(payload)
        assert page.locator("img[src=x]").count() == 0
        assert page.locator("main script").count() == 0
