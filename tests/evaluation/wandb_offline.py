"""Read an offline W&B run's `.wandb` file: history rows and summary, without syncing.

The file is a LevelDB-style log (W&B's `datastore` format): a 7-byte header (`:W&B`, magic,
version), then 32 KiB blocks of records, each with a 7-byte header (crc32, length, type FULL /
FIRST / MIDDLE / LAST) and a chunk of a serialised `wandb_internal_pb2.Record`. The header
counts towards the first block; a block tail shorter than a record header is padding.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2

FILE_HEADER = 7
RECORD_HEADER = 7
BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: Path) -> list[wandb_internal_pb2.Record]:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B datastore file"
    records, pending, offset = [], b"", FILE_HEADER
    while offset + RECORD_HEADER <= len(data):
        if BLOCK - offset % BLOCK < RECORD_HEADER:  # block trailer
            offset += BLOCK - offset % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[offset : offset + RECORD_HEADER])
        chunk = data[offset + RECORD_HEADER : offset + RECORD_HEADER + length]
        offset += RECORD_HEADER + length
        if kind == 0 and length == 0:  # zero padding at the end of the file
            break
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def _items_to_dict(items) -> dict:
    """Items carry a `key`, or a `nested_key` path for the fields of a logged media object."""
    result: dict = {}
    for item in items:
        path = [item.key] if item.key else list(item.nested_key)
        node = result
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = json.loads(item.value_json)
    return result


def history(path: Path) -> list[dict]:
    """The run's history rows, values decoded from JSON."""
    return [
        _items_to_dict(record.history.item)
        for record in read_records(path)
        if record.WhichOneof("record_type") == "history"
    ]


def summary(path: Path) -> dict:
    """The run's summary as its summary records last set it."""
    result: dict = {}
    for record in read_records(path):
        if record.WhichOneof("record_type") == "summary":
            result.update(_items_to_dict(record.summary.update))
    return result
