"""Wire protocol: golden vectors, decoder semantics, equivalence of its two paths, fuzzing."""

from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biofeedback.core.types import ChannelKind
from biofeedback.devices import wire

VECTORS_PATH = Path(__file__).resolve().parents[1] / "data" / "wire_vectors.json"
VECTORS = json.loads(VECTORS_PATH.read_text())


def by_kind(kind: str) -> list[dict]:
    return [v for v in VECTORS if v["kind"] == kind]


def decode(data: bytes, chunks: list[int] | None = None) -> tuple[list, wire.Decoder]:
    decoder = wire.Decoder()
    out = decoder.feed(b"\x00")  # start in sync, as after a quiet line
    if chunks is None:
        out += decoder.feed(data)
    else:
        cuts = [0, *sorted(chunks), len(data)]
        for a, b in itertools.pairwise(cuts):
            out += decoder.feed(data[a:b])
    return out, decoder


def samples_by_index(packets: list) -> dict[int, tuple[int, ...]]:
    rows: dict[int, tuple[int, ...]] = {}
    for p in packets:
        if isinstance(p, wire.SamplesBlock):
            for k, row in enumerate(p.samples.tolist()):
                rows[p.first_index + k] = tuple(row)
    return rows


# ---- golden vectors (shared with tests/firmware/test_frame.c) ----


def test_vector_file_is_one_object_per_line():
    # the C test reads the file line by line without a JSON parser
    lines = VECTORS_PATH.read_text().splitlines()
    assert lines[0] == "[" and lines[-1] == "]"
    assert len(lines) - 2 == len(VECTORS) >= 20


@pytest.mark.parametrize("v", by_kind("crc"), ids=lambda v: v["name"])
def test_crc_vectors(v):
    data = bytes.fromhex(v["input"])
    assert wire.crc16(data) == v["crc"]
    assert wire.crc16_rows(np.frombuffer(data, np.uint8)[None, :]).tolist() == [v["crc"]]


def test_crc_rows_vectorised_matches_bytewise():
    rng = np.random.default_rng(3)
    for width in (1, 2, 7, 72, 253):
        for m in (1, 5, wire._CRC_ROWS_VECTOR_MIN + 3):
            rows = rng.integers(0, 256, (m, width)).astype(np.uint8)
            assert wire.crc16_rows(rows).tolist() == [wire.crc16(r.tobytes()) for r in rows]


@pytest.mark.parametrize("v", by_kind("cobs"), ids=lambda v: v["name"])
def test_cobs_vectors(v):
    raw, enc = bytes.fromhex(v["input"]), bytes.fromhex(v["encoded"])
    assert wire.cobs_encode(raw) == enc
    assert wire.cobs_decode(enc) == raw


def test_cobs_long_runs_use_ff_code():
    data = bytes(range(1, 256)) * 2
    assert wire.cobs_decode(wire.cobs_encode(data)) == data
    assert 0xFF in wire.cobs_encode(data)
    with pytest.raises(ValueError):
        wire.cobs_decode(b"\x05\x01\x02")


@pytest.mark.parametrize("v", by_kind("frame"), ids=lambda v: v["name"])
def test_frame_vectors_encode_and_decode(v):
    body = bytes.fromhex(v["body"])
    assert wire.encode_frame(v["type"], v["seq"], body, version=v["version"]).hex() == v["wire"]
    packets, decoder = decode(bytes.fromhex(v["wire"]))
    assert decoder.stats.frame_errors == 0
    assert len(packets) == 1
    packet = packets[0]
    d = v["decoded"]
    if v["version"] != wire.PROTOCOL_VERSION:
        assert isinstance(packet, wire.VersionMismatch) and packet.version == v["version"]
        assert decoder.stats.version_mismatches == 1
    elif v["type"] == wire.PacketType.SAMPLES:
        assert isinstance(packet, wire.SamplesBlock)
        assert packet.first_index == d["first_index"]
        assert packet.samples.tolist() == d["samples"]
    elif v["type"] == wire.PacketType.INFO:
        assert isinstance(packet, wire.InfoPacket)
        assert packet.firmware == d["firmware"] and packet.adc_bits == d["adc_bits"]
        assert packet.vref_v == d["vref_mv"] / 1000 and packet.fs_hz == d["rate_mhz"] / 1000
        assert packet.sample_index == d["sample_index"]
        assert packet.samples_per_frame == d["samples_per_frame"]
        assert packet.streaming == d["streaming"]
        assert list(packet.pins) == d["pins"]
        assert [k.value for k in packet.kinds] == d["kinds"]
        assert packet.board == d["board"]
    elif v["type"] == wire.PacketType.STATUS:
        assert isinstance(packet, wire.StatusPacket)
        for key, value in d.items():
            assert getattr(packet, key) == value, key
    elif v["type"] == wire.PacketType.ERROR:
        assert isinstance(packet, wire.ErrorPacket)
        assert (packet.code, packet.ack_seq, packet.message) == (
            d["code"],
            d["ack_seq"],
            d["message"],
        )
    else:
        assert isinstance(packet, wire.CommandPacket) and packet.ptype == v["type"]


def test_command_encoders_match_vectors():
    wires = {v["name"]: v["wire"] for v in by_kind("frame")}
    assert wire.encode_command(wire.PacketType.IDENTIFY, 0).hex() == wires["cmd identify"]
    assert wire.encode_set_rate(3, 2000).hex() == wires["cmd set rate 2000"]
    channels = wire.encode_set_channels(4, [0, 1], [ChannelKind.RAW, ChannelKind.ENV])
    assert channels.hex() == wires["cmd set channels raw@A0 env@A1"]
    values = by_kind("frame")[1]["decoded"]["samples"]
    assert wire.encode_samples(41, 123456, np.array(values)).hex() == wires["samples 3ch x 4"]


@pytest.mark.parametrize("v", by_kind("reject"), ids=lambda v: v["name"])
def test_reject_vectors(v):
    packets, decoder = decode(bytes.fromhex(v["wire"]) + b"\x00")
    assert packets == []
    counter = {
        "crc": "crc_errors",
        "cobs": "cobs_errors",
        "short": "length_errors",
        "too_long": "length_errors",
    }
    assert getattr(decoder.stats, counter[v["error"]]) == 1
    assert decoder.stats.frame_errors == 1


def test_stream_vector():
    (v,) = by_kind("stream")
    data = bytes.fromhex(v["wire"])
    for chunks in (None, list(range(1, len(data), 7))):
        decoder = wire.Decoder()
        cuts = [0, *(chunks or []), len(data)]
        for a, b in itertools.pairwise(cuts):
            decoder.feed(data[a:b])
        assert decoder.stats.frames == len(v["frames"])
        assert decoder.stats.frame_errors == v["errors"]


# ---- decoder semantics ----


def make_frames(n_frames: int, per_frame: int = 10, first_index: int = 0, seed: int = 0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 1024, (n_frames * per_frame, 3)).astype(np.uint16)
    frames = [
        wire.encode_samples(
            i, first_index + i * per_frame, codes[i * per_frame : (i + 1) * per_frame]
        )
        for i in range(n_frames)
    ]
    return frames, codes


def test_bulk_stream_matches_per_frame_encoding():
    frames, codes = make_frames(50)
    assert wire.encode_samples_stream(0, codes, 10) == b"".join(frames)


@pytest.mark.parametrize("n_frames", [3, 200])  # per-frame path and bulk path
def test_contiguous_stream_is_one_block(n_frames):
    frames, codes = make_frames(n_frames, first_index=77)
    packets, decoder = decode(b"".join(frames))
    assert len(packets) == 1
    block = packets[0]
    assert block.first_index == 77 and block.gap_before is None
    assert np.array_equal(block.samples, codes)
    assert decoder.stats.samples == len(codes) and decoder.stats.frame_errors == 0


@pytest.mark.parametrize("n_frames", [8, 300])
def test_lost_frames_open_a_block_with_the_gap(n_frames):
    frames, codes = make_frames(n_frames)
    lost = {2, 5, 6}
    data = b"".join(f for i, f in enumerate(frames) if i not in lost)
    packets, decoder = decode(data)
    gaps = [p.gap_before for p in packets]
    assert gaps == [None, 10, 20]
    assert decoder.stats.gap_samples == 30 and decoder.stats.lost_frames == 3
    rows = samples_by_index(packets)
    assert len(rows) == len(codes) - 30
    assert all(rows[i] == tuple(codes[i]) for i in rows)


def test_index_wraps_past_32_bits():
    frames, _ = make_frames(6, first_index=2**32 - 25)
    packets, _ = decode(b"".join(frames))
    assert len(packets) == 1 and packets[0].first_index == 2**32 - 25
    # fed in two parts, the second continues on 64 bits
    decoder = wire.Decoder()
    decoder.feed(b"\x00" + b"".join(frames[:3]))
    (block,) = decoder.feed(b"".join(frames[3:]))
    assert block.first_index == 2**32 + 5 and block.gap_before == 0


def test_duplicates_are_dropped_and_counted():
    frames, codes = make_frames(6)
    data = b"".join([frames[0], frames[1], frames[1], frames[2], frames[0], *frames[3:]])
    packets, decoder = decode(data)
    assert decoder.stats.duplicate_frames == 2
    rows = samples_by_index(packets)
    assert len(rows) == 60 and all(rows[i] == tuple(codes[i]) for i in range(60))


def test_info_resets_index_for_a_rebooted_device():
    frames, _ = make_frames(4, first_index=5000)
    info = next(v for v in by_kind("frame") if v["name"] == "info uno default")
    rebooted, _ = make_frames(2, first_index=0, seed=1)
    data = b"".join(frames) + bytes.fromhex(info["wire"]) + b"".join(rebooted)
    packets, decoder = decode(data)
    kinds = [type(p).__name__ for p in packets]
    assert kinds == ["SamplesBlock", "InfoPacket", "SamplesBlock"]
    assert packets[2].first_index == 0 and packets[2].gap_before is None
    assert decoder.stats.index_resets == 1 and decoder.stats.duplicate_frames == 0


def test_absurd_index_jump_is_rejected_not_a_gap():
    frames, _ = make_frames(4)
    bogus = wire.encode_samples(2, 10 + wire.MAX_INDEX_JUMP + 100, np.zeros((10, 3)))
    data = frames[0] + bogus + b"".join(frames[1:])
    packets, decoder = decode(data)
    assert decoder.stats.index_errors == 1 and decoder.stats.gap_samples == 0
    assert sum(len(p) for p in packets) == 40


def test_joining_midstream_is_not_an_error():
    frames, _ = make_frames(5)
    data = b"".join(frames)
    decoder = wire.Decoder()
    packets = decoder.feed(data[30:])  # starts inside frame 0
    assert decoder.stats.sync_bytes == len(frames[0]) - 30 - 1
    assert decoder.stats.frame_errors == 0
    assert sum(len(p) for p in packets) == 40


def test_long_garbage_without_delimiter_is_bounded_and_counted_once():
    decoder = wire.Decoder()
    decoder.feed(b"\x00")
    for _ in range(100):
        decoder.feed(b"\x55" * 1000)
    assert len(decoder._tail) <= wire.MAX_ENCODED + 1
    frames, _ = make_frames(2)
    packets = decoder.feed(b"\x00" + b"".join(frames))
    assert decoder.stats.length_errors == 1
    assert sum(len(p) for p in packets) == 20


def test_status_between_samples_keeps_order_and_block():
    frames, _ = make_frames(4)
    status = wire.encode_frame(
        wire.PacketType.STATUS, 9, struct.pack("<BBHIIHH", 1, 0, 0, 40, 3, 0, 5)
    )
    packets, _ = decode(frames[0] + frames[1] + status + frames[2] + frames[3])
    assert [type(p).__name__ for p in packets] == ["SamplesBlock", "StatusPacket"]
    assert len(packets[0]) == 40 and packets[1].overruns == 3


def test_version_mismatch_is_reported():
    data = wire.encode_frame(wire.PacketType.INFO, 0, b"\x02\x00", version=2)
    packets, _ = decode(data)
    assert isinstance(packets[0], wire.VersionMismatch) and packets[0].version == 2


def random_stream(rng: np.random.Generator) -> bytes:
    """Frames of several kinds with every kind of damage, for the equivalence test."""
    codes = rng.integers(0, 1024, (int(rng.integers(1, 40)) * 10, 3)).astype(np.uint16)
    frames = [
        wire.encode_samples(i, 1000 + 10 * i, codes[10 * i : 10 * i + 10])
        for i in range(len(codes) // 10)
    ]
    frames.insert(int(rng.integers(0, len(frames) + 1)), wire.encode_frame(3, 77, bytes(16)))
    if rng.random() < 0.3:
        info = bytes.fromhex(by_kind("frame")[0]["wire"])
        frames.insert(int(rng.integers(0, len(frames) + 1)), info)
    if rng.random() < 0.3:
        frames.append(wire.encode_samples(99, 5000, codes[:4, :2]))  # another shape
    for _ in range(int(rng.integers(0, 4))):
        i = int(rng.integers(0, len(frames)))
        f = bytearray(frames[i])
        op = int(rng.integers(0, 4))
        if not f and op < 2:
            continue  # an earlier cut left nothing of this frame to damage or cut
        if op == 0:
            f[int(rng.integers(0, len(f)))] = int(rng.integers(0, 256))
        elif op == 1:
            f = f[: int(rng.integers(0, len(f)))]
        elif op == 2:
            frames.insert(i, bytes(f))
        else:
            f = bytearray(
                rng.integers(0, 256, int(rng.integers(1, 100))).astype(np.uint8).tobytes()
            )
        frames[i] = bytes(f)
    if rng.random() < 0.2:
        i = int(rng.integers(0, len(frames)))
        frames[i], frames[-1] = frames[-1], frames[i]
    return b"".join(frames)


def summary(packets: list, decoder: wire.Decoder):
    rows = samples_by_index(packets)
    others = [p for p in packets if not isinstance(p, wire.SamplesBlock)]
    s = decoder.stats
    counters = (
        s.frames,
        s.sample_frames,
        s.samples,
        s.crc_errors,
        s.cobs_errors,
        s.length_errors,
        s.index_errors,
        s.lost_frames,
        s.gap_samples,
        s.duplicate_frames,
        s.sync_bytes,
    )
    return rows, others, counters


def test_bulk_and_per_frame_paths_agree(monkeypatch):
    rng = np.random.default_rng(11)
    for _ in range(150):
        data = random_stream(rng)
        monkeypatch.setattr(wire, "SCALAR_MAX_FRAMES", 10**9)
        per_frame = summary(*decode(data))
        monkeypatch.setattr(wire, "SCALAR_MAX_FRAMES", 0)
        bulk = summary(*decode(data))
        assert bulk == per_frame


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cuts=st.lists(st.integers(0, 4000), max_size=8))
def test_any_split_of_the_input_gives_the_same_samples(seed, cuts):
    data = random_stream(np.random.default_rng(seed))
    whole = summary(*decode(data))
    pieces = summary(*decode(data, [c % (len(data) + 1) for c in cuts]))
    assert pieces[0] == whole[0]  # same samples at the same indices
    assert pieces[2][3:] == whole[2][3:]  # same error counts


# ---- fuzz: corrupted, truncated, duplicated and random frames ----


def fuzz(n_frames: int, seed: int) -> dict[str, int]:
    """Damage about half of ``n_frames`` frames in every way a serial link can; check that every
    intact frame after damage is decoded (resync within one frame) and count false accepts."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 1024, (n_frames * 10, 3)).astype(np.uint16)
    stream = wire.encode_samples_stream(0, codes, 10)
    size = len(stream) // n_frames
    kinds = rng.choice(6, n_frames, p=[0.5, 0.2, 0.1, 0.05, 0.1, 0.05])
    pieces: list[bytes] = [b"\x00"]
    expect = np.zeros(n_frames, dtype=bool)
    damaged = 0
    merged = 0
    dropped_as_duplicate = 0
    multi_byte = 0
    previous_ends_clean = True
    for i in range(n_frames):
        frame = stream[i * size : (i + 1) * size]
        kind = kinds[i]
        if kind == 0 or kind == 3:  # intact (3: and sent twice)
            pieces.append(frame)
            if kind == 3:
                pieces.append(frame)  # the second copy always follows a delimiter
            expect[i] = previous_ends_clean or kind == 3
            dropped_as_duplicate += kind == 3 and previous_ends_clean
            previous_ends_clean = True
        elif kind == 1:  # 1-4 bytes replaced by other values (may create delimiters)
            f = bytearray(frame)
            hits = rng.choice(size - 1, int(rng.integers(1, 5)), replace=False)
            for h in hits:
                f[h] = (f[h] + int(rng.integers(1, 256))) % 256
            multi_byte += len(hits) > 1
            pieces.append(bytes(f))
            damaged += 1
            previous_ends_clean = True
        elif kind == 2:  # truncated: lost bytes at the end, delimiter kept
            keep = int(rng.integers(1, size - 1))
            pieces.append(frame[:keep] + b"\x00")
            damaged += 1
            previous_ends_clean = True
        elif kind == 4:  # random junk before an intact frame
            junk = rng.integers(1, 256, int(rng.integers(1, 300))).astype(np.uint8).tobytes()
            pieces.append(junk + b"\x00")
            pieces.append(frame)
            damaged += 1
            expect[i] = True
            previous_ends_clean = True
        else:  # delimiter lost: this frame merges with the next one
            pieces.append(frame[:-1])
            damaged += 1
            merged += 1
            previous_ends_clean = False
    data = b"".join(pieces)
    decoder = wire.Decoder()
    out: list = []
    for k in range(0, len(data), 1 << 16):
        out.extend(decoder.feed(data[k : k + (1 << 16)]))
    delivered = np.zeros(n_frames, dtype=bool)
    false_accepts = 0
    for block in out:
        if not isinstance(block, wire.SamplesBlock):
            false_accepts += 1
            continue
        for k in range(0, len(block), 10):
            index = block.first_index + k
            i = index // 10
            ok = (
                index % 10 == 0
                and 0 <= i < n_frames
                and np.array_equal(block.samples[k : k + 10], codes[10 * i : 10 * i + 10])
            )
            if ok and not delivered[i]:
                delivered[i] = True
            else:
                false_accepts += 1
    missed = int(np.count_nonzero(expect & ~delivered))
    extra = int(np.count_nonzero(delivered & ~expect))
    return {
        "frames": n_frames,
        "damaged": damaged,
        "merged": merged,
        "multi_byte": multi_byte,
        "missed_intact": missed,
        "extra": extra,
        "false_accepts": false_accepts,
        "errors_counted": decoder.stats.frame_errors,
        "duplicates": decoder.stats.duplicate_frames,
        "sent_twice": int(dropped_as_duplicate),
    }


def check_fuzz(result: dict[str, int]) -> None:
    # every intact frame that follows a delimiter is decoded: resynchronised within one frame
    assert result["missed_intact"] == 0
    # a damaged frame may only come through if its CRC collided: <= 2^-16 per damaged frame
    assert result["false_accepts"] + result["extra"] <= max(1, result["damaged"] / 2**16)
    # each damaged frame is counted, except that a lost delimiter makes one error of two pieces
    assert result["errors_counted"] >= result["damaged"] - result["merged"]
    assert result["duplicates"] >= result["sent_twice"]


def test_fuzz_quick():
    check_fuzz(fuzz(60_000, seed=1))


@pytest.mark.slow
def test_fuzz_a_million_frames():
    result = fuzz(1_000_000, seed=2)
    assert result["frames"] >= 1_000_000
    check_fuzz(result)


def test_random_bytes_never_raise_and_accept_nothing():
    rng = np.random.default_rng(5)
    decoder = wire.Decoder()
    accepted = 0
    for _ in range(20):
        accepted += len(decoder.feed(rng.integers(0, 256, 50_000).astype(np.uint8).tobytes()))
    # random segments must pass COBS, CRC, version, type and length checks at once
    assert accepted == 0
    assert decoder.stats.frame_errors > 3000


# ---- text mode ----


def test_text_decoder_formats_and_banners():
    dec = wire.TextDecoder()
    rows = dec.feed(b"junk from before\nMyoWare example\r\n512\r\n513\n514\r\n5")
    assert rows[:, 0].tolist() == [512, 513, 514]
    assert dec.n_columns == 1 and dec.stats.bad_lines == 1  # the banner; the first line is sync
    rows = dec.feed(b"15\n")
    assert rows.tolist() == [[515.0]]


@pytest.mark.parametrize(
    "line",
    [
        b"512,87,511",
        b"512 87 511",
        b"512\t87\t511",
        b"raw:512,env:87,ref:511",
        b"512;87;511 ",
        b"512, 87, 511",
    ],
)
def test_text_decoder_separators_and_labels(line):
    dec = wire.TextDecoder(n_columns=3)
    dec.feed(b"\n")
    assert dec.feed(line + b"\n").tolist() == [[512.0, 87.0, 511.0]]


def test_text_decoder_counts_wrong_widths():
    dec = wire.TextDecoder(n_columns=2)
    dec.feed(b"\n")
    rows = dec.feed(b"1,2\n3\n4,5,6\n7,8\n")
    assert rows.tolist() == [[1, 2], [7, 8]] and dec.stats.wrong_width == 2
