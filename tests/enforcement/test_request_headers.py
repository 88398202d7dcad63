"""Reading the request headers enforcement needs."""

from __future__ import annotations

from tollway.enforcement.request_headers import RequestHeaders, read_headers


def test_every_header_read_in_one_pass() -> None:
    headers = [
        (b"x-api-key", b" tw_live_abc "), (b"origin", b"https://app.example"),
        (b"x-forwarded-for", b"198.51.100.1, 10.0.0.1"), (b"user-agent", b"curl/8"),
        (b"content-length", b"42"),
    ]  # fmt: skip
    assert read_headers(headers) == RequestHeaders(
        "tw_live_abc", "https://app.example", "198.51.100.1, 10.0.0.1", "curl/8", 42
    )


def test_the_api_key_header_wins_over_a_bearer_token_in_any_order() -> None:
    bearer, key = (b"authorization", b"Bearer tw_live_bearer"), (b"x-api-key", b"tw_live_key")
    assert read_headers([bearer, key]).secret == "tw_live_key"
    assert read_headers([key, bearer]).secret == "tw_live_key"
    assert read_headers([bearer]).secret == "tw_live_bearer"
    assert read_headers([(b"authorization", b"bearer  spaced ")]).secret == "spaced"


def test_other_schemes_and_odd_lengths_are_ignored() -> None:
    odd = read_headers([(b"authorization", b"Basic dXNlcjpwYXNz"), (b"content-length", b"-1")])
    assert odd == RequestHeaders(None, None, None, None, 0)
