"""ADR-023 load scenario: users create bookings and cancel them (some cancel twice, to
exercise idempotency). Run headless by `make load-test` (tests/load/run_locust.py), or by hand
against a running stack:

    .venv/bin/locust -f tests/load/locustfile.py --host http://127.0.0.1:8000
"""

from __future__ import annotations

import itertools
import random

from locust import HttpUser, between, task

from cluster.settings import StackSettings
from serve_apps.auth import issue_token
from tests.load.scenario import LOAD_TEST_USER_PREFIX

AUTH = StackSettings().auth
_user_numbers = itertools.count()
REASONS = ["change_of_plans", "double_booking", "found_alternative", "no_longer_needed", "other"]


class BookingUser(HttpUser):
    wait_time = between(1, 3)

    def on_start(self) -> None:
        user_id = f"{LOAD_TEST_USER_PREFIX}{next(_user_numbers)}"
        self.client.headers["Authorization"] = f"Bearer {issue_token(AUTH, user_id)}"

    @task
    def create_and_cancel(self) -> None:
        with self.client.post("/v1/bookings", name="/v1/bookings", catch_response=True, json={
                "resource_id": f"room-{random.randint(1, 500)}",
                "starts_at": "2027-01-10T10:00:00Z", "ends_at": "2027-01-12T10:00:00Z"}) as created:
            if created.status_code != 201:
                created.failure(f"create: {created.status_code} {created.text[:200]}")
                return
        booking_id = created.json()["booking_id"]
        body = {"reason": random.choice(REASONS), "notes": "Load test"}
        repeats = 2 if random.random() < 0.1 else 1
        for _ in range(repeats):
            with self.client.post(f"/v1/bookings/{booking_id}/cancel", json=body,
                                  name="/v1/bookings/{id}/cancel", catch_response=True) as cancelled:
                if cancelled.status_code != 200 or cancelled.json()["status"] != "cancelled":
                    cancelled.failure(f"cancel: {cancelled.status_code} {cancelled.text[:200]}")
