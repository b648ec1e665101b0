//! JSON-RPC 2.0 framing, exactly as the specification has it: requests, notifications
//! (no reply), batches, and the reserved error codes. Parsing never fails: a frame that is
//! not valid JSON-RPC becomes the error response the spec prescribes.

use serde::Serialize;
use serde_json::{Value, json};

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// The method does not exist.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// Invalid method parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// Internal error.
pub const INTERNAL_ERROR: i64 = -32603;

/// One request (with an id) or notification (without).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `None` for a notification: it gets no reply, not even an error.
    pub id: Option<Value>,
    pub method: String,
    pub params: Value,
}

impl Request {
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }
}

/// An error object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    pub fn invalid_params(message: impl Into<String>) -> Self {
        RpcError::new(INVALID_PARAMS, message)
    }

    pub fn method_not_found(method: &str) -> Self {
        RpcError::new(METHOD_NOT_FOUND, format!("method not found: {method}"))
    }
}

/// A response: `result` or `error`, for the request's id (`null` when it had none usable).
pub fn response(id: Value, outcome: Result<Value, RpcError>) -> Value {
    match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error}),
    }
}

/// What one frame (one line on stdio, one body over HTTP) holds.
#[derive(Debug)]
pub enum Frame {
    Single(Result<Request, Value>),
    /// A non-empty array; each element is a request or the error response for it.
    Batch(Vec<Result<Request, Value>>),
    /// Not answerable as requests: the error response to send back as it is.
    Invalid(Value),
    /// A response (`result` or `error`, no `method`) from the other side. It is never
    /// answered: this server sends no requests, and answering a response could loop.
    Response,
}

/// Parses one frame of bytes: like [`parse`], but bytes that are not UTF-8 are a parse error
/// (`-32700`), never text with replacement characters in it.
pub fn parse_bytes(bytes: &[u8]) -> Frame {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text),
        Err(e) => {
            let error = RpcError::new(PARSE_ERROR, format!("parse error: invalid UTF-8: {e}"));
            Frame::Invalid(response(Value::Null, Err(error)))
        }
    }
}

/// Parses one frame. Errors come back as ready-made responses with the right code.
pub fn parse(text: &str) -> Frame {
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => {
            let error = RpcError::new(PARSE_ERROR, format!("parse error: {e}"));
            return Frame::Invalid(response(Value::Null, Err(error)));
        }
    };
    match value {
        Value::Array(items) if items.is_empty() => Frame::Invalid(response(
            Value::Null,
            Err(RpcError::new(
                INVALID_REQUEST,
                "invalid request: empty batch",
            )),
        )),
        Value::Array(items) => Frame::Batch(items.into_iter().map(request).collect()),
        single if is_response(&single) => Frame::Response,
        single => Frame::Single(request(single)),
    }
}

/// A response object (spec §5): `jsonrpc` "2.0", an `id`, `result` or `error`, no `method`.
fn is_response(value: &Value) -> bool {
    value.get("jsonrpc") == Some(&json!("2.0"))
        && value.get("method").is_none()
        && value.get("id").is_some()
        && (value.get("result").is_some() || value.get("error").is_some())
}

/// Validates one request object (spec §4): `jsonrpc` exactly "2.0", a string `method`,
/// `params` absent or structured, `id` absent, a string, a number or null.
pub fn request(value: Value) -> Result<Request, Value> {
    let invalid = |id: Value, why: &str| {
        response(
            id,
            Err(RpcError::new(
                INVALID_REQUEST,
                format!("invalid request: {why}"),
            )),
        )
    };
    let Value::Object(mut object) = value else {
        return Err(invalid(Value::Null, "not an object"));
    };
    let id = object.remove("id");
    let id_for_error = match &id {
        Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
        _ => Value::Null,
    };
    if let Some(bad) = id
        .as_ref()
        .filter(|id| !matches!(id, Value::String(_) | Value::Number(_) | Value::Null))
    {
        return Err(invalid(
            Value::Null,
            &format!("id must be a string, a number or null, not {bad}"),
        ));
    }
    if object.get("jsonrpc") != Some(&json!("2.0")) {
        return Err(invalid(id_for_error, "`jsonrpc` must be \"2.0\""));
    }
    let Some(Value::String(method)) = object.remove("method") else {
        return Err(invalid(id_for_error, "`method` must be a string"));
    };
    let params = match object.remove("params") {
        None => Value::Object(Default::default()),
        Some(params @ (Value::Object(_) | Value::Array(_))) => params,
        Some(_) => {
            return Err(invalid(
                id_for_error,
                "`params` must be an object or an array",
            ));
        }
    };
    Ok(Request { id, method, params })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(response: &Value) -> i64 {
        response["error"]["code"].as_i64().unwrap()
    }

    #[test]
    fn frames_are_classified_as_the_spec_says() {
        let Frame::Invalid(r) = parse("{not json") else {
            panic!()
        };
        assert_eq!((code(&r), &r["id"]), (PARSE_ERROR, &Value::Null));
        let Frame::Invalid(r) = parse("[]") else {
            panic!()
        };
        assert_eq!(code(&r), INVALID_REQUEST);
        let Frame::Single(Err(r)) = parse(r#"{"jsonrpc":"1.0","id":7,"method":"x"}"#) else {
            panic!()
        };
        assert_eq!((code(&r), &r["id"]), (INVALID_REQUEST, &json!(7)));
        let Frame::Single(Err(r)) = parse(r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#) else {
            panic!()
        };
        assert_eq!(code(&r), INVALID_REQUEST);
        let Frame::Single(Ok(n)) = parse(r#"{"jsonrpc":"2.0","method":"x"}"#) else {
            panic!()
        };
        assert!(n.is_notification());
        let Frame::Batch(items) =
            parse(r#"[1, {"jsonrpc":"2.0","id":"a","method":"m","params":[1]}]"#)
        else {
            panic!()
        };
        assert!(items[0].is_err() && items[1].is_ok());
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            Frame::Response
        ));
        assert!(matches!(
            parse(r#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m"}}"#),
            Frame::Response
        ));
    }

    #[test]
    fn invalid_utf8_is_a_parse_error() {
        let Frame::Invalid(r) = parse_bytes(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\"}")
        else {
            panic!()
        };
        assert_eq!((code(&r), &r["id"]), (PARSE_ERROR, &Value::Null));
    }
}
