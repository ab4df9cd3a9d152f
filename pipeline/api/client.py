"""A small client for the HTTP API. Needs only `requests` (no store, torch or lancedb), so it can be
copied into any program:

    from pipeline.api.client import ImageSearchClient
    client = ImageSearchClient("http://127.0.0.1:8000", key="...")
    for hit in client.search("a dog on a beach", k=5)["results"]:
        print(hit["score"], hit["uri"])
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Iterable, Sequence

import requests


class ApiError(Exception):
    """The server answered with an error: `status` and its one-line `message`."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message


class ImageSearchClient:
    def __init__(self, url: str = "http://127.0.0.1:8000", key: str | None = None, timeout: float = 60):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        if key:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def _call(self, method: str, path: str, **kwargs) -> requests.Response:
        response = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise ApiError(response.status_code, message)
        return response

    def health(self) -> dict:
        return self._call("GET", "/health").json()

    def search(self, query: str | None = None, k: int = 10, where: str | None = None, *,
               terms: Sequence[dict] = (), vector: Sequence[float] | None = None, offset: int = 0,
               min_score: float | None = None, filters: dict | None = None, mode: str = "semantic") -> dict:
        """Text, composed terms ({"text"|"image"|"id": ..., "weight": w}) or a vector; the CLI's --json document."""
        body: dict[str, Any] = {"k": k, "offset": offset, "mode": mode, "terms": [self._term(t) for t in terms]}
        for name, value in (("query", query), ("where", where), ("min_score", min_score), ("filters", filters)):
            if value is not None:
                body[name] = value
        if vector is not None:
            body["vector"] = [float(v) for v in vector]
        return self._call("POST", "/search", json=body).json()

    @staticmethod
    def _term(term: dict) -> dict:
        """An image term may be a path or bytes: sent as base64."""
        image = term.get("image")
        if isinstance(image, (str, Path)) and Path(image).is_file():
            image = Path(image).read_bytes()
        if isinstance(image, bytes):
            return {**term, "image": base64.b64encode(image).decode()}
        return dict(term)

    def search_by_image(self, path: str | Path, k: int = 10, where: str | None = None) -> dict:
        params = {"k": k, **({"where": where} if where else {})}
        with open(path, "rb") as handle:
            return self._call("POST", "/search-by-image", params=params,
                              files={"file": (Path(path).name, handle)}).json()

    def upload(self, paths: Iterable[str | Path], description: str = "", tags: Sequence[str] = ()) -> dict:
        files = [("files", (Path(p).name, Path(p).read_bytes())) for p in paths]
        return self._call("POST", "/upload", files=files,
                          data={"description": description, "tags": ",".join(tags)}).json()

    def image(self, image_id: str) -> dict:
        return self._call("GET", f"/images/{image_id}").json()

    def thumbnail(self, image_id: str) -> bytes:
        return self._call("GET", f"/images/{image_id}/thumbnail").content

    def original(self, image_id: str) -> bytes:
        return self._call("GET", f"/images/{image_id}/original").content

    def delete(self, image_id: str) -> dict:
        return self._call("DELETE", f"/images/{image_id}").json()

    def restore(self, image_id: str, version: int | None = None) -> dict:
        return self._call("POST", f"/images/{image_id}/restore",
                          json={"version": version} if version is not None else None).json()

    def stats(self) -> dict:
        return self._call("GET", "/stats").json()

    def query(self, sql: str, limit: int | None = None) -> dict:
        return self._call("POST", "/query", json={"sql": sql, **({"limit": limit} if limit else {})}).json()

    def metrics(self) -> str:
        return self._call("GET", "/metrics").text
