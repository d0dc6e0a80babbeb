"""Mail as Outlook, Word, webmail, spreadsheets and mail servers really write it: the classes
our first corpus lacked (issue 15), generated from a fixed seed with fictional numbers only.

Each class is a generator of labelled mails, placed in every location a number can sit in:
subject, plain body, HTML body (with entities), ``>``-quoted and Outlook-quoted text,
forwarded messages (``message/rfc822``, ``message/global``, inline forwards), and attachments
of each type (text in UTF-8/16/32, CSV, XLSX, DOCX, ODT). Positives carry the labels the
detector must find; hard negatives carry none of DK_CPR.

- typography: en/em dashes, minus signs, non-breaking hyphens and spaces, thin and figure
  spaces, soft hyphens, zero-width characters, full-width digits, HTML entities — in the
  number and in its label;
- tables: the label in the header of a number's column or in the cell to its left (HTML
  ``<th>``/``<td>``, CSV, XLSX, DOCX, ODT), far below the header;
- label variants: reference labels spelt every way (``Fak-nr.``, ``Faktura nr.``, ``Order
  No.`` …), generated from stems independently of the detector's own list;
- text parts: UTF-16/32 text with and without a byte order mark, bounces with the original's
  headers (``text/rfc822-headers``, ``message/rfc822-headers``), delivery reports,
  ``message/global`` and the subjects of forwarded messages.
"""

from __future__ import annotations

import html
import io
import random
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.policy import SMTP

from tests import fictional

Label = tuple[str, str]
NAMES = ["Mette Holm", "Lars Bæk", "Sofie Å. Lund", "Ahmed Nour", "Karen Sø", "Jonas Krog"]
TOWNS = ["Testby", "Øster Prøve", "Fiktivlund", "Eksempelstrup"]

# -- typography -------------------------------------------------------------------------------

DASHES = ["\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "\ufe63", "\uff0d"]
SPACES = ["\u00a0", "\u2007", "\u2009", "\u202f"]
INVISIBLE = ["\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
HTML_FORMS = {
    "\u2013": ["&ndash;", "&#8211;", "&#x2013;"],
    "\u2014": ["&mdash;", "&#8212;"],
    "\u2212": ["&minus;", "&#8722;"],
    "\u00a0": ["&nbsp;", "&#160;", "&#xA0;"],
    "\u2009": ["&thinsp;", "&#8201;"],
    "\u00ad": ["&shy;", "&#173;"],
    "\u200b": ["&#8203;", "&ZeroWidthSpace;"],
}


def fullwidth(digits: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in digits)


def typeset(number: str, rng: random.Random) -> str:
    """A DDMMYYSSSS number as Word, Outlook, a phone or a pasted PDF writes it."""
    head, tail = number[:6], number[6:]
    style = rng.randrange(5)
    if style == 0:
        return head + rng.choice(DASHES) + tail
    if style == 1:
        return head + rng.choice(SPACES) + tail
    if style == 2:  # an invisible character somewhere inside, a plain hyphen or none
        cut = rng.randrange(1, 10)
        joined = head + rng.choice(["-", ""]) + tail
        cut += cut > 6 and joined[6] == "-"
        return joined[:cut] + rng.choice(INVISIBLE) + joined[cut:]
    if style == 3:
        return fullwidth(head) + rng.choice(["\uff0d", "-", "\u2013"]) + fullwidth(tail)
    return head + " " + rng.choice(DASHES) + " " + tail


def typeset_label(label: str, rng: random.Random) -> str:
    """``CPR-nr.`` with a non-breaking hyphen, ``CPR nr.`` with a no-break space …"""
    if "-" in label and rng.random() < 0.6:
        return label.replace("-", rng.choice(["\u2011", "\u2010"]))
    if " " in label and rng.random() < 0.6:
        return label.replace(" ", rng.choice(SPACES))
    return label


def as_html(text: str, rng: random.Random) -> str:
    """HTML as Outlook writes it: entities for typography, paragraphs, escaped text."""
    out = []
    for ch in html.escape(text, quote=False):
        forms = HTML_FORMS.get(ch)
        out.append(rng.choice(forms) if forms and rng.random() < 0.8 else ch)
    paragraphs = "".join(f"<p class=MsoNormal>{p}</p>" for p in "".join(out).split("\n"))
    return f"<html><head><style>p{{margin:0}}</style></head><body>{paragraphs}</body></html>"


# -- placing a sentence in every location ------------------------------------------------------

LOCATIONS = [
    "subject",
    "body",
    "html",
    "quoted",
    "outlook-quoted",
    "forwarded-rfc822",
    "forwarded-subject",
    "forwarded-global",
    "forwarded-inline",
    "txt-utf8",
    "txt-utf16",
    "docx",
    "odt",
]


def _message(subject: str, rng: random.Random) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = f"{rng.choice(NAMES)} <afsender{rng.randrange(1000)}@example.net>"
    message["To"] = "borgerservice@kommune.example"
    message["Subject"] = subject
    message["Message-ID"] = f"<rw{rng.randrange(10**9)}@example.net>"
    return message


def _inner(subject: str, body: str, rng: random.Random) -> EmailMessage:
    inner = _message(subject, rng)
    inner.set_content(body)
    return inner


def docx_bytes(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def odt_bytes(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import P

    document = OpenDocumentText()
    for paragraph in paragraphs:
        document.text.addElement(P(text=paragraph))
    if table:
        grid = Table(name="Tabel1")
        grid.addElement(TableColumn(numbercolumnsrepeated=len(table[0])))
        for row in table:
            line = TableRow()
            for value in row:
                cell = TableCell(valuetype="string")
                cell.addElement(P(text=value))
                line.addElement(cell)
            grid.addElement(line)
        document.text.addElement(grid)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def xlsx_bytes(table: list[list[str]]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    for row in table:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(table: list[list[str]], rng: random.Random) -> bytes:
    separator = rng.choice([";", ",", "\t"])
    text = "\r\n".join(separator.join(row) for row in table) + "\r\n"
    return text.encode(rng.choice(["utf-8", "cp1252", "utf-8-sig"]))


def utf16(text: str, rng: random.Random) -> bytes:
    encoding = rng.choice(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le"])
    return text.replace("\n", "\r\n").encode(encoding)


def place(sentence: str, where: str, rng: random.Random) -> bytes:
    """A whole message with ``sentence`` at ``where`` and ordinary text around it."""
    greeting = "Hej\n\nJeg skriver angående min sag.\n\n"
    closing = f"\n\nVenlig hilsen\n{rng.choice(NAMES)}\n"
    body = greeting + sentence + closing
    if where == "subject":
        message = _message(f"Vedr. {sentence}", rng)
        message.set_content(greeting + "Se emnet." + closing)
    elif where == "body":
        message = _message("Min sag", rng)
        message.set_content(body)
    elif where == "html":
        message = _message("Min sag", rng)
        message.set_content("Se HTML-udgaven.")
        message.add_alternative(as_html(body, rng), subtype="html")
    elif where == "quoted":
        message = _message("Re: Min sag", rng)
        quoted = "\n".join("> " + line for line in body.splitlines())
        message.set_content(f"Hej igen\n\nHar I set min mail?\n\nDen 3. marts skrev jeg:\n{quoted}")
    elif where == "outlook-quoted":
        message = _message("SV: Min sag", rng)
        header = (
            "-----Oprindelig meddelelse-----\nFra: Borgerservice <bs@kommune.example>\n"
            "Sendt: 3. marts 2026 10:12\nTil: mig\nEmne: Min sag\n\n"
        )
        message.set_content(f"Hej\n\nHer er det, I bad om.\n\n{header}{body}")
    elif where == "forwarded-rfc822":
        message = _message("VS: Min sag", rng)
        message.set_content("Se den videresendte mail.")
        message.add_attachment(_inner("Min sag", body, rng))
    elif where == "forwarded-subject":
        message = _message("VS: brev", rng)
        message.set_content("Videresender.")
        message.add_attachment(_inner(f"Vedr. {sentence}", "Se emnet.", rng))
    elif where == "forwarded-global":
        message = _message("VS: Min sag", rng)
        message.set_content("Se den videresendte mail.")
        inner = _inner("Min sag", body, rng).as_bytes()
        message.add_attachment(inner, maintype="message", subtype="global", cte="base64")
    elif where == "forwarded-inline":
        message = _message("Fwd: Min sag", rng)
        message.set_content(
            "Til orientering.\n\n---------- Forwarded message ---------\n"
            f"From: {rng.choice(NAMES)} <x@example.net>\nDate: 3. mar. 2026\n"
            f"Subject: Min sag\n\n{body}"
        )
    else:
        message = _message("Bilag", rng)
        message.set_content("Se vedhæftede fil.")
        if where == "txt-utf8":
            data, maintype, subtype, name = body.encode(), "text", "plain", "brev.txt"
        elif where == "txt-utf16":
            data, maintype, subtype, name = utf16(body, rng), "text", "plain", "eksport.txt"
        elif where == "docx":
            data, maintype, subtype, name = (
                docx_bytes(body.split("\n\n")),
                "application",
                "vnd.openxmlformats-officedocument.wordprocessingml.document",
                "brev.docx",
            )
        elif where == "odt":
            data, maintype, subtype, name = (
                odt_bytes(body.split("\n\n")),
                "application",
                "vnd.oasis.opendocument.text",
                "brev.odt",
            )
        else:
            raise ValueError(where)
        if maintype == "text":
            message.add_attachment(
                data, maintype="application", subtype="octet-stream", filename=name
            )
            message.get_payload()[-1].replace_header(
                "Content-Type",
                rng.choice(['text/plain; name="' + name + '"', "application/octet-stream"]),
            )
        else:
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


# -- the classes --------------------------------------------------------------------------------

CPR_LABELS = ["CPR-nr.", "CPR nr.", "cpr-nummer", "Personnummer", "CPR", "Pers.nr."]


def typography_positive(rng: random.Random) -> tuple[bytes, set[Label]]:
    number = fictional.cpr(rng, separator="")
    label = typeset_label(rng.choice(CPR_LABELS), rng)
    sentence = f"Mit {label}: {typeset(number, rng)}"
    return place(sentence, rng.choice(LOCATIONS), rng), {("DK_CPR", number)}


REFERENCE_LABELS = ["Ordre-nr.", "Faktura nr.", "P-nr.", "Kunde-nr.", "Bilags nr.", "Order No."]


def typography_negative(rng: random.Random) -> tuple[bytes, set[Label]]:
    number = fictional.date_valid_ten_digits(rng)
    if rng.random() < 0.5:
        sentence = f"{typeset_label(rng.choice(REFERENCE_LABELS), rng)}: {typeset(number, rng)}"
    else:  # a masked number is a birth date, not a CPR number
        masked = number[:6] + rng.choice(DASHES) + rng.choice(["xxxx", "XXXX", "****"])
        sentence = f"I brevet står mit {typeset_label('CPR-nr.', rng)} som {masked}"
    return place(sentence, rng.choice(LOCATIONS), rng), set()


# Labels written independently of the detector's list: stem × separator × number word.
STEMS = ["Ordre", "Order", "Faktura", "Fak", "Kunde", "Customer", "Bilag", "Sags", "Konto",
         "Abonnements", "Forsendelses", "P", "Reference", "Invoice", "Kvitterings",
         "Medlems"]  # fmt: skip
NUMBER_WORDS = ["nr", "nummer", "no", "No", "Nr", "number"]


def generated_label(rng: random.Random) -> str:
    stem = rng.choice(STEMS)
    word = rng.choice(NUMBER_WORDS)
    if stem.isascii() and len(stem) > 1 and rng.random() < 0.3:
        word = word.lower()
    return stem + rng.choice(["", "-", ".", " ", ". "]) + word + rng.choice(["", ".", ":", ".:"])


def label_variant_negative(rng: random.Random) -> tuple[bytes, set[Label]]:
    number = fictional.date_valid_ten_digits(rng)
    written = rng.choice([number, number[:6] + "-" + number[6:]])
    sentence = f"{generated_label(rng)} {written}"
    where = rng.choice(["subject", "body", "html", "quoted", "txt-utf8", "docx", "odt"])
    return place(sentence, where, rng), set()


def _table(header: list[str], rows: list[list[str]], where: str, rng: random.Random) -> bytes:
    table = [header, *rows]
    message = _message(rng.choice(["Ordrebekræftelse", "Bilag", "Liste over deltagere"]), rng)
    message.set_content("Hej\n\nSe vedhæftede oversigt.\n\nMvh\nFirma ApS")
    if where == "html":
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
        )
        markup = f"<html><body><p>Oversigt:</p><table><tr>{head}</tr>{body}</table></body></html>"
        message.add_alternative(markup, subtype="html")
    elif where == "html-label-left":
        cells = "".join(
            f"<tr><td><b>{html.escape(row[0])}</b></td><td>{html.escape(row[1])}</td></tr>"
            for row in rows
        )
        markup = f"<html><body><table border=0>{cells}</table></body></html>"
        message.add_alternative(markup, subtype="html")
    elif where == "csv":
        message.add_attachment(
            csv_bytes(table, rng), maintype="text", subtype="csv", filename="liste.csv"
        )
    elif where == "xlsx":
        message.add_attachment(
            xlsx_bytes(table),
            maintype="application",
            subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            filename="liste.xlsx",
        )
    elif where == "docx":
        message.add_attachment(
            docx_bytes(["Oversigt"], table),
            maintype="application",
            subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
            filename="oversigt.docx",
        )
    elif where == "odt":
        message.add_attachment(
            odt_bytes(["Oversigt"], table),
            maintype="application",
            subtype="vnd.oasis.opendocument.text",
            filename="oversigt.odt",
        )
    return message.as_bytes()


TABLE_PLACES = ["html", "csv", "xlsx", "docx", "odt"]


def table_negative(rng: random.Random) -> tuple[bytes, set[Label]]:
    where = rng.choice([*TABLE_PLACES, "html-label-left"])
    if where == "html-label-left":  # an order confirmation: label cell, number cell
        labels = ["Ordrenummer", "Kundenummer", "Fakturanummer", "Bilagsnummer", "P-nummer"]
        rows = [[label, fictional.date_valid_ten_digits(rng)] for label in labels]
        rows.insert(2, ["Leveringsdato", "3. marts 2026"])
        return _table(["", ""], rows, where, rng), set()
    label = rng.choice(["P-nr.", "Bilagsnummer", "Ordrenr.", "Kundenummer", "Fakturanr."])
    header = [label, "Afdeling", "Dato", "Beløb"]
    rows = [
        [
            fictional.date_valid_ten_digits(rng),
            rng.choice(["Social", "Teknik", "Skole"]),
            f"{rng.randrange(1, 28)}-03-2026",
            f"{rng.randrange(100, 9999)},00",
        ]
        for _ in range(rng.randrange(3, 14))
    ]
    return _table(header, rows, where, rng), set()


def table_positive(rng: random.Random) -> tuple[bytes, set[Label]]:
    where = rng.choice(TABLE_PLACES)
    header = ["Navn", rng.choice(["CPR-nr.", "Personnummer", "CPR"]), "By"]
    numbers = [fictional.cpr(rng, separator=rng.choice(["", " "])) for _ in range(14)]
    rows = [[rng.choice(NAMES), n, rng.choice(TOWNS)] for n in numbers]
    labels = {("DK_CPR", n.replace(" ", "")) for n in numbers}
    return _table(header, rows, where, rng), labels


def text_part_positive(rng: random.Random) -> tuple[bytes, set[Label]]:
    number = fictional.cpr(rng)
    sentence = f"Mit CPR-nr. er {number}"
    shape = rng.choice(["utf16", "rfc822-headers", "message-headers", "dsn", "global", "fwd"])
    if shape == "utf16":
        raw = place(sentence, "txt-utf16", rng)
    elif shape == "global":
        raw = place(sentence, "forwarded-global", rng)
    elif shape == "fwd":
        raw = place(sentence, "forwarded-subject", rng)
    else:
        raw = bounce(f"Ansøgning, {sentence}", shape, rng)
    return raw, {("DK_CPR", number.replace("-", ""))}


def bounce(subject: str, shape: str, rng: random.Random) -> bytes:
    """A delivery report as Postfix writes it, with the original's subject in its headers
    part or quoted in the diagnostic. Written out by hand, as mail servers do."""
    original = _message(subject, rng)
    original.set_content("-")
    headers = original.as_bytes().split(b"\r\n\r\n")[0].decode("ascii") + "\r\n"
    diagnostic = "smtp; 550 5.1.1 user unknown"
    if shape == "dsn":  # servers quote what they refused: here the subject, as it was sent
        diagnostic = (
            "smtp; 550 5.7.1 content rejected: " + subject.encode("ascii", "replace").decode()
        )
    boundary = f"bounce{rng.randrange(10**9)}"
    parts = [
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is the mail system at host mx.example.net.\r\n"
        "Your message could not be delivered.\r\n",
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        "Final-Recipient: rfc822; nobody@example.net\r\nAction: failed\r\n"
        f"Status: 5.1.1\r\nDiagnostic-Code: {diagnostic}\r\n",
    ]
    if shape in ("rfc822-headers", "message-headers"):
        kind = "text/rfc822-headers" if shape == "rfc822-headers" else "message/rfc822-headers"
        parts.append(f"Content-Type: {kind}\r\n\r\n{headers}")
    head = (
        "From: MAILER-DAEMON@mx.example.net\r\nTo: borgerservice@kommune.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;"
        f' boundary="{boundary}"\r\n\r\n'
    )
    body = "".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n"
    return (head + body).encode("ascii")


CLASSES: list[tuple[Callable[[random.Random], tuple[bytes, set[Label]]], str, int]] = [
    (typography_positive, "positive", 40),
    (typography_negative, "negative", 30),
    (table_positive, "positive", 12),
    (table_negative, "negative", 24),
    (label_variant_negative, "negative", 40),
    (text_part_positive, "positive", 24),
]


def mails(seed: int = 20261202) -> Iterator[tuple[str, str, bytes, frozenset[Label]]]:
    """(name, kind, raw, labels) for every generated mail of every class."""
    rng = random.Random(seed)
    for make, kind, count in CLASSES:
        for i in range(count):
            raw, labels = make(rng)
            yield f"{make.__name__}-{i}", kind, raw, frozenset(labels)


# -- who writes: decisions on the default policy ---------------------------------------------

BUSINESS_DOMAINS = ["vvs-hansen.example", "byg-og-raad.example", "kontorforsyning.example"]
CONSUMER = ["gmail.com", "hotmail.dk", "email.dk", "mail.dk", "outlook.dk", "stofanet.dk"]


def _invoice_text(rng: random.Random, *, cvr: str) -> str:
    reg, account = f"{rng.randrange(1000, 10000)}", f"{rng.randrange(10**7, 10**10)}"
    iban = fictional.group4(fictional.iban_dk(rng))
    return (
        f"Hej\n\nHermed faktura for udført arbejde.\n\n"
        f"{rng.choice(['Fakturanr.', 'Faktura nr.', 'Fak-nr.'])} {rng.randrange(10**4, 10**6)}\n"
        f"Beløbet bedes indbetalt på reg.nr. {reg} kontonr. {account}\n"
        f"IBAN {iban}\n\nMed venlig hilsen\nFirma ApS\nCVR-nr. {cvr}\n"
    )


def business_invoice(rng: random.Random) -> tuple[bytes, str, dict[str, object]]:
    """A supplier's invoice with its own account, IBAN and CVR: not personal data."""
    cvr = fictional.cvr(rng)
    text = _invoice_text(rng, cvr=cvr)
    if rng.random() < 0.3:  # a sole trader writing from a free-mail address
        sender = f"firma{rng.randrange(100)}@{rng.choice(CONSUMER)}"
    else:
        sender = f"faktura@{rng.choice(BUSINESS_DOMAINS)}"
    message = _message("Faktura", rng)
    message.replace_header("From", sender)
    if rng.random() < 0.5:
        message.set_content(text)
    else:
        message.set_content("Se faktura.")
        message.add_alternative(as_html(text, rng), subtype="html")
    return message.as_bytes(), sender, {"reply": False, "journal": False}


def citizen_bank_account(rng: random.Random) -> tuple[bytes, str, dict[str, object]]:
    """A private person's bank account for a payout: personal data, answered."""
    reg, account = f"{rng.randrange(1000, 10000)}", f"{rng.randrange(10**7, 10**10)}"
    sender = f"borger{rng.randrange(100)}@{rng.choice(CONSUMER)}"
    raw = place(f"Min boligstøtte skal udbetales til reg.nr. {reg} kontonr. {account}", "body", rng)
    raw = raw.replace(b"afsender", b"x", 1)
    return raw, sender, {"reply": True, "journal": True, "portal": "borger.dk"}


def citizen_forwards_employer_letter(rng: random.Random) -> tuple[bytes, str, dict[str, object]]:
    """A citizen forwards a letter that carries their employer's CVR: still a citizen."""
    employer = f"Arbejdsgiveren A/S, CVR-nr. {fictional.cvr(rng)}"
    letter = f"Kære medarbejder\n\nHermed din opsigelse.\n\nMed venlig hilsen\n{employer}"
    number = fictional.cpr(rng)
    sender = f"borger{rng.randrange(100)}@{rng.choice(CONSUMER)}"
    where = rng.choice(["forwarded-rfc822", "forwarded-inline", "outlook-quoted", "quoted"])
    own = f"Jeg har mistet mit job. Mit CPR-nr. er {number}."
    raw = place(letter, where, rng)
    message = _message("VS: Opsigelse", rng)
    # The sender's own words first, then what they forward or quote, as mail programs do.
    parsed = __import__("email").message_from_bytes(raw, policy=SMTP)
    body = parsed.get_body(("plain",))
    if where == "forwarded-rfc822":
        message.set_content(own)
        for part in parsed.iter_attachments():
            message.add_attachment(part.get_content())
    else:
        message.set_content(own + "\n\n" + body.get_content())
    message.replace_header("From", sender)
    return message.as_bytes(), sender, {"reply": True, "journal": True, "portal": "borger.dk"}


DECISION_CLASSES: list[tuple[Callable[[random.Random], tuple[bytes, str, dict[str, object]]], int]]
DECISION_CLASSES = [
    (business_invoice, 20),
    (citizen_bank_account, 10),
    (citizen_forwards_employer_letter, 16),
]


def decision_cases(seed: int = 20261203) -> Iterator[tuple[str, bytes, str, dict[str, object]]]:
    rng = random.Random(seed)
    for make, count in DECISION_CLASSES:
        for i in range(count):
            raw, sender, expected = make(rng)
            yield f"{make.__name__}-{i}", raw, sender, expected
