"""A real JWKS endpoint on loopback for tests, whose answer each test sets: the key set,
an HTTP error, a body that is not JSON, or silence; and RSA keys to sign tokens with."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://idp.test/"
AUDIENCE = "serverless-im"


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def token(self, user: int, ttl: int = 600, **claims: Any) -> str:
        now = int(time.time())
        body = {"sub": str(user), "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + ttl}
        return jwt.encode({**body, **claims}, self.private, "RS256", headers={"kid": self.kid})


class JwksEndpoint:
    """Answers GET with `status` and `body` (the key set of `keys` by default); with
    `delay` seconds of silence first."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.status = 200
        self.body: bytes | None = None  # None: the key set
        self.delay = 0.0
        self.requests = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name BaseHTTPRequestHandler calls
                endpoint.requests += 1
                time.sleep(endpoint.delay)
                body = endpoint.body
                if body is None:
                    body = json.dumps({"keys": [k.jwk() for k in endpoint.keys]}).encode()
                try:
                    self.send_response(endpoint.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up waiting (the timeout tests)

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/.well-known/jwks.json"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@contextmanager
def jwks_endpoint(*keys: SigningKey) -> Iterator[JwksEndpoint]:
    endpoint = JwksEndpoint(*keys)
    endpoint.start()
    try:
        yield endpoint
    finally:
        endpoint.stop()
