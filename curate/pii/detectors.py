"""Rule-based PII detectors: a candidate pattern, then a validator wherever one exists.

Each detector returns spans ``(start, end, type)`` as end-exclusive offsets into the Python string
(code points, so replacement can never split a UTF-8 sequence). ``find_pii`` runs the enabled
detectors and resolves overlaps by a fixed precedence (a secret or an e-mail beats the phone-shaped
digits inside it), so every character belongs to at most one span.

Validators: e-mail (label and TLD syntax, file-name TLDs refused), phone (``phonenumbers`` for
international and region-valid numbers, a structural rule with a context word for the rest),
IP (``ipaddress``; public addresses only unless asked, version strings skipped), payment card (Luhn
plus issuer prefix and length), IBAN (ISO 13616 mod-97 and the country's length and format, via
``stdnum``), US SSN (the SSA's valid ranges), secrets (fixed-format tokens of well-known services,
private-key blocks, credentials in URLs, quoted values assigned to credential-named keys).
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers
from stdnum import iban as stdnum_iban

Span = tuple[int, int, str]

# Word characters for boundaries: Latin letters, digits, underscore. Not ``\w``: Chinese and
# Japanese put no space between a word and a number or address, and ``\w`` matches their script.
W = r"0-9A-Za-z_\u00C0-\u024F"
_L, _R = f"(?<![{W}])", f"(?![{W}])"  # word edges in that sense (what ``\b`` means below)

EMAIL, PHONE, IP, CARD, IBAN, SSN, SECRET = "EMAIL", "PHONE", "IP", "CARD", "IBAN", "SSN", "SECRET"
NAME, ADDRESS = "NAME", "ADDRESS"  # from the optional NER model
RULE_TYPES = (EMAIL, PHONE, IP, CARD, IBAN, SSN, SECRET)
ALL_TYPES = (*RULE_TYPES, NAME, ADDRESS)
# Overlap precedence, strongest first: a key block or URL credential may contain anything; an
# e-mail or IBAN may contain digit runs that look like phones or cards.
PRECEDENCE = {SECRET: 0, EMAIL: 1, IBAN: 2, CARD: 3, SSN: 4, IP: 5, PHONE: 6, ADDRESS: 7, NAME: 8}


@dataclass(frozen=True)
class DetectorOptions:
    """What the rule detectors look for; the stage's parameters map onto this."""

    types: frozenset[str] = frozenset(RULE_TYPES)
    # Private, loopback, link-local, documentation and other non-global addresses.
    include_private_ips: bool = False
    # "version 1.2.3.4", "v10.0.0.1", "pkg==1.2.3.4" are version strings, not hosts.
    skip_version_ips: bool = True
    # Phone numbers without a country code are parsed for these regions (ISO 3166 alpha-2).
    default_regions: tuple[str, ...] = ("US",)
    # A bare 9-digit number is an SSN only with "SSN"/"social security" just before it.
    ssn_bare_with_context: bool = True


# ----- e-mail -----------------------------------------------------------------------------------

# Internationalised addresses (RFC 6531) use letters beyond ASCII: Latin and Cyrillic ones are
# allowed; CJK ones are not, because CJK text puts no space before an address ("邮箱kana@x.net").
_EMAIL_CHARS = r"0-9A-Za-z\u00C0-\u024F\u0400-\u04FF"
_EMAIL = re.compile(
    rf"(?<![{_EMAIL_CHARS}_.%+\-])"
    rf"([{_EMAIL_CHARS}](?:[{_EMAIL_CHARS}_.%+\-]{{0,62}}[{_EMAIL_CHARS}_%+\-])?)"
    rf"@((?:[{_EMAIL_CHARS}](?:[{_EMAIL_CHARS}\-]{{0,61}}[{_EMAIL_CHARS}])?\.)+([A-Za-z]{{2,24}}|[\u0400-\u04FF]{{2,24}}))"
    rf"(?![{W}\-]|\.[{_EMAIL_CHARS}])"
)
# "logo@2x.png", "icon@3x.webp": asset names that look like addresses.
_FILE_TLDS = frozenset(
    "png jpg jpeg gif svg webp bmp ico tif tiff js mjs css map json xml html htm php txt md pdf zip gz "
    "mp3 mp4 wav ogg webm woff woff2 ttf otf eot exe dll so".split()
)


def find_emails(text: str) -> Iterable[Span]:
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        local, tld = m.group(1), m.group(3).lower()
        if ".." in local or tld in _FILE_TLDS:
            continue
        yield m.start(), m.end(), EMAIL


# ----- IP addresses -----------------------------------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(r"(?<![" + W + r".:\-])" + _OCTET + r"(?:\." + _OCTET + r"){3}(?![" + W + r"\-]|\.\d)")
_IPV6 = re.compile(
    r"(?<![" + W + r":.\-])"
    r"(?:[0-9A-Fa-f]{1,4}:){1,7}:?(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?"
    r"(?:%[0-9A-Za-z]+)?"
    r"(?![" + W + r":\-]|\.\d)"
    r"|(?<![" + W + r":.\-])::(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4}(?![" + W + r":\-]|\.\d)"
)
_IPV4_GATE = re.compile(r"\.\d{1,3}\.\d")
_IPV6_GATE = re.compile(r":[0-9A-Fa-f:]")
_VERSION_CONTEXT = re.compile(
    r"(?:\bv|\bversion|\bver\.?|\brelease|\brel\.?|\bbuild|\brev\.?|\brevision|\bfirmware|\bupdate|\bpatch|"
    r"\bkernel|\bnode|\bpython|\bjava|\bchrome|\bfirefox|==|>=|<=|~=|!=)\s*[:\-]?\s*$",
    re.IGNORECASE,
)


def _version_like(text: str, start: int) -> bool:
    return bool(_VERSION_CONTEXT.search(text[max(0, start - 24):start]))


def find_ips(text: str, options: DetectorOptions) -> Iterable[Span]:
    # Gates that start with a literal (fast to scan for) keep most texts away from the full patterns.
    if _IPV4_GATE.search(text):
        for m in _IPV4.finditer(text):
            address = ipaddress.IPv4Address(m.group())
            if not options.include_private_ips and not address.is_global:
                continue
            if options.skip_version_ips and _version_like(text, m.start()):
                continue
            yield m.start(), m.end(), IP
    if _IPV6_GATE.search(text):
        for m in _IPV6.finditer(text):
            candidate = m.group()
            # A v6 address worth the name has hex groups; "10:30:00" and "std::vector" do not parse,
            # and "a:b" is too short to be anything but a label.
            if candidate.count(":") < 2:
                continue
            try:
                address = ipaddress.IPv6Address(candidate.split("%", 1)[0])
            except ValueError:
                continue
            if sum(c in "0123456789abcdefABCDEF" for c in candidate) < 5:
                continue
            if not options.include_private_ips and not address.is_global:
                continue
            yield m.start(), m.end(), IP


# ----- payment cards ----------------------------------------------------------------------------

_CARD = re.compile(r"(?<![" + W + r"\-.,/])\d{4}(?:[ \-]?\d{2,7}){1,4}(?![" + W + r"\-]|[.,/]\d)")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _in(prefix: str, low: int, high: int) -> bool:
    width = len(str(low))
    return len(prefix) >= width and low <= int(prefix[:width]) <= high


def card_issuer(digits: str) -> str | None:
    """The scheme whose issuer prefix and length the number fits (ISO/IEC 7812 registrations)."""
    n = len(digits)
    if digits[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (_in(digits, 51, 55) or _in(digits, 2221, 2720)) and n == 16:
        return "mastercard"
    if digits[:2] in ("34", "37") and n == 15:
        return "amex"
    if (digits.startswith("6011") or _in(digits, 644, 649) or digits.startswith("65") or _in(digits, 622126, 622925)) and n in (16, 19):
        return "discover"
    if digits.startswith("35") and 16 <= n <= 19:  # JCB's 3528–3589, and the 35 block around it
        return "jcb"
    if digits[:4] in ("1800", "2131") and n == 15:
        return "jcb"
    if (_in(digits, 300, 305) or digits.startswith("3095") or digits[:2] in ("36", "38", "39")) and 14 <= n <= 19:
        return "diners"
    if digits.startswith("62") and 16 <= n <= 19:
        return "unionpay"
    if _in(digits, 2200, 2204) and n == 16:
        return "mir"
    if (digits[:4] in ("5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763", "6390", "0604")
            or digits[:2] in ("56", "57", "58")) and 12 <= n <= 19:
        return "maestro"
    return None


# Maestro's 12–19 digits and broad prefixes make a bare number a weak claim: it needs a word
# like "card" just before it.
_CARD_CONTEXT = re.compile(
    r"(?:card|credit|debit|maestro|visa|mastercard|payment|cc|karte|carte|tarjeta|carta|cartão|kaart|karta)\W{0,3}(?:\w+\W{1,3}){0,3}$",
    re.IGNORECASE,
)


def find_cards(text: str) -> Iterable[Span]:
    for m in _CARD.finditer(text):
        raw = m.group()
        separators = {c for c in raw if not c.isdigit()}
        if len(separators) > 1:
            continue
        digits = raw.replace(" ", "").replace("-", "")
        if not 12 <= len(digits) <= 19:
            continue
        if separators:
            groups = [len(g) for g in re.split(r"[ \-]", raw)]
            # Printed layouts: 4-4-4-4(-3), Amex 4-6-5, Diners 4-6-4.
            if not (all(g == 4 for g in groups[:-1]) and 1 <= groups[-1] <= 4) and groups not in ([4, 6, 5], [4, 6, 4]):
                continue
        issuer = card_issuer(digits)
        if not issuer or not luhn_valid(digits):
            continue
        if issuer == "maestro" and not _CARD_CONTEXT.search(text[max(0, m.start() - 48):m.start()]):
            continue
        yield m.start(), m.end(), CARD


# ----- IBAN -------------------------------------------------------------------------------------

_WORD_CHAR = re.compile(f"[{W}]")
_IBAN_START = re.compile(r"(?<![" + W + r"\-])([A-Za-z]{2})(\d{2})(?=[ ]?[A-Za-z0-9])")


def find_ibans(text: str) -> Iterable[Span]:
    for m in _IBAN_START.finditer(text):
        country = m.group(1)
        if not (country.isupper() or country.islower()):
            continue
        # Walk the BBAN: alphanumerics, with at most one space between them (the printed
        # groups of four); then try the longest candidate that validates.
        ends, compact, i = [], m.group(1) + m.group(2), m.end()
        while i < len(text) and len(compact) < 34:
            ch = text[i]
            if ch == " " and i + 1 < len(text) and text[i + 1].isascii() and text[i + 1].isalnum() and text[i - 1] != " ":
                i += 1
                continue
            if not (ch.isascii() and ch.isalnum()):
                break
            compact += ch
            i += 1
            ends.append((len(compact), i))
        for length, end in reversed(ends):
            if length < 15:
                break
            if _WORD_CHAR.match(text, end):
                continue  # the match would end inside a word
            candidate = compact[:length].upper()
            if stdnum_iban.is_valid(candidate):
                yield m.start(), end, IBAN
                break


# ----- US SSN -----------------------------------------------------------------------------------

_SSN = re.compile(r"(?<![" + W + r"\-.])(\d{3})([\- ])(\d{2})\2(\d{4})(?![" + W + r"\-]|[.,]\d)")
_SSN_BARE = re.compile(r"(?<![" + W + r"\-.])(\d{3})(\d{2})(\d{4})(?![" + W + r"\-]|[.,]\d)")
_SSN_CONTEXT = re.compile(r"(?:\bssn|\bsocial security(?: number| no\.?| #)?|\bss#)\W{0,4}$", re.IGNORECASE)


def ssn_valid(area: str, group: str, serial: str) -> bool:
    """SSA rules since 2011: area 001–899 except 666, group 01–99, serial 0001–9999."""
    a = int(area)
    return 0 < a < 900 and a != 666 and group != "00" and serial != "0000"


def find_ssns(text: str, options: DetectorOptions) -> Iterable[Span]:
    for m in _SSN.finditer(text):
        if ssn_valid(m.group(1), m.group(3), m.group(4)):
            yield m.start(), m.end(), SSN
    lowered = text.lower() if options.ssn_bare_with_context else ""
    if "ssn" in lowered or "ss#" in lowered or "social security" in lowered:
        for m in _SSN_BARE.finditer(text):
            if ssn_valid(*m.groups()) and _SSN_CONTEXT.search(text[max(0, m.start() - 32):m.start()]):
                yield m.start(), m.end(), SSN


# ----- secrets ----------------------------------------------------------------------------------

# (literal substrings one of which every match contains, pattern). The literals gate the regex:
# a substring test runs at memory speed, the patterns' lookarounds do not, and almost no page
# holds a token, so most texts never reach a secret regex at all.
_SECRET_RULES = [
    # PEM / OpenSSH / PGP private keys: the whole block.
    (("-----BEGIN",), r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]{16,}?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    # AWS access key ids (IAM user, STS, role, ...).
    (("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA", "AROA", "ASCA"),
     r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z2-7]{16}\b"),
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b"),  # GitHub
    (("github_pat_",), r"\bgithub_pat_[A-Za-z0-9_]{82}\b"),
    (("glpat-",), r"\bglpat-[A-Za-z0-9_\-]{20}(?![" + W + r"\-])"),  # GitLab
    (("xox",), r"\bxox[abposr]-[A-Za-z0-9\-]{10,72}(?![" + W + r"\-])"),  # Slack tokens
    (("hooks.slack.com",), r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,}"),
    (("AIza",), r"(?<![" + W + r"\-])AIza[0-9A-Za-z_\-]{35}(?![" + W + r"\-])"),  # Google API keys
    (("_live_", "_test_"), r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,99}\b"),  # Stripe secret / restricted keys
    (("T3BlbkFJ",), r"(?<![" + W + r"\-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}T3BlbkFJ[A-Za-z0-9_\-]{16,}(?![" + W + r"\-])"),  # OpenAI
    (("sk-proj-",), r"(?<![" + W + r"\-])sk-proj-[A-Za-z0-9_\-]{40,}(?![" + W + r"\-])"),
    (("sk-ant-",), r"(?<![" + W + r"\-])sk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_\-]{80,}(?![" + W + r"\-])"),  # Anthropic
    (("SG.",), r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}(?![" + W + r"\-])"),  # SendGrid
    (("SK",), r"\bSK[0-9a-fA-F]{32}\b"),  # Twilio API key sid
    (("npm_",), r"\bnpm_[A-Za-z0-9]{36}\b"),
    (("pypi-",), r"(?<![" + W + r"\-])pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}(?![" + W + r"\-])"),
    (("hf_",), r"\bhf_[A-Za-z0-9]{34}\b"),  # Hugging Face
    (("eyJ",), r"\beyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}(?![" + W + r"\-])"),  # JWT
]
# "\b" above means a word edge in the Latin sense (_L/_R), so keys glued to CJK text are found.
_SECRETS = [
    (
        literals[0] if len(literals) == 1 else re.compile("|".join(map(re.escape, literals))),
        re.compile((_L + p[2:] if p.startswith(r"\b") else p).removesuffix(r"\b") + (_R if p.endswith(r"\b") else "")),
    )
    for literals, p in _SECRET_RULES
]
# scheme://user:password@host — the user:password part (the literal "://" leads, so the scan is fast).
_URL_CREDENTIALS = re.compile(r"://([^\s:/@<>\"'`]{1,64}:[^\s/@<>\"'`]{1,128})@[\w\-]")
# AWS secret access keys have no prefix: only after their variable name.
_AWS_SECRET = re.compile(r"(?i)aws_?secret_?(?:access_?)?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])")
# password = "…", "api_key": "…" — quoted values of credential-named keys. The quoted value is
# found first (its pattern starts with a literal, which is fast to scan for), then the key name
# just before it is checked.
_QUOTED_VALUE = re.compile(r"(?:=>|[=:])\s*([\"'])([^\"'\s]{8,200})\1")
_CREDENTIAL_KEY = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:password|passwd|pwd|secret|secret[_\-]?key|api[_\-]?key|apikey|access[_\-]?token|auth[_\-]?token|"
    r"client[_\-]?secret|private[_\-]?key|token)[\"']?\s*$"
)
_ASSIGNED_WORDS = ("pass", "pwd", "secret", "key", "token")
_PLACEHOLDER_VALUE = re.compile(
    r"^(?:<[^>]*>|\$\{?[\w.]+\}?|%\(?\w+\)?s?|\{\{?[^}]*\}?\}|(?:your|my|insert|enter|example|changeme|placeholder|"
    r"redacted|dummy|sample|test|xxx+|\*+|\.\.\.)[\w\-]*|[xX*.•]+)$",
    re.IGNORECASE,
)


def _looks_secret(value: str) -> bool:
    if _PLACEHOLDER_VALUE.match(value) or len(set(value)) < 5:
        return False
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    return classes >= 2


def find_secrets(text: str) -> Iterable[Span]:
    for gate, pattern in _SECRETS:
        if (gate in text) if isinstance(gate, str) else gate.search(text):
            for m in pattern.finditer(text):
                yield m.start(), m.end(), SECRET
    if "://" in text:
        for m in _URL_CREDENTIALS.finditer(text):
            yield m.start(1), m.end(1), SECRET
    lowered = text.lower()
    if "aws" in lowered:
        for m in _AWS_SECRET.finditer(text):
            yield m.start(1), m.end(1), SECRET
    if any(word in lowered for word in _ASSIGNED_WORDS):
        for m in _QUOTED_VALUE.finditer(text):
            if _CREDENTIAL_KEY.search(text, max(0, m.start() - 40), m.start()) and _looks_secret(m.group(2)):
                yield m.start(2), m.end(2), SECRET


# ----- phone numbers ----------------------------------------------------------------------------

# A phone-shaped run: optional "+"/"00" prefix, digit groups split by single separators (space,
# dot, dash, slash) or wrapped in parentheses, optional extension. Validated below.
_PHONE = re.compile(
    r"(?<![" + W + r"+\-./:#@=$€£¥%])(?<!\d,)"
    r"(\+|\b00)?[ ]?"
    # Atomic: the whole run or nothing, so a run that fails its checks never leaves a shorter
    # phone-looking piece of itself behind.
    r"((?>(?:\([ ]?\d{1,5}[ ]?\)|\d{1,6})(?:(?:[ .\-/]|\)[ ]?|[ ]?\()?\(?\d{1,8}\)?)*))"
    r"(?:[ ]?(?:x|ext\.?|extension|#)[ ]?(\d{1,6}))?"
)
# What may follow a number: not a letter or digit, and not the rest of a longer number.
_PHONE_END_BAD = re.compile(r"\w|[.,/:\-]\d")
_PHONE_CONTEXT = re.compile(
    r"(?:\b(?:(?:tele)?phones?|tel|call(?:ed|ing)?|fax|mobile|mob|cell(?:phone)?|contact|whats\s?app|sms|text|dial|"
    r"reach|ring|hotline|desk|direct|telefon|telefono|teléfono|telefone|téléphone|tél|tlf|handy|ruf|rufnummer|nummer|numéro|número|"
    r"numero|portable|appel|móvil|celular|cellulare|chiam\w*|llam\w*|ligu\w*|bel|gsm|телефон\w*|тел|звон\w*)\b"
    r"|電話|电话|携帯|手机)"
    r"[^\n\d]{0,24}$",
    re.IGNORECASE,
)
# "… 3660170548 (fax)", "042 078 6381-office": the label after the number.
_PHONE_LABELS = r"(?:office|fax|mobile|home|work|cell|tel|phone|ext|direct|landline|handy|bureau|büro|portable|móvil)\b"
_PHONE_CONTEXT_AFTER = re.compile(r"[ \-–(:]{0,3}" + _PHONE_LABELS, re.IGNORECASE)
# The label attached by a dash, colon or parenthesis ("92 34 70-Office", "92 34 70 (fax)"): what
# lets a six-digit run count as a phone ("12 34 56 office" does not).
_PHONE_LABEL_ATTACHED = re.compile(r" ?[\-–(:] ?" + _PHONE_LABELS, re.IGNORECASE)
_CAPITALISED_NEXT = re.compile(r" +[A-Z]")
_DATE_SHAPES = ((4, 2, 2), (2, 2, 4), (2, 2, 2), (1, 2, 4), (2, 1, 4), (1, 1, 4), (4, 1, 1), (4, 2, 1), (4, 1, 2))


def _date_like(groups: list[str], separators: set[str]) -> bool:
    if len(groups) != 3 or not separators <= {"-", ".", "/"}:
        return False
    lengths = tuple(len(g) for g in groups)
    if lengths not in _DATE_SHAPES:
        return False
    values = [int(g) for g in groups]
    year, a, b = (values[0], values[1], values[2]) if lengths[0] == 4 else (values[2], values[0], values[1])
    return (1 <= a <= 31 and 1 <= b <= 31) and (len(str(year)) == 2 or 1000 <= year <= 2999)


_POSSIBLE = phonenumbers.ValidationResult.IS_POSSIBLE


def _region_valid(number: str, regions: Iterable[str]) -> bool:
    for region in regions:
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return True
    return False


def find_phones(text: str, options: DetectorOptions, regions: tuple[str, ...] = ()) -> Iterable[Span]:
    regions = tuple(dict.fromkeys((*regions, *options.default_regions)))
    for m in _PHONE.finditer(text):
        prefix, body = m.group(1), m.group(2)
        start = m.start() if prefix else m.start(2)
        end = m.end()
        if m.group(3) is None and body.endswith(")") and body.count(")") > body.count("("):
            # "(0900 4683643)": the run began inside parentheses (the "(" is not part of it), so its
            # closing ")" is the text's, not the number's
            body, end = body[:-1].rstrip(), m.start(2) + len(body[:-1].rstrip())
        groups = re.findall(r"\d+", body)
        digits = "".join(groups)
        if _PHONE_END_BAD.match(text, end):
            continue
        separators = {c for c in body if c in " .-/"}
        if body.count("(") != body.count(")"):
            continue
        international = prefix is not None
        if international:
            # "+44 20 7946 0958", "0049 30 …": the country code is in the number.
            try:
                parsed = phonenumbers.parse("+" + digits)
            except phonenumbers.NumberParseException:
                continue
            # A full number, not one that could only be dialled locally ("+1 555 0101").
            if 8 <= len(digits) <= 15 and phonenumbers.is_possible_number_with_reason(parsed) == _POSSIBLE:
                yield start, end, PHONE
            continue
        lengths = [len(g) for g in groups]
        if len(digits) == 6 and len(groups) >= 2 and min(lengths) >= 2 and (
                _PHONE_LABEL_ATTACHED.match(text, end) or _PHONE_CONTEXT.search(text[max(0, start - 40):start])):
            # "92 34 70-Office", "Tel: 92 34 70": a short local number, labelled as a phone
            yield start, end, PHONE
            continue
        if not 7 <= len(digits) <= 15:
            continue
        # Shapes that are something else: dates, decimals ("3.14159"), dotted quads, year ranges.
        if _date_like(groups, separators) or (len(groups) == 2 and separators == {"."}):
            continue
        if len(groups) == 4 and separators == {"."} and all(len(g) <= 3 for g in groups):
            continue
        if len(groups) == 2 and all(len(g) == 4 and 1000 <= int(g) <= 2999 for g in groups):
            continue
        if "/" in separators and len(groups) <= 3 and not _PHONE_CONTEXT.search(text[max(0, start - 40):start]):
            continue  # "12/345/678" is as often a reference or a fraction as a phone
        paren_area = body.lstrip().startswith("(")
        one_kind = len(separators - {" "}) <= 1
        # Grouped like a printed number: three or more groups, or an area code in parentheses.
        shaped = (len(groups) >= 3 or paren_area) and min(lengths[1:]) >= 2 and one_kind and len(digits) >= 8
        # National format with its trunk prefix ("0961-7596216", "079 4650 2145").
        trunk = (len(groups) >= 2 and groups[0][0] == "0" and groups[0][:2] != "00" and 9 <= len(digits) <= 12 and one_kind
                 and min(lengths) >= 2)
        # The North American local number ("668 5702", "555-0199").
        # Not before a capitalised word: "975 3968 Bay Street" is a house number and more.
        local = lengths == [3, 4] and separators <= {" ", "-"} and not _CAPITALISED_NEXT.match(text, end)
        context = (_PHONE_CONTEXT.search(text[max(0, start - 40):start]) is not None
                   or _PHONE_CONTEXT_AFTER.match(text, end) is not None)
        # "12 345 678", "1.234.567": thousands grouping is a quantity unless labelled as a phone.
        thousands = lengths[0] <= 3 and len(groups) >= 2 and all(n == 3 for n in lengths[1:]) and separators in ({" "}, {"."})
        if (shaped or trunk or local) and not (thousands and not context):
            yield start, end, PHONE
        elif context and (len(groups) >= 2 or len(digits) >= 9):
            yield start, end, PHONE
        # A national number valid in the document's region ("030 123456" on a .de page); only
        # in few, multi-digit groups: a table row "5040 5 1 17 27" may also spell a valid number.
        elif 2 <= len(groups) <= 4 and min(lengths) >= 2 and one_kind and _region_valid(digits, regions):
            yield start, end, PHONE


# ----- all together -----------------------------------------------------------------------------


_DIGIT = re.compile(r"\d")


def resolve_overlaps(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans, in text order: stronger types first, then longer spans."""
    chosen: list[Span] = []
    taken: list[tuple[int, int]] = []
    for span in sorted(set(spans), key=lambda s: (PRECEDENCE[s[2]], -(s[1] - s[0]), s[0])):
        if any(span[0] < e and s < span[1] for s, e in taken):
            continue
        chosen.append(span)
        taken.append((span[0], span[1]))
    return sorted(chosen)


def find_pii(text: str, options: DetectorOptions = DetectorOptions(), regions: tuple[str, ...] = ()) -> list[Span]:
    """All PII spans the enabled rule detectors find in ``text``, non-overlapping, in order."""
    if not text:
        return []
    types = options.types
    spans: list[Span] = []
    if SECRET in types:
        spans += find_secrets(text)
    if EMAIL in types:
        spans += find_emails(text)
    has_digit = _DIGIT.search(text) is not None
    if has_digit:
        if IBAN in types:
            spans += find_ibans(text)
        if CARD in types:
            spans += find_cards(text)
        if SSN in types:
            spans += find_ssns(text, options)
        if PHONE in types:
            spans += find_phones(text, options, regions)
    if IP in types and (has_digit or ":" in text):
        spans += find_ips(text, options)
    return resolve_overlaps(spans)
