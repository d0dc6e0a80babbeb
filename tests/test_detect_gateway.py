"""Detection in the gateway (worker processes) and the admin's trained-pipeline path."""

from __future__ import annotations

import random

import spacy
from sqlalchemy import select

from gateway.detect.engine import EngineConfig, ModelNotInstalled, build_detector
from gateway.store import Store
from gateway.store.tables import messages
from tests import fictional
from tests.test_smtp import message, send, split


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
