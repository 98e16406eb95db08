import pytest

from inspector.recording import purpose_of, session_id_of


@pytest.mark.parametrize("body", [
    {"max_tokens": 1, "messages": "h"}, {"max_tokens": 1, "messages": [5]}, {"messages": "hi"},
    {"metadata": "x"}, {"metadata": ["x"]}, {"metadata": {"user_id": 5}}, {"metadata": {"user_id": "[1]"}},
    {"metadata": {"user_id": '{"session_id": {}}'}}, {"system": 5, "tools": "x", "model": 5},
])
def test_wrong_shapes_are_classified_not_raised(body):
    # The gateway identifies a request before it is validated (count_tokens with a string
    # metadata logged a traceback): these helpers take any JSON.
    assert purpose_of("messages", body) in ("main", "background", "title", "quota")
    assert session_id_of({}, body) == (None, "none")


def test_a_session_id_from_metadata():
    body = {"metadata": {"user_id": '{"device_id": "d", "session_id": "abc-123"}'}}
    assert session_id_of({}, body) == ("abc-123", "metadata")
    assert session_id_of({}, {"metadata": {"user_id": "user_x_session_0123abcd-ef"}}) == ("0123abcd-ef", "metadata")
