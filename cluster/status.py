"""What `fleetray status` shows: the running system read where it lives (the actors' own stats,
the outbox tables, the consumer groups' committed offsets, the model registry), gathered by the
system controller and printed by the CLI."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from actors.consumers import CONSUMER_EFFECTS, group_lag
from actors.delivery_audit import AUDITED
from actors.entity_runtime import SHARD_MARK
from actors.topology import BRIDGE_PREFIX, CONSUMER_MARK, DELIVERY_AUDIT, RELAY_MARK, actor, actor_names
from db.outbox import OUTBOXES, outbox_stats
from ml.registry import ModelRegistry

ANSWER_SECONDS = 3.0  # for each actor's stats: one that is restarting shows as not answering


MARKS = (SHARD_MARK, RELAY_MARK, CONSUMER_MARK, BRIDGE_PREFIX)


async def _stats(name: str) -> dict[str, Any] | None:
    """The actor's own stats, or for the others (the alert feed, the sweep) its loop's state."""
    try:
        handle = actor(name)
        call = handle.stats if any(mark in name for mark in MARKS) or name == DELIVERY_AUDIT else handle.loop_state
        return await asyncio.wait_for(call.remote(), ANSWER_SECONDS)
    except Exception:
        return None


async def system_status(pool: asyncpg.Pool, bootstrap_servers: str, registry_uri: str) -> dict[str, Any]:
    names = sorted(actor_names(lambda name: True))
    stats = dict(zip(names, await asyncio.gather(*(_stats(name) for name in names))))

    def of(mark: str) -> dict[str, dict[str, Any] | None]:
        return {name: stats[name] for name in names if mark in name}

    async def lag(group: str) -> int | None:
        try:
            return await asyncio.wait_for(group_lag(bootstrap_servers, group), ANSWER_SECONDS)
        except Exception:
            return None
    lags = await asyncio.gather(*(lag(group) for group in CONSUMER_EFFECTS))
    audit = (stats.get(DELIVERY_AUDIT) or {}).get("groups", {})
    outboxes = {}
    for which, table in OUTBOXES.items():
        s = await outbox_stats(pool, table)
        outboxes[which] = {"table": table.name, "unpublished": s.size, "lag_seconds": round(s.lag_seconds, 1),
                           "dead_letters": s.dlq_size}
    registry = ModelRegistry(pool, registry_uri)
    models = {}
    for version in await registry.list():
        models.setdefault(version.name, {"versions": 0})["versions"] += 1
    for name in models:
        serving = await registry.serving(name)
        if serving is not None:
            models[name].update(stable=serving.stable_version, canary=serving.canary_version,
                                canary_pct=serving.canary_traffic_pct if serving.canary_version else 0)
    return {
        "shards": of(SHARD_MARK),
        "relays": of(RELAY_MARK),
        "outboxes": outboxes,
        "delivery_audit": audit,
        "consumer_groups": {group: {"lag": group_lag_value, "audit": audit.get(group), "members": {
            name: s for name, s in of(CONSUMER_MARK).items() if name.startswith(f"{group}{CONSUMER_MARK}")}}
            for group, group_lag_value in zip(CONSUMER_EFFECTS, lags)},
        "bridges": of(BRIDGE_PREFIX),
        "models": models,
        "other": {name: stats[name] for name in names if not any(mark in name for mark in MARKS)},
    }


def _delivery(audit: dict[str, Any] | None) -> str:
    """A reader's delivery audit, as an operator reads it."""
    if audit is None:
        return "not audited yet"
    return (f"unapplied {audit['unapplied']} (oldest {audit['oldest_unapplied_seconds']} s), "
            f"republished {audit['republished']}")


def _answering(stats: dict[str, Any] | None, text: str) -> str:
    return text if stats is not None else "not answering"


def format_status(status: dict[str, Any]) -> str:
    """The status as an operator reads it in a terminal."""
    lines = ["shards:"]
    lines += [f"  {name:28} " + _answering(s, s and f"{s['active']} live entities, {s['activations']} activations, "
                                              f"{s['rss_bytes'] / 2**20:.0f} MiB, {s['slots']} slots "
                                              f"(map epoch {s['map_epoch']})")
              for name, s in status["shards"].items()]
    lines.append("outbox relays:")
    lines += [f"  {name:28} " + _answering(s, s and f"published {s['published']}, dead-lettered {s['dead_lettered']}")
              for name, s in status["relays"].items()]
    lines.append("outboxes:")
    lines += [f"  {o['table']:28} backlog {o['unpublished']}, lag {o['lag_seconds']} s, "
              f"dead letters {o['dead_letters']}" + "".join(
                  f"; {reader} {_delivery(status['delivery_audit'].get(reader))}" for reader, table in AUDITED.items()
                  if table.name == o["table"] and reader not in status["consumer_groups"])
              for o in status["outboxes"].values()]
    lines.append("consumer groups:")
    for group, g in status["consumer_groups"].items():
        lag = "unknown" if g["lag"] is None else g["lag"]
        delivery = "" if g["audit"] is None else f", {_delivery(g['audit'])}"
        lines.append(f"  {group:28} lag {lag}, {len(g['members'])} member(s){delivery}")
        lines += [f"    {name:26} " + _answering(s, s and f"applied {s['applied']}, duplicates {s['duplicates']}, "
                                                    f"partitions {sorted(s['positions'])}")
                  for name, s in g["members"].items()]
    lines.append("models:")
    for name, m in status["models"].items():
        serving = (f"stable v{m['stable']}" + (f", canary v{m['canary']} at {m['canary_pct']} %" if m.get("canary") else "")
                   if "stable" in m else "not served")
        lines.append(f"  {name:28} {serving} ({m['versions']} version(s))")
    lines.append("bridges:")
    lines += [f"  {name:28} " + _answering(s, s and ", ".join(f"{v} {state}" for v, state in s["adapters"].items()))
              for name, s in status["bridges"].items()] or ["  none"]
    lines.append("other actors:")
    lines += [f"  {name:28} " + _answering(s, s and ("running" if s["running"] else "loop stopped"))
              for name, s in status["other"].items()]
    return "\n".join(lines)
