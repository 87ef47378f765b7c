"""Without Chromium the browser tests skip with the reason, or fail when it is required."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import test_web_browser as browser_tests


class TestBrowserSkip:
    def test_missing_chromium_skips_with_the_reason(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(browser_tests, "CHROMIUM", Path("/nonexistent/chromium"))
        monkeypatch.setattr(browser_tests, "REQUIRE", False)
        with pytest.raises(pytest.skip.Exception, match="no Chromium at /nonexistent/chromium"):
            browser_tests._require_chromium()

    def test_missing_chromium_fails_when_required(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(browser_tests, "CHROMIUM", Path("/nonexistent/chromium"))
        monkeypatch.setattr(browser_tests, "REQUIRE", True)
        with pytest.raises(pytest.fail.Exception, match="CUSTOMER_FLOW_REQUIRE_BROWSER=1"):
            browser_tests._require_chromium()
