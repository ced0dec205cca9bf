"""Names and options of fleetray's Serve deployments."""

from ray import serve
from ray.serve.handle import DeploymentHandle

API_APP = "api"  # the Serve application of the HTTP API and the model deployments


def deployment_name(family: str) -> str:
    """The model family's deployment (ml/serving.py ModelServer) in the API application."""
    return f"{family}_model"


def model_server_handle(family: str) -> DeploymentHandle:
    return serve.get_deployment_handle(deployment_name(family), app_name=API_APP)


DEPLOYMENT_DEFAULTS = {
    "max_ongoing_requests": 256,
    # Replicas are async and mostly wait on actors and the database: a quarter of a logical CPU
    # each lets all applications (and more replicas when operators scale up) fit on small nodes.
    "ray_actor_options": {"num_cpus": 0.25},
    # Serve's per-request access log is a file write per request; the endpoints
    # that matter log their own JSON line with the request id instead.
    "logging_config": {"encoding": "JSON", "enable_access_log": False},
}
