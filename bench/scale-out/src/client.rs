//! A small blocking HTTP/1.1 client on one keep-alive connection (`TCP_NODELAY`), with a
//! bearer token: enough for Airlock's REST API, whose answers are JSON with a
//! `Content-Length` (chunked bodies are read too).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

pub struct Client {
    /// `127.0.0.1:PORT`.
    address: String,
    token: String,
    connection: Option<BufReader<TcpStream>>,
}

/// A status and the JSON body (`Null` when empty).
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Client {
    pub fn new(address: &str, token: &str) -> Client {
        Client {
            address: address.to_string(),
            token: token.to_string(),
            connection: None,
        }
    }

    /// One request; on a kept-alive connection the server closed meanwhile, once more on a
    /// new one.
    pub fn request(&mut self, method: &str, path: &str, body: &Value) -> Result<Reply> {
        let body = body.to_string();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.address,
            self.token,
            body.len()
        );
        let reused = self.connection.is_some();
        match self.exchange(&head, &body) {
            Ok(reply) => Ok(reply),
            Err(_) if reused => {
                self.connection = None;
                self.exchange(&head, &body)
            }
            Err(e) => Err(e),
        }
        .with_context(|| format!("{method} http://{}{path}", self.address))
    }

    fn exchange(&mut self, head: &str, body: &str) -> Result<Reply> {
        if self.connection.is_none() {
            let stream = TcpStream::connect(&self.address)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(30)))?;
            self.connection = Some(BufReader::new(stream));
        }
        let connection = self.connection.as_mut().expect("connected");
        let result = (|| {
            let stream = connection.get_mut();
            stream.write_all(format!("{head}{body}").as_bytes())?;
            read_reply(connection)
        })();
        match result {
            Ok((reply, keep_alive)) => {
                if !keep_alive {
                    self.connection = None;
                }
                Ok(reply)
            }
            Err(e) => {
                self.connection = None;
                Err(e)
            }
        }
    }
}

/// Reads one response; whether the connection stays open.
fn read_reply(connection: &mut BufReader<TcpStream>) -> Result<(Reply, bool)> {
    let mut line = String::new();
    if connection.read_line(&mut line)? == 0 {
        bail!("the server closed the connection");
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP status line: {line:?}"))?;
    let mut length = None;
    let mut chunked = false;
    let mut keep_alive = line.starts_with("HTTP/1.1");
    loop {
        line.clear();
        if connection.read_line(&mut line)? == 0 {
            bail!("the server closed the connection in the headers");
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = Some(value.parse::<usize>()?),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "connection" => keep_alive = !value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut bytes = Vec::new();
    if chunked {
        loop {
            line.clear();
            connection.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .with_context(|| format!("bad chunk size {line:?}"))?;
            let mut chunk = vec![0; size + 2];
            connection.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            bytes.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = length {
        bytes.resize(length, 0);
        connection.read_exact(&mut bytes)?;
    } else if !(status == 204 || status == 304 || (100..200).contains(&status)) {
        connection.read_to_end(&mut bytes)?;
        keep_alive = false;
    }
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Ok((Reply { status, body }, keep_alive))
}
