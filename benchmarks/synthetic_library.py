"""A real image table (the product's schema) filled with given vectors, fast, for the benchmarks.

Rows carry ids, uris, sizes and one of ten formats (so `format = 'F0'` selects 10 % of rows); no
thumbnails. Written straight through LanceDB in batches (setup, not what is measured), then
optimized the way `index` leaves a table: scalar indexes, and the IVF index from 20,000 rows on.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa

FORMATS = [f"F{i}" for i in range(10)]
TEN_PERCENT = "format = 'F0'"


def write_library(db_dir: str, vectors: np.ndarray, model: str = "bench/synthetic", optimize: bool = True,
                  **library_options):
    from store import ImageLibrary
    from store.indexes import optimize as optimize_table

    library = ImageLibrary(db_dir, "images", **library_options)
    library.ensure(model, vectors.shape[1])
    schema = library.table.schema
    now = datetime.now(timezone.utc)
    step = 100_000
    for start in range(0, len(vectors), step):
        block = vectors[start:start + step]
        n = len(block)
        numbers = np.arange(start, start + n)
        columns = {field.name: pa.nulls(n, field.type) for field in schema}
        columns.update({
            "id": pa.array([f"{i:064x}" for i in numbers]),
            "uri": pa.array([f"/photos/{i}.jpg" for i in numbers]),
            "file_name": pa.array([f"{i}.jpg" for i in numbers]),
            "description": pa.array([""] * n),
            "tags": pa.array([[]] * n, pa.list_(pa.string())),
            "width": pa.array(640 + numbers % 7, pa.int32()),
            "height": pa.array(np.full(n, 480), pa.int32()),
            "format": pa.array([FORMATS[i % 10] for i in numbers]),
            "file_size": pa.array(100_000 + numbers, pa.int64()),
            "indexed_at": pa.array([now] * n, schema.field("indexed_at").type),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1), pa.float32()), block.shape[1]),
        })
        library.table.add(pa.Table.from_arrays([columns[f.name] for f in schema], schema=schema))
    if optimize:
        optimize_table(library)
    return library
