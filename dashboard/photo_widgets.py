"""Photo metadata in the dashboard: date-taken/camera/place filters, timeline and map, details."""

from __future__ import annotations

from datetime import timedelta

import altair as alt
import streamlit as st

from dashboard.text import md
from store import insights
from store.filters import date_bounds

LOCATION_CHOICES = {"any": None, "with a location": True, "without a location": False}


def photo_filter_inputs(prefix: str) -> dict:
    """Date taken, camera, place and has-location inputs, as FilterSpec keyword arguments."""
    c1, c2, c3, c4 = st.columns(4)
    taken = c1.date_input("Taken between", value=(), key=f"{prefix}_taken", format="YYYY-MM-DD",
                          help="The date in the photo's EXIF (the camera's clock), not the file's date.")
    camera = c2.text_input("Camera", key=f"{prefix}_camera", placeholder="e.g. iPhone",
                           help="Part of the camera make or model, any case.")
    place = c3.text_input("Place", key=f"{prefix}_place", placeholder="e.g. Lisbon",
                          help="Part of the city, region or country, any case.")
    located = c4.selectbox("Location", list(LOCATION_CHOICES), key=f"{prefix}_located")
    start, end = date_bounds(taken)
    return {"taken_after": start, "taken_before": end + timedelta(days=1) if end else None,  # end day included
            "camera": camera, "place": place, "has_location": LOCATION_CHOICES[located]}


def photo_charts(library) -> None:
    """Photos per month by date taken, and (on request) a map of the geotagged ones."""
    months = insights.taken_per_month(library)
    st.markdown("**Photos by month taken**")
    if months:
        values = [{"month": m["month"].isoformat(), "photos": m["count"]} for m in months]
        st.altair_chart(alt.Chart(alt.Data(values=values)).mark_bar()
                        .encode(x=alt.X("month:T", timeUnit="yearmonth", title="month taken"),
                                y="photos:Q", tooltip=[alt.Tooltip("month:T", format="%B %Y"), "photos:Q"]),
                        width="stretch")
    else:
        st.caption("No photo carries a date taken (EXIF DateTimeOriginal) yet.")
    points = insights.geotagged(library)
    st.markdown(f"**Geotagged photos** ({len(points):,})")
    if not points:
        st.caption("No photo carries GPS coordinates.")
        return
    # The basemap's tiles come from the internet (Carto): drawn only when asked, so an offline or
    # privacy-minded install never makes that request.
    if st.toggle("Show the map (loads map tiles from the internet)", key="library_show_map"):
        st.map([{"lat": p["lat"], "lon": p["lon"]} for p in points], size=20)
    else:
        places: dict[str, int] = {}
        for p in points:
            places[p["city"] or "unnamed place"] = places.get(p["city"] or "unnamed place", 0) + 1
        st.caption("Places: " + ", ".join(f"{name} {count}" for name, count in
                                          sorted(places.items(), key=lambda kv: -kv[1])[:12]))


def photo_details(row: dict) -> None:
    """When, with what and where a result was taken, for its details panel."""
    lines = []
    taken = row.get("taken_at")
    if taken:
        offset = row.get("taken_at_offset")
        lines.append(f"Taken {taken:%Y-%m-%d %H:%M} " + ("UTC" if offset else "(camera clock)")
                     + (f", local offset {offset}" if offset else ""))
    camera = insights.camera_name(row.get("camera_make"), row.get("camera_model"))
    exposure = []
    if row.get("focal_length_mm"):
        exposure.append(f"{row['focal_length_mm']:.0f} mm")
    if row.get("f_number"):
        exposure.append(f"f/{row['f_number']:.1f}")
    if row.get("exposure_s"):
        e = row["exposure_s"]
        exposure.append(f"1/{round(1 / e)} s" if e < 1 else f"{e:g} s")
    if row.get("iso"):
        exposure.append(f"ISO {row['iso']}")
    if camera or exposure:
        lines.append(" · ".join(filter(None, [camera, row.get("lens"), " ".join(exposure)])))
    if row.get("gps_lat") is not None:
        place = ", ".join(filter(None, [row.get("city"), row.get("region"), row.get("country")]))
        lines.append(f"{place + ' · ' if place else ''}{row['gps_lat']:.5f}, {row['gps_lon']:.5f}")
    for line in lines:
        st.caption(md(line))  # camera and place strings come from the file: text, never Markdown
