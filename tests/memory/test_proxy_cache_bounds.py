"""The pull-through cache's upstream token memo holds no more memory than its bound."""

from __future__ import annotations

import os
import time

from retained import released, tracing

from dockyard.proxy.client import _TokenCache


def test_upstream_token_cache_holds_no_more_than_its_bytes_bound_over_many_scopes() -> None:
    bound = 64 * 1024
    with tracing():
        caches = [_TokenCache(max_bytes=bound)]
        for n in range(400):  # a token per repository pulled: three bounds' worth
            scope = f"repository:library/r{n:04}:pull"
            token = os.urandom(64).hex()
            caches[0].put(("https://auth.example/token", "registry", scope), token, 300)
            assert caches[0].get(("https://auth.example/token", "registry", scope)) == token
        assert caches[0].charged_bytes <= bound
        held = released(caches.clear)
    assert held <= bound


def test_expired_upstream_tokens_make_room_before_live_ones_are_dropped() -> None:
    cache = _TokenCache(max_bytes=4096)
    live = ("realm", "service", "repository:a:pull")
    cache.put(live, "live", 300)
    for n in range(6):  # they expire a second from now
        cache.put(("realm", "service", f"repository:old{n}:pull"), "t" * 40, 0)
    time.sleep(1.1)
    for n in range(4):  # past the bound: the expired ones go
        cache.put(("realm", "service", f"repository:new{n}:pull"), "t" * 40, 300)
    assert cache.get(live) == "live"
    assert cache.charged_bytes <= 4096
