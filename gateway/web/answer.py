"""Answer a flagged mail through Digital Post, from its detail page (issue 19).

Four server-rendered steps, each a POST with the session's CSRF token, each checking that
the user may see the mail's mailbox: the recipient's number (checked as the detector checks
a CPR number, or CVR modulus 11) → Digital Post's registration answer → the answer written →
confirmed and queued in the outbox, which sends it (gateway.act.digital_post).

The typed number goes back and forth in the form only; the server keeps it nowhere but in
the outbox item, sealed, until the send settles. Logs get the masked form; the audit log and
the answer also get its keyed hash (gateway.detect.keyed) and whether it was the mail's.

A number is the mail's only when its keyed hash is among those the detector made of the
mail's CPR/CVR numbers. Any other is looked up or sent to only once the caseworker ticks
that it is another number on purpose and writes why (issue 24); look-ups are limited per
user and hour (digital_post_lookups_per_hour).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.act import digital_post as dp
from gateway.act.serviceplatformen import explain
from gateway.store import answers, review
from gateway.store.primitives import take_quota
from gateway.store.users import User
from gateway.web.common import CONTROL, ctx, login_required, render

log = logging.getLogger("postvagt.web")

MAX_TITLE = 200  # MeMo's text fields hold 256 characters; the case number is added
MAX_TEXT = 20_000
LOOKUPS = "digital-post-lookup"  # the rate_limits scope of look-ups, per user and hour


def _letterhead(request: Request, group: str) -> list[str]:
    contact = ctx(request).policy.current.contact_for(group)
    return [line for line in (contact.display_name, contact.postal_address, contact.phone) if line]


async def _row(request: Request, user: User) -> Any:
    return await ctx(request).store.run(review.get_flagged, request.path_params["id"], user.scope)


def _page(
    request: Request, user: User, row: Any, step: str, status: int = 200, **values: Any
) -> Response:
    return render(
        request,
        "answer.html",
        status,
        user=user,
        row=row,
        step=step,
        letterhead=_letterhead(request, row.recipient_group),
        **values,
    )


@login_required
async def start(request: Request, user: User) -> Response:
    row = await _row(request, user)
    if ctx(request).digital_post is None:
        return _page(request, user, row, "off")
    return _page(request, user, row, "recipient")


@login_required
async def step(request: Request, user: User) -> Response:
    row = await _row(request, user)
    desk = ctx(request).digital_post
    if desk is None:
        return _page(request, user, row, "off", 400)
    form = await request.form()
    typed = str(form.get("number", ""))[:32]
    try:
        checked = dp.check_number(typed)
    except dp.NotANumber as e:
        # Refused before anything is asked or sent; the audit says why, not what was typed.
        await ctx(request).store.run(
            review.audit, user.name, "digital-post-number-refused", row.id, {"why": e.code}
        )
        return _page(request, user, row, "recipient", 400, error=e.code)
    # The whole number, matched by its keyed hash against the mail's (never by its masked
    # form); one that is not the mail's is looked up and sent to only when the caseworker
    # says it is another number on purpose, and why. The audit keeps both, per step.
    key = dp.recipient_key(checked, desk.number_key)
    matched = dp.matches(checked, row.number_keys, desk.number_key)
    reason = None if matched else _reason(form)
    values: dict[str, Any] = {"checked": checked, "matched": matched, "reason": reason or ""}
    who: dict[str, Any] = {
        "recipient": f"{checked.kind} {checked.masked}",
        "recipient_key": key,
        "matched": matched,
    }
    if not matched:
        if reason is None:
            await ctx(request).store.run(
                review.audit, user.name, "digital-post-not-in-mail", row.id, who
            )
            error = "reason" if form.get("acknowledge") == "yes" else "not-in-mail"
            return _page(
                request, user, row, "recipient", 400, error=error, acknowledge=True, **values
            )
        who["reason"] = reason
    action = str(form.get("step", ""))
    if action == "check":
        try:
            return await _registration(request, user, row, desk, checked, values, who)
        except OverLimit:
            return _over_limit(request, user, row, desk, values)
    title = str(form.get("title", "")).strip()[:MAX_TITLE]
    text = str(form.get("text", "")).strip()[:MAX_TEXT]
    letter = form.get("channel") == dp.PHYSICAL
    # Typed into the letter form, or carried line by line through the confirmation.
    typed_address = "\n".join(str(v) for v in form.getlist("address_line")) or str(
        form.get("address", "")
    )
    address = _address(typed_address) if letter else []
    use_letterhead = form.get("letterhead") == "yes" and not letter  # a letter has its own
    values |= {"title": title, "text": text, "letter": letter, "address": address}
    if letter and not (desk.physical_mail and checked.kind == dp.CPR):
        return _page(request, user, row, "recipient", 400, error="no-letter", **values)
    step_back = "exempt" if letter else "compose"
    if not title or not text:
        return _page(request, user, row, step_back, 400, error="empty", **values)
    if letter and len(address) < 2:
        return _page(request, user, row, step_back, 400, error="address", **values)
    lines = _letterhead(request, row.recipient_group)
    body = dp.with_letterhead(text, lines if use_letterhead else [])
    values |= {"body": body, "use_letterhead": use_letterhead}
    if action == "send" and form.get("confirm") == "yes":
        memo_uuid = _memo_uuid(form.get("memo_uuid"))
        if memo_uuid is None:
            values |= {"memo_uuid": str(uuid.uuid4()), "registered": False if letter else None}
            return _page(request, user, row, "confirm", 400, error="stale", **values)
        # The registration is asked again right before the send, whatever the form says:
        # the number may have been changed after the look-up (the hidden field is the
        # browser's), and the answer goes only by the channel that reaches the recipient.
        try:
            registered, failure = await _registered(request, user, row, desk, checked, who)
        except OverLimit:
            return _over_limit(request, user, row, desk, values)
        if registered is None:
            return _page(request, user, row, "recipient", 502, lookup_error=failure, **values)
        if registered == letter:
            error = "registered" if letter else "not-registered"
            return _page(request, user, row, "recipient", 400, error=error, **values)
        answer = dp.new_answer(
            row.id,
            checked,
            title,
            body,
            ctx(request).policy.current.contact_for(row.recipient_group).display_name,
            row.case_number or row.case_hint,
            address=address,
            sender_lines=lines,
            memo_uuid=memo_uuid,
        )
        return await _queue(request, user, row, desk, checked, who, answer)
    # Nothing is sent unconfirmed. The answer's id is chosen now and travels with the
    # confirmation: a second click on "Send" (or Back and send again) names the same answer,
    # and the store queues it once.
    values |= {"memo_uuid": str(uuid.uuid4()), "registered": False if letter else None}
    return _page(request, user, row, "confirm", **values)


MIN_REASON = 3
MAX_REASON = 300


def _reason(form: Any) -> str | None:
    """The caseworker's reason for a number that is not in the mail: given only with the
    acknowledgement ticked, and long enough to say something."""
    if form.get("acknowledge") != "yes":
        return None
    reason = CONTROL.sub(" ", str(form.get("reason", ""))).strip()[:MAX_REASON]
    return reason if len(reason) >= MIN_REASON else None


class OverLimit(Exception):
    """The user has made the hour's look-ups (digital_post_lookups_per_hour)."""


def _over_limit(
    request: Request, user: User, row: Any, desk: dp.Desk, values: dict[str, Any]
) -> Response:
    limit = desk.lookups_per_hour
    return _page(request, user, row, "recipient", 429, error="lookup-limit", limit=limit, **values)


def _memo_uuid(value: object) -> str | None:
    try:
        return str(uuid.UUID(str(value or "")))
    except ValueError:
        return None


def _address(typed: str) -> list[str]:
    """The letter's address block: at most six lines that fit an envelope window."""
    return [line.strip()[:60] for line in typed.splitlines() if line.strip()][:6]


async def _registered(
    request: Request, user: User, row: Any, desk: dp.Desk, checked: dp.Checked, who: dict
) -> tuple[bool | None, str]:
    """Digital Post's registration answer, audited; None and why when it could not be
    asked (nothing is sent on a guess: the page says to try again). Raises OverLimit past
    the user's look-ups of the hour (counted in the database: every instance's count)."""
    store = ctx(request).store
    limit = desk.lookups_per_hour
    if not await store.run(take_quota, LOOKUPS, user.name, limit, timedelta(hours=1)):
        detail = {**who, "limit": limit}
        await store.run(review.audit, user.name, "digital-post-lookup-refused", row.id, detail)
        raise OverLimit()
    try:
        registered = await asyncio.to_thread(desk.service.is_registered, checked.number)
    except Exception as e:
        text, _ = explain(e)
        log.warning("Digital Post look-up for %s %s failed: %s", checked.kind, checked.masked, text)
        return None, text
    detail = {**who, "registered": registered}
    await store.run(review.audit, user.name, "digital-post-lookup", row.id, detail)
    return bool(registered), ""


async def _registration(
    request: Request,
    user: User,
    row: Any,
    desk: dp.Desk,
    checked: dp.Checked,
    values: dict,
    who: dict,
) -> Response:
    registered, failure = await _registered(request, user, row, desk, checked, who)
    if registered is None:
        return _page(request, user, row, "recipient", 502, lookup_error=failure, **values)
    case = row.case_number or row.case_hint
    values |= {"title": dp.default_title(case), "text": "", "registered": registered}
    if not registered:
        # A letter through the print service, where the municipality has it, for citizens.
        letter = desk.physical_mail and checked.kind == dp.CPR
        return _page(request, user, row, "exempt", letter=letter, address=[], **values)
    return _page(request, user, row, "compose", **values)


async def _queue(
    request: Request,
    user: User,
    row: Any,
    desk: dp.Desk,
    checked: dp.Checked,
    who: dict[str, Any],
    answer: dp.Answer,
) -> Response:
    new = answers.NewAnswer(
        message_id=row.id,
        recipient_type=checked.kind,
        recipient_masked=checked.masked,
        matched=who["matched"],
        recipient_key=who["recipient_key"],
        reason=who.get("reason"),
        memo_uuid=answer.memo_uuid,
        actor=user.name,
        payload=await asyncio.to_thread(dp.seal, answer, desk.key),
        channel=answer.channel,
    )
    try:
        await ctx(request).store.run(answers.queue, new, user.scope)
    except IntegrityError:
        # The same answer sent twice at the same moment (a double click): the other request
        # queued it. Anything else with this id (a forged one) queues nothing either.
        return RedirectResponse(f"/mail/{row.id}?answered=1", status_code=303)
    log.info(
        "%s answer to %s %s queued for %s", answer.channel, checked.kind, checked.masked, row.id
    )
    desk.wake()
    return RedirectResponse(f"/mail/{row.id}?answered=1", status_code=303)


ROUTES = [
    Route("/mail/{id}/answer", start, methods=["GET"]),
    Route("/mail/{id}/answer", step, methods=["POST"]),
]
