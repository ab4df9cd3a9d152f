"""The ingestion core: every image that enters the library goes through these stages.

    index(library, encoder, sources, settings, options) -> IndexReport     files, folders, URIs
    ingest_files(library, encoder, [HandedFile], media_dir) -> outcomes     uploads, generated images
"""

from pipeline.ingest.handed import FileOutcome, HandedFile, ingest_files
from pipeline.ingest.index import IndexOptions, index
from pipeline.ingest.report import Failure, IndexReport

__all__ = ["Failure", "FileOutcome", "HandedFile", "IndexOptions", "IndexReport", "index", "ingest_files"]
