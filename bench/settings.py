"""The sizes, counts and durations of a run: the full one and the ``--quick`` smoke run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MiB = 1 << 20


@dataclass(frozen=True)
class Settings:
    """Every knob of a run; each loop in the harness is bounded by these."""

    blob_size: int = 256 * MiB
    upload_samples: int = 3
    chunk_size: int = 8 * MiB
    download_samples: int = 5
    load_seconds: float = 8.0
    load_connections: int = 32
    tags: int = 1000
    repositories: int = 1000
    page_size: int = 100
    listing_samples: int = 30
    listing_seconds: float = 8.0
    push_images: int = 20
    push_workers: int = 8
    push_layer_size: int = 64 << 10
    pull_clients: int = 8
    pull_images: int = 20
    pull_layer_size: int = 1 * MiB
    setup_workers: int = 8
    machine_probe_size: int = 256 * MiB

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain JSON-ready values."""
        return asdict(self)


FULL = Settings()

QUICK = Settings(
    blob_size=8 * MiB,
    upload_samples=1,
    chunk_size=1 * MiB,
    download_samples=1,
    load_seconds=1.0,
    tags=120,
    repositories=120,
    page_size=50,
    listing_samples=5,
    listing_seconds=1.0,
    push_images=6,
    push_workers=4,
    push_layer_size=16 << 10,
    pull_clients=4,
    pull_images=6,
    pull_layer_size=64 << 10,
    machine_probe_size=16 * MiB,
)
