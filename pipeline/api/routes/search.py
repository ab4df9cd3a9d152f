"""GET /search, POST /search and POST /search-by-image: all three end in pipeline.searching.run_search."""

from __future__ import annotations

import base64
import binascii
from datetime import date

from fastapi import APIRouter, File, Query, Request, UploadFile
from pydantic import BaseModel, Field, model_validator

from pipeline.api.context import ApiContext, access, context_of, json_document
from pipeline.api.errors import ApiError
from pipeline.api.limits import human_size
from pipeline.searching import Term, resolve_id, run_search
from store.filters import FilterSpec

router = APIRouter(tags=["search"])
MAX_K = 1000
MAX_OFFSET = 10_000


class TermIn(BaseModel):
    """One query term: exactly one of `text`, `image` (base64 file bytes) or `id` (more like this)."""

    text: str | None = None
    image: str | None = Field(None, description="base64 of an image file (same size limits as decoding)")
    id: str | None = Field(None, description="an image id or unique prefix: more like this image (itself excluded)")
    weight: float = Field(1.0, description="negative pushes results away from the term")

    @model_validator(mode="after")
    def one_kind(self):
        if sum(v is not None for v in (self.text, self.image, self.id)) != 1:
            raise ValueError("a term has exactly one of text, image or id")
        return self


class FiltersIn(BaseModel):
    formats: list[str] = []
    tags: list[str] = Field([], description="any of these tags")
    min_bytes: int | None = None
    max_bytes: int | None = None
    indexed_from: date | None = None
    indexed_to: date | None = None


class SearchIn(BaseModel):
    query: str | None = Field(None, description="shorthand for one text term")
    terms: list[TermIn] = []
    vector: list[float] | None = Field(None, description="a precomputed query vector (the table's dimension)")
    k: int = Field(10, ge=1, le=MAX_K)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    where: str | None = Field(None, description="SQL filter applied before the vector search")
    filters: FiltersIn | None = None
    min_score: float | None = None
    mode: str | None = Field(None, description="semantic, keyword or hybrid (default: hybrid when the table has a text index)")
    cutoff: bool = Field(True, description="drop results far below the best hit (the model-aware relevance cutoff)")


def decode_query_image(context: ApiContext, data: bytes, name: str):
    from pipeline.images import decode_image

    limits = context.settings.limits
    if len(data) > limits.max_file_bytes:
        raise ApiError(413, f"the query image is larger than {human_size(limits.max_file_bytes)}")
    decoded = decode_image(data, name, limits)
    if decoded.width * decoded.height > limits.max_pixels:
        raise ApiError(413, f"cannot use {name} as a query: {decoded.error}")
    if not decoded.ok:
        raise ApiError(400, f"cannot use {name} as a query: {decoded.error}")
    return decoded.image


def _search(context: ApiContext, terms: list[Term], **options):
    outcome = run_search(context.library, terms, encoder=context.encoder, **options)
    if outcome.encode_s:
        context.metrics.encode.observe(outcome.encode_s)
    return json_document(outcome.document)


@router.get("/search", dependencies=[access("read")])
def search_text(request: Request,
                query: str | None = Query(None, description="text to search for"),
                like: str | None = Query(None, description="an image id or prefix: more like this"),
                k: int = Query(10, ge=1, le=MAX_K), offset: int = Query(0, ge=0, le=MAX_OFFSET),
                where: str | None = None, mode: str | None = None, min_score: float | None = None,
                cutoff: bool = True):
    """Text search (and/or more like an image): the CLI's `search --text Q --json` document."""
    context = context_of(request)
    terms = [Term("text", query)] if query and query.strip() else []
    if like:
        terms.append(Term("id", resolve_id(context.library, like)))
    return _search(context, terms, k=k, offset=offset, where=where, mode=mode, min_score=min_score,
                   cutoff=cutoff, shown={"text": query, "image": None})


@router.post("/search", dependencies=[access("read")])
def search_composed(request: Request, body: SearchIn):
    """Composed search: weighted text, image and id terms (negatives push away), or a vector; filters."""
    context = context_of(request)
    terms = [Term("text", body.query)] if body.query else []
    for i, term in enumerate(body.terms):
        if term.text is not None:
            terms.append(Term("text", term.text, term.weight))
        elif term.id is not None:
            terms.append(Term("id", resolve_id(context.library, term.id), term.weight))
        else:
            try:
                data = base64.b64decode(term.image, validate=True)
            except (binascii.Error, ValueError):
                raise ApiError(400, f"terms[{i}].image is not valid base64") from None
            image = decode_query_image(context, data, f"terms[{i}].image")
            terms.append(Term("image", image, term.weight, label=f"terms[{i}].image"))
    where = body.where
    if body.filters is not None:
        where = FilterSpec(**body.filters.model_dump(), sql=body.where or "").where()
    return _search(context, terms, vector=body.vector, k=body.k, offset=body.offset, where=where,
                   mode=body.mode, min_score=body.min_score, cutoff=body.cutoff,
                   shown={"text": _one_or_list(t.value for t in terms if t.kind == "text"),
                          "image": _one_or_list(t.label for t in terms if t.kind == "image")})


def _one_or_list(values):
    """As the CLI shows --text and --image: one value alone, several as a list, none as null."""
    values = list(values)
    return values[0] if len(values) == 1 else values or None


@router.post("/search-by-image", dependencies=[access("read")])
def search_by_image(request: Request, file: UploadFile = File(..., description="the query image"),
                    k: int = Query(10, ge=1, le=MAX_K), offset: int = Query(0, ge=0, le=MAX_OFFSET),
                    where: str | None = None, mode: str | None = None, min_score: float | None = None,
                cutoff: bool = True):
    """Images that look like the uploaded one (multipart field `file`)."""
    context = context_of(request)
    data = file.file.read(context.settings.limits.max_file_bytes + 1)
    name = file.filename or "upload"
    image = decode_query_image(context, data, name)
    return _search(context, [Term("image", image, label=name)], k=k, offset=offset, where=where, mode=mode, cutoff=cutoff,
                   min_score=min_score, shown={"text": None, "image": name})
