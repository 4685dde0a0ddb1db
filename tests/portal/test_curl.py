from __future__ import annotations

import shlex

from apitest.portal.curl import curl_command


def test_curl_repeats_the_request_without_credentials() -> None:
    command = curl_command(
        "http://localhost:8080/",
        "POST",
        "/v1/echo",
        {"a": ["1", "x y"], "api_key": ["[redacted]"]},
        {"Content-Type": ["application/json"], "X-Api-Key": ["[redacted]"], "Host": ["h"], "X-Q": ["it's"]},
        '{"msg": "hi \'there\'"}',
    )
    first, rest = command.split("\n", 1)
    assert first == "# not included: query api_key; header X-Api-Key"
    argv = shlex.split(rest.replace("\\\n", " "))
    assert argv[:5] == ["curl", "-sS", "-i", "-X", "POST"]
    assert argv[5] == "http://localhost:8080/v1/echo?a=1&a=x+y"
    assert "Content-Type: application/json" in argv
    assert "X-Q: it's" in argv
    assert not any("redacted" in a or a.startswith("Host") for a in argv)
    assert argv[-1] == '{"msg": "hi \'there\'"}'


def test_plain_get_has_no_method_flag() -> None:
    assert curl_command("http://h", "GET", "/v1/whoami", None, None, None) == "curl -sS -i http://h/v1/whoami"


def test_binary_body_is_named_not_inlined() -> None:
    command = curl_command("http://h", "PUT", "/v1/x", None, None, None, body_is_binary=True)
    assert "binary body" not in command  # no body at all: nothing to mention
    command = curl_command("http://h", "PUT", "/v1/x", None, None, "AAAA", body_is_binary=True)
    assert command.startswith("# not included: binary body")
