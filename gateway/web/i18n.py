"""The staff page's words, Danish first, English available (a link on every page).

One table for everything a page shows: labels, states, entity types, verdict and reply
reasons, protection facts, history actions. Kept as data so a municipality can adjust wording
without touching templates. A key that is missing shows as its code and is remembered in
``MISSING``; the tests fail when any page needed one.
"""

from __future__ import annotations

import re

from gateway.detect import entities

LANGUAGES = ("da", "en")
MISSING: set[str] = set()


class Words(dict[str, str]):
    """One language's words; ``t[key]`` never fails, ``t.code(kind, code)`` translates codes."""

    def __missing__(self, key: str) -> str:
        MISSING.add(key)
        return key.split(".", 1)[-1]

    def code(self, kind: str, code: object) -> str:
        return self[f"{kind}.{code}"]

    def reason(self, text: str) -> str:
        """A verdict reason as the rule walk writes it (gateway.decide.walk), in words."""
        entity = re.fullmatch(r"([A-Z][A-Z_]+) x(\d+)", text)
        if entity:
            return f"{self.code('entity', entity.group(1))} ×{entity.group(2)}"
        for pattern, key in REASON_PATTERNS:
            found = re.fullmatch(pattern, text)
            if found:
                groups = [g or "" for g in found.groups()]
                return self[key.format(*groups)].format(*groups)
        return self.code("reason", text)

    def reply_reason(self, text: str | None) -> str:
        """Why an auto-reply was (not) sent (gateway.act.reply), in words."""
        if not text:
            return ""
        for pattern, key in REPLY_PATTERNS:
            found = re.fullmatch(pattern, text)
            if found:
                return self[key]
        MISSING.add(f"reply-reason:{text}")
        return text


REASON_PATTERNS = [
    (r"sender is a (business|citizen)", "reason.sender-{0}"),
    (r"(not )?(encrypted|signed)", "reason.{0}{1}"),
    (r"signature valid=(True|False)", "reason.signature-{0}"),
    (r"TLS below (.+)", "reason.tls-below"),
    (r"unscanned: (.+)", "reason.unscanned"),
    (r"sender domain (.+)", "reason.sender-domain"),
    (r"dmarc=(.+)", "reason.dmarc"),
    (r"larger than (\d+) bytes", "reason.larger"),
]
REPLY_PATTERNS = [
    (r"reply|queued", "replywhy.queued"),
    (r"2\d\d.*", "replywhy.accepted"),
    (r"[45]\d\d.*", "replywhy.refused"),
    (r"null envelope sender", "replywhy.null-sender"),
    (r"sender address without a domain", "replywhy.no-domain"),
    (r"Auto-Submitted: .*", "replywhy.auto-submitted"),
    (r"delivery or disposition report", "replywhy.report"),
    (r"mailing list", "replywhy.list"),
    (r"Precedence: .*", "replywhy.precedence"),
    (r"automatic sender|automatic reply.*|X-Auto-Response-Suppress", "replywhy.robot"),
    (r"encrypted mail", "replywhy.encrypted"),
    (r"sender domain is a secure channel.*", "replywhy.secure-channel"),
    (r"sender authentication (failed|not checked).*", "replywhy.unauthenticated"),
    (r".*(rate|limit|already|week|hour).*", "replywhy.limited"),
    (r".*(error|could not).*", "replywhy.error"),
]

TEXT: dict[str, dict[str, str]] = {
    "da": {
        "title": "Postvagt – markerede mails",
        "login": "Log ind",
        "logout": "Log ud",
        "user": "Brugernavn",
        "password": "Adgangskode",
        "login_failed": "Forkert brugernavn eller adgangskode.",
        "login_throttled": "For mange forkerte forsøg herfra. Vent et kvarter, og prøv igen.",
        "flagged": "Markerede mails",
        "health": "Drift",
        "filter": "Filtrér",
        "mailbox": "Postkasse",
        "status": "Status",
        "from_date": "Fra dato",
        "to_date": "Til dato",
        "entity": "Type oplysning",
        "reply": "Autosvar",
        "any": "Alle",
        "received": "Modtaget",
        "sender": "Afsender",
        "found": "Fundet",
        "rule": "Regel",
        "none_found": "Ingen mails matcher.",
        "page": "Side",
        "of": "af",
        "previous": "Forrige",
        "next": "Næste",
        "details": "Detaljer",
        "reference": "Reference",
        "recipients": "Modtagere",
        "delivery": "Levering",
        "protection": "Beskyttelse",
        "unscanned": "Ikke scannet",
        "verdict": "Afgørelse",
        "reasons": "Begrundelse",
        "findings": "Fund (maskeret)",
        "case_hint": "Sagsnummer i emnet",
        "case_number": "Sagsnummer",
        "subject_masked": "Emne (maskeret)",
        "history": "Historik",
        "actions": "Handlinger",
        "mark_journaled": "Markér som journaliseret",
        "mark_not_needed": "Ingen journalisering nødvendig",
        "mark_false_positive": "Fejlagtigt fund",
        "reopen": "Genåbn",
        "why": "Begrundelse",
        "release": "Frigiv fra karantæne",
        "delete_held": "Slet karantænekopi",
        "download": "Hent original (.eml)",
        "quarantine": "Karantæne",
        "handled_by": "Behandlet af",
        "state.open": "Åben",
        "state.journaled": "Journaliseret",
        "state.not-needed": "Ingen journalisering",
        "state.false-positive": "Fejlagtigt fund",
        "reply.queued": "I kø",
        "reply.sent": "Sendt",
        "reply.suppressed": "Ikke sendt",
        "reply.failed": "Fejlet",
        "saved": "Gemt.",
        "error": "Fejl",
        "not_found": "Findes ikke, eller du har ikke adgang.",
        "csrf": "Formularen var udløbet. Prøv igen.",
        "policy": "Politik i brug",
        "last_error": "Seneste fejl ved genindlæsning",
        "queues": "Køer",
        "in_flight": "Mails under behandling",
        "language": "English",
        "skip": "Spring til indhold",
    },
    "en": {
        "title": "Postvagt – flagged mail",
        "login": "Log in",
        "logout": "Log out",
        "user": "User name",
        "password": "Password",
        "login_failed": "Wrong user name or password.",
        "login_throttled": "Too many wrong attempts from here. Wait 15 minutes and try again.",
        "flagged": "Flagged mail",
        "health": "Operations",
        "filter": "Filter",
        "mailbox": "Mailbox",
        "status": "Status",
        "from_date": "From date",
        "to_date": "To date",
        "entity": "Kind of data",
        "reply": "Auto-reply",
        "any": "Any",
        "received": "Received",
        "sender": "Sender",
        "found": "Found",
        "rule": "Rule",
        "none_found": "No mail matches.",
        "page": "Page",
        "of": "of",
        "previous": "Previous",
        "next": "Next",
        "details": "Details",
        "reference": "Reference",
        "recipients": "Recipients",
        "delivery": "Delivery",
        "protection": "Protection",
        "unscanned": "Not scanned",
        "verdict": "Verdict",
        "reasons": "Reasons",
        "findings": "Findings (masked)",
        "case_hint": "Case number in the subject",
        "case_number": "Case number",
        "subject_masked": "Subject (masked)",
        "history": "History",
        "actions": "Actions",
        "mark_journaled": "Mark journaled",
        "mark_not_needed": "No journaling needed",
        "mark_false_positive": "False positive",
        "reopen": "Reopen",
        "why": "Reason",
        "release": "Release from quarantine",
        "delete_held": "Delete quarantined copy",
        "download": "Download original (.eml)",
        "quarantine": "Quarantine",
        "handled_by": "Handled by",
        "state.open": "Open",
        "state.journaled": "Journaled",
        "state.not-needed": "No journaling needed",
        "state.false-positive": "False positive",
        "reply.queued": "Queued",
        "reply.sent": "Sent",
        "reply.suppressed": "Not sent",
        "reply.failed": "Failed",
        "saved": "Saved.",
        "error": "Error",
        "not_found": "Not found, or not yours to see.",
        "csrf": "The form had expired. Please try again.",
        "policy": "Policy in force",
        "last_error": "Last reload error",
        "queues": "Queues",
        "in_flight": "Messages being handled",
        "language": "Dansk",
        "skip": "Skip to content",
    },
}


ENTITIES = {e.name: (e.da, e.en) for e in entities.TABLE}

# (key, Danish, English)
MORE = [
    # what became of the mail
    ("disp.held", "Tilbageholdt", "Held"),
    ("disp.released", "Frigivet", "Released"),
    ("disp.delivered", "Leveret", "Delivered"),
    ("disp.held-deleted", "Karantænekopi slettet", "Held copy deleted"),
    ("disp.refused", "Afvist", "Refused"),
    ("disp.pending", "Under behandling", "Being handled"),
    ("disp.failed", "Ikke leveret", "Not delivered"),
    ("delivery_state", "Mailen", "The mail"),
    ("journal_state", "Journalisering", "Journaling"),
    # verdict actions
    ("action.deliver", "Leveret", "Delivered"),
    ("action.quarantine", "Tilbageholdt i karantæne", "Held in quarantine"),
    ("action.reject", "Afvist", "Refused"),
    ("would", "i overvågningstilstand ville reglen have", "in monitor mode the rule would have"),
    # verdict reasons
    ("reason.sender-business", "afsender er en virksomhed", "the sender is a business"),
    ("reason.sender-citizen", "afsender er en borger", "the sender is a citizen"),
    ("reason.encrypted", "krypteret", "encrypted"),
    ("reason.not encrypted", "ikke krypteret", "not encrypted"),
    ("reason.signed", "signeret", "signed"),
    ("reason.not signed", "ikke signeret", "not signed"),
    ("reason.signature-True", "gyldig signatur", "valid signature"),
    ("reason.signature-False", "signaturen kunne ikke bekræftes", "signature not valid"),
    ("reason.tls-below", "TLS ældre end {0}", "TLS older than {0}"),
    ("reason.unscanned", "ikke alt kunne scannes", "not everything could be scanned"),
    ("reason.scanned", "hele mailen blev scannet", "the whole mail was scanned"),
    ("reason.sender-domain", "afsenderdomæne {0}", "sender domain {0}"),
    ("reason.listed sender", "afsender står på listen", "listed sender"),
    ("reason.dmarc", "DMARC: {0}", "DMARC: {0}"),
    ("reason.larger", "større end {0} byte", "larger than {0} bytes"),
    ("reason.no rule matched", "ingen regel passede", "no rule matched"),
    # reply outcomes
    ("replywhy.queued", "i kø til afsendelse", "queued for sending"),
    ("replywhy.accepted", "modtaget af afsenderens mailserver", "accepted by the sender's server"),
    ("replywhy.refused", "afvist af afsenderens mailserver", "refused by the sender's server"),
    ("replywhy.null-sender", "ingen afsenderadresse", "no sender address"),
    ("replywhy.no-domain", "afsenderadressen har intet domæne", "sender address without a domain"),
    ("replywhy.auto-submitted", "mailen var automatisk", "the mail was automatic"),
    ("replywhy.report", "leverings- eller læsekvittering", "delivery or read report"),
    ("replywhy.list", "mailingliste", "mailing list"),
    ("replywhy.precedence", "masseudsendelse", "bulk mail"),
    ("replywhy.robot", "automatisk afsender", "automatic sender"),
    ("replywhy.encrypted", "mailen var krypteret", "the mail was encrypted"),
    ("replywhy.secure-channel", "afsender bruger en sikker kanal", "sender uses a secure channel"),
    (
        "replywhy.unauthenticated",
        "afsenderen er ikke bekræftet (SPF/DMARC)",
        "sender not authenticated (SPF/DMARC)",
    ),
    ("replywhy.limited", "der er allerede svaret for nylig", "already answered recently"),
    ("replywhy.error", "teknisk fejl", "technical error"),
    # protection and sender facts
    ("prot.tls", "Krypteret forbindelse (TLS {0})", "Encrypted connection (TLS {0})"),
    ("prot.no-tls", "Ukrypteret forbindelse", "Unencrypted connection"),
    ("prot.hop-in", "Modtaget", "Received"),
    ("prot.hop-out", "Sendt videre", "Passed on"),
    ("prot.tls-out", "krypteret (TLS {0})", "encrypted (TLS {0})"),
    ("prot.no-tls-out", "ukrypteret", "unencrypted"),
    ("prot.signed", "signeret", "signed"),
    ("prot.encrypted", "krypteret", "encrypted"),
    ("prot.sender", "Afsenderkontrol", "Sender checks"),
    ("check.pass", "bestået", "passed"),
    ("check.fail", "ikke bestået", "failed"),
    ("check.softfail", "svagt ikke bestået", "soft fail"),
    ("check.neutral", "neutral", "neutral"),
    ("check.none", "ingen", "none"),
    ("check.temperror", "midlertidig fejl", "temporary error"),
    ("check.permerror", "fejl i opsætning", "configuration error"),
    ("check.None", "ikke kontrolleret", "not checked"),
    ("check.policy", "politik", "policy"),
    # unscanned parts
    (
        "gap.embedded-image-not-read",
        "billede i dokument ikke læst",
        "picture in a document not read",
    ),
    ("gap.ocr-needed", "billede kræver tekstgenkendelse", "picture needs OCR"),
    ("gap.ocr-budget", "tid til tekstgenkendelse brugt op", "OCR time used up"),
    ("gap.too-large", "for stor", "too large"),
    ("gap.limit", "over grænsen", "over the limit"),
    ("gap.malformed", "ødelagt fil", "damaged file"),
    ("gap.legacy-office", "gammelt Office-format", "old Office format"),
    ("gap.unsupported-attachment", "filtype kan ikke læses", "file type not readable"),
    ("gap.text-too-long", "teksten er for lang", "text too long"),
    ("gap.timeout", "scanningen tog for lang tid", "scan took too long"),
    ("gap.smime-encrypted", "S/MIME-krypteret", "S/MIME encrypted"),
    ("gap.pgp-encrypted", "PGP-krypteret", "PGP encrypted"),
    ("gap.pgp-inline-encrypted", "PGP-krypteret", "PGP encrypted"),
    ("gap.unknown-encrypted", "krypteret", "encrypted"),
    ("gap.encrypted", "krypteret", "encrypted"),
    ("gap.smime-unreadable", "S/MIME kunne ikke læses", "S/MIME unreadable"),
    ("gap.smime-compressed", "S/MIME-komprimeret", "S/MIME compressed"),
    # history
    ("act.view", "så mailen", "viewed the mail"),
    ("act.preview", "så teksten (maskeret)", "viewed the text (masked)"),
    ("act.download", "hentede originalen", "downloaded the original"),
    ("act.release", "frigav mailen", "released the mail"),
    (
        "act.release-refused",
        "frigivelse afvist af mailserveren",
        "release refused by the mail server",
    ),
    ("act.delete-quarantined", "slettede karantænekopien", "deleted the held copy"),
    ("act.mark-open", "genåbnede", "reopened"),
    ("act.mark-journaled", "markerede som journaliseret", "marked journaled"),
    ("act.mark-not-needed", "markerede: ingen journalisering", "marked: no journaling needed"),
    ("act.mark-false-positive", "markerede som fejlagtigt fund", "marked false positive"),
    ("act.export", "eksporterede", "exported"),
    # sizes
    ("bytes", "byte", "bytes"),
    ("kB", "kB", "kB"),
    ("MB", "MB", "MB"),
    ("decimal", ",", "."),
    # list
    ("search", "Søg", "Search"),
    ("search_hint", "Afsender, Postvagt-id, sagsnummer", "Sender, Postvagt id, case number"),
    ("sort", "Sortér efter", "Sort by"),
    ("sort.time", "Tid", "Time"),
    ("sort.sender", "Afsender", "Sender"),
    ("sort.state", "Status", "State"),
    ("order.desc", "Nyeste/Å-A først", "Descending"),
    ("order.asc", "Ældste/A-Å først", "Ascending"),
    ("order", "Rækkefølge", "Order"),
    ("open_per_mailbox", "Åbne pr. postkasse", "Open per mailbox"),
    ("subject", "Emne", "Subject"),
    ("select", "Vælg", "Select"),
    ("select_row", "Vælg mail fra {0}, {1}", "Select mail from {0}, {1}"),
    ("with_selected", "Med de valgte mails", "With the selected mails"),
    ("export", "Hent listen som CSV", "Download the list as CSV"),
    ("bulk_done", "{0} mails opdateret.", "{0} mails updated."),
    ("bulk_failed", "{0} mails kunne ikke opdateres.", "{0} mails could not be updated."),
    ("none_selected", "Vælg mindst én mail.", "Select at least one mail."),
    # confirmation
    ("confirm", "Bekræft", "Confirm"),
    ("cancel", "Fortryd", "Cancel"),
    ("confirm.title", "Er du sikker?", "Are you sure?"),
    ("confirm.journaled", "Markér {0} mails som journaliseret:", "Mark {0} mails as journaled:"),
    (
        "confirm.not-needed",
        "Markér {0} mails: ingen journalisering nødvendig:",
        "Mark {0} mails: no journaling needed:",
    ),
    (
        "confirm.false-positive",
        "Markér {0} mails som fejlagtigt fund:",
        "Mark {0} mails as false positive:",
    ),
    (
        "confirm.release",
        "Frigiv {0} mails fra karantæne og send dem videre:",
        "Release {0} mails from quarantine and deliver them:",
    ),
    (
        "confirm.delete-held",
        "Slet karantænekopien af {0} mails. Det kan ikke fortrydes:",
        "Delete the held copy of {0} mails. This cannot be undone:",
    ),
    (
        "confirm.skipped",
        "{0} af de valgte har ingen karantænekopi og springes over.",
        "{0} of the selected have no held copy and are skipped.",
    ),
    # statistics
    ("stats", "Statistik", "Statistics"),
    ("stats.period", "Periode", "Period"),
    ("stats.weeks", "{0} uger", "{0} weeks"),
    ("stats.per_week", "Markerede mails pr. uge og postkasse", "Flagged mail per week and mailbox"),
    ("stats.week", "Uge", "Week"),
    ("stats.total", "I alt", "Total"),
    ("stats.by_entity", "Mails pr. type oplysning", "Mail by kind of data"),
    ("stats.replies", "Autosvar", "Auto-replies"),
    ("stats.outcome", "Udfald", "Outcome"),
    ("stats.count", "Antal", "Count"),
    ("stats.protection", "Beskyttet mail", "Protected mail"),
    ("stats.share", "Andel", "Share"),
    ("stats.encrypted", "Krypteret", "Encrypted"),
    ("stats.signed", "Signeret", "Signed"),
    ("stats.tls", "Modtaget over TLS", "Received over TLS"),
    ("stats.handling", "Tid fra modtagelse til behandlet", "Time from arrival to handled"),
    ("stats.handled", "Behandlet", "Handled"),
    ("stats.median", "Median", "Median"),
    ("stats.p90", "90 % inden for", "90 % within"),
    ("stats.open", "Stadig åbne", "Still open"),
    ("stats.hours", "{0} timer", "{0} hours"),
    ("stats.days", "{0} dage", "{0} days"),
    ("stats.minutes", "{0} min.", "{0} min"),
    ("stats.none", "Ingen data i perioden.", "No data in the period."),
    (
        "stats.chart",
        "Diagram; samme tal i tabellen nedenfor",
        "Chart; the same figures in the table below",
    ),
    # preview
    ("preview", "Vis teksten (maskeret)", "Show the text (masked)"),
    (
        "preview.title",
        "Mailens tekst, personoplysninger maskeret",
        "The mail's text, personal data masked",
    ),
    (
        "preview.unavailable",
        "Teksten kan ikke vises her (ingen scanner kører).",
        "The text cannot be shown here (no scanner running).",
    ),
    ("preview.failed", "Teksten kunne ikke læses.", "The text could not be read."),
    ("preview.empty", "Mailen har ingen tekst.", "The mail has no text."),
    ("preview.attachments", "Vedhæftede filer", "Attachments"),
    ("preview.name", "Navn", "Name"),
    ("preview.type", "Hvad filen er", "What the file is"),
    ("preview.declared", "Afsenderen kalder den", "The sender calls it"),
    ("preview.size", "Størrelse", "Size"),
    ("preview.unnamed", "(uden navn)", "(no name)"),
    ("loc.subject", "Emne", "Subject"),
    ("loc.body", "Brødtekst", "Body"),
    ("loc.html", "Brødtekst (HTML)", "Body (HTML)"),
    ("loc.forwarded", "Videresendt", "Forwarded"),
    ("loc.quoted", "Citeret", "Quoted"),
    ("loc.attachment", "Bilag", "Attachment"),
    # sessions
    ("password_change", "Skift adgangskode", "Change password"),
    ("current_password", "Nuværende adgangskode", "Current password"),
    ("new_password", "Ny adgangskode (mindst 10 tegn)", "New password (at least 10 characters)"),
    ("new_password_again", "Ny adgangskode igen", "New password again"),
    (
        "password_changed",
        "Adgangskoden er skiftet. Alle andre sessioner er afsluttet.",
        "Password changed. Every other session has ended.",
    ),
    (
        "password_mismatch",
        "De to nye adgangskoder er forskellige.",
        "The two new passwords differ.",
    ),
    (
        "password_short",
        "En adgangskode har mindst 10 tegn.",
        "A password has at least 10 characters.",
    ),
    ("password_wrong", "Den nuværende adgangskode er forkert.", "The current password is wrong."),
    ("all_mailboxes", "alle postkasser", "all mailboxes"),
    ("count.flagged_open", "Åbne markerede mails", "Open flagged mail"),
    ("count.quarantined", "I karantæne", "In quarantine"),
    ("count.outbox_queued", "Autosvar i kø", "Replies queued"),
    ("count.outbox_sending", "Autosvar under afsendelse", "Replies being sent"),
    ("count.outbox_sent", "Autosvar sendt", "Replies sent"),
    ("count.outbox_failed", "Autosvar fejlet", "Replies failed"),
    ("rules", "regler", "rules"),
    ("released_at", "frigivet", "released"),
    ("yes", "ja", "yes"),
    ("bucket.<1h", "under 1 time", "under 1 hour"),
    ("bucket.1-4h", "1–4 timer", "1–4 hours"),
    ("bucket.4-24h", "4–24 timer", "4–24 hours"),
    ("bucket.1-3d", "1–3 dage", "1–3 days"),
    ("bucket.>3d", "over 3 dage", "over 3 days"),
    ("no", "nej", "no"),
]

# Answers through Digital Post (gateway.web.answer, issue 19).
DIGITAL_POST = [
    ("dp.title", "Besvar via Digital Post", "Answer through Digital Post"),
    ("dp.answer", "Besvar via Digital Post", "Answer through Digital Post"),
    ("dp.step.recipient", "Modtager", "Recipient"),
    ("dp.step.registration", "Tilmelding", "Registration"),
    ("dp.step.compose", "Svar", "Answer"),
    ("dp.step.confirm", "Bekræft", "Confirm"),
    (
        "dp.off",
        "Digital Post er ikke sat op her. Administratoren skal angive certifikat og CVR-nummer.",
        "Digital Post is not set up here. The administrator must set the certificate and CVR.",
    ),
    ("dp.number", "CPR- eller CVR-nummer", "CPR or CVR number"),
    (
        "dp.number_help",
        "Skriv nummeret. Postvagt gemmer kun den maskerede form og et nøglet aftryk (HMAC).",
        "Type the number. Postvagt keeps only its masked form and a keyed hash (HMAC).",
    ),
    ("dp.check", "Tjek modtager", "Check recipient"),
    (
        "dp.invalid.shape",
        "Det er hverken et CPR-nummer (10 cifre) eller et CVR-nummer (8 cifre).",
        "That is neither a CPR number (10 digits) nor a CVR number (8 digits).",
    ),
    (
        "dp.invalid.cpr-date",
        "Det er ikke et gyldigt CPR-nummer: datoen eller århundredet passer ikke.",
        "That is not a valid CPR number: the date or century does not fit.",
    ),
    (
        "dp.invalid.cvr-checksum",
        "Det er ikke et gyldigt CVR-nummer (kontrolcifferet passer ikke).",
        "That is not a valid CVR number (the check digit does not fit).",
    ),
    ("dp.invalid.empty", "Skriv både titel og tekst.", "Write both a title and a text."),
    (
        "dp.lookup_failed",
        "Digital Post kunne ikke spørges lige nu. Prøv igen om lidt.",
        "Digital Post could not be asked just now. Try again in a while.",
    ),
    ("dp.recipient", "Modtager", "Recipient"),
    ("dp.kind.CPR", "Borger, CPR", "Citizen, CPR"),
    ("dp.kind.CVR", "Virksomhed, CVR", "Business, CVR"),
    ("dp.matches", "svarer til nummeret i mailen", "matches the number in the mail"),
    (
        "dp.no_match",
        "står ikke i mailen – bruges med din begrundelse",
        "is not in the mail – used with your reason",
    ),
    ("dp.not_in_mail", "Et nummer, der ikke står i mailen", "A number that is not in the mail"),
    (
        "dp.invalid.not-in-mail",
        "Nummeret står ikke i mailen (et nummer, der ligner, er ikke det samme). Tjek det "
        "igen. Skal svaret bevidst til et andet nummer, så sæt kryds og skriv hvorfor. Intet "
        "er slået op eller sendt.",
        "The number is not in the mail (a number that looks alike is not the same). Check it "
        "again. If the answer goes to another number on purpose, tick the box and say why. "
        "Nothing was looked up or sent.",
    ),
    (
        "dp.invalid.reason",
        "Skriv hvorfor svaret skal til et nummer, der ikke står i mailen.",
        "Say why the answer goes to a number that is not in the mail.",
    ),
    (
        "dp.acknowledge",
        "Jeg har tjekket nummeret: svaret skal til dette nummer, selv om det ikke står i mailen.",
        "I have checked the number: the answer goes to it, although it is not in the mail.",
    ),
    (
        "dp.reason",
        "Begrundelse (gemmes i revisionsloggen)",
        "Reason (kept in the audit log)",
    ),
    (
        "dp.invalid.lookup-limit",
        "Du har nået grænsen: højst {limit} opslag i timen i Digital Post. Prøv igen senere.",
        "You have reached the limit: at most {limit} look-ups an hour in Digital Post. "
        "Try again later.",
    ),
    ("dp.registration", "Digital Post", "Digital Post"),
    (
        "dp.registered",
        "Modtageren kan modtage Digital Post.",
        "The recipient receives Digital Post.",
    ),
    (
        "dp.exempt.CPR",
        "Borgeren er fritaget for Digital Post og får fysisk post.",
        "The citizen is exempt from Digital Post and gets physical mail.",
    ),
    (
        "dp.exempt.CVR",
        "Virksomheden kan ikke modtage Digital Post.",
        "The business cannot receive Digital Post.",
    ),
    (
        "dp.by_letter",
        "Svaret skal sendes som brev. Fysisk post er ikke slået til i Postvagt.",
        "The answer must go by letter. Physical mail is not switched on in Postvagt.",
    ),
    ("dp.back", "Tilbage til mailen", "Back to the mail"),
    (
        "dp.letter_offer",
        "Kommunen kan sende svaret som fysisk brev gennem Digital Posts printløsning (fjernprint).",
        "The municipality can send the answer as a physical letter through Digital Post's "
        "print service (fjernprint).",
    ),
    ("dp.address", "Modtagerens navn og adresse", "The recipient's name and address"),
    (
        "dp.address_help",
        "Som på kuverten: navn, vej og nummer, postnummer og by. Højst seks linjer.",
        "As on the envelope: name, street and number, postcode and town. Six lines at most.",
    ),
    (
        "dp.invalid.address",
        "Skriv modtagerens navn og adresse (mindst to linjer).",
        "Write the recipient's name and address (at least two lines).",
    ),
    (
        "dp.invalid.stale",
        "Bekræftelsen var ikke gyldig. Se svaret igennem og send igen.",
        "The confirmation was not valid. Review the answer and send again.",
    ),
    (
        "dp.invalid.not-registered",
        "Modtageren kan ikke (længere) modtage Digital Post: intet er sendt. Start forfra.",
        "The recipient cannot (any longer) receive Digital Post: nothing was sent. Start again.",
    ),
    (
        "dp.asked_again",
        "Digital Post spørges igen, lige før svaret sendes.",
        "Digital Post is asked again right before the answer is sent.",
    ),
    (
        "dp.invalid.no-letter",
        "Fysisk post er ikke slået til her, eller modtageren er ikke en borger.",
        "Physical mail is not switched on here, or the recipient is not a citizen.",
    ),
    (
        "dp.confirm_letter",
        "Brevet printes og sendes med posten til adressen ovenfor. Det kan ikke kaldes tilbage.",
        "The letter is printed and posted to the address above. It cannot be recalled.",
    ),
    (
        "dp.invalid.registered",
        "Modtageren kan modtage Digital Post (eller Digital Post kunne ikke spørges): "
        "intet brev er sendt. Start forfra.",
        "The recipient receives Digital Post (or Digital Post could not be asked): no letter "
        "was sent. Start again.",
    ),
    ("dp.send_letter", "Send som brev (fjernprint)", "Send as a letter (fjernprint)"),
    ("dp.channel.digital-post", "Digital Post", "Digital Post"),
    ("dp.channel.physical-mail", "Fysisk brev", "Physical letter"),
    ("dp.subject", "Titel", "Title"),
    ("dp.text", "Tekst", "Text"),
    ("dp.letterhead", "Tilføj kommunens afsenderoplysninger", "Add the municipality's letterhead"),
    ("dp.review", "Se svaret før afsendelse", "Review before sending"),
    (
        "dp.confirm_what",
        "Svaret sendes til modtagerens digitale postkasse. Det kan ikke kaldes tilbage.",
        "The answer goes to the recipient's digital mailbox. It cannot be recalled.",
    ),
    ("dp.send", "Send via Digital Post", "Send through Digital Post"),
    (
        "dp.queued_note",
        "Svaret er lagt i kø til Digital Post. Status står herunder.",
        "The answer is queued for Digital Post. Its state is shown below.",
    ),
    ("dpstate.queued", "I kø", "Queued"),
    ("dpstate.sent", "Sendt", "Sent"),
    ("dpstate.failed", "Fejlet", "Failed"),
    ("dp.sent_at", "sendt", "sent"),
    ("dp.transaction", "transaktion", "transaction"),
    ("dp.last_error", "sidste fejl", "last error"),
    (
        "dp.journal_next",
        "Svaret er en del af sagen: markér mailen som journaliseret.",
        "The answer is part of the case: mark the mail journaled.",
    ),
    (
        "query.page",
        "Siden findes ikke; her er den første.",
        "No such page; this is the first one.",
    ),
    (
        "query.date",
        "Datoen findes ikke (skriv ÅÅÅÅ-MM-DD, fra år 1900); den er ikke brugt.",
        "No such date (write YYYY-MM-DD, from the year 1900); it was not used.",
    ),
    (
        "query.dates",
        "Til-datoen ligger før fra-datoen; ingen af dem er brugt.",
        "The to date is before the from date; neither was used.",
    ),
    (
        "query.unknown",
        "Ukendt værdi i adressen; den er ikke brugt.",
        "Unknown value in the address; it was not used.",
    ),
    ("act.digital-post-lookup", "slog op i Digital Post", "looked up in Digital Post"),
    (
        "act.digital-post-not-in-mail",
        "skrev et nummer, der ikke står i mailen",
        "typed a number that is not in the mail",
    ),
    (
        "act.digital-post-lookup-refused",
        "opslag i Digital Post afvist (grænsen pr. time)",
        "Digital Post look-up refused (the hourly limit)",
    ),
    (
        "act.digital-post-number-refused",
        "skrev et ugyldigt CPR/CVR-nummer",
        "typed an invalid CPR/CVR number",
    ),
    (
        "act.digital-post-queued",
        "besvarede via Digital Post (i kø)",
        "answered through Digital Post (queued)",
    ),
    ("act.digital-post-sent", "svar sendt via Digital Post", "answer sent through Digital Post"),
    (
        "act.digital-post-failed",
        "svar via Digital Post fejlede",
        "answer through Digital Post failed",
    ),
]

for _code, (_da, _en) in ENTITIES.items():
    TEXT["da"][f"entity.{_code}"] = _da
    TEXT["en"][f"entity.{_code}"] = _en
for _key, _da, _en in MORE + DIGITAL_POST:
    TEXT["da"][_key] = _da
    TEXT["en"][_key] = _en

# Single sign-on with OpenID Connect (gateway.web.oidc); {0} is the provider's name.
SSO = [
    ("sso_login", "Log ind med {0}", "Log in with {0}"),
    ("sso_local", "Lokal konto (nødadgang)", "Local account (break-glass)"),
    (
        "sso_failed",
        "Log ind med {0} lykkedes ikke. Prøv igen.",
        "Logging in with {0} did not succeed. Please try again.",
    ),
    (
        "sso_unavailable",
        "{0} svarer ikke lige nu. Prøv igen om lidt, eller brug en lokal konto.",
        "{0} does not answer just now. Try again shortly, or use a local account.",
    ),
    (
        "sso_no_group",
        "Din konto hos {0} er ikke med i en gruppe, der giver adgang til Postvagt. "
        "Bed en administrator om adgang.",
        "Your {0} account is in no group that gives access to Postvagt. "
        "Ask an administrator for access.",
    ),
    (
        "sso_refused_disabled",
        "Din konto er spærret i Postvagt. Kontakt en administrator.",
        "Your account is disabled in Postvagt. Contact an administrator.",
    ),
    (
        "sso_refused_local_account",
        "Der findes allerede en lokal konto med dit navn i Postvagt; en administrator må "
        "omdøbe eller spærre den, før du kan logge ind med single sign-on.",
        "A local account with your name already exists in Postvagt; an administrator must "
        "rename or disable it before you can log in with single sign-on.",
    ),
]
for _key, _da, _en in SSO:
    TEXT["da"][_key] = _da
    TEXT["en"][_key] = _en

WORDS: dict[str, Words] = {lang: Words(TEXT[lang]) for lang in LANGUAGES}

# The staff page of issue 24, points 6–13: the list that fits a screen, what the search and
# the status filter reach, the CSV for the case system, the sent answer for the case file,
# the audit log as a page and the DPO's role. Appended, (key, Danish, English); a key that
# is here and above takes these words.
STAFF_PAGE = [
    (
        "search_hint",
        "Navn, adresse, emne, sagsnummer, Postvagt-id",
        "Name, address, subject, case number, Postvagt id",
    ),
    ("list.subject_found", "Emne og fund", "Subject and findings"),
    ("list.case_hint", "i emnet:", "in the subject:"),
    ("state.held", "Tilbageholdt", "Held"),
    ("state.released", "Frigivet", "Released"),
    ("state.answered", "Besvaret via Digital Post", "Answered through Digital Post"),
    ("csv.sender_name", "Afsenderens navn", "Sender's name"),
    ("csv.handled_by", "Håndteret af", "Handled by"),
    ("csv.handled_at", "Håndteret", "Handled at"),
    ("dp.case_file", "Svaret til sagen", "The answer for the case file"),
    ("dp.download_pdf", "Hent svaret som PDF", "Download the answer as PDF"),
    ("dp.download_xml", "Hent MeMo-beskeden (XML)", "Download the MeMo message (XML)"),
    ("act.answer-download", "hentede det sendte svar", "downloaded the sent answer"),
    (
        "role.refused",
        "Din rolle giver ikke adgang til denne side.",
        "Your role has no access to this page.",
    ),
    ("audit.title", "Revisionslog", "Audit log"),
    (
        "audit.intro",
        "Hvem så, frigav, eksporterede, besvarede eller slog op hvad og hvornår. "
        "At læse og hente loggen logges også.",
        "Who saw, released, exported, answered or looked up what and when. "
        "Reading and downloading the log is logged too.",
    ),
    ("audit.actor", "Bruger", "User"),
    ("audit.action", "Handling", "Action"),
    ("audit.code", "Kode", "Code"),
    ("audit.at", "Tidspunkt", "Time"),
    ("audit.target", "Mail eller konto", "Mail or account"),
    ("audit.detail", "Detaljer", "Details"),
    ("audit.export", "Hent loggen som CSV", "Download the log as CSV"),
    ("audit.none", "Ingen hændelser matcher.", "No entries match."),
    ("act.audit-view", "læste revisionsloggen", "read the audit log"),
    ("act.audit-export", "hentede revisionsloggen", "downloaded the audit log"),
    ("act.list", "så listen", "viewed the list"),
    ("act.statistics", "så statistikken", "viewed the statistics"),
    ("act.login", "loggede ind", "logged in"),
    ("act.login-failed", "forkert adgangskode", "wrong password"),
    ("act.login-throttled", "login afvist (for mange forsøg)", "login refused (too many tries)"),
    ("act.logout", "loggede ud", "logged out"),
    ("act.password-change", "skiftede adgangskode", "changed password"),
    (
        "act.password-change-failed",
        "forkert adgangskode ved skift",
        "wrong password when changing it",
    ),
    ("act.user-set", "oprettede eller ændrede kontoen", "created or changed the account"),
    ("act.user-disable", "lukkede kontoen", "disabled the account"),
    ("auditkey.state", "status", "state"),
    ("auditkey.status", "status", "state"),
    ("auditkey.case_number", "sagsnummer", "case number"),
    ("auditkey.client", "klient", "client"),
    ("auditkey.upstream", "næste server", "next hop"),
    ("auditkey.mailbox", "postkasse", "mailbox"),
    ("auditkey.entity", "type oplysning", "type of data"),
    ("auditkey.reply", "autosvar", "auto-reply"),
    ("auditkey.search", "søgning", "search"),
    ("auditkey.page", "side", "page"),
    ("auditkey.rows", "rækker", "rows"),
    ("auditkey.weeks", "uger", "weeks"),
    ("auditkey.recipient", "modtager", "recipient"),
    ("auditkey.recipient_key", "nøgle-hash af nummeret", "keyed hash of the number"),
    ("auditkey.matched", "nummeret stod i mailen", "the number was in the mail"),
    ("auditkey.channel", "kanal", "channel"),
    ("auditkey.reason", "begrundelse", "reason"),
    ("auditkey.transaction", "transaktions-id", "transaction id"),
    ("auditkey.error", "fejl", "error"),
    ("auditkey.answer", "svar nr.", "answer no."),
    ("auditkey.document", "dokument", "document"),
    ("auditkey.role", "rolle", "role"),
    ("auditkey.mailboxes", "postkasser", "mailboxes"),
    ("auditkey.actor", "bruger", "user"),
    ("auditkey.action", "handling", "action"),
    ("auditkey.since", "fra", "from"),
    ("auditkey.until", "til", "to"),
]
for _key, _da, _en in STAFF_PAGE:
    WORDS["da"][_key] = _da
    WORDS["en"][_key] = _en
