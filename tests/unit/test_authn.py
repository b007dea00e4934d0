"""Who may approve: the server's verdict, or a trusted Authentication-Results header."""

from __future__ import annotations

import pytest

from bot.handlers.authn import authenticate

TRUSTED = ("mx.promotoria.mx",)
SENDER = "director@promotoria.mx"


def test_the_servers_own_verdict_is_enough() -> None:
    assert authenticate(SENDER, [], TRUSTED, server_verdict=True).ok
    assert not authenticate(SENDER, [], TRUSTED, server_verdict=False).ok
    assert not authenticate(SENDER, [], TRUSTED, server_verdict=None).ok


@pytest.mark.parametrize(
    "header",
    [
        "mx.promotoria.mx; dmarc=pass (p=quarantine dis=none) header.from=promotoria.mx",
        "mx.promotoria.mx 1; spf=pass smtp.mailfrom=director@promotoria.mx",
        "mx.promotoria.mx; dkim=pass (2048-bit key) header.d=promotoria.mx header.s=sel1; "
        "spf=fail smtp.mailfrom=otro.com",
        "MX.Promotoria.MX; dkim=pass header.d=mail.promotoria.mx",  # relaxed alignment
        'mx.promotoria.mx; dmarc=pass header.from="promotoria.mx"',
    ],
)
def test_a_pass_aligned_with_the_from_domain_counts(header: str) -> None:
    verdict = authenticate(SENDER, [header], TRUSTED)
    assert verdict.ok, verdict.reason


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("mx.otro.com; dmarc=pass header.from=promotoria.mx", "untrusted server"),
        ("mx.promotoria.mx; dmarc=fail header.from=promotoria.mx", "fail"),
        ("mx.promotoria.mx; dkim=pass header.d=otro.com", "dkim of another domain"),
        ("mx.promotoria.mx; spf=pass smtp.mailfrom=bounces@sendgrid.net", "spf not aligned"),
        ("mx.promotoria.mx; dmarc=pass header.from=promotoria.mx.evil.com", "lookalike"),
        ("mx.promotoria.mx; none", "none"),
        ("mx.promotoria.mx; dkim=pass header.d=mx", "no dot"),
        # Exchange Online's own format has no authserv-id: it names no trusted server.
        (
            "spf=pass (sender IP is 40.107.1.1) smtp.mailfrom=promotoria.mx; dkim=pass "
            "header.d=promotoria.mx;dmarc=pass action=none header.from=promotoria.mx",
            "no authserv-id",
        ),
    ],
)
def test_anything_else_does_not(header: str, why: str) -> None:
    verdict = authenticate(SENDER, [header], TRUSTED)
    assert not verdict.ok, why
    assert verdict.reason


def test_only_the_topmost_trusted_header_counts() -> None:
    ours = "mx.promotoria.mx; dmarc=fail header.from=promotoria.mx"
    forged = "mx.promotoria.mx; dmarc=pass header.from=promotoria.mx"  # came with the mail
    verdict = authenticate(SENDER, [ours, forged], TRUSTED)
    assert not verdict.ok
    assert "dmarc=fail" in verdict.reason
    # Headers of other servers above ours are skipped, not decisive.
    other = "mx.otro.com; dmarc=fail header.from=promotoria.mx"
    assert authenticate(SENDER, [other, forged], TRUSTED).ok


def test_comments_and_quoted_semicolons_do_not_confuse_the_reader() -> None:
    header = (
        'mx.promotoria.mx (ver; 2.0); spf=none (no record; really) smtp.mailfrom="a;b@otro.com"; '
        "dmarc=pass (p=none) header.from=promotoria.mx"
    )
    assert authenticate(SENDER, [header], TRUSTED).ok


def test_without_trusted_servers_nothing_is_authenticated() -> None:
    header = "mx.promotoria.mx; dmarc=pass header.from=promotoria.mx"
    verdict = authenticate(SENDER, [header], ())
    assert not verdict.ok and "trusted_authserv_ids" in verdict.reason
    assert not authenticate("sin-dominio", [header], TRUSTED).ok
