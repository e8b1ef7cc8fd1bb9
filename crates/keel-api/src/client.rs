//! A minimal HTTP/1.1 client for keeld's API on its Unix socket (one request per connection).
//!
//! It sits below its users, the CLI (`keel show`, `keel check`) and the restart rehearsal
//! (`keel lab` polls the keeld under test), so none has to reach into another. [`request`]
//! answers the JSON as it came (what `--json` prints); [`get`] and [`parse`] read it as one of
//! this crate's types.

use crate::answer::ErrorBody;
use anyhow::{anyhow, bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default API socket (`[global] api` in the default configuration).
pub const DEFAULT_API: &str = "/run/keel/keel.sock";

/// BGP's TCP port, 179 (RFC 4271: BGP listens on TCP port 179).
pub const BGP_PORT: u16 = 179;

/// How far keeld moves a privileged listen port (below 1024) when it does not run as root and
/// starts with the embedded default.
pub const UNPRIVILEGED_PORT_OFFSET: u16 = 1000;

/// BGP's port without root: 1179. A non-root keeld with the embedded default listens here, and
/// `keel lab` and `keel bench` run keeld here when they are not root.
pub const UNPRIVILEGED_BGP_PORT: u16 = BGP_PORT + UNPRIVILEGED_PORT_OFFSET;

/// The port keeld listens on instead of `port` without root: a privileged port (below 1024)
/// moves up by [`UNPRIVILEGED_PORT_OFFSET`], so [`BGP_PORT`] becomes [`UNPRIVILEGED_BGP_PORT`].
pub fn unprivileged_port(port: u16) -> u16 {
    if port < 1024 {
        port + UNPRIVILEGED_PORT_OFFSET
    } else {
        port
    }
}

/// BGP's port for a process that is root ([`BGP_PORT`]) or not ([`UNPRIVILEGED_BGP_PORT`]).
pub fn bgp_port(root: bool) -> u16 {
    if root {
        BGP_PORT
    } else {
        UNPRIVILEGED_BGP_PORT
    }
}

/// Where keeld keeps its API socket and state when it runs on the embedded default and may not
/// write the system paths (/run/keel, /var/lib/keel): `keel-UID` in the temporary directory.
/// keeld and `keel` both take it from here, so they agree.
pub fn unprivileged_dir(uid: u32) -> PathBuf {
    std::env::temp_dir().join(format!("keel-{uid}"))
}

/// The socket: `--api`, else `$KEEL_API`, else the first of these that is there: the default
/// (`/run/keel/keel.sock`), `$XDG_RUNTIME_DIR/keel/keel.sock`, keeld's non-root fallback
/// ([`unprivileged_dir`]); else the default.
pub fn api_path(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag.map(Path::to_path_buf).or_else(|| std::env::var_os("KEEL_API").map(PathBuf::from)) {
        return p;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let candidates = [
        Some(PathBuf::from(DEFAULT_API)),
        std::env::var_os("XDG_RUNTIME_DIR").map(|d| PathBuf::from(d).join("keel/keel.sock")),
        Some(unprivileged_dir(uid).join("keel.sock")),
    ];
    candidates.into_iter().flatten().find(|p| p.exists()).unwrap_or_else(|| PathBuf::from(DEFAULT_API))
}

/// Sends `method path` and returns the JSON body; a non-2xx status becomes an error holding
/// the API's `error` message.
pub fn request(api: &Path, method: &str, path: &str) -> Result<Value> {
    let mut s = UnixStream::connect(api)
        .with_context(|| format!("cannot reach keeld at {} (is it running? set --api or KEEL_API)", api.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: keel\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| anyhow!("malformed HTTP response"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("malformed HTTP status line"))?;
    if head.lines().any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding: chunked")) {
        body = dechunk(&body)?;
    }
    let value: Value = serde_json::from_slice(&body).context("API answered with something that is not JSON")?;
    if (200..300).contains(&status) {
        return Ok(value);
    }
    let message = ErrorBody::deserialize(&value).map_or_else(|_| "request failed".to_string(), |e| e.error);
    if status == 403 {
        // The API socket's permission check (issue 16): say so, not only what was refused.
        bail!("keeld refused this request (permission denied): {message}");
    }
    bail!("{message}")
}

/// `GET path`, read as a `T` ([`parse`]).
pub fn get<T: DeserializeOwned>(api: &Path, path: &str) -> Result<T> {
    parse("GET", path, request(api, "GET", path)?)
}

/// Reads the answer to `method path` as a `T`. A document that is not one (from a keeld older
/// or newer than this keel) is an error naming the request and the field, such as
/// ``GET /v1/status: keeld's answer is not what this keel expects: missing field `pid` ``.
pub fn parse<T: DeserializeOwned>(method: &str, path: &str, value: Value) -> Result<T> {
    T::deserialize(value).with_context(|| format!("{method} {path}: keeld's answer is not what this keel expects"))
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n").ok_or_else(|| anyhow!("bad chunk"))?;
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..line_end]).trim(), 16)?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = b.get(..size).ok_or_else(|| anyhow!("truncated chunk"))?;
        out.extend_from_slice(chunk);
        b = b.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StatusView;

    /// A document without a field this keel needs: an error naming the request and the field.
    #[test]
    fn parse_names_the_request_and_the_field() {
        let partial = serde_json::json!({"asn": 65001, "neighbors": 1});
        let e = parse::<StatusView>("GET", "/v1/status", partial).expect_err("partial status");
        let text = format!("{e:#}");
        assert!(text.starts_with("GET /v1/status: keeld's answer is not what this keel expects"), "{text}");
        assert!(text.contains("missing field"), "{text}");
    }

    /// One unprivileged BGP port: keeld's non-root fallback and the lab's and bench's keeld.
    #[test]
    fn unprivileged_bgp_port_is_bgps_moved_up() {
        assert_eq!(UNPRIVILEGED_BGP_PORT, 1179);
        assert_eq!(unprivileged_port(BGP_PORT), UNPRIVILEGED_BGP_PORT);
        assert_eq!(unprivileged_port(1790), 1790, "unprivileged ports stay");
        assert_eq!((bgp_port(true), bgp_port(false)), (179, 1179));
    }
}
