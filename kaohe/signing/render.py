"""The PDF of a "kaohe-document/v1" document: A4, set in Noto Sans CJK SC, embedded as a
subset with a ToUnicode map so the Chinese text can be searched and extracted.

The same data always gives the same bytes: no dates, the file ID and the font's subset
tag derive from the content. `Layout` is shared with the confirmation letter
(`kaohe.signing.letter`), whose first pages are the document's own.
"""

import functools
import hashlib
import io
import re
from dataclasses import dataclass, field

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from kaohe.signing import fonts

__all__ = ["Layout", "RenderError", "render_document", "write_document"]

PAGE_W, PAGE_H = 595.28, 841.89  # A4 in points
LEFT, RIGHT = 56.0, PAGE_W - 56.0
TOP, BOTTOM = PAGE_H - 56.0, 64.0
TEXT_W = RIGHT - LEFT
BODY, SMALL, TABLE, HEADING, TITLE = 10.5, 8.0, 9.0, 12.5, 17.0
LEADING = 1.55  # line height / font size
PAD = 4.0  # inside table cells and boxes
GRAY_FILL = b"0.93 g"
BORDER = b"0.6 G 0.5 w"

# Characters that must not begin a line: they join the unit before them.
CLOSING = "，。、；：！？）》」』】〕〉”’…%,.;:!?)]}"
_UNITS = re.compile(
    rf"\s+|[^\s\u2e80-\uffff]+[{re.escape(CLOSING)}]*|[\u2e80-\uffff][{re.escape(CLOSING)}]*"
)


class RenderError(ValueError):
    """The data is not a well-formed kaohe-document/v1."""


@functools.lru_cache(maxsize=20000)
def _glyph(char: str) -> tuple[str, int, float, bool]:
    """(glyph name, code, advance per point of font size, in the common cut)."""
    face = fonts.common_face()
    name, advance, common = fonts.Glyphs(face).glyph(char)
    owner = face if common else fonts.full_face()
    return name, owner.code(name), advance / owner.units_per_em, common


def _n(value: float) -> bytes:
    return (f"{value:.2f}".rstrip("0").rstrip(".") or "0").encode()


@dataclass
class Layout:
    """Pages of text, rules and boxes, top to bottom, with page breaks as needed."""

    pages: list[list[bytes]] = field(default_factory=list)
    used: dict[int, str] = field(default_factory=dict)  # code -> text, for ToUnicode
    names: set[str] = field(default_factory=set)
    widths: dict[int, int] = field(default_factory=dict)  # code -> advance in 1/1000 em
    common: bool = True
    y: float = TOP

    def __post_init__(self):
        self.new_page()

    # -- measuring and wrapping --------------------------------------------------------

    def width(self, text: str, size: float) -> float:
        return sum(_glyph(char)[2] for char in text) * size

    def wrap(self, text: str, size: float, width: float) -> list[str]:
        """Lines of at most `width`: breaks at spaces and between any two CJK characters;
        a word longer than a line is cut where it must."""
        lines: list[str] = []
        for paragraph in str(text).split("\n"):
            line, used = "", 0.0
            for unit in _UNITS.findall(paragraph):
                unit_w = self.width(unit, size)
                if unit.isspace():
                    if line:
                        line, used = line + " ", used + self.width(" ", size)
                    continue
                if used + unit_w > width and line.strip():
                    lines.append(line.rstrip())
                    line, used = "", 0.0
                if unit_w > width:
                    *full, unit = self._cut(unit, size, width)
                    lines.extend(full)
                    unit_w = self.width(unit, size)
                line, used = line + unit, used + unit_w
            lines.append(line.rstrip())
        return lines

    def _cut(self, word: str, size: float, width: float) -> list[str]:
        pieces, piece = [], ""
        for char in word:
            if piece and self.width(piece + char, size) > width:
                pieces.append(piece)
                piece = ""
            piece += char
        return [*pieces, piece]

    # -- drawing primitives --------------------------------------------------------------

    @property
    def ops(self) -> list[bytes]:
        return self.pages[-1]

    def new_page(self) -> None:
        self.pages.append([])
        self.y = TOP

    def ensure(self, height: float) -> None:
        """Start a new page unless `height` fits below the current position."""
        if self.y - height < BOTTOM and self.y < TOP:
            self.new_page()

    def text(self, x: float, y: float, text: str, size: float, bold: bool = False) -> None:
        self.ops.append(self._text_op(x, y, text, size, bold))

    def _text_op(self, x: float, y: float, text: str, size: float, bold: bool) -> bytes:
        codes = bytearray()
        for char in text:
            name, code, advance, common = _glyph(char)
            self.common &= common
            self.names.add(name)
            self.used.setdefault(code, char)
            self.widths[code] = round(advance * 1000)
            codes += code.to_bytes(2, "big")
        op = b"BT /F1 %s Tf %s %s Td <%s> Tj ET" % (_n(size), _n(x), _n(y), codes.hex().encode())
        # Bold: the outline stroked as well as filled (one face embedded, not two).
        return b"q 2 Tr 0.35 w " + op + b" Q" if bold else op

    def rect(self, x: float, y: float, w: float, h: float, fill: bool = False) -> None:
        paint = GRAY_FILL + b" %s %s %s %s re f" if fill else BORDER + b" %s %s %s %s re S"
        self.ops.append(b"q " + paint % (_n(x), _n(y), _n(w), _n(h)) + b" Q")

    def rule(self, y: float) -> None:
        self.ops.append(b"q %s %s %s m %s %s l S Q" % (BORDER, _n(LEFT), _n(y), _n(RIGHT), _n(y)))

    # -- blocks ----------------------------------------------------------------------------

    def gap(self, height: float) -> None:
        self.y -= height

    def centered(self, text: str, size: float, bold: bool = False) -> None:
        for line in self.wrap(text, size, TEXT_W):
            self.ensure(size * LEADING)
            self.y -= size * LEADING
            self.text((PAGE_W - self.width(line, size)) / 2, self.y + size * 0.3, line, size, bold)

    def heading(self, text: str) -> None:
        self.ensure(HEADING * LEADING * 3)  # never alone at the foot of a page
        self.gap(HEADING * 0.6)
        self.lines(text, HEADING, bold=True)
        self.rule(self.y - 2)
        self.gap(6)

    def lines(self, text: str, size: float = BODY, bold: bool = False, x: float = LEFT) -> None:
        for line in self.wrap(text, size, RIGHT - x):
            self.ensure(size * LEADING)
            self.y -= size * LEADING
            self.text(x, self.y + size * 0.3, line, size, bold)

    def paragraphs(self, paragraphs: list[str]) -> None:
        for paragraph in paragraphs:
            self.lines(paragraph)
            self.gap(BODY * 0.5)

    def fields(self, pairs: list[list[str]]) -> None:
        """Label and value side by side, the value wrapping in its column."""
        labels = [str(label) for label, _value in pairs]
        label_w = min(max((self.width(lb, BODY) for lb in labels), default=0) + 12, TEXT_W * 0.35)
        for label, value in pairs:
            self.row([(LEFT, label_w, str(label)), (LEFT + label_w, TEXT_W - label_w, str(value))],
                     BODY, pad=1.5)  # fmt: skip

    def table(self, columns: list[str], rows: list[list[str]]) -> None:
        widths = self._column_widths([columns, *rows])
        xs = [LEFT + sum(widths[:i]) for i in range(len(widths))]

        def header() -> None:
            self.row(list(zip(xs, widths, columns, strict=True)), TABLE, border=True, fill=True)

        self.ensure(TABLE * LEADING * 3 + 4 * PAD)
        header()
        for cells in rows:
            padded = [*map(str, cells), *[""] * (len(columns) - len(cells))][: len(columns)]
            self.row(list(zip(xs, widths, padded, strict=True)), TABLE, border=True, repeat=header)
        self.gap(6)

    def boxed(self, text: str, size: float = BODY) -> None:
        self.gap(4)
        self.row([(LEFT, TEXT_W, text)], size, border=True, fill=True, pad=PAD * 2)
        self.gap(4)

    def row(self, cells, size, border=False, fill=False, pad=PAD, repeat=None) -> None:
        """Cells (x, width, text) side by side; a row taller than the space left goes on
        over the next pages, where `repeat` (a table's header) is drawn first."""
        lead = size * LEADING
        wrapped = [self.wrap(text, size, w - 2 * pad) for _x, w, text in cells]
        while True:
            needed = max(len(lines) for lines in wrapped)
            room = int((self.y - BOTTOM - 2 * pad) // lead)
            if room < needed and self.y < TOP and (room < 1 or needed * lead < TOP - BOTTOM):
                self.new_page()
                if repeat:
                    repeat()
                continue
            take = min(needed, room)
            self._cells(cells, [lines[:take] for lines in wrapped], take, size, border, fill, pad)
            wrapped = [lines[take:] for lines in wrapped]
            if take == needed:
                return
            self.new_page()
            if repeat:
                repeat()

    def _cells(self, cells, wrapped, count, size, border, fill, pad) -> None:
        lead = size * LEADING
        height = count * lead + 2 * pad
        for (x, w, _text), lines in zip(cells, wrapped, strict=True):
            if fill:
                self.rect(x, self.y - height, w, height, fill=True)
            if border:
                self.rect(x, self.y - height, w, height)
            for i, line in enumerate(lines):
                self.text(x + pad, self.y - pad - (i + 1) * lead + size * 0.3, line, size)
        self.y -= height

    def _column_widths(self, grid: list[list[str]]) -> list[float]:
        count = max(len(r) for r in grid)
        natural = [
            max((self.width(str(r[i]), TABLE) for r in grid if i < len(r)), default=0) + 2 * PAD
            for i in range(count)
        ]
        least = self.width("汉字", TABLE) + 2 * PAD
        natural = [max(w, least) for w in natural]
        if sum(natural) <= TEXT_W:
            return [w * TEXT_W / sum(natural) for w in natural]
        # Narrow columns keep their width; the wide ones share what is left.
        widths = [0.0] * count
        left, open_ = TEXT_W, set(range(count))
        while open_:
            share = left / len(open_)
            narrow = {i for i in open_ if natural[i] <= share}
            if not narrow:
                for i in open_:
                    widths[i] = share
                break
            for i in narrow:
                widths[i] = natural[i]
                left -= natural[i]
            open_ -= narrow
        return widths

    # -- the file ----------------------------------------------------------------------------

    def finish(self, title: str, footer: bool = True) -> bytes:
        """The PDF: every page numbered "第 n 页 / 共 m 页" unless `footer` is false."""
        if footer:
            total = len(self.pages)
            for number, page in enumerate(self.pages, 1):
                label = f"第 {number} 页 / 共 {total} 页"
                x = (PAGE_W - self.width(label, SMALL)) / 2
                page.append(self._text_op(x, 36, label, SMALL, False))
        streams = [b"\n".join(page) for page in self.pages]
        digest = hashlib.sha256(b"\x00".join(streams) + title.encode()).digest()
        writer = _Writer(digest[:16])
        font = self._embed_font(writer, digest)
        resources = _dict({"/Font": _dict({"/F1": font})})
        for stream in streams:
            content = generic.StreamObject(stream_data=stream)
            content.compress()
            writer.insert_page(
                PageObject(writer.add_object(content), [0, 0, PAGE_W, PAGE_H], resources)
            )
        writer.set_info(
            _dict(
                {
                    "/Title": generic.TextStringObject(title),
                    "/Producer": generic.TextStringObject("kaohe"),
                }
            )
        )
        writer.root[generic.NameObject("/Lang")] = generic.TextStringObject("zh-CN")
        viewer = _dict({"/DisplayDocTitle": generic.BooleanObject(True)})
        writer.root[generic.NameObject("/ViewerPreferences")] = viewer
        return writer.to_bytes()

    def _embed_font(self, writer: PdfFileWriter, digest: bytes) -> generic.IndirectObject:
        face = fonts.common_face() if self.common else fonts.full_face()
        tag = "".join(chr(65 + b % 26) for b in digest[16:22])
        name = generic.NameObject(f"/{tag}+{face.ps_name}")
        program = generic.StreamObject(stream_data=face.subset(self.names))
        if face.cff:
            program[generic.NameObject("/Subtype")] = generic.NameObject("/CIDFontType0C")
        program.compress()
        descriptor = _descriptor(face, name, writer.add_object(program))
        cid_font = _dict(
            {
                "/Type": generic.NameObject("/Font"),
                "/Subtype": generic.NameObject("/CIDFontType0" if face.cff else "/CIDFontType2"),
                "/BaseFont": name,
                "/CIDSystemInfo": _dict(
                    {
                        "/Registry": generic.pdf_string("Adobe"),
                        "/Ordering": generic.pdf_string("Identity"),
                        "/Supplement": generic.NumberObject(0),
                    }
                ),
                "/FontDescriptor": writer.add_object(descriptor),
                "/DW": generic.NumberObject(1000),
                "/W": _widths_array(self.widths),
            }
        )
        if not face.cff:
            cid_font[generic.NameObject("/CIDToGIDMap")] = generic.NameObject("/Identity")
        cmap = generic.StreamObject(stream_data=_to_unicode(self.used))
        cmap.compress()
        type0 = _dict(
            {
                "/Type": generic.NameObject("/Font"),
                "/Subtype": generic.NameObject("/Type0"),
                "/BaseFont": name,
                "/Encoding": generic.NameObject("/Identity-H"),
                "/DescendantFonts": generic.ArrayObject([writer.add_object(cid_font)]),
                "/ToUnicode": writer.add_object(cmap),
            }
        )
        return writer.add_object(type0)


class _Writer(PdfFileWriter):
    """A writer whose file ID is given and that stamps no modification date."""

    def __init__(self, file_id: bytes):
        super().__init__()
        self._document_id = generic.ArrayObject(
            [generic.ByteStringObject(file_id), generic.ByteStringObject(file_id)]
        )

    def _update_meta(self):
        """pyHanko's writer stamps the modification date here; same data, same bytes."""

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        self.write(out)
        return out.getvalue()


def _dict(entries: dict) -> generic.DictionaryObject:
    return generic.DictionaryObject({generic.NameObject(k): v for k, v in entries.items()})


def _descriptor(face: fonts.Face, name, program) -> generic.DictionaryObject:
    return _dict(
        {
            "/Type": generic.NameObject("/FontDescriptor"),
            "/FontName": name,
            "/Flags": generic.NumberObject(4),  # symbolic: glyphs outside Adobe's Latin set
            "/FontBBox": generic.ArrayObject([generic.NumberObject(v) for v in face.bbox]),
            "/ItalicAngle": generic.NumberObject(0),
            "/Ascent": generic.NumberObject(face.ascent),
            "/Descent": generic.NumberObject(face.descent),
            "/CapHeight": generic.NumberObject(face.cap_height),
            "/StemV": generic.NumberObject(80),
            "/FontFile3" if face.cff else "/FontFile2": program,
        }
    )


def _widths_array(widths: dict[int, int]) -> generic.ArrayObject:
    out = generic.ArrayObject()
    for code in sorted(widths):
        if widths[code] == 1000:
            continue  # the default width
        out.append(generic.NumberObject(code))
        out.append(generic.ArrayObject([generic.NumberObject(widths[code])]))
    return out


def _to_unicode(used: dict[int, str]) -> bytes:
    header = (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
    )
    pairs = sorted((code, char) for code, char in used.items() if code)
    body = []
    for start in range(0, len(pairs), 100):
        chunk = pairs[start : start + 100]
        body.append(f"{len(chunk)} beginbfchar")
        body += [f"<{code:04x}> <{char.encode('utf-16-be').hex()}>" for code, char in chunk]
        body.append("endbfchar")
    footer = "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    return (header + "\n".join(body) + footer).encode("ascii")


# -- the document --------------------------------------------------------------------------

SECTION_KINDS = ("fields", "table", "paragraphs")


def render_document(data: dict) -> bytes:
    """The PDF of a kaohe-document/v1 `data` (see the module docstring)."""
    layout = Layout()
    write_document(layout, data)
    return layout.finish(str(data["title"]))


def write_document(layout: Layout, data: dict) -> None:
    """Lay out the document's content: header, employee, sections, the statement."""
    _check(data)
    layout.centered(data["title"], TITLE, bold=True)
    layout.centered(data.get("company", ""), BODY)
    layout.gap(10)
    employee, period = data.get("employee", {}), data.get("period", {})
    layout.fields(
        [
            ["姓名", employee.get("name", "")],
            ["工号", employee.get("employee_no", "")],
            ["部门", employee.get("org_unit", "")],
            ["岗位", employee.get("position", "")],
            ["考核周期", _period(period)],
        ]
    )
    for section in data.get("sections", []):
        layout.heading(section["heading"])
        if "fields" in section:
            layout.fields(section["fields"])
        elif "table" in section:
            layout.table(section["table"]["columns"], section["table"]["rows"])
        else:
            layout.paragraphs(section["paragraphs"])
    if data.get("statement"):
        layout.gap(8)
        layout.boxed(data["statement"])


def _period(period: dict) -> str:
    span = f"{period.get('start', '')} 至 {period.get('end', '')}" if period.get("start") else ""
    label = period.get("label", "")
    return f"{label}（{span}）" if label and span else label or span


def _check(data) -> None:
    if not isinstance(data, dict) or data.get("format") != "kaohe-document/v1":
        raise RenderError("not a kaohe-document/v1")
    if not isinstance(data.get("title"), str) or not data["title"]:
        raise RenderError("the document has no title")
    for i, section in enumerate(data.get("sections", [])):
        kinds = [kind for kind in SECTION_KINDS if kind in section]
        if not isinstance(section.get("heading"), str) or len(kinds) != 1:
            raise RenderError(f"section {i} needs a heading and one of {', '.join(SECTION_KINDS)}")
