"""The ``dockyard`` command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dockyard", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the registry")
    serve.add_argument("config", nargs="?", help="config.yml in the reference registry's shape")
    args = parser.parse_args(argv)
    if args.command == "serve":
        print("dockyard serve: the HTTP API is not assembled yet", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
