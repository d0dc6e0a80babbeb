"""Work on many mails at once, and the views that read rather than change: bulk actions
(always confirmed first, audited per mail), the list as CSV, statistics, and the masked text
of a held mail."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.cleantext import visible
from gateway.model import Preview
from gateway.store import review
from gateway.store.users import User
from gateway.web import stats
from gateway.web.views import (
    ALL_ROLES,
    MAX_BULK,
    Query,
    _safe_next,
    ctx,
    filters_from,
    for_roles,
    forget_held,
    login_required,
    render,
    visible_mailboxes,
    words,
)

log = logging.getLogger("postvagt.web")

MARKS = ("journaled", "not-needed", "false-positive")
BULK_ACTIONS = (*MARKS, "release", "delete-held")


def _ids(form: Any) -> list[str]:
    ids = [str(v) for v in form.getlist("id") if isinstance(v, str) and 0 < len(v) <= 36]
    return list(dict.fromkeys(ids))[:MAX_BULK]


async def confirm_page(
    request: Request, user: User, action: str, ids: list[str], back: str
) -> Response:
    """What is about to happen, to how many mails and which; nothing changes yet."""
    t = words(request)
    store = ctx(request).store
    rows = await store.run(review.get_many, ids, user.scope)
    if not rows:
        return render(request, "error.html", 400, message=t["none_selected"], back=back)
    skipped = 0
    if action in ("release", "delete-held"):
        ready = await store.run(_with_copy, [r.id for r in rows], action == "release")
        skipped = len(rows) - len([r for r in rows if r.id in ready])
        rows = [r for r in rows if r.id in ready]
    hints = {r.case_hint for r in rows}
    return render(
        request,
        "confirm.html",
        user=user,
        action=action,
        rows=rows,
        skipped=skipped,
        back=back,
        case_number=hints.pop() if len(hints) == 1 else "",
        can_release=ctx(request).release is not None,
    )


def _with_copy(connection: Any, ids: list[str], unreleased_only: bool) -> set[str]:
    if unreleased_only:
        return review.held_ids(connection, ids)
    return {i for i in ids if review.quarantine_entry(connection, i) is not None}


@login_required
async def bulk(request: Request, user: User) -> Response:
    """Step one: the selection and the action, shown back for confirmation."""
    form = await request.form()
    action = str(form.get("action", ""))
    back = _safe_next(str(form.get("back", "/")))
    if action not in BULK_ACTIONS:
        return render(request, "error.html", 400, message=action[:40], back=back)
    return await confirm_page(request, user, action, _ids(form), back)


@login_required
async def bulk_apply(request: Request, user: User) -> Response:
    """Step two, confirmed: each mail in turn, each with its own audit entry."""
    form = await request.form()
    action = str(form.get("action", ""))
    back = _safe_next(str(form.get("back", "/")))
    ids = _ids(form)
    if action not in BULK_ACTIONS or form.get("confirm") != "yes" or not ids:
        return render(request, "error.html", 400, message=words(request)["none_selected"])
    context = ctx(request)
    store = context.store
    done = failed = 0
    for message_id in ids:
        try:
            if action in MARKS:
                await store.run(
                    review.mark,
                    message_id,
                    user.scope,
                    user.name,
                    action,
                    case_number=str(form.get("case_number", "")) or None,
                    note=str(form.get("note", "")) or None,
                )
            elif action == "release":
                await store.run(review.get_flagged, message_id, user.scope)
                if context.release is None:
                    raise LookupError("release is not available here")
                reply = await context.release(message_id)
                if not reply.positive:
                    detail = {"upstream": reply.code}
                    await store.run(review.audit, user.name, "release-refused", message_id, detail)
                    raise LookupError(reply.code)
                await store.run(review.mark_released, message_id, user.name, str(reply))
            else:
                await forget_held(request, user, message_id)
            done += 1
        except ValueError as e:
            return render(request, "error.html", 400, message=str(e), back=back)
        except LookupError:
            failed += 1
    separator = "&" if "?" in back else "?"
    if back.startswith("/mail/"):
        return RedirectResponse(f"{back.split('?')[0]}?saved=1", status_code=303)
    return RedirectResponse(f"{back}{separator}done={done}&failed={failed}", status_code=303)


# -- export ------------------------------------------------------------------------------------

UNSAFE_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """A spreadsheet never runs a cell as a formula (CSV injection), and no cell holds a NUL,
    a line break or a bidi override (gateway.cleantext, as on the page)."""
    text = "" if value is None else visible(str(value))
    return "'" + text if text.startswith(UNSAFE_START) else text


def _time(moment: datetime | None, zone: Any, seconds: bool = False) -> str:
    if moment is None:
        return ""
    return moment.astimezone(zone).strftime(
        "%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z"
    )


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
            _cell(v)
            for v in (
                _time(r.received_at, zone),
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
                _time(r.handled_at, zone),
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


# -- statistics --------------------------------------------------------------------------------

PERIODS = (4, 12, 26, 52)


@for_roles(*ALL_ROLES)
async def statistics(request: Request, user: User) -> Response:
    t = words(request)
    zone = ctx(request).zone
    checked = Query(request.query_params)
    weeks = int(checked.choice("weeks", [str(n) for n in PERIODS]) or 12)
    today = datetime.now(zone).date()
    first = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=zone)
    rows = await ctx(request).store.run(review.statistics_rows, user.statistics_scope, since)
    await ctx(request).store.run(review.audit, user.name, "statistics", None, {"weeks": weeks})
    figures = await asyncio.to_thread(stats.count, rows, t, zone, today, weeks)
    total = figures.total
    share = [
        (t["stats.encrypted"], figures.encrypted),
        (t["stats.signed"], figures.signed),
        (t["stats.tls"], figures.tls),
    ]
    return render(
        request,
        "stats.html",
        400 if checked.problems else 200,
        problems=checked.problems,
        user=user,
        weeks=weeks,
        periods=PERIODS,
        f=figures,
        week_chart=stats.week_chart(figures.weeks, figures.mailboxes, figures.per_week),
        entity_chart=stats.hbars([(label, n, str(n)) for label, n in figures.entities]),
        reply_chart=stats.hbars([(label, n, str(n)) for label, n in figures.replies]),
        share=[(label, n, stats.percent(n, total, t)) for label, n in share],
        share_chart=stats.hbars(
            [(label, n, stats.percent(n, total, t)) for label, n in share], maximum=total or 1
        ),
        handling_chart=stats.hbars(
            [(t.code("bucket", name), n, str(n)) for name, n in figures.handling]
        ),
        median=stats.duration(figures.median, t),
        p90=stats.duration(figures.p90, t),
    )


# -- the held mail's text ----------------------------------------------------------------------

PREVIEW_SECONDS = 20.0


def _read_for_preview(
    connection: Any, message_id: str, scope: list[str] | None, actor: str, place: Any
) -> bytes:
    from gateway.store.records import read_quarantined

    review.get_flagged(connection, message_id, scope)
    if review.quarantine_entry(connection, message_id) is None:
        raise review.NotFound(message_id)
    raw = read_quarantined(connection, message_id, place)
    review.audit(connection, actor, "preview", message_id)
    return raw


@login_required
async def preview(request: Request, user: User) -> Response:
    """The held mail's text with personal data masked, as findings are: staff decide
    without downloading the original. Shown only when the detector could read it all."""
    message_id = request.path_params["id"]
    context = ctx(request)
    if context.preview is None:
        return render(
            request,
            "preview.html",
            user=user,
            message_id=message_id,
            chunks=None,
            note=words(request)["preview.unavailable"],
        )
    store = context.store
    try:
        raw = await store.run(
            _read_for_preview, message_id, user.scope, user.name, store.quarantine
        )
    except (LookupError, OSError):
        raise review.NotFound(message_id) from None
    try:
        shown: Preview | None = await context.preview(raw)
    except Exception:  # a crashed or overrun worker: say so, show nothing
        log.exception("preview of %s failed", message_id)
        shown = None
    note = None if shown is not None else words(request)["preview.failed"]
    if shown is not None and shown.chunks == []:
        note = words(request)["preview.empty"]
    return render(
        request,
        "preview.html",
        user=user,
        message_id=message_id,
        chunks=shown.chunks if shown else None,
        attachments=shown.attachments if shown else (),
        note=note,
    )
