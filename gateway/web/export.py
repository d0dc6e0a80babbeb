"""The filtered list as CSV for the case system: every page of it, masked values only.
The export is audited with how many rows it held (gateway.store.review.export_flagged)."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.store import review
from gateway.store.users import User
from gateway.web.common import (
    csv_cell,
    ctx,
    local_time,
    login_required,
    render,
    visible_mailboxes,
    words,
)
from gateway.web.listpage import filters_from


@login_required
async def export(request: Request, user: User) -> Response:
    """The filtered list, every page of it, as CSV with the page's columns (masked values
    only) and what the case system needs: the case number typed when journaling, who
    handled the mail and when; semicolons and a byte order mark, as Danish spreadsheets
    expect."""
    t = words(request)
    zone = ctx(request).zone
    filters, checked = filters_from(request.query_params, visible_mailboxes(request, user))
    if checked.problems:  # a file cannot say what was left out: the page does
        message = " ".join(t[p] for p in checked.problems)
        return render(request, "error.html", 400, message=message, back="/")
    rows = await ctx(request).store.run(review.export_flagged, user.scope, filters, user.name)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(
        [
            t["received"],
            t["mailbox"],
            t["sender"],
            t["csv.sender_name"],
            t["subject_masked"],
            t["found"],
            t["delivery_state"],
            t["reply"],
            t["status"],
            t["case_number"],
            t["csv.handled_by"],
            t["csv.handled_at"],
            t["case_hint"],
            t["reference"],
        ]
    )
    for r in rows:
        writer.writerow(
            csv_cell(v)
            for v in (
                local_time(r.received_at, zone),
                r.recipient_group,
                r.mail_from or "<>",
                r.sender_name or "",
                r.subject_masked or "",
                ", ".join(f"{t.code('entity', f['entity'])} ×{f['count']}" for f in r.findings),
                t.code("disp", review.disposition(r)),
                t.code("reply", r.reply_state) if r.reply_state else "",
                t.code("state", r.journal_state),
                r.case_number or "",
                r.handled_by or "",
                local_time(r.handled_at, zone),
                r.case_hint or "",
                r.id,
            )
        )
    stamp = datetime.now(zone).strftime("%Y%m%d-%H%M")
    return Response(
        out.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="postvagt-{stamp}.csv"'},
    )


ROUTES = [Route("/export.csv", export)]
