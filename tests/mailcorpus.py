"""A labelled corpus of realistic Danish and English mail to a municipality, made by this
generator from a fixed seed (nothing here comes from a real mail or a real person).

Each mail carries its labels: the set of (entity type, normalised value) the detector must
find, and nothing else. The hard negatives were written first, before the detector was
tuned: date-valid ten-digit numbers after order, invoice, customer, P-, account, case and
voucher labels, tracking and EAN numbers, Unix timestamps in logs, and ordinary municipal
mail full of words like "behandling", "journal" and "a-kasse".
"""

from __future__ import annotations

import base64
import quopri
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, make_msgid

from tests import fictional

Label = tuple[str, str]


@dataclass
class Draft:
    subject: str
    body: str
    labels: set[Label] = field(default_factory=set)
    html: bool = False


@dataclass(frozen=True)
class LabelledMail:
    name: str
    raw: bytes
    labels: frozenset[Label]
    kind: str  # "negative" or "positive"


def digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


# -- hard negatives ---------------------------------------------------------------------------

NUMBER_LABELS = [
    "Ordrenummer",
    "Ordrenr.",
    "Fakturanr.",
    "Fakturanummer",
    "Kundenummer",
    "Kundenr.",
    "P-nr.",
    "P-nummer",
    "Kontonr.",
    "Sagsnummer",
    "Sagsnr.",
    "Bilagsnummer",
    "Bilagsnr.",
    "Order number",
    "Invoice no.",
    "Customer no.",
    "Journalnummer",
    "Referencenummer",
    "Abonnementsnummer",
    "Aftalenummer",
    "Forsendelsesnummer",
    "Tracking number",
]


def neg_labelled_number(rng: random.Random) -> Draft:
    label = rng.choice(NUMBER_LABELS)
    number = fictional.date_valid_ten_digits(rng)
    if rng.random() < 0.3:
        number = number[:6] + "-" + number[6:]
    body = rng.choice(
        [
            f"Hej\n\nJeg har ikke modtaget min varmeregning. {label}: {number}\n\nMvh\nKirsten",
            f"Til Borgerservice\n\nVedr. {label} {number} – kan I sende en kopi?\n\n"
            "Venlig hilsen\nOle",
            f"Hello,\n\nRegarding {label} {number}, the payment was made on 3 March.\n\n"
            "Best regards\nAnna",
            f"Hej\n\nFaktura vedlagt. {label}: {number}. Betalingsfrist 14 dage.\n\n"
            "Med venlig hilsen\nFirma ApS",
        ]
    )
    return Draft(f"Vedr. {label.lower().rstrip('.')}", body)


def neg_bank_account(rng: random.Random) -> Draft:
    reg = f"{rng.randrange(1000, 10000)}"
    account = fictional.date_valid_ten_digits(rng)
    body = (
        "Hej\n\nMit tilskud kan udbetales til min bank.\n"
        f"Reg.nr. {reg} Kontonr. {account}\n\nHilsen\nPeter"
    )
    return Draft("Udbetaling af tilskud", body, {("DK_BANK_ACCOUNT", reg + account)})


def neg_tracking_and_ean(rng: random.Random) -> Draft:
    tracking = f"00370{rng.randrange(10**15):015d}"
    ean = fictional.ean13(rng)
    body = (
        "Hej\n\nPakken med hjælpemidler er sendt.\n"
        f"Track & trace: {tracking}\nEAN-nummer: {ean}\n\nVenlig hilsen\nLageret"
    )
    return Draft("Forsendelse", body)


def neg_log_timestamps(rng: random.Random) -> Draft:
    lines = []
    for _ in range(6):
        ts = rng.randrange(1_704_067_200, 1_798_761_600)
        lines.append(f'ts={ts} level=info msg="job done" id={rng.randrange(10**6)}')
    body = "Hej IT\n\nSelvbetjeningen fejler. Loggen viser:\n\n" + "\n".join(lines) + "\n\nMvh"
    return Draft("Fejl i selvbetjening", body)


MUNICIPAL_SENTENCES = [
    "Behandlingstiden for byggesager er i øjeblikket 8 uger.",
    "Vi har modtaget din henvendelse og giver den et journalnummer.",
    "Husk at melde dig ledig hos din a-kasse og på jobnet.dk.",
    "Du har anmeldt flytning til den nye adresse pr. 1. maj.",
    "Behandling af ansøgninger om parkeringstilladelse sker løbende.",
    "Sagen er journaliseret, og du hører fra os inden for 14 dage.",
    "Renovationen afhenter haveaffald hver anden mandag.",
    "Kommunen holder borgermøde om den nye lokalplan på rådhuset.",
    "Svømmehallen har ændrede åbningstider i uge 42.",
    "Ansøgningsfristen for foreningstilskud er 1. oktober.",
    "The processing time for building permits is currently eight weeks.",
    "Please note the treatment plant will be closed on Friday.",
    "Der er ny behandling af klager over vejbelysning i teknisk udvalg.",
    "Skolen sender en besked på Aula om skolefotografering.",
]


def neg_municipal(rng: random.Random) -> Draft:
    sentences = rng.sample(MUNICIPAL_SENTENCES, 4)
    body = "Hej\n\n" + " ".join(sentences) + f"\n\nTlf. {fictional.phone(rng)}\n\nMvh\nKommunen"
    labels: set[Label] = set()
    phone = body.split("Tlf. ")[1].split("\n")[0]
    labels.add(("DK_PHONE", digits(phone)[-8:]))
    return Draft("Information fra kommunen", body, labels)


def neg_dates_and_phones(rng: random.Random) -> Draft:
    d = fictional.cpr(rng, separator="")[:6]
    body = (
        f"Hej\n\nMødet er flyttet fra 01.01.1990-stilen til den {d[:2]}.{d[2:4]}.20{d[4:]}. "
        f"Ring på {fictional.phone(rng)} eller {fictional.phone(rng)}.\n"
        f"Sag 27.24.00-G01-{rng.randrange(1, 50)}-{rng.randrange(18, 26)} er oprettet.\n"
        f"CVR-nr. på leverandøren: {fictional.cvr(rng)[:4]}\n\nMvh"
    )
    labels = {("DK_PHONE", digits(p)[-8:]) for p in _phones(body)}
    return Draft("Mødeflytning", body, labels)


def neg_masked_and_invalid(rng: random.Random) -> Draft:
    masked = fictional.cpr(rng)[:7] + rng.choice(["xxxx", "XXXX", "****"])
    invalid = fictional.invalid_date_number(rng)
    body = (
        f"Hej\n\nI jeres brev står mit cpr-nummer som {masked}, og nummeret {invalid} "
        "på kvitteringen kan jeg ikke genkende.\n\nMvh\nHanne"
    )
    return Draft("Spørgsmål til brev", body)


def neg_long_digit_runs(rng: random.Random) -> Draft:
    core = fictional.cpr(rng, separator="")
    body = (
        f"Hej\n\nReference {rng.randrange(10)}{core}{rng.randrange(10)} og "
        f"IBAN {fictional.group4(fictional.iban_dk(rng))}.\n\nMvh"
    )
    iban = body.split("IBAN ")[1].split(".")[0].replace(" ", "")
    return Draft("Reference", body, {("IBAN_CODE", iban)})


def _phones(text: str) -> list[str]:
    import re

    return re.findall(r"(?:\+45 )?\d{2} \d{2} \d{2} \d{2}|\+45 \d{8}|(?<!\d)\d{8}(?!\d)", text)


NEGATIVES: list[Callable[[random.Random], Draft]] = [
    neg_labelled_number,
    neg_bank_account,
    neg_tracking_and_ean,
    neg_log_timestamps,
    neg_municipal,
    neg_dates_and_phones,
    neg_masked_and_invalid,
    neg_long_digit_runs,
]


# -- positives --------------------------------------------------------------------------------

CPR_PHRASES = [
    "Mit CPR-nr. er {cpr}.",
    "Mit cpr-nummer: {cpr}",
    "CPR: {cpr}",
    "Personnummer {cpr}",
    "Jeg har cpr nr {cpr} hvis I skal bruge det.",
    "Min søns cpr.nr. er {cpr}.",
    "My CPR number is {cpr}.",
    "Civil registration number: {cpr}",
    "Sundhedskort med nummer {cpr} er vedlagt som billede.",
]
SEPARATORS = ["-", "-", "-", "", " ", "/", "."]
NAMES = ["Mette", "Lars", "Sofie", "Ahmed", "Karen", "Jonas", "Fatima", "Søren", "Åse", "Ølbæk"]


def _cpr_label(number: str) -> Label:
    return ("DK_CPR", digits(number))


def pos_cpr(rng: random.Random) -> Draft:
    number = fictional.cpr(rng, separator=rng.choice(SEPARATORS))
    phrase = rng.choice(CPR_PHRASES).format(cpr=number)
    name = rng.choice(NAMES)
    where = rng.choice(["body", "subject", "signature", "quoted"])
    subject, body = (
        "Spørgsmål om boligstøtte",
        f"Hej\n\nJeg søger boligstøtte. {phrase}\n\nMvh\n{name}",
    )
    if where == "subject":
        subject, body = f"Ansøgning – {phrase}", f"Hej\n\nSe emnefeltet.\n\nMvh\n{name}"
    elif where == "signature":
        body = f"Hej\n\nJeg søger om tilskud til briller.\n\nVenlig hilsen\n{name}\nCPR: {number}"
    elif where == "quoted":
        body = (
            f"Hej igen\n\nHar I set min mail?\n\nMvh {name}\n\n"
            f"> Hej\n> Jeg søger boligstøtte. {phrase}\n> Mvh {name}"
        )
    return Draft(subject, body, {_cpr_label(number)})


def pos_cpr_exception(rng: random.Random) -> Draft:
    number = fictional.exception_cpr(rng, separator=rng.choice(["-", ""]))
    text = rng.choice(["Mit CPR-nummer er {cpr}.", "Personnummer: {cpr}", "cpr {cpr}"])
    body = f"Hej\n\nJeg er født 1. januar. {text.format(cpr=number)}\n\nMvh\nPoul"
    return Draft("Ændring af adresse", body, {_cpr_label(number)})


def pos_cpr_bare_hyphen(rng: random.Random) -> Draft:
    number = fictional.cpr(rng)
    body = f"Hej\n\nVedr. min datter {number}, hun starter i skole efter sommerferien.\n\nMvh"
    return Draft("Skolestart", body, {_cpr_label(number)})


HEALTH_TEXTS = [
    "Min søn er indlagt på psykiatrisk afdeling.",
    "Jeg har fået diagnosen diabetes og er sygemeldt.",
    "Jeg vedlægger lægeerklæringen, som beskriver min depression.",
    "I was diagnosed with cancer and I am on sick leave.",
    "Min mor har demens og har brug for hjemmehjælp.",
]
SOCIAL_TEXTS = [
    "Vi er midt i en skilsmisse, og der er uenighed om forældremyndigheden.",
    "Min datter er anbragt, og jeg vil klage over underretningen.",
    "Jeg har gæld og er på kontanthjælp.",
]
FAMILY_TEXTS = SOCIAL_TEXTS[:2]
CRIMINAL_TEXTS = [
    "Jeg er blevet sigtet i en sag og har brug for en straffeattest.",
    "Min søn er varetægtsfængslet og afsoner nu i fængsel.",
]
UNION_TEXTS = ["Jeg er medlem af fagforeningen, og min tillidsrepræsentant deltager i mødet."]
RELIGION_TEXTS = ["Jeg er muslim og ønsker at drøfte udmeldelse af folkekirken for min søn."]


def pos_category(rng: random.Random) -> Draft:
    category, texts = rng.choice(
        [("HEALTH", HEALTH_TEXTS)] * 3
        + [
            ("SOCIAL", SOCIAL_TEXTS),
            ("CRIMINAL", CRIMINAL_TEXTS),
            ("UNION", UNION_TEXTS),
            ("RELIGION", RELIGION_TEXTS),
        ]
    )
    text = rng.choice(texts)
    if text in FAMILY_TEXTS:  # issue 25: family matters and child welfare have their own type
        category = "FAMILY"
    labels: set[Label] = {(category, "")}
    body = f"Hej\n\n{text}\n\nVenlig hilsen\n{rng.choice(NAMES)}"
    if rng.random() < 0.5:
        number = fictional.cpr(rng)
        body = body.replace("\n\nVenlig", f" Mit CPR-nr. er {number}.\n\nVenlig")
        labels.add(_cpr_label(number))
    return Draft("Min situation", body, labels)


def pos_business(rng: random.Random) -> Draft:
    cvr = fictional.cvr(rng)
    iban = fictional.iban_dk(rng)
    tel = f"{rng.randrange(2, 10)}{rng.randrange(10**7):07d}"
    form = rng.choice([f"CVR-nr. {cvr}", f"CVR: {cvr}", f"DK{cvr}"])
    body = (
        f"Hej\n\nFaktura for rådgivning vedlagt.\n\nByg & Rådgivning ApS\n{form}\n"
        f"Tlf. {tel}\nIBAN {fictional.group4(iban)}\n"
    )
    labels = {("DK_CVR", cvr), ("IBAN_CODE", iban), ("DK_PHONE", tel)}
    return Draft("Faktura", body, labels)


def pos_bank(rng: random.Random) -> Draft:
    reg, account = f"{rng.randrange(1000, 10000)}", f"{rng.randrange(10**7, 10**10)}"
    body = (
        f"Hej\n\nMin boligstøtte skal udbetales til reg.nr. {reg} kontonr. {account}.\n\nMvh\nIda"
    )
    return Draft("Udbetaling", body, {("DK_BANK_ACCOUNT", reg + account)})


def pos_documents(rng: random.Random) -> Draft:
    passport = f"{rng.randrange(10**8, 10**9)}"
    licence = f"{rng.randrange(10**7, 10**8)}"
    body = (
        f"Hej\n\nTil min ansøgning: mit pasnummer er {passport}, "
        f"og mit kørekortnummer er {licence}.\n\nMvh\nAnders"
    )
    return Draft("Legitimation", body, {("DK_PASSPORT", passport), ("DK_DRIVING_LICENCE", licence)})


def pos_replacement(rng: random.Random) -> Draft:
    number = fictional.cpr(rng, replacement=True)
    body = f"Hej\n\nJeg har fået et erstatningspersonnummer: {number}.\n\nMvh\nNadia"
    return Draft("Mit nummer", body, {("DK_CPR_REPLACEMENT", digits(number))})


POSITIVES: list[tuple[Callable[[random.Random], Draft], int]] = [
    (pos_cpr, 40),
    (pos_cpr_exception, 12),
    (pos_cpr_bare_hyphen, 6),
    (pos_category, 20),
    (pos_business, 8),
    (pos_bank, 5),
    (pos_documents, 5),
    (pos_replacement, 5),
]


# -- rendering ---------------------------------------------------------------------------------


def render(draft: Draft, rng: random.Random) -> bytes:
    """A real RFC 5322 message: 8bit, quoted-printable, base64 or HTML-only."""
    encoding = rng.choice(["8bit", "quoted-printable", "base64"])
    subject = Header(draft.subject, "utf-8").encode()
    text = draft.body
    content_type = "text/plain"
    if draft.html:
        content_type = "text/html"
        paragraphs = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in text.split("\n\n"))
        text = f"<html><body>{paragraphs}</body></html>"
    payload = text.replace("\n", "\r\n").encode("utf-8")
    if encoding == "quoted-printable":
        payload = quopri.encodestring(payload).replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    elif encoding == "base64":
        payload = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    head = (
        f"From: Afsender <afsender{rng.randrange(1000)}@example.net>\r\n"
        "To: borgerservice@kommune.example\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {format_datetime(datetime(2026, 11, rng.randrange(1, 28), 9, 30, tzinfo=UTC))}\r\n"
        f"Message-ID: {make_msgid(domain='example.net')}\r\n"
        "MIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    )
    return head.encode("ascii") + payload


def corpus(seed: int = 20261128, negatives_per_kind: int = 10) -> Iterator[LabelledMail]:
    rng = random.Random(seed)
    for make in NEGATIVES:
        for i in range(negatives_per_kind):
            draft = make(rng)
            draft.html = rng.random() < 0.2
            yield LabelledMail(
                f"{make.__name__}-{i}", render(draft, rng), frozenset(draft.labels), "negative"
            )
    for make, count in POSITIVES:
        for i in range(count):
            draft = make(rng)
            draft.html = rng.random() < 0.2
            yield LabelledMail(
                f"{make.__name__}-{i}", render(draft, rng), frozenset(draft.labels), "positive"
            )
