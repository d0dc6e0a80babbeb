"""Work on many mails at once: mark, release or delete the held copy of a selection (at
most MAX_BULK), always confirmed first and audited per mail. The confirmation page and the
deletion of a held copy also serve one mail's own buttons (gateway.web.mail)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from gateway.store import retention, review
from gateway.store.users import User
from gateway.web.common import ctx, login_required, render, safe_next, words

MAX_BULK = 200  # mails one bulk action takes at most
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
        ready = await store.run(review.with_held_copy, [r.id for r in rows], action == "release")
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


async def forget_held(request: Request, user: User, message_id: str) -> None:
    store = ctx(request).store
    path = await store.run(review.forget_quarantined, message_id, user.scope, user.name)
    if path is not None:
        await asyncio.to_thread(retention.remove_files, store.quarantine, [path])


@login_required
async def bulk(request: Request, user: User) -> Response:
    """Step one: the selection and the action, shown back for confirmation."""
    form = await request.form()
    action = str(form.get("action", ""))
    back = safe_next(str(form.get("back", "/")))
    if action not in BULK_ACTIONS:
        return render(request, "error.html", 400, message=action[:40], back=back)
    return await confirm_page(request, user, action, _ids(form), back)


@login_required
async def bulk_apply(request: Request, user: User) -> Response:
    """Step two, confirmed: each mail in turn, each with its own audit entry."""
    form = await request.form()
    action = str(form.get("action", ""))
    back = safe_next(str(form.get("back", "/")))
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


ROUTES = [
    Route("/bulk", bulk, methods=["POST"]),
    Route("/bulk/apply", bulk_apply, methods=["POST"]),
]
