"""The soak of online collection: many clients push, pull, delete and mount over real HTTP
while the server collects garbage every few seconds.

Each client owns two repositories (so its deletions never race another client's pulls)
and shares base layers, pushed once into ``soak/base`` and mounted from there, with every
other. It pushes images (HEAD each blob, mount or upload the missing, PUT the manifest by
tag), multi-platform indexes (children by digest, then the index by tag), artifacts whose
``subject`` is one of its images (by digest, untagged), deletes manifests, mounts layers
between its repositories, and pulls what it pushed. Every push error is kept, and every
acknowledged tag is remembered with what it reaches, for the checks afterwards.

How long the traffic runs is not a fixed time: it runs at least the soak's seconds and
then until its ``Goal`` is met (say, two collections finished while it ran), so a loaded
machine where one collection takes long gets more traffic, not a failure. A goal not met
within a generous bound fails loudly (``SoakIncomplete``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG = "application/vnd.oci.image.config.v1+json"
ARTIFACT = "application/vnd.example.signature"
BASE_REPOSITORY = "soak/base"
BASE_LAYERS = 4


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def descriptor(media_type: str, data: bytes) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest_of(data), "size": len(data)}


@dataclass
class Pushed:
    """A manifest a push was acknowledged for: its body and every digest it reaches."""

    repository: str
    digest: str
    body: bytes
    media_type: str
    #: Blob digests it reaches (its own body, configs, layers, children's, recursively).
    reaches: set[str]
    #: The artifact manifests whose subject this is (reached while this one is).
    referrers: list[Pushed] = field(default_factory=list)

    def reachable(self) -> set[str]:
        found = set(self.reaches)
        for referrer in self.referrers:
            found |= referrer.reachable()
        return found


@dataclass
class SoakReport:
    """What every client saw."""

    pushes: int = 0
    pulls: int = 0
    deletes: int = 0
    mounts: int = 0
    #: Every failed push request: (operation, status, OCI error codes).
    push_errors: list[tuple[str, int, list[str]]] = field(default_factory=list)
    pull_errors: list[str] = field(default_factory=list)
    #: Acknowledged tags still in place: (repository, tag) → manifest.
    live: dict[tuple[str, str], Pushed] = field(default_factory=dict)

    def reachable(self) -> set[str]:
        found: set[str] = set()
        for pushed in self.live.values():
            found |= pushed.reachable()
        return found

    def error_codes(self) -> list[str]:
        return [code for _, _, codes in self.push_errors for code in codes]


class PushFailed(Exception):
    pass


def _codes(response: httpx.Response) -> list[str]:
    try:
        return [str(e.get("code")) for e in response.json().get("errors", [])]
    except (ValueError, AttributeError):
        return []


class SoakClient:
    """One client of the soak, with its own repositories and random choices."""

    def __init__(
        self, http: httpx.AsyncClient, index: int, report: SoakReport, base: list[bytes]
    ) -> None:
        self.http = http
        self.index = index
        self.report = report
        self.base = base
        self.random = random.Random(index)
        self.repositories = [f"soak/c{index}/one", f"soak/c{index}/two"]
        self.counter = 0

    # --- the registry's API ---------------------------------------------------------------

    def _fail(self, operation: str, response: httpx.Response) -> PushFailed:
        self.report.push_errors.append((operation, response.status_code, _codes(response)))
        return PushFailed(f"{operation}: {response.status_code} {response.text[:200]}")

    async def put_blob(self, repository: str, data: bytes, media_type: str) -> dict[str, Any]:
        """What a client does for each blob: HEAD, else mount (base layers), else upload."""
        digest = digest_of(data)
        head = await self.http.head(f"/v2/{repository}/blobs/{digest}")
        if head.status_code == 200:
            return descriptor(media_type, data)
        if data in self.base:
            mounted = await self.http.post(
                f"/v2/{repository}/blobs/uploads/",
                params={"mount": digest, "from": BASE_REPOSITORY},
            )
            if mounted.status_code == 201:
                self.report.mounts += 1
                return descriptor(media_type, data)
        uploaded = await self.http.post(
            f"/v2/{repository}/blobs/uploads/",
            params={"digest": digest},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        if uploaded.status_code != 201:
            raise self._fail("blob upload", uploaded)
        return descriptor(media_type, data)

    async def put_manifest(
        self, repository: str, reference: str, body: bytes, media_type: str
    ) -> None:
        response = await self.http.put(
            f"/v2/{repository}/manifests/{reference}",
            content=body,
            headers={"Content-Type": media_type},
        )
        if response.status_code != 201:
            raise self._fail("manifest put", response)
        self.report.pushes += 1

    # --- what a client pushes -------------------------------------------------------------

    def _unique(self, size: int) -> bytes:
        self.counter += 1
        return f"c{self.index}-{self.counter}-".encode() + self.random.randbytes(size)

    async def push_image(self, repository: str, reference: str | None) -> Pushed:
        """An image of one or two base layers, one unique layer and a unique config."""
        layers = [*self.random.sample(self.base, self.random.randint(1, 2)), self._unique(2048)]
        config = json.dumps({"client": self.index, "n": self._unique(8).hex()}).encode()
        config_descriptor, *layer_descriptors = await asyncio.gather(
            self.put_blob(repository, config, CONFIG),
            *(self.put_blob(repository, layer, LAYER) for layer in layers),
        )
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": config_descriptor,
                "layers": layer_descriptors,
            }
        ).encode()
        digest = digest_of(body)
        await self.put_manifest(repository, reference or digest, body, OCI_MANIFEST)
        reaches = {digest, digest_of(config), *(digest_of(layer) for layer in layers)}
        return Pushed(repository, digest, body, OCI_MANIFEST, reaches)

    async def push_index(self, repository: str, tag: str) -> Pushed:
        """Two platform images by digest, then the index naming them, by tag."""
        children = [await self.push_image(repository, None) for _ in range(2)]
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {**descriptor(OCI_MANIFEST, child.body), "platform": platform}
                    for child, platform in zip(
                        children,
                        [{"os": "linux", "architecture": a} for a in ("amd64", "arm64")],
                        strict=True,
                    )
                ],
            }
        ).encode()
        await self.put_manifest(repository, tag, body, OCI_INDEX)
        digest = digest_of(body)
        reaches = {digest}.union(*(child.reachable() for child in children))
        return Pushed(repository, digest, body, OCI_INDEX, reaches)

    async def push_artifact(self, subject: Pushed) -> Pushed:
        """A signature whose subject is ``subject``, pushed by digest (untagged)."""
        empty = b"{}"
        config = await self.put_blob(subject.repository, empty, "application/vnd.oci.empty.v1+json")
        payload = self._unique(128)
        layer = await self.put_blob(subject.repository, payload, LAYER)
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": ARTIFACT,
                "config": config,
                "layers": [layer],
                "subject": descriptor(subject.media_type, subject.body),
            }
        ).encode()
        digest = digest_of(body)
        await self.put_manifest(subject.repository, digest, body, OCI_MANIFEST)
        return Pushed(
            subject.repository,
            digest,
            body,
            OCI_MANIFEST,
            {digest, digest_of(empty), digest_of(payload)},
        )

    # --- the other operations -------------------------------------------------------------

    def _mine(self) -> list[tuple[tuple[str, str], Pushed]]:
        return [(key, p) for key, p in self.report.live.items() if key[0] in self.repositories]

    async def delete_one(self) -> None:
        """Delete one of this client's tagged manifests (every tag pointing at it goes)."""
        mine = self._mine()
        if not mine:
            return
        (repository, _), pushed = self.random.choice(mine)
        response = await self.http.delete(f"/v2/{repository}/manifests/{pushed.digest}")
        if response.status_code != 202:
            raise self._fail("manifest delete", response)
        self.report.deletes += 1
        for key, other in self._mine():
            if key[0] == repository and other.digest == pushed.digest:
                del self.report.live[key]

    async def pull(self, repository: str, tag: str, pushed: Pushed) -> None:
        """Pull a tag completely: its manifest, children, blobs, and check every digest."""
        response = await self.http.get(
            f"/v2/{repository}/manifests/{tag}", headers={"Accept": f"{OCI_MANIFEST},{OCI_INDEX}"}
        )
        if response.status_code != 200 or digest_of(response.content) != pushed.digest:
            self.report.pull_errors.append(f"{repository}:{tag} manifest {response.status_code}")
            return
        for digest in sorted(pushed.reaches - {pushed.digest}):
            kind = "manifests" if self._is_manifest(pushed, digest) else "blobs"
            blob = await self.http.get(
                f"/v2/{repository}/{kind}/{digest}",
                headers={"Accept": f"{OCI_MANIFEST},{OCI_INDEX}"},
                follow_redirects=True,
            )
            if blob.status_code != 200 or digest_of(blob.content) != digest:
                self.report.pull_errors.append(f"{repository}:{tag} {digest} {blob.status_code}")
        self.report.pulls += 1

    @staticmethod
    def _is_manifest(pushed: Pushed, digest: str) -> bool:
        if pushed.media_type != OCI_INDEX:
            return False
        return digest in {m["digest"] for m in json.loads(pushed.body)["manifests"]}

    async def step(self) -> None:
        """One random operation."""
        choice = self.random.random()
        repository = self.random.choice(self.repositories)
        self.counter += 1
        tag = f"t{self.counter}"
        try:
            if choice < 0.35:
                self.report.live[(repository, tag)] = await self.push_image(repository, tag)
            elif choice < 0.5:
                self.report.live[(repository, tag)] = await self.push_index(repository, tag)
            elif choice < 0.6:
                mine = [p for key, p in self._mine() if key[0] == repository]
                if mine:
                    subject = self.random.choice(mine)
                    subject.referrers.append(await self.push_artifact(subject))
            elif choice < 0.8:
                await self.delete_one()
            else:
                mine = self._mine()
                if mine:
                    (name, live_tag), pushed = self.random.choice(mine)
                    await self.pull(name, live_tag, pushed)
        except PushFailed:
            pass

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.step()


async def push_base(http: httpx.AsyncClient, report: SoakReport) -> list[bytes]:
    """The shared base layers, pushed once and tagged in ``soak/base``."""
    base = [f"base layer {i} ".encode() + os.urandom(4096) for i in range(BASE_LAYERS)]
    client = SoakClient(http, -1, report, [])
    client.repositories = [BASE_REPOSITORY]
    config = json.dumps({"base": True}).encode()
    descriptors = [await client.put_blob(BASE_REPOSITORY, data, LAYER) for data in base]
    config_descriptor = await client.put_blob(BASE_REPOSITORY, config, CONFIG)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config_descriptor,
            "layers": descriptors,
        }
    ).encode()
    await client.put_manifest(BASE_REPOSITORY, "latest", body, OCI_MANIFEST)
    digest = digest_of(body)
    reaches = {digest, digest_of(config), *(digest_of(d) for d in base)}
    report.live[(BASE_REPOSITORY, "latest")] = Pushed(
        BASE_REPOSITORY, digest, body, OCI_MANIFEST, reaches
    )
    return base


class Goal(Protocol):
    """What must have happened while the traffic ran before it may stop."""

    def begin(self) -> None:
        """The traffic starts now."""

    def met(self, report: SoakReport) -> bool:
        """Whether the traffic so far did what the soak needs."""

    def __str__(self) -> str:
        """What is (still) missing, for a soak that never got there."""


#: The summary line a server logs after each collection.
_COLLECTED = re.compile(r"gc: \d+ repositories.*swept")


class CollectionsDuringTraffic:
    """Enough collections finished while the traffic ran, one of them sweeping, and the
    traffic did enough of each operation (a ``Goal``).

    Collections are counted from the servers' logs: the summary lines written after the
    traffic began.
    """

    def __init__(
        self,
        logs: Callable[[], str],
        *,
        collections: int = 2,
        pushes: int = 0,
        deletes: int = 0,
        mounts: int = 0,
    ) -> None:
        self.logs = logs
        self.wanted = {"collections": collections, "pushes": pushes, "deletes": deletes}
        self.wanted["mounts"] = mounts
        self._before = 0
        self._seen: dict[str, int] = dict.fromkeys(self.wanted, 0)
        self._swept = False

    def summaries(self) -> list[str]:
        """The collections' summary lines logged since the traffic began."""
        return _COLLECTED.findall(self.logs())[self._before :]

    def begin(self) -> None:
        self._before = len(_COLLECTED.findall(self.logs()))

    def met(self, report: SoakReport) -> bool:
        during = self.summaries()
        self._swept = any(not re.search(r" 0 blobs \(0 bytes\)", line) for line in during)
        self._seen = {
            "collections": len(during),
            "pushes": report.pushes,
            "deletes": report.deletes,
            "mounts": report.mounts,
        }
        return self._swept and all(self._seen[key] >= n for key, n in self.wanted.items())

    def __str__(self) -> str:
        seen = ", ".join(f"{self._seen[key]}/{n} {key}" for key, n in self.wanted.items())
        swept = "one swept blobs" if self._swept else "none of them swept a blob"
        return f"{seen}; {swept}; last log lines:\n{self.logs()[-2000:]}"


class SoakIncomplete(AssertionError):
    """The traffic ran for the longest allowed and its goal was still not met."""


async def soak(
    base_url: str,
    seconds: float,
    goal: Goal,
    *,
    clients: int = 16,
    longest: float = 600.0,
) -> SoakReport:
    """Run ``clients`` clients against ``base_url`` for at least ``seconds`` and then until
    ``goal`` is met; ``SoakIncomplete`` if it is not within ``longest`` seconds."""
    report = SoakReport()
    limits = httpx.Limits(max_connections=clients * 2)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:
        base = await push_base(http, report)
        stop = asyncio.Event()
        goal.begin()
        started = time.monotonic()
        running = [
            asyncio.create_task(SoakClient(http, i, report, base).run(stop)) for i in range(clients)
        ]
        try:
            met = await _until_met(goal, report, started + seconds, started + longest, running)
        finally:
            stop.set()
            await asyncio.gather(*running)
    if not met:
        raise SoakIncomplete(f"goal not met after {longest:.0f} s of traffic: {goal}")
    return report


async def _until_met(
    goal: Goal,
    report: SoakReport,
    earliest: float,
    latest: float,
    running: list[asyncio.Task[None]],
) -> bool:
    """Wait until ``earliest`` and ``goal`` is met (True), ``latest`` passed (False), or a
    client failed (its error is raised when the clients are gathered)."""
    while not any(task.done() for task in running):
        now = time.monotonic()
        if now >= earliest and goal.met(report):
            return True
        if now >= latest:
            return False
        await asyncio.sleep(0.5)
    return True


async def pull_all(base_url: str, report: SoakReport) -> None:
    """Pull every acknowledged tag completely (after the soak)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        client = SoakClient(http, -2, report, [])
        for (repository, tag), pushed in sorted(report.live.items()):
            await client.pull(repository, tag, pushed)
