"""The photo options of `search`: when (--taken-after/--taken-before), which camera, where, and
--sort taken_at. They become one filter with --where (store.filters.FilterSpec), applied before the
search (both sides), so the top k are the best matches among the photos that qualify;
`--sort taken_at` is search's own --sort."""

from __future__ import annotations

import argparse
from datetime import date, datetime

from pipeline.commands.common import UsageError
from store.filters import FilterSpec

def add_photo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--taken-after", metavar="DATE", help="taken on or after this ISO date or time (2019-06-01)")
    p.add_argument("--taken-before", metavar="DATE", help="taken before this ISO date or time (2019-09-01)")
    p.add_argument("--camera", help="part of the camera make or model, any case (\"iphone\")")
    p.add_argument("--place", help="part of the city, region or country, any case (\"Lisbon\")")
    p.add_argument("--has-location", action=argparse.BooleanOptionalAction, default=None,
                   help="only geotagged photos (--no-has-location: only those without coordinates)")


def parse_moment(option: str, text: str | None) -> date | datetime | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text) if len(text.strip()) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} takes an ISO date like 2019-06-01 (or 2019-06-01T18:00), got {text!r}") from None


def photo_where(args: argparse.Namespace) -> str | None:
    """--where and the photo options as one filter (None when none is given)."""
    spec = FilterSpec(
        sql=args.where or "",
        taken_after=parse_moment("--taken-after", args.taken_after),
        taken_before=parse_moment("--taken-before", args.taken_before),
        camera=args.camera or "", place=args.place or "", has_location=args.has_location,
    )
    return spec.where()
