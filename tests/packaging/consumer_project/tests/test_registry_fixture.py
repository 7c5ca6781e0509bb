"""The ``registry`` fixtures as another project uses them: pytest loads dockyard's plugin
from its entry point, with nothing in this project's configuration."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from dockyard.testing import Registry, RegistryClient


def test_registry_fixture_answers_the_distribution_api(registry: Registry) -> None:
    with urllib.request.urlopen(f"{registry.url}/v2/") as answer:
        assert answer.status == 200


def test_pushed_image_is_listed_and_pulled_back(registry: Registry) -> None:
    image = registry.push_image("team/app", "v1", files={"etc/motd": b"hi\n"})
    client = registry.client()
    assert client.tags("team/app") == ["v1"]
    manifest = client.get_manifest("team/app", "v1")
    assert manifest.headers["Docker-Content-Digest"] == image.digest
    layer = json.loads(manifest.body)["layers"][0]["digest"]
    assert client.get_blob("team/app", layer) == image.blobs[layer]


def test_index_of_two_platforms_lists_both(registry: Registry) -> None:
    amd64 = registry.push_image("multi", None, platform=("linux", "amd64"))
    arm64 = registry.push_image("multi", None, platform=("linux", "arm64"))
    index = registry.push_index("multi", "latest", [amd64, arm64])
    listed = registry.client().get_manifest("multi", "latest").json()["manifests"]
    assert [entry["platform"]["architecture"] for entry in listed] == ["amd64", "arm64"]
    assert index.digest.startswith("sha256:")


def test_each_test_gets_an_empty_registry(registry: Registry) -> None:
    assert registry.client().request("GET", "/v2/team/app/tags/list").status == 404


def test_htpasswd_registry_refuses_anonymous_pushes(registry_factory) -> None:
    secured = registry_factory(auth="htpasswd", users={"alice": "wonderland"})
    assert secured.client(anonymous=True).request("GET", "/v2/").status == 401
    secured.push_image("alice/app", "v1")
    assert secured.client("alice", "wonderland").tags("alice/app") == ["v1"]


def test_token_registry_issues_tokens_to_its_users(registry_factory) -> None:
    secured = registry_factory(auth="token", users={"bob": "builder"})
    assert secured.client("bob", "wrong").request("GET", "/v2/").status == 401
    secured.push_image("bob/app", "v1")
    assert secured.client("bob", "builder").tags("bob/app") == ["v1"]


def test_filesystem_registry_writes_the_reference_layout(registry_factory) -> None:
    stored = registry_factory(storage="filesystem")
    stored.push_image("team/app", "v1")
    tag_link = stored.root / "docker/registry/v2/repositories/team/app/_manifests/tags/v1"
    assert (tag_link / "current/link").read_text().startswith("sha256:")


def test_context_manager_serves_code_outside_pytest() -> None:
    with Registry() as registry:
        digest = registry.push_blob("blobs", b"payload")
        assert RegistryClient(registry.url).get_blob("blobs", digest) == b"payload"
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{registry.url}/v2/", timeout=2)
