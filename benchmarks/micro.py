"""In-process: ``Tokens.verify`` on fresh tokens against raw ``cryptography`` RS256 verification.

Raw means the least any verifier of a compact JWS does: split the token, base64url-decode the
signature, and one ``RSAPublicKey.verify`` with PKCS#1 v1.5 and SHA-256 (padding and hash built once).
``Tokens.verify`` runs as the guard runs it, cache included: every token is new to it, so each call is
a full verification plus the cache's miss and insertion. Rounds alternate the two on disjoint tokens;
the ratio compares each side's best round (timeit's rule: on a busy machine the slower rounds measure
the other processes), and the medians are reported beside it.
"""

from __future__ import annotations

import base64
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from medusa_auth.keys.config import get_jwt_config
from medusa_auth.keys.keyset import KeySet
from medusa_auth.tokens import TokenKind, Tokens

ROUNDS = 10
ACCESS = frozenset({TokenKind.ACCESS})


@dataclass(frozen=True)
class MicroResult:
    verify_per_second: list[float]
    raw_per_second: list[float]

    @property
    def ratio(self) -> float:
        """Best round over best round."""
        return max(self.verify_per_second) / max(self.raw_per_second)

    @property
    def round_ratios(self) -> list[float]:
        return [ours / raw for ours, raw in zip(self.verify_per_second, self.raw_per_second, strict=True)]

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.verify_per_second) / statistics.median(self.raw_per_second)


def service_tokens(private_pem: str) -> Tokens:
    """The ``Tokens`` the service builds from this key (same kid, same options)."""
    config = get_jwt_config({"JWT_SECRET_KEY": private_pem})
    return Tokens(KeySet.from_config(config), config.http)


def measure(private_pem: str, tokens: list[str]) -> MicroResult:
    """Per-second rates of both, one sample per round, each round on tokens neither has seen."""
    verifier = service_tokens(private_pem)
    private = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    public_key, pkcs1v15, sha256 = private.public_key(), padding.PKCS1v15(), hashes.SHA256()

    def raw(token: str) -> None:
        signing_input, _, signature = token.rpartition(".")
        decoded = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        public_key.verify(decoded, signing_input.encode("ascii"), pkcs1v15, sha256)

    def ours(token: str) -> None:
        verifier.verify(token, ACCESS)

    per_round = len(tokens) // (2 * ROUNDS)
    if per_round < 100:
        raise ValueError(f"need at least {2 * 100 * ROUNDS} tokens, got {len(tokens)}")
    rates: dict[str, list[float]] = {"ours": [], "raw": []}
    for index in range(ROUNDS):
        chunk = tokens[2 * index * per_round : (2 * index + 2) * per_round]
        for name, check, batch in (("raw", raw, chunk[:per_round]), ("ours", ours, chunk[per_round:])):
            started = time.perf_counter()
            for token in batch:
                check(token)
            rates[name].append(len(batch) / (time.perf_counter() - started))
    return MicroResult(rates["ours"], rates["raw"])


def main() -> None:
    """`python -m benchmarks.micro KEY.pem TOKENS.txt`: the two rates and their ratio."""
    key_file, tokens_file = (Path(arg) for arg in sys.argv[1:3])
    result = measure(key_file.read_text(), tokens_file.read_text().split())
    print(describe(result))


def describe(result: MicroResult) -> str:
    """One line: best and median rates of both sides, and the ratio of their best rounds."""
    return (
        f"Tokens.verify {max(result.verify_per_second):,.0f}/s best round "
        f"({statistics.median(result.verify_per_second):,.0f}/s median), raw cryptography RS256 "
        f"{max(result.raw_per_second):,.0f}/s best ({statistics.median(result.raw_per_second):,.0f}/s median): "
        f"ratio {result.ratio:.2f} of best rounds, {result.median_ratio:.2f} of medians, {ROUNDS} rounds"
    )


if __name__ == "__main__":
    main()
