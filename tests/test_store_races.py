"""Two processes race for the same rows: the atomic primitives must give one winner."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

from gateway.store import Store, primitives

KEYS = [f"sender{i}@example.net|post@kommune.example" for i in range(200)]
ITEMS = 300


def _open(url: str) -> Store:
    return Store(url, instance="racer", slot="mx", timeout=30, workers=1)


def race_claim_once(url: str, start, results, name: str) -> None:
    store = _open(url)
    store.transaction(lambda c: None)  # connected before the start
    won = []
    for key in KEYS:
        start.wait()  # both processes go for this very key at the same moment
        if store.transaction(primitives.claim_once, "reply", key, timedelta(days=7)):
            won.append(key)
    store.close()
    results.put((name, won))


def race_outbox(url: str, start, results, worker: str) -> None:
    store = _open(url)
    store.transaction(lambda c: None)
    start.wait()
    taken: list[int] = []
    while True:
        batch = store.transaction(
            primitives.claim_outbox, worker, limit=3, lease=timedelta(minutes=5)
        )
        if not batch:
            break
        for item in batch:
            taken.append(item.id)
            assert store.transaction(
                primitives.finish_outbox, item, worker, primitives.Sent("250 ok")
            )
    store.close()
    results.put((worker, taken))


def run_two(function, url: str) -> list:
    """Run ``function`` in two fresh processes that start racing at the same moment."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    processes = [
        context.Process(target=function, args=(url, start, results, name)) for name in "ab"
    ]
    for process in processes:
        process.start()
    found = dict(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    return [found["a"], found["b"]]


def test_claim_once_has_one_winner_per_key_across_processes(db_url):
    store = _open(db_url)
    store.prepare(recover_after=timedelta(minutes=2))
    store.close()
    first, second = run_two(race_claim_once, db_url)
    assert set(first).isdisjoint(second)
    assert sorted(first + second) == sorted(KEYS)
    print(f"\nfigure: claim_once winners per process: {len(first)} / {len(second)}")


def test_outbox_items_are_claimed_once_across_processes(db_url):
    store = _open(db_url)
    store.prepare(recover_after=timedelta(minutes=2))
    for i in range(ITEMS):
        store.transaction(
            primitives.enqueue, kind="reply", mail_from="", recipient=f"r{i}@x", payload=b"m"
        )
    store.close()
    a, b = run_two(race_outbox, db_url)
    assert set(a).isdisjoint(b)
    assert len(a) + len(b) == ITEMS
    print(f"\nfigure: outbox items claimed per process: {len(a)} / {len(b)}")
