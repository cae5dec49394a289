"""Routes called through WSGI in-process (no sockets, no gunicorn): µs per request.

Far less noisy than HTTP on a shared machine, and it isolates what the app adds per request: the same
environ is passed to the app again and again, each case in turn for several rounds, the service's
routes beside bare Flask's identical one (benchmarks/bare_flask.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.test import EnvironBuilder

from benchmarks import bare_flask
from benchmarks.app import build_app

ROUNDS = 5
CALLS = 1000


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    tokens: Iterable[str] | None = None  # an Authorization header per call, from here
    bare: bool = False  # served by bare Flask instead of the service
    scheme: str = "Bearer"  # the Authorization scheme the tokens are sent with (Basic: a secret API key)


def _start_response(status: str, headers: Any, exc_info: Any = None) -> None:
    if not status.startswith("200"):
        raise RuntimeError(f"in-process benchmark: {status}")


def _call(app: Any, environ: Mapping[str, Any]) -> None:
    for _ in app(dict(environ), _start_response):
        pass


def _environ(path: str, tokens: Iterator[str] | None, scheme: str) -> dict[str, Any]:
    headers = [] if tokens is None else [("Authorization", f"{scheme} {next(tokens)}")]
    return EnvironBuilder(path=path, headers=headers).get_environ()


def measure(settings: Mapping[str, Any], routes: list[Route]) -> dict[str, list[float]]:
    """µs per request of each route, one value per round (``ROUNDS`` rounds of ``CALLS`` calls)."""
    apps = {False: build_app(settings), True: bare_flask.app}
    samples: dict[str, list[float]] = {route.name: [] for route in routes}
    token_streams = {route.name: iter(route.tokens) for route in routes if route.tokens is not None}
    for _ in range(ROUNDS):
        for route in routes:
            stream = token_streams.get(route.name)
            environs = [_environ(route.path, stream, route.scheme) for _ in range(CALLS)]
            app = apps[route.bare]
            started = time.perf_counter()
            for environ in environs:
                _call(app, environ)
            samples[route.name].append((time.perf_counter() - started) / CALLS * 1e6)
    return samples
