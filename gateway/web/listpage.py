"""The list of flagged mail: filtered, searched, sorted and paged from the query (each
parameter checked, a bad one left out and said in words), with the open count per mailbox.
Viewing it is audited with the filters, never with what was searched for."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.detect import entities
from gateway.store import review
from gateway.store.tables import JOURNAL_STATES
from gateway.store.users import User
from gateway.web.bulk import MAX_BULK
from gateway.web.common import (
    MAX_PAGE,
    PAGE,
    Query,
    ctx,
    login_required,
    render,
    start_of,
    visible_mailboxes,
)

ENTITY_CHOICES = tuple(e.name for e in entities.TABLE if e.staff_filter)
REPLY_STATES = ("queued", "sent", "suppressed", "failed")
# Every state a caseworker meets: the journaling's, and what became of the mail.
STATUSES = (*JOURNAL_STATES, *review.OUTCOMES)
FILTER_KEYS = ("mailbox", "status", "since", "until", "entity", "reply", "q", "sort", "order")
COUNT_OF_DONE = re.compile(r"[0-9]{1,4}")  # what a bulk action did, said back on the list


def filters_from(query: Any, mailboxes: list[str], page: int = 1) -> tuple[review.Filters, Query]:
    """The list's filters from the query, and the checked query (what was left out, why)."""
    checked = Query(query)
    since, until = checked.day("since"), checked.day("until")
    if since and until and until < since:
        checked.problem("query.dates")
        since = until = None
        checked.valid.pop("since"), checked.valid.pop("until")
    status = checked.choice("status", STATUSES)
    filters = review.Filters(
        mailbox=checked.choice("mailbox", mailboxes),
        journal_state=status if status in JOURNAL_STATES else None,
        outcome=status if status in review.OUTCOMES else None,
        since=start_of(since),
        until=start_of(until, after=True),
        entity=checked.choice("entity", ENTITY_CHOICES),
        reply_state=checked.choice("reply", REPLY_STATES),
        text=checked.text("q"),
        sort=checked.choice("sort", review.SORTS) or "time",
        descending=checked.choice("order", ("asc", "desc")) != "asc",
        page=page,
    )
    return filters, checked


@login_required
async def flagged_list(request: Request, user: User) -> Response:
    mailboxes = visible_mailboxes(request, user)
    filters, checked = filters_from(request.query_params, mailboxes)
    page = checked.number("page", PAGE, 1, MAX_PAGE)
    if page is None and request.query_params.get("page"):
        checked.problem("query.page")
    filters = replace(filters, page=page or 1)
    done = checked.number("done", COUNT_OF_DONE, 0, MAX_BULK)
    failed = checked.number("failed", COUNT_OF_DONE, 0, MAX_BULK)
    for name, value in (("done", done), ("failed", failed)):
        if value is None and request.query_params.get(name):
            checked.problem("query.unknown")
    store = ctx(request).store
    rows, total = await store.run(review.list_flagged, user.scope, filters)
    open_counts = await store.run(review.open_by_mailbox, user.scope)
    q = checked.valid
    shown: dict[str, object] = {k: v for k, v in q.items() if k in FILTER_KEYS and k != "q"}
    if q.get("q"):
        shown["search"] = True  # what was searched for can be a name: not kept
    await store.run(review.audit, user.name, "list", None, {**shown, "page": filters.page})
    pages = max(1, -(-total // filters.per_page))
    query = {k: v for k, v in q.items() if k in FILTER_KEYS}
    return render(
        request,
        "list.html",
        400 if checked.problems else 200,
        problems=checked.problems,
        user=user,
        rows=rows,
        total=total,
        page=filters.page,
        pages=pages,
        query=query,
        q=q,
        mailboxes=mailboxes,
        open_counts=[(m, open_counts.get(m, 0)) for m in mailboxes],
        states=STATUSES,
        entities=ENTITY_CHOICES,
        reply_states=REPLY_STATES,
        sorts=review.SORTS,
        done=-1 if done is None else done,
        failed=failed or 0,
        back=str(request.url.path) + ("?" + str(request.url.query) if request.url.query else ""),
    )


ROUTES = [Route("/", flagged_list)]
