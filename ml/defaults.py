"""A served version of every family, so a fresh `make run` gives the demo fleet predictions
without a manual step: a family that has never been promoted, or whose stable version is of an
input layout this release cannot run (a registry from an older checkout), gets its newest
registered version that fits promoted, or, when none fits, a model trained (with progress
lines), registered and promoted (of the size the stack's settings name, FLEETRAY_DEFAULT_MODEL_SIZE)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable, Iterable

from ml import train
from ml.datasets import FAMILIES
from ml.inputs import layout_problem
from ml.registry import ModelRegistry


async def ensure_served_models(registry: ModelRegistry, work_dir: Path, size: str,
                               progress: Callable[[str], None] = print,
                               families: Iterable[str] = FAMILIES) -> dict[str, int]:
    """Returns the version now serving each family that had none it could run."""
    served = await registry.served()
    promoted = {}
    for family in families:
        if family in served:
            stable = served[family].stable
            problem = layout_problem(family, stable.input)
            if not problem:
                continue
            progress(f"{family}: the promoted v{stable.version} cannot serve in this release ({problem})")
        fitting = [v for v in await registry.list(family) if not layout_problem(family, v.metadata["input"])]
        if fitting:
            version = fitting[-1].version
            progress(f"{family}: promoting the newest registered version that fits, v{version}")
        else:
            progress(f"{family}: the registry has no model that fits; training a {size} default")
            artifact = await asyncio.to_thread(train.train, family, size, work_dir / family, progress=progress)
            version = await registry.register(artifact)
        await registry.promote(family, version)
        promoted[family] = version
    return promoted
