"""The Presidio engine, built once per worker process.

No model can be downloaded, so the default NLP engine is a blank Danish spaCy pipeline that
Postvagt builds and saves itself, loaded through Presidio's SpacyNlpEngine. An admin may
name an installed trained pipeline instead (a package name or a folder made with
``nlp.to_disk``); when it has a named-entity component, PERSON and LOCATION findings flow
from Presidio's SpacyRecognizer. The Danish recognizers are registered for language "da",
and so are Presidio's own IBAN and e-mail recognizers (Presidio registers those for English
only and would silently skip them for Danish text). Mail in English is analysed with the
same recognizers, which carry English context words too.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import spacy
import tldextract
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    EmailRecognizer,
    IbanRecognizer,
    SpacyRecognizer,
)

from gateway.detect import entities
from gateway.detect.analyzer import Detector
from gateway.detect.recognizers.base import LANGUAGE
from gateway.detect.recognizers.categories import category_recognizers


class ModelNotInstalled(Exception):
    """The configured spaCy pipeline is neither an installed package nor a saved folder."""


@dataclass(frozen=True)
class EngineConfig:
    nlp_model: str | None = None
    """An installed spaCy package or a pipeline folder; None: the blank Danish pipeline."""
    threshold: float = 0.5
    number_key: bytes | None = field(default=None, repr=False)
    """Key of the CPR/CVR numbers' keyed hashes (gateway.detect.keyed); None: none made."""


# Presidio's e-mail recognizer asks tldextract, whose default fetches the public suffix list
# from the internet on first use. Ours uses the snapshot shipped inside tldextract.
_OFFLINE_SUFFIXES = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class OfflineEmailRecognizer(EmailRecognizer):
    def validate_result(self, pattern_text: str) -> bool:
        return _OFFLINE_SUFFIXES(pattern_text).fqdn != ""


def iban_recognizer() -> IbanRecognizer:
    return IbanRecognizer(supported_language=LANGUAGE)


def email_recognizer() -> OfflineEmailRecognizer:
    return OfflineEmailRecognizer(supported_language=LANGUAGE)


def danish_recognizers() -> list:
    """One recognizer per type of the entity table, and one per category lexicon."""
    made = [
        entities.resolve(e.recognizer)() for e in entities.TABLE if e.recognizer and not e.category
    ]
    return [*made, *category_recognizers()]


def _nlp_engine(model: str) -> SpacyNlpEngine:
    engine = SpacyNlpEngine(
        models=[{"lang_code": LANGUAGE, "model_name": model}],
        ner_model_configuration=NerModelConfiguration(
            model_to_presidio_entity_mapping={
                "PERSON": "PERSON",
                "PER": "PERSON",
                "LOC": "LOCATION",
                "GPE": "LOCATION",
                "LOCATION": "LOCATION",
            },
            low_confidence_score_multiplier=1.0,
            low_score_entity_names=[],
            labels_to_ignore=["MISC", "ORG"],
        ),
    )
    engine.load()
    return engine


def build_engine(config: EngineConfig = EngineConfig()) -> tuple[AnalyzerEngine, bool]:
    """The AnalyzerEngine and whether its pipeline recognises named entities."""
    if config.nlp_model is None:
        with tempfile.TemporaryDirectory(prefix="postvagt-spacy-") as folder:
            spacy.blank(LANGUAGE).to_disk(folder)
            nlp_engine = _nlp_engine(folder)
    else:
        model = config.nlp_model
        if not (spacy.util.is_package(model) or Path(model).is_dir()):
            # Presidio would try to download it; nothing may be downloaded at run time.
            raise ModelNotInstalled(
                f"spaCy pipeline {model!r} is not installed: pip install it, or give the "
                "folder of a pipeline saved with nlp.to_disk()"
            )
        nlp_engine = _nlp_engine(model)
    nlp = nlp_engine.nlp[LANGUAGE]
    has_ner = any(name in nlp.pipe_names for name in ("ner", "entity_ruler", "span_ruler"))
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    for recognizer in danish_recognizers():
        registry.add_recognizer(recognizer)
    if has_ner:
        registry.add_recognizer(
            SpacyRecognizer(supported_language=LANGUAGE, supported_entities=["PERSON", "LOCATION"])
        )
    engine = AnalyzerEngine(
        registry=registry, nlp_engine=nlp_engine, supported_languages=[LANGUAGE]
    )
    return engine, has_ner


def build_detector(config: EngineConfig = EngineConfig()) -> Detector:
    engine, has_ner = build_engine(config)
    return Detector(
        engine, threshold=config.threshold, use_ner=has_ner, number_key=config.number_key
    )
