"""Answering a mail through Digital Post: the recipient's number checked, the answer sealed
for the outbox, the MeMo message (or the letter for the print service) built with
python-serviceplatformen's models, and the outbox's sender for it. The calls to
Serviceplatformen are in gateway.act.serviceplatformen.

The typed CPR number is never stored as typed: it travels inside the outbox item's payload,
encrypted with a key derived from the instance's web secret (which every instance behind one
address shares), and the payload is wiped when the send settles (gateway.store.primitives).

A send is retried on the outbox's schedule. A retry re-sends the same MeMo ``messageUUID``;
Digital Post refuses a messageUUID it already has (HTTP 409 here), which means an earlier try
got through although we never saw its answer (a crash, a timeout): that counts as sent, so an
answer is never delivered twice.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

from cryptography.fernet import Fernet, InvalidToken
from python_serviceplatformen.models import message as memo
from python_serviceplatformen.models import physical_mail as physical
from python_serviceplatformen.models.xml_util import dataclass_to_xml
from stdnum.dk import cvr as stdnum_cvr

from gateway.act.letter import letter_pdf
from gateway.act.serviceplatformen import Serviceplatformen, duplicate, explain
from gateway.detect.keyed import keyed_number, number_key
from gateway.detect.recognizers import dk_cpr, dk_cvr
from gateway.store.primitives import Failed, OutboxItem, Retry, SendResult, Sent

log = logging.getLogger("postvagt.digitalpost")

CPR, CVR = "CPR", "CVR"
DIGITAL, PHYSICAL = "digital-post", "physical-mail"
TITLE = "Svar på din henvendelse"


class NotANumber(ValueError):
    """What was typed is no CPR or CVR number; ``code`` names why, for the page's words."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Checked:
    kind: str  # CPR or CVR
    number: str  # digits only: for the send, never stored
    masked: str

    def __repr__(self) -> str:  # a number in a traceback is a number in a log
        return f"Checked({self.kind} {self.masked})"


def check_number(typed: str) -> Checked:
    """A CPR number by the detector's own date and century rules (no second CPR rule), or a
    CVR number by modulus 11; anything else is refused before anything is sent."""
    digits = re.sub(r"[\s-]", "", typed)
    if not re.fullmatch(r"[0-9]+", digits):  # isdigit() takes full-width and other digits
        raise NotANumber("shape")
    if len(digits) == 10:
        if dk_cpr.birth_date(digits) is None:
            raise NotANumber("cpr-date")
        return Checked(CPR, digits, dk_cpr.mask(digits))
    if len(digits) == 8:
        if not stdnum_cvr.is_valid(digits):
            raise NotANumber("cvr-checksum")
        return Checked(CVR, digits, dk_cvr.mask(digits))
    raise NotANumber("shape")


def recipient_key(checked: Checked, key: bytes) -> str:
    """The keyed hash of the typed number, as the detector makes them for the mail's."""
    return keyed_number(key, checked.number)


def matches(checked: Checked, number_keys: Sequence[str] | None, key: bytes) -> bool:
    """Whether the whole number is one the detector found in this mail: its keyed hash is
    among the record's (a masked form says nothing: two numbers that differ only in the
    serial share it)."""
    return recipient_key(checked, key) in (number_keys or ())


def default_title(case: str | None) -> str:
    return f"{TITLE} ({case})" if case else TITLE


def with_letterhead(text: str, lines: Sequence[str | None]) -> str:
    """The answer with the municipality's sender lines (name, address, phone) under it."""
    head = [line for line in lines if line]
    return text.rstrip() + ("\n\n" + "\n".join(head) if head else "") + "\n"


# -- the answer as it waits in the outbox --------------------------------------------------


@dataclass(frozen=True)
class Answer:
    message_id: str  # Postvagt's id of the mail answered
    recipient_type: str
    number: str
    title: str
    text: str
    sender_label: str  # the mailbox's display name
    memo_uuid: str
    created_at: str  # ISO 8601, UTC: the MeMo's createdDateTime, the same on every try
    case: str | None = None
    channel: str = DIGITAL  # or PHYSICAL: a letter through the print service
    address: tuple[str, ...] = ()  # the letter's address lines (physical mail only)
    sender_lines: tuple[str, ...] = ()  # the letter's sender block: name, address, phone

    def __repr__(self) -> str:
        return f"Answer({self.memo_uuid} to {self.recipient_type})"


def sealing_key(secret: str) -> bytes:
    """A Fernet key of its own, derived from the web secret (never the secret itself)."""
    digest = hashlib.sha256(b"postvagt digital post answers\0" + secret.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def seal(answer: Answer, key: bytes) -> bytes:
    return Fernet(key).encrypt(json.dumps(asdict(answer)).encode())


def unseal(payload: bytes, key: bytes) -> Answer:
    fields = json.loads(Fernet(key).decrypt(payload))
    for name in ("address", "sender_lines"):
        fields[name] = tuple(fields.get(name, ()))
    return Answer(**fields)


def new_answer(
    message_id: str,
    checked: Checked,
    title: str,
    text: str,
    sender_label: str,
    case: str | None,
    address: Sequence[str] = (),
    sender_lines: Sequence[str] = (),
    memo_uuid: str | None = None,
) -> Answer:
    """``memo_uuid``: the answer's id, chosen when the caseworker was asked to confirm (a
    second "Send" names the same answer); a new one where none was."""
    return Answer(
        message_id=message_id,
        recipient_type=checked.kind,
        number=checked.number,
        title=title,
        text=text,
        sender_label=sender_label,
        memo_uuid=memo_uuid or str(uuid.uuid4()),
        created_at=datetime.now(UTC).isoformat(),
        case=case,
        channel=PHYSICAL if address else DIGITAL,
        address=tuple(address),
        sender_lines=tuple(sender_lines),
    )


# -- MeMo -----------------------------------------------------------------------------------


def build_memo(answer: Answer, sender_cvr: str) -> memo.Message:
    """The MeMo message: the text as the main document, the municipality (CVR) and the
    mailbox's name as sender, Postvagt's id as a reference, the case number when known."""
    content = memo.ContentData(
        caseID=memo.CaseID(caseID=answer.case, caseSystem="ESDH") if answer.case else None,
        additionalContentData=(
            memo.AdditionalContentData(
                contentDataType="Postvagt",
                contentDataName="X-Postvagt-Id",
                contentDataValue=answer.message_id,
            ),
        ),
    )
    text = base64.b64encode(answer.text.encode("utf-8")).decode()
    return memo.Message(
        messageHeader=memo.MessageHeader(
            messageType="DIGITALPOST",
            messageUUID=answer.memo_uuid,
            label=answer.title,
            mandatory=False,
            legalNotification=False,
            sender=memo.Sender(senderID=sender_cvr, idType="CVR", label=answer.sender_label),
            recipient=memo.Recipient(recipientID=answer.number, idType=answer.recipient_type),
            contentData=content,
        ),
        messageBody=memo.MessageBody(
            createdDateTime=datetime.fromisoformat(answer.created_at),
            mainDocument=memo.MainDocument(
                label=answer.title,
                files=(
                    memo.File(
                        encodingFormat="text/plain",
                        filename="svar.txt",
                        language="da",
                        content=text,
                    ),
                ),
            ),
        ),
    )


def memo_xml(message: memo.Message) -> bytes:
    """The MeMo document as the package serialises it for KombiPostAfsend."""
    return ElementTree.tostring(dataclass_to_xml(message), encoding="utf-8")


NUMBER_SEPARATORS = r"[\s\-/.\u00ad\u2010-\u2015\u2212]{0,3}"
"""What may stand between two digits of a number typed into an answer (case_file_copy)."""


def case_file_copy(answer: Answer, sender_cvr: str) -> tuple[tuple[str, bytes], ...]:
    """The answer as it went out, for the case file: the letter as PDF (rendered as the
    print service's, from the masked text) and the MeMo message's XML (Digital Post only) —
    with the recipient's number masked, in the recipient field and wherever the caseworker
    typed it into the title or text, in any spelling the detector reads (``150289 3041``,
    ``150289/3041``, ``12 34 56 78`` …). The record keeps these, never the number."""
    masked = (
        dk_cpr.mask(answer.number) if answer.recipient_type == CPR else dk_cvr.mask(answer.number)
    )
    # The number's digits with any separators between them: more than the recognizers
    # allow, so that no spelling of it stays readable in the stored copy.
    spelled = re.compile(
        r"(?<!\d)" + NUMBER_SEPARATORS.join(re.escape(d) for d in answer.number) + r"(?!\d)"
    )

    def hide(text: str) -> str:
        return spelled.sub(masked, text)

    kept = replace(answer, number=masked, title=hide(answer.title), text=hide(answer.text))
    sender = kept.sender_lines or (kept.sender_label,)
    pdf = letter_pdf(kept.address, sender, kept.title, kept.text)
    if answer.channel == PHYSICAL:
        return (("letter_pdf", pdf),)
    return (("letter_pdf", pdf), ("memo_xml", memo_xml(build_memo(kept, sender_cvr))))


def build_letter(answer: Answer, kind: int) -> physical.ForsendelseI:
    """The letter for the print service, as python-serviceplatformen builds it, with the
    answer's own id as AfsendelseIdentifikator: the same on every try, so a retry of a
    letter that got through is refused as a duplicate rather than printed twice."""
    sender = answer.sender_lines or (answer.sender_label,)
    pdf = letter_pdf(answer.address, sender, answer.title, answer.text)
    letter = physical.create_physical_mail(kind, pdf)
    letter.afsendelse_identifikator = physical.AfsendelseIdentifikator(value=answer.memo_uuid)
    return letter


# -- sending ---------------------------------------------------------------------------------


class LetterOff(Exception):
    """A letter was queued, but physical mail is no longer set up."""


class DigitalPostSender:
    """Sends the outbox's digital-post items: the outbox's lease, retry and give-up rules,
    Serviceplatformen as the next hop."""

    def __init__(
        self,
        service: Serviceplatformen,
        key: bytes,
        retry: Sequence[float],
        *,
        letter_kind: int | None = None,
    ) -> None:
        self._service = service
        self._key = key
        self._retry = tuple(retry)
        self._letter_kind = letter_kind

    def _deliver(self, answer: Answer) -> str:
        if answer.channel != PHYSICAL:
            return self._service.send(build_memo(answer, self._service.cvr))
        if self._letter_kind is None:
            raise LetterOff()
        return self._service.send_letter(build_letter(answer, self._letter_kind))

    def send(self, item: OutboxItem) -> SendResult:
        """One try (blocking: run it in a thread)."""
        try:
            answer = unseal(item.payload, self._key)
        except (InvalidToken, ValueError, TypeError):
            # Sealed under another web secret, or wiped: nobody can send it any more.
            return Failed("the answer cannot be read (web secret changed?)")
        try:
            transaction = self._deliver(answer)
        except LetterOff:
            return Failed("physical mail is switched off here (digital_post_physical_mail)")
        except Exception as e:
            if duplicate(e):
                log.info("outbox id=%d: Digital Post had this answer already", item.id)
                return Sent("", self._copy(answer))
            text, again = explain(e)
            if not again:
                return Failed(f"refused: {text}")
            if item.attempts > len(self._retry):
                return Failed(f"gave up after {item.attempts} tries; last: {text}")
            wait = timedelta(seconds=self._retry[item.attempts - 1])
            return Retry(text, datetime.now(UTC) + wait)
        return Sent(transaction, self._copy(answer))

    def _copy(self, answer: Answer) -> tuple[tuple[str, bytes], ...]:
        try:
            return case_file_copy(answer, self._service.cvr)
        except Exception:  # the answer went out: a copy that cannot be made is no failure
            log.exception("answer %s: no copy for the case file", answer.memo_uuid)
            return ()


@dataclass
class Desk:
    """What the staff page needs to answer: the service, the sealing key, and a way to tell
    the outbox that something was queued."""

    service: Serviceplatformen
    key: bytes
    wake: Callable[[], None]
    physical_mail: bool = False  # letters through the print service for exempt citizens
    number_key: bytes = b""  # of the numbers' keyed hashes (gateway.detect.keyed)
    lookups_per_hour: int = 60  # registration look-ups per staff member


def set_up(
    certificate: str,
    cvr: str,
    *,
    production: bool,
    base_url: str | None,
    secret: str,
    retry: Sequence[float],
    wake: Callable[[], None],
    letter_kind: int | None = None,
    lookups_per_hour: int = 60,
) -> tuple[Desk, DigitalPostSender]:
    # SF1601's look-up takes the CPR number in the URL, and urllib3 logs every URL at DEBUG:
    # never below INFO, whatever log_level says.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, logging.getLogger().level))
    service = Serviceplatformen(certificate, cvr, production=production, base_url=base_url)
    key = sealing_key(secret)
    sender = DigitalPostSender(service, key, retry, letter_kind=letter_kind)
    desk = Desk(
        service,
        key,
        wake,
        physical_mail=letter_kind is not None,
        number_key=number_key(secret),
        lookups_per_hour=lookups_per_hour,
    )
    return desk, sender
