"""Subsets of a CID-keyed CFF font program without subroutines, cut by copying bytes.

fontTools' subsetter interprets every kept charstring and compiles the font anew: some 30
to 60 ms for the hundred-odd glyphs of a one-page Chinese document, which made the
renderer the cost of publishing a cycle. A font whose charstrings call no subroutines
(fontTools' `desubroutinize`, as kaohe's common cut is stored) needs none of that: each
glyph's charstring is self-contained, so a subset is the kept charstrings, a charset
naming their CIDs, an FDSelect naming their Font DICTs, and those Font DICTs with their
Private DICTs copied byte for byte. The structures are those of Adobe Technical Note #5176
(The Compact Font Format Specification), sections 5 (INDEX), 4 (DICT), 13 (charset),
19 (FDSelect) and 18 (CID-keyed fonts).

`CidFont.parse(cff_bytes)` reads a program once; `CidFont.subset(cids)` returns the bare
CFF program (a PDF /FontFile3 /CIDFontType0C stream) holding .notdef and those CIDs.
"""

import struct
from dataclasses import dataclass

# DICT operators (two-byte ones as 1200 + second byte).
ROS, CID_COUNT, FD_ARRAY, FD_SELECT, FONT_NAME = 1230, 1234, 1236, 1237, 1238
CHARSET, ENCODING, CHARSTRINGS, PRIVATE, SUBRS = 15, 16, 17, 18, 19
# Top DICT operators whose operand is a string id: the subset has a string INDEX of its own.
STRING_OPERATORS = {0, 1, 2, 3, 4, 1200, 1221, 1222, ROS, FONT_NAME}
OFFSET_OPERATORS = {CHARSET, ENCODING, CHARSTRINGS, PRIVATE, FD_ARRAY, FD_SELECT}
STANDARD_STRINGS = 391  # SIDs below this name the standard strings (Appendix A)


class CffError(ValueError):
    """The program is not a CID-keyed CFF font without subroutines."""


@dataclass(frozen=True)
class CidFont:
    header: bytes
    name: bytes
    top: list[tuple[int, bytes, list[int]]]  # (operator, operand bytes, operand ints)
    registry: bytes
    ordering: bytes
    supplement: int
    charstrings: list[bytes]  # by glyph id
    cid_of_gid: list[int]
    gid_of_cid: dict[int, int]
    fd_of_gid: bytes
    font_dicts: list[list[tuple[int, bytes, list[int]]]]
    privates: list[bytes]

    @classmethod
    def parse(cls, data: bytes) -> "CidFont":
        try:
            return cls._parse(data)
        except (IndexError, struct.error, KeyError) as exc:
            raise CffError(f"not a readable CFF program ({exc!r})") from exc

    @classmethod
    def _parse(cls, data: bytes) -> "CidFont":
        header_size = data[2]
        names, pos = read_index(data, header_size)
        tops, pos = read_index(data, pos)
        strings, pos = read_index(data, pos)
        global_subrs, _pos = read_index(data, pos)
        if len(names) != 1 or len(tops) != 1:
            raise CffError("a font set of more than one font")
        if global_subrs:
            raise CffError("the program has global subroutines")
        top = parse_dict(tops[0])
        found = {op: ints for op, _raw, ints in top}
        if ROS not in found:
            raise CffError("the font is not CID-keyed")

        def string(sid: int) -> bytes:
            if sid < STANDARD_STRINGS:
                raise CffError("the registry or ordering is a standard string")
            return strings[sid - STANDARD_STRINGS]

        charstrings, _ = read_index(data, found[CHARSTRINGS][0])
        count = len(charstrings)
        cids = read_charset(data, found[CHARSET][0], count)
        fd_of_gid = read_fd_select(data, found[FD_SELECT][0], count)
        raw_fds, _ = read_index(data, found[FD_ARRAY][0])
        font_dicts, privates = [], []
        for raw in raw_fds:
            fd = parse_dict(raw)
            size, offset = dict(((op, ints) for op, _r, ints in fd))[PRIVATE]
            private = data[offset : offset + size]
            if any(op == SUBRS for op, _r, _i in parse_dict(private)):
                raise CffError("a Private DICT has local subroutines")
            font_dicts.append([e for e in fd if e[0] not in (PRIVATE, FONT_NAME)])
            privates.append(private)
        return cls(
            header=data[:header_size],
            name=names[0],
            top=[e for e in top if e[0] not in STRING_OPERATORS | OFFSET_OPERATORS],
            registry=string(found[ROS][0]),
            ordering=string(found[ROS][1]),
            supplement=found[ROS][2],
            charstrings=charstrings,
            cid_of_gid=cids,
            gid_of_cid={cid: gid for gid, cid in enumerate(cids)},
            fd_of_gid=fd_of_gid,
            font_dicts=font_dicts,
            privates=privates,
        )

    def subset(self, cids) -> bytes:
        """The program holding .notdef (CID 0) and the given CIDs that the font has."""
        gids = sorted({0} | {self.gid_of_cid[c] for c in cids if c in self.gid_of_cid})
        used_fds = sorted({self.fd_of_gid[g] for g in gids})
        new_fd = {old: new for new, old in enumerate(used_fds)}
        strings = encode_index([self.registry, self.ordering])
        charset = b"\x00" + b"".join(struct.pack(">H", self.cid_of_gid[g]) for g in gids[1:])
        fd_select = b"\x00" + bytes(new_fd[self.fd_of_gid[g]] for g in gids)
        charstrings = encode_index([self.charstrings[g] for g in gids])
        privates = [self.privates[old] for old in used_fds]

        def layout(top_size: int) -> tuple[bytes, bytes]:
            """(the Top DICT, everything after the global subroutines) for a Top DICT of
            `top_size` bytes: offsets are absolute, so the Top DICT's size fixes them."""
            start = len(self.header) + len(encode_index([self.name]))
            start += len(encode_index([b"x" * top_size])) + len(strings) + 2
            at = {"charset": start, "fd_select": start + len(charset)}
            at["charstrings"] = at["fd_select"] + len(fd_select)
            at["fd_array"] = at["charstrings"] + len(charstrings)
            # The Font DICTs end with fixed-size Private operands, so their size is known.
            fd_bodies = [encode_dict(fd) for fd in (self.font_dicts[o] for o in used_fds)]
            fd_sizes = [len(body) + 11 for body in fd_bodies]  # two 5-byte ints + operator
            fd_array_size = len(encode_index([b"x" * s for s in fd_sizes]))
            private_at = at["fd_array"] + fd_array_size
            fds = []
            for body, private in zip(fd_bodies, privates, strict=True):
                fds.append(body + fixed_int(len(private)) + fixed_int(private_at) + bytes([18]))
                private_at += len(private)
            # ROS comes first: it is what marks the Top DICT of a CIDFont (TN #5176, 18).
            top = (
                fixed_int(STANDARD_STRINGS) + fixed_int(STANDARD_STRINGS + 1)
                + encode_int(self.supplement) + b"\x0c\x1e"
                + encode_dict(self.top)
                + fixed_int(at["charset"]) + bytes([CHARSET])
                + fixed_int(at["fd_select"]) + b"\x0c\x25"
                + fixed_int(at["charstrings"]) + bytes([CHARSTRINGS])
                + fixed_int(at["fd_array"]) + b"\x0c\x24"
            )  # fmt: skip
            rest = charset + fd_select + charstrings + encode_index(fds) + b"".join(privates)
            return top, rest

        top, rest = layout(0)
        top, rest = layout(len(top))  # the same size: every offset is a fixed 5-byte int
        name, top = encode_index([self.name]), encode_index([top])
        return b"".join([self.header, name, top, strings, b"\x00\x00", rest])


# -- INDEX, DICT and number encodings --


def read_index(data: bytes, pos: int) -> tuple[list[bytes], int]:
    """The items of the INDEX at `pos`, and the position after it."""
    (count,) = struct.unpack_from(">H", data, pos)
    if count == 0:
        return [], pos + 2
    size = data[pos + 2]
    offsets_at = pos + 3
    offsets = [
        int.from_bytes(data[offsets_at + i * size : offsets_at + (i + 1) * size], "big")
        for i in range(count + 1)
    ]
    base = offsets_at + (count + 1) * size - 1
    items = [data[base + offsets[i] : base + offsets[i + 1]] for i in range(count)]
    return items, base + offsets[count]


def encode_index(items: list[bytes]) -> bytes:
    if not items:
        return b"\x00\x00"
    total = sum(len(item) for item in items) + 1
    size = 1 if total < 1 << 8 else 2 if total < 1 << 16 else 3 if total < 1 << 24 else 4
    offsets, at = [], 1
    for item in items:
        offsets.append(at)
        at += len(item)
    offsets.append(at)
    packed = b"".join(o.to_bytes(size, "big") for o in offsets)
    return struct.pack(">HB", len(items), size) + packed + b"".join(items)


def parse_dict(raw: bytes) -> list[tuple[int, bytes, list[int]]]:
    """(operator, the operand bytes as found, the integer operands) per entry; real
    operands are kept as bytes only (their integer stands as 0)."""
    entries: list[tuple[int, bytes, list[int]]] = []
    operands, pos = bytearray(), 0
    ints: list[int] = []
    while pos < len(raw):
        b0 = raw[pos]
        if b0 <= 21:
            if b0 == 12:
                operator, pos = 1200 + raw[pos + 1], pos + 2
            else:
                operator, pos = b0, pos + 1
            entries.append((operator, bytes(operands), ints))
            operands, ints = bytearray(), []
            continue
        start = pos
        if b0 == 28:
            value, pos = struct.unpack_from(">h", raw, pos + 1)[0], pos + 3
        elif b0 == 29:
            value, pos = struct.unpack_from(">i", raw, pos + 1)[0], pos + 5
        elif b0 == 30:
            pos += 1
            while True:
                byte = raw[pos]
                pos += 1
                if byte & 0x0F == 0x0F or byte >> 4 == 0x0F:
                    break
            value = 0
        elif 32 <= b0 <= 246:
            value, pos = b0 - 139, pos + 1
        elif 247 <= b0 <= 250:
            value, pos = (b0 - 247) * 256 + raw[pos + 1] + 108, pos + 2
        elif 251 <= b0 <= 254:
            value, pos = -(b0 - 251) * 256 - raw[pos + 1] - 108, pos + 2
        else:
            raise CffError(f"reserved DICT byte {b0}")
        operands += raw[start:pos]
        ints.append(value)
    return entries


def encode_dict(entries) -> bytes:
    out = bytearray()
    for operator, operands, _ints in entries:
        out += operands
        out += bytes([12, operator - 1200]) if operator >= 1200 else bytes([operator])
    return bytes(out)


def fixed_int(value: int) -> bytes:
    """A DICT integer in its 5-byte form, whatever its size, so that offsets can be laid
    out before they are known."""
    return b"\x1d" + struct.pack(">i", value)


def encode_int(value: int) -> bytes:
    if -107 <= value <= 107:
        return bytes([value + 139])
    return fixed_int(value)


def read_charset(data: bytes, pos: int, count: int) -> list[int]:
    """The CID of each glyph id (glyph 0 is .notdef, CID 0)."""
    fmt, pos, cids = data[pos], pos + 1, [0]
    if fmt == 0:
        cids += list(struct.unpack_from(f">{count - 1}H", data, pos))
        return cids
    if fmt not in (1, 2):
        raise CffError(f"charset format {fmt}")
    left_size = 1 if fmt == 1 else 2
    while len(cids) < count:
        (first,) = struct.unpack_from(">H", data, pos)
        left = int.from_bytes(data[pos + 2 : pos + 2 + left_size], "big")
        pos += 2 + left_size
        cids += range(first, first + left + 1)
    return cids[:count]


def read_fd_select(data: bytes, pos: int, count: int) -> bytes:
    """The Font DICT index of each glyph id."""
    fmt = data[pos]
    if fmt == 0:
        return data[pos + 1 : pos + 1 + count]
    if fmt != 3:
        raise CffError(f"FDSelect format {fmt}")
    (ranges,) = struct.unpack_from(">H", data, pos + 1)
    out = bytearray(count)
    at = pos + 3
    for i in range(ranges):
        first, fd = struct.unpack_from(">HB", data, at + i * 3)
        (end,) = struct.unpack_from(">H", data, at + (i + 1) * 3)
        out[first:end] = bytes([fd]) * (end - first)
    return bytes(out)
