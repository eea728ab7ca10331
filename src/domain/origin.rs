//! Origins and URLs the deployment is configured with or trusts: the public origin of the
//! deployment (the base of every issuer), and the `https`-or-loopback rule of `API.md` for
//! addresses the worker sends browsers or requests to (RFC 8252 allows plain `http` on a
//! loopback host for development and native apps).

use super::Error;

/// True for `127.0.0.1`, `[::1]` and `localhost` (with or without a port).
pub fn is_loopback_host(host: &str) -> bool {
    let host = match host.rsplit_once(':') {
        // `[::1]:8787` or `127.0.0.1:8787`; a bare `[::1]` has its colons inside brackets.
        Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(host, "127.0.0.1" | "[::1]" | "localhost")
}

/// The public origin of the deployment: `https://host[:port]`, or `http://` on a loopback
/// host; no path, query or fragment (a trailing `/` is dropped). Anything else is refused.
pub fn parse_origin(raw: &str) -> Result<String, Error> {
    let bad = || {
        Error::validation(
            "an origin is https://host[:port], or http:// on 127.0.0.1, [::1] or localhost",
        )
    };
    let raw = raw.trim().trim_end_matches('/');
    let (scheme, host) = raw.split_once("://").ok_or_else(bad)?;
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
        })
        && !host.starts_with(['.', '-', ':']);
    if !host_ok {
        return Err(bad());
    }
    match scheme {
        "https" => Ok(format!("https://{host}")),
        "http" if is_loopback_host(host) => Ok(format!("http://{host}")),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_https_or_loopback_http_without_a_path() {
        assert_eq!(
            parse_origin("https://auth.example.com/").unwrap(),
            "https://auth.example.com"
        );
        assert_eq!(
            parse_origin("https://auth.example.com:8443").unwrap(),
            "https://auth.example.com:8443"
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:8787").unwrap(),
            "http://127.0.0.1:8787"
        );
        assert_eq!(
            parse_origin("http://[::1]:8787").unwrap(),
            "http://[::1]:8787"
        );
        assert_eq!(
            parse_origin("http://localhost").unwrap(),
            "http://localhost"
        );
        for bad in [
            "",
            "auth.example.com",
            "http://auth.example.com",
            "https://auth.example.com/path",
            "https://auth.example.com?q=1",
            "https://Auth.Example.com",
            "https://user@auth.example.com",
            "ftp://auth.example.com",
            "http://127.0.0.1.evil.com",
            "http://localhost.evil.com",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad:?}");
        }
    }
}
