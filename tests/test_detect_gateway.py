"""Detection in the gateway (worker processes) and the admin's trained-pipeline path."""

from __future__ import annotations

import random

import spacy
from sqlalchemy import select

from gateway.detect.engine import EngineConfig, ModelNotInstalled, build_detector
from gateway.store import Store
from gateway.store.tables import messages
from tests import fictional
from tests.helpers import message, send, split


def test_personal_data_is_flagged_for_journaling(upstream, make_gateway, tmp_path):
    gw = make_gateway(upstream, detect=True, detect_workers=1)
    number = fictional.cpr(random.Random(7))
    send(
        gw.port,
        message(body=f"Hej\r\nMit CPR-nr. er {number}. Jeg er sygemeldt med en diagnose.\r\n"),
    )
    send(gw.port, message(body="Hej\r\nHvornår tømmes skraldespanden?\r\n"))
    flagged, plain = (split(m.content)[0] for m in upstream.messages)
    record_id = flagged.split(b"X-Postvagt-Id: ")[1].split(b"\r\n")[0].decode()
    assert (
        f"X-Postvagt-Journal: required; id={record_id}; reasons=DK_CPR,HEALTH".encode() in flagged
    )
    assert b"X-Postvagt-Journal" not in plain
    assert number.encode() not in flagged  # never a value in a header
    store = Store(f"sqlite:///{tmp_path / 'var' / 'postvagt.db'}", instance="t", slot="mx")
    with store.engine.connect() as connection:
        row = connection.execute(select(messages).where(messages.c.id == record_id)).one()
    store.close()
    cpr = next(f for f in row.findings if f["entity"] == "DK_CPR")
    assert cpr["count"] == 1 and cpr["masked"] == [number[:6] + "-****"]
    assert number not in str(row.findings)


def test_an_installed_pipeline_brings_names_and_places(tmp_path):
    nlp = spacy.blank("da")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(
        [
            {"label": "PER", "pattern": [{"LOWER": "mette"}, {"LOWER": "frederiksen"}]},
            {"label": "LOC", "pattern": "Aarhus"},
        ]
    )
    folder = tmp_path / "da_test_pipeline"
    nlp.to_disk(folder)
    detector = build_detector(EngineConfig(nlp_model=str(folder)))
    assert detector.use_ner
    analysis = detector.analyze("Jeg hedder Mette Frederiksen og bor i Aarhus.")
    assert {c.entity for c in analysis.findings()} >= {"PERSON", "LOCATION"}


def test_a_missing_pipeline_is_a_clear_error_not_a_download(tmp_path):
    try:
        build_detector(EngineConfig(nlp_model="da_core_news_doesnotexist"))
    except ModelNotInstalled as e:
        assert "not installed" in str(e)
    else:
        raise AssertionError("expected ModelNotInstalled")


def test_a_crashed_or_hung_worker_is_replaced_and_the_pool_serves_on():
    import os
    import time
    from concurrent.futures import TimeoutError as FutureTimeout

    import pytest
    from pebble import ProcessExpired

    from gateway.reader_pool import ReaderPool
    from gateway.security import TrustConfig
    from tests.helpers import message

    pool = ReaderPool(EngineConfig(), 1, TrustConfig())
    try:
        pool.warm_up()
        with pytest.raises(ProcessExpired):
            pool._pool.schedule(os._exit, args=(3,)).result()
        with pytest.raises(FutureTimeout):
            pool._pool.schedule(time.sleep, args=(60,), timeout=1).result()
        number = fictional.cpr(random.Random(8))
        findings, incomplete, _ = pool.detect(message(body=f"CPR: {number}\r\n"), 30)
        assert [f.entity for f in findings] == ["DK_CPR"] and incomplete == []
    finally:
        pool.close()


def test_a_bomb_among_ordinary_mail_changes_no_other_verdict(upstream, make_gateway):
    import io
    import threading
    import zipfile

    from tests.helpers import message, send, split
    from tests.test_extract import mail_with

    gw = make_gateway(upstream, detect=True, detect_workers=2)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * 50_000_000)
    rng = random.Random(10)
    ordinary = [
        message(body=f"Mit CPR-nr. er {fictional.cpr(rng)}\r\n")
        if i % 2
        else message(body="Hvornår tømmes containeren?\r\n")
        for i in range(10)
    ]
    errors: list[BaseException] = []

    def deliver(raw: bytes) -> None:
        try:
            send(gw.port, raw)
        except BaseException as e:
            errors.append(e)

    threads = [
        threading.Thread(target=deliver, args=(raw,))
        for raw in [mail_with("bombe.zip", "application/zip", bomb.getvalue()), *ordinary]
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    by_body = {split(m.content)[1]: split(m.content)[0] for m in upstream.messages}
    assert len(by_body) == 11
    for raw in ordinary:
        headers = by_body[raw]
        assert (b"X-Postvagt-Journal" in headers) == (b"CPR-nr." in raw)
        assert b"X-Postvagt-Scan: complete" in headers
    bomb_headers = next(h for body, h in by_body.items() if b"bombe.zip" in body)
    assert b"X-Postvagt-Scan: incomplete; reasons=limit" in bomb_headers
