"""Each recognizer, table-driven, on fictional data (tests/fictional.py), plus the safety
properties: no catastrophic regex, chunk borders, deadlines, masking."""

from __future__ import annotations

import random
import time
from datetime import date

import pytest

from gateway.detect.analyzer import CHUNK
from gateway.detect.entities import CATEGORIES
from tests import fictional

RNG = random.Random(4)


def found(detector, text: str) -> set[tuple[str, str]]:
    analysis = detector.analyze(text)
    assert analysis.incomplete == []
    return {(c.entity, c.value) for c in analysis.findings(detector.threshold)}


def entities(detector, text: str) -> set[str]:
    return {e for e, _ in found(detector, text)}


# -- CPR ---------------------------------------------------------------------------------------

CENTURY_DATES = [
    date(1860, 6, 15),
    date(1899, 12, 31),
    date(1905, 3, 1),
    date(1936, 7, 9),
    date(1937, 2, 2),
    date(1957, 11, 30),
    date(1958, 1, 2),
    date(1999, 5, 5),
    date(2000, 2, 29),
    date(2021, 8, 8),
]


@pytest.mark.parametrize("born", CENTURY_DATES, ids=str)
@pytest.mark.parametrize("mod11", [False, True], ids=["no-mod11", "mod11"])
def test_cpr_every_century_with_and_without_modulus_11(detector, born, mod11):
    for digit in fictional.century_digits(born.year):
        rng = random.Random(digit)
        number = fictional.cpr(rng, born=born, mod11=mod11)
        assert entities(detector, f"Mit CPR-nr. er {number}.") == {"DK_CPR"}, number


@pytest.mark.parametrize("separator", ["-", "", " ", "/", ".", "\t", " - "])
def test_cpr_separators_with_context(detector, separator):
    number = fictional.cpr(RNG, separator=separator)
    assert ("DK_CPR", number) in found(detector, f"cpr {number}")


def test_modulus_11_and_exception_dates_raise_confidence(detector):
    plain = fictional.cpr(RNG, separator="")
    exception = fictional.exception_cpr(RNG, separator="")
    passing = fictional.cpr(RNG, mod11=True, separator="")
    assert entities(detector, f"Nummer {plain} her") == set()  # bare, failing: too weak
    assert entities(detector, f"Nummer {exception} her") == {"DK_CPR"}
    assert entities(detector, f"Nummer {passing} her") == {"DK_CPR"}


@pytest.mark.parametrize(
    "text",
    [
        "Mødet er den 01.01.1990 kl. 10.",
        "Født 010190, bor i Aarhus.",
        "Mit cpr er 150385-xxxx, resten ved I.",
        "Mit cpr er 150385-****.",
        "Sag 27.24.00-G01-5-19 er oprettet.",
        "Reference 91503852001 og 15038520019.",
        "IBAN DK5000400440116243 er min konto.",
        "Ring på 22 33 44 55 eller 2233 4455.",
        "CVR-nr. 12345674 tilhører firmaet.",
        "EAN 5790000000005 står på fakturaen.",
        "ts=1704067200 level=info",
    ],
)
def test_cpr_look_alikes(detector, text):
    assert "DK_CPR" not in entities(detector, text)


@pytest.mark.parametrize(
    "label",
    [
        "Ordrenummer",
        "Fakturanr.",
        "Kundenummer",
        "P-nr.",
        "Kontonr.",
        "Sagsnummer",
        "Bilagsnummer",
        "EAN",
    ],
)
def test_suppress_words_lower_the_score(detector, label):
    number = fictional.cpr(RNG, mod11=True)
    assert "DK_CPR" in entities(detector, f"Mit CPR-nr. {number}")
    analysis = detector.analyze(f"{label}: {number}")
    (candidate,) = [c for c in analysis.candidates if c.entity == "DK_CPR"]
    assert candidate.suppress_word is not None and candidate.score < detector.threshold


def test_context_words_raise_the_score_within_the_window(detector):
    number = fictional.cpr(RNG, separator="")
    near = detector.analyze(f"Personnummer: {'x' * 250} {number}").candidates
    far = detector.analyze(f"Personnummer: {'x' * 400} {number}").candidates
    assert near[0].score >= detector.threshold and near[0].context_word == "Personnummer"
    assert far[0].score < detector.threshold and far[0].context_word is None


def test_future_and_impossible_dates_are_not_cpr(detector):
    assert entities(detector, "cpr 010150-5006") == set()  # 2050: not born yet
    for _ in range(20):
        assert entities(detector, f"cpr {fictional.invalid_date_number(RNG)}") == set()


def test_replacement_numbers(detector):
    number = fictional.cpr(RNG, replacement=True)
    assert entities(detector, f"Erstatningspersonnummer {number}") == {"DK_CPR_REPLACEMENT"}


# -- other identifiers -------------------------------------------------------------------------


def test_cvr_needs_its_word_or_the_vat_form(detector):
    number = fictional.cvr(RNG)
    assert entities(detector, f"CVR-nr. {number}") == {"DK_CVR"}
    assert entities(detector, f"DK{number}") == {"DK_CVR"}
    assert "DK_CVR" not in entities(detector, f"Nummer {number}")


def test_phone_forms(detector):
    for form in ("+45 22334455", "0045 22 33 44 55", "tlf. 22 33 44 55", "mobil 22334455"):
        assert entities(detector, form) == {"DK_PHONE"}, form
    assert entities(detector, "Beløbet 22334455 kr.") == set()


def test_iban_danish_and_foreign(detector):
    dk = fictional.iban_dk(RNG)
    assert entities(detector, f"IBAN {fictional.group4(dk)}.") == {"IBAN_CODE"}
    assert entities(detector, "IBAN DE89 3704 0044 0532 0130 00") == {"IBAN_CODE"}
    assert entities(detector, f"IBAN {dk[:-1]}{(int(dk[-1]) + 1) % 10}") == set()


def test_bank_account_and_documents(detector):
    assert entities(detector, "reg.nr. 1234 kontonr. 0012345678") == {"DK_BANK_ACCOUNT"}
    assert entities(detector, "Mit pasnummer er 123456789") == {"DK_PASSPORT"}
    assert entities(detector, "Kørekortnummer 12345678") == {"DK_DRIVING_LICENCE"}
    assert entities(detector, "Der er 123456789 grunde") == set()


@pytest.mark.parametrize(
    "footer",
    [
        "Acme Travel Ltd · Licence Number: 12345678 · London",
        "Firma ApS, Reg. No. 12345678, VAT No. 87654321",
        "Registered in England. Company No. 12345678. License no. 23456789",
        "Moms-nr. 12345678",
        "ATOL protected, licence 12345678",
    ],
)
def test_a_business_number_is_not_a_driving_licence(detector, footer):
    """A company footer names its own numbers; only kørekort words make one a person's."""
    assert "DK_DRIVING_LICENCE" not in entities(detector, footer)
    assert "DK_DRIVING_LICENCE" not in entities(detector, f"Mit kørekort er fornyet.\n{footer}")


@pytest.mark.parametrize(
    "text",
    [
        "Mit kørekortnummer er 12345678",
        "Kørekort nr. 12345678",
        "Vedlagt kopi af mit kørekort, nummer 12345678.",
        "My Danish driving licence number is 12345678",
    ],
)
def test_a_driving_licence_with_its_words(detector, text):
    assert "DK_DRIVING_LICENCE" in entities(detector, text)


def test_email_for_danish_text(detector):
    assert entities(detector, "Skriv til jens.hansen@example.net") == {"EMAIL_ADDRESS"}


# -- categories --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Min søn er indlagt.", {"HEALTH"}),
        ("Jeg har fået en diagnose.", {"HEALTH"}),
        ("Diagnose og medicin er beskrevet i brevet.", {"HEALTH"}),
        ("Behandlingstiden er 8 uger, og sagen har et journalnummer.", set()),
        ("Husk at melde dig hos din a-kasse.", set()),
        ("Du har anmeldt flytning.", set()),
        ("Behandling af din ansøgning sker i journalen.", set()),
        ("Hospitalet har ny parkering.", set()),
        ("Jeg er medlem af fagforeningen.", {"UNION"}),
        ("Vi er i gang med en skilsmisse.", {"FAMILY"}),
        ("My husband has diabetes.", {"HEALTH"}),
    ],
)
def test_categories_need_more_than_one_word(detector, text, expected):
    assert entities(detector, text) & set(CATEGORIES) == expected


def test_category_near_an_identifier(detector):
    number = fictional.cpr(RNG)
    assert "HEALTH" in entities(detector, f"Patient med CPR {number} har epilepsi.")


# -- safety ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flood",
    [
        "1" * 1_000_000,
        "12-" * 333_333,
        "123456 " * 142_857,
        "a.b-c_d@" * 125_000,
        ("x" * 60 + "@") * 16_000,
        "1.2.3.4/5 " * 100_000,
    ],
    ids=["digits", "digit-hyphen", "digit-groups", "email-like", "long-locals", "separators"],
)
def test_adversarial_floods_finish(detector, flood):
    started = time.process_time()
    analysis = detector.analyze(flood)
    cpu = time.process_time() - started
    print(f"\nfigure: 1 MB flood analysed in {cpu:.2f} s CPU, incomplete={analysis.incomplete}")
    assert analysis.incomplete in ([], ["timeout"])


def test_a_deadline_marks_the_scan_incomplete_not_clean(detector):
    analysis = detector.analyze("cpr 150385-2001 " * 50_000, deadline=time.monotonic() - 1)
    assert analysis.incomplete == ["timeout"]


def test_too_long_text_is_incomplete(detector):
    from gateway.detect.analyzer import Detector

    small = Detector(detector.engine, max_chars=1000)
    assert small.analyze("x" * 2000).incomplete == ["text-too-long"]


def test_number_on_a_chunk_border_is_found_with_its_context(detector):
    number = fictional.cpr(RNG, separator="")
    for shift in range(-12, 12, 3):
        prefix = "y" * (CHUNK - 20 + shift)
        text = prefix + f" CPR-nr.: {number} slut"
        assert ("DK_CPR", number) in found(detector, text), shift


def test_findings_carry_masked_values_only(detector):
    from gateway.model import TextChunk

    number = fictional.cpr(RNG)
    findings, _, incomplete = detector.detect([TextChunk("body", f"Mit CPR-nr. er {number}")])
    assert incomplete == []
    (finding,) = findings
    assert finding.masked == number[:6] + "-****"
    assert number[7:] not in repr(finding)


def test_every_number_of_a_long_sparse_text_is_found(detector):
    """A long letter with a few numbers far apart: each found, at the start, the end and in
    between, as in a scan of the whole text (tests/test_detect_fastpath.py compares the one
    pass over runs of digits with Presidio's loop)."""
    import random

    from tests import fictional

    rng = random.Random(8)
    filler = "Kommunen holder borgermøde om den nye lokalplan på rådhuset. " * 30
    parts = [f"CPR-nr. {fictional.cpr(rng)} " + filler]
    for _ in range(60):
        parts.append(filler + f" ring {fictional.phone(rng)} eller skriv cpr {fictional.cpr(rng)}")
    parts.append(filler + f" IBAN {fictional.group4(fictional.iban_dk(rng))}")
    text = "\n".join(parts)
    found = [c.entity for c in detector.analyze(text).findings()]
    assert found.count("DK_CPR") == 61
    assert found.count("DK_PHONE") == 60
    assert found[-1] == "IBAN_CODE"


def test_cpr_touching_its_label_is_found(detector):
    number = fictional.cpr(random.Random(31))
    for text in (f"cpr.nr.{number}", f"pers.nr.{number}", f"CPR-{number}"):
        assert "DK_CPR" in {c.entity for c in detector.analyze(text).findings()}, text
    assert detector.analyze(f"12-{number}").findings() == []


def test_bank_account_pattern_is_linear(detector):
    text = "Reg.nr. 1234" + " " * 45_000 + "x"
    started = time.process_time()
    detector.analyze(text)
    assert time.process_time() - started < 2  # was ~5 s of backtracking per chunk


def test_the_warm_up_text_touches_every_stage(detector):
    """A worker reads WARM_UP_TEXT before its first mail (gateway.reader_pool): it must
    reach the number patterns, their context words and the category terms, or the first
    mail would still pay for building their tables."""
    from gateway.detect.analyzer import WARM_UP_TEXT

    found = detector.analyze(WARM_UP_TEXT).candidates
    entities = {c.entity for c in found}
    assert {"DK_CPR", "DK_PHONE", "DK_BANK_ACCOUNT", "EMAIL_ADDRESS", "HEALTH"} <= entities
    assert any(c.context_word for c in found)


def test_cvr_validity_on_digits_is_stdnums():
    """dk_cvr.valid (digits only, no cleaning) agrees with python-stdnum's is_valid on every
    eight-digit string of a sample, valid ones included."""
    import random

    from stdnum.dk import cvr as stdnum_cvr

    from gateway.detect.recognizers.dk_cvr import valid

    rng = random.Random(26)
    numbers = [f"{rng.randrange(10**8):08d}" for _ in range(20_000)]
    numbers += ["13585628", "01234567", "1234567", "123456789", "\u0661" + "0" * 6 + "9"]
    assert [valid(n) for n in numbers] == [stdnum_cvr.is_valid(n) for n in numbers]
    assert sum(valid(n) for n in numbers) > 1_000
