"""The audit log as a page and a CSV file, for admins and the data protection officer
(issue 24.12): Datatilsynet asks authorities to log and review access to personal data.
Filter by user, action, mailbox and date; reading and exporting are audited themselves.

No mail content is here: the entries name a mail by its Postvagt id and carry what the
actions recorded (states, case numbers, masked numbers, keyed hashes, client addresses)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.store import auditlog
from gateway.store.users import User
from gateway.web.common import (
    MAX_PAGE,
    PAGE,
    Query,
    csv_cell,
    ctx,
    for_roles,
    local_time,
    render,
    start_of,
    words,
)

READERS = ("admin", "dpo")
FILTERS = ("actor", "action", "mailbox", "since", "until")


def _mailboxes(request: Request) -> list[str]:
    return [m.name for m in ctx(request).policy.current.mailboxes] + ["default"]


async def _filters(request: Request) -> tuple[auditlog.AuditFilters, Query, dict[str, Any]]:
    """The checked filters, the checked query, and the choices the form offers."""
    store = ctx(request).store
    choices = {
        "actors": await store.run(auditlog.actors),
        "actions": await store.run(auditlog.actions),
        "mailboxes": _mailboxes(request),
    }
    checked = Query(request.query_params)
    since, until = checked.day("since"), checked.day("until")
    if since and until and until < since:
        checked.problem("query.dates")
        since = until = None
        checked.valid.pop("since"), checked.valid.pop("until")
    page = checked.number("page", PAGE, 1, MAX_PAGE)
    if page is None and request.query_params.get("page"):
        checked.problem("query.page")
    filters = auditlog.AuditFilters(
        actor=checked.choice("actor", choices["actors"]),
        action=checked.choice("action", choices["actions"]),
        mailbox=checked.choice("mailbox", choices["mailboxes"]),
        since=start_of(since),
        until=start_of(until, after=True),
        page=page or 1,
    )
    return filters, checked, choices


@for_roles(*READERS)
async def audit_page(request: Request, user: User) -> Response:
    filters, checked, choices = await _filters(request)
    rows, total = await ctx(request).store.run(auditlog.entries, filters, user.name)
    query = {k: v for k, v in checked.valid.items() if k in FILTERS}
    return render(
        request,
        "audit.html",
        400 if checked.problems else 200,
        problems=checked.problems,
        user=user,
        rows=rows,
        total=total,
        page=filters.page,
        pages=max(1, -(-total // auditlog.PER_PAGE)),
        q=checked.valid,
        query=query,
        detail=_detail,
        **choices,
    )


def _detail(entry: dict[str, Any] | None, t: Any) -> list[tuple[str, str]]:
    """An entry's detail in words: its keys named, states and types translated."""
    shown = []
    for key, value in (entry or {}).items():
        if key in ("state", "status") and isinstance(value, str):
            value = t.code("state", value)
        elif key == "entity" and isinstance(value, str):
            value = t.code("entity", value)
        elif isinstance(value, bool):
            value = t["yes"] if value else t["no"]
        elif isinstance(value, list | dict):
            value = json.dumps(value, ensure_ascii=False)
        shown.append((t.get(f"auditkey.{key}", key), str(value)))
    return shown


@for_roles(*READERS)
async def audit_export(request: Request, user: User) -> Response:
    """The filtered log, every page of it, as CSV (semicolons, a byte order mark); every
    cell cleaned and formula-safe, as the list's export."""
    t = words(request)
    zone = ctx(request).zone
    filters, checked, _ = await _filters(request)
    if checked.problems:  # a file cannot say what was left out: the page does
        message = " ".join(t[p] for p in checked.problems)
        return render(request, "error.html", 400, message=message, back="/audit", user=user)
    rows = await ctx(request).store.run(auditlog.export, filters, user.name)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    columns = ("audit.at", "audit.actor", "audit.action", "audit.code", "audit.target")
    writer.writerow([*(t[c] for c in columns), t["mailbox"], t["audit.detail"]])
    for r in rows:
        detail = "; ".join(f"{k}: {v}" for k, v in _detail(r.detail, t))
        writer.writerow(
            csv_cell(v)
            for v in (
                local_time(r.at, zone, seconds=True),
                r.actor,
                t.code("act", r.action),
                r.action,
                r.target or "",
                r.mailbox or "",
                detail,
            )
        )
    stamp = datetime.now(zone).strftime("%Y%m%d-%H%M")
    return Response(
        out.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="postvagt-audit-{stamp}.csv"'},
    )


ROUTES = [
    Route("/audit", audit_page),
    Route("/audit.csv", audit_export),
]
