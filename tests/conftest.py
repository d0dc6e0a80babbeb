from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from gateway.settings import Settings
from gateway.stages import ParseStage
from tests.servers import RunningGateway, Upstream

CHECKOUT = Path(__file__).resolve().parents[1]
# What a run may leave in the checkout: caches and the virtual environment, never data.
_ALLOWED_IN_CHECKOUT = {
    ".git",
    ".venv",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    "build",
}

# Hypothesis keeps its example database and caches in a temporary folder, not the checkout.
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="postvagt-hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME)
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)

# The PostgreSQL that .ci/run makes sure is running; each test gets a database of its own.
PG_ADMIN_URL = os.environ.get("POSTVAGT_TEST_PG", "postgresql://127.0.0.1:5432/test")


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream().start()
    yield server
    server.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each back end."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'postvagt.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(PG_ADMIN_URL).set(drivername="postgresql+psycopg")
    name = f"postvagt_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def store(db_url: str) -> Iterator[Any]:
    """A migrated store on each back end."""
    from datetime import timedelta

    from gateway.store import Store

    store = Store(db_url, instance="test-1", slot="mx", timeout=3)
    store.prepare(recover_after=timedelta(minutes=2))
    yield store
    store.close()


GatewayFactory = Callable[..., RunningGateway]


@pytest.fixture
def make_gateway(tmp_path: Path) -> Iterator[GatewayFactory]:
    """Start gateways on a free loopback port; keyword arguments are settings, except the
    Gateway's own ones (next_hop, stages, group_of)."""
    running: list[RunningGateway] = []

    def make(upstream: Upstream | None = None, /, **options: Any) -> RunningGateway:
        gateway_kwargs = {
            k: options.pop(k)
            for k in ("next_hop", "stages", "group_of", "resolver")
            if k in options
        }
        if not options.pop("detect", False):
            # Detection workers take a second to start; the proxy's own tests do without.
            gateway_kwargs.setdefault("stages", (ParseStage(),))
        values: dict[str, Any] = {
            "listen": "127.0.0.1:0",
            "data_dir": tmp_path / "var",
            "hostname": "gateway.test",
            "shutdown_grace": 5,
            "sender_checks": False,  # no DNS from tests; test_authentication opts in
            "web_listen": "127.0.0.1:0",  # the staff page on a free port
        }
        if upstream is not None:
            values["upstream"] = f"smtp://127.0.0.1:{upstream.port}"
            values["domains"] = ["kommune.example"]
        values.update(options)
        gateway = RunningGateway(Settings(**values), **gateway_kwargs)
        running.append(gateway)
        return gateway

    yield make
    for gateway in running:
        gateway.close()


@pytest.fixture(scope="session")
def test_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate made by the real openssl tool."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=gateway.test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


# -- tests leave nothing in the checkout: free ports and temporary folders only ------------


def _checkout_files() -> set[str]:
    found: set[str] = set()
    for root, folders, files in os.walk(CHECKOUT):
        folders[:] = [
            f for f in folders if f not in _ALLOWED_IN_CHECKOUT and not f.endswith(".egg-info")
        ]
        found.update(os.path.relpath(os.path.join(root, f), CHECKOUT) for f in files)
    return found


_files_before: set[str] = set()


def pytest_sessionstart(session: pytest.Session) -> None:
    _files_before.update(_checkout_files())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    left = sorted(_checkout_files() - _files_before)
    if left:
        session.config.stash[_LEFT_BEHIND] = left
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_LEFT_BEHIND = pytest.StashKey[list[str]]()


# -- the time each suite took, printed at the end (CI keeps an eye on its budget) ---------

_suite_seconds: dict[str, float] = defaultdict(float)
_started = time.monotonic()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _suite_seconds[report.nodeid.split("::")[0]] += report.duration


# -- figures the reliability tests measure, printed as one table at the end -----------------

_figures: list[tuple[str, str, str, str]] = []


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[..., None]:
    """``figure(name, value, target="")``: a measured figure for the summary table (and the
    check against its target stays an assert in the test)."""

    def record(name: str, value: object, target: str = "") -> None:
        _figures.append((request.node.name, name, str(value), target))

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    left = terminalreporter.config.stash.get(_LEFT_BEHIND, [])
    if left:
        terminalreporter.section("files left in the checkout", red=True)
        terminalreporter.write_line("tests must write to temporary folders only; found:")
        for name in left[:20]:
            terminalreporter.write_line(f"  {name}")
    if _figures:
        terminalreporter.section("figures")
        terminalreporter.write_line(f"{'test':44} {'figure':44} {'value':>12}  target")
        for test, name, value, target in _figures:
            terminalreporter.write_line(f"{test[:44]:44} {name[:44]:44} {value:>12}  {target}")
    if not _suite_seconds:
        return
    terminalreporter.section("time per suite")
    for suite, seconds in sorted(_suite_seconds.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{seconds:8.1f} s  {suite}")
    terminalreporter.write_line(f"{time.monotonic() - _started:8.1f} s  total")


@pytest.fixture(scope="session")
def detector():
    """The detector with the blank Danish pipeline, built once (as a worker builds it)."""
    from gateway.detect.engine import build_detector

    return build_detector()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A throwaway CA, a user certificate and an unrelated CA (openssl)."""
    from tests import crypto_mail

    return crypto_mail.make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def gpg(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A temporary GnuPG key ring with one signing and encryption key."""
    from tests import crypto_mail

    return crypto_mail.make_gpg(tmp_path_factory.mktemp("gpg"))
