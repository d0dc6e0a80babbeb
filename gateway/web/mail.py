"""One flagged mail: its detail page (findings, verdict, history, answers), marking it,
releasing or deleting its held copy, the held copy itself (.eml) and its text with personal
data masked, and a sent answer's documents for the case file. Every view is audited."""

from __future__ import annotations

import logging
import re

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.model import Preview
from gateway.store import answers, review
from gateway.store.tables import JOURNAL_STATES
from gateway.store.users import User
from gateway.web.bulk import confirm_page, forget_held
from gateway.web.common import ctx, login_required, render, words

log = logging.getLogger("postvagt.web")


@login_required
async def detail(request: Request, user: User) -> Response:
    message_id = request.path_params["id"]
    store = ctx(request).store
    row = await store.run(review.view, message_id, user.scope, user.name)
    # Answers before the history: an answer shown as sent has its audit entry below it.
    answered = await store.run(answers.for_message, message_id)
    events = await store.run(review.history, message_id)
    held = await store.run(review.quarantine_entry, message_id)
    return render(
        request,
        "detail.html",
        answers=answered,
        answered=request.query_params.get("answered") == "1",
        can_answer=ctx(request).digital_post is not None,
        user=user,
        row=row,
        events=events,
        held=held,
        states=JOURNAL_STATES,
        saved=request.query_params.get("saved") == "1",
        can_release=ctx(request).release is not None,
        can_preview=ctx(request).preview is not None,
    )


@login_required
async def mark(request: Request, user: User) -> Response:
    message_id = request.path_params["id"]
    form = await request.form()
    try:
        await ctx(request).store.run(
            review.mark,
            message_id,
            user.scope,
            user.name,
            str(form.get("state", "")),
            case_number=str(form.get("case_number", "")) or None,
            note=str(form.get("note", "")) or None,
        )
    except ValueError as e:
        return render(request, "error.html", 400, message=str(e), back=f"/mail/{message_id}")
    return RedirectResponse(f"/mail/{message_id}?saved=1", status_code=303)


@login_required
async def release(request: Request, user: User) -> Response:
    message_id = request.path_params["id"]
    context = ctx(request)
    await context.store.run(review.get_flagged, message_id, user.scope)
    if context.release is None:
        return render(request, "error.html", 400, message="release is not available here")
    reply = await context.release(message_id)
    if not reply.positive:
        # The reply text can name a recipient: the audit log, kept longest, gets the code.
        await context.store.run(
            review.audit, user.name, "release-refused", message_id, {"upstream": reply.code}
        )
        return render(request, "error.html", 502, message=f"upstream: {reply}")
    await context.store.run(review.mark_released, message_id, user.name, str(reply))
    return RedirectResponse(f"/mail/{message_id}?saved=1", status_code=303)


@login_required
async def delete_held(request: Request, user: User) -> Response:
    """Deletes the held copy once confirmed; without ``confirm=yes``, asks first."""
    message_id = request.path_params["id"]
    form = await request.form()
    if form.get("confirm") != "yes":
        return await confirm_page(request, user, "delete-held", [message_id], f"/mail/{message_id}")
    await forget_held(request, user, message_id)
    return RedirectResponse(f"/mail/{message_id}?saved=1", status_code=303)


@login_required
async def download(request: Request, user: User) -> Response:
    message_id = request.path_params["id"]
    store = ctx(request).store
    try:
        raw = await store.run(
            review.read_held, message_id, user.scope, user.name, store.quarantine, "download"
        )
    except (LookupError, OSError):
        raise review.NotFound(message_id) from None
    return Response(
        raw,
        media_type="message/rfc822",
        headers={
            # Never shown inline: the browser saves it for the case system.
            "Content-Disposition": f'attachment; filename="postvagt-{message_id}.eml"',
        },
    )


ANSWER_FILES = {
    "letter.pdf": ("letter_pdf", "application/pdf"),
    "memo.xml": ("memo_xml", "application/xml"),
}
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


@login_required
async def answer_document(request: Request, user: User) -> Response:
    """A sent answer as it went out, for the case file: the letter (PDF) or the MeMo XML,
    the recipient's number masked, named with its transaction id; audited."""
    message_id = request.path_params["id"]
    wanted = ANSWER_FILES.get(request.path_params["file"])
    if wanted is None:
        raise review.NotFound(message_id)
    kind, media_type = wanted
    data, transaction = await ctx(request).store.run(
        answers.document,
        message_id,
        request.path_params["answer"],
        kind,
        user.scope,
        user.name,
    )
    suffix = request.path_params["file"][-4:]
    name = f"postvagt-{message_id}-svar-{SAFE_NAME.sub('_', transaction or 'ukendt')}{suffix}"
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Transaction-Id": SAFE_NAME.sub("_", transaction or ""),
        },
    )


# -- the held mail's text ----------------------------------------------------------------------


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
            review.read_held, message_id, user.scope, user.name, store.quarantine, "preview"
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


ROUTES = [
    Route("/mail/{id}", detail),
    Route("/mail/{id}/text", preview),
    Route("/mail/{id}/mark", mark, methods=["POST"]),
    Route("/mail/{id}/release", release, methods=["POST"]),
    Route("/mail/{id}/delete-held", delete_held, methods=["POST"]),
    Route("/mail/{id}/original.eml", download),
    Route("/mail/{id}/answers/{answer:int}/{file}", answer_document),
]
