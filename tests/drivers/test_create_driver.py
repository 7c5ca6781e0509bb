"""Choosing and configuring a storage driver by its configuration name."""

from __future__ import annotations

from pathlib import Path

from dockyard.config import from_dict
from dockyard.config.model import DRIVER_PARAMS, FilesystemParams, InMemoryParams
from dockyard.storage.driver import create_driver
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.driver.inmemory import InMemoryDriver


def test_filesystem_driver_uses_the_configured_root_directory(tmp_path: Path) -> None:
    driver = create_driver(FilesystemParams(rootdirectory=str(tmp_path / "data")))
    assert isinstance(driver, FilesystemDriver)
    assert driver.root == str(tmp_path / "data")


def test_filesystem_driver_without_a_configuration_keeps_a_local_data_folder(
    tmp_path: Path,
) -> None:
    config = from_dict({}, cwd=tmp_path)
    driver = create_driver(config.storage.params)
    assert isinstance(driver, FilesystemDriver)
    assert driver.root == str(tmp_path / ".data")


def test_inmemory_driver_is_created_fresh_each_time() -> None:
    first = create_driver(InMemoryParams())
    assert isinstance(first, InMemoryDriver)
    assert create_driver(InMemoryParams()) is not first


def test_driver_names_match_configuration_names() -> None:
    for name, params in DRIVER_PARAMS.items():
        if name != "s3":
            assert create_driver(params()).name == name
