"""Stack settings: read once from the environment at the edge, then passed down explicitly."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from actors.vehicle_rules import AlertRules

RAY_NAMESPACE = "fleetray"
BOOKING_EVENTS_TOPIC = "booking-events"
LOCAL_WEBHOOK_TENANT = "demo"  # the demo fleet's tenant (cluster/stack.py DEMO_TENANT)
VEHICLE_ALERTS_TOPIC = "vehicle-alerts"


class AuthSettings(BaseModel):
    """How bearer tokens are checked: HS256 with a shared secret, or RS256 against a JWKS URL."""

    algorithm: str = "HS256"
    secret: str | None = None
    jwks_url: str | None = None
    audience: str = "fleetray"
    issuer: str = "fleetray-local"


class StackSettings(BaseModel):
    """Everything the launcher, the Serve apps and the actors need to know about their world."""

    state_dir: Path = Path(".fleetray")
    # Where ml/registry.py stores model versions: a directory or any fsspec URI (s3://...).
    model_registry_uri: str = Field(default_factory=lambda data: str(Path(data["state_dir"]) / "registry"))
    # Train, register and promote a default model (ml/defaults.py, size DEFAULT_SIZE) of each
    # family that has no promoted version when the stack starts; FLEETRAY_TRAIN_MISSING_MODELS=0
    # skips it.
    train_missing_models: bool = True
    database_url: str | None = None
    kafka_bootstrap_servers: str | None = None
    ray_address: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    metrics_port: int = 9464
    dashboard_port: int = 8265
    # "direct": Serve's direct ingress behind HAProxy (RAY_SERVE_ENABLE_DIRECT_INGRESS,
    # RAY_SERVE_ENABLE_HA_PROXY), about 2.5x the cancel throughput of "proxy", Serve's default
    # HTTP proxy, on this machine (`make bench-cancel` with --ingress proxy|direct compares them).
    serve_ingress: Literal["proxy", "direct"] = "direct"
    booking_shards: int = 2
    vehicle_shards: int = 2
    # ELM327-emulator adapters `fleetray run` starts and reads into tenant "demo" (0: none).
    demo_fleet: int = 3
    outbox_relays: int = 2
    entity_idle_seconds: float = 300.0
    relay_poll_seconds: float = 1.0
    relay_batch_size: int = 100
    # Every this many seconds the maintenance sweep predicts the active vehicles with new readings
    # and raises their maintenance alerts (actors/maintenance_sweep.py); 0: no sweep.
    maintenance_sweep_seconds: float = 60.0
    auth: AuthSettings = Field(default_factory=AuthSettings)
    # Overrides of the vehicle alert rules' defaults (actors/vehicle_rules.py AlertRules), e.g.
    # {"coolant_max_c": 105}; FLEETRAY_ALERT_RULES takes them as JSON.
    alert_rules: dict[str, float] = Field(default_factory=dict)

    @field_validator("alert_rules")
    @classmethod
    def _known_rules(cls, rules: dict[str, float]) -> dict[str, float]:
        unknown = set(rules) - {f.name for f in dataclasses.fields(AlertRules)}
        if unknown:
            raise ValueError(f"unknown alert rule(s) {sorted(unknown)}")
        return rules
    # Addresses (comma-separated IPs or CIDR networks) of the proxies whose X-Forwarded-For the
    # API believes, for the client address it audits; "" (the default) believes nobody's, so a
    # client cannot choose the address recorded for it.
    trusted_proxies: str = ""
    # Shared secret per tenant for signed telematics webhooks (serve_apps/webhooks.py).
    webhook_secrets: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "StackSettings":
        env = dict(os.environ if env is None else env)
        state_dir = Path(env.get("FLEETRAY_STATE_DIR", ".fleetray")).resolve()
        auth = AuthSettings(
            algorithm="RS256" if env.get("FLEETRAY_JWKS_URL") else "HS256",
            jwks_url=env.get("FLEETRAY_JWKS_URL"),
            audience=env.get("FLEETRAY_JWT_AUDIENCE", "fleetray"),
            issuer=env.get("FLEETRAY_JWT_ISSUER", "fleetray-local"),
        )
        if auth.algorithm == "HS256":
            auth.secret = env.get("FLEETRAY_JWT_SECRET") or local_secret(state_dir, "jwt_secret")
        registry = env.get("FLEETRAY_MODEL_REGISTRY_URI")
        return cls(
            state_dir=state_dir,
            **({"model_registry_uri": registry} if registry else {}),
            database_url=env.get("DATABASE_URL") or None,
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            ray_address=env.get("RAY_ADDRESS") or None,
            http_port=int(env.get("FLEETRAY_HTTP_PORT", "8000")),
            metrics_port=int(env.get("FLEETRAY_METRICS_PORT", "9464")),
            serve_ingress=env.get("FLEETRAY_SERVE_INGRESS", "direct"),
            booking_shards=int(env.get("FLEETRAY_BOOKING_SHARDS", "2")),
            vehicle_shards=int(env.get("FLEETRAY_VEHICLE_SHARDS", "2")),
            demo_fleet=int(env.get("FLEETRAY_DEMO_FLEET", "3")),
            train_missing_models=env.get("FLEETRAY_TRAIN_MISSING_MODELS", "1") != "0",
            outbox_relays=int(env.get("FLEETRAY_OUTBOX_RELAYS", "2")),
            maintenance_sweep_seconds=float(env.get("FLEETRAY_MAINTENANCE_SWEEP_SECONDS", "60")),
            trusted_proxies=env.get("FLEETRAY_TRUSTED_PROXIES", ""),
            auth=auth,
            alert_rules=json.loads(env.get("FLEETRAY_ALERT_RULES") or "{}"),
            webhook_secrets=parse_webhook_secrets(env["FLEETRAY_WEBHOOK_SECRETS"])
            if env.get("FLEETRAY_WEBHOOK_SECRETS")
            else {LOCAL_WEBHOOK_TENANT: local_secret(state_dir, "webhook_secret")},
        )


def parse_webhook_secrets(text: str) -> dict[str, str]:
    """FLEETRAY_WEBHOOK_SECRETS: "tenant:secret,tenant2:secret2" (a secret may contain ':')."""
    secrets_of: dict[str, str] = {}
    for item in text.split(","):
        tenant, _, secret = item.strip().partition(":")
        if not tenant or not secret:
            raise ValueError(f"FLEETRAY_WEBHOOK_SECRETS: expected tenant:secret, got {item.strip()!r}")
        secrets_of[tenant] = secret
    return secrets_of


def local_secret(state_dir: Path, name: str) -> str:
    """A secret of this checkout's local stack, created on first use (mode 0600)."""
    path = state_dir / name
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()
