"""Policy files → Policy, failing closed with errors an admin can act on: file, line and
column, what is wrong, and the valid choices ("unknown key 'acton' — did you mean 'action'?")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from gateway.decide.policy import Policy
from gateway.spelling import did_you_mean

REPO_POLICIES = Path(__file__).resolve().parents[2] / "policies"
DEFAULT_POLICY = REPO_POLICIES / "default.yaml"
REPLY_TEMPLATES = REPO_POLICIES.parent / "templates" / "replies"


class PolicyError(Exception):
    """A policy that must not be used; the message lists every problem found."""


def _position(node: yaml.Node | None, loc: tuple[Any, ...]) -> yaml.Node | None:
    """The YAML node at a pydantic error location (as deep as the document goes)."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
            key = next((k for k, _ in node.value if k.value == part), None)
            if match is None:
                return node if key is None else key
            node = match if not isinstance(part, str) or match is not None else key
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node
            node = node.value[part]
        else:
            return node
    return node


def _key_node(node: yaml.Node | None, loc: tuple[Any, ...]) -> yaml.Node | None:
    parent = _position(node, loc[:-1])
    if isinstance(parent, yaml.MappingNode):
        return next((k for k, _ in parent.value if k.value == loc[-1]), parent)
    return parent


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model a location points into (for listing valid keys)."""
    from gateway.decide.policy import Contact, Mailbox, Replies, Rule, Then, When

    model: type[BaseModel] | None = Policy
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(str(part))
        name = str(field.annotation) if field else ""
        model = next(
            (m for m in (Mailbox, Rule, When, Then, Replies, Contact) if m.__name__ in name), None
        )
    return model


def explain_error(error: ValidationError, document: yaml.Node | None, path: Path) -> str:
    lines = []
    for problem in error.errors():
        loc = tuple(problem["loc"])
        where = ".".join(str(p) for p in loc) or "(top)"
        if problem["type"] == "extra_forbidden":
            node = _key_node(document, loc)
            model = _model_at(loc)
            valid = sorted((f.alias or n) for n, f in (model.model_fields.items() if model else []))
            hint = did_you_mean(str(loc[-1]), valid)
            message = f"unknown key {loc[-1]!r}{hint} (valid: {', '.join(valid)})"
        else:
            node = _position(document, loc)
            message = f"{where}: {problem['msg'].removeprefix('Value error, ')}"
            if problem["type"] == "literal_error":
                message += f" (got {problem.get('input')!r})"
        mark = node.start_mark if node is not None else None
        position = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
        lines.append(f"{path}:{position}: {message}")
    return "\n".join(lines)


def load_policy(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(f"{path}: cannot read it ({e.strerror})") from e
    try:
        document = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        position = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
        raise PolicyError(f"{path}:{position}: not valid YAML: {getattr(e, 'problem', e)}") from e
    if not isinstance(data, dict):
        raise PolicyError(f"{path}:1:1: a policy is a mapping with at least 'rules'")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as e:
        raise PolicyError(explain_error(e, document, path)) from None
    _check_templates(policy, path)
    return policy


def _check_templates(policy: Policy, path: Path) -> None:
    """A reply template named in the policy must exist for both audiences, now rather than
    at the first reply."""
    for contact in [policy.replies.contact, *policy.mailboxes]:
        for audience in ("citizen", "business"):
            name = f"{contact.reply_template}.{audience}.txt.j2"
            if not (REPLY_TEMPLATES / name).is_file():
                raise PolicyError(
                    f"{path}: reply_template {contact.reply_template!r} of "
                    f"{contact.display_name!r}: {REPLY_TEMPLATES / name} does not exist"
                )


def check_slot(policy: Policy, slot: str, path: Path) -> None:
    """After-queue mail is already accepted: a reject would become a bounce (backscatter)."""
    if slot != "after-queue":
        return
    rules = [*policy.rules, *(r for m in policy.mailboxes for r in (m.rules or []))]
    for rule in rules:
        if rule.then.action == "reject":
            raise PolicyError(
                f"{path}: rule {rule.name!r} rejects, which the after-queue slot cannot do "
                "(the mail is already accepted; a reject would bounce to a possibly forged "
                "sender): use quarantine"
            )
