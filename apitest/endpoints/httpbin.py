"""The httpbin group: go-httpbin's gateway-relevant endpoints under ``/v1``.

The route table; the handlers live in the ``httpbin_*`` modules. ``docs/httpbin.md`` lists every
endpoint with its parameters and each difference from go-httpbin.
"""

from __future__ import annotations

from apitest.endpoints import httpbin_auth as auth
from apitest.endpoints import httpbin_caching as cache
from apitest.endpoints import httpbin_content as content
from apitest.endpoints import httpbin_cookies as cookies
from apitest.endpoints import httpbin_encoding as encoding
from apitest.endpoints import httpbin_range as ranges
from apitest.endpoints import httpbin_redirects as redirects
from apitest.endpoints import httpbin_stream as stream
from apitest.endpoints.httpbin_specs import (
    ANY_METHODS,
    ANYTHING_SCHEMA,
    AUTH_SCHEMA,
    BINARY,
    CHUNK,
    COOKIE_OPTIONS,
    DURATION_HELP,
    NOT_MODIFIED,
    NUMBYTES,
    PASSWD,
    PRECONDITION,
    REDIRECT,
    SEED,
    SET_COOKIE,
    USER,
    anything_route,
    compressed,
    digest_route,
    header,
    path,
    redirect_to_route,
    route,
)
from apitest.endpoints.httpbin_support import MAX_BODY, SUMMARY_SCHEMA
from apitest.endpoints.statuses import GO_STATUS_TEXT, NO_BODY
from apitest.registry import ERROR_SCHEMA, JSON, PLAIN, STR, Param, Reply, bad_request, obj, ok

DRIP_BODY = {"type": "string", "example": "**********"}

ROUTES = [
    # caching
    route(
        "httpbin_cache",
        "/cache",
        "304 when If-Modified-Since or If-None-Match is present, else 200 with Last-Modified and ETag.",
        cache.cache,
        params=(header("If-Modified-Since", "Any value: 304."), header("If-None-Match", "Any value: 304.")),
        responses={
            200: ok(SUMMARY_SCHEMA, headers=("Last-Modified", "ETag")),
            304: Reply("Not modified: no body.", None),
        },
    ),
    route(
        "httpbin_cache_control",
        "/cache/{seconds}",
        "The request summary with Cache-Control: public, max-age=<seconds>.",
        cache.cache_control,
        params=(path("seconds", "max-age in seconds.", "integer", 0),),
        responses={
            200: ok(SUMMARY_SCHEMA, headers=("Cache-Control",)),
            400: bad_request("seconds is not a non-negative integer."),
        },
    ),
    route(
        "httpbin_etag",
        "/etag/{etag}",
        "A resource whose strong ETag is the path value: If-None-Match (weak comparison) → 304, "
        "If-Match (strong) → 412.",
        cache.etag,
        params=(
            path("etag", "The ETag, unquoted (printable ASCII, no double quote)."),
            Param("weak", description='true: the resource\'s ETag is weak, W/"<etag>" (If-Match then never matches).'),
            header("If-None-Match", "Entity tags, comma-separated, or *."),
            header("If-Match", "Entity tags, comma-separated, or *."),
        ),
        responses={
            200: ok(SUMMARY_SCHEMA, headers=("ETag",)),
            304: NOT_MODIFIED,
            400: bad_request("The etag holds a character an entity tag cannot."),
            412: PRECONDITION,
        },
    ),
    # content codings
    route(
        "httpbin_gzip",
        "/gzip",
        "The request summary, gzip-encoded.",
        encoding.gzip_body,
        responses=compressed("gzip", "gzipped"),
    ),
    route(
        "httpbin_deflate",
        "/deflate",
        "The request summary, deflate-encoded (zlib).",
        encoding.deflate_body,
        responses=compressed("deflate", "deflated"),
    ),
    route(
        "httpbin_brotli",
        "/brotli",
        "The request summary, brotli-encoded.",
        encoding.brotli_body,
        responses=compressed("br", "brotli"),
    ),
    # ranges and bodies over time
    route(
        "httpbin_range",
        "/range/{numbytes}",
        "numbytes bytes (a-z repeated) with Range support: single, multiple (multipart/byteranges), suffix, "
        "open-ended; If-Range.",
        ranges.byte_range,
        params=(
            path("numbytes", f"Body length, 1 to {MAX_BODY}.", "integer", 1, MAX_BODY),
            Param("duration", description="Spread the body over this time. " + DURATION_HELP, default="0"),
            CHUNK,
            header("Range", "bytes=first-last, first-, -suffix; comma-separated for several."),
            header("If-Range", "An ETag or an HTTP date: the Range applies only when it matches."),
            header("If-None-Match", "Entity tags or *: 304 when one matches."),
            header("If-Match", "Entity tags or *: 412 unless one matches strongly."),
        ),
        responses={
            200: ok({"type": "string"}, "The whole body.", PLAIN, ("ETag", "Accept-Ranges", "Last-Modified")),
            206: Reply(
                "The requested range(s); several as multipart/byteranges.",
                PLAIN,
                {"type": "string"},
                ("Content-Range", "ETag", "Accept-Ranges", "Last-Modified"),
                also=(f"multipart/byteranges; boundary={ranges.BOUNDARY}",),
            ),
            304: NOT_MODIFIED,
            400: bad_request("numbytes, duration or chunk_size invalid."),
            412: PRECONDITION,
            416: Reply("Malformed Range, or no range overlaps the body.", JSON, ERROR_SCHEMA, ("Content-Range",)),
        },
    ),
    route(
        "httpbin_drip",
        "/drip",
        "numbytes asterisks trickled over duration after delay, each write flushed, with a Content-Length.",
        stream.drip,
        params=(
            Param("duration", description="Time over which the bytes are sent. " + DURATION_HELP, default="2s"),
            Param("delay", description="Wait before the response starts. " + DURATION_HELP, default="2s"),
            Param(
                "numbytes",
                "integer",
                description="Body length.",
                default=stream.DRIP_BYTES,
                minimum=1,
                maximum=MAX_BODY,
            ),
            Param(
                "code",
                "integer",
                description="Status of the response: a registered status in 200-599.",
                default=200,
                minimum=200,
                maximum=599,
            ),
        ),
        responses={
            **{
                code: Reply(f"{text}: the body, as code asks for.", PLAIN, DRIP_BODY, ("Server-Timing",))
                for code, text in GO_STATUS_TEXT.items()
                if 200 <= code <= 599 and code not in NO_BODY and code != 400
            },
            **{code: Reply(f"{GO_STATUS_TEXT[code]} as code asks for (no body).", None) for code in NO_BODY},
            400: bad_request("A parameter is invalid, or duration + delay is above 10s (or code=400 asked for)."),
            499: Reply("The client left during the delay (seen in the audit).", None),
        },
    ),
    route(
        "httpbin_bytes",
        "/bytes/{numbytes}",
        "numbytes random bytes, seeded by seed.",
        stream.random_bytes,
        params=(NUMBYTES, SEED),
        responses={
            200: ok({"type": "string", "format": "binary"}, content_type=BINARY),
            400: bad_request("numbytes invalid."),
        },
    ),
    route(
        "httpbin_stream_bytes",
        "/stream-bytes/{numbytes}",
        "The same seeded bytes as /v1/bytes, chunked, each chunk_size piece flushed.",
        stream.stream_bytes,
        params=(NUMBYTES, SEED, CHUNK),
        responses={
            200: ok({"type": "string", "format": "binary"}, content_type=BINARY),
            400: bad_request("numbytes or chunk_size invalid."),
        },
    ),
    # redirects
    route(
        "httpbin_redirect",
        "/redirect/{n}",
        "302 n times, then /v1/get; relative Locations unless absolute=true.",
        redirects.redirect,
        params=(path("n", "Redirects left.", "integer", 1), Param("absolute", description="true: absolute Locations.")),
        responses={302: REDIRECT, 400: bad_request("n is not a positive integer.")},
    ),
    route(
        "httpbin_relative_redirect",
        "/relative-redirect/{n}",
        "302 n times with relative Locations, then /v1/get.",
        redirects.relative_redirect,
        params=(path("n", "Redirects left.", "integer", 1),),
        responses={302: REDIRECT, 400: bad_request("n is not a positive integer.")},
    ),
    route(
        "httpbin_absolute_redirect",
        "/absolute-redirect/{n}",
        "302 n times with absolute Locations (the request's scheme and Host), then /v1/get.",
        redirects.absolute_redirect,
        params=(path("n", "Redirects left.", "integer", 1),),
        responses={302: REDIRECT, 400: bad_request("n is not a positive integer.")},
    ),
    *(redirect_to_route(m) for m in ("GET", "POST", "PUT", "PATCH", "DELETE")),
    # cookies
    route(
        "httpbin_cookies",
        "/cookies",
        "The cookies the request carries, name → value.",
        cookies.cookies,
        responses={200: ok({"type": "object", "additionalProperties": STR})},
    ),
    route(
        "httpbin_cookies_set",
        "/cookies/set",
        "Set a cookie for each other query parameter (Path=/v1, HttpOnly), then 302 to /v1/cookies.",
        cookies.set_cookies,
        params=COOKIE_OPTIONS,
        responses={302: SET_COOKIE, 400: bad_request("A refused or invalid cookie name or value, path or domain.")},
    ),
    route(
        "httpbin_cookies_delete",
        "/cookies/delete",
        "Expire the cookie named by each other query parameter (same Path/Domain rules), then 302 to /v1/cookies.",
        cookies.delete_cookies,
        params=COOKIE_OPTIONS,
        responses={302: SET_COOKIE, 400: bad_request("A refused or invalid cookie name, path or domain.")},
    ),
    # authentication challenges
    route(
        "httpbin_basic_auth",
        "/basic-auth/{user}/{passwd}",
        "HTTP Basic authentication against the user and password in the path; 401 with a Basic challenge otherwise.",
        auth.basic_auth,
        params=(USER, PASSWD),
        responses={
            200: ok(AUTH_SCHEMA),
            401: Reply("Wrong or no Basic credentials.", JSON, AUTH_SCHEMA, ("WWW-Authenticate",)),
        },
        own_authorization=True,
    ),
    route(
        "httpbin_hidden_basic_auth",
        "/hidden-basic-auth/{user}/{passwd}",
        "Like basic-auth, but 404 instead of 401 without the right credentials.",
        auth.hidden_basic_auth,
        params=(USER, PASSWD),
        responses={200: ok(AUTH_SCHEMA), 404: Reply("Wrong or no Basic credentials.", JSON, ERROR_SCHEMA)},
        own_authorization=True,
    ),
    digest_route("httpbin_digest_auth", "/digest-auth/{qop}/{user}/{passwd}", ()),
    digest_route(
        "httpbin_digest_auth_algorithm",
        "/digest-auth/{qop}/{user}/{passwd}/{algorithm}",
        (path("algorithm", "MD5 (default) or SHA-256."),),
    ),
    # sample content
    route(
        "httpbin_html",
        "/html",
        "A sample HTML page.",
        content.html,
        responses={200: ok({"type": "string"}, content_type="text/html; charset=utf-8")},
    ),
    route(
        "httpbin_xml",
        "/xml",
        "A sample XML document.",
        content.xml,
        responses={200: ok({"type": "string"}, content_type="application/xml")},
    ),
    route(
        "httpbin_image",
        "/image",
        "An image in the format Accept asks for: png (also for none, image/* and */*), webp, svg or jpeg.",
        content.image,
        params=(header("Accept", "image/png, image/webp, image/svg+xml, image/jpeg or image/*."),),
        responses={
            200: Reply("The image.", "image/png", None, ("Vary",), also=("image/webp", "image/svg+xml", "image/jpeg")),
            406: Reply("Accept names no supported image type.", JSON, ERROR_SCHEMA, ("Vary",)),
        },
    ),
    route(
        "httpbin_image_format",
        "/image/{format}",
        "An image in the format the path names.",
        content.image_of,
        params=(path("format", "png, jpeg, webp or svg."),),
        responses={
            200: Reply("The image.", "image/png", None, also=("image/jpeg", "image/webp", "image/svg+xml")),
            404: Reply("No such format.", JSON, ERROR_SCHEMA),
        },
    ),
    route(
        "httpbin_uuid",
        "/uuid",
        "A random version 4 UUID; the same one for the same seed.",
        content.uuid,
        params=(Param("seed", description="Seed (FNV-1a + PCG-DXSM); empty: OS-random."),),
        responses={200: ok(obj({"uuid": {"type": "string", "format": "uuid"}}))},
    ),
    route(
        "httpbin_base64",
        "/base64/{value}",
        "Decode value (URL-safe or standard base64, padded).",
        content.base64_value,
        params=(path("value", "Base64 to decode."),),
        responses={200: ok({"type": "string"}, "The decoded bytes.", PLAIN), 400: bad_request("Not valid base64.")},
    ),
    route(
        "httpbin_base64_operation",
        "/base64/{operation}/{value}",
        "encode (URL-safe base64 of value) or decode.",
        content.base64_value,
        params=(path("operation", "encode or decode."), path("value", "The input.")),
        responses={
            200: ok({"type": "string"}, "The result.", PLAIN),
            400: bad_request("Not valid base64, or unknown operation."),
        },
    ),
    route(
        "httpbin_deny",
        "/deny",
        "A page robots.txt disallows.",
        content.deny,
        responses={200: ok({"type": "string"}, content_type=PLAIN)},
    ),
    route(
        "httpbin_robots",
        "/robots.txt",
        "robots.txt disallowing /v1/deny.",
        content.robots,
        responses={200: ok({"type": "string"}, content_type=PLAIN)},
    ),
    # request inspection
    route(
        "httpbin_get",
        "/get",
        "The request summary: args, headers (credentials redacted), method, origin, url.",
        content.anything,
        responses={200: ok(ANYTHING_SCHEMA)},
    ),
    *(anything_route(m, "/anything") for m in ANY_METHODS),
    *(anything_route(m, "/anything/{path:path}") for m in ANY_METHODS),
]
