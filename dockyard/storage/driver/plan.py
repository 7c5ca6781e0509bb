"""Storage operations as plans: each operation's steps written once, run by any driver.

A plan is a generator that yields steps (read a file, list a folder, put a file, append
to a writer …) and receives each step's answer; it returns the operation's result, or
raises its error. ``StorageDriver.run`` carries a plan out: the generic driver awaits each
step through its async interface (S3, in memory); a driver over local storage runs the
whole plan in one worker thread, where a step costs less than a thread hand-off, and may
answer a plan that only reads from what it remembers. A step that fails raises its
error inside the plan, at the ``yield``, so a plan handles failures where they happen.

Absence is an answer, not an error, for the reading steps (``None``, ``False``).
Paths come from the path mapper; drivers still validate the ones they write.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

T = TypeVar("T")

#: How much of a ``Put`` survives a crash of the machine once it is done: ``"full"`` the
#: content at its path; ``"content"`` the content, but the path may still hold what it
#: held before (never partial or foreign bytes); ``"none"`` nothing is promised. A crash
#: of the process alone never loses a put that was done. Drivers may always do more.
Durability = Literal["full", "content", "none"]

#: The answers a plan receives are typed by its steps; the generator type cannot say so.
Plan = Generator["Step", Any, T]


class Writer:
    """An open writer a plan holds between its steps (and between plans): a driver's own
    object, only ever handed back to the same driver's steps."""

    @property
    def size(self) -> int:
        """Bytes written so far, including those of earlier writers appended to."""
        raise NotImplementedError


class Hashing(Protocol):
    """What ``Hash`` feeds: anything with ``update`` (``ResumableHasher``, hashlib)."""

    def update(self, data: bytes, /) -> None: ...


@dataclass(slots=True)
class Read:
    """The committed content of a small file, or None."""

    path: str


@dataclass(slots=True)
class Size:
    """The size of the committed file at ``path``, or None (absent, or a folder)."""

    path: str


@dataclass(slots=True)
class ModTime:
    """When the file or folder at ``path`` last changed, or None if there is none."""

    path: str


@dataclass(slots=True)
class Listing:
    """``StorageDriver.list_names`` of ``paths``: one sorted name list (or None) each."""

    paths: Sequence[str]


@dataclass(slots=True)
class Put:
    """Store ``content`` at ``path`` atomically, as durably as ``durability`` says."""

    path: str
    content: bytes
    durability: Durability = "full"


@dataclass(slots=True)
class Delete:
    """Delete ``path`` and everything below it; answers whether there was anything."""

    path: str


@dataclass(slots=True)
class DeleteFiles:
    """Delete the files at ``paths`` as a batch (``StorageDriver.delete_many``): for files
    the plan knows by name, where ``Delete`` would look below each path as well.

    Where folders are real, the folders of ``paths`` left empty go too, unless ``prune``
    is False: the plan knows they still hold other files, or removes them next.
    """

    paths: Sequence[str]
    prune: bool = True


@dataclass(slots=True)
class Move:
    """Move committed content (``PathNotFound`` if there is none at ``source``).

    ``durability`` ``"none"``: a crash of the machine may undo the move (the content is
    then back at ``source``); a driver may skip making it durable.
    """

    source: str
    destination: str
    durability: Durability = "full"


@dataclass(slots=True)
class OpenWriter:
    """A ``Writer`` for ``path`` (``StorageDriver.writer``); with ``append``, None when
    there is no uncommitted content to continue."""

    path: str
    append: bool = False


@dataclass(slots=True)
class Adopt:
    """A ``Writer`` for ``path`` continuing its *committed* content, cut to ``size``
    bytes (data another registry wrote in place); None if there is no such content or
    it is shorter."""

    path: str
    size: int


@dataclass(slots=True)
class Write:
    """Append ``chunks`` to ``writer``."""

    writer: Writer
    chunks: Sequence[bytes]


@dataclass(slots=True)
class Truncate:
    """Cut ``writer`` to ``size`` bytes (``InvalidOffset``, ``Unsupported``)."""

    writer: Writer
    size: int


@dataclass(slots=True)
class Close:
    """Make what ``writer`` wrote durable and release it, uncommitted; unless ``keep`` is
    false: then what it wrote since it was opened is unwanted (bytes nobody acknowledged,
    of a request cut short), and a driver may release it as a crash would
    (``FileWriter.release``)."""

    writer: Writer
    keep: bool = True


@dataclass(slots=True)
class Commit:
    """Publish ``writer``'s content durably at ``destination`` (by default its own path,
    ``path``) and release it."""

    writer: Writer
    path: str
    destination: str | None = None


@dataclass(slots=True)
class Cancel:
    """Discard everything ``writer``'s path holds uncommitted and release the writer."""

    writer: Writer


@dataclass(slots=True)
class Hash:
    """Feed ``chunks`` to ``hasher`` (off the event loop when they are large)."""

    hasher: Hashing
    chunks: Sequence[bytes]


@dataclass(slots=True)
class HashStored:
    """The hex digest, by ``algorithm``, of the committed content at ``path``."""

    path: str
    algorithm: str


@dataclass(slots=True)
class Each:
    """Run ``plans`` (at once where the driver can overlap them); answers their results."""

    plans: Sequence[Callable[[], Plan[Any]]]


Step = (
    Read
    | Size
    | ModTime
    | Listing
    | Put
    | Delete
    | DeleteFiles
    | Move
    | OpenWriter
    | Adopt
    | Write
    | Truncate
    | Close
    | Commit
    | Cancel
    | Hash
    | HashStored
    | Each
)


def drive(plan: Plan[T], execute: Callable[[Step], Any]) -> T:
    """Carry ``plan`` out with a blocking ``execute`` of each step; its result."""
    answer: Any = None
    error: Exception | None = None
    while True:
        try:
            step = plan.throw(error) if error is not None else plan.send(answer)
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            answer, error = execute(step), None
        except Exception as failure:  # handed to the plan, which may handle it
            answer, error = None, failure
