"""Digests: parsing, verification, and hash state that survives a process."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dockyard.digest import Digest, ResumableHasher, Verifier, is_digest
from dockyard.errors import DigestInvalid

SHA256_EMPTY = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_parse_accepts_sha256() -> None:
    digest = Digest.parse(SHA256_EMPTY)
    assert (digest.algorithm, str(digest)) == ("sha256", SHA256_EMPTY)


def test_parse_accepts_sha512() -> None:
    text = "sha512:" + hashlib.sha512(b"").hexdigest()
    assert Digest.parse(text).algorithm == "sha512"


@pytest.mark.parametrize(
    "text",
    [
        "sha256:" + "a" * 63,  # too short
        "sha256:" + "a" * 65,  # too long
        "sha512:" + "a" * 64,  # sha256 length under sha512
        "sha256:" + "A" * 64,  # uppercase hex
        "sha256:" + "g" * 64,  # not hex
        "md5:" + "a" * 32,  # unknown algorithm
        "a" * 64,  # no algorithm
        "",
        "sha256:",
        ":" + "a" * 64,
    ],
)
def test_parse_rejects_malformed_digest(text: str) -> None:
    with pytest.raises(DigestInvalid):
        Digest.parse(text)


def test_of_computes_content_digest() -> None:
    assert str(Digest.of(b"")) == SHA256_EMPTY


def test_of_rejects_unknown_algorithm() -> None:
    with pytest.raises(DigestInvalid):
        Digest.of(b"", "md5")


def test_is_digest_tells_digests_from_tags() -> None:
    assert is_digest(SHA256_EMPTY)
    assert not is_digest("latest")


@given(st.binary(max_size=300))
def test_parse_round_trips_computed_digests(data: bytes) -> None:
    for algorithm in ("sha256", "sha512"):
        digest = Digest.of(data, algorithm)
        assert Digest.parse(str(digest)) == digest


@given(st.text(max_size=140))
def test_parse_never_raises_anything_but_digest_invalid(text: str) -> None:
    with contextlib.suppress(DigestInvalid):
        Digest.parse(text)


def test_verifier_accepts_matching_content() -> None:
    verifier = Verifier(Digest.of(b"hello world"))
    verifier.update(b"hello ")
    verifier.update(b"world")
    assert verifier.verified()
    assert verifier.size == 11


def test_verifier_rejects_different_content() -> None:
    verifier = Verifier(Digest.of(b"hello world"))
    verifier.update(b"hello")
    assert not verifier.verified()


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
@given(data=st.binary(max_size=700), cut=st.integers(min_value=0, max_value=700))
def test_resumable_hasher_matches_hashlib_across_save_and_restore(
    algorithm: str, data: bytes, cut: int
) -> None:
    cut = min(cut, len(data))
    first = ResumableHasher(algorithm)
    first.update(data[:cut])
    resumed = ResumableHasher.restore(algorithm, first.save())
    resumed.update(data[cut:])
    assert resumed.digest().hex == hashlib.new(algorithm, data).hexdigest()
    assert resumed.size == len(data)


def test_resumable_hasher_digest_does_not_end_hashing() -> None:
    hasher = ResumableHasher()
    hasher.update(b"abc")
    hasher.digest()
    hasher.update(b"def")
    assert hasher.digest() == Digest.of(b"abcdef")


@pytest.mark.parametrize(("algorithm", "size"), [("sha256", 108), ("sha512", 204)])
def test_saved_state_has_go_marshaled_size(algorithm: str, size: int) -> None:
    # The reference registry stores Go's crypto/sha256|sha512 MarshalBinary form.
    state = ResumableHasher(algorithm).save()
    assert len(state) == size
    assert state[:3] == b"sha"


def test_go_marshaled_state_fields_are_big_endian() -> None:
    hasher = ResumableHasher()
    hasher.update(b"x" * 70)  # one full block plus six pending bytes
    state = hasher.save()
    assert state[:4] == b"sha\x03"
    assert state[36:42] == b"x" * 6  # pending bytes follow magic and eight h words
    assert state[42:100] == b"\0" * 58
    assert int.from_bytes(state[100:108], "big") == 70


def test_restore_rejects_foreign_state() -> None:
    with pytest.raises(DigestInvalid):
        ResumableHasher.restore("sha256", b"not a state")


def test_restore_rejects_state_of_other_algorithm() -> None:
    with pytest.raises(DigestInvalid):
        ResumableHasher.restore("sha512", ResumableHasher("sha256").save())


def test_hash_state_resumes_in_another_process() -> None:
    hasher = ResumableHasher()
    hasher.update(b"first half ")
    script = (
        "import sys; from dockyard.digest import ResumableHasher;"
        "h = ResumableHasher.restore('sha256', sys.stdin.buffer.read());"
        "h.update(b'second half'); print(h.digest())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], input=hasher.save(), capture_output=True, check=True
    )
    assert result.stdout.decode().strip() == str(Digest.of(b"first half second half"))
