//! The maintainer scripts: `scripts/{postinst,prerm,postrm}.sh` filled with
//! the spec's values by [`Template`], and the values they need (the
//! account, the daemons' SysV registration, the operator's env file).

use std::fmt::Write as _;

use debpipe_core::AppSpec;
use debpipe_core::shell::{Block, Template, Var};

use crate::hook::config_hook;
use crate::staged::{Staged, nginx_link_target, nginx_site_link, nginx_site_path};

/// them as they are); [`Template`] writes the spec's values into them.
const POSTINST: &str = include_str!("../scripts/postinst.sh");
const PRERM: &str = include_str!("../scripts/prerm.sh");
const POSTRM: &str = include_str!("../scripts/postrm.sh");

/// The user the service ran as before it had its own (debpipe's old
/// default): an upgrade moves what it owned over.
pub const OLD_DEFAULT_USER: &str = "www-data";

/// True when postinst must create the service's user or group.
pub(crate) fn custom_account(spec: &AppSpec) -> bool {
    spec.user != OLD_DEFAULT_USER || spec.group != OLD_DEFAULT_USER
}

/// A maintainer script's template, with its words filled: the package and
/// version in its title, and the package's name after `update-rc.d`, which
/// lintian looks for literally (a package name needs no quoting).
fn script<'a>(spec: &'a AppSpec, name: &'a str, template: &'a str) -> Template<'a> {
    Template::new(name, template)
        .word("PACKAGE", spec.package.as_str())
        .word("VERSION", spec.version.as_str())
}

fn set(name: &'static str, value: impl Into<String>) -> Var {
    Var::Set(name, value.into())
}

/// postinst's account function for the shared www-data account: nothing to
/// make.
const NO_ACCOUNT: &str =
    "make_account() {\n    : # the service runs as www-data, which Debian's base system has\n}\n";

/// postinst's `# @account` block: the function that creates the service's
/// own account for a custom user or group, else [`NO_ACCOUNT`].
fn account_block(spec: &AppSpec) -> Block {
    if custom_account(spec) {
        Block::Keep
    } else {
        Block::Replace(NO_ACCOUNT.into())
    }
}

/// The `# @sysv-jobs` block: the function that (un)registers each daemon's
/// SysV script, one literal `update-rc.d <package>-NAME` line each (lintian
/// reads them; names are unit-safe, no quoting needed). Registration waits
/// for the script (`[ -x ]`): another package layout may not ship one.
fn sysv_jobs(spec: &AppSpec, function: &str, action: &str) -> Block {
    let mut body = format!("{function}() {{\n");
    if spec.daemons.is_empty() {
        body.push_str("    : # the spec has no daemons\n");
    }
    for d in &spec.daemons {
        let name = spec.job_unit(&d.name);
        if action == "remove" {
            let _ = writeln!(body, "    update-rc.d {name} remove >/dev/null");
        } else {
            let _ = writeln!(
                body,
                "    if [ -x /etc/init.d/{name} ]; then\n        update-rc.d {name} {action} >/dev/null\n    fi"
            );
        }
    }
    body.push_str("}\n");
    Block::Replace(body)
}

/// A flag's value in a script: `yes` or `no`.
fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `path` when the package ships an nginx site, else empty (the scripts
/// then leave sites-enabled alone).
fn if_site(staged: &Staged, path: String) -> String {
    if staged.nginx_site {
        path
    } else {
        String::new()
    }
}

/// The names of the daemons, or of the timers, as one shell word list.
fn names<'a>(list: impl Iterator<Item = &'a String>) -> String {
    list.map(String::as_str).collect::<Vec<_>>().join(" ")
}

/// The directory of a daemon's SysV log, `/var/log/<package>`, when the
/// spec has daemons.
fn job_log_dir(spec: &AppSpec) -> String {
    if spec.daemons.is_empty() {
        String::new()
    } else {
        format!("/var/log/{}", spec.package)
    }
}

/// The directory of `env_file` when it is the package's own: postinst makes
/// it, purge removes it when empty. That is `/etc/<package>`, or a
/// directory the package ships files in; never a shared one such as
/// `/etc/default`.
pub fn env_dir(spec: &AppSpec, staged: &Staged) -> String {
    let Some((dir, _)) = spec.env_file.rsplit_once('/') else {
        return String::new();
    };
    let own = dir == format!("/etc/{}", spec.package)
        || staged
            .conffiles
            .iter()
            .any(|f| f.starts_with(&format!("{dir}/")));
    if own && dir != "/etc" {
        dir.to_string()
    } else {
        String::new()
    }
}

/// The text of a new `env_file`: what it is, its syntax, and the package's
/// variables (`env`) as comments.
pub fn env_file_template(spec: &AppSpec) -> String {
    let p = &spec.package;
    let mut t = format!(
        "# {file}: the operator's configuration of {p}.\n\
         #\n\
         # Every process of {p} reads it (the web service, its daemons and\n\
         # timers, {manage}, and the package's postinst), after the\n\
         # package's own {pkg_env}: a value set here wins. Restart the\n\
         # service after a change. It may hold secrets: it is mode 0640,\n\
         # root:{group}, readable by the service and not by nginx.\n\
         #\n\
         # Syntax, which systemd's EnvironmentFile= and sh read alike:\n\
         # - one KEY=VALUE per line; lines starting with # and blank lines\n\
         #   are ignored;\n\
         # - KEY is letters, digits and _, not starting with a digit; no\n\
         #   spaces around =;\n\
         # - VALUE is literal; put it in single quotes ('...') if it holds\n\
         #   spaces or shell characters; no dollar sign, backquote,\n\
         #   backslash or double quote outside single quotes.\n\
         #\n\
         # The package made this file at its first install and never\n\
         # changes it (it is not a conffile); purge removes it.\n\
         #\n",
        file = spec.env_file,
        manage = spec.manage_helper_path(),
        pkg_env = spec.service_env_file(),
        group = spec.group,
    );
    if spec.env.is_empty() {
        t.push_str("# The package sets no variables of its own (env in its app.json).\n");
    } else {
        t.push_str(
            "# The package's values (env in its app.json); uncomment a line to\n# change one:\n",
        );
        for (k, v) in &spec.env {
            if v.contains(' ') {
                let _ = writeln!(t, "# {k}='{v}'");
            } else {
                let _ = writeln!(t, "# {k}={v}");
            }
        }
    }
    t
}

/// The spec's release commands, one line each (words hold no spaces).
fn release_lines(spec: &AppSpec) -> String {
    spec.release_commands
        .iter()
        .map(|c| c.join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn group_lines(staged: &Staged) -> String {
    staged
        .group_files
        .iter()
        .map(|(mode, path)| format!("{mode:04o} {path}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Render `postinst`.
///
/// `staged.nginx_shipped` fingerprints the nginx file the package ships
/// ([`fingerprint()`](crate::fingerprint())): postinst reloads nginx only when it changes.
pub fn render_postinst(spec: &AppSpec, staged: &Staged) -> String {
    let entry = if spec.asgi.is_some() {
        AppSpec::ASGI_ENTRY
    } else {
        AppSpec::WSGI_ENTRY
    };
    script(spec, "postinst.sh", POSTINST)
        .block("account", account_block(spec))
        .block(
            "sysv-jobs",
            sysv_jobs(spec, "register_sysv_jobs", "defaults"),
        )
        .vars(vec![
            set("PACKAGE", &spec.package),
            set("VENV", &spec.venv),
            set("APP_DIR", &spec.app_dir),
            set("APP_USER", &spec.user),
            set("APP_GROUP", &spec.group),
            set("SOCKET_GROUP", AppSpec::SOCKET_GROUP),
            set("OLD_USER", OLD_DEFAULT_USER),
            set("LOG_DIR", &spec.log_dir),
            set("LOG_FILE", spec.log_file()),
            set("JOB_LOG_DIR", job_log_dir(spec)),
            set("RUN_DIR", spec.runtime_dir()),
            set("STATE_DIR", &spec.state_dir),
            set(
                "MEDIA_DIR",
                spec.media.as_ref().map_or("", |m| m.dir.as_str()),
            ),
            set("SECRET_FILE", spec.secret_key_file()),
            set("MANAGE", spec.manage_helper_path()),
            set("PACKAGE_ENV", spec.service_env_file()),
            set("ENV_FILE", &spec.env_file),
            set("ENV_DIR", env_dir(spec, staged)),
            set("ENV_TEMPLATE", env_file_template(spec).trim_end()),
            set("GROUP_FILES", group_lines(staged)),
            set("CONFIG_HOOK", config_hook(spec, staged).unwrap_or("")),
            set("MIGRATE", yes(spec.migrate)),
            set("RELEASE_COMMANDS", release_lines(spec)),
            set("DAEMONS", names(spec.daemons.iter().map(|d| &d.name))),
            set("TIMERS", names(spec.timers.iter().map(|t| &t.name))),
            set("NGINX", yes(staged.ships_nginx)),
            set("NGINX_SHIPPED", &staged.nginx_shipped),
            set("NGINX_SITE", if_site(staged, nginx_site_path(spec))),
            set("NGINX_LINK", if_site(staged, nginx_site_link(spec))),
            set(
                "NGINX_LINK_TARGET",
                if_site(staged, nginx_link_target(spec)),
            ),
            set("PIDFILE", spec.pidfile()),
            set("SERVER", spec.app_server.program()),
            set("SERVER_NAME", spec.app_server.display()),
            set("SERVER_CONFIG", spec.server_config_path()),
            set("READY_DIR", spec.ready_dir().unwrap_or_default()),
            // The entry point the server loads, which the preflight imports.
            set("WSGI_MODULE", entry.split_once(':').map_or("", |(m, _)| m)),
            set(
                "WSGI_CALLABLE",
                entry.split_once(':').map_or("", |(_, c)| c),
            ),
            // A reload waits for the workers' requests (harakiri), their
            // mercy, and the app's load.
            set(
                "RELOAD_TIMEOUT",
                (spec.harakiri + spec.reload_mercy + 60).to_string(),
            ),
            // The package's environment when it has no debpipe.env.
            Var::ExportFn("spec_env", spec.service_env()),
        ])
        .fill()
}

/// Render `prerm`.
pub fn render_prerm(spec: &AppSpec) -> String {
    script(spec, "prerm.sh", PRERM)
        .vars(vec![
            set("PACKAGE", &spec.package),
            set("VENV", &spec.venv),
            set("APP_DIR", &spec.app_dir),
            set("DAEMONS", names(spec.daemons.iter().map(|d| &d.name))),
            set("TIMERS", names(spec.timers.iter().map(|t| &t.name))),
        ])
        .fill()
}

/// Render `postrm`.
pub fn render_postrm(spec: &AppSpec, staged: &Staged) -> String {
    script(spec, "postrm.sh", POSTRM)
        .block(
            "sysv-jobs",
            sysv_jobs(spec, "unregister_sysv_jobs", "remove"),
        )
        .vars(vec![
            set("PACKAGE", &spec.package),
            set("VENV", &spec.venv),
            set("APP_DIR", &spec.app_dir),
            set("LOG_DIR", &spec.log_dir),
            set("LOG_FILE", spec.log_file()),
            set("JOB_LOG_DIR", job_log_dir(spec)),
            set("RUN_DIR", spec.runtime_dir()),
            set("PIDFILE", spec.pidfile()),
            set("STATE_DIR", &spec.state_dir),
            set("ENV_FILE", &spec.env_file),
            set("ENV_DIR", env_dir(spec, staged)),
            set("GROUP_FILES", group_lines(staged)),
            set("DAEMONS", names(spec.daemons.iter().map(|d| &d.name))),
            set("TIMERS", names(spec.timers.iter().map(|t| &t.name))),
            set("NGINX", yes(staged.ships_nginx)),
            set("NGINX_LINK", if_site(staged, nginx_site_link(spec))),
            set(
                "NGINX_LINK_TARGET",
                if_site(staged, nginx_link_target(spec)),
            ),
        ])
        .fill()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{depends, render_area};
    use debpipe_testkit::spec;

    #[test]
    fn custom_user_is_created_and_depends_on_adduser() {
        let none = Staged::default();
        // The default: a system user and group named after the package,
        // and nginx's www-data is not added to that group.
        let s = spec(r#"{"module":"a","version":"1"}"#);
        let p = render_postinst(&s, &none);
        assert!(p.contains("\nAPP_USER='a-api'\nAPP_GROUP='a-api'\n"), "{p}");
        assert!(p.contains("adduser --system") && p.contains("addgroup --system"));
        assert!(!p.contains("adduser --quiet www-data"), "{p}");
        assert!(depends(&s, &[], false).contains(&"adduser".to_string()));
        let s = spec(r#"{"module":"a","version":"1","user":"appuser"}"#);
        assert!(render_postinst(&s, &none).contains("adduser --system"));
        assert!(depends(&s, &[], false).contains(&"adduser".to_string()));
        let s = spec(r#"{"module":"a","version":"1","group":"appgroup"}"#);
        let p = render_postinst(&s, &none);
        assert!(p.contains("addgroup --system"));
        assert!(!p.contains("adduser --quiet www-data"), "{p}");
        // Only a spec that asks for www-data itself creates nothing.
        let s = spec(r#"{"module":"a","version":"1","user":"www-data","group":"www-data"}"#);
        assert!(!depends(&s, &[], false).contains(&"adduser".to_string()));
        let p = render_postinst(&s, &none);
        assert!(!p.contains("adduser") && !p.contains("addgroup"), "{p}");
        assert!(p.contains(NO_ACCOUNT));
        assert!(!p.contains("# @account"));
    }

    #[test]
    fn scripts_assign_every_variable_they_use() {
        let s = spec(
            r#"{"module":"a","version":"1","user":"appuser","config_hook":"x.py","env":{"A":"b"},"daemons":{"w":{"command":["celery"]}},"timers":{"t":{"command":["manage","x"],"schedule":"daily"}},"release_commands":[["clearsessions"]]}"#,
        );
        let staged = Staged {
            ships_nginx: true,
            nginx_site: true,
            nginx_shipped: "x".into(),
            group_files: vec![(0o640, "/etc/a/b.cfg".into())],
            ..Staged::default()
        };
        for (name, text, _) in render_area(&s, String::new(), &staged) {
            if !["postinst", "prerm", "postrm"].contains(&name) {
                continue;
            }
            let used = text.split('$').skip(1).filter_map(|rest| {
                let rest = rest.strip_prefix('{').unwrap_or(rest);
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                // Upper-case names are the scripts' own; `${Conffiles}` is a
                // dpkg-query field.
                (!name.is_empty() && !name.contains(|c: char| c.is_ascii_lowercase()))
                    .then_some(name)
            });
            for var in used {
                if var.chars().all(|c| c.is_ascii_digit()) {
                    continue;
                }
                let assigned = text
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{var}=")))
                    || var == "DPKG_ROOT";
                assert!(assigned, "{name} uses ${var} without assigning it");
            }
        }
    }

    #[test]
    fn update_rc_d_names_the_script_literally() {
        let s = spec(r#"{"module":"a","version":"1"}"#);
        assert!(
            render_postinst(&s, &Staged::default())
                .contains("\n        update-rc.d a-api defaults >/dev/null\n")
        );
        assert!(
            render_postrm(&s, &Staged::default())
                .contains("\n            update-rc.d a-api remove >/dev/null\n")
        );
        assert!(!render_postinst(&s, &Staged::default()).contains("example-api"));
        assert!(!render_postrm(&s, &Staged::default()).contains("example-api"));
        // Each daemon's SysV script, once in postinst and once in postrm.
        let s = spec(
            r#"{"module":"a","version":"1","daemons":{"worker":{"command":["celery"]},"alerts":{"command":["manage","sendalerts"]}}}"#,
        );
        let (pi, pr) = (
            render_postinst(&s, &Staged::default()),
            render_postrm(&s, &Staged::default()),
        );
        for d in ["a-api-alerts", "a-api-worker"] {
            assert_eq!(
                pi.matches(&format!("        update-rc.d {d} defaults >/dev/null\n"))
                    .count(),
                1,
                "{pi}"
            );
            assert_eq!(
                pr.matches(&format!("    update-rc.d {d} remove >/dev/null\n"))
                    .count(),
                1,
                "{pr}"
            );
        }
        assert!(!pi.contains("example-api") && !pr.contains("example-api"));
    }
}
