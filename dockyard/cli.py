"""The ``dockyard`` command line: ``serve``, ``gc`` and ``config check``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

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
        if _is_config_error(error):
            print(f"dockyard: configuration error: {error.message}", file=sys.stderr)
            return EXIT_CONFIG
        print(f"dockyard: {error.message}", file=sys.stderr)
        return 1
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
        help="delete blobs no manifest references (stop writes first: read-only mode)",
    )
    _config_argument(gc)
    gc.add_argument("--dry-run", "-d", action="store_true", help="report, delete nothing")
    gc.add_argument(
        "--delete-untagged",
        "-m",
        action="store_true",
        help="also delete manifests that no tag points at",
    )
    gc.set_defaults(run=_gc)

    config = commands.add_parser("config", help="work with configuration files")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a configuration file")
    check.add_argument("config", help="config.yml in the reference registry's shape")
    check.set_defaults(run=_config_check)

    from dockyard.notifications.cli import add_command as add_events_command

    add_events_command(commands)
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


def _load(args: argparse.Namespace) -> tuple[Config, str | None]:
    source: str | None = args.config or os.environ.get(CONFIG_PATH_ENV) or None
    return load(source), source


def _setup_logging(config: Config) -> None:
    logging.basicConfig(
        level=config.log.python_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _report_warnings(config: Config) -> None:
    for warning in config.warnings:
        logger.warning("configuration: %s", warning)


# --- serve --------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    from dockyard import server
    from dockyard.storage.cache import from_config as cache_from_config

    config, source = _load(args)
    _setup_logging(config)
    _report_warnings(config)
    # Fail here, with a clear message, rather than in every worker.
    server.worker_count(config)
    _check_storage(config)
    cache_from_config(config)
    server.build_authorizer(config)
    server.serve(config, source)
    return 0


def _check_storage(config: Config) -> None:
    """Build the driver once so that bad driver parameters stop start-up cleanly."""
    from dockyard import server

    if config.storage.driver == "filesystem":
        _check_root(config)
    try:
        driver = server.build_driver(config)
    except DockyardError as error:
        raise ConfigError(f"storage.{config.storage.driver}: {error.message}") from None
    asyncio.run(driver.close())


def _check_root(config: Config) -> None:
    """The filesystem root exists (created if need be) and is writable unless read-only."""
    root = Path(str(config.storage.parameters["rootdirectory"]))
    key = "storage.filesystem.rootdirectory"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"{key}: cannot create the directory ({error.strerror})") from None
    if not root.is_dir():
        raise ConfigError(f"{key}: not a directory")
    wanted = os.R_OK | os.X_OK | (0 if config.storage.readonly else os.W_OK)
    if not os.access(root, wanted):
        raise ConfigError(f"{key}: the directory is not accessible for reading and writing")


# --- gc -----------------------------------------------------------------------------------


def _gc(args: argparse.Namespace) -> int:
    from dockyard import server
    from dockyard.storage.cache import from_config as cache_from_config
    from dockyard.storage.gc import collect

    config, _ = _load(args)
    _setup_logging(config)
    _report_warnings(config)
    if config.storage.driver == "inmemory":
        print("dockyard gc: the inmemory driver keeps nothing to collect", file=sys.stderr)
        return 0
    _check_storage(config)
    driver = server.build_driver(config)
    cache = cache_from_config(config)

    async def run() -> object:
        try:
            return await collect(
                driver, dry_run=args.dry_run, delete_untagged=args.delete_untagged, cache=cache
            )
        finally:
            close_cache = getattr(cache, "close", None)
            if close_cache is not None:
                await close_cache()
            await driver.close()

    result = asyncio.run(run())
    print(("dry run: " if args.dry_run else "") + str(result))
    return 0


# --- config check -------------------------------------------------------------------------


def _config_check(args: argparse.Namespace) -> int:
    from dockyard import server
    from dockyard.storage.cache import from_config as cache_from_config

    config = load(args.config)
    server.worker_count(config)
    cache_from_config(config)
    server.build_authorizer(config)
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
