"""A served version of every family, so a fresh `make run` gives the demo fleet predictions
without a manual step: a family that has never been promoted gets its newest registered
version promoted, or, when none is registered, a model trained (with progress lines),
registered and promoted. The stack's default size is "medium": the "small" engine model only
notices the demo fleet's failing engine in its last days, the medium one about halfway."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable

from ml import train
from ml.datasets import FAMILIES
from ml.registry import ModelRegistry


DEFAULT_SIZE = "medium"


async def ensure_served_models(registry: ModelRegistry, work_dir: Path, size: str = DEFAULT_SIZE,
                               progress: Callable[[str], None] = print) -> dict[str, int]:
    """Returns the version now serving each family that had none."""
    served = await registry.served()
    promoted = {}
    for family in FAMILIES:
        if family in served:
            continue
        registered = await registry.list(family)
        if registered:
            version = registered[-1].version
            progress(f"{family}: no promoted version; promoting the newest registered one, v{version}")
        else:
            progress(f"{family}: the registry has no model; training a {size} default (about a minute on 2 cores)")
            artifact = await asyncio.to_thread(train.train, family, size, work_dir / family, progress=progress)
            version = await registry.register(artifact)
        await registry.promote(family, version)
        promoted[family] = version
    return promoted
