"""The web interface's pages, driven in-process: what they show, and to whom."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import pytest
from ui_app import UI, MakeUI
from ui_auth import PASSWORDS, token_server_auth, write_htpasswd
from ui_forms import csrf_of, sign_in
from ui_images import (
    SBOM_TYPE,
    SIGNATURE_TYPE,
    artifact,
    fallback_tag,
    image,
    index,
    referrers_index,
    store,
)

from dockyard.digest import Digest
from dockyard.gc.lease import StorageLease
from dockyard.gc.run import Options, collect_once
from dockyard.scrub.scrub import scrub
from dockyard.storage import paths
from dockyard.ui import views
from dockyard.ui.views import human_size


async def test_root_redirects_to_the_interface(make_ui: MakeUI) -> None:
    ui = await make_ui()
    response = await ui.client().get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/ui/"


async def test_interface_is_served_at_the_configured_path(make_ui: MakeUI) -> None:
    ui = await make_ui(ui={"path": "/browse"})
    client = ui.client()
    assert (await client.get("/")).headers["location"] == "/browse/"
    assert (await client.get("/browse/")).status_code == 200
    assert (await client.get("/ui/")).status_code == 404


async def test_interface_is_served_below_the_http_prefix(make_ui: MakeUI) -> None:
    ui = await make_ui(http={"prefix": "/registry"})
    await store(ui.registry, "library/alpine", image(), "3.20")
    client = ui.client()
    assert (await client.get("/registry/")).headers["location"] == "/registry/ui/"
    page = await client.get("/registry/ui/")
    assert 'href="/registry/ui/r/library/alpine"' in page.text
    assert "Path=/registry/ui" in page.headers["set-cookie"]


async def test_disabled_interface_leaves_every_path_to_the_api(make_ui: MakeUI) -> None:
    ui = await make_ui(ui={"enabled": False})
    client = ui.client()
    assert (await client.get("/")).status_code == 404
    assert (await client.get("/ui/")).status_code == 404
    assert (await client.get("/v2/")).status_code == 200


async def test_api_answers_as_before_with_the_interface_enabled(make_ui: MakeUI) -> None:
    ui = await make_ui()
    await store(ui.registry, "library/alpine", image(), "3.20")
    response = await ui.client().get("/v2/library/alpine/manifests/3.20")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.oci.image.manifest.v1+json"


async def test_pages_carry_a_content_security_policy(make_ui: MakeUI) -> None:
    ui = await make_ui()
    response = await ui.client().get("/ui/")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_session_cookie_is_httponly_and_samesite_without_secure_over_http(
    make_ui: MakeUI,
) -> None:
    ui = await make_ui()
    cookie = (await ui.client().get("/ui/")).headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/ui" in cookie
    assert "Secure" not in cookie


async def test_session_cookie_is_secure_over_tls(make_ui: MakeUI) -> None:
    ui = await make_ui()
    cookie = (await ui.client("https://registry.test").get("/ui/")).headers["set-cookie"]
    assert "Secure" in cookie


async def test_session_cookie_is_secure_behind_a_tls_terminating_proxy(make_ui: MakeUI) -> None:
    ui = await make_ui()
    response = await ui.client().get("/ui/", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in response.headers["set-cookie"]


async def test_sign_in_without_the_csrf_token_is_refused(make_ui: MakeUI, htpasswd: Path) -> None:
    ui = await make_ui(auth={"htpasswd": {"path": str(htpasswd)}})
    client = ui.client()
    await client.get("/ui/sign-in")
    response = await client.post(
        "/ui/sign-in", data={"username": "alice", "password": PASSWORDS["alice"]}
    )
    assert response.status_code == 403
    assert "signed-in-user" not in (await client.get("/ui/")).text


async def test_htpasswd_user_signs_in_and_sees_the_repositories(
    make_ui: MakeUI, htpasswd: Path
) -> None:
    ui = await make_ui(auth={"htpasswd": {"path": str(htpasswd)}})
    await store(ui.registry, "library/alpine", image(), "3.20")
    client = ui.client()
    response = await sign_in(client, "alice", PASSWORDS["alice"])
    assert response.status_code == 303
    page = await client.get("/ui/")
    assert 'id="signed-in-user">alice<' in page.text
    assert "library/alpine" in page.text


async def test_wrong_password_is_refused(make_ui: MakeUI, htpasswd: Path) -> None:
    ui = await make_ui(auth={"htpasswd": {"path": str(htpasswd)}})
    response = await sign_in(ui.client(), "alice", "wrong")
    assert response.status_code == 401
    assert "Wrong username or password" in response.text


async def test_anonymous_visitor_of_an_htpasswd_registry_is_asked_to_sign_in(
    make_ui: MakeUI, htpasswd: Path
) -> None:
    ui = await make_ui(auth={"htpasswd": {"path": str(htpasswd)}})
    await store(ui.registry, "library/alpine", image(), "3.20")
    client = ui.client()
    listing = await client.get("/ui/")
    assert listing.status_code == 303
    assert listing.headers["location"].startswith("/ui/sign-in")
    repository = await client.get("/ui/r/library/alpine")
    assert repository.status_code == 303


async def test_changing_the_password_ends_the_session(make_ui: MakeUI, tmp_path: Path) -> None:
    users = write_htpasswd(tmp_path / "users", PASSWORDS)
    ui = await make_ui(auth={"htpasswd": {"path": str(users)}})
    await store(ui.registry, "library/alpine", image(), "3.20")
    client = ui.client()
    await sign_in(client, "alice", PASSWORDS["alice"])
    write_htpasswd(users, {"alice": "new-password", "bob": PASSWORDS["bob"]})
    await asyncio.sleep(1.1)  # the htpasswd file is looked at once a second
    assert (await client.get("/ui/")).status_code == 303


async def test_token_server_rules_hide_repositories_the_user_may_not_pull(
    make_ui: MakeUI, htpasswd: Path
) -> None:
    ui = await make_ui(auth=token_server_auth(htpasswd))
    for name in ("team/api", "public/base", "secret/vault"):
        await store(ui.registry, name, image(), "1")
    client = ui.client()
    await sign_in(client, "bob", PASSWORDS["bob"])
    page = (await client.get("/ui/")).text
    assert "team/api" in page
    assert "public/base" in page
    assert "secret/vault" not in page
    assert (await client.get("/ui/r/secret/vault")).status_code == 404


async def test_anonymous_browsing_shows_what_the_rules_let_anyone_pull(
    make_ui: MakeUI, htpasswd: Path
) -> None:
    ui = await make_ui(auth=token_server_auth(htpasswd))
    await store(ui.registry, "public/base", image(), "1")
    await store(ui.registry, "team/api", image(), "1")
    client = ui.client()
    page = await client.get("/ui/")
    assert page.status_code == 200
    assert "public/base" in page.text
    assert "team/api" not in page.text
    assert (await client.get("/ui/r/team/api")).status_code == 303


async def test_status_page_needs_the_catalog(make_ui: MakeUI, htpasswd: Path) -> None:
    ui = await make_ui(auth=token_server_auth(htpasswd))
    await store(ui.registry, "team/api", image(), "1")
    bob, alice = ui.client(), ui.client()
    await sign_in(bob, "bob", PASSWORDS["bob"])
    await sign_in(alice, "alice", PASSWORDS["alice"])
    assert (await bob.get("/ui/status")).status_code == 403
    status = await alice.get("/ui/status")
    assert status.status_code == 200
    assert 'id="repository-count">1<' in status.text
    assert 'id="last-collection">Never run' in status.text
    assert 'id="last-scrub">Never run' in status.text


async def test_status_page_lists_open_upload_sessions(make_ui: MakeUI) -> None:
    ui = await make_ui()
    await store(ui.registry, "library/alpine", image(), "3.20")
    session = await ui.registry.repository("library/alpine").uploads.create()
    page = (await ui.client().get("/ui/status")).text
    assert 'id="session-count">1 open' in page
    assert f"<code>{session.id}</code>" in page


async def _stored_blob_bytes(ui: UI) -> tuple[int, int]:
    """How many blobs storage holds and their bytes, counted from the files."""
    count = size = 0
    async for info in ui.registry.driver.walk(paths.BLOBS):
        if not info.is_dir and info.path.endswith("/data"):
            count, size = count + 1, size + info.size
    return count, size


async def test_a_collection_records_what_it_deleted_and_the_storage_it_left(
    make_ui: MakeUI,
) -> None:
    ui = await make_ui()
    await store(ui.registry, "library/alpine", image(), "3.20")
    await store(ui.registry, "library/alpine", image(layer_size=8192))
    driver = ui.registry.driver
    options = Options(delete_untagged=True, grace=timedelta(0))
    result = await collect_once(driver, None, StorageLease(driver), options)
    run = await ui.registry.last_collection()
    assert run is not None
    assert not run.dry_run
    assert (run.manifests_deleted, run.blobs_deleted) == (1, 3)
    assert run.bytes_freed == result.bytes_freed > 8192
    assert (run.blobs_stored, run.bytes_stored) == await _stored_blob_bytes(ui)
    assert run.started <= run.ended


async def test_a_dry_run_collection_records_the_storage_as_it_stands(make_ui: MakeUI) -> None:
    ui = await make_ui()
    await store(ui.registry, "library/alpine", image(), "3.20")
    await store(ui.registry, "library/alpine", image(layer_size=8192))
    driver = ui.registry.driver
    options = Options(dry_run=True, delete_untagged=True, grace=timedelta(0))
    await collect_once(driver, None, StorageLease(driver), options)
    run = await ui.registry.last_collection()
    assert run is not None
    assert run.dry_run
    assert run.blobs_deleted == 3
    assert (run.blobs_stored, run.bytes_stored) == await _stored_blob_bytes(ui)


async def test_status_page_shows_the_storage_used_as_of_the_last_collection(
    make_ui: MakeUI,
) -> None:
    ui = await make_ui()
    await store(ui.registry, "library/alpine", image(), "3.20")
    driver = ui.registry.driver
    await collect_once(driver, None, StorageLease(driver), Options(grace=timedelta(0)))
    run = await ui.registry.last_collection()
    assert run is not None
    page = (await ui.client().get("/ui/status")).text
    assert (
        f'id="storage-used">{human_size(run.bytes_stored)} in 3 blobs, as of the last '
        f"collection ({views.timestamp(run.ended)})<"
    ) in page
    assert 'id="last-collection">Ran from ' in page
    assert "0 manifests and 0 blobs deleted, 0 B reclaimed<" in page


async def test_status_page_shows_the_problems_the_last_scrub_found(make_ui: MakeUI) -> None:
    ui = await make_ui()
    document = image()
    await store(ui.registry, "library/alpine", document, "3.20")
    driver = ui.registry.driver
    layer = next(d for d, data in document.blobs.items() if len(data) == 2048)
    await driver.put_content(paths.blob_data(Digest.parse(layer)), b"x" * 2048)
    await scrub(driver, check="digests")
    run = await ui.registry.last_scrub()
    assert run is not None
    assert (run.repositories, run.problems, run.repaired, run.selection) == (1, 1, 0, None)
    page = (await ui.client().get("/ui/status")).text
    assert 'id="last-scrub">Scrub (digests) from ' in page
    assert "1 repositories, 1 manifests and 2 blobs checked" in page
    assert "1 problems found, 0 repaired<" in page


async def test_status_page_says_which_repositories_the_last_scrub_covered(
    make_ui: MakeUI,
) -> None:
    ui = await make_ui()
    await store(ui.registry, "team/api", image(), "1")
    await store(ui.registry, "library/alpine", image(), "3.20")
    await scrub(ui.registry.driver, repository="team/*")
    page = (await ui.client().get("/ui/status")).text
    assert "Scrub (sizes, repositories matching <code>team/*</code>) from " in page
    assert ": 1 repositories, 1 manifests and 2 blobs checked" in page


async def test_search_finds_names_containing_the_text(make_ui: MakeUI) -> None:
    ui = await make_ui()
    for name in ("library/alpine", "library/busybox", "tools/alpine-sdk"):
        await store(ui.registry, name, image(), "1")
    page = (await ui.client().get("/ui/", params={"q": "alpine"})).text
    assert "library/alpine" in page
    assert "tools/alpine-sdk" in page
    assert "library/busybox" not in page


async def test_repository_list_is_paginated(make_ui: MakeUI) -> None:
    ui = await make_ui()
    manifest = image()
    for n in range(55):
        await store(ui.registry, f"many/repo{n:03d}", manifest, "1")
    client = ui.client()
    first = (await client.get("/ui/")).text
    assert first.count('class="repo-link"') == 50
    next_link = re.search(r'id="next-page" href="([^"]+)"', first)
    assert next_link is not None
    second = (await client.get(next_link.group(1).replace("&amp;", "&"))).text
    assert second.count('class="repo-link"') == 5
    assert "many/repo054" in second
    assert "many/repo000" not in second


async def test_repository_list_shows_tag_count_and_last_push(make_ui: MakeUI) -> None:
    ui = await make_ui()
    await store(ui.registry, "library/alpine", image(), "3.19")
    await store(ui.registry, "library/alpine", image(), "3.20")
    page = (await ui.client().get("/ui/")).text
    row = page[page.index("library/alpine") :]
    assert re.search(r'class="num">2</td>\s*<td><time datetime="\d{4}-', row)


async def test_repository_page_shows_each_tag_with_platform_size_and_digest(
    make_ui: MakeUI,
) -> None:
    ui = await make_ui()
    single = image(architecture="arm64", layer_size=4096)
    multi = index(image(), image(architecture="arm64"))
    await store(ui.registry, "library/alpine", single, "3.20")
    await store(ui.registry, "library/alpine", multi, "multi")
    page = (await ui.client().get("/ui/r/library/alpine")).text
    rows = dict(re.findall(r'<tr data-tag="([^"]+)">(.*?)</tr>', page, re.S))
    assert "linux/arm64" in rows["3.20"]
    assert "linux/amd64, linux/arm64" in rows["multi"]
    assert '<abbr title="application/vnd.oci.image.index.v1+json">OCI index</abbr>' in rows["multi"]
    assert single.digest[:19] in rows["3.20"]
    assert f'data-copy="{single.digest}"' in rows["3.20"]
    total = len(single.body) + sum(len(blob) for blob in single.blobs.values())
    assert f">{human_size(total)}<" in rows["3.20"]


async def test_pull_commands_use_the_configured_host(make_ui: MakeUI) -> None:
    ui = await make_ui(http={"host": "https://registry.example.com"})
    await store(ui.registry, "library/alpine", image(), "3.20")
    page = (await ui.client().get("/ui/r/library/alpine")).text
    assert "docker pull registry.example.com/library/alpine:3.20" in page
    assert "podman pull registry.example.com/library/alpine:3.20" in page


async def test_pull_commands_name_latest_when_the_repository_has_it(make_ui: MakeUI) -> None:
    ui = await make_ui()
    await store(ui.registry, "library/alpine", image(), "3.20")
    await store(ui.registry, "library/alpine", image(), "latest")
    page = (await ui.client().get("/ui/r/library/alpine")).text
    assert "docker pull registry.test/library/alpine:latest" in page


async def test_pull_commands_use_the_request_host_without_a_configured_one(
    make_ui: MakeUI,
) -> None:
    ui = await make_ui()
    await store(ui.registry, "library/alpine", image(), "3.20")
    page = (await ui.client().get("/ui/r/library/alpine")).text
    assert "docker pull registry.test/library/alpine:3.20" in page


async def test_tags_sort_by_push_time(make_ui: MakeUI) -> None:
    ui = await make_ui()
    for tag in ("b-first", "a-second", "c-third"):
        await store(ui.registry, "library/alpine", image(), tag)
    client = ui.client()
    by_name = (await client.get("/ui/r/library/alpine")).text
    newest = (await client.get("/ui/r/library/alpine", params={"sort": "-pushed"})).text
    assert re.findall(r'data-tag="([^"]+)"', by_name) == ["a-second", "b-first", "c-third"]
    assert re.findall(r'data-tag="([^"]+)"', newest) == ["c-third", "a-second", "b-first"]


async def test_manifest_page_shows_the_image_config_and_layers(make_ui: MakeUI) -> None:
    ui = await make_ui()
    await store(ui.registry, "library/alpine", image(env=["GREETING=hello"]), "3.20")
    page = (await ui.client().get("/ui/r/library/alpine/-/m/3.20")).text
    assert 'id="config-platform">linux/amd64<' in page
    assert "GREETING=hello" in page
    assert "8080/tcp" in page
    assert "ADD rootfs.tar /" in page
    assert "application/vnd.oci.image.layer.v1.tar+gzip" in page
    assert 'id="raw-json"' in page


async def test_index_page_links_each_platform(make_ui: MakeUI) -> None:
    ui = await make_ui()
    arm = image(architecture="arm64")
    await store(ui.registry, "library/alpine", index(image(), arm), "multi")
    page = (await ui.client().get("/ui/r/library/alpine/-/m/multi")).text
    assert f'href="/ui/r/library/alpine/-/m/{arm.digest}">linux/arm64</a>' in page


async def test_referrers_are_grouped_by_artifact_type_as_a_tree(make_ui: MakeUI) -> None:
    ui = await make_ui()
    subject = image()
    sbom = artifact(subject, SBOM_TYPE, b'{"spdxVersion":"SPDX-2.3"}')
    signature_of_sbom = artifact(sbom, SIGNATURE_TYPE, b"signature")
    await store(ui.registry, "library/alpine", subject, "3.20")
    await store(ui.registry, "library/alpine", sbom)
    await store(ui.registry, "library/alpine", signature_of_sbom)
    page = (await ui.client().get("/ui/r/library/alpine/-/m/3.20")).text
    tree = page[page.index('id="referrers"') :]
    assert tree.index(SBOM_TYPE) < tree.index(sbom.digest) < tree.index(SIGNATURE_TYPE)
    assert tree.index(SIGNATURE_TYPE) < tree.index(signature_of_sbom.digest)


async def test_referrers_of_the_tag_schema_fallback_are_shown(make_ui: MakeUI) -> None:
    ui = await make_ui()
    subject = image()
    signature = artifact(None, SIGNATURE_TYPE, b"signature pushed by an older client")
    await store(ui.registry, "library/alpine", subject, "3.20")
    fallback = referrers_index((signature, SIGNATURE_TYPE))
    await store(ui.registry, "library/alpine", fallback, fallback_tag(subject))
    page = (await ui.client().get("/ui/r/library/alpine/-/m/3.20")).text
    tree = page[page.index('id="referrers"') :]
    node = tree[tree.index(SIGNATURE_TYPE) :]
    assert signature.digest in node
    assert "via tag schema" in node


async def test_referrers_tree_is_cut_short_and_says_so(
    make_ui: MakeUI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "REFERRER_NODES", 2)
    ui = await make_ui()
    subject = image()
    await store(ui.registry, "library/alpine", subject, "3.20")
    for n in range(3):
        await store(ui.registry, "library/alpine", artifact(subject, SBOM_TYPE, b"%d" % n))
    page = (await ui.client().get("/ui/r/library/alpine/-/m/3.20")).text
    assert page.count('class="referrer"') == 2
    assert 'id="referrers-truncated"' in page


async def test_referrers_tag_pointing_back_at_its_subject_is_shown_once(make_ui: MakeUI) -> None:
    ui = await make_ui()
    subject = image()
    signature = artifact(subject, SIGNATURE_TYPE, b"signature")
    await store(ui.registry, "library/alpine", subject, "3.20")
    await store(ui.registry, "library/alpine", signature)
    cycle = referrers_index((subject, SIGNATURE_TYPE))
    await store(ui.registry, "library/alpine", cycle, fallback_tag(signature))
    page = (await ui.client().get("/ui/r/library/alpine/-/m/3.20")).text
    tree = page[page.index('id="referrers"') :]
    assert tree.count('class="referrer"') == 1


async def test_markup_in_a_label_is_shown_as_text(make_ui: MakeUI) -> None:
    ui = await make_ui()
    await store(
        ui.registry, "library/alpine", image(labels={"note": "<script>alert(1)</script>"}), "1"
    )
    page = (await ui.client().get("/ui/r/library/alpine/-/m/1")).text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_markup_in_a_search_is_shown_as_text(make_ui: MakeUI) -> None:
    ui = await make_ui()
    page = (await ui.client().get("/ui/", params={"q": '"><img src=x onerror=alert(1)>'})).text
    assert "<img src=x" not in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page


async def test_delete_asks_for_confirmation_naming_what_goes(make_ui: MakeUI) -> None:
    ui = await make_ui()
    manifest = image()
    await store(ui.registry, "library/alpine", manifest, "3.20")
    await store(ui.registry, "library/alpine", manifest, "latest")
    page = await ui.client().get("/ui/r/library/alpine/-/delete", params={"tag": "3.20"})
    summary = page.text[page.text.index('id="delete-summary"') :]
    assert "removes the tag <strong>3.20</strong>" in summary
    assert "still tagged latest" in summary
    tags = (await ui.registry.repository("library/alpine").tags.list()).items
    assert tags == ["3.20", "latest"]


async def test_deleting_a_manifest_names_every_tag_it_removes(make_ui: MakeUI) -> None:
    ui = await make_ui()
    manifest = image()
    await store(ui.registry, "library/alpine", manifest, "3.20")
    await store(ui.registry, "library/alpine", manifest, "latest")
    client = ui.client()
    confirm = await client.get("/ui/r/library/alpine/-/delete", params={"digest": manifest.digest})
    assert "every tag pointing at it: <strong>3.20, latest</strong>" in confirm.text
    done = await client.post(
        "/ui/r/library/alpine/-/delete",
        data={"csrf": csrf_of(confirm), "digest": manifest.digest},
    )
    assert done.status_code == 303
    assert (await ui.registry.repository("library/alpine").tags.list()).items == []


async def test_delete_without_the_csrf_token_is_refused_and_keeps_the_tag(
    make_ui: MakeUI,
) -> None:
    ui = await make_ui()
    await store(ui.registry, "library/alpine", image(), "3.20")
    client = ui.client()
    await client.get("/ui/")
    response = await client.post("/ui/r/library/alpine/-/delete", data={"tag": "3.20"})
    assert response.status_code == 403
    assert (await ui.registry.repository("library/alpine").tags.list()).items == ["3.20"]


async def test_delete_is_refused_when_the_registry_disables_it(make_ui: MakeUI) -> None:
    ui = await make_ui(delete=False)
    await store(ui.registry, "library/alpine", image(), "3.20")
    client = ui.client()
    page = await client.get("/ui/r/library/alpine")
    assert "delete-tag" not in page.text
    refused = await client.get("/ui/r/library/alpine/-/delete", params={"tag": "3.20"})
    assert refused.status_code == 403


async def test_user_without_the_delete_action_is_refused(make_ui: MakeUI, htpasswd: Path) -> None:
    ui = await make_ui(auth=token_server_auth(htpasswd))
    await store(ui.registry, "team/api", image(), "1")
    bob = ui.client()
    await sign_in(bob, "bob", PASSWORDS["bob"])
    page = await bob.get("/ui/r/team/api")
    assert "delete-tag" not in page.text
    refused = await bob.post("/ui/r/team/api/-/delete", data={"csrf": csrf_of(page), "tag": "1"})
    assert refused.status_code == 403
    assert (await ui.registry.repository("team/api").tags.list()).items == ["1"]


@pytest.mark.parametrize("path", ["/ui/r/library/alpine/-/m/nope", "/ui/r/UPPER/case"])
async def test_unknown_things_get_a_page_saying_not_found(make_ui: MakeUI, path: str) -> None:
    ui = await make_ui()
    await store(ui.registry, "library/alpine", image(), "3.20")
    response = await ui.client().get(path)
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]


async def test_deleted_notice_says_only_what_a_deletion_removed(make_ui: MakeUI) -> None:
    ui = await make_ui()
    await store(ui.registry, "library/alpine", image(), "3.20")
    client = ui.client()
    forged = await client.get("/ui/r/library/alpine", params={"deleted": "everything, call us"})
    assert "deleted-notice" not in forged.text
    real = await client.get("/ui/r/library/alpine", params={"deleted": "tag 3.19"})
    assert "Deleted tag 3.19." in real.text


async def test_unexpected_failure_is_a_500_page_that_reveals_nothing(
    make_ui: MakeUI, monkeypatch: pytest.MonkeyPatch
) -> None:
    ui = await make_ui()

    async def broken_catalog(*args: object, **kwargs: object) -> None:
        raise OSError("/var/lib/registry/docker: input/output error")

    monkeypatch.setattr(ui.registry, "catalog", broken_catalog)
    response = await ui.client().get("/ui/")
    assert response.status_code == 500
    assert "/var/lib/registry" not in response.text
    assert "content-security-policy" in response.headers
