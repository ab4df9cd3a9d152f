"""One module per group of CLI commands; each has `register(subparsers, common_parser)`."""

# Order here is the order in `python -m pipeline --help`.
COMMAND_MODULES = ["index", "search", "manage", "history", "optimize", "upgrade", "duplicates", "generate", "serve",
                   "demo"]
