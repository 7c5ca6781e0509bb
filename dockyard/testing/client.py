"""A small registry client for tests: requests with Basic or Bearer auth, and pushes.

It speaks plain HTTP with the standard library only, so that importing ``dockyard.testing``
(which pytest does for every run once dockyard is installed) costs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Final

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar"

#: What ``get_manifest`` accepts: every manifest kind dockyard serves.
MANIFEST_ACCEPT: Final = ", ".join(
    (
        OCI_MANIFEST,
        OCI_INDEX,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)

_CHALLENGE_PARAM: Final = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(Exception):
    """A request answered with a status the caller did not expect."""

    def __init__(self, method: str, url: str, response: Response) -> None:
        self.response = response
        super().__init__(
            f"{method} {url}: {response.status} {response.body[:500].decode(errors='replace')}"
        )


def digest_of(data: bytes) -> str:
    """The ``sha256:<hex>`` digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_layer(files: Mapping[str, bytes]) -> bytes:
    """An uncompressed tar archive of ``files`` (path: content), reproducible byte for byte."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@dataclass(frozen=True)
class Response:
    """One HTTP answer, read whole."""

    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class PushedManifest:
    """A manifest (image or index) now in the registry, with what an index needs of it."""

    repository: str
    reference: str
    digest: str
    media_type: str
    content: bytes
    platform: Mapping[str, str] | None = None
    blobs: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def descriptor(self) -> dict[str, Any]:
        """The OCI descriptor of this manifest, as an index lists it."""
        described: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.content),
        }
        if self.platform is not None:
            described["platform"] = dict(self.platform)
        return described


class RegistryClient:
    """Requests to one registry, answering its auth challenges with ``username``/``password``.

    Bearer tokens are fetched from the realm the registry names (dockyard's own token
    server or any other) and kept per scope.
    """

    def __init__(self, url: str, username: str | None = None, password: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.username = username
        self.password = password
        self._tokens: dict[str, str] = {}

    # --- requests -------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        scope: str | None = None,
    ) -> Response:
        """Send one request (``path`` relative to the registry or absolute), with auth."""
        url = path if "://" in path else self.url + path
        sent = dict(headers or {})
        token = self._tokens.get(scope or "")
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        response = self._send(method, url, body, sent)
        if response.status != 401:
            return response
        challenge = response.headers.get("WWW-Authenticate", "")
        if challenge.lower().startswith("basic") and self.username is not None:
            sent["Authorization"] = "Basic " + self._basic()
        elif challenge.lower().startswith("bearer"):
            token = self._fetch_token(challenge, scope)
            if token is None:
                return response
            sent["Authorization"] = f"Bearer {token}"
        else:
            return response
        return self._send(method, url, body, sent)

    def expect(
        self,
        statuses: Sequence[int],
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        scope: str | None = None,
    ) -> Response:
        """``request``, raising ``RegistryError`` unless the status is one of ``statuses``."""
        response = self.request(method, path, body, headers, scope=scope)
        if response.status not in statuses:
            raise RegistryError(method, path, response)
        return response

    # --- pushes and pulls -----------------------------------------------------------------

    def push_blob(self, repository: str, data: bytes) -> str:
        """Upload ``data`` as a blob of ``repository`` (POST then PUT); returns its digest."""
        digest = digest_of(data)
        scope = _scope(repository, "pull,push")
        exists = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", scope=scope)
        if exists.status == 200:
            return digest
        started = self.expect([202], "POST", f"/v2/{repository}/blobs/uploads/", scope=scope)
        location = urllib.parse.urljoin(self.url + "/", started.headers["Location"])
        separator = "&" if "?" in location else "?"
        self.expect(
            [201],
            "PUT",
            f"{location}{separator}digest={urllib.parse.quote(digest)}",
            data,
            {"Content-Type": "application/octet-stream"},
            scope=scope,
        )
        return digest

    def push_manifest(
        self, repository: str, reference: str, content: bytes | Mapping[str, Any]
    ) -> str:
        """PUT a manifest under ``reference`` (a tag or its digest); returns its digest.

        A mapping is encoded as compact JSON and sent with its ``mediaType``.
        """
        if isinstance(content, Mapping):
            media_type = str(content.get("mediaType", OCI_MANIFEST))
            content = json.dumps(content, separators=(",", ":")).encode()
        else:
            media_type = str(json.loads(content).get("mediaType", OCI_MANIFEST))
        self.expect(
            [201],
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            content,
            {"Content-Type": media_type},
            scope=_scope(repository, "pull,push"),
        )
        return digest_of(content)

    def push_image(
        self,
        repository: str,
        tag: str | None = "latest",
        *,
        layers: Sequence[bytes] | None = None,
        files: Mapping[str, bytes] | None = None,
        platform: tuple[str, str] = ("linux", "amd64"),
        annotations: Mapping[str, str] | None = None,
    ) -> PushedManifest:
        """Push an OCI image: its layers (uncompressed tar archives), a config, a manifest.

        Without ``layers``, one layer holds ``files`` (default: ``hello.txt``). The image is
        tagged ``tag``, or pushed by digest only when ``tag`` is None.
        """
        if layers is None:
            layers = [tar_layer(files if files is not None else {"hello.txt": b"hello\n"})]
        system, architecture = platform
        config = json.dumps(
            {
                "architecture": architecture,
                "os": system,
                "rootfs": {"type": "layers", "diff_ids": [digest_of(layer) for layer in layers]},
                "config": {},
            },
            separators=(",", ":"),
        ).encode()
        blobs = {digest_of(blob): blob for blob in (config, *layers)}
        for blob in blobs.values():
            self.push_blob(repository, blob)
        manifest: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}
                for layer in layers
            ],
        }
        if annotations:
            manifest["annotations"] = dict(annotations)
        return self._push_document(
            repository, tag, manifest, {"os": system, "architecture": architecture}, blobs
        )

    def push_index(
        self,
        repository: str,
        tag: str | None,
        manifests: Sequence[PushedManifest],
        *,
        annotations: Mapping[str, str] | None = None,
    ) -> PushedManifest:
        """Push an OCI index of ``manifests`` (already pushed to ``repository``)."""
        index: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [pushed.descriptor for pushed in manifests],
        }
        if annotations:
            index["annotations"] = dict(annotations)
        return self._push_document(repository, tag, index, None, {})

    def get_manifest(self, repository: str, reference: str) -> Response:
        """GET a manifest by tag or digest, accepting every kind; raises unless 200."""
        return self.expect(
            [200],
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            headers={"Accept": MANIFEST_ACCEPT},
            scope=_scope(repository, "pull"),
        )

    def get_blob(self, repository: str, digest: str) -> bytes:
        """The content of a blob; raises unless 200."""
        return self.expect(
            [200], "GET", f"/v2/{repository}/blobs/{digest}", scope=_scope(repository, "pull")
        ).body

    def tags(self, repository: str) -> list[str]:
        """The repository's tags (first page)."""
        answer = self.expect(
            [200], "GET", f"/v2/{repository}/tags/list", scope=_scope(repository, "pull")
        ).json()
        return list(answer.get("tags") or [])

    # --- internals ------------------------------------------------------------------------

    def _push_document(
        self,
        repository: str,
        tag: str | None,
        document: dict[str, Any],
        platform: Mapping[str, str] | None,
        blobs: Mapping[str, bytes],
    ) -> PushedManifest:
        content = json.dumps(document, separators=(",", ":")).encode()
        digest = digest_of(content)
        self.push_manifest(repository, tag or digest, content)
        return PushedManifest(
            repository=repository,
            reference=tag or digest,
            digest=digest,
            media_type=document["mediaType"],
            content=content,
            platform=platform,
            blobs=dict(blobs),
        )

    def _basic(self) -> str:
        pair = f"{self.username or ''}:{self.password or ''}".encode()
        return base64.b64encode(pair).decode("ascii")

    def _fetch_token(self, challenge: str, scope: str | None) -> str | None:
        """A token from the challenge's realm, or None when the token server refuses."""
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        query = {"service": params.get("service", "")}
        wanted = params.get("scope") or scope
        if wanted:
            query["scope"] = wanted
        url = params["realm"] + "?" + urllib.parse.urlencode(query)
        headers = {"Authorization": "Basic " + self._basic()} if self.username else {}
        response = self._send("GET", url, None, headers)
        if response.status in (401, 403):
            return None
        if response.status != 200:
            raise RegistryError("GET", url, response)
        answer = response.json()
        token = str(answer.get("token") or answer["access_token"])
        self._tokens[scope or ""] = token
        return token

    @staticmethod
    def _send(method: str, url: str, body: bytes | None, headers: Mapping[str, str]) -> Response:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"not an HTTP URL: {url}")
        # Only http(s) URLs get here (checked above).
        request = urllib.request.Request(url, body, dict(headers), method=method)  # noqa: S310
        try:
            with _OPENER.open(request, timeout=60) as answer:
                return Response(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as error:
            with error:
                return Response(error.code, error.headers, error.read())


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Hand 3xx answers to the caller: a registry's redirects are part of what tests see."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER: Final = urllib.request.build_opener(_NoRedirects)


def _scope(repository: str, actions: str) -> str:
    return f"repository:{repository}:{actions}"
