"""Device strings and the device registry."""

from hypothesis import given
from hypothesis import strategies as st

from bench.devices import parse_spec
from bench.errors import UsageError
from tests.support.fuzz import FAST


@FAST
@given(text=st.text(max_size=30))
def test_any_device_string_parses_or_is_one_usage_error(text):
    try:
        kind, index = parse_spec(text)
    except UsageError as exc:
        assert "malformed device" in str(exc) and "\n" not in str(exc)
        return
    assert f"{kind}:{index}" == text.strip().lower() if index is not None else kind == text.strip().lower()


def test_device_strings():
    assert parse_spec("cuda:1") == ("cuda", 1)
    assert parse_spec(" CPU ") == ("cpu", None)
