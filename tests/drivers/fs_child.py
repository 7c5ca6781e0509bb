"""A separate process that writes through the filesystem driver, for crash and sharing tests.

Usage::

    python fs_child.py ROOT PATH loop-put SIZE     # put_content forever, one byte value per round
    python fs_child.py ROOT PATH loop-writer SIZE  # the same through writer + commit
    python fs_child.py ROOT PATH write-close DATA  # write DATA through a writer and close it

Prints ``ready`` once the driver is open, and ``committed <n>`` after round ``n``.
"""

from __future__ import annotations

import asyncio
import sys

from dockyard.storage.driver.filesystem import FilesystemDriver

_PIECE = 256 * 1024


async def main(root: str, path: str, mode: str, argument: str) -> None:
    driver = FilesystemDriver(root)
    print("ready", flush=True)
    if mode == "write-close":
        writer = await driver.writer(path)
        await writer.write(argument.encode())
        await writer.close()
        return
    size = int(argument)
    round_ = 0
    while True:
        content = bytes([round_ % 256]) * size
        if mode == "loop-put":
            await driver.put_content(path, content)
        else:
            writer = await driver.writer(path)
            for start in range(0, size, _PIECE):
                await writer.write(content[start : start + _PIECE])
            await writer.commit()
        print(f"committed {round_}", flush=True)
        round_ += 1


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
