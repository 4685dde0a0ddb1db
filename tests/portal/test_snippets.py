from __future__ import annotations

import ast
import base64
import shlex
import subprocess

from apitest.portal.snippets import (
    INLINE_MAX,
    Captured,
    all_snippets,
    captured,
    curl,
    httpie,
    javascript_fetch,
    python_httpx,
)


def sample(body: bytes | None = b'{"msg": "hi \'there\'"}', method: str = "POST") -> Captured:
    return captured(
        "http://localhost:8080/",
        method,
        "/v1/echo",
        {"a": ["1", "x y"], "api_key": ["[redacted]"]},
        {"Content-Type": ["application/json"], "X-Api-Key": ["[redacted]"], "Host": ["h"], "X-Q": ["it's"]},
        body,
    )


def test_curl_repeats_the_request_without_credentials() -> None:
    command = curl(sample())
    first, rest = command.split("\n", 1)
    assert first == "# not included: query api_key (redacted); header X-Api-Key (redacted)"
    argv = shlex.split(rest.replace("\\\n", " "))
    assert argv[:5] == ["curl", "-sS", "-i", "-X", "POST"]
    assert argv[5] == "http://localhost:8080/v1/echo?a=1&a=x+y"
    assert "Content-Type: application/json" in argv and "X-Q: it's" in argv
    assert not any("redacted" in a or a.startswith("Host") for a in argv)
    assert argv[-1] == '{"msg": "hi \'there\'"}'


def test_plain_get_has_no_method_flag() -> None:
    assert curl(captured("http://h", "GET", "/v1/whoami", None, None, None)) == "curl -sS -i http://h/v1/whoami"


def shell_body(command: str) -> bytes:
    """The bytes the shell pipeline hands to curl on standard input (curl itself replaced by cat)."""
    pipe = command.split("| curl", 1)[0] if "| curl" in command else ""
    assert pipe, command
    return subprocess.run(["bash", "-c", pipe], capture_output=True, check=True).stdout


def test_binary_bodies_are_piped_exactly() -> None:
    for body in (bytes(range(256)), b"@etc/passwd", b"tab\there\x00nul", "a\u202eb".encode()):
        command = curl(captured("http://h", "PUT", "/v1/x", None, None, body))
        assert "--data-binary @-" in command and "base64 -d" in command
        assert shell_body(command) == body


def test_big_bodies_are_read_from_the_downloaded_file() -> None:
    body = b"x" * (INLINE_MAX + 1)
    c = captured("http://h", "POST", "/v1/x", None, None, body)
    assert curl(c).startswith("cat request-body.bin | curl")
    assert "x" * 100 not in "".join(s["code"] for s in all_snippets(c))
    assert "open('request-body.bin', 'rb')" in python_httpx(c)


def test_python_snippet_is_valid_python_with_the_exact_bytes() -> None:
    body = bytes(range(256))
    code = python_httpx(captured("http://h", "POST", "/v1/x", None, {"X-A": ["b"]}, body))
    tree = ast.parse(code)
    literals = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, bytes)]
    assert literals == [body]


def test_httpie_and_fetch_carry_the_body() -> None:
    c = sample()
    assert httpie(c).startswith("# not included")
    assert "printf '%s'" in httpie(c) and "http --print=HhBb POST" in httpie(c)
    js = javascript_fetch(c)
    assert 'method: "POST"' in js and '["X-Q", "it\'s"]' in js and "redacted" not in js.split("\n", 1)[1]
    binary = javascript_fetch(captured("http://h", "POST", "/v1/x", None, None, b"\xff\x00"))
    assert base64.b64encode(b"\xff\x00").decode() in binary and "Uint8Array" in binary
    get = javascript_fetch(captured("http://h", "GET", "/v1/x", None, None, b"abc"))
    assert "fetch sends none with GET" in get and "body:" not in get


def test_paths_are_percent_encoded() -> None:
    c = captured("http://h", "GET", "/v1/a b/\u202e", None, None, None)
    assert c.url == "http://h/v1/a%20b/%E2%80%AE"
