"""`fetch` in Python: outbound HTTP through the host's `http` capability, with the same
tools and answers as the Rust `fetch` example.

- `fetch {url, max_bytes}`: a GET; the status, content type, a text excerpt and whether it
  was cut, and the `location` of a redirect (never followed: a request to it is checked
  again).
- `request {method, url, headers, body, max_bytes, timeout_ms}`: any method, with the
  response headers too.

A URL the plugin was not granted fails with plugin error 403 (`not granted`), a timeout with
504, a body over the host's cap with 413, TLS and connection failures with 502: the SDK's
`HttpError` is a `PluginError` with those codes."""

from typing import Dict, Optional

from airlock_sdk import Metadata, Plugin, http, tool

#: Bytes of body returned when `max_bytes` is not given.
EXCERPT = 4096


def _fetched(response: http.Response, with_headers: bool) -> dict:
    out = {
        "status": response.status,
        "content_type": response.header("content-type"),
        "location": response.header("location"),
        "text": response.text(),
        "bytes": len(response.body),
        "truncated": response.truncated,
    }
    if with_headers:
        out["headers"] = dict(response.headers)
    return out


class Fetch(Plugin):
    metadata = Metadata(
        name="fetch",
        version="0.1.0",
        author="Airlock examples",
        description="Fetches a URL it was granted and returns its status, type and an excerpt.",
        license="Apache-2.0",
    )

    @tool
    def fetch(self, url: str, max_bytes: Optional[int] = None) -> dict:
        """GET a URL: status, content type, a text excerpt (max_bytes, default 4096)

        Args:
            url: The URL to GET (http or https).
            max_bytes: Read at most this many bytes of the body (default 4096).
        """
        return _fetched(http.get(url, max_bytes=max_bytes or EXCERPT), False)

    @tool
    def request(
        self,
        method: str,
        url: str,
        headers: Optional[Dict[str, str]] = None,
        body: Optional[str] = None,
        max_bytes: Optional[int] = None,
        timeout_ms: Optional[int] = None,
    ) -> dict:
        """Send any HTTP request: method, url, headers, body; returns status, headers and a body excerpt

        Args:
            method: GET, POST, PUT, PATCH, DELETE, HEAD, …
            url: The URL (http or https).
            headers: Request headers.
            body: Request body, sent as UTF-8 text.
            max_bytes: Read at most this many bytes of the body (default 4096).
            timeout_ms: Give up connecting or waiting for bytes after this many milliseconds.
        """
        response = http.request(
            method,
            url,
            headers=headers,
            body=body,
            max_bytes=max_bytes or EXCERPT,
            timeout=None if timeout_ms is None else timeout_ms / 1000,
        )
        return _fetched(response, True)
