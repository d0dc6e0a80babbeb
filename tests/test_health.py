"""/healthz tells a load balancer the truth: 503 with the reasons when the next message
would not be handled — a data folder that cannot be written or is nearly full, a database
that does not answer, detection workers gone — and 200 otherwise. Real failures only: a
tmpfs of our own filled up and remounted read-only (root writes through chmod), a closed
port, worker processes killed."""

from __future__ import annotations

import multiprocessing
import os
import signal
import smtplib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.health import Health
from gateway.store import Store
from tests.helpers import message, send, wait_for
from tests.servers import RunningGateway, free_port


def healthz(gateway: RunningGateway) -> tuple[int, dict]:
    assert gateway.gateway.web is not None
    answer = httpx.get(f"http://127.0.0.1:{gateway.gateway.web.port}/healthz", timeout=30)
    return answer.status_code, answer.json()


def problems(gateway: RunningGateway) -> list[str]:
    code, body = healthz(gateway)
    assert (code == 503) == ("problems" in body), body
    return list(body.get("problems", []))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs of its own: it can really fill up, and be remounted read-only."""
    folder = tmp_path / "var"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_healthy_instance_answers_200_until_its_detection_workers_are_killed(
    upstream, make_gateway
):
    gateway = make_gateway(upstream, detect=True, detect_workers=2)
    assert healthz(gateway) == (200, {"status": "ok"})
    workers = [p for p in multiprocessing.active_children() if p.name == "pebble_pool_worker"]
    assert len(workers) == 2
    for worker in workers:
        os.kill(worker.pid, signal.SIGKILL)
    assert wait_for(lambda: problems(gateway) == ["detection workers gone"]), healthz(gateway)
    assert healthz(gateway)[0] == 503


def test_a_data_dir_nearly_full_or_read_only_answers_503(upstream, make_gateway, small_disk):
    gateway = make_gateway(upstream, data_dir=small_disk, health_min_free_mb=4)
    assert healthz(gateway) == (200, {"status": "ok"})  # the SQLite database lives there
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (free - 2 * 1024 * 1024))
    (problem,) = problems(gateway)
    assert problem.startswith("data_dir nearly full (") and "health_min_free_mb is 4" in problem
    with open(filler, "ab") as f:  # and now completely full: not even the probe fits
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    assert "data_dir not writable (ENOSPC)" in problems(gateway)
    filler.unlink()
    assert healthz(gateway) == (200, {"status": "ok"})


def test_a_read_only_data_dir_answers_503_as_its_mail_gets_451(make_gateway, small_disk, tmp_path):
    """Delivery into the Maildir under data_dir (no upstream); the database elsewhere, so
    nothing holds the folder open for writing and it can be remounted read-only."""
    gateway = make_gateway(
        data_dir=small_disk, database_url=f"sqlite:///{tmp_path / 'pv.db'}", health_min_free_mb=1
    )
    send(gateway.port, message())
    assert healthz(gateway) == (200, {"status": "ok"})
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        found = problems(gateway)
        assert found == ["data_dir not writable (EROFS)"], found
        assert not any(str(small_disk) in p for p in found)  # settings and errors, no paths
        with pytest.raises(smtplib.SMTPDataError) as refused:
            send(gateway.port, message())
        assert refused.value.smtp_code == 451
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    assert healthz(gateway) == (200, {"status": "ok"})


async def test_a_data_dir_path_that_is_a_file_answers_503(tmp_path):
    blocked = tmp_path / "var"
    blocked.write_text("not a folder")
    health = Health(
        Store(f"sqlite:///{tmp_path / 'db'}", instance="i", slot="mx"), [("data_dir", blocked)], 0
    )
    try:
        found = await health.problems()
    finally:
        health.store.close()
    assert found == ["data_dir not writable (ENOTDIR)"]


async def test_an_unreachable_database_answers_503(tmp_path):
    store = Store(
        f"postgresql://postvagt@127.0.0.1:{free_port()}/postvagt", instance="i", slot="mx"
    )
    try:
        found = await Health(store, [("data_dir", tmp_path)], 0).problems()
    finally:
        store.close()
    assert found == ["database unavailable (OperationalError)"]
