//! URLs the worker sends people to or posts to: a tenant's `link_base_url` (the page an
//! emailed link opens) and an app mailer's webhook URL.
//!
//! Both are `https`, or `http` on a loopback host (`127.0.0.1`, `[::1]`, `localhost`) for
//! development (RFC 8252's rule for native apps, which `API.md` adopts). A link is
//! `<link_base_url>?type=<type>&token=<token>`, so a link base carries no query of its own.
//! Parsing is the only way to get a `WebUrl`; nothing here does I/O.

use super::Error;
use serde::Serialize;
use std::fmt;

/// Longest URL accepted.
pub const MAX_URL_BYTES: usize = 2048;

/// Hosts on which plain `http` is allowed.
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "[::1]", "localhost"];

/// An absolute `https` URL, or an `http` URL of a loopback host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct WebUrl(String);

impl WebUrl {
    /// A tenant's link base: no query and no fragment, since links append `?type=…&token=…`.
    pub fn parse_link_base(raw: &str) -> Result<Self, Error> {
        let url = Self::parse(raw, "link_base_url")?;
        if url.0.contains('?') {
            return Err(Error::validation("link_base_url must not have a query"));
        }
        Ok(url)
    }

    /// A mailer's webhook URL (a query is allowed; a fragment is not).
    pub fn parse_webhook(raw: &str) -> Result<Self, Error> {
        Self::parse(raw, "url")
    }

    fn parse(raw: &str, field: &str) -> Result<Self, Error> {
        let invalid = || {
            Error::validation(format!(
                "{field} must be an https URL (or http on 127.0.0.1, [::1] or localhost), \
                 without credentials or fragment, at most {MAX_URL_BYTES} bytes"
            ))
        };
        if raw.len() > MAX_URL_BYTES
            || raw
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '#' || c == '\\')
        {
            return Err(invalid());
        }
        let (scheme, rest) = raw.split_once("://").ok_or_else(invalid)?;
        let scheme = scheme.to_ascii_lowercase();
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(invalid());
        }
        let authority = authority.to_ascii_lowercase();
        let host = host_of(&authority).ok_or_else(invalid)?;
        let allowed = match scheme.as_str() {
            "https" => true,
            "http" => LOOPBACK_HOSTS.contains(&host),
            _ => false,
        };
        if !allowed {
            return Err(invalid());
        }
        Ok(WebUrl(format!("{scheme}://{authority}{path}")))
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads a URL that was checked before it was stored (a row that fails is corrupt).
    pub fn from_stored(raw: &str) -> Option<Self> {
        Self::parse(raw, "stored URL").ok()
    }

    /// The link `<base>?type=<kind>&token=<token>`; `kind` and `token` are URL-safe already.
    pub fn link(&self, kind: &str, token: &str) -> String {
        format!("{}?type={kind}&token={token}", self.0)
    }
}

impl fmt::Display for WebUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The host of an authority (`host[:port]`, `[v6][:port]`), when both parts are well formed.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let inside = &rest[..end];
        let is_v6 = !inside.is_empty()
            && inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        if !is_v6 {
            return None;
        }
        let port = match &rest[end + 1..] {
            "" => None,
            after => Some(after.strip_prefix(':')?),
        };
        (&authority[..end + 2], port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let is_name = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && !host.split('.').any(str::is_empty);
        if !is_name {
            return None;
        }
        (host, port)
    };
    let port_ok = port.is_none_or(|p| {
        p.len() <= 5
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| (1..=65_535).contains(&n))
    });
    port_ok.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_and_http_only_on_loopback() {
        for ok in [
            "https://app.example.com/verify",
            "https://app.example.com",
            "HTTPS://App.Example.com:8443/a/b",
            "http://127.0.0.1:5173/cb",
            "http://localhost/cb",
            "http://[::1]:8080/cb",
        ] {
            assert!(WebUrl::parse_link_base(ok).is_ok(), "{ok} should parse");
        }
        for bad in [
            "http://app.example.com/verify",
            "http://127.0.0.2/",
            "http://localhost.evil.com/",
            "ftp://app.example.com/",
            "https://",
            "https://user:pw@app.example.com/",
            "https://app.example.com/#frag",
            "https://app..example.com/",
            "https://app.example.com:0/",
            "https://app.example.com:99999/",
            "https://app.example.com/ space",
            "https://[::1/",
            "app.example.com/verify",
            "",
        ] {
            assert!(
                WebUrl::parse_link_base(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(
            WebUrl::parse_link_base(&format!("https://a.example/{}", "x".repeat(2048))).is_err()
        );
    }

    #[test]
    fn a_link_base_has_no_query_but_a_webhook_may() {
        assert!(WebUrl::parse_link_base("https://app.example.com/v?x=1").is_err());
        assert!(WebUrl::parse_webhook("https://mail.example.com/hook?k=1").is_ok());
        assert!(WebUrl::parse_webhook("http://mail.example.com/hook").is_err());
    }

    #[test]
    fn scheme_and_host_are_lower_cased_and_links_append_type_and_token() {
        let base = WebUrl::parse_link_base("HTTPS://App.Example.com/Verify").unwrap();
        assert_eq!(base.as_str(), "https://app.example.com/Verify");
        assert_eq!(
            base.link("password_reset", "tsl_abc"),
            "https://app.example.com/Verify?type=password_reset&token=tsl_abc"
        );
        assert_eq!(WebUrl::from_stored(base.as_str()), Some(base));
    }
}
