"""The bulk indexing job on Ray Data: list -> read -> decode (CPU tasks) -> encode (actor pool) -> write.

Stages are plain functions and classes over batch dicts, so each can be tested without Ray.
"""
