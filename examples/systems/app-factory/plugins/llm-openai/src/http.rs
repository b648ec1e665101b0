//! One HTTP exchange over `wasi:http/outgoing-handler` (Airlock's `http` capability): a
//! JSON request, and the response body handed over piece by piece as it arrives, so a
//! server-sent-events stream is read while the server writes it.

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use wasip2::io::streams::StreamError;

/// Sends `method url` with `body` (JSON when not empty) and `bearer` as its
/// `Authorization` when not empty; calls `each` with every piece of the response body, at
/// most `max_bytes` in all. Returns the status, or why the exchange failed (a denial by the
/// host's grant reads `HTTP-request-denied`).
pub fn exchange(
    method: Method,
    url: &str,
    bearer: &str,
    body: &[u8],
    max_bytes: usize,
    mut each: impl FnMut(&[u8]),
) -> Result<u16, String> {
    let request = outgoing(method, url, bearer, body.len())?;
    let outgoing_body = request.body().map_err(|()| "the request body was taken")?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| describe(&e))?;
    let stream = outgoing_body
        .write()
        .map_err(|()| "the request body stream was taken")?;
    // A refusal while the body is written closes the stream; the reason is the response's.
    let _ = body
        .chunks(4096)
        .try_for_each(|chunk| stream.blocking_write_and_flush(chunk));
    drop(stream);
    let _ = OutgoingBody::finish(outgoing_body, None);
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(describe(&code)),
        _ => return Err("no response".into()),
    };
    let status = response.status();
    let incoming = response
        .consume()
        .map_err(|()| "the response body was taken")?;
    read(&incoming, max_bytes, &mut each)?;
    Ok(status)
}

fn outgoing(
    method: Method,
    url: &str,
    bearer: &str,
    length: usize,
) -> Result<OutgoingRequest, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{url}` is not an absolute http(s) URL"))?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(format!("scheme `{other}` is neither http nor https")),
    };
    let split = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let mut headers = vec![
        ("content-type".to_string(), b"application/json".to_vec()),
        (
            "content-length".to_string(),
            length.to_string().into_bytes(),
        ),
    ];
    if !bearer.is_empty() {
        headers.push((
            "authorization".into(),
            format!("Bearer {bearer}").into_bytes(),
        ));
    }
    let fields = Fields::from_list(&headers).map_err(|e| format!("a header is refused: {e:?}"))?;
    let request = OutgoingRequest::new(fields);
    let refused = |what: &str| format!("the host refuses the {what}");
    request
        .set_method(&method)
        .map_err(|()| refused("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| refused("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| refused("authority"))?;
    let path = if path.is_empty() { "/" } else { path };
    request
        .set_path_with_query(Some(path))
        .map_err(|()| refused("path"))?;
    Ok(request)
}

/// Reads `body` to its end, handing each piece to `each`; fails past `max_bytes`.
fn read(body: &IncomingBody, max_bytes: usize, each: &mut impl FnMut(&[u8])) -> Result<(), String> {
    let stream = body.stream().map_err(|()| "the body stream was taken")?;
    let mut total = 0usize;
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(piece) => {
                total += piece.len();
                if total > max_bytes {
                    return Err(format!("the response is over {max_bytes} bytes"));
                }
                each(&piece);
            }
            Err(StreamError::Closed) => return Ok(()),
            Err(StreamError::LastOperationFailed(error)) => return Err(error.to_debug_string()),
        }
    }
}

fn describe(code: &ErrorCode) -> String {
    match code {
        ErrorCode::HttpRequestDenied => {
            "HTTP-request-denied: not granted by the operator's policy".into()
        }
        other => format!("{other:?}"),
    }
}
