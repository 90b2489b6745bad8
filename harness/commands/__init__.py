"""One module per `harness` subcommand: `add_arguments(parser)` and `execute(args) -> int`.

This is the only layer that sees argparse; it builds typed configs and calls the library.
"""
