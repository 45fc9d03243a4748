//! The app spec (`app.json`): one JSON document that describes an app.
//!
//! Only `module` and `version` are required; everything else defaults to the
//! seed's conventions, derived from `module`. [`AppSpec::from_json`] parses,
//! fills in the defaults and validates every value that ends up in an ini
//! file, an nginx config, a shell script, a systemd unit or a control file;
//! an [`AppSpec`] cannot be had any other way, so tools never see an
//! unvalidated one.
//!
//! Values that reach those formats are checked against allow-lists
//! ([`crate::validate`]) rather than escaped: uWSGI's ini has no escape at all (`%x`, `$(VAR)`, `@(file)`
//! and `@(exec://cmd)` expand inside any value), nginx cannot escape `$`, and
//! systemd expands `%` and `$`. So paths, names and option values are limited
//! to characters that mean nothing in any of them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use crate::app_server::AppServer;
use crate::app_server::{RawServerFields, ServerFields};
use crate::error::{Error, Result};
pub use crate::jobs::{Daemon, Schedule, Timer};
use crate::jobs::{RawDaemon, RawTimer};

pub use crate::validate::{
    abs_path, architecture, debian_version, dotted_identifier, package_name, python_identifier,
    relation, safe_value,
};
use crate::validate::{
    allowed_host, cidr, description, env_name, homepage, listen, maintainer, nginx_size,
    plugin_name, priority, python_project, rel_path, section, server_name, synopsis_for,
    url_prefix, user_name, uwsgi_key, wsgi_entry,
};

/// A URL prefix served by nginx straight from a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alias {
    /// URL prefix, starting and ending with `/` (e.g. `/static/`).
    pub url: String,
    /// Absolute directory the prefix maps to.
    pub dir: String,
}

/// `static` or `media` as written: the directory may be left to its default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlias {
    url: String,
    dir: Option<String>,
}

/// Ask for a whole nginx `server` block instead of a location snippet.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// `listen` argument: a port, `ADDR:PORT` or `[V6]:PORT`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// `server_name` values; `_` matches any host.
    #[serde(default = "default_server_names")]
    pub server_name: Vec<String>,
    /// Serve HTTPS on 443 with this certificate and key, and redirect port
    /// 80 to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
}

/// `server.tls`: the certificate chain and key nginx serves HTTPS with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// PEM certificate chain (absolute path on the server).
    pub certificate: String,
    /// PEM private key (absolute path on the server).
    pub key: String,
}

fn default_listen() -> String {
    "80".into()
}
fn default_server_names() -> Vec<String> {
    vec!["_".into()]
}

/// The spec as written by the user: everything optional but the two required
/// fields; unknown fields are an error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    module: String,
    version: String,
    package: Option<String>,
    description: Option<String>,
    maintainer: Option<String>,
    homepage: Option<String>,
    section: Option<String>,
    priority: Option<String>,
    architecture: Option<String>,
    depends: Option<Vec<String>>,
    build_depends: Option<Vec<String>>,
    app_dir: Option<String>,
    venv: Option<String>,
    user: Option<String>,
    group: Option<String>,
    wsgi: Option<String>,
    settings: Option<String>,
    config_hook: Option<String>,
    processes: Option<u32>,
    threads: Option<u32>,
    gevent: Option<u32>,
    harakiri: Option<u32>,
    socket_timeout: Option<u32>,
    reload_mercy: Option<u32>,
    max_requests: Option<u32>,
    buffer_size: Option<u32>,
    limit_as: Option<u32>,
    uwsgi_bin: Option<String>,
    uwsgi_plugins: Option<Vec<String>>,
    uwsgi_options: Option<Vec<(String, String)>>,
    env: Option<BTreeMap<String, String>>,
    location: Option<String>,
    client_max_body_size: Option<String>,
    #[serde(rename = "static")]
    static_files: Option<RawAlias>,
    media: Option<RawAlias>,
    server: Option<Server>,
    log_dir: Option<String>,
    uwsgi_ini: Option<String>,
    allowed_hosts: Option<Vec<String>>,
    state_dir: Option<String>,
    migrate: Option<bool>,
    collectstatic: Option<bool>,
    mount: Option<bool>,
    writable_paths: Option<Vec<String>>,
    allow_write_execute: Option<bool>,
    recommends: Option<Vec<String>>,
    suggests: Option<Vec<String>>,
    build_commands: Option<Vec<Vec<String>>>,
    release_commands: Option<Vec<Vec<String>>>,
    project_dir: Option<String>,
    python_path: Option<Vec<String>>,
    build_env: Option<BTreeMap<String, Option<String>>>,
    env_file: Option<String>,
    daemons: Option<BTreeMap<String, RawDaemon>>,
    timers: Option<BTreeMap<String, RawTimer>>,
    trusted_proxies: Option<Vec<String>>,
    no_binary: Option<Vec<String>>,
    private_config: Option<Vec<String>>,
    app_server: Option<AppServer>,
    asgi: Option<String>,
    websocket_paths: Option<Vec<String>>,
    gunicorn_options: Option<Vec<(String, String)>>,
}

/// A validated app spec with every default filled in (serialized by
/// `appspec check`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[allow(clippy::struct_excessive_bools)] // each is a yes/no field of app.json
#[non_exhaustive]
pub struct AppSpec {
    /// Python app name, e.g. `wechat`.
    pub module: String,
    /// Debian version of the package, e.g. `1.0.0-1`.
    pub version: String,
    /// Debian package name; default `<module>-api` (`_` becomes `-`).
    pub package: String,
    /// Synopsis line, then the long description (may be empty).
    pub description: String,
    /// `Name <email>` from the spec; see [`AppSpec::maintainer`] for the
    /// fallback on `DEBFULLNAME`/`DEBEMAIL`.
    pub maintainer: Option<String>,
    /// Project URL.
    pub homepage: Option<String>,
    /// Debian section; default `web`.
    pub section: String,
    /// Debian priority; default `optional`.
    pub priority: String,
    /// Debian architecture; `None` lets gen-control decide from mkvenv's facts.
    pub architecture: Option<String>,
    /// Extra Debian dependency relations.
    pub depends: Vec<String>,
    /// `Recommends` relations (e.g. the database server).
    pub recommends: Vec<String>,
    /// `Suggests` relations.
    pub suggests: Vec<String>,
    /// Debian packages the build root needs to build the app's wheels
    /// (e.g. `libpq-dev`): `make DIST=...` installs them there.
    pub build_depends: Vec<String>,
    /// Where the Django project is installed; default `/opt/www/<module>`.
    pub app_dir: String,
    /// The virtualenv's install path; default `/opt/www/venvs/<package>`.
    pub venv: String,
    /// User the service runs as; default a system user named after the
    /// package (never nginx's `www-data`, which could then read the secrets).
    pub user: String,
    /// Group the service runs as, owning the state directory and `env_file`;
    /// default `user`. nginx reaches the socket through its group
    /// ([`AppSpec::SOCKET_GROUP`]), not this one.
    pub group: String,
    /// The app server: uWSGI (the default), gunicorn, or gunicorn with an
    /// ASGI worker ([`crate::app_server`]).
    pub app_server: AppServer,
    /// WSGI entry point `module[:callable]`; default `pro_setting.wsgi:application`.
    pub wsgi: String,
    /// ASGI entry point `module[:callable]`, served by `gunicorn-asgi`.
    pub asgi: Option<String>,
    /// URL prefixes nginx passes on as websockets (`Upgrade`), with long
    /// timeouts; ASGI only.
    pub websocket_paths: Vec<String>,
    /// Extra gunicorn settings, in order, as its config file names them.
    pub gunicorn_options: Vec<(String, String)>,
    /// Django settings module; default `pro_setting.settings`.
    pub settings: String,
    /// Script (relative to `app_dir`) that postinst runs with the venv's python.
    pub config_hook: Option<String>,
    /// uWSGI worker processes; default 4.
    pub processes: u32,
    /// Threads per worker (exclusive with `gevent`).
    pub threads: Option<u32>,
    /// gevent async cores (exclusive with `threads`).
    pub gevent: Option<u32>,
    /// Seconds before uWSGI kills a stuck worker; default 60.
    pub harakiri: u32,
    /// uWSGI socket-timeout; default 300.
    pub socket_timeout: u32,
    /// uWSGI reload-mercy; default 10.
    pub reload_mercy: u32,
    /// uWSGI max-requests; default 10000.
    pub max_requests: u32,
    /// uWSGI buffer-size; default 30000.
    pub buffer_size: u32,
    /// uWSGI limit-as in MB (off by default: it starves threads).
    pub limit_as: Option<u32>,
    /// The uWSGI binary; default `<venv>/bin/uwsgi`.
    pub uwsgi_bin: String,
    /// uWSGI plugins to load first (for Debian's modular uwsgi, e.g. `python3`).
    pub uwsgi_plugins: Vec<String>,
    /// Extra uWSGI options, in order, keys may repeat.
    pub uwsgi_options: Vec<(String, String)>,
    /// Environment of the app, sorted by name.
    pub env: Vec<(String, String)>,
    /// nginx location prefix; default `/api/<module>/`.
    pub location: String,
    /// nginx `client_max_body_size`; default `10m`.
    pub client_max_body_size: String,
    /// Static files alias.
    #[serde(rename = "static")]
    pub static_files: Option<Alias>,
    /// Media files alias.
    pub media: Option<Alias>,
    /// Whole nginx server block wanted.
    pub server: Option<Server>,
    /// Log directory (used by the SysV script); default `/var/log/uwsgi`, or
    /// `/var/log/gunicorn` with gunicorn.
    pub log_dir: String,
    /// Install path of the uWSGI ini; default `/opt/www/uwsgi/<module>.ini`
    /// (the seed's).
    pub uwsgi_ini: String,
    /// Hosts Django serves, added to the project's `ALLOWED_HOSTS`; default
    /// `server.server_name` (`_` meaning any host, `*`), else none.
    pub allowed_hosts: Vec<String>,
    /// The service's writable state (`SQLite` databases, uploads, the secret
    /// key); default `/var/lib/<package>`. Made by postinst, removed on purge.
    pub state_dir: String,
    /// Run `migrate --noinput` as the service user in postinst; default false.
    pub migrate: bool,
    /// Collect static files at build time when `static` is set and the
    /// project uses `django.contrib.staticfiles`; default true.
    pub collectstatic: bool,
    /// Mount the app under `location` (uWSGI sets `SCRIPT_NAME`), so a
    /// project whose URLs start at `/` works under a prefix; default false.
    pub mount: bool,
    /// Paths the hardened unit may write besides its runtime and state
    /// directories (and `media.dir`); default none.
    pub writable_paths: Vec<String>,
    /// Allow memory that is writable and executable (cffi callbacks, some
    /// JITs need it); default false: `MemoryDenyWriteExecute=yes`.
    pub allow_write_execute: bool,
    /// Django management commands run at build time, in order, after
    /// collectstatic (e.g. `compress --force`).
    pub build_commands: Vec<Vec<String>>,
    /// Django management commands postinst runs after the preflight and
    /// `migrate`, before the reload.
    pub release_commands: Vec<Vec<String>>,
    /// Directory under `app_dir` holding `manage.py` and the project's
    /// packages (the import root); default `.`.
    pub project_dir: String,
    /// Extra directories on the app's import path, at run and build time.
    pub python_path: Vec<String>,
    /// Environment of the build steps, merged over `env` (`None` removes a
    /// variable), sorted by name.
    pub build_env: Vec<(String, Option<String>)>,
    /// The operator's configuration (`KEY=VALUE` lines), read by every
    /// process of the app; default `/etc/<package>/<package>.env`.
    pub env_file: String,
    /// Long-running companions, sorted by name.
    pub daemons: Vec<Daemon>,
    /// Periodic commands, sorted by name.
    pub timers: Vec<Timer>,
    /// CIDRs of proxies in front of nginx whose `X-Forwarded-For` is
    /// believed (nginx's real-ip module).
    pub trusted_proxies: Vec<String>,
    /// Python projects built from source in the build root instead of
    /// installed from a binary wheel.
    pub no_binary: Vec<String>,
    /// Directories (or files) under `/etc` whose staged files are readable
    /// by root and the service's group alone (0640), whatever mode the
    /// source had (git keeps no 0640); default `["/etc/<package>"]`, where
    /// `env_file` lives by default.
    pub private_config: Vec<String>,
}

impl AppSpec {
    /// Parse, default and validate a spec. `path` only names the input in
    /// errors (`-` is shown as `<stdin>`).
    pub fn from_json(path: &Path, bytes: &[u8]) -> Result<Self> {
        let name = crate::io::display_name(path);
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(Error::Json {
                path: name,
                msg: "the app spec must be a JSON object (`{...}`)".into(),
            });
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let raw: RawSpec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let msg = if field == "." || field == "?" || inner.is_syntax() || inner.is_eof() {
                inner.to_string()
            } else {
                format!("spec field `{field}`: {inner}")
            };
            Error::Json {
                path: name.clone(),
                msg,
            }
        })?;
        de.end().map_err(|e| Error::Json {
            path: name.clone(),
            msg: e.to_string(),
        })?;
        Self::resolve(raw).map_err(|e| e.in_file(&name))
    }

    #[allow(clippy::too_many_lines)] // one line per field: splitting it would hide the list
    fn resolve(mut raw: RawSpec) -> Result<Self> {
        check("module", &raw.module, python_identifier)?;
        check("version", &raw.version, debian_version)?;
        let extras = Extras::resolve(&mut raw)?;
        let server = ServerFields::resolve(server_fields(&mut raw))?;
        let module = raw.module;
        let package = if let Some(p) = raw.package {
            check_owned("package", p, package_name)?
        } else {
            let p = format!("{}-api", module.to_ascii_lowercase().replace('_', "-"));
            package_name(&p).map_err(|r| {
                Error::invalid(
                    "package",
                    format!("derived from `module`: {r}; set `package`"),
                )
            })?;
            p
        };
        let app_dir = opt_check("app_dir", raw.app_dir, abs_path)?
            .unwrap_or_else(|| format!("/opt/www/{module}"));
        let venv = opt_check("venv", raw.venv, abs_path)?
            .unwrap_or_else(|| format!("/opt/www/venvs/{package}"));
        own_dirs(&module, &package, &app_dir, &venv)?;
        let threads = opt_range("threads", raw.threads, 1, 1024)?;
        let gevent = opt_range("gevent", raw.gevent, 1, 100_000)?;
        if threads.is_some() && gevent.is_some() {
            return Err(Error::invalid(
                "gevent",
                "cannot be combined with `threads`: choose one concurrency model",
            ));
        }
        let description = if let Some(d) = raw.description {
            check_owned("description", d, description)?
        } else {
            let plain = format!("{module} web application ({package})");
            let synopsis = if synopsis_for(&package, &plain).is_ok() {
                plain
            } else {
                format!("Django web application {module} ({package})")
            };
            format!(
                "{synopsis}\nThe {module} Django application, served by {} behind nginx.",
                server.app_server.display()
            )
        };
        synopsis_for(&package, description.lines().next().unwrap_or(""))
            .map_err(|r| Error::invalid("description", r))?;
        let mut env = Vec::new();
        for (k, v) in raw.env.unwrap_or_default() {
            let field = format!("env.{k}");
            check(&field, &k, env_name)?;
            check(&field, &v, safe_value)?;
            if k.starts_with("DEBPIPE_") {
                return Err(Error::invalid(
                    field,
                    "DEBPIPE_* variables are debpipe's own (DEBPIPE_BUILD tells build time from run time)",
                ));
            }
            env.push((k, v));
        }
        let mut uwsgi_options = Vec::new();
        for (i, (k, v)) in raw
            .uwsgi_options
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let field = format!("uwsgi_options[{i}]");
            check(&field, &k, uwsgi_key)?;
            check(&field, &v, safe_value)?;
            uwsgi_options.push((k, v));
        }
        let mut uwsgi_plugins = Vec::new();
        for (i, p) in raw
            .uwsgi_plugins
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            uwsgi_plugins.push(check_owned(&format!("uwsgi_plugins[{i}]"), p, plugin_name)?);
        }
        let relations = |field: &str, list: Option<Vec<String>>| -> Result<Vec<String>> {
            list.unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, d)| check_owned(&format!("{field}[{i}]"), d, relation))
                .collect()
        };
        let depends = relations("depends", raw.depends)?;
        let recommends = relations("recommends", raw.recommends)?;
        let suggests = relations("suggests", raw.suggests)?;
        let mut build_depends = Vec::new();
        for (i, d) in raw
            .build_depends
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            build_depends.push(check_owned(
                &format!("build_depends[{i}]"),
                d,
                package_name,
            )?);
        }
        let state_dir = opt_check("state_dir", raw.state_dir, abs_path)?
            .unwrap_or_else(|| format!("/var/lib/{package}"));
        own_state_dir(&module, &package, &state_dir, &app_dir, &venv)?;
        let alias = |field: &str, a: Option<RawAlias>, default_dir: String| {
            a.map(|a| -> Result<Alias> {
                check(&format!("{field}.url"), &a.url, url_prefix)?;
                let dir =
                    opt_check(&format!("{field}.dir"), a.dir, abs_path)?.unwrap_or(default_dir);
                Ok(Alias { url: a.url, dir })
            })
            .transpose()
        };
        let static_files = alias("static", raw.static_files, format!("{app_dir}/staticfiles"))?;
        let media = alias("media", raw.media, format!("{state_dir}/media"))?;
        if let Some(m) = &media
            && (is_within(&m.dir, &app_dir) || is_within(&m.dir, &venv))
        {
            return Err(Error::invalid(
                "media.dir",
                format!(
                    "uploads must live outside `app_dir` and `venv` (upgrades replace those, purge removes them), got {:?}",
                    m.dir
                ),
            ));
        }
        if let Some(s) = &raw.server {
            check("server.listen", &s.listen, listen)?;
            if s.server_name.is_empty() {
                return Err(Error::invalid("server.server_name", "must not be empty"));
            }
            for (i, n) in s.server_name.iter().enumerate() {
                check(&format!("server.server_name[{i}]"), n, server_name)?;
            }
            if let Some(t) = &s.tls {
                check("server.tls.certificate", &t.certificate, abs_path)?;
                check("server.tls.key", &t.key, abs_path)?;
            }
        }
        let allowed_hosts = match raw.allowed_hosts {
            Some(hosts) => {
                for (i, h) in hosts.iter().enumerate() {
                    check(&format!("allowed_hosts[{i}]"), h, allowed_host)?;
                }
                hosts
            }
            // nginx's `_` is its catch-all: any host reaches the app.
            None => raw.server.as_ref().map_or_else(Vec::new, |s| {
                let mut v: Vec<String> = Vec::new();
                for n in &s.server_name {
                    let h = if n == "_" { "*".to_string() } else { n.clone() };
                    if !v.contains(&h) {
                        v.push(h);
                    }
                }
                v
            }),
        };
        let mut writable_paths = Vec::new();
        for (i, p) in raw
            .writable_paths
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            writable_paths.push(check_owned(&format!("writable_paths[{i}]"), p, abs_path)?);
        }
        let location = opt_check("location", raw.location, url_prefix)?
            .unwrap_or_else(|| format!("/api/{module}/"));
        let mount = raw.mount.unwrap_or(false);
        if mount && location == "/" {
            return Err(Error::invalid(
                "mount",
                "needs a `location` other than `/` (the app is mounted under it)",
            ));
        }
        let user = match opt_check("user", raw.user, user_name)? {
            Some(u) => u,
            None => user_name(&package).map(|()| package.clone()).map_err(|r| {
                Error::invalid("user", format!("derived from `package`: {r}; set `user`"))
            })?,
        };
        let spec = AppSpec {
            version: raw.version,
            description,
            maintainer: opt_check("maintainer", raw.maintainer, maintainer)?,
            homepage: opt_check("homepage", raw.homepage, homepage)?,
            section: opt_check("section", raw.section, section)?.unwrap_or_else(|| "web".into()),
            priority: opt_check("priority", raw.priority, priority)?
                .unwrap_or_else(|| "optional".into()),
            architecture: opt_check("architecture", raw.architecture, architecture)?,
            depends,
            recommends,
            suggests,
            build_depends,
            uwsgi_bin: opt_check("uwsgi_bin", raw.uwsgi_bin, abs_path)?
                .unwrap_or_else(|| format!("{venv}/bin/uwsgi")),
            app_dir,
            venv,
            user: user.clone(),
            group: opt_check("group", raw.group, user_name)?.unwrap_or(user),
            wsgi: opt_check("wsgi", raw.wsgi, wsgi_entry)?
                .unwrap_or_else(|| "pro_setting.wsgi:application".into()),
            asgi: server.asgi,
            websocket_paths: server.websocket_paths,
            gunicorn_options: server.gunicorn_options,
            app_server: server.app_server,
            settings: opt_check("settings", raw.settings, dotted_identifier)?
                .unwrap_or_else(|| "pro_setting.settings".into()),
            config_hook: opt_check("config_hook", raw.config_hook, rel_path)?,
            processes: opt_range("processes", raw.processes, 1, 1024)?.unwrap_or(4),
            threads,
            gevent,
            harakiri: opt_range("harakiri", raw.harakiri, 1, 86_400)?.unwrap_or(60),
            socket_timeout: opt_range("socket_timeout", raw.socket_timeout, 1, 86_400)?
                .unwrap_or(300),
            reload_mercy: opt_range("reload_mercy", raw.reload_mercy, 1, 86_400)?.unwrap_or(10),
            max_requests: opt_range("max_requests", raw.max_requests, 1, u32::MAX)?
                .unwrap_or(10_000),
            buffer_size: opt_range("buffer_size", raw.buffer_size, 4096, 65_535)?.unwrap_or(30_000),
            limit_as: opt_range("limit_as", raw.limit_as, 64, 1_048_576)?,
            uwsgi_plugins,
            uwsgi_options,
            env,
            location,
            client_max_body_size: opt_check(
                "client_max_body_size",
                raw.client_max_body_size,
                nginx_size,
            )?
            .unwrap_or_else(|| "10m".into()),
            static_files,
            media,
            server: raw.server,
            log_dir: opt_check("log_dir", raw.log_dir, abs_path)?
                .unwrap_or_else(|| format!("/var/log/{}", server.app_server.program())),
            uwsgi_ini: opt_check("uwsgi_ini", raw.uwsgi_ini, abs_path)?
                .unwrap_or_else(|| format!("/opt/www/uwsgi/{module}.ini")),
            allowed_hosts,
            state_dir,
            migrate: raw.migrate.unwrap_or(false),
            collectstatic: raw.collectstatic.unwrap_or(true),
            mount,
            writable_paths,
            allow_write_execute: raw.allow_write_execute.unwrap_or(false),
            build_commands: extras.build_commands,
            release_commands: extras.release_commands,
            project_dir: extras.project_dir,
            python_path: extras.python_path,
            build_env: extras.build_env,
            env_file: extras
                .env_file
                .unwrap_or_else(|| format!("/etc/{package}/{package}.env")),
            daemons: extras.daemons,
            timers: extras.timers,
            trusted_proxies: extras.trusted_proxies,
            no_binary: extras.no_binary,
            private_config: extras
                .private_config
                .unwrap_or_else(|| vec![format!("/etc/{package}")]),
            module,
            package,
        };
        url_prefix(&format!("/api/{}/", spec.module)).map_err(|r| Error::invalid("module", r))?;
        Ok(spec)
    }

    /// Directory of the uWSGI socket, made by the service manager: `/run/<package>`.
    pub fn runtime_dir(&self) -> String {
        format!("/run/{}", self.package)
    }

    /// The uWSGI socket nginx talks to: `/run/<package>/<package>.sock`.
    pub fn socket(&self) -> String {
        format!("{}/{}.sock", self.runtime_dir(), self.package)
    }

    /// uWSGI's master FIFO, in the runtime directory: `r` reloads
    /// gracefully (the master re-execs, keeping its socket), `q` stops.
    pub fn master_fifo(&self) -> String {
        format!("{}/master.fifo", self.runtime_dir())
    }

    /// Where gunicorn's workers mark themselves ready (one file a worker
    /// pid, once it has loaded the app): `<runtime dir>/ready`; `None` for
    /// uWSGI, whose workers fork from a master that has loaded it.
    pub fn ready_dir(&self) -> Option<String> {
        self.app_server
            .is_gunicorn()
            .then(|| format!("{}/ready", self.runtime_dir()))
    }

    /// The listen backlog of the socket: requests queue here while workers
    /// reload (uWSGI refuses to start when the kernel's somaxconn is lower).
    pub const LISTEN_BACKLOG: u32 = 1024;

    /// PID file the SysV script keeps: `/run/<package>.pid` (root-owned
    /// directory, as start-stop-daemon requires).
    pub fn pidfile(&self) -> String {
        format!("/run/{}.pid", self.package)
    }

    /// The app server's log under the SysV script: `<log_dir>/<module>.log`.
    pub fn log_file(&self) -> String {
        format!("{}/{}.log", self.log_dir, self.module)
    }

    /// Install path of the uWSGI ini (`uwsgi_ini`).
    pub fn uwsgi_ini_path(&self) -> String {
        self.uwsgi_ini.clone()
    }

    /// Install path of gunicorn's config file, where the uWSGI ini would be:
    /// `/opt/www/gunicorn/<module>.conf.py`.
    pub fn gunicorn_conf_path(&self) -> String {
        format!("/opt/www/gunicorn/{}.conf.py", self.module)
    }

    /// The app server's program: `uwsgi_bin`, or gunicorn in the venv.
    pub fn server_bin(&self) -> String {
        if self.app_server.is_gunicorn() {
            format!("{}/bin/gunicorn", self.venv)
        } else {
            self.uwsgi_bin.clone()
        }
    }

    /// The flag that gives the app server its config file: `--ini` for
    /// uWSGI, `--config` for gunicorn.
    pub fn server_config_flag(&self) -> &'static str {
        if self.app_server.is_gunicorn() {
            "--config"
        } else {
            "--ini"
        }
    }

    /// Install path of the app server's config file: the uWSGI ini or
    /// gunicorn's config.
    pub fn server_config_path(&self) -> String {
        if self.app_server.is_gunicorn() {
            self.gunicorn_conf_path()
        } else {
            self.uwsgi_ini_path()
        }
    }

    /// Install path of the nginx file: a snippet in `/opt/www/nginx/` (the
    /// seed's), or a server block in `/etc/nginx/sites-available/` when
    /// `server` is set (postinst links it into `sites-enabled/`, postrm remove
    /// takes the link away, so a removed site is not routed to a dead socket).
    pub fn nginx_conf_path(&self) -> String {
        if self.server.is_some() {
            format!("/etc/nginx/sites-available/{}.conf", self.package)
        } else {
            format!("/opt/www/nginx/{}.conf", self.module)
        }
    }

    /// Install path of the systemd unit, in `unit_dir` (the target
    /// release's, [`crate::release::Release::unit_dir`]).
    pub fn systemd_unit_path(&self, unit_dir: &str) -> String {
        format!("{unit_dir}/{}.service", self.package)
    }

    /// Install path of the systemd socket unit, which holds the listening
    /// socket while the service restarts, in `unit_dir`.
    pub fn systemd_socket_path(&self, unit_dir: &str) -> String {
        format!("{unit_dir}/{}.socket", self.package)
    }

    /// Install path of the SysV init script.
    pub fn sysv_script_path(&self) -> String {
        format!("/etc/init.d/{}", self.package)
    }

    /// The maintainer: the spec's, else built from `DEBFULLNAME` (or `NAME`)
    /// and `DEBEMAIL` (or `EMAIL`), as `dch` and `dh_make` do; `DEBEMAIL` may
    /// hold the whole `Name <email>`. `var` looks a variable up (the process
    /// environment in the tools, a table in tests). Without either, an error
    /// names the field and the variables: a made-up default would be a
    /// lintian error (`bogus-mail-host`) in every package.
    pub fn maintainer_with(&self, var: impl Fn(&str) -> Option<String>) -> Result<String> {
        if let Some(m) = &self.maintainer {
            return Ok(m.clone());
        }
        let get = |names: [&str; 2]| {
            names
                .into_iter()
                .find_map(|n| var(n).filter(|v| !v.trim().is_empty()))
        };
        let email = get(["DEBEMAIL", "EMAIL"]);
        let m = match (email, get(["DEBFULLNAME", "NAME"])) {
            (Some(e), _) if e.contains('<') => e,
            (Some(e), Some(n)) => format!("{} <{}>", n.trim(), e.trim()),
            _ => {
                return Err(Error::invalid(
                    "maintainer",
                    "not set, and DEBFULLNAME and DEBEMAIL are not both in the environment: set `maintainer` (`Name <email>`) or export DEBFULLNAME and DEBEMAIL",
                ));
            }
        };
        maintainer(&m).map_err(|r| {
            Error::invalid(
                "maintainer",
                format!("from DEBFULLNAME/DEBEMAIL in the environment: {r}"),
            )
        })?;
        Ok(m)
    }

    /// The same spec for a rebuild: `suffix` appended to the version (e.g.
    /// `+deb13`), which is checked as `version` is; the reason when the
    /// result is no Debian version. A new spec: a validated one is never
    /// changed.
    pub fn with_version_suffix(&self, suffix: &str) -> std::result::Result<Self, String> {
        let version = format!("{}{suffix}", self.version);
        debian_version(&version)?;
        Ok(Self {
            version,
            ..self.clone()
        })
    }

    /// [`AppSpec::maintainer_with`] on the process environment.
    pub fn maintainer(&self) -> Result<String> {
        self.maintainer_with(|n| std::env::var(n).ok())
    }

    /// The group nginx's workers run as on Debian: the socket is
    /// `user:SOCKET_GROUP` 0660, so nginx reaches it without being in the
    /// app's own group (which can read the secrets).
    pub const SOCKET_GROUP: &'static str = "www-data";

    /// The directory holding `manage.py` and the project's packages, where
    /// the app's processes start and which is first on their import path:
    /// `app_dir`, or `app_dir/project_dir`.
    pub fn project_root(&self) -> String {
        if self.project_dir == "." {
            self.app_dir.clone()
        } else {
            format!("{}/{}", self.app_dir, self.project_dir)
        }
    }

    /// The systemd unit of a daemon or timer: `<package>-<name>`.
    pub fn job_unit(&self, name: &str) -> String {
        format!("{}-{name}", self.package)
    }

    /// The environment of the build steps (collectstatic, `build_commands`):
    /// [`AppSpec::service_env`] with `build_env` merged over it, `null`
    /// values removed, and `DEBPIPE_BUILD=1`, which tells build time from
    /// run time. The operator's `env_file` is never read at build time.
    pub fn build_step_env(&self) -> Vec<(String, String)> {
        let mut env = self.service_env();
        for (k, v) in &self.build_env {
            env.retain(|(name, _)| name != k);
            if let Some(v) = v {
                env.push((k.clone(), v.clone()));
            }
        }
        env.retain(|(name, _)| name != Self::BUILD_MARK);
        env.push((Self::BUILD_MARK.to_string(), "1".to_string()));
        env
    }

    /// Set (to `1`) in the environment of build-time steps only.
    pub const BUILD_MARK: &'static str = "DEBPIPE_BUILD";

    /// The settings module the service, the hooks and the admin helper use:
    /// debpipe's overlay, which imports the project's `settings`.
    pub const SETTINGS_OVERLAY: &'static str = "debpipe_settings";

    /// The WSGI entry point uWSGI loads: stage-django's wrapper of `wsgi`,
    /// which imports the `URLconf` at load time.
    pub const WSGI_ENTRY: &'static str = "debpipe_wsgi:application";

    /// The request parameter nginx sets to its own view of the client's
    /// address (dropping the client's header of that name): gunicorn's
    /// `REMOTE_ADDR` comes from it, as it leaves its own empty.
    pub const CLIENT_ADDR_PARAM: &'static str = "HTTP_X_REAL_IP";

    /// The ASGI entry point gunicorn's ASGI worker loads: stage-django's
    /// wrapper of `asgi`.
    pub const ASGI_ENTRY: &'static str = "debpipe_asgi:application";

    /// Install path of the WSGI wrapper: `<project root>/debpipe_wsgi.py`.
    pub fn wsgi_wrapper_path(&self) -> String {
        format!("{}/debpipe_wsgi.py", self.project_root())
    }

    /// The module and callable of `wsgi`.
    pub fn wsgi_parts(&self) -> (&str, &str) {
        entry_parts(&self.wsgi)
    }

    /// The module and callable of `asgi`, when set.
    pub fn asgi_parts(&self) -> Option<(&str, &str)> {
        self.asgi.as_deref().map(entry_parts)
    }

    /// Install path of the ASGI wrapper: `<project root>/debpipe_asgi.py`.
    pub fn asgi_wrapper_path(&self) -> String {
        format!("{}/debpipe_asgi.py", self.project_root())
    }

    /// The app's environment as the service has it, in order: the settings
    /// overlay as `DJANGO_SETTINGS_MODULE`, `PYTHONPATH` (the project root,
    /// then `python_path`), then the spec's `env` (which may replace either). uWSGI, the
    /// config hook, the admin helper and collectstatic all get this one.
    pub fn service_env(&self) -> Vec<(String, String)> {
        let mut path = vec![self.project_root()];
        path.extend(self.python_path.iter().cloned());
        let mut env = vec![
            (
                "DJANGO_SETTINGS_MODULE".to_string(),
                Self::SETTINGS_OVERLAY.to_string(),
            ),
            ("PYTHONPATH".to_string(), path.join(":")),
        ];
        for (k, v) in &self.env {
            env.retain(|(name, _)| name != k);
            env.push((k.clone(), v.clone()));
        }
        env
    }

    /// The package's own environment file, `<app_dir>/debpipe.env`:
    /// [`AppSpec::service_env`] as `KEY=VALUE` lines. Every process of the
    /// app (the web service, daemons, timers, `manage`, postinst) reads it
    /// first and the operator's `env_file` after it, so the operator's
    /// values win everywhere alike.
    pub fn service_env_file(&self) -> String {
        format!("{}/debpipe.env", self.app_dir)
    }

    /// Install path of the settings overlay: `<project root>/debpipe_settings.py`.
    pub fn settings_overlay_path(&self) -> String {
        format!("{}/{}.py", self.project_root(), Self::SETTINGS_OVERLAY)
    }

    /// The secret key, generated by postinst: `<state_dir>/secret_key`.
    pub fn secret_key_file(&self) -> String {
        format!("{}/secret_key", self.state_dir)
    }

    /// The admin's `manage.py`: `<venv>/bin/manage`, which runs Django's
    /// management commands as the service user with the service's settings.
    pub fn manage_helper_path(&self) -> String {
        format!("{}/bin/manage", self.venv)
    }

    /// `StateDirectory=` value when `state_dir` is under /var/lib.
    pub fn state_directory_name(&self) -> Option<&str> {
        self.state_dir
            .strip_prefix("/var/lib/")
            .filter(|r| !r.is_empty())
    }

    /// The mount point (`location` without its trailing `/`) when `mount`.
    pub fn mount_point(&self) -> Option<&str> {
        self.mount
            .then(|| self.location.trim_end_matches('/'))
            .filter(|m| !m.is_empty())
    }

    /// The synopsis (first line of `description`).
    pub fn synopsis(&self) -> &str {
        self.description.lines().next().unwrap_or("")
    }

    /// The long description (after the first line), possibly empty.
    pub fn long_description(&self) -> &str {
        self.description.split_once('\n').map_or("", |(_, l)| l)
    }
}

/// The fields for running a production application (build and release
/// steps, operator configuration, companion processes), resolved apart from
/// [`AppSpec::resolve`] to keep that one a list.
struct Extras {
    build_commands: Vec<Vec<String>>,
    release_commands: Vec<Vec<String>>,
    project_dir: String,
    python_path: Vec<String>,
    build_env: Vec<(String, Option<String>)>,
    env_file: Option<String>,
    daemons: Vec<Daemon>,
    timers: Vec<Timer>,
    trusted_proxies: Vec<String>,
    no_binary: Vec<String>,
    private_config: Option<Vec<String>>,
}

impl Extras {
    fn resolve(raw: &mut RawSpec) -> Result<Self> {
        let project_dir = match raw.project_dir.take() {
            None => ".".to_string(),
            Some(d) if d == "." => d,
            Some(d) => check_owned("project_dir", d.trim_end_matches('/').to_string(), rel_path)?,
        };
        let mut python_path = Vec::new();
        for (i, p) in raw
            .python_path
            .take()
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            python_path.push(check_owned(&format!("python_path[{i}]"), p, abs_path)?);
        }
        let mut build_env = Vec::new();
        for (k, v) in raw.build_env.take().unwrap_or_default() {
            let field = format!("build_env.{k}");
            check(&field, &k, env_name)?;
            if let Some(v) = &v {
                check(&field, v, safe_value)?;
            }
            build_env.push((k, v));
        }
        let env_file = match raw.env_file.take() {
            Some(f) => Some(under_etc("env_file", f)?),
            None => None,
        };
        let private_config = match raw.private_config.take() {
            Some(list) => Some(
                list.into_iter()
                    .enumerate()
                    .map(|(i, p)| under_etc(&format!("private_config[{i}]"), p))
                    .collect::<Result<Vec<_>>>()?,
            ),
            None => None,
        };
        let daemons = crate::jobs::daemons(raw.daemons.take())?;
        let timers = crate::jobs::timers(raw.timers.take(), &daemons)?;
        let mut trusted_proxies = Vec::new();
        for (i, c) in raw
            .trusted_proxies
            .take()
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            trusted_proxies.push(check_owned(&format!("trusted_proxies[{i}]"), c, cidr)?);
        }
        let mut no_binary = Vec::new();
        for (i, n) in raw
            .no_binary
            .take()
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            no_binary.push(check_owned(&format!("no_binary[{i}]"), n, python_project)?);
        }
        Ok(Self {
            build_commands: crate::jobs::management_commands(
                "build_commands",
                raw.build_commands.take(),
            )?,
            release_commands: crate::jobs::management_commands(
                "release_commands",
                raw.release_commands.take(),
            )?,
            project_dir,
            python_path,
            build_env,
            env_file,
            daemons,
            timers,
            trusted_proxies,
            no_binary,
            private_config,
        })
    }
}

/// An entry point's module and callable (`application` when not given).
fn entry_parts(entry: &str) -> (&str, &str) {
    entry.split_once(':').unwrap_or((entry, "application"))
}

/// The server fields taken out of `raw`, with the names of the uWSGI-only
/// fields the user set (the rest stay for [`AppSpec::resolve`]).
fn server_fields(raw: &mut RawSpec) -> RawServerFields {
    let set = [
        ("gevent", raw.gevent.is_some()),
        ("socket_timeout", raw.socket_timeout.is_some()),
        ("reload_mercy", raw.reload_mercy.is_some()),
        ("buffer_size", raw.buffer_size.is_some()),
        ("limit_as", raw.limit_as.is_some()),
        ("uwsgi_bin", raw.uwsgi_bin.is_some()),
        ("uwsgi_plugins", raw.uwsgi_plugins.is_some()),
        ("uwsgi_options", raw.uwsgi_options.is_some()),
        ("uwsgi_ini", raw.uwsgi_ini.is_some()),
    ];
    RawServerFields {
        app_server: raw.app_server.take(),
        asgi: raw.asgi.take(),
        websocket_paths: raw.websocket_paths.take(),
        gunicorn_options: raw.gunicorn_options.take(),
        uwsgi_only: set.iter().filter(|(_, s)| *s).map(|(n, _)| *n).collect(),
    }
}

/// `path` checked as an absolute path below `/etc` (not `/etc` itself).
fn under_etc(field: &str, path: String) -> Result<String> {
    check(field, &path, abs_path)?;
    if !is_within(&path, "/etc") || path == "/etc" {
        return Err(Error::invalid(
            field,
            format!("the operator's configuration lives under /etc, got {path:?}"),
        ));
    }
    Ok(path)
}

/// True when `path` is `dir` or below it (both absolute and normalized).
fn is_within(path: &str, dir: &str) -> bool {
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// `postrm purge` removes `app_dir` and `venv` whole: they must be the
/// package's own directories, never a shared parent like `/opt/www`.
fn own_dirs(module: &str, package: &str, app_dir: &str, venv: &str) -> Result<()> {
    for (field, dir) in [("app_dir", app_dir), ("venv", venv)] {
        let last = dir.rsplit('/').next().unwrap_or(dir).to_ascii_lowercase();
        if !last.contains(&module.to_ascii_lowercase()) && !last.contains(package) {
            return Err(Error::invalid(
                field,
                format!(
                    "its last component must name the module or the package (purge removes this directory), got {dir:?}"
                ),
            ));
        }
    }
    if is_within(venv, app_dir) || is_within(app_dir, venv) {
        return Err(Error::invalid(
            "venv",
            format!(
                "must not be `app_dir` or contain it, or lie inside it: {venv:?} and {app_dir:?}"
            ),
        ));
    }
    Ok(())
}

/// `state_dir` is removed on purge: it must be the package's own, and apart
/// from the directories an upgrade replaces.
fn own_state_dir(
    module: &str,
    package: &str,
    state_dir: &str,
    app_dir: &str,
    venv: &str,
) -> Result<()> {
    let last = state_dir.rsplit('/').next().unwrap_or(state_dir);
    if !last
        .to_ascii_lowercase()
        .contains(&module.to_ascii_lowercase())
        && !last.contains(package)
    {
        return Err(Error::invalid(
            "state_dir",
            format!(
                "its last component must name the module or the package (purge removes this directory), got {state_dir:?}"
            ),
        ));
    }
    for (other, dir) in [("app_dir", app_dir), ("venv", venv)] {
        if is_within(state_dir, dir) || is_within(dir, state_dir) {
            return Err(Error::invalid(
                "state_dir",
                format!(
                    "must lie apart from `{other}` (upgrades replace it), got {state_dir:?} and {dir:?}"
                ),
            ));
        }
    }
    Ok(())
}

type Check = fn(&str) -> std::result::Result<(), String>;

fn check(field: &str, value: &str, f: Check) -> Result<()> {
    f(value).map_err(|r| Error::invalid(field, r))
}

fn check_owned(field: &str, value: String, f: Check) -> Result<String> {
    check(field, &value, f).map(|()| value)
}

fn opt_check(field: &str, value: Option<String>, f: Check) -> Result<Option<String>> {
    value.map(|v| check_owned(field, v, f)).transpose()
}

fn opt_range(field: &str, value: Option<u32>, min: u32, max: u32) -> Result<Option<u32>> {
    match value {
        Some(v) if v < min || v > max => Err(Error::invalid(
            field,
            format!("must be between {min} and {max}, got {v}"),
        )),
        v => Ok(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<AppSpec> {
        AppSpec::from_json(Path::new("app.json"), json.as_bytes())
    }

    #[test]
    fn minimal_spec_gets_seed_defaults() {
        let s = spec(r#"{"module":"wechat","version":"1.0.0"}"#).unwrap();
        assert_eq!(s.package, "wechat-api");
        assert_eq!(s.app_dir, "/opt/www/wechat");
        assert_eq!(s.venv, "/opt/www/venvs/wechat-api");
        assert_eq!(s.user, "wechat-api");
        assert_eq!(s.group, "wechat-api");
        assert_eq!(s.env_file, "/etc/wechat-api/wechat-api.env");
        assert_eq!(s.project_root(), "/opt/www/wechat");
        assert_eq!(s.location, "/api/wechat/");
        assert_eq!(s.processes, 4);
        assert_eq!(s.harakiri, 60);
        assert_eq!(s.socket(), "/run/wechat-api/wechat-api.sock");
        assert_eq!(s.uwsgi_bin, "/opt/www/venvs/wechat-api/bin/uwsgi");
        assert_eq!(s.nginx_conf_path(), "/opt/www/nginx/wechat.conf");
        assert_eq!(s.synopsis(), "wechat web application (wechat-api)");
    }

    #[test]
    fn production_fields_resolve() {
        let s = spec(
            r#"{"module":"pretalx","version":"1","package":"pretalx",
            "description":"conference planning tool\nlong",
            "project_dir":"src/","python_path":["/etc/pretalx"],
            "env":{"A":"1","B":"2"},"build_env":{"A":null,"C":"3"},
            "build_commands":[["rebuild"]],"release_commands":[["clearsessions"]],
            "daemons":{"worker":{"command":["celery","-A","pretalx.celery_app","worker"]}},
            "timers":{"periodic":{"command":["manage","runperiodic"],"schedule":"every 5m"}},
            "trusted_proxies":["10.0.0.0/8","::1"],"recommends":["postgresql"],
            "server":{"tls":{"certificate":"/etc/ssl/a.pem","key":"/etc/ssl/a.key"}}}"#,
        )
        .unwrap();
        assert_eq!(s.user, "pretalx");
        assert_eq!(s.project_root(), "/opt/www/pretalx/src");
        assert_eq!(
            s.settings_overlay_path(),
            "/opt/www/pretalx/src/debpipe_settings.py"
        );
        let env = s.build_step_env();
        assert!(!env.iter().any(|(k, _)| k == "A"), "{env:?}");
        assert!(env.contains(&("B".into(), "2".into())));
        assert!(env.contains(&("C".into(), "3".into())));
        assert!(env.contains(&("DEBPIPE_BUILD".into(), "1".into())));
        assert_eq!(s.daemons[0].stop_timeout, crate::jobs::DEFAULT_STOP_TIMEOUT);
        assert_eq!(s.timers[0].schedule.cron(), "*/5 * * * *");
        assert_eq!(s.job_unit("worker"), "pretalx-worker");
    }

    #[test]
    fn default_synopsis_never_starts_with_the_package_name() {
        let s = spec(r#"{"module":"pretalx","version":"1","package":"pretalx"}"#).unwrap();
        assert!(!s.synopsis().starts_with("pretalx"), "{}", s.synopsis());
        let e = spec(r#"{"module":"a","version":"1","package":"pretalx","description":"Pretalx conference tool"}"#)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("description-starts-with-package-name"),
            "{e}"
        );
    }

    #[test]
    fn underscores_and_case_make_a_valid_package() {
        let s = spec(r#"{"module":"My_App","version":"1"}"#).unwrap();
        assert_eq!(s.package, "my-app-api");
    }

    #[test]
    fn unknown_field_is_named() {
        let e = spec(r#"{"module":"a","version":"1","procs":3}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `procs`"), "{e}");
    }

    #[test]
    fn wrong_type_names_field() {
        let e = spec(r#"{"module":"a","version":"1","processes":"4"}"#).unwrap_err();
        assert!(e.to_string().contains("spec field `processes`"), "{e}");
        let e = spec(r#"{"module":"a","version":"1","static":{"url":"/s/","dir":3}}"#).unwrap_err();
        assert!(e.to_string().contains("spec field `static.dir`"), "{e}");
    }

    #[test]
    fn missing_required_is_named() {
        let e = spec(r#"{"module":"a"}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `version`"), "{e}");
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        assert!(spec(r#"{"module":"a","version":"1"} x"#).is_err());
    }

    #[test]
    fn versions() {
        for ok in ["1", "1.0", "1:2.0-1", "2.0~rc1+dfsg-1.1", "0:1-2-3"] {
            assert!(debian_version(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a1", "1.0-", "x:1", "1_0", "1.0 ", "1;rm", "1:", "-1", "1.0-a_b",
        ] {
            assert!(debian_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths() {
        assert!(abs_path("/opt/www/x").is_ok());
        for bad in [
            "opt", "/", "/a/../b", "/a//b", "/a/./b", "/a/", "/a b", "/a;b", "/a\nb", "/$x", "/a%b",
        ] {
            assert!(abs_path(bad).is_err(), "{bad:?}");
        }
        assert!(url_prefix("/").is_ok());
        assert!(url_prefix("/static/").is_ok());
        for bad in ["/static", "static/", "/a/../", "/a b/", "/a;/", "/a//"] {
            assert!(url_prefix(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_reject_format_metacharacters() {
        assert!(safe_value("postgres://db:5432/app").is_ok());
        for bad in [
            "a%b",
            "$(X)",
            "@(exec://id)",
            "a;b",
            "a\"b",
            "a'b",
            "a\nb",
            " a",
            "a\\b",
            "`id`",
            "{x}",
        ] {
            assert!(safe_value(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn relations() {
        for ok in [
            "nginx",
            "python3 (>= 3.11)",
            "libc6:any (<< 3)",
            "aa | bb (= 1.0-1)",
        ] {
            assert!(relation(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Nginx", "a, b", "a (>= )", "a (~ 1)", "a (>= 1", "a\nb"] {
            assert!(relation(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn threads_and_gevent_conflict() {
        let e = spec(r#"{"module":"a","version":"1","threads":2,"gevent":10}"#).unwrap_err();
        assert!(e.to_string().contains("`gevent`"), "{e}");
    }

    #[test]
    fn daemonize_is_refused() {
        let e = spec(r#"{"module":"a","version":"1","uwsgi_options":[["daemonize","/tmp/x"]]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("uwsgi_options[0]"), "{e}");
    }

    /// Every prefix of every fixture spec, good or bad, parses or fails with
    /// an error: never a panic.
    #[test]
    fn truncated_and_corrupt_specs_never_panic() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
        for sub in ["specs", "specs/gunicorn", "bad-specs"] {
            for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    continue;
                }
                let bytes = std::fs::read(path).unwrap();
                for n in 0..=bytes.len() {
                    let _ = AppSpec::from_json(Path::new("t.json"), &bytes[..n]);
                    let mut flipped = bytes.clone();
                    if n < flipped.len() {
                        flipped[n] ^= 0x80;
                        let _ = AppSpec::from_json(Path::new("t.json"), &flipped);
                    }
                }
            }
        }
    }

    #[test]
    fn maintainers() {
        assert!(maintainer("Jane Doe <jane@example.com>").is_ok());
        for bad in ["Jane", "<a@b>", "Jane <jane>", "J <a@b>\n"] {
            assert!(maintainer(bad).is_err(), "{bad:?}");
        }
    }
}
