"""List pages built by script, rendered in the Chromium the project installs (``render: browser``).

Only list pages are rendered; articles are fetched over plain HTTP. Playwright drives Debian's
``/usr/bin/chromium`` (``executable_path``; never ``playwright install``: the product is offline),
headless, with the source's User-Agent. One browser serves a whole run.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

from ingest.base import FatalSourceError, RetriableSourceError

log = logging.getLogger(__name__)

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync"]


def find_chromium(configured: str | None = None) -> str:
    """The Chromium executable: ``configured``, else the first one installed."""
    for candidate in (configured, *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    raise FatalSourceError(
        "render: browser needs Chromium (apt-get install -y chromium) or options.chromium_path"
    )


class BrowserRenderer:
    """Renders pages to HTML after their scripts ran; use as a context manager."""

    def __init__(self, user_agent: str, timeout_s: float, chromium: str | None = None) -> None:
        self.user_agent = user_agent
        self.timeout_ms = int(timeout_s * 1000)
        self.chromium = chromium
        self._pw: Any = None
        self._browser: Any = None

    def __enter__(self) -> BrowserRenderer:
        from playwright.sync_api import sync_playwright  # loaded only for sources that render

        executable = find_chromium(self.chromium)
        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(
                executable_path=executable, args=LAUNCH_ARGS, headless=True
            )
        except Exception as exc:  # noqa: BLE001 - any launch failure is a configuration problem
            self._pw.stop()
            raise FatalSourceError(f"cannot start {executable}: {exc}") from None
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._pw is not None:
            self._pw.stop()

    def render(self, url: str) -> str:
        """The page's HTML once the network is idle; RetriableSourceError on time-out or load failure."""
        from playwright.sync_api import Error as PlaywrightError

        context = self._browser.new_context(user_agent=self.user_agent, java_script_enabled=True)
        try:
            page = context.new_page()
            response = page.goto(url, wait_until="networkidle", timeout=self.timeout_ms)
            if response is not None and response.status >= 400:
                raise RetriableSourceError(f"{url}: HTTP {response.status} in the browser")
            return str(page.content())
        except PlaywrightError as exc:
            raise RetriableSourceError(f"{url}: browser rendering failed: {exc}") from None
        finally:
            context.close()
