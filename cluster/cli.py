"""The `fleetray` command: run the stack, deploy it onto a Ray cluster, scale it and show its
status, issue tokens, flip flags, replay dead letters, attach real OBD-II adapters, train and
register predictive-maintenance models."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from cluster.change_audit import audited_change, change_records
from cluster.settings import StackSettings
from ml.datasets import FAMILIES, SIZES
from serve_apps.roles import OPERATOR, ROLES, USER

if TYPE_CHECKING:
    import asyncpg

    from ml.registry import Serving


def _running_stack_urls(settings: StackSettings) -> dict[str, str] | None:
    """The URLs the running local stack wrote to stack.json (cluster/stack.py), or None."""
    stack_file = settings.state_dir / "stack.json"
    return json.loads(stack_file.read_text()) if stack_file.exists() else None


def running_database_url(settings: StackSettings) -> str:
    """DATABASE_URL, else the one the running local stack wrote to stack.json."""
    if settings.database_url:
        return settings.database_url
    if urls := _running_stack_urls(settings):
        return urls["database_url"]
    sys.exit("no DATABASE_URL and no running stack (.fleetray/stack.json); start one with `make run`")


@asynccontextmanager
async def _database(settings: StackSettings) -> AsyncIterator[asyncpg.Connection]:
    from db.pool import connect

    conn = await connect(running_database_url(settings))
    try:
        yield conn
    finally:
        await conn.close()


async def _run(settings: StackSettings) -> None:
    from actors.logs import configure_json_logging
    from cluster.stack import LocalStack

    configure_json_logging()
    stack = LocalStack(settings)
    stop = asyncio.Event()
    try:
        await stack.start()
        # After ray.init, which installs its own SIGTERM handler in the driver.
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        print("fleetray is running:", flush=True)
        for key, value in stack.urls().items():
            # Ray's token authentication is on by default: its dashboard opens on a token prompt.
            sign_in = ("  (sign in with the token `.venv/bin/ray get-auth-token` prints)"
                       if key == "ray_dashboard_url" else "")
            print(f"  {key:26} {value}{sign_in}", flush=True)
        print("Get a token with: .venv/bin/fleetray token --user alice    (Ctrl-C stops everything)",
              flush=True)
        await stop.wait()
    finally:
        print("stopping fleetray ...", flush=True)
        await stack.stop()


def _connect(settings: StackSettings, address: str | None):
    """A driver on the cluster at `address` (else RAY_ADDRESS, else the local one) and its
    Serve applications, reached through the cluster's dashboard."""
    import ray

    from actors.topology import RAY_NAMESPACE
    from cluster.deploy import ServeCluster

    context = ray.init(address=address or settings.ray_address or "auto", namespace=RAY_NAMESPACE,
                       log_to_driver=False, logging_level=logging.ERROR)
    logging.getLogger("ray.serve").setLevel(logging.WARNING)
    return ServeCluster(context.dashboard_url)


def _deploy(settings: StackSettings, address: str | None, config_path: Path | None) -> None:
    import yaml

    from cluster.deploy import serve_config

    if config_path is not None:
        config = yaml.safe_load(config_path.read_text())
    elif settings.database_url and settings.kafka_bootstrap_servers:
        config = serve_config(settings)
    else:
        sys.exit("fleetray deploy needs DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS, or --config FILE")
    cluster = _connect(settings, address)
    names = [app["name"] for app in config["applications"]]
    print(f"deploying {', '.join(names)} ...", flush=True)
    cluster.deploy(config)
    for name, app in cluster.statuses().items():
        if name in names:
            print(f"  {name:8} {app['status']}  route {app.get('route_prefix') or '-'}")


async def _undeploy(settings: StackSettings, address: str | None) -> None:
    removed = await _connect(settings, address).undeploy()
    print(f"removed fleetray's applications and {len(removed)} actor(s)")


def _scale(settings: StackSettings, address: str | None, role: str, count: int) -> None:
    from pydantic import ValidationError

    try:
        scale = _connect(settings, address).scale(role, count)
    except ValidationError as exc:
        sys.exit(f"cannot scale {role} to {count}: {exc.errors()[0]['msg']}")
    print(f"scaled: {scale.booking_shards} booking shard(s), {scale.vehicle_shards} vehicle shard(s), "
          f"{scale.outbox_relays} booking outbox relay(s), {scale.consumers_per_group} consumer(s) per group")


def _status(settings: StackSettings, address: str | None) -> None:
    from ray import serve

    from cluster.status import format_status
    from cluster.system_app import CONTROLLER, SYSTEM_APP

    _connect(settings, address)
    controller = serve.get_deployment_handle(CONTROLLER, app_name=SYSTEM_APP)
    print(format_status(controller.status.remote().result(timeout_s=30)))


async def _flag(settings: StackSettings, name: str, percentage: int | None) -> None:
    from db.flags import get_flag_percentage, set_flag_percentage

    async with _database(settings) as conn:
        if percentage is not None:
            async with audited_change(conn, "set_flag", "flag", name):
                await set_flag_percentage(conn, name, percentage)
        print(f"{name}: {await get_flag_percentage(conn, name)}%")


async def _outbox(settings: StackSettings, which: str, action: str, event_ids: list[str], days: int) -> None:
    from db import outbox

    table = outbox.OUTBOXES[which]
    async with _database(settings) as conn:
        if action == "replay":
            async with audited_change(conn, "replay_dead_letters", "outbox", which):
                moved = await outbox.replay_dead_letters(conn, table, event_ids or None)
            print(f"re-queued {moved} dead-lettered event(s)")
        elif action == "cleanup":
            deleted = await outbox.delete_processed_older_than(conn, table, days)
            print(f"deleted {deleted} processed event(s) older than {days} days")
        elif action == "audit":
            await _audit(conn, settings.delivery_grace_seconds)
        else:
            stats = await outbox.outbox_stats(conn, table)
            print(f"unprocessed={stats.size} lag_seconds={stats.lag_seconds:.1f} dead_letters={stats.dlq_size}")


async def _audit(conn, grace_seconds: float) -> None:
    """Per reader of an outbox's topic (booking consumer groups, the fleet alert feed), the events
    published more than the grace period ago that it has not applied (the delivery audit
    republishes them once the reader has caught up)."""
    from actors.delivery_audit import AUDITED
    from db.delivery_audit import AUDIT_BATCH, unapplied_events

    for reader, table in AUDITED.items():
        found = await unapplied_events(conn, table, reader, grace_seconds, None)
        count = f"{AUDIT_BATCH}+" if len(found.row_ids) == AUDIT_BATCH else str(len(found.row_ids))
        oldest = "" if found.oldest_published_at is None else f", oldest published {found.oldest_age_seconds:.0f} s ago"
        print(f"{reader}: {count} {table.name} event(s) published more than {grace_seconds:.0f} s ago "
              f"not applied{oldest}")


BRIDGE_STATUS_SECONDS = 5.0


async def _bridge(settings: StackSettings, config_path: Path, detach: bool, remove: bool) -> None:
    """Attach the adapters of config_path to the running stack; in the foreground, print their
    status every few seconds until Ctrl-C removes them (a bridge Ray restarted resumes by itself).
    Attaching and removing are audited, for each tenant the file names."""
    import ray

    from actors.topology import RAY_NAMESPACE
    from db.audit import insert_audit_records
    from device_bridge.attach import attach, detach as detach_bridges
    from device_bridge.config import ConfigError, load_config

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
    # RAY_ADDRESS, else the local cluster `fleetray run` started (stack.json does not name it).
    ray.init(address=settings.ray_address or "auto", namespace=RAY_NAMESPACE, log_to_driver=False)
    stem = config_path.stem
    tenants = sorted({a.tenant_id for a in config.adapters})

    async def remove_bridges() -> list[str]:
        async with _database(settings) as conn, audited_change(conn, "remove_bridges", "bridge", stem, tenants):
            return await detach_bridges(stem)

    if remove:
        print(f"removed {len(await remove_bridges())} bridge actor(s) of {config_path}")
        return
    async with _database(settings) as conn:
        async with audited_change(conn, "attach_bridges", "bridge", stem, tenants):
            bridges, registered = await attach(config, stem)
        tenant_of = {a.vehicle_id: a.tenant_id for a in config.adapters}
        await insert_audit_records(conn, [record for vehicle_id in registered for record in change_records(
            "register_vehicle", "vehicle", vehicle_id, "ok", [tenant_of[vehicle_id]])])
    print(f"attached {len(config.adapters)} adapter(s) of {config_path}:")
    for b in bridges:
        print(f"  {b.name}  tenant {b.tenant_id}: {', '.join(b.vehicle_ids)}")
    if registered:
        print(f"registered new vehicles: {', '.join(registered)}")
    if detach:
        print(f"detached; remove them with: fleetray bridge --config {config_path} --remove")
        return
    try:
        await _print_bridge_status_until_stopped(bridges)
    finally:
        print(f"removed {len(await remove_bridges())} bridge actor(s)", flush=True)


async def _print_bridge_status_until_stopped(bridges: list) -> None:
    from device_bridge.attach import bridge_stats

    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print("Ctrl-C removes them", flush=True)
    delivered, since = None, time.monotonic()
    while not stop.is_set():
        stats = await bridge_stats(bridges)
        total, now = sum(s["delivered"] for s in stats if s), time.monotonic()
        rate = max(0.0, total - delivered) / (now - since) if delivered is not None else 0.0
        delivered, since = total, now
        print(_bridge_status_line(bridges, stats, rate), flush=True)
        try:
            await asyncio.wait_for(stop.wait(), BRIDGE_STATUS_SECONDS)
        except asyncio.TimeoutError:
            pass


def _bridge_status_line(bridges: list, stats: list[dict | None], rate: float) -> str:
    parts = []
    for bridge, s in zip(bridges, stats):
        if s is None:
            parts.append(f"{bridge.name} not answering")
        else:
            parts += [f"{vehicle} {status}" for vehicle, status in s["adapters"].items()]
    dropped = sum(s["dropped"] for s in stats if s)
    return f"{time.strftime('%H:%M:%S')}  {', '.join(parts)} | {rate:.1f} readings/s, {dropped} dropped"


async def _registry(settings: StackSettings, args: argparse.Namespace) -> None:
    """fleetray model list | register | promote | rollback, against the stack's database."""
    from ml.registry import ModelRegistry, RegistryError

    async with _database(settings) as conn:
        try:
            registry = ModelRegistry(conn, settings.model_registry_uri)
            if args.model_command == "register":
                async with audited_change(conn, "register_model", "model", args.name or str(args.dir)):
                    version = await registry.register(args.dir, args.name)
                print(f"registered {args.dir} as version {version}" + (f" of {args.name}" if args.name else ""))
            elif args.model_command == "promote":
                async with audited_change(conn, "promote_model", "model", f"{args.name}/{args.version}"):
                    serving = await registry.promote(args.name, args.version, args.traffic)
                _print_serving(serving)
            elif args.model_command == "rollback":
                async with audited_change(conn, "rollback_model", "model", args.name):
                    serving = await registry.rollback(args.name)
                _print_serving(serving)
            else:
                models = await registry.list(args.name)
                if not models:
                    print("no registered models" + (f" named {args.name}" if args.name else ""))
                for m in models:
                    print(f"{m.name:12} v{m.version:<4} {m.status:10} {m.created_at:%Y-%m-%d %H:%M} "
                          f"data {m.data_fingerprint[:12]}  {m.artifact_uri}")
        except RegistryError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(1)


def console_url(settings: StackSettings, token: str) -> str:
    """The console of the running local stack (its stack.json), else of the configured address,
    signed in by the token in the URL fragment, which browsers never send to a server."""
    urls = _running_stack_urls(settings)
    api_url = urls["api_url"] if urls else f"http://{settings.http_host}:{settings.http_port}"
    return f"{api_url.rstrip('/')}/#token={token}"


def _console(settings: StackSettings, user: str, tenant: str, role: str, ttl: int) -> None:
    import os
    import webbrowser

    from serve_apps.auth import issue_token

    url = console_url(settings, issue_token(settings.auth, user, tenant, role, ttl))
    print(url)
    # Only where a graphical browser can open: on a headless machine webbrowser may start a
    # terminal browser in this terminal instead.
    if sys.platform in ("darwin", "win32") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        webbrowser.open(url)


def _print_serving(serving: Serving) -> None:
    canary = (f", canary v{serving.canary_version} takes {serving.canary_traffic_pct} %"
              if serving.canary_version is not None else " takes all traffic")
    print(f"{serving.name}: stable v{serving.stable_version}{canary}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetray", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start the whole local stack in the foreground")

    def cluster_command(name: str, help_text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--address", metavar="RAY_ADDRESS",
                             help="the Ray cluster (default: RAY_ADDRESS, else the local one)")
        return command

    deploy = cluster_command("deploy", "deploy the whole system onto a running Ray cluster")
    deploy.add_argument("--config", type=Path, metavar="FILE",
                        help="a Serve config such as cluster/serve_config.yaml (default: from the settings)")
    cluster_command("undeploy", "remove fleetray's applications and actors from the cluster")
    scale = cluster_command("scale", "change how many shards, relays or consumers run, live")
    scale.add_argument("role", choices=["booking-shards", "vehicle-shards", "relays", "consumers"])
    scale.add_argument("count", type=int)
    cluster_command("status", "shards, relays, outboxes, consumer groups, models and bridges")

    token = sub.add_parser("token", help="print a JWT the running stack accepts")
    token.add_argument("--user", required=True)
    token.add_argument("--tenant", default="default")
    token.add_argument("--role", choices=ROLES, default=USER)
    token.add_argument("--ttl", type=int, default=24 * 3600, help="lifetime in seconds")

    console = sub.add_parser("console", help="print (and open where it can) a signed-in link to the fleet console")
    console.add_argument("--user", default="console-user")
    console.add_argument("--tenant", default="default")
    console.add_argument("--role", choices=ROLES, default=OPERATOR)
    console.add_argument("--ttl", type=int, default=3600, help="the link's lifetime in seconds")

    flag = sub.add_parser("flag", help="show or set a feature flag's rollout percentage")
    flag.add_argument("name", nargs="?", default="enable_booking_cancellation")
    flag.add_argument("--percentage", type=int, choices=range(0, 101), metavar="0-100")

    out = sub.add_parser("outbox", help="outbox status, dead-letter replay, cleanup, delivery audit")
    out.add_argument("action", choices=["status", "replay", "cleanup", "audit"])
    out.add_argument("--outbox", choices=["bookings", "alerts"], default="bookings",
                     help="booking events (default) or vehicle alerts")
    out.add_argument("--event-id", action="append", default=[], help="replay only these (repeatable)")
    out.add_argument("--older-than-days", type=int, default=30)

    bridge = sub.add_parser("bridge", help="attach real OBD-II adapters (a YAML or JSON file) to the running stack")
    bridge.add_argument("--config", type=Path, required=True, metavar="FILE",
                        help="adapters file; see device_bridge/adapters.example.yaml")
    bridge_mode = bridge.add_mutually_exclusive_group()
    bridge_mode.add_argument("--detach", action="store_true", help="leave the bridges running and return")
    bridge_mode.add_argument("--remove", action="store_true", help="remove the bridges of this file")

    model = sub.add_parser("model", help="predictive-maintenance models: train, register, promote")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    model_train = model_sub.add_parser("train", help="simulate a fleet, train one model family, write a report")
    model_train.add_argument("name", choices=FAMILIES)
    model_train.add_argument("--size", choices=list(SIZES), default="small")
    model_train.add_argument("--out", type=Path, metavar="DIR",
                             help="artifact directory (default .fleetray/models/NAME/TIMESTAMP)")
    model_list = model_sub.add_parser("list", help="registered versions and their status")
    model_list.add_argument("name", nargs="?")
    model_register = model_sub.add_parser("register", help="copy a trained artifact into the registry as a new version")
    model_register.add_argument("dir", metavar="DIR", help="artifact directory or fsspec URI")
    model_register.add_argument("--name", help="model name (default: the artifact's family)")
    model_promote = model_sub.add_parser("promote", help="serve a version: stable, or canary with --traffic")
    model_promote.add_argument("name")
    model_promote.add_argument("version", type=int)
    model_promote.add_argument("--traffic", type=int, choices=range(1, 101), metavar="PCT",
                               help="canary share 1-99 %% beside the stable version (100: stable)")
    model_rollback = model_sub.add_parser("rollback", help="drop the canary, else return to the previous stable version")
    model_rollback.add_argument("name")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    settings = StackSettings()
    if args.command == "run":
        asyncio.run(_run(settings))
    elif args.command == "deploy":
        _deploy(settings, args.address, args.config)
    elif args.command == "undeploy":
        asyncio.run(_undeploy(settings, args.address))
    elif args.command == "scale":
        _scale(settings, args.address, args.role, args.count)
    elif args.command == "status":
        _status(settings, args.address)
    elif args.command == "token":
        from serve_apps.auth import issue_token

        print(issue_token(settings.auth, args.user, args.tenant, args.role, args.ttl))
    elif args.command == "console":
        _console(settings, args.user, args.tenant, args.role, args.ttl)
    elif args.command == "flag":
        asyncio.run(_flag(settings, args.name, args.percentage))
    elif args.command == "outbox":
        asyncio.run(_outbox(settings, args.outbox, args.action, args.event_id, args.older_than_days))
    elif args.command == "bridge":
        asyncio.run(_bridge(settings, args.config, args.detach, args.remove))
    elif args.command == "model" and args.model_command == "train":
        from ml.train import train

        out = args.out or settings.state_dir / "models" / args.name / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        artifact = train(args.name, args.size, out, progress=lambda line: print(line, flush=True))
        print(f"artifact: {artifact}\nreport:   {artifact / 'report.md'}")
    elif args.command == "model":
        asyncio.run(_registry(settings, args))


if __name__ == "__main__":
    main()
