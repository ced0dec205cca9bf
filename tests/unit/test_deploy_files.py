"""The Serve config and the alert rules are loadable and point at real code and metrics."""

import importlib
from pathlib import Path

import yaml
from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
from ray.serve.schema import ServeDeploySchema

from actors import metrics as actor_metrics
from cluster.deploy import serve_config
from cluster.metrics_server import OUTBOX_GAUGES
from cluster.settings import StackSettings
from cluster.system_app import CONTROLLER, SYSTEM_APP, Scale, SystemArgs
from ml.datasets import FAMILIES
from ml.deployments import API_APP, deployment_name
from serve_apps import metrics as api_metrics

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"


def test_serve_config_is_valid_and_its_builders_exist():
    config = ServeDeploySchema.model_validate(yaml.safe_load((CLUSTER / "serve_config.yaml").read_text()))
    for app in config.applications:
        module, _, attr = app.import_path.partition(":")
        builder = getattr(importlib.import_module(module), attr)
        assert call_user_app_builder_with_args_if_necessary(builder, app.args) is not None
    api = next(app for app in config.applications if app.name == API_APP)
    assert {d.name for d in api.deployments} == {"FleetApi"} | {deployment_name(f) for f in FAMILIES}


def test_the_checked_in_config_deploys_what_fleetray_deploy_builds(tmp_path):
    checked_in = yaml.safe_load((CLUSTER / "serve_config.yaml").read_text())
    built = serve_config(StackSettings(state_dir=tmp_path, database_url="postgresql://db/fleetray",
                                       kafka_bootstrap_servers="kafka:9092"))
    ServeDeploySchema.model_validate(built)
    assert [(a["name"], a["import_path"], a["route_prefix"]) for a in checked_in["applications"]] == [
        (a["name"], a["import_path"], a["route_prefix"]) for a in built["applications"]]
    for config in (checked_in, built):
        system = next(app for app in config["applications"] if app["name"] == SYSTEM_APP)
        SystemArgs.model_validate(system["args"])
        [controller] = system["deployments"]
        assert controller["name"] == CONTROLLER
        Scale.model_validate(controller["user_config"])


def test_alert_rules_use_only_metrics_we_export():
    rules = yaml.safe_load((CLUSTER / "prometheus" / "booking_alerts.yaml").read_text())
    exported = {m._name for module in (actor_metrics, api_metrics) for m in vars(module).values()
                if hasattr(m, "_name")}
    exported |= {c._name for om in actor_metrics.OUTBOX_METRICS.values() for c in (om.published, om.retry_count)}
    exported |= {f"{table}_{suffix}" for table in actor_metrics.OUTBOX_METRICS for suffix in OUTBOX_GAUGES}
    names = [r["alert"] for g in rules["groups"] for r in g["rules"]]
    assert names == ["HighCancellationErrorRate", "CancellationLatencyHigh", "OutboxBacklogHigh",
                     "OutboxProcessingLag", "OutboxDLQGrowing"]
    for group in rules["groups"]:
        for rule in group["rules"]:
            used = {tok.split("[")[0].split("{")[0] for tok in
                    rule["expr"].replace("(", " ").replace(")", " ").split() if tok.startswith("booking_")}
            assert used, rule["alert"]
            for name in used:
                base = name.removesuffix("_bucket")
                assert base in exported or base.removesuffix("_total") in exported, name
