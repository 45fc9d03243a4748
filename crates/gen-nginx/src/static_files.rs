//! The `static` and `media` directories, served by nginx from `alias`.
//!
//! Static files named the way Django's `ManifestStaticFilesStorage` names
//! them (`app.3f2a9c1b7e4d.css`: a dot, 12 lower-case hex digits, then the
//! extension if any) never change under one name, so they are cached for a
//! year as `immutable`; other static files (the unhashed copies) for a
//! minute, as whitenoise does. `gzip_static` serves a precompressed `.gz`
//! sibling (made at build time) to clients that accept gzip, with `Vary`,
//! also through proxies that add `Via`. Media (uploads) are served as is.
//!
//! nginx's `add_header` in a location replaces the ones inherited from the
//! server: in a snippet, headers the admin adds at server level (HSTS, say)
//! no longer reach the static files; repeat them in the static location.

use std::fmt::Write as _;

use debpipe_core::AppSpec;

/// nginx regex for a manifest-hashed file name (quoted: it has braces).
pub const HASHED_NAME: &str = r#""\.[0-9a-f]{12}(\.[A-Za-z0-9]+)?$""#;

/// `Cache-Control` of manifest-hashed static files.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `Cache-Control` of other static files: an upgrade may change them.
pub const SHORT: &str = "public, max-age=60";

/// The alias locations.
pub fn locations(spec: &AppSpec, ind: &str, out: &mut String) {
    if let Some(s) = &spec.static_files {
        let _ = write!(
            out,
            "{ind}location ^~ {url} {{\n\
             {ind}    alias {dir}/;\n\
             {ind}    gzip_static on;\n\
             {ind}    gzip_vary on;\n\
             {ind}    gzip_proxied any;\n\
             {ind}    add_header Cache-Control \"{SHORT}\";\n\
             {ind}    location ~ {HASHED_NAME} {{\n\
             {ind}        add_header Cache-Control \"{IMMUTABLE}\";\n\
             {ind}    }}\n\
             {ind}}}\n",
            url = s.url,
            dir = s.dir,
        );
    }
    if let Some(m) = &spec.media {
        let _ = write!(
            out,
            "{ind}location ^~ {url} {{\n{ind}    alias {dir}/;\n{ind}}}\n",
            url = m.url,
            dir = m.dir,
        );
    }
}
