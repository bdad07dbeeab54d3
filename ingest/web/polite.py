"""Politeness: robots.txt (Protego) and a per-host request interval and concurrency limit.

robots.txt is read once per host and run (RFC 9309): a 2xx answer is parsed, any 4xx means
everything is allowed, and a 5xx answer or an unreachable host means nothing is allowed for
this run. A ``Crawl-delay`` longer than the configured interval is honoured.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
from protego import Protego

from ingest import http as web
from ingest.base import FatalSourceError, SourceError

log = logging.getLogger(__name__)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class RobotsRules:
    """The robots.txt of each host seen in one run."""

    def __init__(self, client: httpx.Client, policy: web.HttpPolicy, sleep: Callable[[float], None]) -> None:
        self.client = client
        self.policy = policy.model_copy(update={"retries": min(policy.retries, 1)})
        self.sleep = sleep
        self.agent = policy.user_agent
        self._rules: dict[str, Protego | bool] = {}

    def _load(self, host: str) -> Protego | bool:
        try:
            result = web.fetch(self.client, f"{host}/robots.txt", self.policy, sleep=self.sleep)
        except FatalSourceError as exc:
            if " HTTP 4" in str(exc):
                return True  # no robots.txt: everything is allowed
            log.warning("robots.txt of %s unusable (%s): not crawling it this run", host, exc)
            return False
        except SourceError as exc:
            log.warning("robots.txt of %s unreachable (%s): not crawling it this run", host, exc)
            return False
        return Protego.parse(result.content.decode("utf-8", errors="replace"))

    def rules(self, url: str) -> Protego | bool:
        host = origin(url)
        if host not in self._rules:
            self._rules[host] = self._load(host)
        return self._rules[host]

    def refusal(self, url: str) -> str | None:
        """None when ``url`` may be fetched, else ``robots`` (disallowed) or ``robots_unavailable``."""
        rules = self.rules(url)
        if isinstance(rules, bool):
            return None if rules else "robots_unavailable"
        return None if rules.can_fetch(url, self.agent) else "robots"

    def crawl_delay(self, url: str) -> float | None:
        rules = self.rules(url)
        if isinstance(rules, bool):
            return None
        delay = rules.crawl_delay(self.agent)
        return float(delay) if delay is not None else None


class HostThrottle:
    """At most ``concurrency`` requests in flight per host, starting at least ``interval_s`` apart."""

    def __init__(
        self,
        interval_s: float,
        concurrency: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval_s = interval_s
        self.concurrency = concurrency
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._intervals: dict[str, float] = {}

    def set_interval(self, url: str, interval_s: float) -> None:
        """A longer interval for one host (its robots.txt ``Crawl-delay``)."""
        with self._lock:
            self._intervals[origin(url)] = max(self.interval_s, interval_s)

    def _slot(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            if host not in self._slots:
                self._slots[host] = threading.BoundedSemaphore(self.concurrency)
            return self._slots[host]

    def run(self, url: str, call: Callable[[], web.HttpResult]) -> web.HttpResult:
        """Run ``call`` (a request to ``url``) within the host's limits."""
        host = origin(url)
        with self._slot(host):
            with self._lock:
                now = self.clock()
                start = max(now, self._next.get(host, now))
                self._next[host] = start + self._intervals.get(host, self.interval_s)
            if start > now:
                self.sleep(start - now)
            return call()
