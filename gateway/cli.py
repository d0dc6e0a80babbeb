"""Command line: ``postvagt run`` (and, as they land, scan, policy check, users, purge)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from gateway import __version__, logsetup
from gateway.decide.load import PolicyError
from gateway.settings import Settings, SettingsError, load_settings

log = logging.getLogger("postvagt")

# flag → (settings key, argparse keyword arguments)
RUN_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "--listen": ("listen", {"metavar": "HOST:PORT"}),
    "--upstream": ("upstream", {"metavar": "URL"}),
    "--domain": ("domains", {"action": "append", "metavar": "DOMAIN"}),
    "--data-dir": ("data_dir", {"metavar": "DIR"}),
    "--policy": ("policy", {"metavar": "PATH"}),
    "--web-listen": ("web_listen", {"metavar": "HOST:PORT"}),
    "--database-url": ("database_url", {"metavar": "URL"}),
    "--slot": ("slot", {"choices": ["mx", "before-queue", "after-queue"]}),
    "--hostname": ("hostname", {}),
    "--tls-cert": ("tls_cert", {"metavar": "PEM"}),
    "--tls-key": ("tls_key", {"metavar": "PEM"}),
    "--max-message-size": ("max_message_size", {"metavar": "BYTES"}),
    "--log-format": ("log_format", {"choices": ["text", "json"]}),
    "--log-level": ("log_level", {}),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postvagt",
        description="SMTP gateway that keeps sensitive personal data out of ordinary e-mail.",
    )
    parser.add_argument("--version", action="version", version=f"postvagt {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="start the gateway",
        description="Start the gateway. Every setting can also come from the environment "
        "(POSTVAGT_<NAME>) or a YAML settings file (--config); flags win.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_settings_table(),
    )
    _add_flags(run, RUN_FLAGS)
    scan = commands.add_parser(
        "scan",
        help="inspect .eml files offline, as the gateway would",
        description="Inspect .eml files (or folders of them) exactly as the gateway would.",
    )
    scan.add_argument("paths", nargs="+", metavar="PATH")
    scan.add_argument("--json", action="store_true", help="one JSON object per message")
    scan.add_argument("--explain", action="store_true", help="why each finding was made")
    scan.add_argument("--mail-from", metavar="ADDR", help="envelope sender (for policies)")
    scan.add_argument(
        "--rcpt",
        action="append",
        default=[],
        metavar="ADDR",
        help="envelope recipient, repeatable (for policies)",
    )
    scan.add_argument(
        "--unauthenticated",
        action="store_true",
        help="without trusted Authentication-Results, count the sender as unauthenticated "
        "(default: as passed)",
    )
    _add_flags(scan, SCAN_FLAGS)
    policy = commands.add_parser("policy", help="check and explain policies")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True, metavar="COMMAND")
    check = policy_commands.add_parser("check", help="validate policy files")
    check.add_argument("paths", nargs="+", metavar="PATH")
    check.add_argument("--slot", choices=["mx", "before-queue", "after-queue"], default="mx")
    explain = policy_commands.add_parser("explain", help="show the rule walk for a message")
    explain.add_argument("--policy", dest="policy_file", type=Path, metavar="PATH")
    explain.add_argument("--rcpt", metavar="ADDR", help="the recipient whose policy applies")
    explain.add_argument("message", type=Path, metavar="MAIL.eml")
    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = db_commands.add_parser(
        "upgrade", help="create or migrate the database to this version's schema"
    )
    _add_flags(upgrade, DB_FLAGS)
    doctor = commands.add_parser(
        "doctor",
        help="check settings, policy, database, next hops and tools; say how to fix",
        description="Check what the gateway needs with these settings; changes nothing.",
    )
    _add_flags(doctor, RUN_FLAGS)
    purge = commands.add_parser(
        "purge",
        help="delete what is past its retention period now (the gateway also does it itself)",
    )
    _add_flags(purge, PURGE_FLAGS)
    users = commands.add_parser("users", help="staff accounts for the staff page")
    users_commands = users.add_subparsers(dest="users_command", required=True, metavar="COMMAND")
    add = users_commands.add_parser(
        "add", help="create an account (or reset its password, role and mailboxes)"
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument(
        "--role",
        choices=["staff", "admin", "dpo"],
        required=True,
        help="staff: the mail of their mailboxes; admin: all mail and the audit log; dpo: "
        "the audit log and statistics, read-only, no mail",
    )
    add.add_argument(
        "--mailbox",
        dest="mailboxes",
        action="append",
        default=[],
        metavar="NAME",
        help="a policy mailbox this staff member handles (repeatable; 'default' for mail "
        "outside named mailboxes; checked against the policy, --policy); admins see all",
    )
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    _add_flags(add, USERS_FLAGS)
    listing = users_commands.add_parser("list", help="list the accounts")
    _add_flags(listing, USERS_FLAGS)
    disable = users_commands.add_parser("disable", help="lock an account out at once")
    disable.add_argument("name", metavar="NAME")
    _add_flags(disable, USERS_FLAGS)
    return parser


DB_FLAGS = {flag: RUN_FLAGS[flag] for flag in ("--data-dir", "--database-url")}
USERS_FLAGS = {**DB_FLAGS, "--policy": RUN_FLAGS["--policy"]}  # --mailbox names are checked
SCAN_FLAGS = {flag: RUN_FLAGS[flag] for flag in ("--policy",)}
PURGE_FLAGS = {
    **DB_FLAGS,
    "--retention-days": ("retention_days", {"metavar": "DAYS"}),
    "--quarantine-retention-days": ("quarantine_retention_days", {"metavar": "DAYS"}),
}


def _add_flags(
    parser: argparse.ArgumentParser, flags: dict[str, tuple[str, dict[str, Any]]]
) -> None:
    parser.add_argument("--config", type=Path, metavar="FILE", help="YAML settings file")
    for flag, (key, kwargs) in flags.items():
        help_text = Settings.model_fields[key].description
        parser.add_argument(flag, dest=key, default=None, help=help_text, **kwargs)


def _settings(args: argparse.Namespace, flags: dict[str, tuple[str, dict[str, Any]]]) -> Settings:
    values = {key: getattr(args, key) for key, _ in flags.values()}
    return load_settings(values, config_file=args.config)


def _policy(args: argparse.Namespace) -> int:
    from gateway.decide.load import PolicyError, check_slot, load_policy

    if args.policy_command == "check":
        failed = 0
        for given in args.paths:
            path = Path(given)
            try:
                policy = load_policy(path)
                check_slot(policy, args.slot, path)
            except PolicyError as e:
                failed += 1
                print(e, file=sys.stderr)
                continue
            print(f"{path}: ok ({len(policy.rules)} rules, {len(policy.mailboxes)} mailboxes)")
        return 1 if failed else 0
    from gateway.scan import explain_policy

    try:
        return explain_policy(args.policy_file, args.message, args.rcpt)
    except PolicyError as e:
        print(e, file=sys.stderr)
        return 1


def _scan(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.detect.engine import EngineConfig, ModelNotInstalled, build_detector
    from gateway.scan import ScanOptions, run_scan

    logsetup.configure("text", "WARNING")
    from gateway.decide.holder import PolicyHolder

    try:
        holder = PolicyHolder(settings.policy, settings.slot.value)
    except PolicyError as e:
        print(f"postvagt: {e}", file=sys.stderr)
        return 2
    try:
        detector = build_detector(
            EngineConfig(nlp_model=settings.nlp_model, threshold=settings.detect_threshold)
        )
    except ModelNotInstalled as e:
        print(f"postvagt: {e}", file=sys.stderr)
        return 2
    try:
        options = ScanOptions(
            policy=holder,
            trust=settings.trust,
            trusted_servers=tuple(settings.trusted_authserv_ids),
            authenticated=not args.unauthenticated,
            mail_from=args.mail_from,
            rcpts=tuple(args.rcpt),
        )
        return run_scan(detector, args.paths, options, as_json=args.json, show_explain=args.explain)
    except BrokenPipeError:  # `postvagt scan … | head`: the reader has gone, so stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _db_upgrade(settings: Settings) -> int:
    from gateway.store import migrate
    from gateway.store.engine import make_engine

    engine = make_engine(settings.database, sqlite_synchronous=settings.sqlite_synchronous)
    if engine.dialect.name == "sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
    except Exception as e:  # an admin gets the reason, never a traceback
        print(f"postvagt: cannot upgrade {engine.url.render_as_string()}: {e}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"database {engine.url.render_as_string()}: schema {before or 'none'} -> {after}")
    return 0


def _purge(settings: Settings) -> int:
    from datetime import timedelta

    from gateway.store import Store, StoreUnavailable
    from gateway.store.retention import Purged, empty, purge_batch, remove_files

    store = Store(
        settings.database,
        instance=settings.instance_name,
        slot=settings.slot.value,
        quarantine_dir=settings.quarantine_dir,
    )
    total = Purged()
    try:
        store.prepare(timedelta(seconds=2 * settings.reply_budget))
        while True:
            batch = store.transaction(
                purge_batch,
                records_days=settings.retention_days,
                quarantine_days=settings.quarantine_retention_days,
            )
            remove_files(store.quarantine, batch.files)
            if empty(batch):
                break
            total.records += batch.records
            total.quarantined += batch.quarantined
            total.outbox += batch.outbox
            total.rate_limits += batch.rate_limits
    except (StoreUnavailable, SQLAlchemyError) as e:
        print(f"postvagt: cannot open the database: {e}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(
        f"purged {total} (records older than {settings.retention_days:g} days, held copies "
        f"older than {settings.quarantine_retention_days:g} days)"
    )
    return 0


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValueError("no terminal to ask for the password on: pipe it in with --password-stdin")
    import getpass

    first = getpass.getpass("Password (at least 10 characters): ")
    if getpass.getpass("Again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def _unknown_mailboxes(settings: Settings, names: list[str]) -> str | None:
    """What is wrong with mailbox names given to ``users add``, against the policy in force
    (a typo would give a staff member an empty list); None if all are known."""
    from gateway.decide.load import DEFAULT_POLICY, load_policy
    from gateway.spelling import did_you_mean

    path = settings.policy or DEFAULT_POLICY
    try:
        known = {"default", *(m.name for m in load_policy(path).mailboxes)}
    except PolicyError as e:
        return f"cannot check the mailbox names, the policy cannot be used:\n{e}"
    for name in names:
        if name not in known:
            return (
                f"unknown mailbox {name!r}{did_you_mean(name, known)}: the policy {path} "
                f"names {', '.join(sorted(known))} ('default' is mail outside named mailboxes)"
            )
    return None


def _users(settings: Settings, args: argparse.Namespace) -> int:
    import getpass
    from datetime import timedelta

    from gateway.store import Store, StoreUnavailable
    from gateway.store.users import add_user, disable_user, list_users
    from gateway.web.auth import hash_password

    if args.users_command == "add" and args.mailboxes:
        unknown = _unknown_mailboxes(settings, args.mailboxes)
        if unknown:
            print(f"postvagt: {unknown}", file=sys.stderr)
            return 2
    actor = f"cli:{getpass.getuser()}"
    store = Store(settings.database, instance=settings.instance_name, slot=settings.slot.value)
    try:
        store.prepare(timedelta(seconds=2 * settings.reply_budget))
        if args.users_command == "add":
            password_hash = hash_password(_read_password(args.password_stdin))
            store.transaction(
                add_user,
                args.name,
                role=args.role,
                mailboxes=args.mailboxes,
                password_hash=password_hash,
                actor=actor,
            )
            print(
                f"user {args.name}: {args.role}"
                + (f" of {', '.join(args.mailboxes)}" if args.mailboxes else "")
            )
        elif args.users_command == "disable":
            if not store.transaction(disable_user, args.name, actor=actor):
                print(f"postvagt: no user {args.name!r}", file=sys.stderr)
                return 1
            print(f"user {args.name}: disabled")
        else:
            for user in store.transaction(list_users):
                print(f"{user.name}\t{user.role}\t{','.join(user.mailboxes) or '-'}")
    except (ValueError, PolicyError) as e:
        print(f"postvagt: {e}", file=sys.stderr)
        return 2
    except (StoreUnavailable, SQLAlchemyError) as e:
        print(f"postvagt: cannot open the database: {e}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


def _settings_table() -> str:
    lines = ["settings (file key / POSTVAGT_ variable, default):"]
    for key, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        lines.append(f"  {key:22} {default!s:24} {field.description or ''}"[:160])
    return "\n".join(lines)


async def _serve(settings: Settings) -> None:
    from gateway.server import Gateway  # the engines' imports take seconds: run only

    gateway = Gateway(settings)
    await gateway.start()
    # What start-up built lives as long as the process (the public suffix list alone is
    # ~10^5 objects): out of the cycle collector's way, which walked it on every full
    # collection. Done here, once per process, not in Gateway.start (tests start many).
    gc.freeze()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, gateway.policy.reload)
    try:
        await stop.wait()
    finally:
        log.info("shutting down: letting messages in flight finish")
        await gateway.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "policy":
        return _policy(args)
    flags = {
        "run": RUN_FLAGS,
        "db": DB_FLAGS,
        "users": USERS_FLAGS,
        "purge": PURGE_FLAGS,
        "doctor": RUN_FLAGS,
        "scan": SCAN_FLAGS,
    }[args.command]
    try:
        settings = _settings(args, flags)
    except SettingsError as e:
        print(f"postvagt: {e}", file=sys.stderr)
        return 2
    if args.command == "db":
        return _db_upgrade(settings)
    if args.command == "users":
        return _users(settings, args)
    if args.command == "purge":
        return _purge(settings)
    if args.command == "doctor":
        from gateway.doctor import report, run_checks

        results = run_checks(settings)
        print(report(results))
        return 0 if all(r.ok for r in results) else 1
    if args.command == "scan":
        return _scan(settings, args)
    if args.command == "run":
        logsetup.configure(settings.log_format, settings.log_level)
        try:
            asyncio.run(_serve(settings))
        except OSError as e:
            web = "staff page" in str(e)
            where = (e.strerror or str(e)) if web else f"{settings.listen}: {e.strerror}"
            key = "web_listen" if web else "listen"
            print(
                f"postvagt: cannot listen on {where}\n"
                f"  another Postvagt or program may have the port: stop it, or choose another "
                f"with the setting {key} (--{key.replace('_', '-')}, "
                f"POSTVAGT_{key.upper()})",
                file=sys.stderr,
            )
            return 1
        except SQLAlchemyError as e:
            print(f"postvagt: cannot open the database: {e}", file=sys.stderr)
            return 1
        except PolicyError as e:
            print(f"postvagt: the policy cannot be used, not starting:\n{e}", file=sys.stderr)
            return 2
        return 0
    return 2


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
