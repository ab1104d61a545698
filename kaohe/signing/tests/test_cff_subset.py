"""The byte-copying CFF subsetter (kaohe.lib.cff) against fontTools' reading of its output,
on the common cut of the CJK face that documents are set in."""

import io

import pytest
from fontTools.cffLib import CFFFontSet
from fontTools.ttLib import TTFont

from kaohe.lib.cff import CffError, CidFont
from kaohe.signing.fonts import common_face

TEXT = "2026年第一季度绩效考核结果：张伟，华东大区区域总监（总分62.50，等级C）。"


@pytest.fixture(scope="module")
def cut():
    face = common_face()
    font = TTFont(io.BytesIO(face.data))
    return face, font["CFF "].cff[0], font.getBestCmap()


def test_a_subset_holds_exactly_the_glyphs_asked_for_with_their_outlines_and_hints(cut):
    face, original, cmap = cut
    names = {cmap[ord(c)] for c in TEXT}
    program = face.program.subset(face.code(n) for n in names)
    fonts = CFFFontSet()
    fonts.decompile(io.BytesIO(program), None)
    top = fonts[0]
    assert top.ROS == original.ROS and top.CIDCount == original.CIDCount
    top_dict = CidFont.parse(program)  # re-read by our own reader too
    assert top_dict.charstrings[0] == original.CharStrings[".notdef"].bytecode
    assert program[_top_dict_start(program) :].startswith(b"\x1d\x00\x00\x01\x87")  # ROS
    assert set(top.charset) == names | {".notdef"}
    for gid, name in enumerate(top.charset):
        ours, theirs = top.CharStrings[name], original.CharStrings[name]
        ours.decompile(), theirs.decompile()
        assert ours.program == theirs.program, name
        original_fd = original.FDArray[original.FDSelect[original.charset.index(name)]]
        fd = top.FDArray[top.FDSelect[gid]]
        assert fd.Private.rawDict == original_fd.Private.rawDict, name
        assert _font_dict(fd) == _font_dict(original_fd), name
    assert len(top.FDArray) <= len(original.FDArray)


def _top_dict_start(program: bytes) -> int:
    """Where the Top DICT's data begins: after the header and the Name INDEX, and the Top
    DICT INDEX's own count, offset size and two offsets."""
    from kaohe.lib.cff import read_index

    _names, at = read_index(program, program[2])
    size = program[at + 2]
    return at + 3 + 2 * size


def _font_dict(fd) -> dict:
    return {k: v for k, v in fd.rawDict.items() if k not in ("Private", "FontName")}


def test_the_same_glyphs_give_the_same_bytes_and_unknown_cids_are_left_out(cut):
    face, _original, cmap = cut
    cids = [face.code(cmap[ord(c)]) for c in "考核"]
    assert face.program.subset(cids) == face.program.subset([*reversed(cids), 65000])


def test_programs_it_cannot_cut_by_bytes_are_refused(cut):
    face, _original, _cmap = cut
    with pytest.raises(CffError):
        CidFont.parse(b"\x01\x00\x04\x02garbage")
    full = TTFont(io.BytesIO(face.data))
    assert CidFont.parse(full.reader["CFF "]).charstrings  # the cut itself parses
