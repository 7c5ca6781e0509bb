"""``dockyard events list|replay``: the dead-letter lists of the notification endpoints."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from dockyard.config import CONFIG_PATH_ENV, Config, ConfigError, load
from dockyard.notifications.store import open_store


def add_command(commands: Any) -> None:
    """Add ``events`` to the ``dockyard`` command line's subcommands."""
    events = commands.add_parser(
        "events", help="list and replay notification events that could not be delivered"
    )
    actions = events.add_subparsers(dest="events_command", required=True)
    for name, run, description in (
        ("list", _list, "show the dead-letter list of each endpoint"),
        ("replay", _replay, "queue dead-lettered events again for delivery"),
    ):
        action = actions.add_parser(name, help=description)
        action.add_argument("config", nargs="?", help="config.yml of the registry")
        action.add_argument("--endpoint", help="only this endpoint (by name)")
        action.add_argument("--json", action="store_true", help="report as JSON")
        action.set_defaults(run=run)


async def _each_queue(args: argparse.Namespace, action: str) -> dict[str, Any]:
    """``action`` (``dead_letters`` or ``replay``) of each endpoint's queue, by name."""
    config: Config = load(args.config or os.environ.get(CONFIG_PATH_ENV) or None)
    names = [e.name for e in config.notifications.endpoints]
    if args.endpoint is not None and args.endpoint not in names:
        raise ConfigError(f"notifications.endpoints: no endpoint named {args.endpoint!r}")
    store = open_store(config)
    try:
        results: dict[str, Any] = {}
        for name in names:
            if args.endpoint is None or name == args.endpoint:
                results[name] = await getattr(store.queue(name), action)()
        return results
    finally:
        await store.close()


def _list(args: argparse.Namespace) -> int:
    listing = asyncio.run(_each_queue(args, "dead_letters"))
    if args.json:
        json.dump(listing, sys.stdout, indent=1)
        print()
        return 0
    for name, records in listing.items():
        print(f"{name}: {len(records)} dead-lettered event(s)")
        for record in records:
            event = record.get("event", {})
            target = event.get("target", {})
            what = target.get("tag") or target.get("digest", "")
            print(
                f"  {event.get('id')} {event.get('timestamp')} {event.get('action')} "
                f"{target.get('repository', '')} {what}  ({record.get('failed', '')})"
            )
    return 0


def _replay(args: argparse.Namespace) -> int:
    replayed = asyncio.run(_each_queue(args, "replay"))
    if args.json:
        json.dump({"replayed": replayed}, sys.stdout)
        print()
    else:
        for name, count in replayed.items():
            print(f"{name}: {count} event(s) queued again")
    return 0
