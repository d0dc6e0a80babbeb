"""The flagged-mail log's queries and actions on SQLite and PostgreSQL: scope, filters,
paging, marks and their audit entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from gateway.model import Finding, Inspection, ParsedMail, ReviewFacts
from gateway.store import Store, records, review
from gateway.store.tables import audit_log
from tests.test_store import received


def flag(store: Store, n: int, group: str, entities: tuple[str, ...], flagged: bool = True) -> str:
    facts = Inspection(
        parsed=ParsedMail(message_id=f"<{n}@x>", header_count=1),
        findings=tuple(Finding(e, "body", 0.9, "test", "XXXX") for e in entities),
    )
    r = received(raw=f"Subject: {n}\r\n\r\n{n}\r\n".encode(), group=group)
    with store.engine.begin() as c:
        ref = records.record_pending(
            c,
            r,
            facts,
            key=f"{n:064}",
            instance="t",
            slot="mx",
            review=ReviewFacts(journal_state="open" if flagged else None),
        )
    return ref.id


def test_scope_filters_paging_and_marks(store: Store):
    a = [flag(store, n, "borgerservice", ("DK_CPR",)) for n in range(3)]
    b = flag(store, 10, "byggesag", ("HEALTH", "DK_CPR"))
    flag(store, 11, "byggesag", (), flagged=False)
    with store.engine.begin() as c:
        rows, total = review.list_flagged(c, None, review.Filters())
        assert total == 4 and len(rows) == 4
        assert review.list_flagged(c, ["byggesag"], review.Filters())[1] == 1
        assert review.list_flagged(c, None, review.Filters(entity="HEALTH"))[1] == 1
        assert review.list_flagged(c, None, review.Filters(entity="DK_CP"))[1] == 0  # whole types
        page2, total = review.list_flagged(c, None, review.Filters(page=2, per_page=3))
        assert total == 4 and len(page2) == 1
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        assert review.list_flagged(c, None, review.Filters(since=tomorrow))[1] == 0
        with pytest.raises(review.NotFound):
            review.view(c, b, ["borgerservice"], "bs")
        with pytest.raises(ValueError, match="case number"):
            review.mark(c, a[0], None, "bs", "journaled")
        review.mark(c, a[0], ["borgerservice"], "bs", "journaled", case_number="27.12.00-G01-1-23")
        review.mark(c, a[1], ["borgerservice"], "bs", "not-needed", note="dublet")
        review.mark(c, a[2], ["borgerservice"], "bs", "false-positive")
        assert review.list_flagged(c, None, review.Filters(journal_state="open"))[1] == 1
        events = c.execute(select(audit_log.c.actor, audit_log.c.action)).all()
    assert ("bs", "mark-journaled") in events and ("bs", "mark-not-needed") in events
    assert all(actor == "bs" for actor, _ in events)
