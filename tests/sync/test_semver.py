"""Version ranges that select tags for ``dockyard sync --semver``, and the ``sync``
section refusing filters it cannot read."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dockyard.config import ConfigError, load
from dockyard.sync.copy import SyncFilter
from dockyard.sync.semver import RangeInvalid, VersionRange

TAGS = ["1.1", "1.2.0", "v1.5", "1.9.9", "1.5.0-rc1", "2.0.0-rc1", "2.0.0", "latest"]


@pytest.mark.parametrize(
    ("text", "selected"),
    [
        (">=1.2 <2", ["1.2.0", "v1.5", "1.9.9"]),
        (">= 1.2, < 1.9", ["1.2.0", "v1.5"]),
        ("^1.4", ["v1.5", "1.9.9"]),
        ("~1.5", ["v1.5"]),
        ("1.x", ["1.1", "1.2.0", "v1.5", "1.9.9"]),
        ("2", ["2.0.0"]),
        (">=2.0.0-rc1", ["2.0.0-rc1", "2.0.0"]),
        ("*", ["1.1", "1.2.0", "v1.5", "1.9.9", "2.0.0"]),
    ],
)
def test_range_selects_the_versions_it_names(text: str, selected: list[str]) -> None:
    versions = VersionRange(text)
    assert [tag for tag in TAGS if versions.matches(tag)] == selected


def test_pre_releases_need_a_comparator_naming_one() -> None:
    assert not VersionRange(">=1.0").matches("1.5.0-rc1")


@pytest.mark.parametrize("text", ["", ">=one", "1.2.3.4.5", "=>1"])
def test_unreadable_range_is_refused(text: str) -> None:
    with pytest.raises(RangeInvalid):
        VersionRange(text)


def test_sync_filter_needs_both_the_regex_and_the_range() -> None:
    selection = SyncFilter(tags=re.compile("^v"), versions=VersionRange("^1"))
    assert [tag for tag in TAGS if selection.wants_tag(tag)] == ["v1.5"]


@pytest.mark.parametrize(
    ("key", "value"), [("semver", "'>=one'"), ("platforms", "[linux/amd64, arm64]")]
)
def test_sync_job_with_an_unreadable_filter_names_its_key(
    tmp_path: Path, key: str, value: str
) -> None:
    path = tmp_path / "config.yml"
    path.write_text(
        "version: 0.1\nstorage: {inmemory: {}}\nhttp: {secret: s}\n"
        f"sync:\n  jobs:\n    - {{from: 'https://a.example', {key}: {value}}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load(path, {}, cwd=tmp_path)
    assert info.value.message.startswith(f"sync.jobs[0].{key}:")
