"""The input corpus (issue 19): malformed request bodies, emails and integers, each by name.

Data only: ``tests/test_input_corpus.py`` sends every case to every route that reads that kind of
input, and ``tests/test_openapi.py`` checks the OpenAPI Email schema agrees with the server on the
emails. Add a case here when a new bad input is found; both pick it up.
"""

from __future__ import annotations

from tests.helpers import PASSWORD

GOOD_BODY = f'"email": "someone@example.com", "password": "{PASSWORD}", "identifier": "someone@example.com"'


def body(*members: str) -> bytes:
    """A JSON object of ``members`` (raw text: it may hold what json.dumps would never write) and good credentials."""
    return ("{" + ", ".join([*members, GOOD_BODY]) + "}").encode()


# -- bodies: (name, raw bytes, Content-Type, words the 400's message carries) -----------------------

BAD_BODIES: list[tuple[str, bytes, str, str]] = [
    ("deep-array-30000", b"[" * 30000, "application/json", "nested more than 16"),
    ("deep-object-10000", b'{"a":' * 10000, "application/json", "nested more than 16"),
    ("deep-array-closed", b"[" * 2000 + b"]" * 2000, "application/json", "nested more than 16"),
    ("deep-in-a-member", body('"x": ' + "[" * 17 + "]" * 17), "application/json", "nested more than 16"),
    ("deep-mixed", b'{"a":[' * 9 + b"1" + b"]}" * 9, "application/json", "nested more than 16"),
    ("lone-high-surrogate", b'{"email": "a\\ud800@example.com", "password": "x"}', "application/json", "surrogate"),
    ("lone-low-surrogate", b'{"email": "a\\udc00@example.com", "password": "x"}', "application/json", "surrogate"),
    ("reversed-surrogate-pair", body('"x": "\\ude00\\ud83d"'), "application/json", "surrogate"),
    ("lone-surrogate-in-a-key", body('"\\ud800": 1'), "application/json", "surrogate"),
    (
        "lone-surrogate-in-password",
        b'{"email": "a@example.com", "password": "\\udfff"}',
        "application/json",
        "surrogate",
    ),
    ("lone-surrogate-in-an-array", body('"x": ["\\ud800"]'), "application/json", "surrogate"),
    ("surrogate-as-utf8-bytes", b'{"email": "a\xed\xa0\x80@example.com"}', "application/json", "not UTF-8"),
    ("latin-1-bytes", b'{"email": "caf\xe9@example.com"}', "application/json", "not UTF-8"),
    ("utf-16", '{"email": "a@example.com"}'.encode("utf-16"), "application/json", "not UTF-8"),
    ("utf-8-bom", b"\xef\xbb\xbf" + body(), "application/json", "not valid JSON"),
    ("duplicate-email", body('"email": "attacker@example.com"'), "application/json", "duplicate member"),
    ("duplicate-nested", body('"metadata": {"a": 1, "a": 2}'), "application/json", "duplicate member"),
    ("nan", body('"x": NaN'), "application/json", "NaN is not JSON"),
    ("infinity", body('"x": Infinity'), "application/json", "Infinity is not JSON"),
    ("minus-infinity", body('"x": -Infinity'), "application/json", "-Infinity is not JSON"),
    ("1e999", body('"x": 1e999'), "application/json", "number out of range"),
    ("minus-1e999", body('"x": -1e999'), "application/json", "number out of range"),
    ("integer-of-5000-digits", body('"x": ' + "7" * 5000), "application/json", "number out of range"),
    ("raw-nul-in-a-string", b'{"email": "a\x00@example.com", "password": "x"}', "application/json", "not valid JSON"),
    ("trailing-garbage", body() + b" {}", "application/json", "not valid JSON"),
    ("single-quotes", b"{'email': 'a@example.com'}", "application/json", "not valid JSON"),
    ("array", b"[]", "application/json", "must be a JSON object"),
    ("text-plain", body(), "text/plain", "must be a JSON object"),
]


# -- emails: refused wherever an email is taken ------------------------------------------------------

BAD_EMAILS: list[tuple[str, str]] = [
    ("list-comma", "bob,attacker@evil.example"),
    ("list-two-addresses", "bob@example.com,attacker@evil.example"),
    ("list-semicolon", "bob@example.com;attacker@evil.example"),
    ("angle-brackets", "<x@evil.example>"),
    ("display-name-quoted", '"Bob" <bob@x.example>'),
    ("display-name-plain", "Bob <bob@example.com>"),
    ("group-syntax", "friends: bob@example.com, attacker@evil.example;"),
    ("encoded-word-local", "=?utf-8?q?bob?=@example.com"),
    ("encoded-word-base64-address", "=?utf-8?b?YXR0YWNrZXJAZXZpbC5leGFtcGxl?=@example.com"),
    ("encoded-word-splitting-atom", "=?x?q?attacker=40evil.example=3e=00?=bob@example.com"),
    ("header-injection-crlf", "bob@example.com\r\nBcc: attacker@evil.example"),
    ("trailing-newline", "bob@example.com\n"),
    ("trailing-dot-in-domain", "bob@example.com."),
    ("zero-width-space", "bob\u200b@example.com"),
    ("zero-width-joiner-in-domain", "bob@exam\u200dple.com"),
    ("soft-hyphen", "b\u00adob@example.com"),
    ("byte-order-mark", "\ufeffbob@example.com"),
    ("right-to-left-override", "bob\u202e@example.com"),
    ("fullwidth-letters", "\uff42\uff4f\uff42@example.com"),
    ("dotted-capital-i-x300", "\u0130" * 300 + "@example.com"),
    ("dotted-capital-i", "\u0130nes@example.com"),
    ("non-ascii-local", "jos\u00e9@example.com"),
    ("u-label-domain", "bob@b\u00fccher.example"),
    ("nul", "a\x00@example.com"),
    ("tab", "bob\t@example.com"),
    ("c1-control", "bob\x85@example.com"),
    ("quoted-local-part", '"bob"@example.com'),
    ("quoted-local-with-at", '"bob@evil.example"@example.com'),
    ("comment", "bob(comment)@example.com"),
    ("address-literal", "bob@[127.0.0.1]"),
    ("single-label-domain", "bob@localhost"),
    ("numeric-top-label", "bob@example.123"),
    ("leading-dot", ".bob@example.com"),
    ("trailing-dot-local", "bob.@example.com"),
    ("double-dot-local", "bo..b@example.com"),
    ("double-dot-domain", "bob@example..com"),
    ("hyphen-first-label", "bob@-example.com"),
    ("hyphen-last-label", "bob@example-.com"),
    ("label-of-64", "bob@" + "a" * 64 + ".com"),
    ("local-part-of-65", "a" * 65 + "@example.com"),
    ("over-254", "a@" + ("b" * 62 + ".") * 4 + "com"),
    ("two-ats", "bob@@example.com"),
    ("two-addresses-joined", "bob@example.com@evil.example"),
    ("space-inside", "bob smith@example.com"),
    ("leading-space", " bob@example.com"),
    ("no-at", "bob.example.com"),
    ("no-local", "@example.com"),
    ("no-domain", "bob@"),
]

GOOD_EMAILS = [
    "bob@example.com",
    "Bob.Smith@Example.COM",
    "o'brien+tag@mail.example.co.uk",
    "x@a.io",
    "a" * 64 + "@example.com",
    "a@" + ("b" * 63 + ".") * 3 + "c" * 60,  # 254 characters: the longest address
    "user@xn--bcher-kva.example",
    "!#$%&'*+/?=^_`{|}~-@example.com",  # every atext character ("=?" would open an encoded word)
    "a=b?c@example.com",
]


# -- integers in the query string ---------------------------------------------------------------------

BAD_INTEGERS: list[tuple[str, str]] = [
    ("superscript-two", "\u00b2"),
    ("circled-one", "\u2460"),
    ("arabic-indic-three", "\u0663"),
    ("fullwidth-nine", "\uff19"),
    ("devanagari-five", "\u096b"),
    ("mathematical-bold-one", "\U0001d7cf"),
    ("ascii-then-superscript", "1\u00b2"),
    ("5000-digits", "1" * 5000),
    ("thirteen-digits", "0" * 13),
    ("negative", "-1"),
    ("plus-sign", "+1"),
    ("leading-space", " 1"),
    ("trailing-newline", "1\n"),
    ("decimal", "1.0"),
    ("hex", "0x10"),
    ("exponent", "1e3"),
    ("underscore", "1_0"),
    ("empty", ""),
    ("nul", "\x00"),
]


# -- ids in the URL path: no row can have them --------------------------------------------------------

BAD_IDS: list[tuple[str, str]] = [
    ("nul", "%00"),
    ("nul-inside", "user_01%00x"),
    ("control", "%01"),
    ("non-ascii", "%C3%BC"),
    ("percent", "%25"),
    ("space", "a%20b"),
    ("65-characters", "a" * 65),
]
