"""The adapters file of `fleetray bridge --config FILE` (YAML or JSON): which real adapters to
read into which vehicles. Validated up front so that a typo fails the command with a message
naming the entry, instead of surfacing later as an adapter that never connects."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml
from obd.elm327 import ELM327
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from db.readings import VEHICLE_ID_PATTERN

SOCKET_URL = re.compile(r"^socket://[^\s:/]+:\d{1,5}$")  # Wi-Fi adapters, through pyserial's URL handlers
PROTOCOLS = tuple(ELM327._SUPPORTED_PROTOCOLS)  # ELM327 "AT SP" ids python-obd can decode


class AdapterEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vehicle_id: str = Field(pattern=VEHICLE_ID_PATTERN)
    tenant_id: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=200, description="default: the vehicle id")
    port: str = Field(min_length=1, description="/dev/ttyUSB0, /dev/rfcomm0 (Bluetooth) or socket://HOST:PORT (Wi-Fi)")
    baudrate: int | None = Field(default=38400, gt=0, description="null: python-obd probes it (serial only)")
    protocol: str | None = Field(default=None, description=f"one of {', '.join(PROTOCOLS)}; null: auto")
    fast_hz: float = Field(default=5.0, gt=0, le=50)
    slow_hz: float = Field(default=0.5, gt=0, le=50)
    dtc_seconds: float = Field(default=10.0, ge=1)

    @field_validator("port")
    @classmethod
    def _port(cls, port: str) -> str:
        if "://" in port and not SOCKET_URL.match(port):
            raise ValueError(f"{port!r} is neither a device path nor socket://HOST:PORT")
        return port

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol(cls, protocol: Any) -> str | None:
        if protocol is None:
            return None
        if str(protocol).upper() not in PROTOCOLS:
            raise ValueError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)} or leave it out")
        return str(protocol).upper()

    @model_validator(mode="after")
    def _baudrate_over_tcp(self) -> "AdapterEntry":
        if self.baudrate is None and self.port.startswith("socket://"):
            raise ValueError("baudrate: null (probing) fails over socket://; give any number, TCP ignores it")
        return self

    def adapter_config(self) -> dict[str, Any]:
        """The reader's settings (AdapterConfig fields)."""
        return self.model_dump(include={"vehicle_id", "port", "baudrate", "protocol", "fast_hz", "slow_hz",
                                        "dtc_seconds"})


class BridgeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    adapters: list[AdapterEntry] = Field(min_length=1)
    adapters_per_actor: int = Field(default=50, ge=1, le=1000)

    @model_validator(mode="after")
    def _unique(self) -> "BridgeConfig":
        for key in ("vehicle_id", "port"):
            twice = sorted(v for v, n in Counter(getattr(a, key) for a in self.adapters).items() if n > 1)
            if twice:
                raise ValueError(f"each {key} may appear once; repeated: {', '.join(twice)}")
        return self

    def groups(self) -> list[tuple[str, list[AdapterEntry]]]:
        """(tenant, adapters) per bridge actor: a bridge feeds one tenant, at most
        adapters_per_actor adapters."""
        by_tenant: dict[str, list[AdapterEntry]] = defaultdict(list)
        for adapter in self.adapters:
            by_tenant[adapter.tenant_id].append(adapter)
        n = self.adapters_per_actor
        return [(tenant, adapters[i:i + n]) for tenant, adapters in by_tenant.items()
                for i in range(0, len(adapters), n)]


class ConfigError(Exception):
    """An unreadable or invalid adapters file; the message says where."""


def load_config(path: Path) -> BridgeConfig:
    """Read a YAML or JSON adapters file: a mapping with `adapters` (and optionally
    `adapters_per_actor`), or just the list of adapters."""
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from exc
    if isinstance(data, list):
        data = {"adapters": data}
    try:
        return BridgeConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join([f"{path}: invalid adapters file"]
                                    + [f"  {_describe(e, data)}" for e in exc.errors()])) from exc


def _describe(error: Any, data: Any) -> str:
    """One validation error, naming the adapter entry (by position and vehicle id) it is about."""
    loc, message = error["loc"], error["msg"].removeprefix("Value error, ")
    if len(loc) >= 2 and loc[0] == "adapters" and isinstance(loc[1], int):
        entry = data["adapters"][loc[1]]
        vehicle = entry.get("vehicle_id") if isinstance(entry, dict) else None
        where = f"adapter {loc[1] + 1}" + (f" (vehicle_id {vehicle!r})" if vehicle else "")
        field = ".".join(str(part) for part in loc[2:])
        return f"{where}{', ' + field if field else ''}: {message}"
    return f"{'.'.join(str(part) for part in loc) or 'file'}: {message}"
