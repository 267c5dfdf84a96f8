"""Shared helpers of the stack scenario's tests: hosts, addresses, playbook runs, a traffic counter.

The tests run on the controller. They reach the hosts through Molecule's inventory (testinfra) and
the public site over the scenario network, as a browser would: https://<proxy address>/, with the
lab CA that prepare.yml made.
"""
from __future__ import annotations

import http.client
import os
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import requests
import testinfra

PROJECT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(PROJECT / "molecule" / "_shared"))
os.environ.setdefault("BUNDLE_ROOT", str(PROJECT))

from figures import figure, print_figures  # noqa: E402,F401  (molecule/_shared/figures.py; figure is a fixture)
from playbook import run_playbook  # noqa: E402  (molecule/_shared/playbook.py)

INVENTORY = os.environ["MOLECULE_INVENTORY_FILE"]
CA = str(PROJECT / "lab" / ".tls" / "ca.crt")


def host(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


def address(name: str) -> str:
    """A scenario host's address on the scenario network (its default route's)."""
    return host(name).check_output("ip -4 -o route get 1.1.1.1 | sed -n 's/.* src \\([0-9.]*\\).*/\\1/p'")


def fetch(name: str, url: str) -> str:
    """GET url from a scenario host (no curl there: its python3), the body as text."""
    return host(name).check_output(
        "python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' %s", url)


@pytest.fixture(scope="session")
def site() -> str:
    """The public URL of the site: the proxy's HTTPS address."""
    return f"https://{address('stack-proxy1')}"


class Browser(requests.Session):
    """A requests session that trusts the lab CA on every request (requests 2.34 ignores a
    session-level `verify` path when it builds its connection pools: seen here, so per request)."""

    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        kwargs.setdefault("verify", CA)
        return super().request(*args, **kwargs)


@pytest.fixture(scope="session")
def web(site: str) -> requests.Session:
    return Browser()


RUN_LOGS = PROJECT / ".cache" / "molecule" / "stack-runs"
_runs = {"n": 0, "stamp": time.strftime("%H%M%S")}


def playbook(name: str, **extra_vars) -> tuple[int, str]:
    """Run playbooks/<name>.yml against the scenario; (exit code, output). The whole output is kept in
    .cache/molecule/stack-runs/<n>-<name>.log (the summary alone may not say why a run failed)."""
    proc = run_playbook(PROJECT / "playbooks" / f"{name}.yml", extra_vars or None, timeout=1800)
    RUN_LOGS.mkdir(parents=True, exist_ok=True)
    _runs["n"] += 1
    log = RUN_LOGS / f"{_runs['stamp']}-{_runs['n']:02d}-{name}.log"
    log.write_text(f"$ {name}.yml {extra_vars}\n{proc.stdout}")
    print(f"{name}.yml {extra_vars}: exit {proc.returncode}, log {log}")
    return proc.returncode, proc.stdout


def summary_of(output: str) -> str:
    """The summary an operations playbook prints last, and the failed tasks before it."""
    fatal = [line for line in output.splitlines() if line.startswith("fatal:") or "FAILED!" in line][-6:]
    start = output.rfind("Summary | ")
    return "\n".join(fatal) + "\n" + (output[start:start + 3000] if start >= 0 else output[-3000:])


def _causes(exc: BaseException) -> list[BaseException]:
    """exc and what it wraps: requests' error, urllib3's, then the socket's or http.client's."""
    chain: list[BaseException] = []
    todo = [exc]
    while todo:
        error = todo.pop()
        if any(error is seen for seen in chain):
            continue
        chain.append(error)
        todo += [arg for arg in error.args if isinstance(arg, BaseException)]
        todo += [inner for inner in (getattr(error, "reason", None), error.__cause__, error.__context__)
                 if isinstance(inner, BaseException)]
    return chain


def _cause(exc: BaseException) -> str:
    """The innermost cause of a requests error, e.g. "RemoteDisconnected('Remote end closed ...')"."""
    return repr(_causes(exc)[-1])[:160]


def _closed_without_answer(exc: BaseException) -> bool:
    """The server closed the connection before any byte of an answer (http.client.RemoteDisconnected),
    not a refused connection, a reset in the middle of an answer or a timeout."""
    return any(isinstance(error, http.client.RemoteDisconnected) for error in _causes(exc))


@dataclass
class Traffic:
    """Requests sent continuously through nginx from a background thread; every answer counted."""

    url: str
    # nginx rate-limits /api/ and /upload strictly (2 r/s): stay below it on those paths. /health is internal
    # (404 through nginx), so the app's own pages only.
    paths: tuple[str, ...] = ("/", "/", "/", "/api/documents")
    rate: float = 6.0
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    bodies_with: Counter = field(default_factory=Counter)
    marker: str = ""
    # As a logged-in user: nginx's cache is bypassed, so every request reaches an app host (a cached answer
    # would hide a failed one).
    headers: dict = field(default_factory=lambda: {"Cookie": "sessionid=stack-traffic"})
    retried: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _get(self, session: requests.Session, path: str, reused: bool) -> requests.Response:
        """GET path as a browser does: a request sent on a kept-alive connection that the server closed
        without answering is sent again, once, on a new connection (RFC 9112, 9.3.1; browsers and curl do
        this). nginx closes its idle kept-alive connections when it reloads, as every drain and undrain
        does, and a request already on its way meets the close: seen once in a CI run (1 in ~1,400), and
        reproduced here against a bare nginx with reloads (1 in ~14,000 requests over 60 reloads). Such
        retries are counted (`retried`); a second failure, a refused connection, a timeout, any 5xx or
        429 are failures."""
        try:
            return session.get(self.url + path, timeout=10, headers=self.headers)
        except requests.ConnectionError as exc:
            if not (reused and _closed_without_answer(exc)):
                raise
            self.retried += 1
            self.errors.append(f"{time.strftime('%H:%M:%S')} {path} retried: {_cause(exc)}")
            return session.get(self.url + path, timeout=10, headers=self.headers)

    def _run(self) -> None:
        session = Browser()
        reused = False  # the next request goes on a connection kept alive by the last answer
        i = 0
        while not self._stop.is_set():
            path = self.paths[i % len(self.paths)]
            i += 1
            try:
                response = self._get(session, path, reused)
                reused = response.headers.get("Connection", "").lower() != "close"
                self.statuses[response.status_code] += 1
                if self.marker and self.marker in response.text:
                    self.bodies_with[self.marker] += 1
                if response.status_code >= 500 or response.status_code == 429:
                    self.errors.append(f"{time.strftime('%H:%M:%S')} {path} {response.status_code}")
            except requests.RequestException as exc:
                reused = False
                self.statuses["exception"] += 1
                self.errors.append(f"{time.strftime('%H:%M:%S')} {path} {type(exc).__name__}: {_cause(exc)}")
            time.sleep(1 / self.rate)

    def __enter__(self) -> "Traffic":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=15)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status == "exception" or int(status) >= 500 or status == 429)

    def line(self, what: str) -> str:
        return (f"{what}: {self.sent} requests through nginx, {self.failed} failed {dict(self.statuses)}, "
                f"{self.retried} sent again after nginx closed a kept-alive connection")


@pytest.fixture(scope="session")
def measure(figure: Callable[[str], None]) -> Callable[[str], None]:
    """The stack's name for the shared `figure` fixture (molecule/_shared/figures.py)."""
    return figure


# --- test order ------------------------------------------------------------------------------------------
# The stack tests run in a shuffled order, so that one test passing only after another is found: modules in
# a shuffled order, the tests of each module shuffled too, except where a module says otherwise with ORDER:
# "story" keeps its tests in file order (they build on each other, as test_20's week of releases does), "last"
# runs the module after every other one (it leaves the stack in a state the others do not test: test_50 puts
# another app on the hosts). STACK_TEST_SEED picks the order: a number, "random" (a new one, printed), or "file"
# (file order). The default is an order that has passed (README, "Test order").
DEFAULT_SEED = "2612"


def _order_seed() -> int | None:
    value = os.environ.get("STACK_TEST_SEED", DEFAULT_SEED).strip().lower()
    if value == "file":
        return None
    if value == "random":
        return random.SystemRandom().randrange(10_000)
    if not value.isdigit():
        raise pytest.UsageError(f"STACK_TEST_SEED={value!r}: want a number, 'random' or 'file'")
    return int(value)


def shuffled(items: list, seed: int) -> list:
    """items in the order seed gives, each module's ORDER respected (see above)."""
    rng = random.Random(seed)
    modules: dict[object, list] = {}
    for item in items:
        modules.setdefault(item.module, []).append(item)
    names = sorted(modules, key=lambda m: m.__name__)
    rng.shuffle(names)
    names.sort(key=lambda m: getattr(m, "ORDER", "") == "last")  # stable: "last" ones move to the end
    order = []
    for module in names:
        tests = modules[module]
        if getattr(module, "ORDER", "") != "story":
            rng.shuffle(tests)
        order.extend(tests)
    return order


def pytest_collection_modifyitems(config, items) -> None:  # type: ignore[no-untyped-def]
    seed = _order_seed()
    config.stack_test_order = "file order (STACK_TEST_SEED=file)" if seed is None else f"shuffled, STACK_TEST_SEED={seed}"
    if seed is not None:
        items[:] = shuffled(items, seed)


def pytest_collection_finish(session) -> None:  # type: ignore[no-untyped-def]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"stack test order: {getattr(session.config, 'stack_test_order', 'file order')} "
                            "(rerun this order with that STACK_TEST_SEED; 'random' for a new one)")


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    terminalreporter.write_line(f"stack test order: {getattr(terminalreporter.config, 'stack_test_order', 'file order')}")
    print_figures(terminalreporter, "stack scenario figures")
