"""Options every fleetray Serve deployment shares."""

DEPLOYMENT_DEFAULTS = {
    "max_ongoing_requests": 256,
    # Replicas are async and mostly wait on actors and the database: a quarter of a logical CPU
    # each lets all applications (and more replicas when operators scale up) fit on small nodes.
    "ray_actor_options": {"num_cpus": 0.25},
    # Serve's per-request access log cost ~15% of a replica's CPU under load; the endpoints
    # that matter log their own JSON line with the request id instead.
    "logging_config": {"encoding": "JSON", "enable_access_log": False},
}
