"""Outbound HTTP through the host (capability ``http``): small blocking requests with
headers, a body or JSON, and a cap on what is read back. The same shape as the Rust SDK's
``airlock_sdk::http``::

    from airlock_sdk import http

    reply = http.get("https://api.example.com/v1/weather?city=Oslo",
                     headers={"accept": "application/json"}, max_bytes=64 * 1024)
    weather = reply.json()

Importing this module is what gives the component its ``wasi:http`` import: ``airlock
build`` sees it and builds against a world that adds ``wasi:http/outgoing-handler`` (the
0.2.9 WIT componentize-py itself uses). A plugin that never imports it does not import
``wasi:http`` at all, so its audit shows no HTTP reach.

The host checks every request against the URLs the manifest asked for and the operator
allowed (``[capabilities] http = ["https://api.example.com/v1"]``); anything else raises
:class:`HttpError` with code 403 before a byte leaves. Redirects are not followed: a 3xx
comes back as it is. :class:`HttpError` is a :class:`~airlock_sdk.PluginError`, so one a
tool does not catch reaches the caller as a plugin error with its code (403 not granted,
504 timeout, 413 too large, 400 invalid request, 502 otherwise)."""

from __future__ import annotations

import json as _json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .plugin import PluginError

#: Bytes read from a response body when ``max_bytes`` is not given.
DEFAULT_MAX_BYTES = 1 << 20
#: Bytes written to the request body per host call (``wasi:io`` allows 4096 per
#: ``blocking-write-and-flush``).
_WRITE_CHUNK = 4096
#: Bytes asked for per read of the response body.
_READ_CHUNK = 64 * 1024


class HttpError(PluginError):
    """Why a request failed. ``kind`` is one of ``not-granted``, ``timeout``,
    ``too-large``, ``tls``, ``connection``, ``invalid-request``, ``invalid-response``;
    ``request`` is ``"METHOD URL"``; ``code`` is the plugin-error code it maps to."""

    _CODES = {
        "not-granted": PluginError.NOT_GRANTED,
        "timeout": 504,
        "too-large": 413,
        "invalid-request": PluginError.INVALID_INPUT,
    }

    def __init__(self, kind: str, request: str, message: str):
        super().__init__(self._CODES.get(kind, 502), message, {"kind": kind, "request": request})
        self.kind = kind
        self.request = request


@dataclass
class Response:
    """A response: status, headers (names lower-case, in the order received) and, up to
    the request's ``max_bytes``, the body; ``truncated`` when the body was cut there."""

    status: int
    headers: List[Tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    truncated: bool = False

    def header(self, name: str) -> Optional[str]:
        """The first value of header ``name`` (any case), or None."""
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)

    def text(self) -> str:
        """The body as text (invalid UTF-8 replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; :class:`HttpError` (``invalid-response``) if it is not."""
        try:
            return _json.loads(self.body)
        except ValueError as e:
            raise HttpError("invalid-response", "", f"invalid response: {e}") from None


Body = Union[bytes, bytearray, str, None]


def get(url: str, **options: Any) -> Response:
    """``GET url``; ``options`` as :func:`request` takes them."""
    return request("GET", url, **options)


def post(url: str, **options: Any) -> Response:
    """``POST url``; ``options`` as :func:`request` takes them (``body=`` or ``json=``)."""
    return request("POST", url, **options)


def request(
    method: str,
    url: str,
    *,
    headers: Optional[Mapping[str, str]] = None,
    body: Body = None,
    json: Any = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: Optional[float] = None,
) -> Response:
    """Sends ``method url`` and reads the response.

    ``headers``: name → value (``Host`` and hop-by-hop headers are the host's to set).
    ``body``: bytes or text (UTF-8); or ``json``: any JSON-serialisable value, sent with
    ``content-type: application/json``. ``max_bytes``: most response-body bytes read (the
    rest is dropped and ``truncated`` set). ``timeout``: seconds allowed for connecting, the
    first byte and each later byte (the call's deadline bounds it anyway).
    Raises :class:`HttpError`."""
    method = method.upper()
    what = f"{method} {url}"
    headers = dict(headers or {})
    if json is not None:
        body = _json.dumps(json).encode()
        if not any(k.lower() == "content-type" for k in headers):
            headers["content-type"] = "application/json"
    data = body.encode() if isinstance(body, str) else bytes(body or b"")
    t = _bindings()
    outgoing = _outgoing(t, method, url, headers, len(data))
    request_body = outgoing.body()
    try:
        pending = t.handler.handle(outgoing, _options(t, timeout))
    except t.Err as e:
        raise _failure(what, e.value) from None
    # Child resources are dropped before their parents (the host refuses otherwise), so
    # every handle is closed explicitly, innermost first.
    with pending:
        # If the host refuses the request while its body is written, the write fails on a
        # closed stream; the reason is the response's error, read below.
        _write_body(t, request_body, data)
        with pending.subscribe() as ready:
            ready.block()
        outcome = pending.get()
    if outcome is None or isinstance(outcome, t.Err):
        raise HttpError("connection", what, f"{what} failed: no response")
    if isinstance(outcome.value, t.Err):
        raise _failure(what, outcome.value.value)
    with outcome.value.value as response:
        with response.headers() as fields:
            pairs = [(k.lower(), bytes(v).decode("utf-8", errors="replace")) for k, v in fields.entries()]
        with response.consume() as body_in:
            data_in, truncated = _read_body(t, what, body_in, max_bytes)
        return Response(response.status(), pairs, data_in, truncated)


class _Bindings:
    """The generated ``wasi:http`` bindings, imported on first use."""

    def __init__(self) -> None:
        try:
            from wit_world.imports import outgoing_handler, streams, wasi_http_types
        except ImportError:
            raise PluginError(
                PluginError.INTERNAL,
                "this component was built without wasi:http: import `airlock_sdk.http` at "
                "the top of the plugin module (airlock build adds the import when it sees "
                "it) and rebuild",
            ) from None
        from componentize_py_types import Err, Ok

        self.handler, self.streams, self.types, self.Ok, self.Err = (
            outgoing_handler,
            streams,
            wasi_http_types,
            Ok,
            Err,
        )


_cache: Dict[str, _Bindings] = {}


def _bindings() -> _Bindings:
    if "b" not in _cache:
        _cache["b"] = _Bindings()
    return _cache["b"]


def _outgoing(t: _Bindings, method: str, url: str, headers: Dict[str, str], length: int):
    """The ``wasi:http`` request: method, scheme, authority, path and query, headers (with
    a ``content-length``: servers expect one, and the host checks it against its cap)."""
    what = f"{method} {url}"
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise HttpError("invalid-request", what, f"invalid request: `{url}` is not an absolute http(s) URL")
    schemes = {"http": t.types.Scheme_Http(), "https": t.types.Scheme_Https()}
    if scheme.lower() not in schemes:
        raise HttpError("invalid-request", what, f"invalid request: scheme `{scheme}` is neither http nor https")
    rest = rest.split("#", 1)[0]
    cut = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0], default=len(rest))
    authority, target = rest[:cut], rest[cut:]
    if target.startswith("?"):
        target = "/" + target
    pairs = [(k.lower(), v.encode()) for k, v in headers.items()]
    if not any(k == "content-length" for k, _ in pairs):
        pairs.append(("content-length", str(length).encode()))
    try:
        fields = t.types.Fields.from_list(pairs)
    except t.Err as e:
        raise HttpError("invalid-request", what, f"invalid request: a header is refused: {e.value}") from None
    request = t.types.OutgoingRequest(fields)
    for setter, value, part in (
        (request.set_method, _method(t, method), "method"),
        (request.set_scheme, schemes[scheme.lower()], "scheme"),
        (request.set_authority, authority, "authority"),
        (request.set_path_with_query, target, "path"),
    ):
        try:
            setter(value)
        except t.Err:
            raise HttpError("invalid-request", what, f"invalid request: the host refuses the {part}") from None
    return request


def _method(t: _Bindings, name: str):
    known = {
        "GET": t.types.Method_Get,
        "HEAD": t.types.Method_Head,
        "POST": t.types.Method_Post,
        "PUT": t.types.Method_Put,
        "DELETE": t.types.Method_Delete,
        "CONNECT": t.types.Method_Connect,
        "OPTIONS": t.types.Method_Options,
        "TRACE": t.types.Method_Trace,
        "PATCH": t.types.Method_Patch,
    }
    return known[name]() if name in known else t.types.Method_Other(name)


def _options(t: _Bindings, timeout: Optional[float]):
    if timeout is None:
        return None
    nanos = max(0, int(timeout * 1e9))
    options = t.types.RequestOptions()
    for setter in (options.set_connect_timeout, options.set_first_byte_timeout, options.set_between_bytes_timeout):
        try:
            setter(nanos)
        except t.Err:
            pass
    return options


def _write_body(t: _Bindings, body, data: bytes) -> None:
    """Writes ``data`` (nothing at all for an empty body) and finishes the body; a refusal
    shows up as the response's error, so write failures are not raised here."""
    try:
        with body.write() as stream:
            for i in range(0, len(data), _WRITE_CHUNK):
                stream.blocking_write_and_flush(data[i : i + _WRITE_CHUNK])
    except t.Err:
        pass
    try:
        t.types.OutgoingBody.finish(body, None)
    except t.Err:
        pass


def _read_body(t: _Bindings, what: str, body, cap: int) -> Tuple[bytes, bool]:
    """Reads up to ``cap`` bytes; True when more was there."""
    chunks: List[bytes] = []
    size = 0
    with body.stream() as stream:
        while True:
            room = min(cap - size, _READ_CHUNK)
            try:
                chunk = bytes(stream.blocking_read(room + 1))
            except t.Err as e:
                if isinstance(e.value, t.streams.StreamError_Closed):
                    return b"".join(chunks), False
                with e.value.value as error:
                    code = t.types.http_error_code(error)
                    text = error.to_debug_string()
                raise (_failure(what, code) if code is not None else _body_error(what, text)) from None
            if size + len(chunk) > cap:
                chunks.append(chunk[: cap - size])
                return b"".join(chunks), True
            chunks.append(chunk)
            size += len(chunk)


def _body_error(what: str, text: str) -> HttpError:
    """A failed body read whose ``wasi:io`` error carries no code: wasmtime 48 hands body
    errors to the guest as text only, so the host's two limit failures are recognised by
    their wording (as the Rust SDK does)."""
    lower = text.lower()
    if "body size exceeds limit" in lower:
        return HttpError("too-large", what, f"{what}: a body is larger than the host allows")
    if "timeout" in lower:
        return HttpError("timeout", what, f"{what} timed out")
    return HttpError("connection", what, f"{what} failed: {text}")


def _failure(what: str, code: Any) -> HttpError:
    """The :class:`HttpError` for a ``wasi:http`` ``error-code``."""
    name = type(code).__name__.removeprefix("ErrorCode_")
    if name == "HttpRequestDenied":
        return HttpError(
            "not-granted",
            what,
            f"{what} is not granted: add its URL to `http` in the manifest's [capabilities] "
            "(the operator must allow it too); if it is granted, the operator's [network] "
            "blocklist refuses its address",
        )
    if name in ("ConnectionTimeout", "ConnectionReadTimeout", "ConnectionWriteTimeout", "HttpResponseTimeout", "DnsTimeout"):
        return HttpError("timeout", what, f"{what} timed out")
    if name in ("HttpRequestBodySize", "HttpResponseBodySize"):
        return HttpError("too-large", what, f"{what}: a body is larger than the host allows")
    if name.startswith("Tls"):
        return HttpError("tls", what, f"{what}: TLS failed ({name})")
    if name in ("HttpRequestUriInvalid", "HttpRequestMethodInvalid"):
        return HttpError("invalid-request", what, f"invalid request: {what}: {name}")
    return HttpError("connection", what, f"{what} failed: {name}")
