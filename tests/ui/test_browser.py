"""The web interface in a real browser (headless Chromium) against a real ``dockyard
serve``: what people do with it, with a screenshot of each page in ``artifacts/``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait
from ui_auth import PASSWORDS, write_htpasswd
from ui_browser import (
    CHROMEDRIVER,
    CHROMIUM,
    chromium,
    free_port,
    pushing_client,
    run_maintenance,
    start_registry,
)
from ui_images import (
    SBOM_TYPE,
    SIGNATURE_TYPE,
    Document,
    artifact,
    image,
    index,
    push,
)

ARTIFACTS = Path(__file__).parent / "artifacts"
XSS_LABEL = "<img src=x onerror=\"document.title='pwned'\">"


@dataclass
class Site:
    """The running registry, what was pushed to it, and the shared browser."""

    url: str
    browser: WebDriver
    alpine: Document
    multi: Document
    sbom: Document
    signature: Document

    def open(self, path: str) -> None:
        self.browser.get(self.url + path)

    def sign_in(self, user: str | None) -> None:
        """Start afresh as ``user`` (None: anonymous), through the sign-in form."""
        self.browser.delete_all_cookies()
        if user is None:
            return
        self.open("/ui/sign-in")
        self.browser.find_element(By.ID, "username").send_keys(user)
        password = self.browser.find_element(By.ID, "password")
        password.send_keys(PASSWORDS[user])
        password.send_keys(Keys.ENTER)
        WebDriverWait(self.browser, 10).until(
            expected_conditions.presence_of_element_located((By.ID, "signed-in-user"))
        )

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        self.browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))

    def repository_names(self) -> list[str]:
        """The repositories the list page shows."""
        return [a.text for a in self.browser.find_elements(By.CSS_SELECTOR, "a.repo-link")]

    def text(self, element_id: str) -> str:
        """The text of element ``element_id``, once the page showing it has loaded."""
        located = expected_conditions.presence_of_element_located((By.ID, element_id))
        return WebDriverWait(self.browser, 10).until(located).text


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    for program in (CHROMIUM, CHROMEDRIVER):
        if not os.access(program, os.X_OK):
            pytest.fail(f"{program} is missing: apt-get install chromium chromium-driver")
    workdir = tmp_path_factory.mktemp("ui-browser")
    htpasswd = write_htpasswd(workdir / "htpasswd", PASSWORDS)
    server = start_registry(workdir, free_port(), htpasswd)
    try:
        alpine = image(labels={"org.opencontainers.image.title": "alpine", "xss": XSS_LABEL})
        multi = index(image(), image(architecture="arm64"))
        sbom = artifact(alpine, SBOM_TYPE, b'{"spdxVersion":"SPDX-2.3"}')
        signature = artifact(alpine, SIGNATURE_TYPE, b"signature")
        names = ["team/alpine", "team/doomed", "public/base", "odd/markup"]
        with pushing_client(server, "alice", PASSWORDS["alice"], names) as client:
            push(client, "team/alpine", alpine, "3.20")
            push(client, "team/alpine", multi, "multi")
            push(client, "team/alpine", sbom)
            push(client, "team/alpine", signature)
            push(client, "team/doomed", image(), "keep")
            push(client, "team/doomed", image(), "remove-me")
            push(client, "public/base", image(), "1.0")
        run_maintenance(workdir)
        browser = chromium()
        try:
            yield Site(server.url, browser, alpine, multi, sbom, signature)
        finally:
            browser.quit()
    finally:
        server.stop()


def test_user_signs_in_with_the_form(site: Site) -> None:
    site.sign_in(None)
    site.open("/ui/sign-in")
    site.screenshot("sign-in")
    site.sign_in("alice")
    assert site.text("signed-in-user") == "alice"


def test_search_narrows_the_repository_list(site: Site) -> None:
    site.sign_in("alice")
    site.open("/ui/")
    site.screenshot("repositories")
    search = site.browser.find_element(By.ID, "q")
    search.send_keys("alp")
    search.send_keys(Keys.ENTER)
    WebDriverWait(site.browser, 10).until(expected_conditions.url_contains("q=alp"))
    assert site.repository_names() == ["team/alpine"]
    site.screenshot("repositories-search")


def test_opening_a_repository_shows_its_tags(site: Site) -> None:
    site.sign_in("alice")
    site.open("/ui/")
    site.browser.find_element(By.LINK_TEXT, "team/alpine").click()
    assert site.text("repository-name") == "team/alpine"
    rows = site.browser.find_elements(By.CSS_SELECTOR, "#tags tbody tr")
    tags = {row.get_attribute("data-tag"): row.text for row in rows}
    assert set(tags) == {"3.20", "multi"}
    assert "linux/amd64, linux/arm64" in tags["multi"]
    assert site.alpine.digest[:19] in tags["3.20"]
    site.screenshot("repository")


def test_multi_platform_index_leads_to_each_platform(site: Site) -> None:
    site.sign_in("alice")
    site.open("/ui/r/team/alpine")
    site.browser.find_element(By.LINK_TEXT, "multi").click()
    platforms = [a.text for a in site.browser.find_elements(By.CSS_SELECTOR, "a.platform-link")]
    assert platforms == ["linux/amd64", "linux/arm64"]
    site.screenshot("index")
    site.browser.find_element(By.LINK_TEXT, "linux/arm64").click()
    assert site.text("config-platform") == "linux/arm64"
    assert site.text("media-type") == "application/vnd.oci.image.manifest.v1+json"
    site.screenshot("image")


def test_manifest_page_shows_its_referrers_as_a_tree(site: Site) -> None:
    site.sign_in("alice")
    site.open("/ui/r/team/alpine/-/m/3.20")
    groups = site.browser.find_elements(By.CSS_SELECTOR, "#referrers li.group")
    kinds = [g.find_element(By.CSS_SELECTOR, ".artifact-type").text for g in groups]
    assert kinds == sorted([SBOM_TYPE, SIGNATURE_TYPE])
    referrers = site.browser.find_elements(By.CSS_SELECTOR, "#referrers li.referrer")
    assert {r.get_attribute("data-digest") for r in referrers} == {
        site.sbom.digest,
        site.signature.digest,
    }
    site.browser.find_element(By.ID, "referrers").location_once_scrolled_into_view  # noqa: B018
    site.screenshot("manifest-referrers")


def test_copy_button_puts_the_pull_command_on_the_clipboard(site: Site) -> None:
    site.sign_in("alice")
    site.open("/ui/r/team/alpine")
    site.browser.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": site.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    command = site.browser.find_element(By.CSS_SELECTOR, 'code.pull-command[data-client="docker"]')
    button = command.find_element(By.XPATH, "following-sibling::button")
    button.click()
    WebDriverWait(site.browser, 5).until(lambda _: button.text == "Copied")
    copied = site.browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "navigator.clipboard.readText().then(done, e => done('error: ' + e));"
    )
    host = site.url.removeprefix("http://")
    assert copied == f"docker pull {host}/team/alpine:3.20"


def test_permitted_user_deletes_a_tag_after_confirming(site: Site) -> None:
    site.sign_in("alice")
    site.open("/ui/r/team/doomed")
    site.browser.find_element(By.CSS_SELECTOR, 'tr[data-tag="remove-me"] a.delete-tag').click()
    assert "removes the tag remove-me from team/doomed" in site.text("delete-summary")
    site.screenshot("delete-confirm")
    site.browser.find_element(By.ID, "confirm-delete").click()
    assert site.text("deleted-notice") == "Deleted tag remove-me."
    tags = [
        r.get_attribute("data-tag")
        for r in site.browser.find_elements(By.CSS_SELECTOR, "#tags tbody tr")
    ]
    assert tags == ["keep"]


def test_user_without_delete_is_offered_no_delete_and_refused(site: Site) -> None:
    site.sign_in("bob")
    site.open("/ui/r/team/doomed")
    assert site.browser.find_elements(By.CSS_SELECTOR, "a.delete-tag") == []
    site.open("/ui/r/team/doomed/-/delete?tag=keep")
    assert site.text("error-message") == "You may not delete in this repository."
    site.screenshot("delete-refused")
    site.open("/ui/r/team/doomed")
    assert site.browser.find_elements(By.CSS_SELECTOR, 'tr[data-tag="keep"]')


def test_anonymous_visitor_sees_only_what_anyone_may_pull(site: Site) -> None:
    site.sign_in(None)
    site.open("/ui/")
    assert site.repository_names() == ["public/base"]
    site.screenshot("anonymous")


def test_markup_in_a_label_is_shown_as_text(site: Site) -> None:
    site.sign_in("alice")
    site.open("/ui/r/team/alpine/-/m/3.20")
    values = [e.text for e in site.browser.find_elements(By.CSS_SELECTOR, "#labels .label-value")]
    assert XSS_LABEL in values
    assert site.browser.find_elements(By.CSS_SELECTOR, "#labels img") == []
    assert site.browser.title != "pwned"


def test_markup_in_a_search_is_shown_as_text(site: Site) -> None:
    site.sign_in("alice")
    site.open("/ui/")
    search = site.browser.find_element(By.ID, "q")
    search.send_keys(XSS_LABEL)
    search.send_keys(Keys.ENTER)
    WebDriverWait(site.browser, 10).until(expected_conditions.url_contains("q="))
    assert XSS_LABEL in site.text("no-repositories")
    assert site.browser.find_elements(By.CSS_SELECTOR, "main img") == []
    assert site.browser.title != "pwned"


def test_status_page_shows_the_registry_to_catalog_users(site: Site) -> None:
    site.sign_in("alice")
    site.open("/ui/status")
    assert site.text("repository-count") == "3"
    assert "as of the last collection" in site.text("storage-used")
    assert "0 manifests and 0 blobs deleted" in site.text("last-collection")
    assert "0 problems found" in site.text("last-scrub")
    site.screenshot("status")


def test_search_works_from_the_keyboard_alone(site: Site) -> None:
    site.sign_in("alice")
    site.open("/ui/")
    body = site.browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    for _ in range(10):
        active = site.browser.switch_to.active_element
        if active.get_attribute("id") == "q":
            break
        active.send_keys(Keys.TAB)
    else:
        pytest.fail("the search field is not reachable with Tab")
    active.send_keys("public")
    active.send_keys(Keys.ENTER)
    WebDriverWait(site.browser, 10).until(expected_conditions.url_contains("q=public"))
    assert site.repository_names() == ["public/base"]


def test_every_form_control_has_a_label(site: Site) -> None:
    site.sign_in(None)
    for path in ("/ui/sign-in", "/ui/"):
        site.open(path)
        unlabelled = site.browser.execute_script(
            "return [...document.querySelectorAll('input:not([type=hidden])')]"
            ".filter(i => !(i.labels && i.labels.length) && !i.getAttribute('aria-label'))"
            ".map(i => i.name)"
        )
        assert unlabelled == [], path


def test_pages_fit_a_phone_screen(site: Site) -> None:
    site.sign_in("alice")
    site.browser.set_window_size(390, 844)
    try:
        for path in ("/ui/", "/ui/r/team/alpine", "/ui/r/team/alpine/-/m/3.20"):
            site.open(path)
            overflow = site.browser.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, path
        site.open("/ui/r/team/alpine")
        site.screenshot("repository-phone")
    finally:
        site.browser.set_window_size(1280, 900)


def test_dark_colours_follow_the_system_setting(site: Site) -> None:
    site.sign_in("alice")
    background = "return getComputedStyle(document.body).backgroundColor"
    try:
        for scheme, expected in (("light", "rgb(255, 255, 255)"), ("dark", "rgb(13, 17, 23)")):
            site.browser.execute_cdp_cmd(
                "Emulation.setEmulatedMedia",
                {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
            )
            site.open("/ui/r/team/alpine")
            assert site.browser.execute_script(background) == expected
        site.screenshot("repository-dark")
    finally:
        site.browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
