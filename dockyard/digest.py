"""Content digests: parsing, verification, and a hasher whose state survives a restart.

A digest is ``algorithm:hex`` (OCI image-spec, "Digests"). dockyard accepts the two
registered algorithms, sha256 and sha512, and nothing else.

``ResumableHasher`` wraps OpenSSL's ``SHA256_CTX``/``SHA512_CTX`` through ctypes so its
state can be saved to bytes after every chunk of an upload and restored by another
process. The saved form is Go's ``encoding.BinaryMarshaler`` form for ``crypto/sha256``
and ``crypto/sha512``, the form the reference registry writes under
``_uploads/<id>/hashstates/``, so either registry can resume the other's upload.
ctypes releases the GIL during the foreign call, so hashing in a worker thread runs in
parallel with the event loop at OpenSSL's full speed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import re
import struct
from dataclasses import dataclass
from typing import Final

from dockyard.errors import DigestInvalid

#: Hex length of each supported algorithm's digest.
ALGORITHMS: Final[dict[str, int]] = {"sha256": 64, "sha512": 128}
CANONICAL_ALGORITHM: Final = "sha256"

_HEX = re.compile(r"[a-f0-9]+")


@dataclass(frozen=True, slots=True, order=True)
class Digest:
    """A validated ``algorithm:hex`` content digest."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse and validate a digest string, raising ``DigestInvalid`` when malformed."""
        algorithm, sep, hex_part = text.partition(":")
        if not sep:
            raise DigestInvalid(f"digest {text[:200]!r} has no algorithm prefix")
        expected = ALGORITHMS.get(algorithm)
        if expected is None:
            raise DigestInvalid(f"unsupported digest algorithm {algorithm[:32]!r}")
        if len(hex_part) != expected or not _HEX.fullmatch(hex_part):
            raise DigestInvalid(f"{algorithm} digest must be {expected} lowercase hex characters")
        return cls(algorithm, hex_part)

    @classmethod
    def of(cls, data: bytes, algorithm: str = CANONICAL_ALGORITHM) -> Digest:
        """The digest of ``data`` (small buffers; stream large content through a hasher)."""
        if algorithm not in ALGORITHMS:
            raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}")
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def is_digest(text: str) -> bool:
    """Whether ``text`` is a valid digest; useful to tell digests from tags."""
    try:
        Digest.parse(text)
    except DigestInvalid:
        return False
    return True


class Verifier:
    """Checks that streamed content matches an expected digest."""

    def __init__(self, expected: Digest) -> None:
        self.expected = expected
        self._hash = hashlib.new(expected.algorithm)
        self.size = 0

    def update(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)

    def verified(self) -> bool:
        return self._hash.hexdigest() == self.expected.hex


# --- resumable hashing over OpenSSL -------------------------------------------------------


def _load_libcrypto() -> ctypes.CDLL:
    # Python's own _hashlib links libcrypto, so it is always present where hashlib works.
    name = ctypes.util.find_library("crypto") or "libcrypto.so.3"
    lib = ctypes.CDLL(name)
    for algorithm in ("SHA256", "SHA512"):
        getattr(lib, f"{algorithm}_Init").argtypes = [ctypes.c_void_p]
        getattr(lib, f"{algorithm}_Update").argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_size_t,
        ]
        getattr(lib, f"{algorithm}_Final").argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    return lib


_LIB: Final = _load_libcrypto()


@dataclass(frozen=True, slots=True)
class _Layout:
    """How one algorithm's OpenSSL context and Go marshaled state are laid out."""

    prefix: str  # OpenSSL function prefix
    word: str  # struct code of one state word: I (32-bit) or Q (64-bit)
    block: int  # block size in bytes
    ctx_size: int  # sizeof(SHAxxx_CTX)
    magic: bytes  # Go's marshaled-state magic

    @property
    def marshaled_size(self) -> int:
        return len(self.magic) + 8 * struct.calcsize(self.word) + self.block + 8


_LAYOUTS: Final = {
    # SHA256_CTX: h[8] u32, Nl u32, Nh u32, data[64 bytes], num u32, md_len u32
    "sha256": _Layout("SHA256", "I", 64, 8 * 4 + 8 + 64 + 8, b"sha\x03"),
    # SHA512_CTX: h[8] u64, Nl u64, Nh u64, data[128 bytes], num u32, md_len u32
    "sha512": _Layout("SHA512", "Q", 128, 8 * 8 + 16 + 128 + 8, b"sha\x07"),
}


class ResumableHasher:
    """A sha256/sha512 hasher whose state can be saved and restored across processes."""

    def __init__(self, algorithm: str = CANONICAL_ALGORITHM) -> None:
        layout = _LAYOUTS.get(algorithm)
        if layout is None:
            raise DigestInvalid(f"unsupported digest algorithm {algorithm!r}")
        self.algorithm = algorithm
        self._layout = layout
        self._ctx = ctypes.create_string_buffer(layout.ctx_size)
        getattr(_LIB, f"{layout.prefix}_Init")(self._ctx)
        self._update = getattr(_LIB, f"{layout.prefix}_Update")
        self._final = getattr(_LIB, f"{layout.prefix}_Final")
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes. Safe to call from a worker thread: OpenSSL runs without the GIL."""
        if isinstance(data, memoryview | bytearray):
            data = bytes(data)
        self._update(self._ctx, data, len(data))
        self.size += len(data)

    def digest(self) -> Digest:
        """The digest of everything fed so far; the hasher can keep going afterwards."""
        copy = ctypes.create_string_buffer(self._ctx.raw, self._layout.ctx_size)
        out = ctypes.create_string_buffer(self._digest_size)
        self._final(out, copy)
        return Digest(self.algorithm, out.raw.hex())

    @property
    def _digest_size(self) -> int:
        return ALGORITHMS[self.algorithm] // 2

    def save(self) -> bytes:
        """The hash state in Go's marshaled form (what the reference registry stores)."""
        layout = self._layout
        words = 8
        fmt = f"={words + 2}{layout.word}{layout.block}sII"
        values = struct.unpack(fmt, self._ctx.raw)
        h = values[:words]
        pending, num = values[words + 2], values[words + 3]
        return b"".join(
            [
                layout.magic,
                struct.pack(f">{words}{layout.word}", *h),
                pending[:num].ljust(layout.block, b"\0"),
                struct.pack(">Q", self.size),
            ]
        )

    @classmethod
    def restore(cls, algorithm: str, state: bytes) -> ResumableHasher:
        """Rebuild a hasher from ``save()`` output (or a reference registry hashstate)."""
        hasher = cls(algorithm)
        layout = hasher._layout
        if len(state) != layout.marshaled_size or not state.startswith(layout.magic):
            raise DigestInvalid(f"not a saved {algorithm} hash state")
        words = 8
        word_size = struct.calcsize(layout.word)
        offset = len(layout.magic)
        h = struct.unpack_from(f">{words}{layout.word}", state, offset)
        offset += words * word_size
        block = state[offset : offset + layout.block]
        (length,) = struct.unpack_from(">Q", state, offset + layout.block)
        bits = length * 8
        mask = (1 << (8 * word_size)) - 1
        num = length % layout.block
        raw = struct.pack(
            f"={words + 2}{layout.word}{layout.block}sII",
            *h,
            bits & mask,
            bits >> (8 * word_size),
            block[:num].ljust(layout.block, b"\0"),
            num,
            hasher._digest_size,
        )
        ctypes.memmove(hasher._ctx, raw, len(raw))
        hasher.size = length
        return hasher
