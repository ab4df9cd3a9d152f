"""The ingestion core: every image that enters the library goes through these stages."""
