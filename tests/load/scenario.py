"""Constants shared by the Locust file and its runner (kept apart so the runner never imports
locust, whose gevent monkey-patching must happen before anything else loads ssl)."""

LOAD_TEST_USER_PREFIX = "locust-"
