"""Each rule detector at its boundaries: what its validator accepts and what it must refuse."""
from __future__ import annotations

from pathlib import Path

import pytest

from curate.pii.detectors import (
    CARD,
    EMAIL,
    IBAN,
    IP,
    PHONE,
    SECRET,
    SSN,
    DetectorOptions,
    card_issuer,
    find_pii,
    luhn_valid,
    resolve_overlaps,
)
from curate.pii.replace import replace_spans

CODE_LIKE = Path(__file__).with_name("code_like_strings.txt")


def found(text: str, options: DetectorOptions = DetectorOptions()) -> list[tuple[str, str]]:
    return [(text[s:e], kind) for s, e, kind in find_pii(text, options)]


# ----- e-mail -----

@pytest.mark.parametrize("text, value", [
    ("write to jane.doe+news@mail.example.co.uk today", "jane.doe+news@mail.example.co.uk"),
    ("<a href='mailto:ops@corp.io'>", "ops@corp.io"),
    ("联系邮箱kana74@example.net。", "kana74@example.net"),
    ("Contact: O'Brien_1@host-name.museum.", "Brien_1@host-name.museum"),
])
def test_email_found(text, value):
    assert (value, EMAIL) in found(text)


@pytest.mark.parametrize("text", ["logo@2x.png", "a@b", "user@localhost", "x..y@z.com", "@handle", "name@domain.c"])
def test_email_refused(text):
    assert not [f for f in found(text) if f[1] == EMAIL]


# ----- IP -----

def test_public_ipv4_and_ipv6_found_private_ones_only_when_asked():
    text = "hosts 8.8.8.8, 2606:4700:4700::1111 and 10.0.0.1, 192.168.1.5, 127.0.0.1, fd12:3456:789a::1, fe80::1"
    assert found(text) == [("8.8.8.8", IP), ("2606:4700:4700::1111", IP)]
    everything = [v for v, k in found(text, DetectorOptions(include_private_ips=True))]
    assert everything == ["8.8.8.8", "2606:4700:4700::1111", "10.0.0.1", "192.168.1.5", "127.0.0.1", "fd12:3456:789a::1", "fe80::1"]


def test_version_strings_are_not_addresses_unless_asked():
    text = "Upgrade to version 1.2.3.4; requests from 1.2.3.4 were blocked; pkg==4.3.2.1"
    assert found(text) == [("1.2.3.4", IP)]  # only the one after "from"
    assert len(found(text, DetectorOptions(skip_version_ips=False))) == 3


@pytest.mark.parametrize("text", ["256.1.1.1", "1.2.3", "1.2.3.4.5", "10:30:00", "std::map", "00:1A:2B:3C:4D:5E", "1.3.6.1.4.1"])
def test_ip_refused(text):
    assert not [f for f in found(text, DetectorOptions(include_private_ips=True)) if f[1] == IP]


# ----- cards -----

def test_luhn_and_issuers():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert card_issuer("4111111111111111") == "visa"
    assert card_issuer("378282246310005") == "amex"
    assert card_issuer("5555555555554444") == "mastercard"
    assert card_issuer("2223003122003222") == "mastercard"
    assert card_issuer("6011111111111117") == "discover"
    assert card_issuer("3530111333300000") == "jcb"
    assert card_issuer("9111111111111111") is None


@pytest.mark.parametrize("value", ["4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111", "3782 822463 10005", "5555555555554444"])
def test_card_found(value):
    assert found(f"paid with {value}.") == [(value, CARD)]


@pytest.mark.parametrize("text", [
    "paid with 4111111111111112",  # Luhn fails
    "paid with 4111 11111 111 1111",  # not a printed layout
    "paid with 4111-1111 1111-1111",  # mixed separators
    "id 9111111111111111",  # no issuer
    "order 675984103431",  # Maestro-shaped, no card context
])
def test_card_refused(text):
    assert not [f for f in found(text) if f[1] == CARD]


def test_maestro_needs_card_context():
    assert found("credit card number is 675984103431?") == [("675984103431", CARD)]


# ----- IBAN -----

@pytest.mark.parametrize("value", ["GB82WEST12345698765432", "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "de89 3704 0044 0532 0130 00", "FR1420041010050500013M02606"])
def test_iban_found(value):
    assert found(f"Konto {value} bitte") == [(value, IBAN)]


@pytest.mark.parametrize("value", ["GB82WEST12345698765433", "DE89370400440532013001", "GB82WEST1234569876543", "Gb82WEST12345698765432"])
def test_iban_refused(value):
    assert not [f for f in found(f"Konto {value} bitte") if f[1] == IBAN]


def test_iban_ends_at_a_word_boundary():
    assert found("IBAN GB82 WEST 1234 5698 7654 32 and more") == [("GB82 WEST 1234 5698 7654 32", IBAN)]
    assert found("寄付は口座GB82WEST12345698765432で受け付け") == [("GB82WEST12345698765432", IBAN)]


# ----- SSN -----

@pytest.mark.parametrize("value", ["123-45-6789", "001-01-0001", "899-99-9999", "078 05 1120"])
def test_ssn_found(value):
    assert found(f"SSN on file: {value}.") == [(value, SSN)]


@pytest.mark.parametrize("value", ["000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000", "123-45 6789"])
def test_ssn_invalid_ranges_refused(value):
    assert not [f for f in found(f"number {value}.") if f[1] == SSN]


def test_bare_ssn_only_with_context():
    assert found("Social Security number 123456789") == [("123456789", SSN)]
    assert not [f for f in found("order 123456789 shipped") if f[1] == SSN]
    assert not [f for f in found("Social Security number 123456789", DetectorOptions(ssn_bare_with_context=False)) if f[1] == SSN]


# ----- secrets -----

KEYS = [
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_" + "a1B2" * 9,
    "github_pat_" + "A1b2_" * 16 + "xy",
    "glpat-" + "Ab3_" * 5,
    "xoxb-123456789012-abcdefABCDEF",
    "AIza" + "SyA-1234567890abcdefghijklmnopqrstu",
    "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "sk-proj-" + "Ab1_" * 12,
    "SG." + "a" * 22 + "." + "B" * 43,
    "SK" + "0123456789abcdef" * 2,
    "npm_" + "aB3" * 12,
    "hf_" + "aBcD" * 8 + "xy",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
]


@pytest.mark.parametrize("key", KEYS)
def test_known_token_formats(key):
    assert found(f"token = {key}\n") == [(key, SECRET)]
    assert found(f"密钥{key}。") == [(key, SECRET)]  # glued to CJK text


def test_private_key_block_url_credentials_and_assignments():
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx1234567890abcdefghij\n-----END RSA PRIVATE KEY-----"
    assert found(f"key:\n{pem}\nend") == [(pem, SECRET)]
    assert found("clone https://deploy:s3cr3t-Pa55@git.example.com/repo.git") == [("deploy:s3cr3t-Pa55", SECRET)]
    assert found('aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"') == [("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", SECRET)]
    assert found('db_password: "Tr0ub4dor&3x"') == [("Tr0ub4dor&3x", SECRET)]
    for placeholder in ('"<your-api-key>"', '"${API_KEY}"', '"xxxxxxxxxxxx"', '"changeme123"', '"********"', '"aaaaaaaaaa"'):
        assert found(f"api_key = {placeholder}") == [], placeholder


# ----- phones -----

@pytest.mark.parametrize("text, value", [
    ("Call +44 20 7946 0958 now", "+44 20 7946 0958"),
    ("Tel. +49 (0)89 1234567", "+49 (0)89 1234567"),
    ("ring 0049 30 12345678", "0049 30 12345678"),
    ("phone (212) 555-0199 x123", "(212) 555-0199 x123"),
    ("office 212-555-0199", "212-555-0199"),
    ("Fax: 01 42 68 53 00", "01 42 68 53 00"),
    ("call me at 555 0199.", "555 0199"),
    ("联系电话+86 10 5942 7158。", "+86 10 5942 7158"),
    ("3660170548 (fax)", "3660170548"),
    # in parentheses (issue 16: a real .nl page's "(0900 4683643)" was missed; the ")" made it unbalanced)
    ("Klantenservice (0900 4683643) is open", "0900 4683643"),
    ("our London desk (+44 20 7946 0958).", "+44 20 7946 0958"),
    ("Amsterdam (020 123 4567)", "020 123 4567"),
    ("Berlin (030 1234567)", "030 1234567"),
    ("(212) 555-0199", "(212) 555-0199"),
    # six digits, labelled as a phone right after
    ("92 34 70-Office", "92 34 70"),
    ("Tel 92 34 70 (fax)", "92 34 70"),
])
def test_phone_found(text, value):
    assert (value, PHONE) in found(text)


@pytest.mark.parametrize("text", [
    "on 2024-01-15 at noon", "in 15.01.2024", "between 1998-2004", "pi is 3.14159265", "ISBN 0-306-40615-2",
    "population 12 345 678", "INT_MAX = 2147483647", "order 123456789 shipped", "chapter 12, 345 pages", "+1 2",
    "page 975 3968 Bay Street",
    "(12 34 56)", "in (2019)", "version (1.2.3)", "sizes (38 40 42) in stock", "(1998-2004)", "score 12 34 56 office",
])
def test_phone_refused(text):
    assert not [f for f in found(text) if f[1] == PHONE], found(text)


def test_region_hint_validates_two_group_national_numbers():
    # A Munich number in two groups without its trunk 0 or a context word: valid only for DE.
    assert not found("Sitz 89 1234567")
    assert found("Sitz 89 1234567", DetectorOptions(default_regions=("DE",))) == [("89 1234567", PHONE)]
    assert found("Sitz 089 1234567") == [("089 1234567", PHONE)]  # the trunk prefix says national number


# ----- together -----

def test_code_like_strings_have_no_pii():
    lines = [line for line in CODE_LIKE.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    assert len(lines) >= 80
    hits = {line: found(line) for line in lines if found(line)}
    assert hits == {}


def test_overlaps_resolved_by_precedence():
    text = "see https://admin:hunter22@8.8.8.8/x"
    assert found(text) == [("admin:hunter22", SECRET), ("8.8.8.8", IP)]
    assert resolve_overlaps([(0, 10, PHONE), (2, 8, EMAIL), (9, 12, IP)]) == [(2, 8, EMAIL), (9, 12, IP)]


def test_placeholders_keep_the_text_around_them():
    text = "Écrivez à zoë@exemple.fr 🙂 ou appelez +33 1 42 68 53 00 — merci"
    scrubbed, counts = replace_spans(text, find_pii(text))
    assert scrubbed == "Écrivez à <EMAIL> 🙂 ou appelez <PHONE> — merci"
    assert counts == {EMAIL: 1, PHONE: 1}
    scrubbed.encode("utf-8")  # whole code points only


def test_surrogates_are_consistent_per_document_and_never_merge_words():
    text = "Mail BOB@corp.io or bob@corp.io, not amy@corp.io; call +44 20 7946 0958 or +44 (20) 7946-0958; SSN 123-45-6789."
    scrubbed, counts = replace_spans(text, find_pii(text), mode="surrogate")
    assert scrubbed == ("Mail person1@example.com or person1@example.com, not person2@example.com; "
                        "call +1-555-0101 or +1-555-0101; SSN 000-00-0001.")
    assert counts == {EMAIL: 3, PHONE: 2, SSN: 1}
    assert not find_pii(scrubbed.replace("@example.com", "@x"))  # reserved ranges are not PII again
    glued, _ = replace_spans("口座GB82WEST12345698765432で", find_pii("口座GB82WEST12345698765432で"), mode="surrogate")
    assert glued == "口座 XX00TEST0000000001 で"
