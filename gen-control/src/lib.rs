//! gen-control: app spec (+ facts from mkvenv) -> the package's control area
//! (`DEBIAN/`): `control`, `conffiles` and the maintainer scripts.
//!
//! The maintainer scripts do what debhelper's snippets and the seed's
//! postinst do, for both init systems: create the service user when it is not
//! `www-data`, make the log directory, byte-compile the venv and the app at
//! their install paths (mkvenv ships no bytecode), run the app's config hook,
//! register the service (`deb-systemd-helper` and `update-rc.d`), (re)start it
//! through `deb-systemd-invoke`/`invoke-rc.d` so `policy-rc.d` is honoured,
//! and reload nginx when it runs. prerm stops the service and removes the
//! bytecode postinst made; postrm purge removes logs and runtime state.
//!
//! Every path honours `DPKG_ROOT` (set by dpkg for `--root` installs); with
//! `DPKG_ROOT` set, no service or user is touched, as debhelper's snippets do.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use debpipe_core::deb822::{Paragraph, fold_description};
use debpipe_core::shell::quote;
use debpipe_core::spec::relation;
use debpipe_core::{AppSpec, Error, Result, io};
use serde::Deserialize;

/// Generate the package's control area.
#[derive(Debug, clap::Parser)]
#[command(
    version,
    about = "Generate the package's control area (control, conffiles, maintainer scripts)",
    long_about = "Generate the package's DEBIAN/ control area from the app spec (JSON, see README) \
and the facts files of other tools (mkvenv's JSON: python and shared-library dependencies, \
architecture).\n\n\
With --root STAGE, conffiles lists every file under STAGE/etc and the area is written to \
STAGE/DEBIAN (or --out DIR); the directory is printed. Without --root or --out, the control \
file is printed.",
    after_help = "Examples:\n  gen-control app.json                       # print the control file\n  mkvenv app.json -r requirements.txt --root stage > facts.json\n  gen-control app.json --facts facts.json --root stage   # writes stage/DEBIAN\n  mkdeb stage dist/"
)]
pub struct Cli {
    /// App spec (JSON); `-` reads stdin
    #[arg(value_name = "SPEC", default_value = "-")]
    pub spec: PathBuf,
    /// Facts JSON from another tool (mkvenv); may be repeated
    #[arg(long, value_name = "FILE")]
    pub facts: Vec<PathBuf>,
    /// Staging tree: conffiles come from STAGE/etc, output goes to STAGE/DEBIAN
    #[arg(long, value_name = "STAGE")]
    pub root: Option<PathBuf>,
    /// Write the control area to DIR (created if missing) and print DIR
    #[arg(short = 'o', long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// What other tools found out about the package's contents.
#[derive(Debug, Default, Deserialize)]
pub struct Facts {
    /// Relations on the Python interpreter.
    #[serde(default)]
    pub python_depends: Vec<String>,
    /// Relations on packages providing shared libraries.
    #[serde(default)]
    pub shlib_depends: Vec<String>,
    /// Other relations.
    #[serde(default)]
    pub depends: Vec<String>,
    /// `all`, or the architecture of compiled files.
    pub architecture: Option<String>,
}

impl Facts {
    /// Parse and check one facts file.
    pub fn from_json(path: &Path, bytes: &[u8]) -> Result<Self> {
        let name = io::display_name(path);
        let facts: Facts = serde_json::from_slice(bytes).map_err(|e| Error::Json {
            path: name.clone(),
            msg: e.to_string(),
        })?;
        for (field, list) in [
            ("python_depends", &facts.python_depends),
            ("shlib_depends", &facts.shlib_depends),
            ("depends", &facts.depends),
        ] {
            for (i, r) in list.iter().enumerate() {
                relation(r).map_err(|why| Error::file(&name, format!("`{field}[{i}]`: {why}")))?;
            }
        }
        if let Some(a) = &facts.architecture {
            debpipe_core::spec::architecture(a)
                .map_err(|why| Error::file(&name, format!("`architecture`: {why}")))?;
        }
        Ok(facts)
    }
}

/// The control area: file name, contents, mode.
pub type Area = Vec<(&'static str, String, u32)>;

/// Run the tool.
pub fn run(cli: &Cli) -> Result<()> {
    let spec = AppSpec::from_json(&cli.spec, &io::read_input(&cli.spec)?)?;
    let mut facts = Vec::new();
    for f in &cli.facts {
        facts.push(Facts::from_json(f, &io::read_input(f)?)?);
    }
    let (conffiles, ships_nginx) = match &cli.root {
        Some(root) => {
            let etc = root.join("etc");
            let mut list = Vec::new();
            if etc.exists() {
                walk_files(root, &etc, &mut list)?;
            }
            list.sort();
            let nginx = root
                .join(spec.nginx_conf_path().trim_start_matches('/'))
                .exists();
            (list, nginx)
        }
        None => (default_conffiles(&spec), true),
    };
    let out_dir = cli
        .out
        .clone()
        .or_else(|| cli.root.as_ref().map(|r| r.join("DEBIAN")));
    let control = render_control(&spec, &facts, ships_nginx);
    let Some(dir) = out_dir else {
        return io::write_stdout(control.as_bytes());
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    for (name, text, mode) in render_area(&spec, control, &conffiles, ships_nginx) {
        io::write_atomic(&dir.join(name), text.as_bytes(), mode)?;
    }
    io::write_stdout(format!("{}\n", dir.display()).as_bytes())
}

/// The files the spec's own generators put under /etc.
pub fn default_conffiles(spec: &AppSpec) -> Vec<String> {
    let mut v = vec![spec.sysv_script_path()];
    if spec.nginx_conf_path().starts_with("/etc/") {
        v.push(spec.nginx_conf_path());
    }
    v.sort();
    v
}

fn walk_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let ft = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if ft.is_dir() {
            walk_files(root, &path, out)?;
        } else if ft.is_file() {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            let s = rel
                .to_str()
                .ok_or_else(|| Error::file(&path, "file name is not UTF-8"))?;
            if s.contains(['\n', '\r']) {
                return Err(Error::file(&path, "file name contains a newline"));
            }
            out.push(format!("/{s}"));
        }
    }
    Ok(())
}

/// The `Depends` relations: the facts' (python, shared libraries, others),
/// nginx when the package ships its configuration, what the SysV script
/// needs from dpkg, adduser when a user must be created, then the spec's.
pub fn depends(spec: &AppSpec, facts: &[Facts], ships_nginx: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |r: &str| {
        if !out.iter().any(|x| x == r) {
            out.push(r.to_string());
        }
    };
    for f in facts {
        f.python_depends.iter().for_each(|r| add(r));
    }
    for f in facts {
        f.shlib_depends.iter().for_each(|r| add(r));
        f.depends.iter().for_each(|r| add(r));
    }
    if ships_nginx {
        add("nginx");
    }
    // start-stop-daemon --notify-await (1.19.3) and --output (1.20.6).
    add("dpkg (>= 1.20.6)");
    if custom_account(spec) {
        add("adduser");
    }
    spec.depends.iter().for_each(|r| add(r));
    out
}

/// Render `DEBIAN/control`, fields in dpkg-gencontrol's order (mkdeb adds
/// `Installed-Size`).
pub fn render_control(spec: &AppSpec, facts: &[Facts], ships_nginx: bool) -> String {
    let arch = spec
        .architecture
        .clone()
        .or_else(|| {
            facts
                .iter()
                .filter_map(|f| f.architecture.clone())
                .find(|a| a != "all")
        })
        .or_else(|| facts.iter().find_map(|f| f.architecture.clone()))
        .unwrap_or_else(|| "all".into());
    let mut p = Paragraph::new();
    p.set("Package", spec.package.as_str());
    p.set("Version", spec.version.as_str());
    p.set("Architecture", arch);
    p.set("Maintainer", spec.maintainer.as_str());
    let deps = depends(spec, facts, ships_nginx);
    if !deps.is_empty() {
        p.set("Depends", deps.join(", "));
    }
    p.set("Section", spec.section.as_str());
    p.set("Priority", spec.priority.as_str());
    if let Some(h) = &spec.homepage {
        p.set("Homepage", h.as_str());
    }
    let long = match spec.long_description().trim() {
        "" => format!(
            "The {} web application, packaged with its virtualenv by debpipe.",
            spec.module
        ),
        l => l.to_string(),
    };
    p.set("Description", fold_description(spec.synopsis(), &long));
    p.to_string()
}

/// Render the whole control area.
pub fn render_area(
    spec: &AppSpec,
    control: String,
    conffiles: &[String],
    ships_nginx: bool,
) -> Area {
    let mut area: Area = vec![("control", control, 0o644)];
    if !conffiles.is_empty() {
        let mut text = conffiles.join("\n");
        text.push('\n');
        area.push(("conffiles", text, 0o644));
    }
    area.push(("postinst", render_postinst(spec, ships_nginx), 0o755));
    area.push(("prerm", render_prerm(spec), 0o755));
    area.push(("postrm", render_postrm(spec), 0o755));
    area
}

/// The script's first lines and the variables it uses (`names`).
fn header(spec: &AppSpec, script: &str, names: &[&str]) -> String {
    let vars = [
        ("PACKAGE", spec.package.clone()),
        ("VENV", spec.venv.clone()),
        ("APP_DIR", spec.app_dir.clone()),
        ("APP_USER", spec.user.clone()),
        ("APP_GROUP", spec.group.clone()),
        ("LOG_DIR", spec.log_dir.clone()),
        ("LOG_FILE", spec.log_file()),
        ("RUN_DIR", spec.runtime_dir()),
        ("PIDFILE", spec.pidfile()),
    ];
    let mut s = format!(
        "#!/bin/sh\n# {script} of {} {}, generated by gen-control from the app spec.\nset -e\n\n\
         # dpkg sets DPKG_ROOT for installs with --root: act on that tree only.\n\
         ROOT=\"${{DPKG_ROOT:-}}\"\n",
        spec.package, spec.version
    );
    for (k, v) in vars.iter().filter(|(k, _)| names.contains(k)) {
        let _ = writeln!(s, "{k}={}", quote(v));
    }
    s
}

/// True when postinst must create the service's user or group.
fn custom_account(spec: &AppSpec) -> bool {
    spec.user != "www-data" || spec.group != "www-data"
}

/// The variables postinst uses.
const POSTINST_VARS: &[&str] = &[
    "PACKAGE",
    "VENV",
    "APP_DIR",
    "APP_USER",
    "APP_GROUP",
    "LOG_DIR",
    "LOG_FILE",
    "RUN_DIR",
];

/// Render `postinst`.
pub fn render_postinst(spec: &AppSpec, ships_nginx: bool) -> String {
    let mut s = header(spec, "postinst", POSTINST_VARS);
    let mut configure = String::new();
    if custom_account(spec) {
        configure.push_str(
            "    # The service's own user and group; nginx (www-data) reaches the\n\
             \x20   # socket through the group.\n\
             \x20   if [ -z \"$ROOT\" ]; then\n\
             \x20       if ! getent group \"$APP_GROUP\" >/dev/null; then\n\
             \x20           addgroup --system --quiet \"$APP_GROUP\"\n\
             \x20       fi\n\
             \x20       if ! getent passwd \"$APP_USER\" >/dev/null; then\n\
             \x20           adduser --system --no-create-home --home /nonexistent --ingroup \"$APP_GROUP\" --quiet \"$APP_USER\"\n\
             \x20       fi\n\
             \x20       if [ \"$APP_GROUP\" != www-data ]; then\n\
             \x20           adduser --quiet www-data \"$APP_GROUP\"\n\
             \x20       fi\n\
             \x20   fi\n",
        );
    }
    configure.push_str(
        "    # The runtime directory (the socket's): systemd (RuntimeDirectory=) and\n\
         \x20   # the SysV script make it at each start; made here so it exists now.\n\
         \x20   if [ -z \"$ROOT\" ]; then\n\
         \x20       install -d -o \"$APP_USER\" -g \"$APP_GROUP\" -m 0750 \"$RUN_DIR\"\n\
         \x20   fi\n\
         \x20   install -d -m 0755 \"$ROOT$LOG_DIR\"\n\
         \x20   if [ ! -e \"$ROOT$LOG_FILE\" ]; then\n\
         \x20       install -m 0640 /dev/null \"$ROOT$LOG_FILE\"\n\
         \x20       [ -n \"$ROOT\" ] || chown \"$APP_USER:$APP_GROUP\" \"$LOG_FILE\"\n\
         \x20   fi\n\
         \x20   compile\n",
    );
    if let Some(hook) = &spec.config_hook {
        let _ = write!(
            configure,
            "    # The app's config hook, with the app's environment.\n\
             \x20   (\n\
             \x20       cd \"$ROOT$APP_DIR\"\n\
             \x20       export DJANGO_SETTINGS_MODULE={}\n",
            quote(&spec.settings)
        );
        for (k, v) in &spec.env {
            let _ = writeln!(configure, "        export {k}={}", quote(v));
        }
        let _ = write!(
            configure,
            "        \"$ROOT$VENV/bin/python3\" \"$ROOT$APP_DIR/\"{}\n    )\n",
            quote(hook)
        );
    }
    // lintian looks for the script's literal name after update-rc.d.
    s.push_str(&POSTINST_FUNCTIONS.replace(
        "update-rc.d \"$PACKAGE\"",
        &format!("update-rc.d {}", quote(&spec.package)),
    ));
    if ships_nginx {
        s.push_str(
            "\n# Reload nginx when it runs, so it picks up the app's configuration.\n\
             reload_nginx() {\n\
             \x20   [ -z \"$ROOT\" ] || return 0\n\
             \x20   if [ -x /etc/init.d/nginx ] || [ -d /run/systemd/system ]; then\n\
             \x20       if invoke-rc.d nginx status >/dev/null 2>&1; then\n\
             \x20           invoke-rc.d nginx reload || echo \"$PACKAGE: nginx reload failed; check 'nginx -t'\" >&2\n\
             \x20       fi\n\
             \x20   fi\n\
             }\n",
        );
    }
    let configure = configure.lines().fold(String::new(), |mut acc, l| {
        let _ = writeln!(acc, "    {l}");
        acc
    });
    let _ = write!(
        s,
        "\ncase \"$1\" in\n\
         \x20   configure)\n{configure}\
         \x20       start_service \"$2\"\n{nginx}\
         \x20       ;;\n\
         \x20   abort-upgrade|abort-remove|abort-deconfigure)\n\
         \x20       # The old version is configured again: run it.\n\
         \x20       compile\n\
         \x20       start_service \"$2\"\n\
         \x20       ;;\n\
         \x20   triggered)\n\
         \x20       # No trigger interest is declared; nothing to do.\n\
         \x20       ;;\n\
         \x20   *)\n\
         \x20       echo \"postinst called with unknown argument '$1'\" >&2\n\
         \x20       exit 1\n\
         \x20       ;;\n\
         esac\n\n\
         exit 0\n",
        nginx = if ships_nginx {
            "        reload_nginx\n"
        } else {
            ""
        },
    );
    s
}

/// postinst's shell functions: byte-compiling and starting the service.
const POSTINST_FUNCTIONS: &str = "\n# Byte-compile the venv and the app where they are installed (the package\n\
         # ships no bytecode; prerm removes what this makes).\n\
         compile() {\n\
         \x20   if [ -x \"$ROOT$VENV/bin/python3\" ]; then\n\
         \x20       \"$ROOT$VENV/bin/python3\" -m compileall -q -d \"$VENV\" \"$ROOT$VENV\" >/dev/null 2>&1 || true\n\
         \x20       \"$ROOT$VENV/bin/python3\" -m compileall -q -d \"$APP_DIR\" \"$ROOT$APP_DIR\" >/dev/null 2>&1 || true\n\
         \x20   fi\n\
         }\n\
         \n\
         # Enable and (re)start the service: systemd when it runs, else the SysV\n\
         # script through invoke-rc.d, which honours policy-rc.d.\n\
         start_service() {\n\
         \x20   [ -z \"$ROOT\" ] || return 0\n\
         \x20   if command -v deb-systemd-helper >/dev/null; then\n\
         \x20       deb-systemd-helper unmask \"$PACKAGE.service\" >/dev/null || true\n\
         \x20       if deb-systemd-helper --quiet was-enabled \"$PACKAGE.service\"; then\n\
         \x20           deb-systemd-helper enable \"$PACKAGE.service\" >/dev/null || true\n\
         \x20       else\n\
         \x20           deb-systemd-helper update-state \"$PACKAGE.service\" >/dev/null || true\n\
         \x20       fi\n\
         \x20   fi\n\
         \x20   if [ -x \"/etc/init.d/$PACKAGE\" ]; then\n\
         \x20       update-rc.d \"$PACKAGE\" defaults >/dev/null\n\
         \x20   fi\n\
         \x20   if [ -n \"$1\" ]; then action=restart; else action=start; fi\n\
         \x20   if [ -d /run/systemd/system ]; then\n\
         \x20       systemctl --system daemon-reload >/dev/null || true\n\
         \x20       deb-systemd-invoke \"$action\" \"$PACKAGE.service\" >/dev/null\n\
         \x20   elif [ -x \"/etc/init.d/$PACKAGE\" ]; then\n\
         \x20       invoke-rc.d \"$PACKAGE\" \"$action\"\n\
         \x20   fi\n\
         }\n";

/// Render `prerm`.
pub fn render_prerm(spec: &AppSpec) -> String {
    let mut s = header(spec, "prerm", &["PACKAGE", "VENV", "APP_DIR"]);
    s.push_str(
        "\nstop_service() {\n\
         \x20   [ -z \"$ROOT\" ] || return 0\n\
         \x20   if [ -d /run/systemd/system ]; then\n\
         \x20       deb-systemd-invoke stop \"$PACKAGE.service\" >/dev/null || true\n\
         \x20   elif [ -x \"/etc/init.d/$PACKAGE\" ]; then\n\
         \x20       invoke-rc.d \"$PACKAGE\" stop\n\
         \x20   fi\n\
         }\n\
         \n\
         # dpkg does not know the bytecode postinst made: remove it, or upgrades\n\
         # and purges leave stale __pycache__ directories behind.\n\
         remove_bytecode() {\n\
         \x20   for dir in \"$ROOT$VENV\" \"$ROOT$APP_DIR\"; do\n\
         \x20       [ -d \"$dir\" ] || continue\n\
         \x20       find \"$dir\" -depth -type d -name __pycache__ -exec rm -rf {} +\n\
         \x20   done\n\
         }\n\
         \n\
         case \"$1\" in\n\
         \x20   remove|upgrade|deconfigure)\n\
         \x20       stop_service\n\
         \x20       remove_bytecode\n\
         \x20       ;;\n\
         \x20   failed-upgrade)\n\
         \x20       ;;\n\
         \x20   *)\n\
         \x20       echo \"prerm called with unknown argument '$1'\" >&2\n\
         \x20       exit 1\n\
         \x20       ;;\n\
         esac\n\n\
         exit 0\n",
    );
    s
}

/// Render `postrm`.
pub fn render_postrm(spec: &AppSpec) -> String {
    let mut s = header(
        spec,
        "postrm",
        &[
            "PACKAGE", "VENV", "APP_DIR", "LOG_DIR", "LOG_FILE", "RUN_DIR", "PIDFILE",
        ],
    );
    s.push_str(&POSTRM_CASES.replace(
        "update-rc.d \"$PACKAGE\"",
        &format!("update-rc.d {}", quote(&spec.package)),
    ));
    s
}

/// postrm's body.
const POSTRM_CASES: &str = "\ncase \"$1\" in\n\
         \x20   purge)\n\
         \x20       # Logs, runtime state and what the config hook generated in the app\n\
         \x20       # dir; conffiles are dpkg's to purge. The shared www-data user stays.\n\
         \x20       rm -f \"$ROOT$LOG_FILE\" \"$ROOT$LOG_FILE\".*\n\
         \x20       rmdir \"$ROOT$LOG_DIR\" 2>/dev/null || true\n\
         \x20       rm -rf \"$ROOT$RUN_DIR\"\n\
         \x20       rm -f \"$ROOT$PIDFILE\"\n\
         \x20       rm -rf \"$ROOT$APP_DIR\" \"$ROOT$VENV\"\n\
         \x20       if [ -z \"$ROOT\" ]; then\n\
         \x20           update-rc.d \"$PACKAGE\" remove >/dev/null\n\
         \x20           if command -v deb-systemd-helper >/dev/null; then\n\
         \x20               deb-systemd-helper purge \"$PACKAGE.service\" >/dev/null || true\n\
         \x20               deb-systemd-helper unmask \"$PACKAGE.service\" >/dev/null || true\n\
         \x20           fi\n\
         \x20       fi\n\
         \x20       ;;\n\
         \x20   remove)\n\
         \x20       if [ -z \"$ROOT\" ] && [ -d /run/systemd/system ]; then\n\
         \x20           systemctl --system daemon-reload >/dev/null || true\n\
         \x20       fi\n\
         \x20       ;;\n\
         \x20   upgrade|failed-upgrade|abort-install|abort-upgrade|disappear)\n\
         \x20       ;;\n\
         \x20   *)\n\
         \x20       echo \"postrm called with unknown argument '$1'\" >&2\n\
         \x20       exit 1\n\
         \x20       ;;\n\
         esac\n\n\
         exit 0\n";

#[cfg(test)]
mod tests {
    use super::*;
    use debpipe_core::testing::spec;

    #[test]
    fn verify_cli() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn depends_merge_facts_nginx_and_spec_without_repeats() {
        let s = spec(r#"{"module":"a","version":"1","depends":["libpq5","nginx"]}"#);
        let f = Facts {
            python_depends: vec!["python3 (>= 3.11)".into(), "python3 (<< 3.12)".into()],
            shlib_depends: vec!["libc6 (>= 2.36)".into()],
            depends: vec![],
            architecture: Some("amd64".into()),
        };
        assert_eq!(
            depends(&s, &[f], true),
            [
                "python3 (>= 3.11)",
                "python3 (<< 3.12)",
                "libc6 (>= 2.36)",
                "nginx",
                "dpkg (>= 1.20.6)",
                "libpq5"
            ]
        );
    }

    #[test]
    fn control_has_gencontrol_order_and_folded_description() {
        let s = spec(
            r#"{"module":"a","version":"1.0-1","description":"Short\nLong one.\n\nLong two.","homepage":"https://a.example"}"#,
        );
        let c = render_control(&s, &[], false);
        assert_eq!(
            c,
            "Package: a-api\nVersion: 1.0-1\nArchitecture: all\nMaintainer: a-api maintainers <root@localhost>\n\
             Depends: dpkg (>= 1.20.6)\nSection: web\nPriority: optional\nHomepage: https://a.example\n\
             Description: Short\n Long one.\n .\n Long two.\n"
        );
        let parsed = debpipe_core::deb822::parse(&c).unwrap();
        assert_eq!(parsed.len(), 1);
    }

    #[test]
    fn architecture_prefers_spec_then_compiled_facts() {
        let f = |a: &str| Facts {
            architecture: Some(a.into()),
            ..Facts::default()
        };
        let s = spec(r#"{"module":"a","version":"1"}"#);
        assert!(
            render_control(&s, &[f("all"), f("amd64")], false).contains("Architecture: amd64\n")
        );
        let s = spec(r#"{"module":"a","version":"1","architecture":"arm64"}"#);
        assert!(render_control(&s, &[f("amd64")], false).contains("Architecture: arm64\n"));
    }

    #[test]
    fn custom_user_is_created_and_depends_on_adduser() {
        let s = spec(r#"{"module":"a","version":"1","user":"appuser"}"#);
        assert!(render_postinst(&s, false).contains("adduser --system"));
        assert!(depends(&s, &[], false).contains(&"adduser".to_string()));
        let s = spec(r#"{"module":"a","version":"1","group":"appgroup"}"#);
        assert!(render_postinst(&s, false).contains("addgroup --system"));
        assert!(render_postinst(&s, false).contains("adduser --quiet www-data"));
        let s = spec(r#"{"module":"a","version":"1"}"#);
        assert!(!render_postinst(&s, false).contains("adduser"));
    }

    /// Every upper-case variable a script uses is assigned in it (an unset
    /// one would expand to "" and, say, `install -d ""` would fail configure).
    #[test]
    fn scripts_assign_every_variable_they_use() {
        let s = spec(
            r#"{"module":"a","version":"1","user":"appuser","config_hook":"x.py","env":{"A":"b"}}"#,
        );
        for (name, text, _) in render_area(&s, String::new(), &[], true) {
            if !["postinst", "prerm", "postrm"].contains(&name) {
                continue;
            }
            let used = text.split('$').skip(1).filter_map(|rest| {
                let rest = rest.strip_prefix('{').unwrap_or(rest);
                let var: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                (!var.is_empty()).then_some(var)
            });
            for var in used {
                let assigned = text
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{var}=")))
                    || var == "DPKG_ROOT";
                assert!(assigned, "{name} uses ${var} without assigning it");
            }
        }
    }

    #[test]
    fn bad_facts_are_named() {
        let e = Facts::from_json(
            Path::new("f.json"),
            br#"{"python_depends":["python3, evil"]}"#,
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("f.json: `python_depends[0]`"),
            "{e}"
        );
    }
}
