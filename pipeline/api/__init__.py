"""The HTTP API (FastAPI): `create_app(settings)` in pipeline.api.app; `python -m pipeline serve` runs it.

Importing this package imports nothing heavy: the client (pipeline.api.client) needs only requests.
"""
