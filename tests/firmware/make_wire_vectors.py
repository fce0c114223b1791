"""Regenerate tests/data/wire_vectors.json, the golden vectors of the wire protocol.

This is a deliberately plain reference implementation (byte loops, no numpy) separate from
``biofeedback.devices.wire`` and from ``firmware/biofeedback/frame.c``; the C tests and the Python
tests both check their implementation against the file it writes. The CRC and COBS anchors are
published check values (CRC-16/CCITT-FALSE of "123456789" is 0x29B1; the COBS examples are those
of Cheshire & Baker's paper as reproduced in most references), so the file is not merely
self-consistent.

One vector per line, so the C test can read it without a JSON library. Run:
``python tests/firmware/make_wire_vectors.py`` (it refuses to change an existing vector's meaning:
review the diff).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "data" / "wire_vectors.json"


def crc16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def cobs(data: bytes) -> bytes:
    out = bytearray()
    block = bytearray()
    for byte in data:
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def wire(frame_type: int, seq: int, body: bytes, version: int = 1) -> bytes:
    raw = bytes([version, frame_type]) + struct.pack("<H", seq) + body
    raw += struct.pack(">H", crc16(raw))
    return cobs(raw) + b"\x00"


def main() -> None:
    vectors: list[dict] = []

    for text, crc in [(b"123456789", 0x29B1), (b"", 0xFFFF), (b"A", 0xB915)]:
        assert crc16(text) == crc, text
        vectors.append(
            {"name": f"crc {text.decode()!r}", "kind": "crc", "input": text.hex(), "crc": crc}
        )
    block = bytes(range(256))
    vectors.append({"name": "crc 0..255", "kind": "crc", "input": block.hex(), "crc": crc16(block)})

    cobs_examples = [
        ("", "01"),
        ("00", "0101"),
        ("0000", "010101"),
        ("001100", "01021101"),
        ("11220033", "0311220233"),
        ("11223344", "0511223344"),
        ("11000000", "0211010101"),
    ]
    for raw_hex, enc_hex in cobs_examples:
        assert cobs(bytes.fromhex(raw_hex)).hex() == enc_hex
        vectors.append(
            {
                "name": f"cobs {raw_hex or 'empty'}",
                "kind": "cobs",
                "input": raw_hex,
                "encoded": enc_hex,
            }
        )

    def frame(
        name: str, frame_type: int, seq: int, body: bytes, version: int = 1, **decoded
    ) -> None:
        vectors.append(
            {
                "name": name,
                "kind": "frame",
                "version": version,
                "type": frame_type,
                "seq": seq,
                "body": body.hex(),
                "wire": wire(frame_type, seq, body, version).hex(),
                "decoded": decoded,
            }
        )

    info = (
        bytes([1, 0, 0, 10])
        + struct.pack("<HII", 5000, 1_000_000, 0)
        + bytes([10, 0, 3, 0, 0, 1, 1, 2, 3])
    )
    info += b"uno"
    frame(
        "info uno default",
        0x01,
        0,
        info,
        firmware="1.0.0",
        adc_bits=10,
        vref_mv=5000,
        rate_mhz=1_000_000,
        sample_index=0,
        samples_per_frame=10,
        streaming=False,
        pins=[0, 1, 2],
        kinds=["raw", "env", "ref"],
        board="uno",
    )
    values = [[512, 0, 511], [1023, 256, 512], [1, 2, 3], [768, 1000, 0]]
    body = struct.pack("<IBB", 123456, 3, 4) + b"".join(struct.pack("<3H", *row) for row in values)
    frame("samples 3ch x 4", 0x02, 41, body, first_index=123456, samples=values)
    values = [[7], [8], [9]]
    body = struct.pack("<IBB", 0xFFFFFFFE, 1, 3) + b"".join(
        struct.pack("<H", *row) for row in values
    )
    frame("samples at index wrap", 0x02, 0xFFFF, body, first_index=0xFFFFFFFE, samples=values)
    body = bytes([1, 0x11]) + struct.pack("<HIIHH", 7, 5000, 2, 1, 12)
    frame(
        "status",
        0x03,
        300,
        body,
        streaming=True,
        ack_type=0x11,
        ack_seq=7,
        sample_index=5000,
        overruns=2,
        rx_errors=1,
        fill_max=12,
    )
    message = b"stop before changing the rate"
    frame(
        "error busy",
        0x04,
        301,
        bytes([3]) + struct.pack("<H", 9) + message,
        code=3,
        ack_seq=9,
        message=message.decode(),
    )
    frame("cmd identify", 0x10, 0, b"")
    frame("cmd start", 0x11, 1, b"")
    frame("cmd stop", 0x12, 2, b"")
    frame("cmd set rate 2000", 0x13, 3, struct.pack("<H", 2000), rate_hz=2000)
    frame(
        "cmd set channels raw@A0 env@A1",
        0x14,
        4,
        bytes([2, 0, 0, 1, 1]),
        pins=[0, 1],
        kinds=["raw", "env"],
    )
    frame("protocol version 2", 0x01, 5, b"\x02\x00\x00", version=2)

    good = bytes.fromhex(next(v["wire"] for v in vectors if v["name"] == "samples 3ch x 4"))[:-1]
    flipped = bytearray(good)
    flipped[12] ^= 0x04
    rejects = [
        ("crc: one bit flipped", bytes(flipped), "crc"),
        ("cobs: code points past the end", bytes([11, *range(1, 10)]), "cobs"),
        ("short: decodes to 3 bytes", cobs(b"\x01\x02\x03"), "short"),
        ("too long: 300 bytes", bytes([0x11]) * 300, "too_long"),
    ]
    for name, data, error in rejects:
        vectors.append({"name": name, "kind": "reject", "wire": data.hex(), "error": error})

    stream = bytearray(b"\x00")
    expect = []
    for v in vectors:
        if v["kind"] == "frame" and v["version"] == 1:
            stream += bytes.fromhex(v["wire"])
            expect.append([v["type"], v["seq"]])
            if v["type"] == 0x02:
                stream += b"\x00\x00"  # empty frames are padding, not errors
                stream += bytes(flipped) + b"\x00"  # a corrupted frame between good ones
    stream += b"\x13\x37\xff\x00"  # random junk
    vectors.append(
        {
            "name": "stream",
            "kind": "stream",
            "wire": bytes(stream).hex(),
            "frames": expect,
            "errors": 3,
        }
    )

    with OUT.open("w") as fh:
        fh.write("[\n")
        fh.write(",\n".join(json.dumps(v, separators=(", ", ": ")) for v in vectors))
        fh.write("\n]\n")
    print(f"wrote {len(vectors)} vectors to {OUT}")


if __name__ == "__main__":
    main()
