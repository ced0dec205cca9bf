"""Stack settings: read once from the environment by the launcher and the CLI, then handed down
as the few values each piece needs (docs/configuration.md has one entry per variable)."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from actors.vehicle_rules import AlertRules
from serve_apps.auth import AuthConfig
from serve_apps.rate_limits import ROUTE_GROUPS, RouteGroupLimits

LOCAL_WEBHOOK_TENANT = "demo"  # the demo fleet's tenant (cluster/stack.py DEMO_TENANT)


def _unprefixed(name: str) -> Any:
    """A variable other programs share, such as DATABASE_URL, read without the FLEETRAY_ prefix."""
    return Field(default=None, validation_alias=AliasChoices(name, name.lower()))


class StackSettings(BaseSettings):
    """Everything the launcher and the CLI need to know about their world. Every field is read
    from FLEETRAY_<FIELD NAME> unless it says otherwise; defaults are written once, here."""

    model_config = SettingsConfigDict(env_prefix="FLEETRAY_", frozen=True, extra="ignore",
                                      populate_by_name=True)

    state_dir: Path = Path(".fleetray")
    # Where ml/registry.py stores model versions: a directory or any fsspec URI (s3://...).
    model_registry_uri: str = Field(default_factory=lambda data: str(Path(data["state_dir"]) / "registry"))
    # Train, register and promote a default model of each family that has no promoted version
    # when the stack starts (ml/defaults.py); 0 skips it. Trained on a simulated fleet of
    # default_model_size (ml/datasets.py SIZES): the "small" engine model only notices the demo
    # fleet's failing engine in its last days, the "medium" one about halfway.
    train_missing_models: bool = True
    default_model_size: Literal["small", "medium", "full"] = "medium"
    database_url: str | None = _unprefixed("DATABASE_URL")
    kafka_bootstrap_servers: str | None = _unprefixed("KAFKA_BOOTSTRAP_SERVERS")
    ray_address: str | None = _unprefixed("RAY_ADDRESS")
    # OpenTelemetry's own variable: the OTLP/HTTP collector that receives fleetray's spans.
    otel_exporter_otlp_endpoint: str | None = _unprefixed("OTEL_EXPORTER_OTLP_ENDPOINT")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    metrics_port: int = 9464
    dashboard_port: int = 8265
    # "direct": Serve's direct ingress behind HAProxy, whose proxy skips a hop per request
    # (`make bench-cancel --ingress proxy|direct` compares them); "proxy": Serve's default proxy.
    serve_ingress: Literal["proxy", "direct"] = "direct"
    booking_shards: int = Field(default=2, ge=1)
    vehicle_shards: int = Field(default=2, ge=1)
    # ELM327-emulator adapters `fleetray run` starts and reads into tenant "demo" (0: none).
    demo_fleet: int = Field(default=3, ge=0)
    outbox_relays: int = Field(default=2, ge=1)
    # Members of each booking-events consumer group, at most the topic's partitions
    # (cluster/system_app.py TOPIC_PARTITIONS); `fleetray scale consumers N` changes it live.
    consumers_per_group: int = Field(default=1, ge=1)
    entity_idle_seconds: float = Field(default=300.0, gt=0)
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    relay_batch_size: int = Field(default=100, ge=1)
    # A booking event a consumer group has not applied this long after it was published, while
    # the group has read all the broker holds, is published again (actors/delivery_audit.py).
    delivery_grace_seconds: float = Field(default=30.0, gt=0)
    # Every this many seconds the maintenance sweep predicts the active vehicles with new readings
    # and raises their maintenance alerts (actors/maintenance_sweep.py); 0: no sweep.
    maintenance_sweep_seconds: float = Field(default=60.0, ge=0)
    # RS256 against this JWKS URL when set; HS256 with jwt_secret otherwise.
    jwks_url: str | None = None
    # None: a secret of this checkout's own, created in the state directory on first use.
    jwt_secret: str | None = None
    jwt_audience: str = "fleetray"
    jwt_issuer: str = "fleetray-local"
    # Overrides of the vehicle alert rules' defaults (actors/vehicle_rules.py AlertRules), as
    # JSON, e.g. {"coolant_max_c": 105}.
    alert_rules: dict[str, float] = Field(default_factory=dict)
    # Addresses (comma-separated IPs or CIDR networks) of the proxies whose X-Forwarded-For the
    # API believes, for the client address it audits; "" believes nobody's, so a client cannot
    # choose the address recorded for it.
    trusted_proxies: str = ""
    # Shared secret per tenant for signed telematics webhooks, "tenant:secret,tenant2:secret2";
    # None: a local secret for the demo tenant.
    webhook_secrets: Annotated[dict[str, str] | None, NoDecode] = None
    # Rate limits per route group, as JSON: {"bookings": {"caller": {"per_second": 100, "burst":
    # 400}, "tenant": {...}}, ...}; a group left out is not limited, {} limits none.
    # None: serve_apps/rate_limits.py DEFAULT_RATE_LIMITS.
    rate_limits: dict[str, RouteGroupLimits] | None = None

    @field_validator("rate_limits")
    @classmethod
    def _known_groups(cls, limits: dict[str, RouteGroupLimits] | None) -> dict[str, RouteGroupLimits] | None:
        unknown = set(limits or ()) - set(ROUTE_GROUPS)
        if unknown:
            raise ValueError(f"unknown route group(s) {sorted(unknown)}; groups: {', '.join(ROUTE_GROUPS)}")
        return limits

    @field_validator("state_dir")
    @classmethod
    def _absolute(cls, state_dir: Path) -> Path:
        return state_dir.resolve()

    @field_validator("alert_rules")
    @classmethod
    def _known_rules(cls, rules: dict[str, float]) -> dict[str, float]:
        unknown = set(rules) - {f.name for f in dataclasses.fields(AlertRules)}
        if unknown:
            raise ValueError(f"unknown alert rule(s) {sorted(unknown)}")
        return rules

    @field_validator("webhook_secrets", mode="before")
    @classmethod
    def _webhook_secrets(cls, value: Any) -> Any:
        return parse_webhook_secrets(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _local_secrets(self) -> "StackSettings":
        """Fill the secrets left unset with this checkout's local ones (frozen: set once, here)."""
        if self.jwks_url is None and not self.jwt_secret:
            object.__setattr__(self, "jwt_secret", local_secret(self.state_dir, "jwt_secret"))
        if self.webhook_secrets is None:
            object.__setattr__(self, "webhook_secrets",
                               {LOCAL_WEBHOOK_TENANT: local_secret(self.state_dir, "webhook_secret")})
        return self

    @property
    def auth(self) -> AuthConfig:
        if self.jwks_url:
            return AuthConfig(algorithm="RS256", jwks_url=self.jwks_url, audience=self.jwt_audience,
                              issuer=self.jwt_issuer)
        return AuthConfig(algorithm="HS256", secret=self.jwt_secret, audience=self.jwt_audience,
                          issuer=self.jwt_issuer)


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
