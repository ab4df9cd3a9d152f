"""`--prune`: which rows to remove because their file is gone. Only what this run's own walk would
have listed and did not find, checked uri by uri after the table was read:

- the uri lies under a walked folder or s3 prefix, and the walk would list its name there
  (`walk.would_list`: --no-recursive leaves subfolders alone; hidden and extension-less files,
  which only an explicit argument indexes, are never pruned by a folder walk);
- the walk did not list it, and (local files) it still does not exist now: a file that arrived
  while the listing ran (an upload into the media folder) was indexed by someone else and stays.

Content stored under two names keeps its images: the pruned rows are removed before the job runs,
so a surviving copy under another name (listed, not in the table by its uri) is indexed in their
place instead of being skipped as "already there".
"""

from __future__ import annotations

import os
from typing import Iterable

from pipeline.walk import would_list


def _missing_now(uri: str) -> bool:
    if "://" in uri:  # s3 objects: the listing is taken as the answer
        return True
    return not os.path.lexists(uri)


def gone_ids(fingerprints: dict, listed: set[str], roots: Iterable[str], recursive: bool) -> list[str]:
    """Ids of the rows to prune (see the module docstring)."""
    roots = tuple(roots)
    gone = []
    for uri, (_, _, row_id) in fingerprints.items():
        if uri in listed or not any(would_list(uri, root, recursive) for root in roots):
            continue
        if _missing_now(uri):
            gone.append(row_id)
    return gone
