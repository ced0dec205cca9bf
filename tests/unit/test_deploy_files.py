"""The operators' files (the Serve config, the RayService, the cluster launcher config, the
Prometheus config and rules, the Grafana dashboards) load, and point at real code and metrics."""

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from ray.util.metrics import Counter, Histogram, Metric
from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
from ray.serve.schema import ServeDeploySchema

from actors import metrics as actor_metrics
from cluster.deploy import serve_config
from cluster import outbox_gauges
from cluster.settings import StackSettings
from cluster.stack import place_grafana_dashboards
from cluster.system_app import CONTROLLER, SYSTEM_APP, Scale, SystemArgs
from ml.datasets import FAMILIES
from ml import serving_metrics as model_metrics
from ml.deployments import API_APP, deployment_name
from serve_apps import metrics as api_metrics
from tests.helpers import prometheus_renaming

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


PROMETHEUS = CLUSTER / "prometheus"
GRAFANA = CLUSTER / "grafana"
# PromQL's own words, which an expression's identifiers may be besides metric names.
PROMQL_WORDS = {"sum", "max", "min", "avg", "count", "rate", "increase", "histogram_quantile", "by", "without", "and",
               "or", "unless"}


def defined_metrics() -> list[Metric]:
    """Every Ray metric fleetray's modules define."""
    found = [metric for module in (actor_metrics, api_metrics, model_metrics)
             for metric in vars(module).values() if isinstance(metric, Metric)]
    found += list(outbox_gauges.GAUGES.values())
    for om in actor_metrics.OUTBOX_METRICS.values():
        found += [om.published, om.retry_count]
    for am in actor_metrics.DELIVERY_AUDIT_METRICS.values():
        found += [am.unapplied, am.oldest_unapplied_seconds, am.republished]
    return found


def exported_metric_names() -> set[str]:
    """Every series name the metrics agents export for fleetray, as Prometheus names them after
    prometheus.yml's renaming: a histogram's _bucket, _sum and _count, a counter's and a gauge's
    own name."""
    names = set()
    for metric in defined_metrics():
        suffixes = ["_bucket", "_sum", "_count"] if isinstance(metric, Histogram) else [""]
        names |= {metric.info["name"] + suffix for suffix in suffixes}
    return names


def test_prometheus_gives_every_fleetray_metric_its_own_name_and_leaves_rays_alone():
    pattern, replacement = prometheus_renaming()
    for name in exported_metric_names():
        assert pattern.fullmatch(f"ray_{name}").expand(replacement) == name
    for name in ("ray_serve_num_http_requests_total", "ray_node_cpu_utilization", "ray_tasks",
                 "ray_serve_deployment_processing_latency_ms_bucket"):
        assert not pattern.fullmatch(name), name


def test_counters_are_named_as_counters():
    assert all(metric.info["name"].endswith("_total") for metric in defined_metrics() if isinstance(metric, Counter))


def metric_names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: its identifiers, less label matchers, range
    selectors, grouping labels, numbers and PromQL's own words."""
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(by|without)\s*\([^)]*\)", " ", expr)
    return {word for word in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr) if word not in PROMQL_WORDS}


def rule_expressions() -> dict[str, str]:
    exprs = {}
    for rules_file in yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())["rule_files"]:
        for group in yaml.safe_load((PROMETHEUS / rules_file).read_text())["groups"]:
            exprs.update({rule["alert"]: rule["expr"] for rule in group["rules"]})
    return exprs


def dashboard_expressions() -> dict[str, str]:
    return {f"{path.name}: {panel['title']} {target['refId']}": target["expr"]
            for path in sorted(GRAFANA.glob("*.json")) for panel in json.loads(path.read_text())["panels"]
            for target in panel["targets"]}


def test_the_adr_alert_rules_are_all_there():
    assert list(rule_expressions())[:5] == ["HighCancellationErrorRate", "CancellationLatencyHigh",
                                             "OutboxBacklogHigh", "OutboxProcessingLag", "OutboxDLQGrowing"]


@pytest.mark.parametrize("source", [rule_expressions, dashboard_expressions])
def test_every_metric_a_rule_or_dashboard_reads_is_exported(source):
    exported = exported_metric_names()
    expressions = source()
    assert expressions
    for where, expr in expressions.items():
        used = metric_names_in(expr)
        assert used, where
        assert used <= exported, f"{where} reads {sorted(used - exported)}, which nothing exports"


def test_the_metric_name_reader_sees_through_promql():
    assert metric_names_in('histogram_quantile(0.95, sum by (le) (rate(a_bucket{x="1"}[5m]))) > 0.5') == {"a_bucket"}
    assert metric_names_in("sum(increase(b_total[1h])) and c > 0") == {"b_total", "c"}


def test_prometheus_config_and_rules_pass_promtool():
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: .ci/run installs Debian's prometheus package"
    result = subprocess.run([promtool, "check", "config", str(PROMETHEUS / "prometheus.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout


def test_grafana_dashboards_are_provisionable(tmp_path):
    dashboards = {path.name: json.loads(path.read_text()) for path in GRAFANA.glob("*.json")}
    assert len({d["uid"] for d in dashboards.values()}) == len(dashboards) == 2
    for dashboard in dashboards.values():
        assert dashboard["title"] and dashboard["panels"]
        assert all(panel["targets"] and panel["datasource"]["type"] == "prometheus" for panel in dashboard["panels"])
    ray_dashboards = tmp_path / "metrics" / "grafana" / "dashboards"
    ray_dashboards.mkdir(parents=True)
    assert sorted(p.name for p in place_grafana_dashboards(tmp_path)) == sorted(dashboards)
    assert sorted(p.name for p in ray_dashboards.iterdir()) == sorted(dashboards)


def test_the_rayservice_serves_the_same_config_with_autoscaling():
    service = yaml.safe_load((CLUSTER / "kuberay" / "rayservice.yaml").read_text())
    assert service["kind"] == "RayService" and service["apiVersion"] == "ray.io/v1"
    assert yaml.safe_load(service["spec"]["serveConfigV2"]) == yaml.safe_load((CLUSTER / "serve_config.yaml").read_text())
    cluster = service["spec"]["rayClusterConfig"]
    assert cluster["rayVersion"] == ray.__version__
    assert cluster["enableInTreeAutoscaling"] is True
    assert cluster["headGroupSpec"]["template"]["spec"]["containers"]
    [workers] = cluster["workerGroupSpecs"]
    assert workers["minReplicas"] <= workers["replicas"] <= workers["maxReplicas"]


def test_the_cluster_launcher_config_passes_rays_schema():
    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(yaml.safe_load((CLUSTER / "ray-cluster.yaml").read_text()), schema)
