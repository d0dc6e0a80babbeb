"""Answering a flagged mail through Digital Post (issue 19), against a local HTTPS stand-in
for Serviceplatformen (tests/digital_post_standin.py): the number checked before anything is
asked, the registration look-up, the MeMo (validated against the MeMo schema and field by
field), the send from the outbox with its retries — stand-in down then up, an error answer,
a crash mid-send, a timeout — and never two deliveries of one answer."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import random
import re
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy import create_engine, select, update

from gateway.act import digital_post as dp
from gateway.act import serviceplatformen as sp
from gateway.act.outbox import OutboxSender
from gateway.detect.keyed import keyed_number, number_key
from gateway.detect.recognizers import dk_cpr
from gateway.doctor import check_digital_post
from gateway.settings import Settings, SettingsError, load_settings
from gateway.store import answers
from gateway.store.primitives import claim_outbox
from gateway.store.tables import answers as answers_table
from gateway.store.tables import audit_log, messages, outbox
from gateway.store.users import add_user
from gateway.web.auth import hash_password
from tests import fictional
from tests.digital_post_standin import MEMO, StandIn, make_certificate, memo_schema_errors
from tests.helpers import POSTVAGT, clean_env, wait_for
from tests.test_web import PASSWORD, POLICY, csrf, login, send, staff_site

M = f"{{{MEMO}}}"
RNG = random.Random(1601)
MUNICIPALITY_CVR = fictional.cvr(RNG)
CITIZEN = fictional.cpr(RNG)  # "improbable" valid numbers: never a real person's
OTHER_CITIZEN = fictional.cpr(RNG)
EXEMPT_CITIZEN = fictional.cpr(RNG)
BUSINESS = fictional.cvr(RNG)


def _neighbour(number: str, rng: random.Random) -> str:
    """Another fictional number with the same masked form: the same birth date (CPR) or
    the same first two digits (CVR), a different number."""
    digits = number.replace("-", "")
    while True:
        if len(digits) == 10:
            other = fictional.cpr(rng, born=dk_cpr.birth_date(digits))
        else:
            other = fictional.cvr(rng)
        if other != number and dp.check_number(other).masked == dp.check_number(number).masked:
            return other


NEIGHBOUR = _neighbour(CITIZEN, random.Random(24))  # 030800-5558 beside 030800-5557
NEAR_BUSINESS = _neighbour(BUSINESS, random.Random(24))


# -- the number, the MeMo, the seal -------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "kind", "masked"),
    [
        ("150385-2001", "CPR", "150385-****"),
        ("1503852001", "CPR", "150385-****"),
        (" 150385 2001 ", "CPR", "150385-****"),
        (BUSINESS, "CVR", BUSINESS[:2] + "******"),
    ],
)
def test_digital_post_number_accepted(typed, kind, masked):
    checked = dp.check_number(typed)
    assert (checked.kind, checked.masked) == (kind, masked)
    assert checked.number not in repr(checked)


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("300286-2001", "cpr-date"),  # 30 February
        ("151385-2001", "cpr-date"),  # month 13
        ("010150-5006", "cpr-date"),  # 2050: not yet born (digit 7 = 5)
        ("150385-200", "shape"),
        ("150385-****", "shape"),
        ("abc", "shape"),
        (BUSINESS[:7] + str((int(BUSINESS[7]) + 1) % 10), "cvr-checksum"),
    ],
)
def test_digital_post_number_refused(typed, why):
    with pytest.raises(dp.NotANumber) as refused:
        dp.check_number(typed)
    assert refused.value.code == why


def test_digital_post_a_number_matches_only_itself_never_its_masked_form():
    """Issue 24.1: 030800-5557 in the mail, 0308005558 typed — the same masked form, another
    person. Only the keyed hash of the whole number matches."""
    key = number_key("web secret")
    in_mail = [keyed_number(key, CITIZEN.replace("-", "")), keyed_number(key, BUSINESS)]
    assert dp.matches(dp.check_number(CITIZEN), in_mail, key)
    assert dp.matches(dp.check_number(CITIZEN.replace("-", " ")), in_mail, key)
    assert dp.matches(dp.check_number(BUSINESS), in_mail, key)
    for found, other in ((CITIZEN, NEIGHBOUR), (BUSINESS, NEAR_BUSINESS)):
        assert dp.check_number(other).masked == dp.check_number(found).masked  # looks alike
        assert not dp.matches(dp.check_number(other), in_mail, key)
    assert not dp.matches(dp.check_number(CITIZEN), [], key)
    # Keyed: the plain SHA-256 of ten digits is a table look-up away; this is not it, and
    # another instance's key gives another hash.
    digits = CITIZEN.replace("-", "")
    assert keyed_number(key, digits) != hashlib.sha256(digits.encode()).hexdigest()
    assert keyed_number(number_key("another secret"), digits) != keyed_number(key, digits)
    assert not dp.matches(dp.check_number(CITIZEN), in_mail, number_key("another secret"))


def _answer(checked: dp.Checked, case: str | None = "27.24.00-G01-5-19") -> dp.Answer:
    text = dp.with_letterhead("Hej\n\nTak for din henvendelse.", ["Testby Kommune", "Tlf. 1"])
    return dp.new_answer("msg-1", checked, dp.default_title(case), text, "Testby Kommune", case)


def memo_validates(document: bytes) -> None:
    """Against the MeMo schema (tests/memo_schema/README.md says which and how)."""
    assert memo_schema_errors(document) == []


@pytest.mark.parametrize("number", [CITIZEN, BUSINESS])
def test_digital_post_memo_is_valid_and_carries_what_the_issue_asks(number):
    checked = dp.check_number(number)
    answer = _answer(checked)
    document = dp.memo_xml(dp.build_memo(answer, MUNICIPALITY_CVR))
    memo_validates(document)
    root = ElementTree.fromstring(document)
    head = root.find(f"{M}MessageHeader")
    assert head is not None
    assert head.findtext(f"{M}messageType") == "DIGITALPOST"
    assert head.findtext(f"{M}messageUUID") == answer.memo_uuid
    assert head.findtext(f"{M}label") == "Svar på din henvendelse (27.24.00-G01-5-19)"
    assert head.findtext(f"{M}Sender/{M}senderID") == MUNICIPALITY_CVR
    assert head.findtext(f"{M}Sender/{M}idType") == "CVR"
    assert head.findtext(f"{M}Sender/{M}label") == "Testby Kommune"
    assert head.findtext(f"{M}Recipient/{M}recipientID") == checked.number
    assert head.findtext(f"{M}Recipient/{M}idType") == checked.kind
    assert head.findtext(f"{M}ContentData/{M}CaseID/{M}caseID") == "27.24.00-G01-5-19"
    extra = head.find(f"{M}ContentData/{M}AdditionalContentData")
    assert extra is not None and extra.findtext(f"{M}contentDataValue") == "msg-1"
    file = root.find(f"{M}MessageBody/{M}MainDocument/{M}File")
    assert file is not None
    assert file.findtext(f"{M}encodingFormat") == "text/plain"
    text = base64.b64decode(file.findtext(f"{M}content") or "").decode()
    assert text == "Hej\n\nTak for din henvendelse.\n\nTestby Kommune\nTlf. 1\n"
    # The same answer gives the same document on every try (the retry re-sends it).
    assert dp.memo_xml(dp.build_memo(answer, MUNICIPALITY_CVR)) == document


def test_digital_post_memo_without_case_number_is_valid():
    answer = _answer(dp.check_number(CITIZEN), case=None)
    document = dp.memo_xml(dp.build_memo(answer, MUNICIPALITY_CVR))
    memo_validates(document)
    assert b"CaseID" not in document and b"Svar p\xc3\xa5 din henvendelse<" in document


def test_digital_post_seal_hides_the_number_and_needs_the_key():
    answer = _answer(dp.check_number(CITIZEN))
    key = dp.sealing_key("web secret")
    sealed = dp.seal(answer, key)
    assert CITIZEN.replace("-", "").encode() not in sealed and b"Tak for" not in sealed
    assert dp.unseal(sealed, key) == answer
    assert dp.sealing_key("web secret") == key != dp.sealing_key("another secret")
    with pytest.raises(Exception):  # noqa: B017 (Fernet's InvalidToken)
        dp.unseal(sealed, dp.sealing_key("another secret"))


# -- settings and doctor ----------------------------------------------------------------


@pytest.fixture(scope="module")
def oces(tmp_path_factory) -> Path:
    """The municipality's OCES3 certificate for tests: self-signed, key in the PEM, 0600."""
    pem, _ = make_certificate(tmp_path_factory.mktemp("oces"), "oces3", key_inside=True)
    return pem


def test_digital_post_settings_refuse_a_readable_key(oces, tmp_path):
    loose = tmp_path / "loose.pem"
    loose.write_bytes(oces.read_bytes())
    loose.chmod(0o644)
    environ = {
        "POSTVAGT_DIGITAL_POST_CERTIFICATE": str(loose),
        "POSTVAGT_DIGITAL_POST_CVR": MUNICIPALITY_CVR,
    }
    with pytest.raises(SettingsError) as refused:
        load_settings(environ=environ)
    assert "chmod 600" in str(refused.value) and "0644" in str(refused.value)
    with pytest.raises(SettingsError, match="go together"):
        load_settings(environ={"POSTVAGT_DIGITAL_POST_CVR": MUNICIPALITY_CVR})
    with pytest.raises(SettingsError, match="not a CVR number"):
        load_settings(environ={**environ, "POSTVAGT_DIGITAL_POST_CVR": "12345678"})
    with pytest.raises(SettingsError, match="test or production"):
        load_settings(environ={"POSTVAGT_DIGITAL_POST_ENVIRONMENT": "staging"})
    ok = load_settings(environ={**environ, "POSTVAGT_DIGITAL_POST_CERTIFICATE": str(oces)})
    assert ok.digital_post_environment == "test"


def test_digital_post_start_refuses_a_readable_key_without_a_traceback(oces, tmp_path):
    loose = tmp_path / "loose.pem"
    loose.write_bytes(oces.read_bytes())
    loose.chmod(0o640)
    env = {
        **clean_env(),
        "POSTVAGT_DIGITAL_POST_CERTIFICATE": str(loose),
        "POSTVAGT_DIGITAL_POST_CVR": MUNICIPALITY_CVR,
    }
    ran = subprocess.run(
        [
            *POSTVAGT,
            *("run", "--listen", "127.0.0.1:0", "--web-listen", "127.0.0.1:0"),
            *("--data-dir", str(tmp_path / "var")),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert ran.returncode == 2
    assert "chmod 600" in ran.stderr and "Traceback" not in ran.stderr


def test_digital_post_doctor_checks_dates_and_key(oces, tmp_path):
    def settings(path: Path) -> Settings:
        return Settings(digital_post_certificate=path, digital_post_cvr=MUNICIPALITY_CVR)

    good = check_digital_post(settings(oces))
    assert good.ok and "valid until" in good.detail and "renew" in good.detail  # 2 days left
    later = check_digital_post(settings(oces), now=datetime.now(UTC) + timedelta(days=5))
    assert not later.ok and "KOMBIT" in later.fix
    other, _ = make_certificate(tmp_path / "other", "other", key_inside=True)
    mixed = tmp_path / "mixed.pem"
    mixed.touch(mode=0o600)
    certificate = re.search(
        rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n", oces.read_bytes(), re.S
    )
    key = re.search(
        rb"-----BEGIN PRIVATE KEY-----.+?-----END PRIVATE KEY-----\n", other.read_bytes(), re.S
    )
    assert certificate and key
    mixed.write_bytes(certificate.group(0) + key.group(0))
    wrong = check_digital_post(settings(mixed))
    assert not wrong.ok and "not the certificate's" in wrong.detail
    assert check_digital_post(Settings()).ok  # not set up: nothing to check
    gone = settings(mixed)
    mixed.unlink()  # or unreadable to the user doctor runs as: a sentence, not a traceback
    missing = check_digital_post(gone)
    assert not missing.ok and "cannot be read" in missing.detail and "0600" in missing.fix


# -- the stand-in and the outbox, at the store -------------------------------------------


@pytest.fixture(scope="module")
def standin(tmp_path_factory, oces) -> Iterator[StandIn]:
    server = StandIn(tmp_path_factory.mktemp("standin"), MUNICIPALITY_CVR, oces).start()
    # requests trusts the stand-in's own certificate (the real service has a public one).
    before = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = server.ca_bundle
    yield server
    server.close()
    if before is None:
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
    else:
        os.environ["REQUESTS_CA_BUNDLE"] = before


@pytest.fixture
def fresh(standin) -> StandIn:
    standin.switches.exempt.clear()
    standin.switches.fail_next.clear()
    standin.switches.fail_lookup.clear()
    standin.switches.slow = 0.0
    if standin._server is None:
        standin.up()
    return standin


def _service(standin: StandIn, oces: Path) -> sp.Serviceplatformen:
    return sp.Serviceplatformen(str(oces), MUNICIPALITY_CVR, production=False, base_url=standin.url)


def test_digital_post_registration_look_up(fresh, oces):
    fresh.switches.exempt.add(EXEMPT_CITIZEN.replace("-", ""))
    service = _service(fresh, oces)
    assert service.is_registered(dp.check_number(CITIZEN).number) is True
    assert service.is_registered(dp.check_number(EXEMPT_CITIZEN).number) is False
    assert service.is_registered(dp.check_number(BUSINESS).number) is True
    assert fresh.lookups[-3:] == [
        CITIZEN.replace("-", ""),
        EXEMPT_CITIZEN.replace("-", ""),
        BUSINESS,
    ]
    fresh.switches.fail_lookup.append(500)
    with pytest.raises(Exception) as failed:
        service.is_registered(dp.check_number(CITIZEN).number)
    assert sp.explain(failed.value) == ("HTTP 500: opslag fejlede", True)


def test_digital_post_the_packages_own_send_garbles_danish_letters(fresh, oces):
    """Why gateway.act.serviceplatformen.send_memo exists: python-serviceplatformen 3.2 posts the
    XML as a str (Latin-1 on the wire under a UTF-8 declaration). When this fails, the
    package is fixed and send_memo can go back to calling it."""
    from python_serviceplatformen import digital_post as sf1601
    from requests import HTTPError

    service = _service(fresh, oces)
    message = dp.build_memo(_answer(dp.check_number(CITIZEN)), MUNICIPALITY_CVR)
    with pytest.raises(HTTPError, match="400"):
        sf1601.send_message("Digital Post", message, service._access)
    sp.send_memo(message, service._access)
    label = fresh.accepted[message.messageHeader.messageUUID].findtext(f"{M}MessageHeader/{M}label")
    assert label == "Svar på din henvendelse (27.24.00-G01-5-19)"


def _message(store, message_id: str = "m-1") -> str:
    now = datetime.now(UTC)
    values = dict(
        id=message_id, idempotency_key=message_id, received_at=now, updated_at=now,
        instance="test-1", slot="mx", mail_from="borger@example.net",
        recipient_group="borgerservice", recipients=["borgerservice@kommune.example"], size=1,
        state="delivered", attempts=1, protection={}, unscanned=[], journal_state="open",
        findings=[{"entity": "DK_CPR", "count": 1, "masked": [dp.check_number(CITIZEN).masked]}],
    )  # fmt: skip
    with store.engine.begin() as connection:
        connection.execute(messages.insert().values(**values))
    return message_id


def _queue(store, key: bytes, number: str = CITIZEN, message_id: str = "m-1") -> dp.Answer:
    checked = dp.check_number(number)
    answer = _answer(checked)
    new = answers.NewAnswer(
        message_id=message_id,
        recipient_type=checked.kind,
        recipient_masked=checked.masked,
        matched=True,
        memo_uuid=answer.memo_uuid,
        actor="sagsbehandler",
        payload=dp.seal(answer, key),
    )
    with store.engine.begin() as connection:
        answers.queue(connection, new, ["borgerservice"])
    return answer


class _NoHop:
    async def close(self) -> None:
        pass


def _sender(store, sender: dp.DigitalPostSender, worker: str = "test-1") -> OutboxSender:
    return OutboxSender(
        store, _NoHop(), instance=worker, retry=[0.05] * 3, poll=0.05, lease=60, timeout=15,
        digital_post=sender,
    )  # fmt: skip


def _rows(store) -> tuple[list, list]:
    with store.engine.connect() as connection:
        return (
            list(connection.execute(select(answers_table))),
            list(connection.execute(select(outbox))),
        )


def _accepted(standin: StandIn, answer: dp.Answer) -> int:
    uuids = [m.findtext(f"{M}MessageHeader/{M}messageUUID") for m in standin.memos()]
    return uuids.count(answer.memo_uuid)


async def _drain(sender: OutboxSender, until: float = 10) -> None:
    """Send until nothing is left to send (retries included), at most ``until`` seconds."""
    deadline = asyncio.get_running_loop().time() + until
    while asyncio.get_running_loop().time() < deadline:
        await sender.send_due()
        _, items = _rows(sender._store)
        if all(i.state in ("sent", "failed") for i in items):
            return
        await asyncio.sleep(0.06)


def test_digital_post_outbox_sends_once_and_wipes_the_number(store, fresh, oces):
    key = dp.sealing_key("s")
    _message(store)
    answer = _queue(store, key)
    (row,), (item,) = _rows(store)
    masked = dp.check_number(CITIZEN).masked
    assert (row.state, row.recipient_masked, row.recipient_type) == ("queued", masked, "CPR")
    assert item.kind == "digital-post" and CITIZEN.replace("-", "").encode() not in item.payload
    sender = _sender(store, dp.DigitalPostSender(_service(fresh, oces), key, [0.05] * 3))
    asyncio.run(_drain(sender, 1))
    (row,), (item,) = _rows(store)
    assert row.state == "sent" and re.fullmatch(r"[0-9a-f-]{36}", row.transaction_id)
    assert row.sent_at is not None and row.last_error is None
    assert item.state == "sent" and item.payload == b""  # the sealed number is gone
    assert _accepted(fresh, answer) == 1
    memo_validates(ElementTree.tostring(fresh.accepted[answer.memo_uuid], encoding="utf-8"))
    with store.engine.connect() as connection:
        actions = [r.action for r in connection.execute(select(audit_log).order_by(audit_log.c.id))]
    assert actions == ["digital-post-queued", "digital-post-sent"]


def test_digital_post_down_then_up_sends_exactly_once(store, fresh, oces):
    key = dp.sealing_key("s")
    _message(store)
    answer = _queue(store, key)
    fresh.down()
    sender = _sender(store, dp.DigitalPostSender(_service(fresh, oces), key, [0.05] * 5))
    asyncio.run(sender.send_due())
    (row,), (item,) = _rows(store)
    assert row.state == "queued" and row.last_error == "Serviceplatformen not reachable"
    assert item.state == "queued" and item.payload != b""
    fresh.up()
    asyncio.run(_drain(sender, 1))
    (row,), (item,) = _rows(store)
    assert row.state == "sent" and item.state == "sent" and item.attempts == 2
    assert _accepted(fresh, answer) == 1


def test_digital_post_server_error_is_retried_a_refusal_is_final(store, fresh, oces):
    key = dp.sealing_key("s")
    _message(store, "m-1")
    _message(store, "m-2")
    retried = _queue(store, key, message_id="m-1")
    sender = _sender(store, dp.DigitalPostSender(_service(fresh, oces), key, [0.05] * 3))
    fresh.switches.fail_next.extend([503, 503])
    asyncio.run(_drain(sender, 1))
    refused = _queue(store, key, message_id="m-2")
    fresh.switches.fail_next.append(400)
    asyncio.run(_drain(sender, 1))
    rows, items = _rows(store)
    by_message = {r.message_id: r for r in rows}
    assert by_message["m-1"].state == "sent" and _accepted(fresh, retried) == 1
    assert by_message["m-2"].state == "failed" and _accepted(fresh, refused) == 0
    assert by_message["m-2"].last_error == "refused: HTTP 400: Serviceplatformen fejl (test)"
    assert [i.attempts for i in items] == [3, 1] and all(i.payload == b"" for i in items)


def test_digital_post_gives_up_after_the_schedule(store, fresh, oces):
    key = dp.sealing_key("s")
    _message(store)
    answer = _queue(store, key)
    fresh.down()
    sender = _sender(store, dp.DigitalPostSender(_service(fresh, oces), key, [0.05, 0.05]))
    asyncio.run(_drain(sender, 1))
    (row,), (item,) = _rows(store)
    assert row.state == "failed" and row.last_error.startswith("gave up after 3 tries")
    assert item.payload == b"" and _accepted(fresh, answer) == 0


def test_digital_post_crash_mid_send_is_not_sent_twice(store, fresh, oces):
    """A sender dies after Serviceplatformen took the MeMo but before it recorded that; the
    lease runs out, another sender sends again: Digital Post refuses the known messageUUID
    and the answer counts as sent, once."""
    key = dp.sealing_key("s")
    _message(store)
    answer = _queue(store, key)
    one = dp.DigitalPostSender(_service(fresh, oces), key, [0.05] * 3)
    with store.engine.begin() as connection:
        (claimed,) = claim_outbox(connection, "dead:1", limit=1, lease=timedelta(seconds=60))
    assert one.send(claimed).__class__.__name__ == "Sent"  # delivered … then the crash
    with store.engine.begin() as connection:  # the dead sender's lease runs out
        connection.execute(update(outbox).values(claimed_until=datetime.now(UTC) - timedelta(1)))
    asyncio.run(_drain(_sender(store, one, "test-2"), 1))
    (row,), (item,) = _rows(store)
    assert row.state == "sent" and item.state == "sent" and item.reclaims == 1
    assert (
        _accepted(fresh, answer) == 1
        and len([b for b in fresh.received if answer.memo_uuid.encode() in b]) == 2
    )


@pytest.mark.slow
def test_digital_post_timeout_then_retry_is_not_sent_twice(store, fresh, oces):
    """Serviceplatformen takes longer than the client waits (10 s in the package): the try
    counts as failed and is retried; the late first send went through, so the retry is
    refused as a duplicate and the answer is sent once."""
    key = dp.sealing_key("s")
    _message(store)
    answer = _queue(store, key)
    fresh.switches.slow = 11
    sender = _sender(store, dp.DigitalPostSender(_service(fresh, oces), key, [0.05] * 3))
    asyncio.run(sender.send_due())
    (row,), _ = _rows(store)
    assert row.state == "queued" and row.last_error == "no answer in time (timeout)"
    fresh.switches.slow = 0
    wait_for(lambda: _accepted(fresh, answer) == 1, timeout=5)
    asyncio.run(_drain(sender, 1))
    (row,), (item,) = _rows(store)
    assert row.state == "sent" and item.attempts == 2 and _accepted(fresh, answer) == 1


def test_digital_post_answers_wait_for_an_instance_that_has_it_set_up(store, fresh, oces):
    """Instances share the outbox: one without Digital Post leaves the answers alone (it
    sends the other items), and one with it sends them."""
    _message(store)
    _queue(store, dp.sealing_key("s"))
    asyncio.run(_drain(_sender(store, None), 0.3))  # type: ignore[arg-type]
    (row,), (item,) = _rows(store)
    assert row.state == "queued" and item.attempts == 0 and item.payload != b""
    sender = dp.DigitalPostSender(_service(fresh, oces), dp.sealing_key("s"), [0.05])
    asyncio.run(_drain(_sender(store, sender), 0.5))
    (row,), (item,) = _rows(store)
    assert row.state == "sent" and item.payload == b""


def test_digital_post_answer_sealed_under_another_secret_is_given_up(store, fresh, oces):
    _message(store)
    _queue(store, dp.sealing_key("old secret"))
    new = dp.DigitalPostSender(_service(fresh, oces), dp.sealing_key("new secret"), [0.05])
    asyncio.run(_drain(_sender(store, new), 0.3))
    (row,), _ = _rows(store)
    assert row.state == "failed" and "web secret" in row.last_error


# -- the page, through a running gateway ------------------------------------------------

PAGE_POLICY = POLICY.replace(
    "    display_name: Testby Kommune\n",
    "    display_name: Testby Kommune\n"
    "    postal_address: Rådhuspladsen 1, 9999 Testby\n"
    "    phone: '+45 99 99 99 99'\n",
    1,
)


@pytest.fixture(scope="module")
def site(tmp_path_factory, standin, oces):
    """A detecting gateway that answers through the stand-in, with a mail to answer."""
    folder = tmp_path_factory.mktemp("dp-site")
    gw, upstream = staff_site(
        folder,
        PAGE_POLICY,
        outbox_poll=0.1,
        reply_retry=[0.2, 0.2, 0.2],
        digital_post_certificate=oces,
        digital_post_cvr=MUNICIPALITY_CVR,
        digital_post_base_url=standin.url,
        digital_post_physical_mail=standin.letter_kind,
    )
    send(
        gw.port,
        "anna@borger.example",
        "borgerservice@kommune.example",
        "Ansøgning 27.24.00-G01-5-19",
        f"Hej\nMit CPR-nummer er {CITIZEN}.\n",
    )
    engine = create_engine(gw.settings.database)
    with engine.begin() as c:
        for name, boxes in (("bs", ["borgerservice"]), ("byg", ["byggesag"])):
            add_user(
                c,
                name,
                role="staff",
                mailboxes=boxes,
                password_hash=hash_password(PASSWORD),
                actor="test",
            )
    (message_id,) = _ids(engine)
    yield gw, f"http://127.0.0.1:{gw.gateway.web.port}", engine, message_id
    engine.dispose()
    gw.close()
    upstream.close()


def _ids(engine) -> list[str]:
    with engine.connect() as c:
        return list(c.execute(select(messages.c.id)).scalars())


def _answer_rows(engine, message_id: str) -> list:
    with engine.connect() as c:
        query = select(answers_table).where(answers_table.c.message_id == message_id)
        return list(c.execute(query.order_by(answers_table.c.id)))


def _actions(engine, message_id: str) -> list[str]:
    with engine.connect() as c:
        query = select(audit_log.c.action).where(audit_log.c.target == message_id)
        return list(c.execute(query.order_by(audit_log.c.id)).scalars())


def _memo(page: httpx.Response) -> str:
    """The answer's id the confirmation page carries to "Send"."""
    (found,) = re.findall(r'name="memo_uuid" value="([^"]+)"', page.text)
    return found


REASON = "Borgeren bad om svar til sin datter; nummeret står i sagen"
ACK = {"acknowledge": "yes", "reason": REASON}


def _check(
    client: httpx.Client, message_id: str, number: str, reason: str | None = None
) -> httpx.Response:
    """The recipient step; ``reason``: the acknowledgement of a number not in the mail."""
    token = csrf(client.get(f"/mail/{message_id}/answer").text)
    data = {"csrf": token, "step": "check", "number": number}
    if reason is not None:
        data |= {"acknowledge": "yes", "reason": reason}
    return client.post(f"/mail/{message_id}/answer", data=data)


def test_digital_post_answer_from_the_page(site, fresh):
    _, base, engine, message_id = site
    client = login(base, "bs")
    detail = client.get(f"/mail/{message_id}").text
    assert f'href="/mail/{message_id}/answer"' in detail and "Besvar via Digital Post" in detail
    checked = _check(client, message_id, CITIZEN)
    assert checked.status_code == 200
    masked = dp.check_number(CITIZEN).masked
    assert f"<code>{masked}</code>" in checked.text
    assert "✓ svarer til nummeret i mailen" in checked.text
    assert "Modtageren kan modtage Digital Post." in checked.text
    assert 'value="Svar på din henvendelse (27.24.00-G01-5-19)"' in checked.text
    assert "Rådhuspladsen 1, 9999 Testby" in checked.text  # the letterhead on offer
    token = csrf(checked.text)
    data = {
        "csrf": token,
        "number": CITIZEN.replace("-", ""),
        "title": "Svar på din henvendelse (27.24.00-G01-5-19)",
        "text": "Hej Anna\n\nVi har modtaget din ansøgning og vender tilbage.",
        "letterhead": "yes",
    }
    confirm = client.post(f"/mail/{message_id}/answer", data={**data, "step": "confirm"})
    assert confirm.status_code == 200 and "Send via Digital Post" in confirm.text
    assert _answer_rows(engine, message_id) == []  # nothing is queued before "Send"
    send = {**data, "step": "send", "confirm": "yes", "memo_uuid": _memo(confirm)}
    sent = client.post(f"/mail/{message_id}/answer", data=send)
    assert sent.status_code == 303 and sent.headers["location"] == f"/mail/{message_id}?answered=1"
    # A second click on "Send" (or Back and send again) names the same answer: queued once.
    again = client.post(f"/mail/{message_id}/answer", data=send)
    assert again.status_code == 303
    assert wait_for(lambda: _answer_rows(engine, message_id)[0].state == "sent", timeout=15)
    assert len(_answer_rows(engine, message_id)) == 1
    (row,) = _answer_rows(engine, message_id)
    assert (row.recipient_masked, row.matched, row.created_by) == (masked, True, "bs")
    memo = fresh.accepted[row.memo_uuid]
    assert memo.findtext(f"{M}MessageHeader/{M}Recipient/{M}recipientID") == CITIZEN.replace(
        "-", ""
    )
    assert memo.findtext(f"{M}MessageHeader/{M}Sender/{M}senderID") == MUNICIPALITY_CVR
    assert memo.findtext(f"{M}MessageHeader/{M}Sender/{M}label") == "Testby Kommune"
    content = memo.findtext(f"{M}MessageBody/{M}MainDocument/{M}File/{M}content") or ""
    assert (
        base64.b64decode(content)
        .decode()
        .endswith(
            "vender tilbage.\n\nTestby Kommune\nRådhuspladsen 1, 9999 Testby\n+45 99 99 99 99\n"
        )
    )
    page = client.get(f"/mail/{message_id}").text
    assert "Sendt" in page and row.transaction_id in page
    assert "markér mailen som journaliseret" in page
    done = [a for a in _actions(engine, message_id) if a.startswith("digital-post")]
    # The caseworker's check, the look-up again right before the send, and the second click's
    # own look-up (which queues nothing); then one answer queued and sent.
    assert done[:3] == ["digital-post-lookup", "digital-post-lookup", "digital-post-queued"]
    assert sorted(done[3:]) == ["digital-post-lookup", "digital-post-sent"]
    with engine.connect() as c:
        (item,) = c.execute(select(outbox).where(outbox.c.kind == "digital-post")).all()
    assert item.state == "sent" and item.payload == b""
    token = csrf(page)
    marked = client.post(
        f"/mail/{message_id}/mark",
        data={"csrf": token, "state": "journaled", "case_number": "27.24.00-G01-5-19"},
    )
    assert marked.status_code == 303


def test_digital_post_the_sent_answer_for_the_case_file(site, fresh):
    """Issue 24.9: the answer as it went out, from the detail page — the letter as PDF and
    the MeMo XML, named with the transaction id, audited — and the recipient's number masked
    in both, also where the caseworker typed it into the text."""
    import io

    import pypdf

    _, base, engine, message_id = site
    client = login(base, "bs")
    checked = _check(client, message_id, CITIZEN)
    data = {
        "csrf": csrf(checked.text),
        "number": CITIZEN,
        "title": "Svar til sagen",
        "text": f"Hej Anna\n\nVedr. {CITIZEN} og {CITIZEN.replace('-', '')}: bevilget.",
    }
    confirm = client.post(f"/mail/{message_id}/answer", data={**data, "step": "confirm"})
    memo_uuid = _memo(confirm)
    send = {**data, "step": "send", "confirm": "yes", "memo_uuid": memo_uuid}
    assert client.post(f"/mail/{message_id}/answer", data=send).status_code == 303

    def sent() -> list:
        return [r for r in _answer_rows(engine, message_id) if r.memo_uuid == memo_uuid]

    assert wait_for(lambda: sent()[0].state == "sent", timeout=15)
    (row,) = sent()
    masked = dp.check_number(CITIZEN).masked
    assert fresh.accepted[memo_uuid] is not None  # Digital Post got the number itself …
    page = client.get(f"/mail/{message_id}").text
    pdf_link = f"/mail/{message_id}/answers/{row.id}/letter.pdf"
    xml_link = f"/mail/{message_id}/answers/{row.id}/memo.xml"
    assert pdf_link in page and xml_link in page and "Hent svaret som PDF" in page
    pdf = client.get(pdf_link)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    disposition = pdf.headers["content-disposition"]
    assert disposition.startswith("attachment;") and row.transaction_id in disposition
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Svar til sagen" in text and "bevilget" in text and "Testby Kommune" in text
    xml = client.get(xml_link)
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("application/xml")
    assert row.transaction_id in xml.headers["content-disposition"]
    memo = ElementTree.fromstring(xml.content)
    assert memo.findtext(f"{M}MessageHeader/{M}messageUUID") == memo_uuid
    assert memo.findtext(f"{M}MessageHeader/{M}Recipient/{M}recipientID") == masked
    content = memo.findtext(f"{M}MessageBody/{M}MainDocument/{M}File/{M}content") or ""
    assert f"Vedr. {masked} og {masked}: bevilget." in base64.b64decode(content).decode()
    # … the record keeps it masked only: in the documents and anywhere in the row.
    for stored in (row.letter_pdf, row.memo_xml, pdf.content, xml.content, text):
        blob = stored if isinstance(stored, bytes) else stored.encode()
        assert CITIZEN.encode() not in blob and CITIZEN.replace("-", "").encode() not in blob
    downloads = _audit(engine, message_id, "answer-download")
    assert [(d["document"], d["transaction"]) for d in downloads[-2:]] == [
        ("letter_pdf", row.transaction_id),
        ("memo_xml", row.transaction_id),
    ]
    # Another mailbox's staff, another answer's number, an unknown file: nothing.
    assert login(base, "byg").get(pdf_link).status_code == 404
    assert client.get(f"/mail/{message_id}/answers/{row.id + 999}/letter.pdf").status_code == 404
    assert client.get(f"/mail/{message_id}/answers/{row.id}/secret.txt").status_code == 404
    assert client.get(f"/mail/{message_id}/answers/x/letter.pdf").status_code == 404


def test_digital_post_wrong_cpr_is_refused_before_anything_is_sent(site, fresh):
    _, base, engine, message_id = site
    client = login(base, "bs")
    lookups, received = len(fresh.lookups), len(fresh.received)
    for typed, words in [
        ("300286-2001", "datoen eller århundredet passer ikke"),
        ("12345", "hverken et CPR-nummer"),
        (BUSINESS[:7] + str((int(BUSINESS[7]) + 1) % 10), "kontrolcifferet passer ikke"),
    ]:
        refused = _check(client, message_id, typed)
        assert refused.status_code == 400 and words in refused.text
    # Even straight to "send", a wrong number goes nowhere.
    token = csrf(client.get(f"/mail/{message_id}/answer").text)
    data = {"csrf": token, "step": "send", "confirm": "yes", "number": "300286-2001"}
    data |= {"title": "Svar", "text": "Tekst"}
    assert client.post(f"/mail/{message_id}/answer", data=data).status_code == 400
    assert (len(fresh.lookups), len(fresh.received)) == (lookups, received)
    assert _actions(engine, message_id).count("digital-post-number-refused") == 4


def test_digital_post_exempt_citizen_without_physical_mail_must_get_a_letter(site, fresh):
    gw, base, _, message_id = site
    fresh.switches.exempt.add(EXEMPT_CITIZEN.replace("-", ""))
    desk = gw.gateway.web_context.digital_post
    desk.physical_mail = False  # the municipality has no print agreement
    try:
        page = _check(login(base, "bs"), message_id, EXEMPT_CITIZEN, REASON)
    finally:
        desk.physical_mail = True
    assert page.status_code == 200
    assert "Borgeren er fritaget for Digital Post og får fysisk post." in page.text
    assert "Svaret skal sendes som brev. Fysisk post er ikke slået til i Postvagt." in page.text
    assert 'name="title"' not in page.text  # nothing to send from here
    assert "svarer til nummeret" not in page.text  # another number than the mail's


def test_digital_post_exempt_citizen_gets_a_physical_letter(site, fresh):
    import io

    import pypdf

    _, base, engine, message_id = site
    fresh.switches.exempt.add(EXEMPT_CITIZEN.replace("-", ""))
    client = login(base, "bs")
    page = _check(client, message_id, EXEMPT_CITIZEN, REASON)
    assert "fysisk brev gennem Digital Posts printløsning" in page.text
    assert 'name="address"' in page.text and 'value="physical-mail"' in page.text
    data = {
        "csrf": csrf(page.text),
        "number": EXEMPT_CITIZEN,
        **ACK,
        "channel": "physical-mail",
        "title": "Svar på din henvendelse",
        "text": "Hej\n\nVi har modtaget din ansøgning.",
    }
    short = client.post(
        f"/mail/{message_id}/answer", data={**data, "step": "confirm", "address": "Bo"}
    )
    assert short.status_code == 400 and "mindst to linjer" in short.text
    address = "Bo Fiktivsen\nOpdigtet Vej 1\n9999 Testby"
    confirm = client.post(
        f"/mail/{message_id}/answer", data={**data, "step": "confirm", "address": address}
    )
    assert confirm.status_code == 200 and "Send som brev (fjernprint)" in confirm.text
    lines = re.findall(r'name="address_line" value="([^"]+)"', confirm.text)
    assert lines == ["Bo Fiktivsen", "Opdigtet Vej 1", "9999 Testby"]
    assert "Borgeren er fritaget for Digital Post" in confirm.text  # not "can receive"
    sent = client.post(
        f"/mail/{message_id}/answer",
        data={**data, "step": "send", "confirm": "yes", "address_line": lines}
        | {"memo_uuid": _memo(confirm)},
    )
    assert sent.status_code == 303
    assert wait_for(
        lambda: (
            [r.state for r in _answer_rows(engine, message_id) if r.channel == "physical-mail"]
            == ["sent"]
        ),
        timeout=15,
    )
    (row,) = [r for r in _answer_rows(engine, message_id) if r.channel == "physical-mail"]
    pdf = fresh.letters[row.memo_uuid]
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    for expected in ("Bo Fiktivsen", "9999 Testby", "Rådhuspladsen 1", "modtaget din ansøgning"):
        assert expected in text
    assert "Fysisk brev" in client.get(f"/mail/{message_id}").text
    # The case file gets the very letter that was printed (issue 24.9), and no MeMo.
    kept = client.get(f"/mail/{message_id}/answers/{row.id}/letter.pdf")
    assert kept.status_code == 200 and kept.content == pdf
    assert client.get(f"/mail/{message_id}/answers/{row.id}/memo.xml").status_code == 404
    # A letter to a citizen Digital Post reaches is refused at "send", whatever the form says.
    registered = {**data, "number": OTHER_CITIZEN, "address_line": lines}
    registered["memo_uuid"] = str(uuid.uuid4())
    refused = client.post(
        f"/mail/{message_id}/answer", data={**registered, "step": "send", "confirm": "yes"}
    )
    assert refused.status_code == 400 and "intet brev er sendt" in refused.text
    assert len([r for r in _answer_rows(engine, message_id) if r.channel == "physical-mail"]) == 1


def test_digital_post_send_asks_digital_post_again_whatever_the_form_says(site, fresh):
    """Straight to "Send" with a number nobody looked up (or one changed after the look-up):
    the registration is asked then, and an exempt citizen gets nothing by Digital Post."""
    _, base, engine, message_id = site
    fresh.switches.exempt.add(EXEMPT_CITIZEN.replace("-", ""))
    client = login(base, "bs")
    before = len(_answer_rows(engine, message_id))
    token = csrf(client.get(f"/mail/{message_id}/answer").text)
    data = {"csrf": token, "step": "send", "confirm": "yes", "number": EXEMPT_CITIZEN, **ACK}
    data |= {"title": "Svar", "text": "Tekst", "memo_uuid": str(uuid.uuid4())}
    refused = client.post(f"/mail/{message_id}/answer", data=data)
    assert refused.status_code == 400 and "intet er sendt" in refused.text
    assert len(_answer_rows(engine, message_id)) == before
    assert "digital-post-lookup" in _actions(engine, message_id)[-1:]
    # A send without the confirmation's answer id is sent back to be confirmed.
    stale = client.post(f"/mail/{message_id}/answer", data={**data, "memo_uuid": "x"})
    assert stale.status_code == 400 and "Bekræftelsen var ikke gyldig" in stale.text
    assert len(_answer_rows(engine, message_id)) == before


def test_digital_post_error_texts_keep_no_digit_of_a_number():
    """Serviceplatformen's error texts may quote the number in any spelling: every digit is
    masked before a text reaches a log, a page, the outbox or the audit."""
    import requests

    for quoted in ("150385-2001", "150385 2001", "1503852001", "15-03-85-2001"):
        response = requests.Response()
        response.status_code = 400
        response._content = json.dumps({"title": f"Ukendt modtager {quoted}"}).encode()
        text, again = sp.explain(requests.HTTPError(response=response))
        assert not re.search(r"\d{2}", text.removeprefix("HTTP 400")), text
        assert again is False
    response = requests.Response()
    response.status_code = 401
    assert sp.explain(requests.HTTPError(response=response))[1] is True  # new tokens next try


def test_digital_post_full_width_digits_are_no_number():
    with pytest.raises(dp.NotANumber):
        dp.check_number("1208\uff1992863")


def _secret_key(gw) -> bytes:
    return number_key((gw.settings.data_dir / "web-secret").read_text().strip())


def test_digital_post_record_keeps_keyed_numbers_never_the_numbers(site):
    """The reader process sends the main process a keyed hash of each CPR/CVR it found; the
    record keeps those, and the number itself is nowhere in it."""
    gw, _, engine, message_id = site
    with engine.connect() as c:
        row = c.execute(select(messages).where(messages.c.id == message_id)).one()
    assert row.number_keys == [keyed_number(_secret_key(gw), CITIZEN.replace("-", ""))]
    kept = json.dumps([str(v) for v in row])
    assert CITIZEN.replace("-", "") not in kept and CITIZEN not in kept


def _audit(engine, message_id: str, action: str) -> list[dict]:
    with engine.connect() as c:
        query = select(audit_log.c.detail).where(
            audit_log.c.target == message_id, audit_log.c.action == action
        )
        return list(c.execute(query.order_by(audit_log.c.id)).scalars())


def test_digital_post_a_number_not_in_the_mail_is_looked_up_only_when_acknowledged(site, fresh):
    """Issue 24.1 and 24.2: 0308005558 typed for a mail that holds 030800-5557 is no
    match, whatever the masks say. Nothing is looked up or sent until the caseworker ticks
    that it is another number and says why; the answer and the audit then keep its keyed
    hash and matched=False, so a DPO can check every send."""
    gw, base, engine, message_id = site
    client = login(base, "bs")
    lookups = len(fresh.lookups)
    asked = _check(client, message_id, NEIGHBOUR)
    assert asked.status_code == 400
    assert "svarer til nummeret" not in asked.text
    assert "står ikke i mailen" in asked.text and 'name="acknowledge"' in asked.text
    assert 'name="reason"' in asked.text
    no_reason = _check(client, message_id, NEIGHBOUR, reason="  ")
    assert no_reason.status_code == 400 and "Skriv hvorfor" in no_reason.text
    # Straight to "send", unacknowledged: refused before Digital Post is asked.
    token = csrf(client.get(f"/mail/{message_id}/answer").text)
    straight = {"csrf": token, "step": "send", "confirm": "yes", "number": NEIGHBOUR}
    straight |= {"title": "Svar", "text": "Tekst", "memo_uuid": str(uuid.uuid4())}
    assert client.post(f"/mail/{message_id}/answer", data=straight).status_code == 400
    assert len(fresh.lookups) == lookups  # nobody's registration was asked
    key = keyed_number(_secret_key(gw), NEIGHBOUR.replace("-", ""))
    (refused, *_) = _audit(engine, message_id, "digital-post-not-in-mail")
    assert refused["recipient_key"] == key and refused["recipient"].endswith("-****")

    checked = _check(client, message_id, NEIGHBOUR, REASON)
    assert checked.status_code == 200 and len(fresh.lookups) == lookups + 1
    assert "svarer til nummeret" not in checked.text and "står ikke i mailen" in checked.text
    assert f'name="reason" value="{REASON}"' in checked.text  # carried to the next step
    data = {"csrf": csrf(checked.text), "number": NEIGHBOUR, **ACK}
    data |= {"title": "Svar", "text": "Hej\n\nVi har modtaget din henvendelse."}
    confirm = client.post(f"/mail/{message_id}/answer", data={**data, "step": "confirm"})
    assert confirm.status_code == 200 and f'name="reason" value="{REASON}"' in confirm.text
    send = {**data, "step": "send", "confirm": "yes", "memo_uuid": _memo(confirm)}
    assert client.post(f"/mail/{message_id}/answer", data=send).status_code == 303
    (row,) = [r for r in _answer_rows(engine, message_id) if r.memo_uuid == send["memo_uuid"]]
    assert (row.matched, row.recipient_key) == (False, key)
    (queued,) = [
        d for d in _audit(engine, message_id, "digital-post-queued") if d["memo"] == row.memo_uuid
    ]
    assert queued["matched"] is False and queued["recipient_key"] == key
    assert queued["reason"] == REASON
    lookups_audited = _audit(engine, message_id, "digital-post-lookup")
    assert lookups_audited[-1]["recipient_key"] == key
    assert lookups_audited[-1]["matched"] is False and lookups_audited[-1]["reason"] == REASON
    # The number of the mail itself matches, and its answer says so with its own key.
    mine = _check(client, message_id, CITIZEN)
    assert "✓ svarer til nummeret i mailen" in mine.text
    assert _audit(engine, message_id, "digital-post-lookup")[-1]["matched"] is True


def test_digital_post_look_ups_are_limited_per_user_and_hour(site, fresh):
    gw, base, engine, message_id = site
    with engine.begin() as c:
        for name in ("opslag", "kollega"):
            add_user(
                c, name, role="staff", mailboxes=["borgerservice"],
                password_hash=hash_password(PASSWORD), actor="test",
            )  # fmt: skip
    desk = gw.gateway.web_context.digital_post
    before, desk.lookups_per_hour = desk.lookups_per_hour, 2
    try:
        client = login(base, "opslag")
        lookups = len(fresh.lookups)
        assert _check(client, message_id, CITIZEN).status_code == 200
        assert _check(client, message_id, CITIZEN).status_code == 200
        over = _check(client, message_id, CITIZEN)
        assert over.status_code == 429 and "højst 2 opslag i timen" in over.text
        assert len(fresh.lookups) == lookups + 2
        client.get("/lang/en")
        assert "at most 2 look-ups an hour" in _check(client, message_id, CITIZEN).text
        assert _check(login(base, "kollega"), message_id, CITIZEN).status_code == 200  # per user
    finally:
        desk.lookups_per_hour = before
    refused = [d for d in _audit(engine, message_id, "digital-post-lookup-refused")]
    assert len(refused) == 2 and refused[0]["limit"] == 2


def test_digital_post_lookups_per_hour_setting():
    assert Settings().digital_post_lookups_per_hour == 60
    environ = {"POSTVAGT_DIGITAL_POST_LOOKUPS_PER_HOUR": "5"}
    assert load_settings(environ=environ).digital_post_lookups_per_hour == 5
    with pytest.raises(SettingsError):
        load_settings(environ={"POSTVAGT_DIGITAL_POST_LOOKUPS_PER_HOUR": "0"})


def test_digital_post_look_up_failure_is_said_plainly(site, fresh):
    _, base, _, message_id = site
    fresh.switches.fail_lookup.append(503)
    page = _check(login(base, "bs"), message_id, CITIZEN)
    assert page.status_code == 502
    assert "Digital Post kunne ikke spørges lige nu" in page.text and "HTTP 503" in page.text


def test_digital_post_only_for_mail_the_user_may_see_and_with_csrf(site, fresh):
    _, base, _, message_id = site
    other = login(base, "byg")
    assert other.get(f"/mail/{message_id}/answer").status_code == 404
    token = csrf(other.get("/").text)
    data = {"csrf": token, "step": "check", "number": CITIZEN}
    assert other.post(f"/mail/{message_id}/answer", data=data).status_code == 404
    mine = login(base, "bs")
    no_token = {"step": "check", "number": CITIZEN}
    assert mine.post(f"/mail/{message_id}/answer", data=no_token).status_code == 403


def test_digital_post_pages_in_both_languages_without_codes(site, fresh):
    from gateway.web.i18n import MISSING

    _, base, _, message_id = site
    client = login(base, "bs")
    for lang, words, other in (
        ("en", "matches the number in the mail", "is not in the mail"),
        ("da", "svarer til", "står ikke i mailen"),
    ):
        client.get(f"/lang/{lang}")
        assert words in _check(client, message_id, CITIZEN).text
        assert other in _check(client, message_id, NEIGHBOUR).text
        assert client.get(f"/mail/{message_id}").status_code == 200
        assert _check(client, message_id, "1").status_code == 400
    assert MISSING == set()


def test_digital_post_answers_go_with_their_record_at_retention(store, fresh, oces):
    from gateway.store.retention import purge_batch

    key = dp.sealing_key("s")
    _message(store)
    _queue(store, key)
    asyncio.run(_drain(_sender(store, dp.DigitalPostSender(_service(fresh, oces), key, [0.05]))))
    later = datetime.now(UTC) + timedelta(days=400)
    with store.engine.begin() as connection:
        done = purge_batch(connection, records_days=180, quarantine_days=30, now=later)
    assert done.records == 1 and _rows(store) == ([], [])


# -- physical mail (fjernprint) ------------------------------------------------------------


def _letter_answer() -> dp.Answer:
    return dp.new_answer(
        "msg-1",
        dp.check_number(EXEMPT_CITIZEN),
        "Svar på din henvendelse",
        "Hej\n\n" + "Vi har modtaget din ansøgning om boligstøtte (æøå). " * 120,
        "Testby Kommune",
        None,
        address=["Bo Fiktivsen", "Opdigtet Vej 1", "9999 Testby"],
        sender_lines=["Testby Kommune", "Rådhuspladsen 1, 9999 Testby"],
    )


def test_digital_post_letter_is_a_pdf_with_the_address_in_the_window():
    import io

    import pypdf

    from gateway.act.letter import letter_pdf

    answer = _letter_answer()
    reader = pypdf.PdfReader(
        io.BytesIO(letter_pdf(answer.address, answer.sender_lines, answer.title, answer.text))
    )
    assert len(reader.pages) >= 2  # a long text goes on
    first = reader.pages[0].extract_text()
    assert first.index("Bo Fiktivsen") < first.index("9999 Testby")
    assert "Rådhuspladsen 1, 9999 Testby" in first and "Svar på din henvendelse" in first
    assert "ansøgning om boligstøtte (æøå)" in first
    letter = dp.build_letter(answer, 4711)
    assert letter.afsendelse_identifikator.value == answer.memo_uuid  # the same on every try
    assert letter.forsendelse_type_identifikator.value == 4711
    assert dp.unseal(dp.seal(answer, b"k" * 43 + b"="), b"k" * 43 + b"=") == answer


def test_digital_post_letter_from_the_outbox_is_printed_once(store, fresh, oces):
    key = dp.sealing_key("s")
    _message(store)
    answer = _letter_answer()
    checked = dp.check_number(EXEMPT_CITIZEN)
    new = answers.NewAnswer(
        message_id="m-1",
        recipient_type="CPR",
        recipient_masked=checked.masked,
        matched=False,
        memo_uuid=answer.memo_uuid,
        actor="sagsbehandler",
        payload=dp.seal(answer, key),
        channel=dp.PHYSICAL,
    )
    with store.engine.begin() as connection:
        answers.queue(connection, new, None)
    off = dp.DigitalPostSender(_service(fresh, oces), key, [0.05])
    on = dp.DigitalPostSender(_service(fresh, oces), key, [0.05], letter_kind=fresh.letter_kind)
    with store.engine.begin() as connection:
        (claimed,) = claim_outbox(connection, "dead:1", limit=1, lease=timedelta(seconds=60))
    assert "switched off" in off.send(claimed).error  # type: ignore[union-attr]
    assert on.send(claimed).__class__.__name__ == "Sent"  # printed … then the crash
    with store.engine.begin() as connection:
        connection.execute(update(outbox).values(claimed_until=datetime.now(UTC) - timedelta(1)))
    asyncio.run(_drain(_sender(store, on, "test-2"), 1))
    (row,), (item,) = _rows(store)
    assert (row.channel, row.state, item.state, item.payload) == (
        "physical-mail",
        "sent",
        "sent",
        b"",
    )
    # Two tries reached the print service; it took the letter once, refused the second.
    assert sum(answer.memo_uuid.encode() in body for body in fresh.received) == 2
    assert answer.memo_uuid in fresh.letters


@pytest.mark.parametrize("number", [CITIZEN, BUSINESS])
def test_the_case_file_copy_masks_every_spelling_of_the_number(number):
    """The recipient's number typed into the title or text with a space, a slash, a dot, an
    en dash, in pairs or across a line break is masked in the stored letter and MeMo, as
    the hyphenated form is; other numbers stay."""
    import io
    from dataclasses import replace

    import pypdf

    checked = dp.check_number(number)
    digits = checked.number
    forms = [digits, f"{digits[:6]} {digits[6:]}", f"{digits[:6]}/{digits[6:]}",
             f"{digits[:6]}.{digits[6:]}", f"{digits[:6]} - {digits[6:]}",
             f"{digits[:6]}\u2013{digits[6:]}", f"{digits[:6]}\n{digits[6:]}",
             " ".join(digits[i : i + 2] for i in range(0, len(digits), 2))]  # fmt: skip
    answer = replace(
        _answer(checked),
        title=f"Svar vedr. {forms[1]}",
        text="Hej\n\n" + "\n".join(f"Nummer: {f}." for f in forms) + "\nJournal 12345678901.",
    )
    copies = dict(dp.case_file_copy(answer, MUNICIPALITY_CVR))
    text = "".join(
        p.extract_text() for p in pypdf.PdfReader(io.BytesIO(copies["letter_pdf"])).pages
    )
    stored = [text, copies["letter_pdf"].decode("latin-1")]
    if "memo_xml" in copies:
        memo = ElementTree.fromstring(copies["memo_xml"])
        content = memo.findtext(f"{M}MessageBody/{M}MainDocument/{M}File/{M}content") or ""
        stored += [copies["memo_xml"].decode(), base64.b64decode(content).decode()]
    any_spelling = re.compile(r"(?<!\d)" + r"[\s\-/.\u2013]{0,3}".join(digits) + r"(?!\d)")
    for blob in stored:
        assert not any_spelling.search(blob), blob[:200]
    assert text.count(checked.masked) >= len(forms) and "12345678901" in text
