"""RS256 tokens checked against a real JWKS endpoint (an identity provider's, served here on
loopback with a freshly generated key)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from serve_apps.auth import AuthConfig, InvalidToken, TokenVerifier

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def jwks_url():
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(KEY.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/realms/fleet/protocol/openid-connect/certs"
    server.shutdown()


def rs256(key, **overrides):
    claims = {"sub": "alice", "tenant": "t1", "aud": "fleetray", "iss": "https://idp.example/realms/fleet",
              "exp": int(time.time()) + 60, **overrides}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def test_rs256_token_from_the_identity_provider_is_accepted(jwks_url):
    verifier = TokenVerifier(AuthConfig(algorithm="RS256", jwks_url=jwks_url,
                                          issuer="https://idp.example/realms/fleet"))
    assert verifier.verify(rs256(KEY)).user_id == "alice"
    with pytest.raises(InvalidToken):
        verifier.verify(rs256(OTHER_KEY))
    with pytest.raises(InvalidToken):
        verifier.verify(jwt.encode({"sub": "alice", "aud": "fleetray", "exp": int(time.time()) + 60},
                                   "a-shared-secret-that-is-long-enough!", algorithm="HS256",
                                   headers={"kid": "k1"}))
