"""Sensitive personal data without a CPR number (issue 25): a generated corpus, one class per
category of shared/DOMAIN.md 2.2 and 2.4, from a fixed seed, fictional people only.

A positive is a fact of the category about an identifiable person: the writer ("jeg har"),
a relative ("min søn", "min mor"), or a named third person (an employee named by an
employer, a pupil named by a school, a neighbour's child). Its hard negatives use the same
words about nobody: newsletters, job ads, invitations, policies, statistics, adverts and
general questions. Facts are written the way people write them — compounds, inflections,
abbreviations, medicine names, treatments and phrases, not the lexicon's listed words — and
are combined from parts (organ × disease × ending, person × fact × frame), so that a fix
must cover the class, not the sample. 85 % Danish (a share of it SMS-style: no capitals, no
punctuation), 15 % English; in every location: subject, body, HTML, quoted, forwarded
(attached and inline) and attachments (text, DOCX).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tests.realworld import _inner, _message, as_html, docx_bytes

FIRST = ["Mette", "Lars", "Sofie", "Ahmed", "Karen", "Jonas", "Fatima", "Mikkel", "Ida", "Emil",
         "Line", "Kasper", "Amalie", "Yusuf", "Freja", "Oliver"]  # fmt: skip
LAST = ["Holm", "Bæk", "Lund", "Nour", "Sø", "Krog", "Dal", "Bjerre", "Vang", "Kjær"]

LOCATIONS = ["subject", "body", "html", "quoted", "forwarded-rfc822", "forwarded-inline",
             "txt", "docx"]  # fmt: skip


def name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


# -- who the fact is about -----------------------------------------------------------------
# Each subject is (Danish, English): the words before the fact's verb phrase. "{n}": a name.

WRITER = [("jeg", "I"), ("jeg selv", "I")]
RELATIVE = [
    ("min søn", "my son"), ("min datter", "my daughter"), ("min mor", "my mother"),
    ("min far", "my father"), ("min mand", "my husband"), ("min kone", "my wife"),
    ("vores søn {f}", "our son {f}"), ("vores datter {f}", "our daughter {f}"),
    ("min kæreste", "my partner"), ("min bror", "my brother"), ("min søster", "my sister"),
    ("min svigermor", "my mother-in-law"),
]  # fmt: skip
THIRD = [
    ("vores medarbejder {n}", "our employee {n}"),
    ("medarbejderen {n}", "the employee {n}"),
    ("eleven {n} i 4.b", "the pupil {n} in year 4"),
    ("{n}, som går i 7. klasse,", "{n}, who is in year 7,"),
    ("naboens datter {f}", "the neighbour's daughter {f}"),
    ("naboens dreng", "the neighbour's boy"),
    ("{n}", "{n}"),
    ("vores kollega {f}", "our colleague {f}"),
]  # fmt: skip

# -- the facts, per category: (Danish, English) verb phrases, "{x}" filled from a part list --


@dataclass(frozen=True)
class Fact:
    da: str
    en: str
    parts: tuple[str, ...] = ()


ORGANS = ("bryst", "lunge", "tyktarms", "prostata", "hud", "livmoderhals", "blære", "nyre")
DISEASE_FORMS = ("kræft", "kræften", "cancer", "canceren")

FACTS: dict[str, list[Fact]] = {
    "HEALTH": [
        Fact("har fået konstateret {x}", "has been diagnosed with breast cancer",
             tuple(o + d for o in ORGANS for d in DISEASE_FORMS)),
        Fact("er {x} og starter i kemo på mandag", "is ill with cancer and starts chemo on Monday",
             ("kræftsyg", "kræftramt", "syg af kræft")),
        Fact("skal have {x} i seks uger", "is having radiotherapy for six weeks",
             ("strålebehandling", "stråler", "kemoterapi", "kemo")),
        Fact("er {x} og tager {y}", "is depressed and takes antidepressants",
             ("deprimeret", "depressiv", "ramt af en depression", "fødselsdeprimeret")),
        Fact("har {x} og får medicin for det", "has ADHD and is on medication for it",
             ("ADHD", "adhd", "ADD", "PTSD", "OCD", "autisme", "en angstlidelse", "skizofreni",
              "bipolar lidelse")),
        Fact("har {x}", "has COPD and uses oxygen", ("KOL", "sklerose", "type 1-diabetes",
              "epilepsi", "leddegigt", "parkinson", "alzheimer", "en hjerneskade")),
        Fact("var indlagt på {x} i tre uger", "was admitted to psychiatric ward for three weeks",
             ("psyk", "psykiatrisk afdeling", "lukket afdeling", "børne- og ungdomspsykiatrien")),
        Fact("tager {x} hver dag", "takes insulin every day",
             ("insulin", "sertralin", "cipralex", "ritalin", "medikinet", "quetiapin",
              "lithium", "morfin", "antidepressiva", "lykkepiller")),
        Fact("har været {x} siden marts", "has been on sick leave with stress since March",
             ("sygemeldt med stress", "langtidssygemeldt", "sygemeldt efter en blodprop",
              "stresssygemeldt")),
        Fact("er {x}", "is pregnant", ("gravid i 5. måned", "diabetiker", "blind", "dement")),
    ],
    "ADDICTION": [
        Fact("{x}", "drinks too much and has lost control",
             ("drikker for meget", "drikker hver dag", "drikker sig fuld hver weekend",
              "har et alkoholproblem", "er alkoholiker", "har et drukproblem")),
        Fact("{x}", "smokes hash every day",
             ("ryger hash hver dag", "tager kokain", "tager stoffer", "er afhængig af piller",
              "er afhængig af heroin", "har et stofmisbrug", "har et hashmisbrug")),
        Fact("{x}", "is in methadone treatment",
             ("er i metadonbehandling", "får metadon", "får antabus",
              "er på afvænning", "er i behandling for sit alkoholmisbrug",
              "går på misbrugscenteret")),
        Fact("{x}", "gambles away all the money", ("er ludoman", "spiller alle pengene op",
              "har et spilleproblem")),
    ],
    "FAMILY": [
        Fact("har {x}", "has bruises on the arms", ("blå mærker på armene", "mærker efter slag",
              "blå mærker i ansigtet")),
        Fact("{x}", "is beaten at home", ("bliver slået derhjemme", "bliver slået af sin far",
              "bliver tævet af sin stedfar", "er udsat for vold i hjemmet")),
        Fact("{x}", "comes to school hungry and unwashed",
             ("kommer i skole uden madpakke og er ikke vasket", "er beskidt og sulten hver dag",
              "bliver ikke passet ordentligt derhjemme", "er overladt til sig selv")),
        Fact("{x}", "is placed in foster care", ("er anbragt i familiepleje",
              "er blevet tvangsfjernet", "er anbragt på et opholdssted",
              "har en sag hos familieafdelingen")),
        Fact("{x}", "lives at a women's shelter", ("er flyttet på krisecenter",
              "bor på et krisecenter med børnene", "er blevet slået af sin mand")),
        Fact("{x}", "is in a custody case", ("er i en forældremyndighedssag",
              "er i en samværssag om børnene", "er ved at blive skilt og strides om børnene")),
    ],
    "SOCIAL": [
        Fact("{x}", "has debt with debt collectors",
             ("har gæld til inkasso", "har fået en inkassoregning", "skylder penge til "
              "Gældsstyrelsen", "har over 200.000 kr. i gæld", "er i gældssanering")),
        Fact("{x}", "was cut in cash benefit",
             ("er blevet trukket i kontanthjælpen", "har fået en sanktion i kontanthjælpen",
              "er på kontanthjælp", "har fået frataget sin kontanthjælp")),
        Fact("{x}", "is homeless", ("er hjemløs", "er blevet sat ud af lejligheden",
              "sover på herberg", "bor på gaden", "sover i bilen")),
        Fact("{x}", "cannot pay the rent", ("kan ikke betale huslejen og har fået en "
              "fogedsag", "er i restance med huslejen og skal til fogeden")),
    ],
    "SUICIDE": [
        Fact("{x}", "tried to take her own life",
             ("har forsøgt at tage sit eget liv", "har forsøgt selvmord",
              "har selvmordstanker", "vil ikke leve mere", "har tænkt på at tage sit liv",
              "har haft et selvmordsforsøg", "har skrevet at hun vil dø")),
        Fact("{x}", "cuts himself", ("skærer i sig selv", "har cuttet sig på armene",
              "skader sig selv")),
    ],
    "CRIMINAL": [
        Fact("{x}", "was arrested last night",
             ("blev anholdt i nat", "er blevet anholdt", "er sigtet for tyveri",
              "er tiltalt for vold", "blev dømt for narkohandel", "afsoner en dom",
              "sidder i fængsel", "har fodlænke på", "er varetægtsfængslet",
              "er blevet politianmeldt for butikstyveri", "har en plettet straffeattest",
              "er prøveløsladt")),
    ],
    "UNION": [
        Fact("{x}", "is a member of the union",
             ("er medlem af 3F", "er meldt ind i FOA", "er organiseret i HK",
              "er tillidsrepræsentant", "er medlem af Dansk Metal", "er medlem af fagforeningen",
              "har meldt sig ud af fagforeningen")),
    ],
    "RELIGION": [
        Fact("{x}", "is Muslim and prays five times a day",
             ("er muslim", "er konverteret til islam", "går i moskeen hver fredag",
              "er Jehovas Vidne", "er katolik", "faster under ramadanen",
              "er meldt ud af folkekirken", "er jøde", "er troende kristen")),
    ],
    "ETHNICITY": [
        Fact("{x}", "is of Somali origin",
             ("er af somalisk oprindelse", "er kurder", "er rom", "har tyrkisk baggrund",
              "er af pakistansk herkomst", "er etnisk somalier", "er grønlandsk inuit")),
    ],
    "SEXUALITY": [
        Fact("{x}", "is gay", ("er homoseksuel", "er bøsse", "er lesbisk", "er biseksuel",
              "er transkønnet", "er i et kønsskifteforløb", "er kommet ud som homo")),
    ],
    "POLITICAL": [
        Fact("{x}", "is a member of the Red-Green Alliance",
             ("er medlem af Enhedslisten", "stiller op for Dansk Folkeparti",
              "er aktiv i Socialdemokratiet", "er partimedlem hos SF",
              "er medlem af Liberal Alliance", "er aktiv i Nye Borgerlige",
              "er kommunistisk aktivist")),
    ],
    "BIOMETRIC_GENETIC": [
        Fact("{x}", "had a genetic test",
             ("har fået lavet en gentest", "bærer BRCA-genet", "har fået taget en DNA-test",
              "har en arvelig genfejl", "har fået påvist en arvelig hjertesygdom ved en gentest")),
    ],
}  # fmt: skip

ENGLISH_FACTS: dict[str, list[str]] = {
    "HEALTH": ["has been diagnosed with breast cancer", "is depressed and takes antidepressants",
               "has ADHD and is on medication for it", "was admitted to the psychiatric ward",
               "starts chemotherapy next week", "has COPD"],
    "ADDICTION": ["drinks too much", "is addicted to painkillers", "is in methadone treatment",
                  "has a gambling problem", "smokes weed every day"],
    "FAMILY": ["has bruises on the arms", "is beaten at home", "was placed in foster care",
               "comes to school hungry and unwashed", "lives at a women's shelter"],
    "SOCIAL": ["has debt with debt collectors", "is homeless", "had the cash benefit cut"],
    "SUICIDE": ["tried to take her own life", "has suicidal thoughts", "cuts himself"],
    "CRIMINAL": ["was arrested last night", "was convicted of theft", "is in prison"],
    "UNION": ["is a member of the union", "is the union representative"],
    "RELIGION": ["is Muslim and prays five times a day", "converted to Islam",
                 "left the Church of Denmark"],
    "ETHNICITY": ["is of Somali origin", "is Kurdish", "is Roma"],
    "SEXUALITY": ["is gay", "is transgender", "is bisexual"],
    "POLITICAL": ["is a member of the Red-Green Alliance", "is running for the Danish People's "
                  "Party"],
    "BIOMETRIC_GENETIC": ["had a genetic test", "carries the BRCA gene"],
}  # fmt: skip

ENDINGS_DA = [
    "Kan I hjælpe?", "Hvad skal vi gøre nu?", "Jeg vil gerne tale med en sagsbehandler.",
    "Ring gerne til mig.", "Det påvirker hele familien.", "Vi har brug for hjælp.",
]  # fmt: skip
ENDINGS_EN = ["Can you help?", "What should we do?", "Please call me."]
CONTEXT_DA = {
    "writer": ["Jeg skriver fordi", "Jeg vil gerne fortælle at", "Til orientering:", ""],
    "relative": ["Jeg skriver fordi", "Jeg er bekymret, for", "Til orientering:", ""],
    "third": ["Vi vil orientere om at", "Til jeres orientering:", "Jeg er bekymret, for", ""],
}


def _subject(about: str, rng: random.Random, english: bool) -> str:
    table = {"writer": WRITER, "relative": RELATIVE, "third": THIRD}[about]
    da, en = rng.choice(table)
    text = en if english else da
    return text.format(n=name(rng), f=rng.choice(FIRST))


def _fill(fact: Fact, rng: random.Random) -> str:
    x = rng.choice(fact.parts) if fact.parts else ""
    y = rng.choice(["antidepressiva", "sertralin", "lykkepiller", "medicin mod depression"])
    return fact.da.format(x=x, y=y)


def sms(text: str) -> str:
    """SMS style: lower case, no punctuation, no line breaks."""
    kept = "".join(c for c in text.lower() if c.isalnum() or c in " -")
    return " ".join(kept.split())


def positive_text(category: str, rng: random.Random) -> tuple[str, str]:
    """(style, sentence) — a fact of ``category`` about an identifiable person."""
    about = rng.choice(["writer", "writer", "relative", "relative", "third"])
    english = rng.random() < 0.15
    who = _subject(about, rng, english)
    if english:
        fact = rng.choice(ENGLISH_FACTS[category])
        verb = fact
        if who == "I":
            verb = (
                fact.replace("has been", "have been").replace("has ", "have ")
                .replace("is ", "am ").replace("takes", "take").replace("drinks", "drink")
                .replace("smokes", "smoke").replace("carries", "carry")
                .replace("starts", "start").replace("cuts himself", "cut myself")
                .replace("comes", "come").replace("lives", "live").replace("prays", "pray")
                .replace("gambles", "gamble")
                .replace("her own", "my own").replace("tried", "tried")
            )  # fmt: skip
        sentence = f"{who[0].upper()}{who[1:]} {verb}. {rng.choice(ENDINGS_EN)}"
        return f"english/{about}", sentence
    fact = _fill(rng.choice(FACTS[category]), rng)
    if who.startswith("jeg"):
        fact = fact.replace("sit eget", "mit eget").replace("sit liv", "mit liv")
        fact = fact.replace("sig selv", "mig selv").replace("sine", "mine").replace("sin ", "min ")
        fact = fact.replace("hun vil", "jeg vil")
    frame = rng.choice(CONTEXT_DA[about])
    sentence = f"{frame} {who} {fact}. {rng.choice(ENDINGS_DA)}".strip()
    sentence = sentence[0].upper() + sentence[1:]
    if rng.random() < 0.2:
        return f"sms/{about}", sms(sentence)
    return f"danish/{about}", sentence


# -- the same words about nobody -------------------------------------------------------------

TOPIC_WORDS: dict[str, list[str]] = {
    "HEALTH": ["kræft", "brystkræft", "depression", "ADHD", "demens", "diabetes", "KOL",
               "psykisk sygdom", "stress", "angst", "sklerose", "kemoterapi"],
    "ADDICTION": ["alkoholmisbrug", "misbrug", "hash", "afhængighed", "ludomani", "metadon"],
    "FAMILY": ["vold i hjemmet", "anbringelse", "skilsmisse", "samvær", "underretninger",
               "omsorgssvigt"],
    "SOCIAL": ["gæld", "inkasso", "kontanthjælp", "hjemløshed", "økonomisk rådgivning"],
    "SUICIDE": ["selvmordsforebyggelse", "selvmordstanker", "selvskade"],
    "CRIMINAL": ["straffeattest", "kriminalitet", "fængsel", "prøveløsladelse"],
    "UNION": ["fagforening", "tillidsrepræsentant", "3F", "overenskomst"],
    "RELIGION": ["religion", "islam", "folkekirken", "trossamfund", "ramadanen"],
    "ETHNICITY": ["etnisk oprindelse", "etniske minoriteter", "herkomst"],
    "SEXUALITY": ["LGBT+", "seksualitet", "homoseksuelle", "kønsidentitet"],
    "POLITICAL": ["Enhedslisten", "Socialdemokratiet", "partierne", "politisk overbevisning"],
    "BIOMETRIC_GENETIC": ["gentest", "DNA", "fingeraftryk", "biometri"],
}  # fmt: skip

NEGATIVE_FRAMES: dict[str, list[str]] = {
    "newsletter": [
        "Nyhedsbrev fra kommunen: nyt tilbud om {t} og {u} for borgere i hele kommunen. "
        "Læs mere på hjemmesiden. Du modtager dette nyhedsbrev, fordi du er tilmeldt. "
        "Afmeld nyhedsbrevet her.",
        "NYHEDSBREV uge 12 — Tema: {t}. Sådan hjælper vi familier, der er berørt af {u}. "
        "Afmeld nyhedsbrev",
        "Newsletter: new support for people living with {t}. Read more on our website. "
        "Unsubscribe.",
    ],
    "job ad": [
        "Stillingsopslag: Vi søger en engageret socialrådgiver til teamet for {t} og {u}. "
        "Ren straffeattest og børneattest er et krav. Ansøgningsfrist 1. april.",
        "Ledig stilling: sygeplejerske til afsnit for {t}. Du har erfaring med {u}. "
        "Send din ansøgning senest fredag.",
        "Job: We are looking for a nurse with experience in {t}. Apply by Friday.",
    ],
    "invitation": [
        "Invitation: Temaaften om {t} og {u} for pårørende den 3. maj kl. 19. "
        "Tilmelding via hjemmesiden. Alle er velkomne.",
        "Inviterer til foredrag: Når {t} rammer familien. Gratis adgang, tilmelding nødvendig.",
        "You are invited: an information evening on {t}. Register on our website.",
    ],
    "policy": [
        "Politik for {t} på arbejdspladsen: Ledere og medarbejdere skal kende retningslinjerne "
        "for {u}. Politikken revideres hvert andet år.",
        "Retningslinjer: Sådan håndterer kommunen oplysninger om {t} og {u} efter "
        "databeskyttelsesforordningen.",
        "Policy: how the municipality handles information about {t}.",
    ],
    "statistics": [
        "Statistik: I 2025 var der 1.234 borgere med {t} i kommunen, og 12 % havde {u}. "
        "Tallene stammer fra Danmarks Statistik.",
        "Ny undersøgelse viser, at hver femte dansker oplever {t} i løbet af livet.",
        "Statistics: 14 % of residents reported {t} in the 2025 survey.",
    ],
    "general question": [
        "Hvilke tilbud har kommunen til borgere med {t}? Og hvem kan man kontakte om {u}?",
        "Hvordan søger man om hjælp, hvis man har {t}? Jeg skriver en opgave om emnet.",
        "hvad gør man hvis man har {t} og {u}",
        "What support does the municipality offer for {t}?",
    ],
    "advert": [
        "Tilbud: Bog om {t} og {u} til halv pris — kun denne uge. Køb nu i webshoppen.",
        "Gratis kursus: Lev godt med {t}. Meld dig til i dag!",
    ],
}  # fmt: skip


def negative_text(category: str, rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(list(NEGATIVE_FRAMES))
    words = TOPIC_WORDS[category]
    t, u = rng.sample(words, 2)
    return kind, rng.choice(NEGATIVE_FRAMES[kind]).format(t=t, u=u)


# -- placing a text ------------------------------------------------------------------------


def place(text: str, where: str, rng: random.Random, *, letter: bool) -> bytes:
    """A whole message with ``text`` at ``where``: a citizen's letter around it, or (for the
    negatives) the text alone, as a newsletter or an advert comes."""
    signature = f"\n\nVenlig hilsen\n{name(rng)}\n" if letter else "\n"
    body = ("Hej\n\n" if letter else "") + text + signature
    if where == "subject":
        message = _message(text[:180], rng)
        message.set_content(("Hej\n\nSe emnet." if letter else "Se emnet.") + signature)
    elif where == "body":
        message = _message(rng.choice(["Henvendelse", "Vedr. sag", "Orientering"]), rng)
        message.set_content(body)
    elif where == "html":
        message = _message("Orientering", rng)
        message.set_content("Se HTML-udgaven.")
        message.add_alternative(as_html(body, rng), subtype="html")
    elif where == "quoted":
        message = _message("Re: Henvendelse", rng)
        quoted = "\n".join("> " + line for line in body.splitlines())
        message.set_content(f"Hej igen\n\nHar I set min mail?\n\nDen 3. marts skrev jeg:\n{quoted}")
    elif where == "forwarded-rfc822":
        message = _message("VS: Henvendelse", rng)
        message.set_content("Videresender til rette afdeling.")
        message.add_attachment(_inner("Henvendelse", body, rng))
    elif where == "forwarded-inline":
        message = _message("Fwd: Henvendelse", rng)
        message.set_content(
            "Til orientering.\n\n---------- Forwarded message ---------\n"
            f"From: {name(rng)} <x@example.net>\nDate: 3. mar. 2026\n"
            f"Subject: Henvendelse\n\n{body}"
        )
    elif where == "txt":
        message = _message("Bilag", rng)
        message.set_content("Se vedhæftede fil.")
        message.add_attachment(body.encode(), maintype="text", subtype="plain", filename="brev.txt")
    elif where == "docx":
        message = _message("Bilag", rng)
        message.set_content("Se vedhæftede fil.")
        message.add_attachment(
            docx_bytes(body.split("\n\n")),
            maintype="application",
            subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
            filename="brev.docx",
        )
    else:
        raise ValueError(where)
    return message.as_bytes()


@dataclass(frozen=True)
class SensitiveMail:
    name: str
    category: str  # the class
    kind: str  # "positive" or "negative"
    style: str  # danish, sms or english / writer, relative or third — or a negative's genre
    where: str
    raw: bytes
    labels: frozenset[str]


CATEGORY_CLASSES = list(FACTS)
POSITIVES_PER_CLASS = 30
NEGATIVES_PER_CLASS = 14


def mails(seed: int = 20261206) -> Iterator[SensitiveMail]:
    rng = random.Random(seed)
    makers: list[tuple[str, Callable[[str, random.Random], tuple[str, str]], int]] = [
        ("positive", positive_text, POSITIVES_PER_CLASS),
        ("negative", negative_text, NEGATIVES_PER_CLASS),
    ]
    for category in CATEGORY_CLASSES:
        for kind, make, count in makers:
            for i in range(count):
                style, text = make(category, rng)
                where = LOCATIONS[(i + rng.randrange(2)) % len(LOCATIONS)]
                raw = place(text, where, rng, letter=kind == "positive")
                labels = frozenset({category}) if kind == "positive" else frozenset()
                yield SensitiveMail(
                    f"{category}-{kind}-{i}", category, kind, style, where, raw, labels
                )
