//! The operators' console at `/console/`: a single-page app built from `console/` (`make
//! console`) into static assets, served through the Workers assets binding `ASSETS`, with the
//! headers that let a page hold an operator token safely: a strict Content-Security-Policy
//! (scripts, styles and requests of this origin only, no inline code, Trusted Types enforced,
//! no framing, no form submission), no referrer, no sniffing.
//!
//! `wrangler.toml` sends every request to the worker first (`run_worker_first`), so these
//! headers are on every console response and the route table stays the one list of paths. The
//! header policy is pure and tested natively; serving it is wasm32 only.

/// The console's Content-Security-Policy. The app (`console/`) is built so that it needs
/// nothing more: one module script and one stylesheet of this origin, no inline script or
/// style, no `data:` URL, no third-party origin; it calls only `/admin` on this origin and
/// never assigns HTML as a string (Trusted Types with no policy at all).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; manifest-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'; \
     require-trusted-types-for 'script'; trusted-types 'none'";

/// What a console path serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleFile {
    /// `/console/`: the page itself. Revalidated on every load, so a new deployment's page
    /// (which names new asset files) is picked up at once.
    Page,
    /// `/console/assets/{file}`: a script, stylesheet or icon whose name carries a hash of its
    /// content, so it may be cached for good.
    Asset,
}

/// The headers the worker sets on a console response (over whatever the assets binding sent).
pub fn security_headers(file: ConsoleFile) -> [(&'static str, &'static str); 9] {
    [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        (
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        (
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        ),
        (
            "Cache-Control",
            match file {
                // The page may be opened by an emailed link whose token is in its query: no
                // copy of it is kept anywhere.
                ConsoleFile::Page => "no-store",
                ConsoleFile::Asset => "public, max-age=31536000, immutable",
            },
        ),
    ]
}

#[cfg(target_arch = "wasm32")]
pub use serve::{redirect, serve};

#[cfg(target_arch = "wasm32")]
mod serve {
    use super::{security_headers, ConsoleFile};
    use crate::domain::Error;
    use worker::{Env, Headers, Request, Response};

    /// `GET /console` — `308` to `/console/`, where the page's relative asset paths resolve.
    pub fn redirect() -> Result<Response, Error> {
        let headers = Headers::new();
        headers.set("Location", "/console/")?;
        Ok(Response::empty()?.with_status(308).with_headers(headers))
    }

    /// `GET /console/` and `GET /console/assets/{file}` — the file from the assets binding
    /// (conditional requests answered by it too), with the console's security headers. A file
    /// the build did not make is `404 not_found`; a deployment without the binding says so.
    pub async fn serve(env: &Env, req: Request, file: ConsoleFile) -> Result<Response, Error> {
        let assets = crate::http::context::console_assets(env).ok_or_else(|| {
            Error::NotFound("this deployment serves no console (no ASSETS binding)".to_owned())
        })?;
        let fetched = assets.fetch_request(req).await?;
        if fetched.status_code() == 404 {
            return Err(Error::RouteNotFound);
        }
        // A fetched response's headers are immutable: copy them into new ones.
        let headers = Headers::new();
        for (name, value) in fetched.headers().entries() {
            headers.append(&name, &value)?;
        }
        for (name, value) in security_headers(file) {
            headers.set(name, value)?;
        }
        // Only a file's own content may be kept for a year: a redirect or an error of the
        // assets binding is not.
        let status = fetched.status_code();
        if file == ConsoleFile::Asset && !matches!(status, 200 | 304) {
            headers.set("Cache-Control", "no-store")?;
        }
        Ok(fetched.with_headers(headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directive<'a>(name: &str) -> Vec<&'a str> {
        CONTENT_SECURITY_POLICY
            .split(';')
            .map(str::trim)
            .find_map(|d| d.strip_prefix(name).map(|v| v.split_whitespace().collect()))
            .unwrap_or_else(|| panic!("the policy has no {name}"))
    }

    #[test]
    fn the_policy_admits_only_this_origin_and_no_inline_code() {
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"));
        assert!(!CONTENT_SECURITY_POLICY.contains("data:"));
        assert!(!CONTENT_SECURITY_POLICY.contains("http"));
        assert!(!CONTENT_SECURITY_POLICY.contains('*'));
        assert_eq!(directive("default-src "), ["'none'"]);
        for fetched in ["script-src ", "style-src ", "connect-src ", "img-src "] {
            assert_eq!(directive(fetched), ["'self'"], "{fetched}");
        }
        assert_eq!(directive("frame-ancestors "), ["'none'"]);
        assert_eq!(directive("form-action "), ["'none'"]);
        assert_eq!(directive("require-trusted-types-for "), ["'script'"]);
    }

    #[test]
    fn only_hashed_assets_are_cached_for_good() {
        let cache = |file| {
            security_headers(file)
                .into_iter()
                .find(|(name, _)| *name == "Cache-Control")
                .map(|(_, value)| value)
        };
        assert_eq!(cache(ConsoleFile::Page), Some("no-store"));
        assert_eq!(
            cache(ConsoleFile::Asset),
            Some("public, max-age=31536000, immutable")
        );
        assert!(security_headers(ConsoleFile::Page).contains(&("X-Frame-Options", "DENY")));
    }
}
