import pytest

from kaohe.lib.canonical import CanonicalError, canonical


def test_keys_are_sorted_and_there_is_no_whitespace():
    assert canonical({"b": 1, "a": [True, None, "x"]}) == b'{"a":[true,null,"x"],"b":1}'


def test_chinese_text_is_written_as_utf8_not_escaped():
    assert canonical({"名": "张三"}) == '{"名":"张三"}'.encode()


def test_keys_sort_by_utf16_code_units_as_rfc_8785_says():
    # U+1F600 (surrogates D83D DE00) sorts before U+FB01 in UTF-16, after it in code points.
    assert canonical({"\ufb01": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb01":1}'.encode()


@pytest.mark.parametrize("value", [1.5, {"score": 87.5}, [1, 0.1]])
def test_a_float_is_refused_so_decimals_travel_as_strings(value):
    with pytest.raises(CanonicalError, match="write decimal values as strings"):
        canonical(value)


def test_the_refusal_names_where_the_float_is():
    with pytest.raises(CanonicalError, match=r"\$\.payload\.items\[1\]"):
        canonical({"payload": {"items": ["1", 2.0]}})


@pytest.mark.parametrize("value", [2**53, {1: "x"}, object()])
def test_what_json_cannot_hold_exactly_is_refused(value):
    with pytest.raises(CanonicalError):
        canonical(value)


def test_canonical_error_is_a_value_error():
    assert issubclass(CanonicalError, ValueError)
