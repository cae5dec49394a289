"""Benchmark: the example service's protected route against the same route unprotected, in one run.

Run with ``make bench-verifier`` (or ``python -m benchmarks.verifier`` from the project root; wrk must be
installed). It starts, on 127.0.0.1 only: the issuer under gunicorn (tests/live.py), and the example
service under gunicorn twice, ``create_app()`` (JWTVerifier on /orders, keys from the issuer's JWKS) and
``create_app(protect=False)`` (the same view, no verification). wrk drives each for the same time and
connections; the protected and unprotected rounds alternate so that drift on a shared machine hits
both. Then a flood of tokens carrying random ``kid``s hits the protected route, and the issuer's own
access log counts how many JWKS fetches all of this caused. Every request loop is bounded by wrk's
duration; every server is stopped at the end.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.live import (
    LiveServer,
    free_port,
    live_server,
    server_environment,
    start_gunicorn,
    stop_process,
    wait_until_healthy,
)

EMAIL = "bench@example.com"
PASSWORD = "correct horse battery staple"
EXAMPLE = "examples.orders_service:create_app({})"
EXAMPLE_CONFIG = "examples/gunicorn.conf.py"
JWKS_REQUEST = re.compile(r'"GET /\.well-known/jwks\.json ')


@dataclass
class WrkResult:
    requests_per_second: float
    requests: int
    non_2xx: int
    latency_p50: str
    latency_p99: str


def run_wrk(
    url: str, seconds: int, connections: int, token: str | None = None, script: Path | None = None
) -> WrkResult:
    """One wrk run; its own duration bounds it, and a timeout bounds wrk itself."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if token is not None:
        command += ["-H", f"Authorization: Bearer {token}"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run(command + [url], capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests_per_second=float(_field(r"Requests/sec:\s+([\d.]+)", output)),
        requests=int(_field(r"(\d+) requests in", output)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        latency_p50=_field(r"(?m)^\s+50%\s+(\S+)", output),
        latency_p99=_field(r"(?m)^\s+99%\s+(\S+)", output),
    )


def _field(pattern: str, output: str) -> str:
    match = re.search(pattern, output)
    if match is None:
        raise RuntimeError(f"wrk printed no {pattern!r}:\n{output}")
    return match.group(1)


@contextmanager
def example_service(tmp: Path, jwks_url: str, protect: bool) -> Iterator[LiveServer]:
    """The example service under gunicorn (2 workers), stopped when the block ends."""
    port = free_port()
    env = server_environment({"JWKS_URL": jwks_url})
    name = "protected" if protect else "unprotected"
    out, err = tmp / f"{name}.out", tmp / f"{name}.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        app = EXAMPLE.format("" if protect else "protect=False")
        process = start_gunicorn(port, env, stdout, stderr, app=app, config=EXAMPLE_CONFIG)
    server = LiveServer(f"http://127.0.0.1:{port}", env, tmp, tmp, process, out, err)
    try:
        wait_until_healthy(server)
        yield server
    finally:
        stop_process(process)


def jwks_fetches(issuer: LiveServer) -> int:
    """JWKS requests the issuer has answered, from its gunicorn access log."""
    return len(JWKS_REQUEST.findall(issuer.stdout_file.read_text(errors="replace")))


def random_kid_tokens(token: str, count: int) -> list[str]:
    """The real token's payload and signature under headers with random kids (unknown to any JWKS)."""
    _, payload, signature = token.split(".")
    tokens = []
    for _ in range(count):
        header = {"alg": "RS256", "typ": "JWT", "kid": secrets.token_urlsafe(16)}
        encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
        tokens.append(f"{encoded}.{payload}.{signature}")
    return tokens


def flood_script(tmp: Path, tokens: list[str]) -> Path:
    """A wrk Lua script that sends the tokens in turn."""
    script = tmp / "flood.lua"
    table = ",\n".join(f'  "{t}"' for t in tokens)
    script.write_text(
        f"tokens = {{\n{table}\n}}\n"
        "i = 0\n"
        "request = function()\n"
        "  i = i + 1\n"
        '  return wrk.format("GET", "/orders", {["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1]})\n'
        "end\n"
    )
    return script


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="duration of each wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="protected/unprotected pairs, alternating")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: run `make bench-verifier`, which installs it", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-verifier-") as directory:
        tmp = Path(directory)
        with live_server(tmp / "issuer", user=(EMAIL, PASSWORD)) as issuer:
            token = issuer.login(EMAIL, PASSWORD)
            jwks_url = issuer.base_url + "/.well-known/jwks.json"
            with (
                example_service(tmp, jwks_url, protect=True) as protected,
                example_service(tmp, jwks_url, protect=False) as unprotected,
            ):
                return measure(issuer, protected, unprotected, token, tmp, args)


def measure(
    issuer: LiveServer, protected: LiveServer, unprotected: LiveServer, token: str, tmp: Path, args: argparse.Namespace
) -> int:
    before = jwks_fetches(issuer)
    # The routes answer what they should before anything is timed.
    assert protected.get("/orders", headers={"Authorization": f"Bearer {token}"}).status == 200
    assert protected.get("/orders").status == 401
    assert unprotected.get("/orders").status == 200
    rates: dict[str, list[float]] = {"protected": [], "unprotected": []}
    for _ in range(args.rounds):
        for name, server, sent in (("unprotected", unprotected, None), ("protected", protected, token)):
            result = run_wrk(server.base_url + "/orders", args.seconds, args.connections, token=sent)
            if result.non_2xx:
                raise RuntimeError(f"{name}: {result.non_2xx} of {result.requests} requests were not 2xx")
            rates[name].append(result.requests_per_second)
            print(
                f"{name:12} {result.requests_per_second:9.0f} req/s  p50 {result.latency_p50}  p99 {result.latency_p99}"
            )
    steady_fetches = jwks_fetches(issuer) - before
    flood_started = time.monotonic()
    flood = run_wrk(
        protected.base_url + "/orders",
        args.seconds,
        args.connections,
        script=flood_script(tmp, random_kid_tokens(token, 1000)),
    )
    flood_seconds = time.monotonic() - flood_started
    flood_fetches = jwks_fetches(issuer) - before - steady_fetches
    mean = {name: sum(values) / len(values) for name, values in rates.items()}
    print()
    print(f"protected / unprotected throughput: {mean['protected'] / mean['unprotected']:.2f}")
    print(
        f"  mean req/s: protected {mean['protected']:.0f}, unprotected {mean['unprotected']:.0f} "
        f"({args.rounds} rounds of {args.seconds} s, {args.connections} connections, 2 gunicorn workers each)"
    )
    print(f"JWKS fetches at the issuer for the checks and timed runs: {steady_fetches} (2 workers, a cache each)")
    print(
        f"random-kid flood: {flood.requests} requests ({flood.non_2xx} refused with 401) over {flood_seconds:.0f} s, "
        f"1000 distinct kids -> {flood_fetches} JWKS fetches at the issuer (cooldown 30 s per worker)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
