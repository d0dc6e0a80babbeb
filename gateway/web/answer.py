"""Answer a flagged mail through Digital Post, from its detail page (issue 19).

Four server-rendered steps, each a POST with the session's CSRF token, each checking that
the user may see the mail's mailbox: the recipient's number (checked as the detector checks
a CPR number, or CVR modulus 11) → Digital Post's registration answer → the answer written →
confirmed and queued in the outbox, which sends it (gateway.act.digital_post).

The typed number goes back and forth in the form only; the server keeps it nowhere but in
the outbox item, sealed, until the send settles. Logs and the audit log get the masked form.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gateway.act import digital_post as dp
from gateway.act.serviceplatformen import explain
from gateway.store import answers, review
from gateway.store.users import User
from gateway.web.views import ctx, login_required, render

log = logging.getLogger("postvagt.web")

MAX_TITLE = 200  # MeMo's text fields hold 256 characters; the case number is added
MAX_TEXT = 20_000


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
    matched = dp.matches_finding(checked, row.findings or [])
    values: dict[str, Any] = {"checked": checked, "matched": matched}
    action = str(form.get("step", ""))
    if action == "check":
        return await _registration(request, user, row, desk, checked, values)
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
        registered, failure = await _registered(request, user, row, desk, checked)
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
        return await _queue(request, user, row, desk, checked, matched, answer)
    # Nothing is sent unconfirmed. The answer's id is chosen now and travels with the
    # confirmation: a second click on "Send" (or Back and send again) names the same answer,
    # and the store queues it once.
    values |= {"memo_uuid": str(uuid.uuid4()), "registered": False if letter else None}
    return _page(request, user, row, "confirm", **values)


def _memo_uuid(value: object) -> str | None:
    try:
        return str(uuid.UUID(str(value or "")))
    except ValueError:
        return None


def _address(typed: str) -> list[str]:
    """The letter's address block: at most six lines that fit an envelope window."""
    return [line.strip()[:60] for line in typed.splitlines() if line.strip()][:6]


async def _registered(
    request: Request, user: User, row: Any, desk: dp.Desk, checked: dp.Checked
) -> tuple[bool | None, str]:
    """Digital Post's registration answer, audited; None and why when it could not be
    asked (nothing is sent on a guess: the page says to try again)."""
    try:
        registered = await asyncio.to_thread(desk.service.is_registered, checked.number)
    except Exception as e:
        text, _ = explain(e)
        log.warning("Digital Post look-up for %s %s failed: %s", checked.kind, checked.masked, text)
        return None, text
    detail = {"recipient": f"{checked.kind} {checked.masked}", "registered": registered}
    await ctx(request).store.run(review.audit, user.name, "digital-post-lookup", row.id, detail)
    return bool(registered), ""


async def _registration(
    request: Request, user: User, row: Any, desk: dp.Desk, checked: dp.Checked, values: dict
) -> Response:
    registered, failure = await _registered(request, user, row, desk, checked)
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
    matched: bool,
    answer: dp.Answer,
) -> Response:
    new = answers.NewAnswer(
        message_id=row.id,
        recipient_type=checked.kind,
        recipient_masked=checked.masked,
        matched=matched,
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
