"""The CJK face documents are set in, and the subsets of it each PDF embeds.

The face is Noto Sans CJK SC from Debian's fonts-noto-cjk (or KAOHE_CJK_FONT). A .ttc
collection is unpacked once into DATA_DIR/fonts/, together with a "common" cut holding
GB 2312 (6,763 hanzi, the symbols), ASCII and the CJK punctuation blocks, kept without
CFF subroutines, so a document's subset is cut from it by copying bytes (kaohe.lib.cff,
well under a millisecond); fontTools' subsetter took some 30 ms for it, and takes some
200 ms for the whole 65,535-glyph face.
A document with a character outside the common cut is subset from the whole face; glyph
codes are the same in both, so the page content does not depend on which one is used.
"""

import contextlib
import functools
import hashlib
import io
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from fontTools import subset
from fontTools.ttLib import TTCollection, TTFont, TTLibError

from kaohe.lib.cff import CffError, CidFont

__all__ = ["Face", "FontError", "Glyphs", "common_face", "full_face"]

DEBIAN_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CACHE_VERSION = "2"  # bump when the common cut changes
EXTRA_BLOCKS = [(0x20, 0x7F), (0xA0, 0x100), (0x2000, 0x2070), (0x3000, 0x3040), (0xFF00, 0xFFF0)]
DROP_TABLES = ["GPOS", "GDEF", "GSUB", "BASE", "VORG", "vhea", "vmtx", "DSIG", "JSTF"]


class FontError(RuntimeError):
    """The CJK font is missing or cannot be used."""


@dataclass
class Face:
    """One parsed face: metrics for layout, and the program that subsets are cut from."""

    data: bytes
    cmap: dict[int, str]
    advances: dict[str, int]
    units_per_em: int
    ps_name: str
    cff: bool  # a CID-keyed CFF program (else TrueType outlines, glyph codes = glyph ids)
    ascent: int
    descent: int
    bbox: tuple[int, int, int, int]
    cap_height: int
    glyph_ids: dict[str, int] = field(default_factory=dict)
    # The CFF program ready for cutting by bytes (kaohe.lib.cff) when it has no
    # subroutines, as the common cut; else None, and fontTools subsets it.
    program: CidFont | None = None

    def code(self, glyph: str) -> int:
        """The 2-byte code (CID) the PDF content uses for `glyph`."""
        if glyph == ".notdef":
            return 0
        if self.cff:
            return int(glyph[3:])
        return self.glyph_ids[glyph]

    def subset(self, glyphs: set[str]) -> bytes:
        """The font program with only `glyphs`: a bare CFF table, or a whole TrueType."""
        if self.cff and self.program is not None:
            return self.program.subset(self.code(g) for g in glyphs)
        font = TTFont(io.BytesIO(self.data), lazy=True, recalcBBoxes=False)
        options = subset.Options(layout_closure=False, notdef_outline=True, desubroutinize=True)
        options.retain_gids = not self.cff  # TrueType codes are glyph ids
        options.drop_tables += DROP_TABLES
        subsetter = subset.Subsetter(options)
        subsetter.populate(glyphs=sorted(glyphs | {".notdef"}))
        subsetter.subset(font)
        out = io.BytesIO()
        if self.cff:
            font["CFF "].cff.compile(out, font)
        else:
            font.save(out)
        return out.getvalue()


@dataclass(frozen=True)
class Glyphs:
    """Glyph lookup over the common cut, falling back to the whole face."""

    common: Face

    def glyph(self, char: str) -> tuple[str, int, bool]:
        """(glyph name, advance in font units, in the common cut) for `char`."""
        name = self.common.cmap.get(ord(char))
        if name is not None:
            return name, self.common.advances[name], True
        full = full_face()
        name = full.cmap.get(ord(char), ".notdef")
        return name, full.advances[name], False


_lock = threading.RLock()
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # it logs every step at INFO


@functools.cache
def common_face() -> Face:
    with _lock:
        return _parse(_cached(_common_cut, "common"))


@functools.cache
def full_face() -> Face:
    with _lock:
        return _parse(_cached(_whole_face, "full"))


def _source() -> Path:
    configured = getattr(settings, "KAOHE_CJK_FONT", "")
    path = Path(configured) if configured else DEBIAN_FONT
    if not path.is_file():
        if configured:
            raise FontError(f"KAOHE_CJK_FONT={configured}: no such file")
        raise FontError(
            f"No CJK font at {DEBIAN_FONT}: install the Debian package fonts-noto-cjk "
            "(apt-get install fonts-noto-cjk) or set KAOHE_CJK_FONT to an .otf/.ttf/.ttc"
        )
    return path


def _cached(build, cut: str) -> Path:
    """DATA_DIR/fonts/<name>-<cut>.otf, built by `build(source) -> TTFont` once."""
    source = _source()
    stat = source.stat()
    key = hashlib.sha256(
        f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{CACHE_VERSION}".encode()
    ).hexdigest()[:12]
    folder = settings.DATA_DIR / "fonts"
    target = folder / f"{source.stem}-{key}-{cut}.font"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    try:
        font = build(source)
    except (TTLibError, OSError, AssertionError, KeyError) as exc:
        raise FontError(f"{source}: not a usable OpenType font ({exc})") from exc
    with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".tmp") as tmp:
        font.save(tmp)
    os.replace(tmp.name, target)  # another process may build the same file at once
    return target


def _whole_face(source: Path) -> TTFont:
    if source.suffix.lower() not in {".ttc", ".otc"}:
        return TTFont(source)
    fonts = TTCollection(source).fonts
    for font in fonts:
        family = font["name"].getDebugName(1) or ""
        if family.split()[-1:] == ["SC"]:
            return font
    for font in fonts:
        if "SC" in (font["name"].getDebugName(4) or ""):
            return font
    return fonts[0]


def _common_cut(source: Path) -> TTFont:
    font = TTFont(_cached(_whole_face, "full"))
    # Without subroutines, cutting a document's subset from it skips their bookkeeping.
    options = subset.Options(layout_closure=False, notdef_outline=True, desubroutinize=True)
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.retain_gids = "CFF " not in font
    options.drop_tables += DROP_TABLES
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(_common_codepoints()))
    subsetter.subset(font)
    return font


def _common_codepoints() -> set[int]:
    points = {c for start, end in EXTRA_BLOCKS for c in range(start, end)}
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            with contextlib.suppress(UnicodeDecodeError):
                points.add(ord(bytes([high, low]).decode("gb2312")))
    return points


def _parse(path: Path) -> Face:
    data = path.read_bytes()
    font = TTFont(io.BytesIO(data))
    cff = "CFF " in font
    if cff and not getattr(font["CFF "].cff[0], "ROS", None):
        raise FontError(f"{path}: a CFF font must be CID-keyed (as Noto Sans CJK is)")
    head, hhea = font["head"], font["hhea"]
    face = Face(
        data=data,
        cmap=font.getBestCmap(),
        advances={name: metric[0] for name, metric in font["hmtx"].metrics.items()},
        units_per_em=head.unitsPerEm,
        ps_name=(font["name"].getDebugName(6) or "KaoheCJK").replace(" ", ""),
        cff=cff,
        ascent=hhea.ascent,
        descent=hhea.descent,
        bbox=(head.xMin, head.yMin, head.xMax, head.yMax),
        cap_height=getattr(font["OS/2"], "sCapHeight", 700) or 700,
    )
    if not cff:
        face.glyph_ids = {name: i for i, name in enumerate(font.getGlyphOrder())}
    else:
        with contextlib.suppress(CffError):
            face.program = CidFont.parse(font.reader["CFF "])
    return face
