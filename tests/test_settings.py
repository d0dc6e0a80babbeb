"""Settings: flags > environment > file > defaults, and errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.model import Slot
from gateway.settings import Settings, SettingsError, load_settings


def test_defaults_need_no_configuration():
    settings = load_settings({}, environ={})
    assert settings.listen == "127.0.0.1:2525"
    assert settings.web_listen == "127.0.0.1:8025"
    assert settings.upstream is None
    assert settings.maildir == Path("var/mail")
    assert settings.slot is Slot.MX
    assert settings.max_message_size >= 10_240_000  # at least Postfix's default limit


def test_precedence(tmp_path: Path):
    config = tmp_path / "postvagt.yaml"
    config.write_text(
        "listen: 127.0.0.1:1111\nmax_recipients: 300\nlog_format: json\n"
        "upstream: smtp://127.0.0.1:10026\ndomains: [kommune.example]\n"
    )
    environ = {
        "POSTVAGT_CONFIG": str(config),
        "POSTVAGT_MAX_RECIPIENTS": "400",
        "POSTVAGT_LISTEN": "127.0.0.1:2222",
        "POSTVAGT_DOMAINS": "a.example,b.example",
    }
    settings = load_settings({"listen": "127.0.0.1:3333", "domains": None}, environ=environ)
    assert settings.listen == "127.0.0.1:3333"  # flag beats environment
    assert settings.max_recipients == 400  # environment beats file
    assert settings.log_format == "json"  # file beats default
    assert settings.domains == ["a.example", "b.example"]


def test_every_list_setting_reads_a_comma_separated_environment_value(tmp_path: Path):
    """Each list setting, in the environment as "a,b" (POSTVAGT_OIDC_DPO_GROUPS was once read
    as one string and refused)."""
    from gateway.settings import LIST_FIELDS

    assert {"domains", "oidc_admin_groups", "oidc_dpo_groups", "oidc_scopes"} <= LIST_FIELDS
    secret = tmp_path / "oidc-secret"
    secret.write_text("s3cret-for-the-test\n")
    secret.chmod(0o600)
    environ = {
        "POSTVAGT_OIDC_ISSUER": "https://idp.example",
        "POSTVAGT_OIDC_CLIENT_ID": "postvagt",
        "POSTVAGT_OIDC_DPO_GROUPS": "dpo,privacy",
        "POSTVAGT_OIDC_ADMIN_GROUPS": "it-mail",
        "POSTVAGT_OIDC_CLIENT_SECRET_FILE": str(secret),
    }
    settings = load_settings({"domains": ["kommune.example"]}, environ=environ)
    assert settings.oidc_dpo_groups == ["dpo", "privacy"]
    assert settings.oidc_admin_groups == ["it-mail"]


@pytest.mark.parametrize(
    ("flags", "environ", "expected"),
    [
        ({"upstream": "smtp://127.0.0.1:25"}, {}, "name the local domains with --domain"),
        (
            {"upstream": "127.0.0.1:25", "domains": ["k.example"]},
            {},
            "'upstream' (--upstream, from command line): expected smtp://host:port",
        ),
        (
            {},
            {"POSTVAGT_MAX_RECIPIENTS": "lots"},
            "'max_recipients' (POSTVAGT_MAX_RECIPIENTS, from environment)",
        ),
        ({}, {"POSTVAGT_MAX_RECIPIENTS": "10"}, "greater than or equal to 100"),
        ({}, {"POSTVAGT_LISTNE": "x"}, "POSTVAGT_LISTNE — did you mean 'POSTVAGT_LISTEN'?"),
        ({"listen": "0.0.0.0:25"}, {}, "may only listen on loopback"),
        ({"tls_cert": "cert.pem"}, {}, "tls_cert and tls_key go together"),
        ({"slot": "sideways"}, {}, "'slot' (--slot, from command line)"),
        ({"domains": ["user@kommune.example"]}, {}, "is not a mail domain"),
        ({"listen": "localhost"}, {}, "expected HOST:PORT"),
    ],
)
def test_bad_settings_name_the_key_and_the_fix(flags, environ, expected):
    with pytest.raises(SettingsError) as error:
        load_settings(flags, environ=environ)
    assert expected in str(error.value)


def test_unknown_key_in_file_lists_the_valid_ones(tmp_path: Path):
    config = tmp_path / "bad.yaml"
    config.write_text("listen: 127.0.0.1:25\nupstreem: smtp://x:25\n")
    with pytest.raises(SettingsError) as error:
        load_settings({}, environ={}, config_file=config)
    message = str(error.value)
    assert "unknown key 'upstreem' — did you mean 'upstream'?" in message
    assert f"{config}:2:" in message


@pytest.mark.parametrize("text", ["listen: [unclosed", "- a\n- b\n"])
def test_broken_file(tmp_path: Path, text):
    config = tmp_path / "broken.yaml"
    config.write_text(text)
    with pytest.raises(SettingsError, match="settings file"):
        load_settings({}, environ={}, config_file=config)


def test_settings_are_frozen():
    settings = Settings()
    with pytest.raises(ValueError):
        settings.listen = "0.0.0.0:25"  # type: ignore[misc]


def test_tls_to_the_next_hop_defaults_and_refusals(tmp_path: Path):
    from gateway.nexthop.tls import TlsLevel

    net = {"upstream": "smtp://mx.kommune.example:25", "domains": ["kommune.dk"]}
    loop = {"upstream": "smtp://127.0.0.1:10026", "domains": ["kommune.dk"]}
    assert Settings(**net).upstream_tls_level is TlsLevel.VERIFY
    assert Settings(**loop).upstream_tls_level is TlsLevel.NONE
    # A client certificate on a loopback hop is a wish for TLS, not silently dropped.
    cert = {"upstream_tls_cert": tmp_path / "c.pem", "upstream_tls_key": tmp_path / "k.pem"}
    assert Settings(**loop, **cert).upstream_tls_level is TlsLevel.VERIFY
    with pytest.raises(ValueError, match="upstream_tls is none, yet"):
        Settings(**loop, **cert, upstream_tls=TlsLevel.NONE)
    with pytest.raises(ValueError, match="go together"):
        Settings(**loop, upstream_tls_cert=tmp_path / "c.pem")
    # reply_tls without a reply relay would be ignored: refused instead.
    with pytest.raises(ValueError, match="reply_tls settings need reply_relay"):
        Settings(**net, reply_tls=TlsLevel.VERIFY)
    relay = Settings(**net, reply_relay="smtp://relay.kommune.example:25")
    assert relay.reply_tls_settings[0] is TlsLevel.VERIFY
    assert Settings(**loop).reply_tls_settings[0] is TlsLevel.NONE  # the upstream's
