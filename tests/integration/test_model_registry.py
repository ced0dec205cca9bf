"""The model registry against the real PostgreSQL: versions of a small trained model are
copied, hash-checked and numbered per name (also under concurrency), promoted as stable or
canary and rolled back; corrupted or missing files, and versions of an older input layout, are
refused; a memory:// root works; and a fetched artifact predicts exactly like the one trained."""

import asyncio
import json
import shutil

import numpy as np
import pytest

from cluster import cli
from ml.datasets import build
from ml.defaults import ensure_served_models
from ml.features import BRAKE_FEATURES, INPUT_NAMES
from ml.registry import (
    CorruptArtifact, IncompatibleArtifact, InvalidArtifact, MissingArtifact, ModelRegistry, RegistryError, UnknownVersion,
)
from ml.train import load, train
from tests.helpers import unique


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return train("brakes", "small", tmp_path_factory.mktemp("trained") / "brakes", progress=lambda line: None)


@pytest.fixture
def registry(private_pool, tmp_path):
    return ModelRegistry(private_pool, tmp_path / "registry")


def name() -> str:
    return unique("brakes").lower()


async def test_register_copies_and_numbers_versions_per_name(registry, artifact, tmp_path):
    model = name()
    assert [await registry.register(artifact, model) for _ in range(2)] == [1, 2]
    assert await registry.register(artifact, name()) == 1, "numbering is per name"
    v2 = await registry.get(model, 2)
    metadata = json.loads((artifact / "metadata.json").read_text())
    assert v2.family == "brakes" and v2.status == "registered"
    assert v2.data_fingerprint == metadata["data_fingerprint"] and v2.metrics == metadata["metrics"]
    assert v2.artifact_uri == f"file://{tmp_path}/registry/{model}/2"
    stored = tmp_path / "registry" / model / "2"
    assert set(v2.files) == {p.name for p in artifact.iterdir()} == {p.name for p in stored.iterdir()}
    assert [(m.name, m.version) for m in await registry.list(model)] == [(model, 1), (model, 2)]
    with pytest.raises(UnknownVersion, match="version 3"):
        await registry.get(model, 3)


async def test_name_defaults_to_the_family(private_pool, artifact, tmp_path):
    registry = ModelRegistry(private_pool, tmp_path / "own-root")
    version = await registry.register(artifact)
    assert (await registry.get("brakes", version)).artifact_uri.endswith(f"own-root/brakes/{version}")


async def test_concurrent_registers_get_distinct_versions(registry, artifact):
    model = name()
    versions = await asyncio.gather(*(registry.register(artifact, model) for _ in range(4)))
    assert sorted(versions) == [1, 2, 3, 4]
    for version in versions:
        await registry.verify(model, version)


async def test_promote_canary_and_rollback(registry, artifact):
    model = name()
    for _ in range(3):
        await registry.register(artifact, model)
    assert await registry.serving(model) is None
    with pytest.raises(RegistryError, match="no stable version yet"):
        await registry.promote(model, 1, traffic_pct=10)
    with pytest.raises(RegistryError, match="nothing to roll back"):
        await registry.rollback(model)

    await registry.promote(model, 1)
    canary = await registry.promote(model, 2, traffic_pct=10)
    assert (canary.stable_version, canary.canary_version, canary.canary_traffic_pct) == (1, 2, 10)
    assert [m.status for m in await registry.list(model)] == ["stable", "canary", "registered"]
    with pytest.raises(RegistryError, match="already the stable"):
        await registry.promote(model, 1, traffic_pct=50)

    full = await registry.promote(model, 2, traffic_pct=100)
    assert (full.stable_version, full.canary_version, full.canary_traffic_pct) == (2, None, 0)
    await registry.promote(model, 3)
    assert [m.status for m in await registry.list(model)] == ["retired", "retired", "stable"]

    aborted = await registry.promote(model, 1, traffic_pct=30)
    assert (await registry.rollback(model)).canary_version is None, "rollback first drops a canary"
    assert aborted.stable_version == (await registry.serving(model)).stable_version == 3
    assert (await registry.rollback(model)).stable_version == 2
    assert (await registry.rollback(model)).stable_version == 1
    with pytest.raises(RegistryError, match="no earlier stable version"):
        await registry.rollback(model)
    assert [m.status for m in await registry.list(model)] == ["stable", "retired", "retired"]
    with pytest.raises(UnknownVersion):
        await registry.promote(model, 9)


async def test_database_refuses_inconsistent_deployments(private_pool, registry, artifact):
    import asyncpg

    model = name()
    await registry.register(artifact, model)
    await registry.promote(model, 1)
    for values in ("stable_version = 7", "canary_version = 1", "canary_traffic_pct = 20",
                   "canary_traffic_pct = 101"):
        with pytest.raises(asyncpg.IntegrityConstraintViolationError):
            await private_pool.execute(f"UPDATE model_deployments SET {values} WHERE name = $1", model)
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await private_pool.execute("DELETE FROM model_deployment_history WHERE name = $1", model)


async def test_corrupted_and_missing_files_are_refused(registry, artifact, tmp_path):
    model = name()
    await registry.register(artifact, model)
    await registry.register(artifact, model)
    await registry.promote(model, 1)
    booster = tmp_path / "registry" / model / "2" / "wear_pct.ubj"
    data = bytearray(booster.read_bytes())
    data[len(data) // 2] ^= 0x01
    booster.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifact, match=f"{model} v2: wear_pct.ubj is corrupted"):
        await registry.verify(model, 2)
    with pytest.raises(CorruptArtifact):
        await registry.promote(model, 2)
    with pytest.raises(CorruptArtifact):
        await registry.fetch(model, 2, tmp_path / "fetched")
    assert (await registry.serving(model)).stable_version == 1, "the serving version stays"

    (tmp_path / "registry" / model / "1" / "metadata.json").unlink()
    with pytest.raises(MissingArtifact, match="metadata.json is missing"):
        await registry.verify(model, 1)


async def test_broken_artifact_directories_are_not_registered(registry, artifact, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    with pytest.raises(InvalidArtifact, match="no metadata.json"):
        await registry.register(broken, "x")
    (broken / "metadata.json").write_text("{not json")
    with pytest.raises(InvalidArtifact, match="unreadable metadata.json"):
        await registry.register(broken, "x")
    (broken / "metadata.json").write_text((artifact / "metadata.json").read_text())
    with pytest.raises(MissingArtifact, match="wear_pct.ubj listed in metadata.json are missing"):
        await registry.register(broken, "x")
    with pytest.raises(MissingArtifact, match="no such artifact directory"):
        await registry.register(tmp_path / "nowhere", "x")
    with pytest.raises(RegistryError, match="invalid model name"):
        await registry.register(artifact, "../escape")
    assert await registry.list("x") == []


async def test_memory_root_and_fetched_artifact_predicts_the_same(private_pool, artifact, tmp_path):
    registry = ModelRegistry(private_pool, f"memory://{unique('registry')}")
    model = name()
    version = await registry.register(artifact, model)
    stored = await registry.get(model, version)
    assert stored.artifact_uri.startswith("memory://")
    fetched = await registry.fetch(model, version, tmp_path / "fetched")
    x = build("brakes", "small", seed=3)["test"].x[:200]
    original, copy = load(artifact)[0].predict(x), load(fetched)[0].predict(x)
    np.testing.assert_array_equal(original["wear_pct"], copy["wear_pct"])
    assert load(fetched)[1] == json.loads((artifact / "metadata.json").read_text())


def test_cli_register_promote_list_rollback(private_database_url, artifact, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", private_database_url)
    monkeypatch.setenv("FLEETRAY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("FLEETRAY_MODEL_REGISTRY_URI", str(tmp_path / "cli-registry"))
    model = name()
    for _ in range(2):
        cli.main(["model", "register", str(artifact), "--name", model])
    cli.main(["model", "promote", model, "1"])
    cli.main(["model", "promote", model, "2", "--traffic", "25"])
    cli.main(["model", "list", model])
    out = capsys.readouterr().out
    assert f"as version 2 of {model}" in out and f"{model}: stable v1, canary v2 takes 25 %" in out
    assert "v2    canary" in out and str(tmp_path / "cli-registry" / model / "1") in out
    with pytest.raises(SystemExit) as exit_:
        cli.main(["model", "promote", model, "5"])
    assert exit_.value.code == 1 and f"no model '{model}' version 5" in capsys.readouterr().err
    cli.main(["model", "rollback", model])
    assert capsys.readouterr().out == f"{model}: stable v1 takes all traffic\n"


async def test_versions_of_an_older_input_layout_are_refused_and_replaced(registry, artifact, tmp_path, monkeypatch):
    """A registry from an older checkout: its promoted brakes version takes one feature fewer
    than this release's model. Promoting or rolling back onto it is refused, and the stack's
    start-up (ensure_served_models) promotes the newest version that fits instead of it."""
    old_features = BRAKE_FEATURES[:-1]
    old = tmp_path / "old-brakes"
    shutil.copytree(artifact, old)
    metadata = json.loads((old / "metadata.json").read_text())
    metadata["input"]["features"] = old_features
    (old / "metadata.json").write_text(json.dumps(metadata))
    fits = await registry.register(artifact, "brakes")
    older = await registry.register(old, "brakes")
    with pytest.raises(IncompatibleArtifact, match=f"brakes v{older} cannot serve: a brakes model for inputs "
                                                   r"km_since_pad_change, .* \(fleetray model train brakes\)"):
        await registry.promote("brakes", older)
    with monkeypatch.context() as release:  # the older release, whose brakes model took those inputs
        release.setitem(INPUT_NAMES, "brakes", old_features)
        await registry.promote("brakes", older)

    lines = []
    assert await ensure_served_models(registry, tmp_path / "work", size="small", progress=lines.append,
                                      families=["brakes"]) == {"brakes": fits}
    assert f"the promoted v{older} cannot serve in this release" in lines[0]
    assert (await registry.serving("brakes")).stable_version == fits
    with pytest.raises(IncompatibleArtifact, match=f"brakes v{older} cannot serve"):
        await registry.rollback("brakes")
    assert await ensure_served_models(registry, tmp_path / "again", size="small", families=["brakes"]) == {}
