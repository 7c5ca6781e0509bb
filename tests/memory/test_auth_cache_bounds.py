"""The auth layer's memos and tables hold no more memory than their stated bounds,
measured with ``tracemalloc`` after filling each well past its bound with real calls."""

from __future__ import annotations

import os
import time
from pathlib import Path

import bcrypt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from retained import MiB, released, tracing

from dockyard.auth import htpasswd, jwt, ratelimit, token
from dockyard.auth.keys import TrustedKeys
from dockyard.auth.ratelimit import AttemptLimiter, AttemptPolicy
from dockyard.auth.rules import PatternMemo

ISSUER, SERVICE = "memory-issuer", "memory-service"


def _token(key: ec.EllipticCurvePrivateKey, padding: int) -> str:
    """A valid token whose grants are as large as ``padding`` makes them."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": SERVICE,
        "sub": "alice",
        "exp": now + 300,
        "nbf": now,
        "iat": now,
        "jti": os.urandom(8).hex(),
        "access": [
            {"type": "repository", "name": f"r{n}/{os.urandom(20).hex()}", "actions": ["pull"]}
            for n in range(padding)
        ],
    }
    return jwt.encode({"typ": "JWT", "alg": "ES256", "kid": "k"}, claims, key)


def test_token_cache_holds_no_more_than_its_bytes_bound_with_large_grants() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    trusted = TrustedKeys()
    trusted.add(key.public_key(), extra_ids=("k",))
    verifier = token.TokenVerifier(issuer=ISSUER, service=SERVICE, trusted=trusted)
    tokens = [_token(key, padding=100) for _ in range(300)]  # ~40 KiB each: 3 bounds
    with tracing():
        for raw in tokens:
            assert verifier.verify(raw).subject == "alice"
        assert verifier.cached_bytes <= token._CACHE_MAX_BYTES
        held = released(verifier._verified.clear)
    assert held <= token._CACHE_MAX_BYTES


def test_rate_limit_tables_hold_no_more_than_their_stated_bytes_bound() -> None:
    policy = AttemptPolicy(max_entries=2000)
    with tracing():
        limiters = [AttemptLimiter(policy)]
        for n in range(5000):  # new long user names and addresses: 2.5 bounds' worth
            limiters[0].failed(f"user-{n}-{'x' * 200}", f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}")
        assert len(limiters[0].users._records) == len(limiters[0].addresses._records) == 2000
        held = released(limiters.clear)
    assert held <= 2 * 2000 * ratelimit.RECORD_BYTES
    assert held > 2000 * ratelimit.RECORD_BYTES  # the bound is not loose by more than 2x


def test_rate_limit_record_bound_covers_the_default_table_in_a_few_mib() -> None:
    assert 2 * AttemptPolicy().max_entries * ratelimit.RECORD_BYTES <= 8 * MiB


async def test_htpasswd_memo_holds_no_more_than_its_bytes_bound_with_long_user_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bound = 32 * 1024
    monkeypatch.setattr(htpasswd, "_CACHE_MAX_BYTES", bound)
    hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(4)).decode()
    users = [f"user{n:04}{'u' * 1000}" for n in range(80)]  # 80 KiB of names: 2.5 bounds
    path = tmp_path / "htpasswd"
    path.write_text("".join(f"{user}:{hashed}\n" for user in users))
    with tracing():
        files = [htpasswd.HtpasswdFile(path, limiter=AttemptLimiter(AttemptPolicy(attempts=0)))]
        for user in users:
            assert await files[0].verify(user, "secret")
        assert files[0].cached_bytes <= bound
        held = released(files[0]._verified.clear)
    assert held <= bound


def test_pattern_memo_holds_no_more_than_its_bytes_bound_with_long_user_names() -> None:
    with tracing():
        memos = [PatternMemo()]
        for n in range(2000):  # ~4 KiB each: four bounds' worth
            user = f"u{n:05}" + "x" * 240
            assert memos[0].compiled("team/${user}/**", user) is not None
        assert memos[0].charged_bytes <= memos[0].max_bytes
        held = released(memos.clear)
    assert memos == []
    assert held <= PatternMemo().max_bytes
