"""Model registry: immutable, hash-checked versions of the artifact directories ml/train.py
writes, stored under `<root>/<name>/<version>/` on any fsspec filesystem (a local directory by
default, s3://, memory:// ...), with their metadata in PostgreSQL (db/migrations/0007).

Versions are allocated under a per-name transaction lock, so concurrent registrations of one
name never share a number. Which version serves a name (stable, plus an optional canary with a
traffic share) lives in model_deployments; every change is appended to
model_deployment_history, which rollback replays. File hashes are stored at registration and
checked again before a version is promoted or fetched, so a corrupted or missing file is
refused instead of served.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import posixpath
import re
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import AsyncIterator, Iterable

import asyncpg
import fsspec
from fsspec.implementations.local import LocalFileSystem

from ml.inputs import layout_problem

REGISTRY_LOCK_ID = 0x0F1EE8  # advisory lock namespace: (this, hashtext(name)) per model name
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")  # a path component; mirrors the SQL CHECK
CHUNK = 1 << 20
REQUIRED_METADATA = ("family", "model_files", "metrics", "data_fingerprint")


class RegistryError(Exception):
    """A registry request that cannot be carried out; the message says why."""


class InvalidArtifact(RegistryError):
    """The directory is not an artifact ml/train.py wrote (no or unreadable metadata.json)."""


class MissingArtifact(RegistryError):
    """A file the artifact needs is not there."""


class CorruptArtifact(RegistryError):
    """A file's content differs from the one registered."""


class IncompatibleArtifact(RegistryError):
    """The artifact was trained for inputs this release's model of its family does not take."""


class UnknownVersion(RegistryError):
    """No such name / version in the registry."""


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    artifact_uri: str
    family: str
    metrics: dict
    data_fingerprint: str
    metadata: dict
    files: dict[str, str]  # path relative to artifact_uri -> sha256
    status: str
    created_at: datetime


@dataclass(frozen=True)
class Serving:
    name: str
    stable_version: int
    canary_version: int | None
    canary_traffic_pct: int
    updated_at: datetime


@dataclass(frozen=True)
class ServedVersion:
    """What the API needs to call one serving version: its input spec and thresholds."""

    version: int
    role: str  # "stable" | "canary"
    input: dict
    thresholds: dict[str, float]


@dataclass(frozen=True)
class ServedModel:
    name: str
    stable: ServedVersion
    canary: ServedVersion | None
    canary_traffic_pct: int

    def choose(self, draw: float) -> ServedVersion:
        """The version one request goes to; draw: uniform in [0, 1)."""
        if self.canary is not None and draw * 100 < self.canary_traffic_pct:
            return self.canary
        return self.stable


def _check_layout(model: ModelVersion) -> None:
    problem = layout_problem(model.family, model.metadata["input"])
    if problem:
        raise IncompatibleArtifact(f"{model.name} v{model.version} cannot serve: {problem}")


def previous_stable(history: Iterable[tuple[str, int]]) -> int | None:
    """The stable version a rollback returns to, from (action, stable_version) in order:
    promotions push onto a stack and rollbacks pop it, so repeated rollbacks walk back
    through earlier promotions instead of flipping between the last two."""
    stack: list[int] = []
    for action, stable in history:
        if action == "promote" and (not stack or stack[-1] != stable):
            stack.append(stable)
        elif action == "rollback":
            stack.pop()
    return stack[-2] if len(stack) > 1 else None


class ModelRegistry:
    """pool_or_conn: an asyncpg pool or connection from db.pool (JSONB codecs set)."""

    def __init__(self, pool_or_conn: asyncpg.Pool | asyncpg.Connection, root_uri: str | Path):
        self._db = pool_or_conn
        self._fs, root = fsspec.core.url_to_fs(str(root_uri))
        self._root = root.rstrip("/")

    async def register(self, artifact_dir: str | Path, name: str | None = None) -> int:
        """Copy an artifact directory (local path or fsspec URI) into the registry; returns
        the new version of `name` (default: the artifact's family)."""
        src_fs, src = fsspec.core.url_to_fs(str(artifact_dir))
        metadata, paths = await asyncio.to_thread(_inspect, src_fs, src.rstrip("/"), str(artifact_dir))
        name = name or metadata["family"]
        if not NAME_PATTERN.match(name):
            raise RegistryError(f"invalid model name {name!r}: lowercase letters, digits, '-' and '_'")
        async with self._transaction() as conn:
            await _lock(conn, name)
            version = await conn.fetchval(
                "SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE name = $1", name)
            dest = f"{self._root}/{name}/{version}"
            files = await asyncio.to_thread(_store, src_fs, src.rstrip("/"), self._fs, dest, paths)
            await conn.execute(
                """INSERT INTO model_versions (name, version, artifact_uri, family, metrics,
                                               data_fingerprint, metadata, files)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                name, version, self._fs.unstrip_protocol(dest), metadata["family"],
                metadata["metrics"], metadata["data_fingerprint"], metadata, files)
        return version

    async def list(self, name: str | None = None) -> list[ModelVersion]:
        rows = await self._db.fetch(
            "SELECT * FROM model_versions WHERE $1::text IS NULL OR name = $1 ORDER BY name, version", name)
        return [ModelVersion(**dict(r)) for r in rows]

    async def get(self, name: str, version: int) -> ModelVersion:
        row = await self._db.fetchrow("SELECT * FROM model_versions WHERE name = $1 AND version = $2",
                                      name, version)
        if row is None:
            raise UnknownVersion(f"no model {name!r} version {version} in the registry")
        return ModelVersion(**dict(row))

    async def verify(self, name: str, version: int) -> ModelVersion:
        """Re-read every file of the version and check its hash."""
        model = await self.get(name, version)
        fs, root = fsspec.core.url_to_fs(model.artifact_uri)
        await asyncio.to_thread(_check, fs, root, model.files, f"{name} v{version}")
        return model

    async def fetch(self, name: str, version: int, local_dir: str | Path) -> Path:
        """Download a version into local_dir (created if needed) and check the downloaded
        files' hashes, so what a deployment loads is exactly what was registered."""
        model = await self.get(name, version)
        fs, root = fsspec.core.url_to_fs(model.artifact_uri)
        local, out = LocalFileSystem(), str(Path(local_dir).resolve())
        await asyncio.to_thread(_copy_files, fs, root, local, out, model.files)
        await asyncio.to_thread(_check, local, out, model.files, f"{name} v{version} fetched to {out}")
        return Path(out)

    async def serving(self, name: str) -> Serving | None:
        row = await self._db.fetchrow("SELECT * FROM model_deployments WHERE name = $1", name)
        return Serving(**dict(row)) if row else None

    async def served(self) -> dict[str, ServedModel]:
        """Every promoted model with its stable and canary version, in one query."""
        rows = await self._db.fetch(
            """SELECT d.name, d.canary_traffic_pct, v.version, v.version = d.canary_version AS canary,
                      v.metadata -> 'input' AS input, v.metadata -> 'thresholds' AS thresholds
               FROM model_deployments d
               JOIN model_versions v ON v.name = d.name AND v.version IN (d.stable_version, d.canary_version)""")
        versions: dict[str, dict[str, ServedVersion]] = {}
        for r in rows:
            role = "canary" if r["canary"] else "stable"
            versions.setdefault(r["name"], {})[role] = ServedVersion(r["version"], role, r["input"], r["thresholds"] or {})
        pct = {r["name"]: r["canary_traffic_pct"] for r in rows}
        return {name: ServedModel(name, v["stable"], v.get("canary"), pct[name]) for name, v in versions.items()}

    async def promote(self, name: str, version: int, traffic_pct: int | None = None) -> Serving:
        """Without traffic_pct (or 100) the version becomes stable and any canary is cleared;
        with 1-99 it becomes the canary taking that share beside the current stable one. A
        version this release cannot run (an older input layout) is refused."""
        if traffic_pct is not None and not 1 <= traffic_pct <= 100:
            raise RegistryError(f"traffic must be 1-100 %, got {traffic_pct}")
        _check_layout(await self.verify(name, version))
        async with self._transaction() as conn:
            await _lock(conn, name)
            current = await conn.fetchrow("SELECT * FROM model_deployments WHERE name = $1", name)
            if traffic_pct is None or traffic_pct == 100:
                return await _apply(conn, name, "promote", version, None, 0)
            if current is None:
                raise RegistryError(f"{name} has no stable version yet: promote one without --traffic first")
            if current["stable_version"] == version:
                raise RegistryError(f"{name} v{version} is already the stable version")
            return await _apply(conn, name, "canary", current["stable_version"], version, traffic_pct)

    async def rollback(self, name: str) -> Serving:
        """Drop the canary when there is one; otherwise return to the stable version before
        the current one."""
        async with self._transaction() as conn:
            await _lock(conn, name)
            current = await conn.fetchrow("SELECT * FROM model_deployments WHERE name = $1", name)
            if current is None:
                raise RegistryError(f"{name} has never been promoted: nothing to roll back")
            if current["canary_version"] is not None:
                return await _apply(conn, name, "abort_canary", current["stable_version"], None, 0)
            history = await conn.fetch(
                "SELECT action, stable_version FROM model_deployment_history WHERE name = $1 ORDER BY id", name)
            previous = previous_stable((r["action"], r["stable_version"]) for r in history)
            if previous is None:
                raise RegistryError(f"{name} has no earlier stable version to roll back to "
                                    f"(v{current['stable_version']} is the first)")
            _check_layout(await self.get(name, previous))
            return await _apply(conn, name, "rollback", previous, None, 0)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        if isinstance(self._db, asyncpg.Pool):
            async with self._db.acquire() as conn, conn.transaction():
                yield conn
        else:
            async with self._db.transaction():
                yield self._db


async def _lock(conn: asyncpg.Connection, name: str) -> None:
    """Serialises version allocation and deployment changes of one name until commit."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", REGISTRY_LOCK_ID, name)


async def _apply(conn: asyncpg.Connection, name: str, action: str, stable: int, canary: int | None,
                 pct: int) -> Serving:
    """Set what serves `name`, append it to the history and keep each version's status in step."""
    row = await conn.fetchrow(
        """INSERT INTO model_deployments (name, stable_version, canary_version, canary_traffic_pct)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (name) DO UPDATE SET stable_version = $2, canary_version = $3,
                                            canary_traffic_pct = $4, updated_at = now()
           RETURNING *""", name, stable, canary, pct)
    await conn.execute(
        """INSERT INTO model_deployment_history (name, action, stable_version, canary_version, canary_traffic_pct)
           VALUES ($1, $2, $3, $4, $5)""", name, action, stable, canary, pct)
    await conn.execute(
        """UPDATE model_versions SET status = CASE WHEN version = $2 THEN 'stable'
                                                  WHEN version = $3 THEN 'canary'
                                                  WHEN status IN ('stable', 'canary') THEN 'retired'
                                                  ELSE status END
           WHERE name = $1""", name, stable, canary)
    return Serving(**dict(row))


def _inspect(fs: fsspec.AbstractFileSystem, root: str, label: str) -> tuple[dict, list[str]]:
    """metadata.json and the relative paths of all files, after checking the model files
    metadata.json names are among them."""
    if not fs.isdir(root):
        raise MissingArtifact(f"{label}: no such artifact directory")
    paths = sorted(posixpath.relpath(p, root) for p in fs.find(root))
    if "metadata.json" not in paths:
        raise InvalidArtifact(f"{label}: no metadata.json (not an artifact `fleetray model train` wrote)")
    try:
        metadata = json.loads(fs.cat_file(f"{root}/metadata.json"))
        model_files = list(metadata["model_files"].values())
        absent = [key for key in REQUIRED_METADATA if key not in metadata]
        if absent:
            raise KeyError(", ".join(absent))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidArtifact(f"{label}: unreadable metadata.json ({type(exc).__name__}: {exc})") from exc
    missing = [f for f in model_files if f not in paths]
    if missing:
        raise MissingArtifact(f"{label}: model file(s) {', '.join(missing)} listed in metadata.json are missing")
    return metadata, paths


def _store(src_fs: fsspec.AbstractFileSystem, src: str, dst_fs: fsspec.AbstractFileSystem, dst: str,
           paths: list[str]) -> dict[str, str]:
    """Copy into a fresh version directory (left over from a rolled-back registration at
    most) and read the copy back against the source's hashes; returns those hashes."""
    if dst_fs.exists(dst):
        dst_fs.rm(dst, recursive=True)
    files = _copy_files(src_fs, src, dst_fs, dst, paths)
    _check(dst_fs, dst, files, dst_fs.unstrip_protocol(dst))
    return files


def _copy_files(src_fs: fsspec.AbstractFileSystem, src: str, dst_fs: fsspec.AbstractFileSystem, dst: str,
                paths: Iterable[str]) -> dict[str, str]:
    """Stream each file across filesystems; returns the sha256 of what was read."""
    hashes = {}
    for path in paths:
        target = f"{dst}/{path}"
        dst_fs.makedirs(posixpath.dirname(target), exist_ok=True)
        digest = hashlib.sha256()
        try:
            with src_fs.open(f"{src}/{path}", "rb") as reader, dst_fs.open(target, "wb") as writer:
                while chunk := reader.read(CHUNK):
                    digest.update(chunk)
                    writer.write(chunk)
        except FileNotFoundError as exc:
            raise MissingArtifact(f"{src_fs.unstrip_protocol(src)}: {path} is missing") from exc
        hashes[path] = digest.hexdigest()
    return hashes


def _check(fs: fsspec.AbstractFileSystem, root: str, files: dict[str, str], label: str) -> None:
    for path, expected in files.items():
        digest = hashlib.sha256()
        try:
            with fs.open(f"{root}/{path}", "rb") as reader:
                while chunk := reader.read(CHUNK):
                    digest.update(chunk)
        except FileNotFoundError as exc:
            raise MissingArtifact(f"{label}: {path} is missing") from exc
        if digest.hexdigest() != expected:
            raise CorruptArtifact(f"{label}: {path} is corrupted (sha256 {digest.hexdigest()[:12]}..., "
                                  f"registered {expected[:12]}...)")
