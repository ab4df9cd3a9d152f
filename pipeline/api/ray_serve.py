"""The same FastAPI app as a Ray Serve deployment: N replicas behind Serve's HTTP proxy, sharing the
LanceDB table (each replica opens it and sees the others' commits within a second)."""

from __future__ import annotations

from pipeline.api.settings import ApiSettings

APP_NAME = "imagesearch"


class ApiReplica:
    """One replica: builds the app from the settings it was shipped (no environment is read there)."""

    def __init__(self, settings: ApiSettings):
        self.settings = settings

    def __serve_build_asgi_app__(self):
        from pipeline.api.app import create_app

        return create_app(self.settings)


def deploy(settings: ApiSettings, *, replicas: int = 2, host: str = "127.0.0.1", port: int = 8000,
           ray_address: str | None = None, num_cpus: float = 0.5):
    """Start (or join) Ray, start Serve's proxy on host:port and run `replicas` copies of the app.
    Returns the deployment handle; `serve.shutdown()` stops it (Ray itself keeps running)."""
    from pipeline.job.run import connect

    connect(ray_address)
    from ray import serve

    serve.start(http_options={"host": host, "port": port})
    deployment = serve.deployment(
        serve.ingress()(ApiReplica), name="api", num_replicas=replicas,
        ray_actor_options={"num_cpus": num_cpus},  # a share of a core: small machines still fit several
    )
    return serve.run(deployment.bind(settings), name=APP_NAME, route_prefix="/", blocking=False)
