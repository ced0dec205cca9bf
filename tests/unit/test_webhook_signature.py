"""The webhook signature check (serve_apps/webhooks.py)."""

import pytest

from serve_apps.errors import ApiError
from serve_apps.webhooks import MAX_SKEW_SECONDS, signature, verify

SECRET = "s3cret"
BODY = b'{"vehicle_id":"van-1","readings":[]}'
NOW = 1_800_000_000
TS = str(NOW)


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    # The recipe in docs/api.md computes the same:
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
