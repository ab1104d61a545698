import subprocess

import pytest

from kaohe.signing import render
from kaohe.signing.render import RenderError, render_document

PDFTOTEXT = "/usr/bin/pdftotext"


def sample_data(**changes) -> dict:
    data = {
        "format": "kaohe-document/v1",
        "kind": "result",
        "title": "2026年第一季度绩效考核结果",
        "company": "测试公司",
        "employee": {
            "employee_no": "E0003",
            "name": "艾米",
            "org_unit": "华东销售部",
            "position": "销售代表",
        },
        "period": {
            "kind": "quarter",
            "start": "2026-01-01",
            "end": "2026-03-31",
            "label": "2026年第一季度",
        },
        "sections": [
            {"heading": "考核结果", "fields": [["总分", "62.50"], ["等级", "C"]]},
            {
                "heading": "定量指标",
                "table": {
                    "columns": ["指标", "目标", "实际", "达成率", "权重", "得分"],
                    "rows": [["销售额", "1,000,000", "0", "0.0%", "60", "0.00"]],
                },
            },
            {"heading": "主管评语", "paragraphs": ["本季度未完成签约，需加强客户拜访。"]},
        ],
        "statement": "签署表示本人已收到并知悉上述考核结果，不影响本人申诉的权利。",
        "source": {"type": "reviews.result", "id": "42", "version": "3"},
    }
    data.update(changes)
    return data


def pdf_text(pdf: bytes, tmp_path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([PDFTOTEXT, "-enc", "UTF-8", str(path), "-"], capture_output=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.decode()


def page_count(pdf: bytes) -> int:
    return pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") + pdf.count(b"/Type /Page>")


def test_the_chinese_text_can_be_extracted(tmp_path):
    text = pdf_text(render_document(sample_data()), tmp_path)
    for expected in ["2026年第一季度绩效考核结果", "艾米", "E0003", "1,000,000", "销售额"]:
        assert expected in text
    assert "第1页/共1页" in text.replace(" ", "")
    assert "不影响本人申诉的权利" in text


def test_the_font_is_embedded_as_a_subset_with_a_unicode_map(tmp_path):
    path = tmp_path / "doc.pdf"
    path.write_bytes(render_document(sample_data()))
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout
    line = fonts.splitlines()[2]
    assert "NotoSansCJKsc" in line
    assert line.split()[-5:-2] == ["yes", "yes", "yes"]  # embedded, subset, ToUnicode


def test_the_same_data_gives_the_same_bytes():
    assert render_document(sample_data()) == render_document(sample_data())


def test_other_data_gives_other_bytes():
    assert render_document(sample_data()) != render_document(sample_data(title="另一份文件"))


def test_long_text_wraps_and_goes_on_over_pages(tmp_path):
    rows = [[f"指标{i}", "1,000,000", "2", "0.0%", "5", "0.00"] for i in range(60)]
    long = "员工需要在改进期内完成全部客户回访并提交书面总结。" * 60
    data = sample_data()
    data["sections"] += [
        {"heading": "明细", "table": {"columns": data["sections"][1]["table"]["columns"],
                                      "rows": rows}},
        {"heading": "说明", "paragraphs": [long]},
    ]  # fmt: skip
    pdf = render_document(data)
    text = pdf_text(pdf, tmp_path)
    pages = page_count(pdf)
    assert pages >= 3
    assert f"第{pages}页/共{pages}页" in text.replace(" ", "")
    assert "指标59" in text
    assert text.count("达成率") >= 3  # the table's header repeats on each page it spans


def test_lines_break_between_chinese_characters_and_at_spaces():
    layout = render.Layout()
    lines = layout.wrap("考核" * 40, render.BODY, 100)
    assert len(lines) > 5
    assert all(layout.width(line, render.BODY) <= 100 for line in lines)
    assert "".join(lines) == "考核" * 40
    words = layout.wrap("the quick brown fox jumps over the lazy dog", render.BODY, 60)
    assert all(not line.startswith(" ") and " " not in line[-1:] for line in words)
    assert " ".join(words) == "the quick brown fox jumps over the lazy dog"


def test_closing_punctuation_never_starts_a_line():
    layout = render.Layout()
    text = "一二三四五六七八九十，" * 30
    lines = layout.wrap(text, render.BODY, 120)
    assert not any(line.startswith("，") for line in lines)


def test_a_word_longer_than_a_line_is_cut():
    layout = render.Layout()
    lines = layout.wrap("a" * 300, render.BODY, 100)
    assert "".join(lines) == "a" * 300
    assert all(layout.width(line, render.BODY) <= 100 for line in lines)


def test_a_rare_character_outside_the_common_set_is_embedded_too(tmp_path):
    rare = "𠀾堃"  # an extension-B hanzi and one outside GB 2312
    data = sample_data(employee={**sample_data()["employee"], "name": f"王{rare}"})
    text = pdf_text(render_document(data), tmp_path)
    assert "堃" in text


@pytest.mark.parametrize(
    "data",
    [
        {"format": "other"},
        sample_data(title=""),
        sample_data(sections=[{"heading": "x"}]),
        sample_data(sections=[{"heading": "x", "fields": [], "paragraphs": []}]),
    ],
)
def test_malformed_data_is_refused(data):
    with pytest.raises(RenderError):
        render_document(data)
