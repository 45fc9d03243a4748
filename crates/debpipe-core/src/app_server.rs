//! Which app server runs the app (`app_server`), and the fields that belong
//! to one server only.
//!
//! uWSGI is the default. gunicorn serves WSGI (`wsgi`), and with an ASGI
//! worker (`gunicorn-asgi`) the `asgi` entry point, which `websocket_paths`
//! need. The uWSGI fields with a gunicorn meaning are shared (`processes`,
//! `threads`, `harakiri` as gunicorn's `timeout`, `max_requests`); the
//! others are refused with gunicorn rather than ignored, as are gunicorn's
//! with uWSGI.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::validate::{safe_value, url_prefix, wsgi_entry};

/// The `app_server` field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppServer {
    /// uWSGI, with the app in its master (the seed's).
    #[default]
    Uwsgi,
    /// gunicorn with its threaded WSGI worker.
    Gunicorn,
    /// gunicorn with uvicorn's ASGI worker (`uvicorn_worker.UvicornWorker`).
    GunicornAsgi,
}

impl AppServer {
    /// The name as `app.json` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Uwsgi => "uwsgi",
            Self::Gunicorn => "gunicorn",
            Self::GunicornAsgi => "gunicorn-asgi",
        }
    }

    /// True for the two gunicorn flavours.
    pub fn is_gunicorn(self) -> bool {
        self != Self::Uwsgi
    }

    /// The server's program: `uwsgi` or `gunicorn` (the SysV script and
    /// postinst tell the two apart by it).
    pub fn program(self) -> &'static str {
        if self.is_gunicorn() {
            "gunicorn"
        } else {
            "uwsgi"
        }
    }

    /// The server's name in prose: `uWSGI` or `gunicorn`.
    pub fn display(self) -> &'static str {
        if self.is_gunicorn() {
            "gunicorn"
        } else {
            "uWSGI"
        }
    }
}

/// The server's fields as written: each `None` when absent, so that a
/// field of the other server is refused only when the user wrote it.
#[derive(Debug, Default)]
pub(crate) struct RawServerFields {
    pub app_server: Option<AppServer>,
    pub asgi: Option<String>,
    pub websocket_paths: Option<Vec<String>>,
    pub gunicorn_options: Option<Vec<(String, String)>>,
    /// The uWSGI-only fields the user set, by name.
    pub uwsgi_only: Vec<&'static str>,
}

/// The resolved server fields of [`crate::spec::AppSpec`].
#[derive(Debug)]
pub(crate) struct ServerFields {
    pub app_server: AppServer,
    pub asgi: Option<String>,
    pub websocket_paths: Vec<String>,
    pub gunicorn_options: Vec<(String, String)>,
}

/// gunicorn's settings (27.0) that `gunicorn_options` may set: the rest
/// debpipe sets itself (the socket, the workers, the user, the reload, the
/// logs, the hooks), or they take Python callables, or they would make
/// nginx's view of the socket wrong (TLS, PROXY protocol). gunicorn ignores
/// a misspelt name in its config file, so an unknown one is refused here.
pub const GUNICORN_OPTIONS: &[&str] = &[
    "access_log_format",
    "asgi_disconnect_grace_period",
    "capture_output",
    "casefold_http_method",
    "dogstatsd_tags",
    "enable_backlog_metric",
    "header_map",
    "keepalive",
    "limit_request_field_size",
    "limit_request_fields",
    "limit_request_line",
    "loglevel",
    "max_requests_jitter",
    "permit_obsolete_folding",
    "permit_unconventional_http_method",
    "permit_unconventional_http_version",
    "sendfile",
    "statsd_host",
    "statsd_prefix",
    "strip_header_spaces",
    "syslog",
    "syslog_addr",
    "syslog_facility",
    "syslog_prefix",
    "tmp_upload_dir",
    "websocket_max_message_size",
    "worker_connections",
];

/// The settings gen-gunicorn writes from the spec, or which the guarantees
/// rest on: named in the refusal so the user knows where they come from.
const GUNICORN_OWNED: &[&str] = &[
    "accesslog",
    "bind",
    "backlog",
    "chdir",
    "control_socket_disable",
    "daemon",
    "errorlog",
    "graceful_timeout",
    "group",
    "max_requests",
    "pidfile",
    "preload_app",
    "proc_name",
    "protocol",
    "raw_env",
    "reload",
    "threads",
    "timeout",
    "umask",
    "user",
    "uwsgi_allow_ips",
    "wsgi_app",
    "worker_class",
    "worker_tmp_dir",
    "workers",
];

/// A gunicorn setting name `gunicorn_options` may set.
pub(crate) fn gunicorn_key(v: &str) -> std::result::Result<(), String> {
    if GUNICORN_OPTIONS.contains(&v) {
        return Ok(());
    }
    if GUNICORN_OWNED.contains(&v) {
        return Err(format!(
            "`{v}` is set by debpipe (from the spec, or because the socket, the user or the graceful reload depend on it)"
        ));
    }
    Err(format!(
        "`{v}` is not a gunicorn setting debpipe passes on (gunicorn would ignore a misspelt name): one of {}",
        GUNICORN_OPTIONS.join(", ")
    ))
}

/// For a tool that does not yet write a server's side (its reload, its
/// nginx location): the error naming `app_server` when the spec's server is
/// one of `not_yet`, so that no package is built with uWSGI's files for it.
pub fn not_yet(spec: &crate::spec::AppSpec, tool: &str, not_yet: &[AppServer]) -> Result<()> {
    if not_yet.contains(&spec.app_server) {
        return Err(Error::invalid(
            "app_server",
            format!(
                "{:?}: {tool} does not write its files yet (issue 22 is in progress): use \"uwsgi\" to build a package",
                spec.app_server.name()
            ),
        ));
    }
    Ok(())
}

impl ServerFields {
    pub(crate) fn resolve(raw: RawServerFields) -> Result<Self> {
        let app_server = raw.app_server.unwrap_or_default();
        if app_server.is_gunicorn()
            && let Some(field) = raw.uwsgi_only.first()
        {
            return Err(Error::invalid(
                *field,
                format!(
                    "a uWSGI setting with no gunicorn meaning, and `app_server` is {:?}: remove it (gunicorn's own settings go in `gunicorn_options`)",
                    app_server.name()
                ),
            ));
        }
        if !app_server.is_gunicorn() && raw.gunicorn_options.is_some() {
            return Err(Error::invalid(
                "gunicorn_options",
                "needs `app_server` \"gunicorn\" or \"gunicorn-asgi\" (uWSGI's options go in `uwsgi_options`)",
            ));
        }
        let asgi = match raw.asgi {
            Some(a) if app_server != AppServer::GunicornAsgi => {
                return Err(Error::invalid(
                    "asgi",
                    format!(
                        "served only by `app_server` \"gunicorn-asgi\", and it is {:?}; got {a:?}",
                        app_server.name()
                    ),
                ));
            }
            Some(a) => {
                wsgi_entry(&a).map_err(|r| Error::invalid("asgi", r))?;
                Some(a)
            }
            None if app_server == AppServer::GunicornAsgi => {
                return Err(Error::invalid(
                    "asgi",
                    "must be set with `app_server` \"gunicorn-asgi\": the ASGI entry point `module:application` (e.g. `pro_setting.asgi:application`)",
                ));
            }
            None => None,
        };
        let mut websocket_paths = Vec::new();
        for (i, p) in raw
            .websocket_paths
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let field = format!("websocket_paths[{i}]");
            if asgi.is_none() {
                return Err(Error::invalid(
                    field,
                    "websockets need an ASGI server: set `app_server` \"gunicorn-asgi\" and `asgi`",
                ));
            }
            url_prefix(&p).map_err(|r| Error::invalid(&field, r))?;
            if p == "/" {
                return Err(Error::invalid(
                    field,
                    "must not be `/`: every request would be passed on as a websocket",
                ));
            }
            websocket_paths.push(p);
        }
        let mut gunicorn_options = Vec::new();
        for (i, (k, v)) in raw
            .gunicorn_options
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let field = format!("gunicorn_options[{i}]");
            gunicorn_key(&k).map_err(|r| Error::invalid(&field, r))?;
            safe_value(&v).map_err(|r| Error::invalid(&field, r))?;
            gunicorn_options.push((k, v));
        }
        Ok(Self {
            app_server,
            asgi,
            websocket_paths,
            gunicorn_options,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::AppSpec;
    use std::path::Path;

    fn spec(extra: &str) -> Result<AppSpec> {
        let json = format!(r#"{{"module":"wechat","version":"1.0"{extra}}}"#);
        AppSpec::from_json(Path::new("app.json"), json.as_bytes())
    }

    /// The field and the reason of the error `extra` gets, from its one line
    /// ``app.json: spec field `FIELD`: REASON``.
    fn refused(extra: &str) -> (String, String) {
        let e = spec(extra).expect_err(extra).to_string();
        let rest = e.split_once("spec field `").map(|(_, r)| r);
        let (field, reason) = rest.and_then(|r| r.split_once("`: ")).unwrap_or(("", &e));
        assert!(!field.is_empty(), "{extra}: names no field: {e}");
        (field.to_string(), reason.to_string())
    }

    #[test]
    fn uwsgi_is_the_default_and_keeps_its_paths() {
        let s = spec("").unwrap();
        assert_eq!(s.app_server, AppServer::Uwsgi);
        assert_eq!(s.server_config_path(), "/opt/www/uwsgi/wechat.ini");
        assert_eq!(s.log_dir, "/var/log/uwsgi");
        assert!(
            s.description.contains("served by uWSGI"),
            "{}",
            s.description
        );
    }

    #[test]
    fn gunicorn_shares_the_fields_with_a_gunicorn_meaning() {
        let s = spec(
            r#","app_server":"gunicorn","processes":3,"threads":8,"harakiri":30,"max_requests":500,
            "gunicorn_options":[["keepalive","5"],["limit_request_line","8190"]]"#,
        )
        .unwrap();
        assert_eq!(s.app_server, AppServer::Gunicorn);
        assert_eq!((s.processes, s.threads, s.harakiri), (3, Some(8), 30));
        assert_eq!(s.max_requests, 500);
        assert_eq!(s.gunicorn_options.len(), 2);
        assert_eq!(s.server_config_path(), "/opt/www/gunicorn/wechat.conf.py");
        assert_eq!(s.log_dir, "/var/log/gunicorn");
        assert!(
            s.description.contains("served by gunicorn"),
            "{}",
            s.description
        );
    }

    #[test]
    fn asgi_server_takes_asgi_and_websocket_paths() {
        let s = spec(
            r#","app_server":"gunicorn-asgi","asgi":"pro_setting.asgi:application","websocket_paths":["/ws/"]"#,
        )
        .unwrap();
        assert_eq!(s.app_server, AppServer::GunicornAsgi);
        assert_eq!(s.asgi.as_deref(), Some("pro_setting.asgi:application"));
        assert_eq!(s.websocket_paths, ["/ws/"]);
    }

    #[test]
    fn each_uwsgi_only_field_is_refused_with_gunicorn() {
        for (field, value) in [
            ("gevent", "100"),
            ("socket_timeout", "30"),
            ("reload_mercy", "5"),
            ("buffer_size", "8192"),
            ("limit_as", "512"),
            ("uwsgi_bin", r#""/usr/bin/uwsgi""#),
            ("uwsgi_plugins", r#"["python3"]"#),
            ("uwsgi_options", r#"[["max-fd","1024"]]"#),
            ("uwsgi_ini", r#""/opt/www/uwsgi/x.ini""#),
        ] {
            for server in ["gunicorn", "gunicorn-asgi"] {
                let asgi = if server == "gunicorn-asgi" {
                    r#","asgi":"a.asgi""#
                } else {
                    ""
                };
                let (f, why) = refused(&format!(
                    r#","app_server":"{server}"{asgi},"{field}":{value}"#
                ));
                assert_eq!(f, field);
                assert!(why.contains("no gunicorn meaning"), "{field}: {why}");
            }
            spec(&format!(r#","{field}":{value}"#)).unwrap();
        }
    }

    #[test]
    fn the_other_servers_fields_are_refused() {
        assert_eq!(
            refused(r#","gunicorn_options":[["keepalive","5"]]"#).0,
            "gunicorn_options"
        );
        assert_eq!(refused(r#","asgi":"a.asgi""#).0, "asgi");
        assert_eq!(
            refused(r#","app_server":"gunicorn","asgi":"a.asgi""#).0,
            "asgi"
        );
        assert_eq!(refused(r#","app_server":"gunicorn-asgi""#).0, "asgi");
        assert_eq!(
            refused(r#","app_server":"gunicorn","websocket_paths":["/ws/"]"#).0,
            "websocket_paths[0]"
        );
        assert_eq!(
            refused(r#","app_server":"gunicorn-asgi","asgi":"a.asgi","websocket_paths":["/"]"#).0,
            "websocket_paths[0]"
        );
    }

    #[test]
    fn gunicorn_options_are_allow_listed() {
        for key in [
            "bind",
            "workers",
            "worker_class",
            "daemon",
            "preload_app",
            "user",
            "pidfile",
        ] {
            let (f, why) = refused(&format!(
                r#","app_server":"gunicorn","gunicorn_options":[["{key}","x"]]"#
            ));
            assert_eq!(f, "gunicorn_options[0]");
            assert!(why.contains("set by debpipe"), "{key}: {why}");
        }
        for (k, v) in [
            ("Keep-Alive", "5"),
            ("keep_alive", "5"),
            ("post_fork", "x"),
            ("certfile", "/etc/ssl/a.pem"),
            ("keepalive", "$(id)"),
            ("keepalive", "'x'"),
        ] {
            let (f, _) = refused(&format!(
                r#","app_server":"gunicorn","gunicorn_options":[["{k}","{v}"]]"#
            ));
            assert_eq!(f, "gunicorn_options[0]", "{k}={v}");
        }
    }

    #[test]
    fn an_unknown_server_names_the_field() {
        let e = spec(r#","app_server":"granian""#).unwrap_err().to_string();
        assert!(e.contains("app_server") && e.contains("granian"), "{e}");
    }
}
