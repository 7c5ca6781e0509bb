"""The API layer's memos hold no more memory than their stated bounds, measured with
``tracemalloc`` after filling each well past its bound with real calls."""

from __future__ import annotations

from datetime import timedelta

from retained import released, tracing

from dockyard.api import context
from dockyard.api.context import Services
from dockyard.api.routes import NAME_ENTRY_BYTES, NameValidator
from dockyard.api.settings import ApiSettings
from dockyard.api.upload_state import UploadStateCodec
from dockyard.storage.driver.inmemory import InMemoryDriver
from dockyard.storage.registry import StorageRegistry

SECRET = "memory-tests-secret-" + "s" * 20


def _long_name(n: int) -> str:
    """A valid repository name of 255 characters, different for each ``n``."""
    head = f"team{n:06}/"
    return head + "n" * (255 - len(head))


def test_remembered_names_hold_no_more_than_their_stated_bytes() -> None:
    with tracing():
        validators = [NameValidator()]
        for n in range(6000):  # 1.5 MiB of names: several times the character bound
            validators[0].check(_long_name(n))
        assert validators[0].chars <= validators[0].max_chars
        bound = validators[0].max_chars + validators[0].max_entries * NAME_ENTRY_BYTES
        held = released(validators.clear)
    assert held <= bound


def test_kept_repository_objects_hold_no_more_than_their_stated_bytes() -> None:
    registry = StorageRegistry(InMemoryDriver())
    with tracing():
        services = [
            Services(
                registry=registry,
                settings=ApiSettings(secret=SECRET),
                authorizer=None,
                codec=UploadStateCodec(SECRET, timedelta(days=1)),
            )
        ]
        for n in range(context._REPOSITORY_CACHE_SIZE + 500):
            services[0].repository(_long_name(n))
        assert len(services[0]._repositories) == context._REPOSITORY_CACHE_SIZE
        held = released(services[0]._repositories.clear)
    assert held <= context._REPOSITORY_CACHE_SIZE * context.REPOSITORY_ENTRY_BYTES
