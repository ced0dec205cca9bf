"""Calls to the model deployments on behalf of the API.

Which version answers comes from the registry's model_deployments (cached for a second, so a
promotion, canary or rollback reaches every replica within about a second without a query
per request); the request goes to the family's ModelServer deployment (ml/serving.py) with
the version as its multiplexed model id.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any, Sequence

import asyncpg
import numpy as np
from ray.serve.handle import DeploymentHandle

from db.errors import DomainError
from ml import serving_metrics
from ml.inputs import Instance, InputError, to_array
from ml.registry import ModelRegistry, RegistryError, ServedModel, ServedVersion, Serving

log = logging.getLogger(__name__)


class ModelCatalog:
    """The registry's serving versions, refreshed at most once per `ttl_seconds`, and at once after
    this process changed them."""

    def __init__(self, registry: ModelRegistry, ttl_seconds: float = 1.0):
        self.registry = registry
        self.ttl_seconds = ttl_seconds
        self._served: dict[str, ServedModel] = {}
        self._loaded_at = -float("inf")
        self._changed_here = False  # by promote() or rollback(): read again at once
        self._lock = asyncio.Lock()

    def _due(self) -> bool:
        return self._changed_here or time.monotonic() - self._loaded_at > self.ttl_seconds

    async def served(self) -> dict[str, ServedModel]:
        """While the database is unreachable, the versions last read keep serving."""
        if self._due():
            async with self._lock:
                if self._due():
                    self._changed_here = False
                    try:
                        self._served = await self.registry.served()
                    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                        if self._loaded_at == -float("inf"):
                            raise
                        log.warning("reading the serving model versions failed; keeping the last ones", exc_info=True)
                    self._loaded_at = time.monotonic()
        return self._served

    async def promote(self, name: str, version: int, traffic_pct: int) -> Serving:
        """The registry's promote(); this process serves the change from its next request, the
        others within `ttl_seconds`."""
        serving = await self.registry.promote(name, version, traffic_pct)
        self._changed_here = True
        return serving

    async def rollback(self, name: str) -> Serving:
        serving = await self.registry.rollback(name)
        self._changed_here = True
        return serving


class ModelClient:
    """Validates instances against the chosen version's input spec and asks its deployment."""

    def __init__(self, catalog: ModelCatalog, deployments: dict[str, DeploymentHandle]):
        self.catalog = catalog
        self.deployments = deployments

    def check_known(self, name: str) -> None:
        """NOT_FOUND unless `name` is a model this API serves."""
        if name not in self.deployments:
            raise DomainError("NOT_FOUND", f"Unknown model {name!r}; models: {', '.join(self.deployments)}")

    async def predict(self, name: str, instances: Sequence[Instance]) -> dict[str, Any]:
        self.check_known(name)
        served = (await self.catalog.served()).get(name)
        if served is None:
            raise DomainError("UNAVAILABLE", f"Model {name!r} has no promoted version (fleetray model promote)")
        chosen = served.choose(random.random())
        try:
            rows = to_array(chosen.input, instances)
        except InputError as exc:
            raise DomainError("INVALID_REQUEST", str(exc)) from exc
        try:
            outputs = await self._ask(name, chosen, rows)
        except RegistryError as exc:  # the version's artifact is missing, corrupted or of an older layout
            if chosen is served.stable:
                raise DomainError("UNAVAILABLE", f"Model {name} v{chosen.version} cannot be loaded: {exc}") from exc
            chosen = served.stable  # a canary that cannot load leaves its share to the stable version
            outputs = await self._ask(name, chosen, to_array(chosen.input, instances))
        serving_metrics.MODEL_PREDICTIONS.inc(
            len(instances), tags={"model": name, "version": str(chosen.version), "role": chosen.role})
        return {"model": name, "version": chosen.version, "role": chosen.role, "thresholds": chosen.thresholds,
                "predictions": [dict(zip(outputs, values)) for values in zip(*outputs.values())]}

    async def _ask(self, name: str, version: ServedVersion, rows: np.ndarray) -> dict[str, list[float]]:
        # _by_reference=False: Serve's gRPC transport between replicas instead of a Ray actor call
        # (RAY_SERVE_THROUGHPUT_OPTIMIZED would make it the default, but the handles bound in the
        # driver keep the driver's default). It is the faster of the two for these small requests
        # (`make bench-predict` measures it); the replicas run that server in either ingress mode.
        handle = self.deployments[name].options(multiplexed_model_id=str(version.version), _by_reference=False)
        return await handle.predict.remote(rows)
