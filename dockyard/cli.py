"""The ``dockyard`` command line: ``serve``, ``gc``, ``export``, ``import``, ``sync`` and
``config check``."""

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
from typing import Any

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

    _transfer_parsers(commands)

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
    from dockyard.gc.marker import CollectionExpired
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
        lease = lease_for(config, built.driver, ttl=options.lease)
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
    except CollectionExpired as expired:
        print(f"dockyard gc: stopped, nothing more swept: {expired}", file=sys.stderr)
        return 1
    finally:
        if progress is not None:
            progress.close()
    sys.stdout.write(render(result, as_json=args.json))
    return 0


def _duration(text: str) -> timedelta:
    """A duration on the command line, in the configuration's grammar (``30s``, ``1h``,
    ``90`` seconds)."""
    from dockyard.config.values import duration

    try:
        return duration(text)
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


# --- export and import --------------------------------------------------------------------


def _transfer_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export", help="write images of the registry into an OCI image layout"
    )
    export.add_argument("references", nargs="+", metavar="REF", help="name:tag or name@digest")
    export.add_argument(
        "--with-referrers", action="store_true", help="also the manifests referring to each"
    )
    import_ = commands.add_parser("import", help="push the images of an OCI image layout")
    import_.add_argument(
        "--repository", help="push every image here (ref.name is then only the tag)"
    )
    sync = commands.add_parser("sync", help="copy repositories and tags of another registry")
    sync.add_argument("--from", dest="source", required=True, metavar="URL", help="its base URL")
    sync.add_argument(
        "--repository",
        action="append",
        default=[],
        help="a repository to copy (repeatable; default: every one the source's catalog lists)",
    )
    sync.add_argument("--prefix", default="", help="only repositories below this prefix")
    sync.add_argument("--tags", metavar="REGEX", help="only tags this regular expression finds")
    sync.add_argument(
        "--semver", metavar="RANGE", help="only versions in this range (>=1.2 <2, ^1.4, ~2.1)"
    )
    sync.add_argument(
        "--platform",
        action="append",
        default=[],
        metavar="OS/ARCH[/VARIANT]",
        help="of an index, copy only this platform's image (repeatable; default: every one)",
    )
    sync.add_argument("--username", help="user name at the source")
    sync.add_argument(
        "--password-env", metavar="VAR", help="environment variable holding the password"
    )
    sync.add_argument("--ratelimit", type=int, default=0, help="requests per second at most")
    for parser, run in ((export, _export), (import_, _import), (sync, _sync)):
        if parser is not sync:
            target = parser.add_mutually_exclusive_group(required=True)
            target.add_argument("--oci-layout", metavar="DIR", help="an OCI image layout")
            target.add_argument("--oci-archive", metavar="FILE", help="an OCI archive (tar)")
        parser.add_argument(
            "--config", "-c", help=f"config.yml (default: ${CONFIG_PATH_ENV}, else ./.data)"
        )
        parser.add_argument("--json", action="store_true", help="report as JSON on stdout")
        parser.set_defaults(run=run)


def _export(args: argparse.Namespace) -> int:
    from dockyard.ocilayout.transfer import export_images

    return _transfer(
        args,
        "exported",
        lambda registry, layout, progress: export_images(
            registry, args.references, layout, progress, with_referrers=args.with_referrers
        ),
    )


def _import(args: argparse.Namespace) -> int:
    from dockyard.ocilayout.transfer import import_images

    return _transfer(
        args,
        "imported",
        lambda registry, layout, progress: import_images(
            registry, layout, args.repository, progress
        ),
    )


def _sync(args: argparse.Namespace) -> int:
    """Copy from another registry: one line per tag on stdout (and per blob on a
    terminal), or a JSON report with ``--json``."""
    import json
    import re

    from dockyard import assembly
    from dockyard.proxy.client import UpstreamClient
    from dockyard.proxy.settings import UpstreamConfig
    from dockyard.sync.copy import SyncFilter, sync
    from dockyard.sync.display import SyncDisplay
    from dockyard.sync.platforms import PlatformFilter, PlatformInvalid
    from dockyard.sync.semver import VersionRange

    args.config = args.config or os.environ.get(CONFIG_PATH_ENV) or None
    config = _load(args)
    _setup_logging(args, config)
    try:
        tags = re.compile(args.tags) if args.tags else None
    except re.error as error:
        raise ConfigError(f"--tags: not a regular expression ({error})") from None
    try:
        platforms = PlatformFilter.parse(args.platform)
    except PlatformInvalid as error:
        raise ConfigError(f"--platform: {error.message}") from None
    password = os.environ.get(args.password_env) if args.password_env else None
    source = UpstreamClient(
        UpstreamConfig(
            name="source",
            url=args.source.rstrip("/"),
            username=args.username,
            password=password,
            ratelimit=args.ratelimit,
        )
    )
    versions = VersionRange(args.semver) if args.semver else None
    selection = SyncFilter(tuple(args.repository), args.prefix, tags, versions, platforms)
    built = assembly.assemble(config)
    display = SyncDisplay(sys.stdout, sys.stderr, as_json=args.json)

    async def run() -> Any:
        try:
            return await sync(source, built.services, selection, display.progress, display.transfer)
        finally:
            display.close()
            await source.close()
            await built.close()

    report = asyncio.run(run())
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(
            f"synced {len(report.tags_copied)} tag(s) ({len(report.tags_current)} already "
            f"current): {report.manifests} manifest(s), {report.blobs} blob(s), "
            f"{report.bytes} bytes"
        )
    return 0


def _transfer(args: argparse.Namespace, verb: str, work: Any) -> int:
    """Run an export or import over the registry the configuration describes, showing
    each blob on a terminal and reporting each image (as JSON with ``--json``)."""
    import json
    from pathlib import Path

    from dockyard import assembly
    from dockyard.ocilayout.archive import reading_archive, writing_archive
    from dockyard.ocilayout.layout import OciLayout

    args.config = args.config or os.environ.get(CONFIG_PATH_ENV) or None
    config = _load(args)
    _setup_logging(args, config)
    built = assembly.assemble(config)
    on_terminal = sys.stderr.isatty()

    def progress(message: str) -> None:
        if on_terminal:
            print(f"  {message}", file=sys.stderr, flush=True)

    async def run() -> Any:
        try:
            if args.oci_layout:
                return await work(built.services, OciLayout(Path(args.oci_layout)), progress)
            archive = Path(args.oci_archive)
            opening = writing_archive if verb == "exported" else reading_archive
            async with opening(archive) as layout:
                return await work(built.services, layout, progress)
        finally:
            await built.close()

    results = asyncio.run(run())
    if args.json:
        print(json.dumps([result.to_json() for result in results], indent=2))
    else:
        for result in results:
            name = f"{result.repository}:{result.tag}" if result.tag else result.repository
            print(
                f"{verb} {name} {result.digest}: {result.blobs} blob(s), {result.bytes} "
                f"bytes ({result.skipped} already there)"
            )
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
    print(f"  auth:    {', '.join(config.auth.schemes) or 'none'}")
    print(f"  delete:  {'enabled' if storage.delete_enabled else 'disabled'}")
    if storage.readonly:
        print("  read-only mode")
    if config.proxy is not None:
        upstreams = config.proxy.all_upstreams
        for upstream in upstreams:
            scope = upstream.prefix or ("every other repository" if len(upstreams) > 1 else "all")
            print(f"  proxy:   {scope} from {upstream.url} ({upstream.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
