"""``dockyard sync`` from a real upstream registry: filtered, digests kept, resumable."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from e2e_images import OciLayout
from e2e_processes import copy, reference_process
from sync_commands import dockyard, registry_config


def test_sync_copies_the_tags_a_regex_selects_and_resumes_without_copying_again(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    source_layout = OciLayout(tmp_path / "source")
    wanted = {tag: source_layout.add_image(tag, layers=2) for tag in ("v1", "v2")}
    source_layout.add_image("dev", layers=1)
    upstream = reference_process(tmp_path, free_port(), tmp_path / "upstream-root").start()
    try:
        for tag in ("v1", "v2", "dev"):
            copy(source_layout.ref(tag), f"docker://{upstream.host}/team/app:{tag}")
        config = registry_config(tmp_path, "local")
        command = ("sync", "--from", upstream.url, "--tags", "^v", "--json", "-c", config)

        first = dockyard(*command)
        again = dockyard(*command)
        exported = tmp_path / "exported"
        dockyard("export", "team/app:v1", "team/app:v2", "--oci-layout", exported, "-c", config)
        missing = dockyard("export", "team/app:dev", "--oci-layout", tmp_path / "x", "-c", config)
    finally:
        upstream.stop()

    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["tags_copied"] == ["team/app:v1", "team/app:v2"]
    assert json.loads(again.stdout)["tags_current"] == ["team/app:v1", "team/app:v2"]
    assert json.loads(again.stdout)["blobs"] == 0
    index = json.loads((exported / "index.json").read_text())
    digests = {
        m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
        for m in index["manifests"]
    }
    assert digests == {f"team/app:{tag}": image.digest for tag, image in wanted.items()}
    assert missing.returncode == 1
    assert re.search(r"unknown", missing.stderr)
