"""What admins write in policies/*.yaml, as pydantic models that forbid unknown keys.

A policy names the shared mailboxes (who they are, where their Digital Post link goes, how
people without Digital Post reach them) and the ordered rules that decide what happens to a
message: deliver, quarantine or reject; journal; reply; tag. Rules are data: each has a
name, a ``when`` made of facts and a ``then``; the first rule that matches decides, unless it
says ``continue``.
"""

from __future__ import annotations

import fnmatch
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.detect.entities import check_entity
from gateway.domains import address_key

Action = Literal["deliver", "quarantine", "reject"]
EntityName = Annotated[str, AfterValidator(check_entity)]
"""An entity type the detector reports (a typo would make a rule that never fires)."""
Mode = Literal["enforce", "monitor"]
TLS_ORDER = ["SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Contact(Strict):
    """How a reply names the municipality and how people reach it without e-mail."""

    display_name: str = Field(description="How the reply names the mailbox or municipality.")
    digital_post_link: str | None = Field(
        None, description="Deep link that opens a message to this mailbox in Digital Post."
    )
    business_text: str = Field(
        "Log ind på virk.dk og brug jeres Digital Post.",
        description="How businesses reach this mailbox securely.",
    )
    phone: str | None = None
    postal_address: str | None = None
    reply_template: str = Field(
        "digital-post", pattern=r"^[a-z0-9-]+$", description="templates/replies/<name>.*.txt.j2"
    )

    @field_validator(
        "display_name", "digital_post_link", "business_text", "phone", "postal_address"
    )
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        # These go into a reply, one into its From display name: never a line break.
        if value is not None and any(c in value for c in "\r\n\0"):
            raise ValueError("must be one line")
        return value


class Mailbox(Contact):
    name: str = Field(description="Short name used in rules and logs, e.g. borgerservice.")
    addresses: list[str] = Field(
        min_length=1,
        description="Recipient addresses or shell patterns: borgerservice@kommune.dk, "
        "*@byg.kommune.dk.",
    )
    journal_mailbox: str | None = Field(
        None, description="Address of the case system's import mailbox (ESDH)."
    )
    staff_address: str | None = Field(
        None, description="Where the daily digest of unhandled flagged mail goes."
    )
    show_masked_subject: bool = Field(
        False,
        description="Keep the subject with its digits masked for staff. Names and words in it "
        "stay readable: switch on only where the staff may see them.",
    )
    rules: list[Rule] | None = Field(
        None, description="Rules for this mailbox only; without them the global rules apply."
    )

    def matches(self, address: str) -> bool:
        address = address_key(address)  # post@ærø.dk and post@xn--r-3fa9c.dk alike
        return any(fnmatch.fnmatchcase(address, address_key(p)) for p in self.addresses)


SenderKind = Literal["business", "citizen"]


class When(Strict):
    """Facts a rule looks at; every one given must hold (an empty ``when`` always matches)."""

    entities: list[EntityName] | None = Field(
        None, description="Any of these entity types (DK_CPR, HEALTH …) is found."
    )
    min_score: float = Field(0.5, ge=0, le=1)
    min_count: int = Field(1, ge=1, description="At least this many findings of them.")
    encrypted: bool | None = None
    signed: bool | None = None
    signature_valid: bool | None = None
    tls_below: str | None = Field(None, description="Inbound TLS older than this, or none.")
    unscanned: bool | None = Field(None, description="Some part could not be read.")
    sender: SenderKind | None = Field(
        None,
        description="Who writes: a business (CVR in their own text, a domain not in the "
        "consumer list, or portal_by_domain virk.dk) or a citizen. A business's own account "
        "number, IBAN and CVR on its invoices are not personal data.",
    )
    sender_domains: list[str] | None = None
    sender_addresses: list[str] | None = None
    dmarc: Literal["pass", "fail", "none"] | None = None
    larger_than: int | None = Field(None, ge=0, description="Size in bytes.")

    @field_validator("tls_below")
    @classmethod
    def _tls(cls, value: str | None) -> str | None:
        if value is not None and value not in TLS_ORDER:
            raise ValueError(f"must be one of {', '.join(TLS_ORDER)}")
        return value


class Then(Strict):
    action: Action = "deliver"
    reject_text: str = "5.7.1 Please send personal data through Digital Post"
    journal: bool = False
    reply: bool = False
    tag: dict[str, str] = Field(
        default_factory=dict, description="Extra X-Postvagt-Tag-<Name> headers."
    )
    copy_to_journal: bool = False
    continue_: bool = Field(False, alias="continue")

    @field_validator("tag")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not name.replace("-", "").isalnum() or any(c in text for c in "\r\n\0"):
                raise ValueError(
                    f"tag {name!r}: names are letters, digits and '-', values one line"
                )
        return value


class Rule(Strict):
    name: str
    description: str | None = None
    mode: Mode | None = Field(None, description="Overrides the policy's mode for this rule.")
    when: When = Field(default_factory=When)
    then: Then = Field(default_factory=Then)


Portal = Literal["borger.dk", "virk.dk"]


class Replies(Strict):
    """When the Digital Post auto-reply may go out (the rules say whether one is wanted)."""

    require_authentication: bool = Field(
        True,
        description="Reply only when the envelope sender's domain passed SPF or DMARC: a "
        "reply to a forged sender is backscatter.",
    )
    period_days: float = Field(
        7, gt=0, description="One reply per sender and mailbox within this many days."
    )
    hourly_cap: int = Field(200, ge=0, description="Most replies per hour, all instances.")
    no_reply_domains: list[str] = Field(
        default_factory=list,
        description="Sender domains never answered: Digital Post's own delivery, partner "
        "authorities' secure channels.",
    )
    contact: Contact = Field(
        default_factory=lambda: Contact(display_name="Kommunen"),
        description="Used for recipients outside the named mailboxes.",
    )


class Policy(Strict):
    version: Literal[1] = 1
    mode: Mode = "enforce"
    consumer_domains: list[str] | None = Field(
        None,
        description="Mail domains of private persons (gmail.com …): senders from other domains "
        "count as businesses (virk.dk). Omitted: the shipped list, policies/consumer-domains.txt.",
    )
    portal_by_domain: dict[str, Portal] = Field(
        default_factory=dict,
        description="Per sender domain: always borger.dk or always virk.dk.",
    )
    replies: Replies = Field(default_factory=Replies)
    mailboxes: list[Mailbox] = Field(default_factory=list)
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Policy:
        names = [m.name for m in self.mailboxes]
        if len(names) != len(set(names)):
            raise ValueError("mailbox names must be unique")
        for rules in [self.rules, *(m.rules or [] for m in self.mailboxes)]:
            rule_names = [r.name for r in rules]
            if len(rule_names) != len(set(rule_names)):
                raise ValueError("rule names must be unique within their list")
        return self

    def mailbox_for(self, address: str) -> Mailbox | None:
        return next((m for m in self.mailboxes if m.matches(address)), None)

    def group_of(self, address: str) -> str:
        mailbox = self.mailbox_for(address)
        return mailbox.name if mailbox else "default"

    def contact_for(self, group: str) -> Contact:
        mailbox = next((m for m in self.mailboxes if m.name == group), None)
        return mailbox or self.replies.contact

    def rules_for(self, group: str) -> list[Rule]:
        mailbox = next((m for m in self.mailboxes if m.name == group), None)
        return mailbox.rules if mailbox and mailbox.rules is not None else self.rules


Mailbox.model_rebuild()
