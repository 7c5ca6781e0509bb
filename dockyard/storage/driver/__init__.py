"""Storage drivers: bytes at paths, behind one async interface."""

from __future__ import annotations

import importlib
from typing import Any

from dockyard.storage.driver.base import StorageDriver, Unsupported
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.driver.inmemory import InMemoryDriver

__all__ = ["DRIVERS", "create_driver"]

#: Every driver name ``create_driver`` knows. Drivers with heavy dependencies are
#: imported only when configured.
DRIVERS = ("filesystem", "inmemory", "s3")


def create_driver(name: str, params: dict[str, Any]) -> StorageDriver:
    """The driver configured as ``storage.<name>`` with that section's ``params``.

    Raises ``Unsupported`` for an unknown name or a driver that is not available.
    """
    if name == "filesystem":
        return FilesystemDriver.from_params(params)
    if name == "inmemory":
        return InMemoryDriver()
    if name == "s3":
        # Imported by name so that the S3 dependencies load only when S3 is configured.
        from dockyard.extras import require

        require("s3", "the s3 storage driver")
        try:
            module = importlib.import_module("dockyard.storage.driver.s3")
        except ModuleNotFoundError as error:
            if error.name != "dockyard.storage.driver.s3":
                raise
            raise Unsupported("the s3 storage driver is not available") from None
        driver: StorageDriver = module.S3Driver.from_params(params)
        return driver
    raise Unsupported(f"unknown storage driver {name!r}")
