"""The on-disk event queue: order across writers, delivery progress, crash leftovers."""

from __future__ import annotations

import json
from pathlib import Path

from dockyard.notifications.queue import EndpointQueue, SegmentWriter, line


def _event(n: int) -> bytes:
    return json.dumps({"id": str(n), "action": "push"}).encode()


def test_events_of_two_writers_come_out_in_the_order_they_were_queued(tmp_path: Path) -> None:
    first, second = SegmentWriter(tmp_path), SegmentWriter(tmp_path)
    for n in range(6):
        writer = first if n % 2 == 0 else second
        writer.append(line(1000 + n, "push", _event(n)), durable=False)
    queue = EndpointQueue(tmp_path)

    batch = queue.next_batch(4)
    queue.advance(batch)
    rest = queue.next_batch(10)

    assert [entry.event["id"] for entry in batch + rest] == [str(n) for n in range(6)]
    assert queue.next_batch(10)[len(rest) :] == []


def test_a_sealed_delivered_segment_is_removed_and_an_open_one_is_kept(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path)
    writer.append(line(1, "push", _event(1)), durable=True)
    queue = EndpointQueue(tmp_path)
    queue.advance(queue.next_batch(10))

    queue.drop_finished()
    assert len(list((tmp_path / "segments").iterdir())) == 1  # its writer may still add
    writer.close()
    queue.drop_finished()
    assert list((tmp_path / "segments").iterdir()) == []


def test_a_line_cut_by_a_crash_is_not_delivered_and_does_not_pin_its_segment(
    tmp_path: Path,
) -> None:
    writer = SegmentWriter(tmp_path)
    writer.append(line(1, "push", _event(1)) + b'2\tpush\t{"id":', durable=True)
    writer.close()
    queue = EndpointQueue(tmp_path)

    batch = queue.next_batch(10)
    queue.advance(batch)
    queue.drop_finished()

    assert [entry.event["id"] for entry in batch] == ["1"]
    assert list((tmp_path / "segments").iterdir()) == []


def test_an_event_longer_than_one_read_is_delivered_whole(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path)
    large = json.dumps({"id": "large", "action": "push", "references": "x" * (3 << 20)})
    writer.append(line(1, "push", large.encode()) + line(2, "push", _event(2)), durable=True)
    queue = EndpointQueue(tmp_path)

    batch = queue.next_batch(1)
    queue.advance(batch)

    assert [entry.event["id"] for entry in batch + queue.next_batch(10)] == ["large", "2"]
