//! A small HTTPS client for the collector's API, trusting the server by its pinned
//! certificate fingerprint: the load generator and the end-to-end tests use it.
//! HTTP/1.1 over rustls (ring), one request at a time per [`Conn`] (keep-alive).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use attest_collector::tls::{fingerprint, normalize_pin, provider};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("building the request: {0}")]
    Request(#[from] hyper::http::Error),
    #[error("{0:?} is not a SHA-256 fingerprint")]
    BadPin(String),
}

/// Trusts exactly the certificate with this SHA-256 fingerprint.
#[derive(Debug)]
struct PinVerifier {
    pin: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if fingerprint(end_entity) == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A response, body read whole.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The `error` code of an error body.
    pub fn error_code(&self) -> Option<String> {
        self.json()
            .get("error")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    }
}

/// A connection's bytes: TLS, or plain TCP for `--insecure-http`.
pub enum Stream {
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Plain(TcpStream),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Where and how to connect.
#[derive(Clone)]
pub struct Client {
    addr: SocketAddr,
    tls: Option<TlsConnector>,
    /// The local address to connect from (e.g. another loopback address, so a test
    /// or the load generator can be several clients).
    local: Option<std::net::IpAddr>,
}

impl Client {
    /// HTTPS, trusting the certificate with this fingerprint.
    pub fn pinned(addr: SocketAddr, pin: &str) -> Result<Client, ClientError> {
        let pin = normalize_pin(pin).ok_or_else(|| ClientError::BadPin(pin.to_owned()))?;
        let provider = provider();
        let mut config = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinVerifier { pin, provider }))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Client {
            addr,
            tls: Some(TlsConnector::from(Arc::new(config))),
            local: None,
        })
    }

    /// Plain HTTP (a collector started with `--insecure-http`).
    pub fn plain(addr: SocketAddr) -> Client {
        Client {
            addr,
            tls: None,
            local: None,
        }
    }

    /// Connects from `ip` (any port): on Linux every 127.x.y.z is the loopback.
    pub fn from_ip(mut self, ip: std::net::IpAddr) -> Client {
        self.local = Some(ip);
        self
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Opens a keep-alive connection.
    pub async fn connect(&self) -> Result<Conn, ClientError> {
        let io = TokioIo::new(self.stream().await?);
        let (sender, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { sender })
    }

    /// The raw byte stream (TLS when pinned), for writing requests by hand: tests that
    /// need a request to stay in flight.
    pub async fn stream(&self) -> Result<Stream, ClientError> {
        let connect_err = |source| ClientError::Connect {
            addr: self.addr,
            source,
        };
        let tcp = match self.local {
            None => TcpStream::connect(self.addr).await.map_err(connect_err)?,
            Some(ip) => {
                let socket = if ip.is_ipv4() {
                    tokio::net::TcpSocket::new_v4()
                } else {
                    tokio::net::TcpSocket::new_v6()
                }
                .map_err(connect_err)?;
                socket.bind(SocketAddr::new(ip, 0)).map_err(connect_err)?;
                socket.connect(self.addr).await.map_err(connect_err)?
            }
        };
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            Some(connector) => {
                let name = ServerName::try_from("localhost")
                    .map_err(|e| ClientError::Tls(e.to_string()))?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| ClientError::Tls(e.to_string()))?;
                Ok(Stream::Tls(Box::new(tls)))
            }
            None => Ok(Stream::Plain(tcp)),
        }
    }

    /// One request on a fresh connection.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<Response, ClientError> {
        let mut conn = self.connect().await?;
        conn.send(method, path, bearer, body.map(Bytes::from)).await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Result<Response, ClientError> {
        self.request(Method::GET, path, bearer, None).await
    }

    pub async fn post(&self, path: &str, body: Vec<u8>) -> Result<Response, ClientError> {
        self.request(Method::POST, path, None, Some(body)).await
    }
}

/// A keep-alive connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Bytes>,
    ) -> Result<Response, ClientError> {
        self.send_with(method, path, bearer, "application/json", &[], body)
            .await
    }

    /// As [`Conn::send`], with the body's `content_type` and more `headers`.
    pub async fn send_with(
        &mut self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        content_type: &str,
        headers: &[(&'static str, &str)],
        body: Option<Bytes>,
    ) -> Result<Response, ClientError> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "localhost");
        if body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, content_type);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(token) = bearer {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let req = req.body(Full::new(body.unwrap_or_default()))?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// Whether the server closed the connection.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}
