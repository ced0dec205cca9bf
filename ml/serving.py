"""Each model family as a Ray Serve deployment: versions loaded by id through Serve's model
multiplexing (the id is the registry version), requests batched with `@serve.batch` (one batch
per version, counted in rows), autoscaling, and a GPU when the cluster has one.

A replica fetches a version from the registry (files hash-checked, so a corrupted or missing
artifact is refused with the registry's error) into a temporary directory, loads it into memory
and keeps the three most recently used versions loaded: promoting, canarying or rolling back
only changes which id the API asks for, so requests in flight never see a half-loaded model.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from typing import Any

import numpy as np
import ray
import torch
from ray import serve
from ray.serve import Application

from db.pool import create_pool
from ml import train
from ml.datasets import FAMILIES
from ml.deployments import DEPLOYMENT_DEFAULTS, deployment_name
from ml.registry import ModelRegistry

log = logging.getLogger(__name__)

MAX_BATCH_ROWS = 256
# No waiting for a batch to fill: under load requests queue while a batch runs and the next
# batch takes them all; an idle replica answers a lone request at once.
BATCH_WAIT_SECONDS = 0.0
VERSIONS_PER_REPLICA = 3
# Three families share one GPU when the cluster has any; Serve packs fractional GPUs.
GPU_SHARE = 0.3
AUTOSCALING = {"min_replicas": 1, "max_replicas": 4, "target_ongoing_requests": 16}


def device() -> str:
    """Where this process runs its models: the GPU Ray assigned it, else the CPU."""
    return "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"


@serve.deployment(**{**DEPLOYMENT_DEFAULTS, "max_ongoing_requests": 64}, autoscaling_config=AUTOSCALING)
class ModelServer:
    """Serves every registered version of one family (model name = family name)."""

    def __init__(self, family: str, database_url: str, registry_uri: str):
        self.family = family
        self.device = device()
        self._database_url = database_url
        self._registry_uri = registry_uri
        self._registry: ModelRegistry | None = None
        self._registry_lock = asyncio.Lock()

    async def registry(self) -> ModelRegistry:
        async with self._registry_lock:
            if self._registry is None:
                pool = await create_pool(self._database_url, min_size=1, max_size=2)
                self._registry = ModelRegistry(pool, self._registry_uri)
        return self._registry

    @serve.multiplexed(max_num_models_per_replica=VERSIONS_PER_REPLICA)
    async def version(self, version: str) -> train.Family:
        """Fetch (hash-checked) and load one registry version; Serve caches it (LRU)."""
        registry = await self.registry()
        with tempfile.TemporaryDirectory(prefix=f"fleetray-{self.family}-v{version}-") as local:
            await registry.fetch(self.family, int(version), local)
            model, _ = await asyncio.to_thread(train.load, local)  # read into memory: the files can go
        model.to(self.device)
        log.info("loaded %s v%s on %s", self.family, version, self.device)
        return model

    @serve.batch(max_batch_size=MAX_BATCH_ROWS, batch_wait_timeout_s=BATCH_WAIT_SECONDS,
                 batch_size_fn=lambda batch: sum(len(rows) for rows in batch))
    async def predict(self, batch: list[np.ndarray]) -> list[dict[str, list[float]]]:
        """Each caller passes one validated input array (N feature rows, or N windows (N, C, T))
        and gets each target's N outputs. Serve splits batches by multiplexed model id, so every
        request here asks for the same version."""
        model = await self.version(serve.get_multiplexed_model_id())
        outputs = model.predict(np.concatenate(batch))
        bounds = np.cumsum([0] + [len(rows) for rows in batch])
        return [{target: values[start:end].tolist() for target, values in outputs.items()}
                for start, end in zip(bounds[:-1], bounds[1:])]

    async def serving_device(self) -> str:
        return self.device


def bind_model_servers(database_url: str, registry_uri: str) -> dict[str, Application]:
    """One deployment per family, given a share of a GPU when the cluster has GPUs."""
    gpus = ray.cluster_resources().get("GPU", 0) if ray.is_initialized() else 0
    options: dict[str, Any] = {"ray_actor_options": {**DEPLOYMENT_DEFAULTS["ray_actor_options"],
                                                     "num_gpus": GPU_SHARE}} if gpus else {}
    return {family: ModelServer.options(name=deployment_name(family), **options).bind(
        family, database_url, registry_uri) for family in FAMILIES}
