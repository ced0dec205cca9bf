"""The webhook signature check (serve_apps/webhooks.py) and where its secrets come from."""

import stat

import pytest

from cluster.settings import StackSettings, parse_webhook_secrets
from serve_apps.errors import ApiError
from serve_apps.webhooks import MAX_SKEW_SECONDS, signature, verify

SECRET = "s3cret"
BODY = b'{"vehicle_id":"van-1","readings":[]}'
NOW = 1_800_000_000
TS = str(NOW)


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    # The README's recipe computes the same:
    # printf '1800000000.{"vehicle_id":"van-1","readings":[]}' | openssl dgst -sha256 -hmac s3cret
    assert signature(SECRET, TS, BODY) == "sha256=4aed256a15bb5e6ff0045e2b0ed741b3d48511b38974fcfb89d8791b4d3db33e"


@pytest.mark.parametrize("skew", [0, MAX_SKEW_SECONDS, -MAX_SKEW_SECONDS])
def test_a_signed_body_within_the_window_passes(skew):
    verify(SECRET, TS, signature(SECRET, TS, BODY), BODY, now=NOW + skew)


@pytest.mark.parametrize("secret, timestamp, sent, body, why", [
    (SECRET, TS, signature(SECRET, TS, BODY), BODY + b" ", "Invalid webhook signature"),
    (SECRET, TS, signature("other", TS, BODY), BODY, "Invalid webhook signature"),
    (None, TS, signature(SECRET, TS, BODY), BODY, "Invalid webhook signature"),  # tenant without a secret
    (SECRET, TS, signature(SECRET, str(NOW + 1), BODY), BODY, "Invalid webhook signature"),
    (SECRET, TS, signature(SECRET, TS, BODY).removeprefix("sha256="), BODY, "Invalid webhook signature"),
    (SECRET, TS, "sha256=\u00e9", BODY, "Invalid webhook signature"),
    (SECRET, None, signature(SECRET, TS, BODY), BODY, "Missing"),
    (SECRET, TS, None, BODY, "Missing"),
    (SECRET, str(NOW - MAX_SKEW_SECONDS - 1), signature(SECRET, str(NOW - MAX_SKEW_SECONDS - 1), BODY), BODY, "within"),
    (SECRET, str(NOW + MAX_SKEW_SECONDS + 1), signature(SECRET, str(NOW + MAX_SKEW_SECONDS + 1), BODY), BODY, "within"),
    (SECRET, "1_800_000_000", signature(SECRET, "1_800_000_000", BODY), BODY, "within"),
    (SECRET, "soon", signature(SECRET, "soon", BODY), BODY, "within"),
])
def test_anything_else_is_unauthenticated(secret, timestamp, sent, body, why):
    with pytest.raises(ApiError) as caught:
        verify(secret, timestamp, sent, body, now=NOW)
    assert caught.value.code == "UNAUTHENTICATED" and why in caught.value.message


def test_secrets_are_read_from_the_environment():
    settings = StackSettings.from_env({"FLEETRAY_WEBHOOK_SECRETS": "acme:a1, beta:b:2", "FLEETRAY_JWT_SECRET": "j"})
    assert settings.webhook_secrets == {"acme": "a1", "beta": "b:2"}
    with pytest.raises(ValueError, match="tenant:secret"):
        parse_webhook_secrets("acme:a1,beta")


def test_the_local_stack_gets_a_private_secret_for_the_demo_tenant(tmp_path):
    settings = StackSettings.from_env({"FLEETRAY_STATE_DIR": str(tmp_path), "FLEETRAY_JWT_SECRET": "j"})
    path = tmp_path / "webhook_secret"
    assert settings.webhook_secrets == {"demo": path.read_text()} and len(path.read_text()) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert StackSettings.from_env({"FLEETRAY_STATE_DIR": str(tmp_path)}).webhook_secrets == settings.webhook_secrets
