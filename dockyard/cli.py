"""The ``dockyard`` command line: ``serve``, ``gc`` and ``config check``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from importlib import metadata

from dockyard import logs
from dockyard.config import CONFIG_PATH_ENV, Config, ConfigError, load
from dockyard.errors import DockyardError

logger = logging.getLogger("dockyard")

#: Exit status for a configuration that does not load.
EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status."""
    args = _parser().parse_args(argv)
    try:
        result: int = args.run(args)
        return result
    except DockyardError as error:
        config_error = _is_config_error(error)
        message = f"{'configuration error: ' if config_error else ''}{error.message}"
        if getattr(args, "structured_logs", False):
            logger.critical("%s", message)
        else:
            print(f"dockyard: {message}", file=sys.stderr)
        return EXIT_CONFIG if config_error else 1
    except KeyboardInterrupt:
        return 130


def _is_config_error(error: DockyardError) -> bool:
    """Whether ``error`` says the configuration is wrong (``ConfigError``, ``AuthConfigError``).

    The auth package is imported only when ``auth`` is configured, which keeps the serving
    supervisor small; an ``AuthConfigError`` can only have been raised once it is loaded.
    """
    if isinstance(error, ConfigError):
        return True
    auth_errors = sys.modules.get("dockyard.auth.errors")
    return auth_errors is not None and isinstance(error, auth_errors.AuthConfigError)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dockyard", description="A container image registry (OCI distribution)."
    )
    parser.add_argument("--version", action="version", version=f"dockyard {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the registry")
    _config_argument(serve)
    serve.set_defaults(run=_serve)

    gc = commands.add_parser(
        "gc",
        aliases=["garbage-collect"],
        help="delete manifests and blobs nothing reaches (safe while serving)",
    )
    _config_argument(gc)
    gc.add_argument(
        "--dry-run", "-d", action="store_true", help="list what would go, delete nothing"
    )
    gc.add_argument(
        "--delete-untagged",
        "-m",
        action="store_true",
        help="also delete manifests that no tag reaches",
    )
    gc.add_argument(
        "--keep-orphan-referrers",
        action="store_true",
        help="with --delete-untagged, keep referrers whose subject is deleted",
    )
    gc.add_argument(
        "--grace",
        type=_duration,
        default=None,
        help="keep blobs uploaded or linked this recently (default: "
        "storage.maintenance.gc.grace, 1h)",
    )
    gc.add_argument("--json", action="store_true", help="write the report as JSON")
    gc.set_defaults(run=_gc)

    scrub = commands.add_parser(
        "scrub", help="check (and --repair) the integrity of the storage; safe while serving"
    )
    _config_argument(scrub)
    scrub.add_argument("--repository", metavar="GLOB", help="only repositories matching GLOB")
    scrub.add_argument(
        "--check",
        choices=("sizes", "digests"),
        default="sizes",
        help="sizes (fast) or digests (hash every blob's content)",
    )
    scrub.add_argument("--rate", type=float, metavar="MB/s", help="hash at most this fast")
    scrub.add_argument("--json", action="store_true", help="write the report as JSON")
    scrub.add_argument(
        "--repair",
        action="store_true",
        help="move corrupt content to quarantine and unlink it, so the next push uploads it",
    )
    scrub.set_defaults(run=_scrub)

    repo = commands.add_parser("repo", help="work with repositories")
    repo_commands = repo.add_subparsers(dest="repo_command", required=True)
    repo_delete = repo_commands.add_parser(
        "delete",
        help="delete a repository's tags, manifests and links (its content goes at the "
        "next gc); safe while serving",
    )
    repo_delete.add_argument("name", help="the repository, e.g. library/app")
    _config_argument(repo_delete)
    repo_delete.set_defaults(run=_repo_delete)

    config = commands.add_parser("config", help="work with configuration files")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a configuration file")
    check.add_argument("config", help="config.yml in the reference registry's shape")
    check.set_defaults(run=_config_check)
    return parser


def _version() -> str:
    try:
        return metadata.version("dockyard")
    except metadata.PackageNotFoundError:
        return "unknown"


def _config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "config",
        nargs="?",
        help=f"config.yml in the reference registry's shape (default: ${CONFIG_PATH_ENV}, "
        "else filesystem storage in ./.data on port 5000)",
    )


def _load(args: argparse.Namespace) -> Config:
    source: str | None = args.config or os.environ.get(CONFIG_PATH_ENV) or None
    return load(source)


def _setup_logging(args: argparse.Namespace, config: Config) -> None:
    """Log in the configured format from the first line on, start-up warnings included."""
    logs.configure(config.log)
    args.structured_logs = config.log.formatter in ("json", "logstash")
    for warning in config.warnings:
        logger.warning("configuration: %s", warning)


# --- serve --------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    from dockyard import serving

    config = _load(args)
    _setup_logging(args, config)
    # Fail here, with a clear message, rather than in every worker.
    serving.worker_count(config)
    _check(config)
    serving.serve(config)
    return 0


def _check(config: Config) -> None:
    """Build what ``serve`` builds, so that whatever would stop it stops here, named."""
    from dockyard import assembly

    assembly.check(config)


# --- gc -----------------------------------------------------------------------------------


def _gc(args: argparse.Namespace) -> int:
    from dockyard import assembly
    from dockyard.gc.lease import LeaseHeld
    from dockyard.gc.report import TerminalProgress, render
    from dockyard.gc.run import collect_once, lease_for, options_from
    from dockyard.storage.gc import GCResult

    config = _load(args)
    _setup_logging(args, config)
    if config.storage.driver == "inmemory":
        print("dockyard gc: the inmemory driver keeps nothing to collect", file=sys.stderr)
        return 0
    built = assembly.assemble(config)
    configured = options_from(config)
    options = dataclasses.replace(
        configured,
        dry_run=args.dry_run,
        delete_untagged=args.delete_untagged or configured.delete_untagged,
        keep_orphan_referrers=args.keep_orphan_referrers or configured.keep_orphan_referrers,
        grace=args.grace if args.grace is not None else configured.grace,
    )
    progress = TerminalProgress.if_terminal(sys.stderr)

    async def run() -> GCResult:
        lease = lease_for(config, built.driver)
        try:
            return await collect_once(built.driver, built.cache, lease, options, progress)
        finally:
            await lease.close()
            await built.close()

    try:
        result = asyncio.run(run())
    except LeaseHeld:
        print("dockyard gc: another collection is running; try again later", file=sys.stderr)
        return 1
    finally:
        if progress is not None:
            progress.close()
    sys.stdout.write(render(result, as_json=args.json))
    return 0


def _duration(text: str) -> timedelta:
    """A Go-style duration on the command line (``30s``, ``1h``)."""
    from dockyard.config.values import parse_duration

    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


# --- scrub --------------------------------------------------------------------------------


def _scrub(args: argparse.Namespace) -> int:
    import json

    from dockyard import assembly
    from dockyard.scrub.scrub import ScrubResult, scrub

    config = _load(args)
    _setup_logging(args, config)
    built = assembly.assemble(config)
    progress = None
    if sys.stderr.isatty():

        def progress(name: str, done: int, total: int) -> None:
            print(f"\rscrub {done}/{total} {name}\033[K", end="", file=sys.stderr, flush=True)

    async def run() -> ScrubResult:
        try:
            return await scrub(
                built.driver,
                repository=args.repository,
                check=args.check,
                rate=args.rate * 1_000_000 if args.rate else None,
                repair=args.repair,
                cache=built.cache,
                progress=progress,
            )
        finally:
            await built.close()

    result = asyncio.run(run())
    if progress is not None:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        for problem in result.problems:
            print(problem)
        print(result)
    unrepaired = [p for p in result.problems if not p.repaired]
    return 1 if unrepaired else 0


# --- repo delete --------------------------------------------------------------------------


def _repo_delete(args: argparse.Namespace) -> int:
    from dockyard import assembly

    config = _load(args)
    _setup_logging(args, config)
    built = assembly.assemble(config)

    async def run() -> None:
        try:
            await built.registry.delete_repository(args.name)
        finally:
            await built.close()

    asyncio.run(run())
    print(f"deleted repository {args.name}; its content goes at the next gc")
    return 0


# --- config check -------------------------------------------------------------------------


def _config_check(args: argparse.Namespace) -> int:
    from dockyard import serving

    config = load(args.config)
    serving.worker_count(config)
    _check(config)
    for warning in config.warnings:
        print(f"warning: {warning}")
    storage = config.storage
    where = storage.parameters.get("rootdirectory") or storage.parameters.get("bucket") or ""
    print(f"{args.config}: valid")
    print(f"  storage: {storage.driver} {where}".rstrip())
    print(f"  listen:  {config.http.addr}" + (" (TLS)" if config.http.tls else ""))
    print(f"  auth:    {', '.join(sorted(config.auth)) or 'none'}")
    print(f"  delete:  {'enabled' if storage.delete_enabled else 'disabled'}")
    if storage.readonly:
        print("  read-only mode")
    return 0


if __name__ == "__main__":
    sys.exit(main())
