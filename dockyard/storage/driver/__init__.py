"""Storage drivers: bytes at paths, behind one async interface."""

from __future__ import annotations

import importlib

from dockyard.config.model import DriverParams, FilesystemParams, InMemoryParams
from dockyard.storage.driver.base import StorageDriver, Unsupported
from dockyard.storage.driver.filesystem import FilesystemDriver
from dockyard.storage.driver.inmemory import InMemoryDriver

__all__ = ["DRIVERS", "create_driver"]

#: Every driver name ``create_driver`` knows. Drivers with heavy dependencies are
#: imported only when configured.
DRIVERS = ("filesystem", "inmemory", "s3")


def create_driver(params: DriverParams) -> StorageDriver:
    """The driver that ``params`` (a ``storage.<driver>`` section, as the configuration
    read it) configure.

    Raises ``Unsupported`` for a driver that is not available.
    """
    if isinstance(params, FilesystemParams):
        return FilesystemDriver(params.rootdirectory)
    if isinstance(params, InMemoryParams):
        return InMemoryDriver()
    # Imported by name so that the S3 dependencies load only when S3 is configured.
    from dockyard.extras import require

    require("s3", "the s3 storage driver")
    try:
        module = importlib.import_module("dockyard.storage.driver.s3")
    except ModuleNotFoundError as error:
        if error.name != "dockyard.storage.driver.s3":
            raise
        raise Unsupported("the s3 storage driver is not available") from None
    driver: StorageDriver = module.S3Driver(params)
    return driver
