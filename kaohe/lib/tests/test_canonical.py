import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

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


# Any JSON value without floats: keys and strings from the whole of Unicode, lone
# surrogates and control characters included, and integers around the exact range.
_text = st.text(st.characters(codec=None, categories=None), max_size=12)
_values = st.recursive(
    st.none() | st.booleans() | _text
    | st.integers(min_value=-(2**53) - 2, max_value=2**53 + 2) | st.integers(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)  # fmt: skip


def _reference(value) -> bytes | type:
    """What the rfc8785 package writes, or the type of error it raises."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return CanonicalError
    except UnicodeEncodeError:
        return UnicodeEncodeError


@settings(max_examples=600, deadline=None)
@given(_values)
def test_the_fast_path_writes_exactly_what_the_rfc8785_package_writes(value):
    expected = _reference(value)
    if isinstance(expected, bytes):
        assert canonical(value) == expected
    else:
        with pytest.raises(expected):
            canonical(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\ue000": 1, "\U00010000": 2, "a": 3},
        {"x": '\x00\x01\x08\x09\x0a\x0c\x0d\x1f\x7f\u2028\u2029"\\/'},
        {"": [], "z": {}, "y": [None, True, False, 0, -(2**53) + 1, 2**53 - 1]},
        ["张三", "𝄞", "\ud7ff"],
    ],
)
def test_edge_cases_match_the_rfc8785_package(value):
    assert canonical(value) == rfc8785.dumps(value)
