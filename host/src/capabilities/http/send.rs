//! Sending one outgoing request, host side, before any byte leaves: the grant check on the
//! normalised URL and method, one name resolution, the network blocklist on every address
//! it gave, a connection to an address that was checked (so DNS rebinding cannot swap it),
//! TLS with rustls, and the call's limits (timeouts within its deadline, capped bodies,
//! capped concurrency). Redirects are never followed (hyper's connection API has none; the
//! guest sees the 3xx) and no proxy is taken from the environment.

use crate::log_tap::{LogLevel, LogSource};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::pattern::{self, HttpRule, Target, TargetHost};
use crate::capabilities::network::Blocklist;
use crate::log_budget::LogBudget;
use crate::text::escape;

/// Bytes of a request's URL a log line shows.
const SHOWN_URL_BYTES: usize = 1024;

/// Outgoing requests one instance may have open at once; the next is refused with
/// `connection-limit-reached` until one ends.
pub const MAX_IN_FLIGHT: usize = 8;

/// The per-instance hooks `wasi:http` calls to send a request.
pub(crate) struct Hooks {
    /// The running call's log budget: a plugin looping on refused requests cannot flood
    /// the host's log.
    pub(crate) log: LogBudget,
    pub(crate) rules: Arc<[HttpRule]>,
    pub(crate) blocklist: Arc<Blocklist>,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    /// Request and response bodies are each capped at this many bytes.
    pub(crate) body_cap: u64,
    pub(crate) in_flight: Arc<Semaphore>,
    /// When the running call must end; copied in before every host call.
    pub(crate) deadline: Instant,
}

/// A request that passed the grant check: where it goes and what it is sent as.
struct Checked {
    host: String,
    ip: Option<IpAddr>,
    port: u16,
    https: bool,
    /// What the log says when something later refuses it.
    label: String,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_error: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let checked = self.check(&mut request);
        // Taken when the guest sends, not when the task runs: the request past the cap is
        // the one refused, whatever order the tasks are scheduled in.
        let permit = self.in_flight.clone().try_acquire_owned();
        let link = Link {
            log: self.log.clone(),
            blocklist: self.blocklist.clone(),
            tls: self.tls.clone(),
            body_cap: self.body_cap,
            timeouts: Timeouts::within(options, self.deadline),
        };
        Box::new(async move {
            let checked = checked?;
            let permit = permit.map_err(|_| {
                link.warn(
                    &checked.label,
                    &format!("refused: {MAX_IN_FLIGHT} requests of this instance are already open"),
                );
                Error::ConnectionLimitReached
            })?;
            link.send(checked, request, permit).await
        })
    }
}

impl Hooks {
    /// The grant check: the URL is normalised (and rewritten to what was checked), then
    /// matched with its method against the granted entries.
    fn check(&self, request: &mut http::Request<WasiBody>) -> Result<Checked, Error> {
        let uri = request.uri().clone();
        let method = request.method().as_str().to_string();
        let label = shown(&method, &uri.to_string());
        let deny = |why: &str| {
            let tapped =
                crate::text::escape(&format!("http request {label} denied: {why}")).into_owned();
            let (level, source) = (LogLevel::Warn, LogSource::Http);
            if let Some(plugin) = self.log.admit(level, source, &tapped) {
                tracing::warn!(plugin = %plugin, request = %label, "http request denied: {why}");
            }
            Err(Error::HttpRequestDenied)
        };
        let scheme = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => pattern::Scheme::Https,
            Some(s) if s.eq_ignore_ascii_case("http") => pattern::Scheme::Http,
            _ => return deny("the scheme is neither http nor https"),
        };
        let Some(authority) = uri.authority() else {
            return Err(Error::HttpRequestUriInvalid);
        };
        if authority.as_str().contains('@') {
            return deny("the URL carries user info (`user@host`)");
        }
        let Some((host, ip)) = pattern::target_host(authority.host()) else {
            return Err(Error::HttpRequestUriInvalid);
        };
        let port = authority.port_u16().unwrap_or(scheme.default_port());
        let path = match pattern::normalise_path(uri.path()) {
            Ok(path) => path,
            Err(why) => return deny(&why.to_string()),
        };
        let target = Target {
            scheme,
            host: match ip {
                Some(ip) => TargetHost::Ip(ip),
                None => TargetHost::Name(&host),
            },
            port,
            path: &path,
            method: &method,
        };
        if !self.rules.iter().any(|rule| rule.matches(&target)) {
            let fix = missing_grant(&target, &host, &self.log.label());
            return deny(&format!("no http grant covers it; to allow it: {fix}"));
        }
        // Sent as checked: the normalised path, and a Host header that is the authority.
        let path_and_query = match uri.query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        let rewritten = http::Uri::builder()
            .scheme(uri.scheme_str().unwrap_or("https"))
            .authority(authority.as_str())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| Error::HttpRequestUriInvalid)?;
        *request.uri_mut() = rewritten;
        let host_header = http::HeaderValue::from_str(authority.as_str())
            .map_err(|_| Error::HttpRequestUriInvalid)?;
        request
            .headers_mut()
            .insert(http::header::HOST, host_header);
        Ok(Checked {
            host,
            ip,
            port,
            https: scheme == pattern::Scheme::Https,
            label,
        })
    }
}

/// `METHOD URL` as a log line shows it: escaped, the URL cut at [`SHOWN_URL_BYTES`].
fn shown(method: &str, url: &str) -> String {
    let cut = &url[..url.floor_char_boundary(SHOWN_URL_BYTES)];
    let more = if cut.len() < url.len() { "…" } else { "" };
    format!("{} {}{more}", escape(method), escape(cut))
}

/// The manifest and policy entries that would allow `target`, as a denial names them.
fn missing_grant(target: &Target<'_>, host: &str, plugin: &str) -> String {
    let host = match target.host {
        TargetHost::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
        _ => host.to_string(),
    };
    let port = match target.port == target.scheme.default_port() {
        true => String::new(),
        false => format!(":{}", target.port),
    };
    let entry = format!(
        "{{ url = \"{}://{host}{port}{}\", methods = [\"{}\"] }}",
        target.scheme,
        escape(target.path),
        escape(target.method)
    );
    let line = crate::capabilities::policy_setting(plugin, "http", "…");
    let table = line.strip_suffix(" http = …").unwrap_or(&line);
    format!("`http = [{entry}]` in the manifest's [capabilities] and the policy's {table}")
}

/// How long past the call's deadline a request's own timeouts run: the call's timer ends a
/// call whose server never answers first, so the caller sees `DeadlineExceeded` rather than
/// a timeout the plugin might swallow, and no request outlives its call by more than this.
const PAST_DEADLINE: Duration = Duration::from_secs(1);

/// The three timeouts of one request: what the guest asked for, each within what is left
/// of the call's deadline (plus [`PAST_DEADLINE`]).
#[derive(Clone, Copy)]
struct Timeouts {
    connect: Duration,
    first_byte: Duration,
    between_bytes: Duration,
}

impl Timeouts {
    fn within(options: Option<RequestOptions>, deadline: Instant) -> Timeouts {
        let left = deadline.saturating_duration_since(Instant::now()) + PAST_DEADLINE;
        let cap = |asked: Option<Duration>| asked.map_or(left, |a| a.min(left));
        let options = options.unwrap_or_default();
        Timeouts {
            connect: cap(options.connect_timeout),
            first_byte: cap(options.first_byte_timeout),
            between_bytes: cap(options.between_bytes_timeout).max(Duration::from_nanos(1)),
        }
    }
}

/// What sending needs, moved out of the store.
struct Link {
    log: LogBudget,
    blocklist: Arc<Blocklist>,
    tls: Arc<rustls::ClientConfig>,
    body_cap: u64,
    timeouts: Timeouts,
}

impl Link {
    /// Logs `what` happened to `request`, within the call's log budget.
    fn warn(&self, request: &str, what: &str) {
        let tapped = crate::text::escape(&format!("http request {request} {what}")).into_owned();
        if let Some(plugin) = self.log.admit(LogLevel::Warn, LogSource::Http, &tapped) {
            tracing::warn!(plugin = %plugin, request, "http request {what}");
        }
    }

    async fn send(
        self,
        checked: Checked,
        request: http::Request<WasiBody>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<
        (
            http::Response<WasiBody>,
            Box<dyn Future<Output = Result<(), Error>> + Send>,
        ),
        Error,
    > {
        if exceeds(request.headers(), self.body_cap) {
            return Err(Error::HttpRequestBodySize(Some(self.body_cap)));
        }
        let stream = self.connect(&checked).await?;
        let io: Box<dyn Stream> = match checked.https {
            true => Box::new(self.tls_handshake(&checked, stream).await?),
            false => Box::new(stream),
        };
        let (mut sender, conn) = tokio::time::timeout(
            self.timeouts.connect,
            hyper::client::conn::http1::handshake(TokioIo::new(io)),
        )
        .await
        .map_err(|_| Error::ConnectionTimeout)??;
        let request = without_authority(request, self.body_cap);
        let cap = self.body_cap;
        let between = self.timeouts.between_bytes;
        let mut conn = Box::pin(conn);
        let mut conn_done = false;
        let send = tokio::time::timeout(self.timeouts.first_byte, sender.send_request(request));
        tokio::pin!(send);
        // Drive the connection while waiting for the response head.
        let response = std::future::poll_fn(|cx| {
            if let Poll::Ready(result) = send.as_mut().poll(cx) {
                return Poll::Ready(result);
            }
            if !conn_done && let Poll::Ready(result) = conn.as_mut().poll(cx) {
                conn_done = true;
                if let Err(error) = result {
                    return Poll::Ready(Ok(Err(error)));
                }
            }
            Poll::Pending
        })
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;
        if exceeds(response.headers(), cap) {
            return Err(Error::HttpResponseBodySize(Some(cap)));
        }
        let response = response.map(|body| {
            Capped::new(
                body.map_err(Error::from),
                cap,
                Error::HttpResponseBodySize(Some(cap)),
            )
            .between_bytes(between)
            .boxed_unsync()
        });
        let io = async move {
            let _permit = permit;
            if !conn_done {
                conn.await?;
            }
            Ok(())
        };
        Ok((response, Box::new(io) as Box<dyn Future<Output = _> + Send>))
    }

    /// Resolves once (an IP literal is not resolved), drops every address the blocklist
    /// refuses, and connects to the first of the rest that answers.
    async fn connect(&self, checked: &Checked) -> Result<TcpStream, Error> {
        let deadline = tokio::time::Instant::now() + self.timeouts.connect;
        let addresses: Vec<IpAddr> = match checked.ip {
            Some(ip) => vec![ip],
            None => resolve(&checked.host, checked.port, deadline).await?,
        };
        let (allowed, blocked): (Vec<IpAddr>, Vec<IpAddr>) = addresses
            .into_iter()
            .partition(|ip| !self.blocklist.blocks(*ip));
        if allowed.is_empty() {
            let blocked: Vec<String> = blocked.iter().take(4).map(IpAddr::to_string).collect();
            self.warn(&checked.label, &format!(
                "denied: the host resolves only to addresses the policy blocks ({}: private, \
                 loopback, link-local or listed); to exempt one: [network] allow-local = [\"ADDR/32\"]",
                blocked.join(", ")
            ));
            return Err(Error::HttpRequestDenied);
        }
        let mut last = Error::ConnectionRefused;
        for ip in allowed {
            let addr = SocketAddr::new(ip, checked.port);
            match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(error)) => last = Error::Connect(error),
                Err(_) => return Err(Error::ConnectionTimeout),
            }
        }
        Err(last)
    }

    async fn tls_handshake(
        &self,
        checked: &Checked,
        stream: TcpStream,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
        use rustls::pki_types::ServerName;
        let name = match checked.ip {
            Some(ip) => ServerName::from(ip),
            None => {
                ServerName::try_from(checked.host.clone()).map_err(|_| Error::TlsProtocolError)?
            }
        };
        let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
        match tokio::time::timeout(self.timeouts.connect, connector.connect(name, stream)).await {
            Err(_) => Err(Error::ConnectionTimeout),
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(error)) => {
                self.warn(
                    &checked.label,
                    &format!("failed: TLS: {}", escape(&error.to_string())),
                );
                let certificate = error
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<rustls::Error>())
                    .is_some_and(|e| matches!(e, rustls::Error::InvalidCertificate(_)));
                Err(match certificate {
                    true => Error::TlsCertificateError,
                    false => Error::TlsProtocolError,
                })
            }
        }
    }
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// The host's resolver, within the connect timeout.
async fn resolve(
    host: &str,
    port: u16,
    deadline: tokio::time::Instant,
) -> Result<Vec<IpAddr>, Error> {
    match tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, port))).await {
        Err(_) => Err(Error::DnsTimeout),
        Ok(Err(_)) => Err(Error::DnsError {
            rcode: Some("address not available".into()),
            info_code: None,
        }),
        Ok(Ok(addresses)) => Ok(addresses.map(|a| a.ip()).collect()),
    }
}

/// Does a `Content-Length` header announce more than `cap` bytes?
fn exceeds(headers: &http::HeaderMap, cap: u64) -> bool {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|length| length > cap)
}

/// The request as sent on the connection: origin-form target (the authority travels in
/// `Host`), body capped.
fn without_authority(
    request: http::Request<WasiBody>,
    cap: u64,
) -> http::Request<Capped<WasiBody>> {
    let (mut parts, body) = request.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    parts.uri = target
        .parse()
        .unwrap_or_else(|_| http::Uri::from_static("/"));
    http::Request::from_parts(
        parts,
        Capped::new(body, cap, Error::HttpRequestBodySize(Some(cap))),
    )
}

/// A body that ends with `error` past `cap` bytes and, when set, when no frame arrives
/// within `between` of the last.
pub(crate) struct Capped<B> {
    inner: B,
    left: u64,
    error: Option<Error>,
    between: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
}

impl<B> Capped<B> {
    fn new(inner: B, cap: u64, error: Error) -> Self {
        Capped {
            inner,
            left: cap,
            error: Some(error),
            between: None,
        }
    }

    fn between_bytes(mut self, timeout: Duration) -> Self {
        self.between = Some((timeout, Box::pin(tokio::time::sleep(timeout))));
        self
    }
}

impl<B: Body<Data = Bytes, Error = Error> + Unpin> Body for Capped<B> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let size = frame.data_ref().map_or(0, |d| d.len() as u64);
                if size > this.left {
                    this.left = 0;
                    let error = this.error.take().unwrap_or(Error::HttpProtocolError);
                    return Poll::Ready(Some(Err(error)));
                }
                this.left -= size;
                if let Some((timeout, sleep)) = &mut this.between {
                    sleep.as_mut().reset(tokio::time::Instant::now() + *timeout);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                let idle = match &mut this.between {
                    Some((_, sleep)) => sleep.as_mut().poll(cx).is_ready(),
                    None => false,
                };
                match idle {
                    true => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                    false => Poll::Pending,
                }
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
