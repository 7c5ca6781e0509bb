"""Choosing and configuring a storage driver by its configuration name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockyard.storage.driver import create_driver
from dockyard.storage.driver.base import Unsupported
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.driver.inmemory import InMemoryDriver


def test_filesystem_driver_uses_the_configured_root_directory(tmp_path: Path) -> None:
    driver = create_driver("filesystem", {"rootdirectory": str(tmp_path / "data")})
    assert isinstance(driver, FilesystemDriver)
    assert driver.root == str(tmp_path / "data")


def test_filesystem_driver_defaults_to_a_local_data_folder() -> None:
    driver = create_driver("filesystem", {})
    assert isinstance(driver, FilesystemDriver)
    assert driver.root == os.path.abspath("./.data")


def test_inmemory_driver_is_created_fresh_each_time() -> None:
    first = create_driver("inmemory", {})
    assert isinstance(first, InMemoryDriver)
    assert create_driver("inmemory", {}) is not first


def test_driver_names_match_configuration_names() -> None:
    assert create_driver("filesystem", {}).name == "filesystem"
    assert create_driver("inmemory", {}).name == "inmemory"


def test_unknown_driver_name_raises_unsupported() -> None:
    with pytest.raises(Unsupported):
        create_driver("floppy", {})
