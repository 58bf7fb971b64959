//! The agent console at `/console/`: plain ES modules and CSS compiled into the binary, so
//! building Omni needs no Node.js and running it fetches nothing. The console talks to the
//! same public API and WebSocket as any other agent UI.

use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, guard, web};

use crate::error::ApiError;

/// One file of the console.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal => $content_type:expr),+ $(,)?) => {
        &[$(Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $path)),
        }),+]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "app.js" => JS,
    "api.js" => JS,
    "live.js" => JS,
    "i18n.js" => JS,
    "ui.js" => JS,
    "login.js" => JS,
    "inbox.js" => JS,
    "conversation.js" => JS,
    "admin.js" => JS,
    "vendor/preact.mjs" => JS,
    "vendor/hooks.mjs" => JS,
    "vendor/htm.mjs" => JS,
    "vendor/LICENSES.txt" => "text/plain; charset=utf-8",
};

/// The console's policy: its own scripts and styles only (no inline code), its own API
/// and WebSocket, and pictures fetched with the agent's token and shown as `blob:` URLs.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// An entity tag per file, computed once: the files only change with the binary.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                // SipHash with fixed keys: the same bytes give the same tag in every
                // instance behind a load balancer.
                let mut h = std::hash::DefaultHasher::new();
                a.body.hash(&mut h);
                format!("\"{:016x}\"", h.finish())
            })
            .collect()
    })
}

/// `/console` without the slash: the page's relative module paths need it.
pub async fn to_index() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/console/"))
        .finish()
}

/// A file of the console; `/console/` is its page.
pub async fn asset(req: HttpRequest, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let wanted = path.into_inner();
    let wanted = if wanted.is_empty() {
        "index.html"
    } else {
        wanted.as_str()
    };
    let Some((i, asset)) = ASSETS.iter().enumerate().find(|(_, a)| a.path == wanted) else {
        return Err(ApiError::NotFound);
    };
    let tag = &etags()[i];
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, tag.as_str()))
        // Asked again on every load: a new binary's console is picked up at once.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ));
    if fresh {
        return Ok(res.finish());
    }
    Ok(res.content_type(asset.content_type).body(asset.body))
}

/// Mounts `/console` and its files, for GET and HEAD (a proxy's or a monitor's check).
pub fn configure(cfg: &mut web::ServiceConfig) {
    let read = || web::route().guard(guard::Any(guard::Get()).or(guard::Head()));
    cfg.route("/console", read().to(to_index))
        .route("/console/{path:.*}", read().to(asset));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_served() {
        // A file the console imports but this table forgets would 404 in the browser only.
        let served: Vec<&str> = ASSETS.iter().map(|a| a.path).collect();
        for asset in ASSETS.iter().filter(|a| a.content_type == JS) {
            let text = std::str::from_utf8(asset.body).unwrap();
            for part in text.split("from").skip(1) {
                let part = part.trim_start();
                let Some(quote) = part.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                    continue;
                };
                let Some(end) = part[1..].find(quote) else {
                    continue;
                };
                let spec = &part[1..1 + end];
                if !spec.starts_with("./") && !spec.starts_with("../") {
                    continue;
                }
                let dir = asset.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let resolved = parts.join("/");
                assert!(
                    served.contains(&resolved.as_str()),
                    "{} imports {spec}, which is not served",
                    asset.path
                );
            }
        }
    }
}
