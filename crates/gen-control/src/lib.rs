//! gen-control: app spec (+ facts from mkvenv) -> the package's control area
//! (`DEBIAN/`): `control`, `conffiles` and the maintainer scripts.
//!
//! The maintainer scripts (`scripts/*.sh`, filled by `shell::Template`) do what
//! debhelper's snippets and the seed's postinst do, for both init systems:
//! create the service user when it is not `www-data`, make the log and state
//! directories and the secret key, byte-compile the venv and the app at
//! their install paths (mkvenv ships no bytecode), run the app's config hook
//! (the seed's `scripts/updateconfig.py` by default), check a new version
//! before it takes traffic (preflight), run migrations when asked, register
//! the service (`deb-systemd-helper` and `update-rc.d`), start it, or reload
//! it gracefully on an upgrade, through `deb-systemd-invoke`/`invoke-rc.d`
//! so `policy-rc.d` is honoured, and reload nginx when its file changed.
//! prerm stops the service on removal (not on upgrade) and removes the
//! bytecode postinst made; postrm purge removes logs, runtime and state.
//!
//! Every path honours `DPKG_ROOT` (set by dpkg for `--root` installs); with
//! `DPKG_ROOT` set, no service or user is touched, as debhelper's snippets do.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use debpipe_core::deb822::{Paragraph, fold_description};
use debpipe_core::shell::{Block, Template, Var};
use debpipe_core::{AppSpec, Error, Result, io};

/// Generate the package's control area.
#[derive(Debug, clap::Parser)]
#[command(
    version,
    about = "Generate the package's control area (control, conffiles, maintainer scripts)",
    long_about = "Generate the package's DEBIAN/ control area from the app spec (JSON, see README) \
and the facts files of other tools (mkvenv's JSON: python and shared-library dependencies, \
architecture).\n\n\
With --root STAGE, conffiles lists every file under STAGE/etc and the area is written to \
STAGE/DEBIAN (or --out-dir DIR); the directory is printed. Without --root or --out-dir, the control \
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
    /// Append SUFFIX to the package's Version, e.g. `+deb13` for a build for
    /// Debian 13 (`make DIST=trixie` passes it): one app version built for
    /// several releases gets distinct file names, sorting by release
    #[arg(long, value_name = "SUFFIX", value_parser = version_suffix)]
    pub version_suffix: Option<String>,
    /// Write the control area to DIR (created if missing) and print DIR
    /// (`-o`/`--out` still work for one release: `-o` is a file in the other tools)
    #[arg(long = "out-dir", value_name = "DIR", alias = "out", short_alias = 'o')]
    pub out: Option<PathBuf>,
}

/// A version suffix: `+` or `~` and then letters, digits, `.`, `+`, `~`
/// (what Debian's own rebuilds use: `+deb13u1`, `~bpo12+1`).
pub fn version_suffix(v: &str) -> std::result::Result<String, String> {
    let mut chars = v.chars();
    let ok = matches!(chars.next(), Some('+' | '~'))
        && v.len() > 1
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '~'));
    if ok {
        Ok(v.to_string())
    } else {
        Err(format!(
            "'{v}' is not a version suffix: a '+' or '~', then letters, digits, '.', '+' or '~' (e.g. +deb13)"
        ))
    }
}

/// What other tools found out about the package's contents (mkvenv's
/// facts), as the one type in debpipe-core.
pub use debpipe_core::facts::Facts;

/// The control area: file name, contents, mode.
pub type Area = Vec<(&'static str, String, u32)>;

/// Run the tool.
pub fn run(cli: &Cli) -> Result<()> {
    let spec = AppSpec::from_json(&cli.spec, &io::read_input(&cli.spec)?)?;
    let spec = match &cli.version_suffix {
        Some(suffix) => spec.with_version_suffix(suffix).map_err(|r| {
            Error::Usage(format!(
                "--version-suffix {suffix}: {}{suffix}: {r}",
                spec.version
            ))
        })?,
        None => spec,
    };
    let mut facts = Vec::new();
    for f in &cli.facts {
        facts.push(Facts::from_json(f, &io::read_input(f)?)?);
    }
    let staged = match &cli.root {
        Some(root) => Staged::read(&spec, root)?,
        None => Staged::assumed(&spec),
    };
    let out_dir = cli
        .out
        .clone()
        .or_else(|| cli.root.as_ref().map(|r| r.join("DEBIAN")));
    let control = render_control(&spec, &facts, staged.ships_nginx)?;
    let Some(dir) = out_dir else {
        return io::write_stdout(control.as_bytes());
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    for (name, text, mode) in render_area(&spec, control, &staged) {
        io::write_atomic(&dir.join(name), text.as_bytes(), mode)?;
    }
    io::write_stdout(format!("{}\n", dir.display()).as_bytes())
}

/// The seed's convention: postinst runs `scripts/updateconfig.py` when the
/// staged app has one and the spec names no other `config_hook`.
pub const SEED_HOOK: &str = "scripts/updateconfig.py";

/// Whether the staged app at `root` has the seed's hook ([`SEED_HOOK`]).
fn has_seed_hook(spec: &AppSpec, root: &Path) -> bool {
    root.join(spec.app_dir.trim_start_matches('/'))
        .join(SEED_HOOK)
        .is_file()
}

/// The hook postinst runs: the spec's `config_hook`, else the seed's when
/// the stage has it.
pub fn config_hook<'a>(spec: &'a AppSpec, staged: &Staged) -> Option<&'a str> {
    spec.config_hook
        .as_deref()
        .or(staged.seed_hook.then_some(SEED_HOOK))
}

/// What gen-control learns from the staging tree: the conffiles, the nginx
/// file the package ships (if any) and where, and the files readable by
/// their group alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Staged {
    /// Every file under `STAGE/etc`, sorted (dpkg's conffiles).
    pub conffiles: Vec<String>,
    /// The package ships an nginx file (Depends on nginx, reloads).
    pub ships_nginx: bool,
    /// [`fingerprint`] of that file (`none` without one).
    pub nginx_shipped: String,
    /// The server block is staged at [`nginx_site_path`] (outside what
    /// nginx reads): postinst links it into sites-enabled and postrm remove
    /// takes the link away.
    pub nginx_site: bool,
    /// Conffiles readable by their group and not by others (mode, path):
    /// postinst gives them the service's group.
    pub group_files: Vec<(u32, String)>,
    /// The staged app has the seed's hook, [`SEED_HOOK`] (postinst runs it
    /// when the spec names no `config_hook`).
    pub seed_hook: bool,
}

impl Staged {
    /// Read what the stage at `root` holds.
    pub fn read(spec: &AppSpec, root: &Path) -> Result<Self> {
        let etc = root.join("etc");
        let mut files = Vec::new();
        if etc.exists() {
            walk_files(root, &etc, &mut files)?;
        }
        files.sort();
        let mut staged = Self {
            nginx_shipped: "none".into(),
            seed_hook: has_seed_hook(spec, root),
            ..Self::default()
        };
        let site = nginx_site_path(spec);
        for path in [site.as_str(), &spec.nginx_conf_path()] {
            let file = root.join(path.trim_start_matches('/'));
            if file.is_file() {
                let text = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
                staged.nginx_shipped = fingerprint(&text);
                staged.ships_nginx = true;
                staged.nginx_site = path == site;
                break;
            }
        }
        for (path, mode) in files {
            if mode & 0o044 == 0o040 {
                staged.group_files.push((mode, path.clone()));
            }
            staged.conffiles.push(path);
        }
        Ok(staged)
    }

    /// Without a stage: the files the spec's own generators put under
    /// /etc, nginx's file where the spec puts it.
    pub fn assumed(spec: &AppSpec) -> Self {
        let mut conffiles = vec![spec.sysv_script_path()];
        if spec.nginx_conf_path().starts_with("/etc/") {
            conffiles.push(spec.nginx_conf_path());
        }
        conffiles.sort();
        Self {
            conffiles,
            ships_nginx: true,
            nginx_shipped: "none".into(),
            ..Self::default()
        }
    }
}

/// Where a server block lives when nginx is to stop routing to the site on
/// `remove`: a conffile outside what nginx reads,
/// `/etc/nginx/sites-available/<package>.conf`, enabled by a link postinst
/// makes ([`nginx_site_link`]).
pub fn nginx_site_path(spec: &AppSpec) -> String {
    format!("/etc/nginx/sites-available/{}.conf", spec.package)
}

/// The link that enables [`nginx_site_path`]:
/// `/etc/nginx/sites-enabled/<package>.conf`, which Debian's nginx.conf
/// includes.
pub fn nginx_site_link(spec: &AppSpec) -> String {
    format!("/etc/nginx/sites-enabled/{}.conf", spec.package)
}

fn nginx_link_target(spec: &AppSpec) -> String {
    format!("../sites-available/{}.conf", spec.package)
}

/// The files the spec's own generators put under /etc.
pub fn default_conffiles(spec: &AppSpec) -> Vec<String> {
    Staged::assumed(spec).conffiles
}

fn walk_files(root: &Path, dir: &Path, out: &mut Vec<(String, u32)>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
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
            let mode = entry
                .metadata()
                .map_err(|e| Error::io(&path, e))?
                .permissions()
                .mode()
                & 0o7777;
            out.push((format!("/{s}"), mode));
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
///
/// The maintainer comes from the spec or the environment
/// ([`AppSpec::maintainer`]); without either this is an error.
pub fn render_control(spec: &AppSpec, facts: &[Facts], ships_nginx: bool) -> Result<String> {
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
    p.set("Maintainer", spec.maintainer()?);
    let deps = depends(spec, facts, ships_nginx);
    if !deps.is_empty() {
        p.set("Depends", deps.join(", "));
    }
    if !spec.recommends.is_empty() {
        p.set("Recommends", spec.recommends.join(", "));
    }
    if !spec.suggests.is_empty() {
        p.set("Suggests", spec.suggests.join(", "));
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
    Ok(p.to_string())
}

/// Render the whole control area.
pub fn render_area(spec: &AppSpec, control: String, staged: &Staged) -> Area {
    let mut area: Area = vec![("control", control, 0o644)];
    if !staged.conffiles.is_empty() {
        let mut text = staged.conffiles.join("\n");
        text.push('\n');
        area.push(("conffiles", text, 0o644));
    }
    area.push(("postinst", render_postinst(spec, staged), 0o755));
    area.push(("prerm", render_prerm(spec), 0o755));
    area.push(("postrm", render_postrm(spec, staged), 0o755));
    area
}

/// The maintainer scripts, as shell files beside this crate (shellcheck reads
/// them as they are); [`Template`] writes the spec's values into them.
const POSTINST: &str = include_str!("../scripts/postinst.sh");
const PRERM: &str = include_str!("../scripts/prerm.sh");
const POSTRM: &str = include_str!("../scripts/postrm.sh");

/// The user the service ran as before it had its own (debpipe's old
/// default): an upgrade moves what it owned over.
pub const OLD_DEFAULT_USER: &str = "www-data";

/// True when postinst must create the service's user or group.
fn custom_account(spec: &AppSpec) -> bool {
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

/// The function that (un)registers each daemon's SysV script, one literal
/// `update-rc.d <package>-NAME` line each (lintian reads them; names are
/// unit-safe, no quoting needed). Registration waits for the script
/// (`[ -x ]`): another package layout may not ship one.
fn sysv_jobs(spec: &AppSpec, function: &str, action: &str) -> String {
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
    body
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
/// ([`fingerprint`]): postinst reloads nginx only when it changes.
pub fn render_postinst(spec: &AppSpec, staged: &Staged) -> String {
    let yes = |b: bool| if b { "yes" } else { "no" };
    let site = |v: String| if staged.nginx_site { v } else { String::new() };
    script(spec, "postinst.sh", POSTINST)
        .block("account", account_block(spec))
        .block(
            "sysv-jobs",
            Block::Replace(sysv_jobs(spec, "register_sysv_jobs", "defaults")),
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
            set("NGINX_SITE", site(nginx_site_path(spec))),
            set("NGINX_LINK", site(nginx_site_link(spec))),
            set("NGINX_LINK_TARGET", site(nginx_link_target(spec))),
            set("PIDFILE", spec.pidfile()),
            set(
                "WSGI_MODULE",
                AppSpec::WSGI_ENTRY.split_once(':').map_or("", |(m, _)| m),
            ),
            set(
                "WSGI_CALLABLE",
                AppSpec::WSGI_ENTRY.split_once(':').map_or("", |(_, c)| c),
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

/// A stable 64-bit FNV-1a fingerprint, in hex: it tells one build's file
/// from another's, nothing more (no security rests on it).
pub fn fingerprint(data: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
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
    let yes = |b: bool| if b { "yes" } else { "no" };
    let site = |v: String| if staged.nginx_site { v } else { String::new() };
    script(spec, "postrm.sh", POSTRM)
        .block(
            "sysv-jobs",
            Block::Replace(sysv_jobs(spec, "unregister_sysv_jobs", "remove")),
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
            set("NGINX_LINK", site(nginx_site_link(spec))),
            set("NGINX_LINK_TARGET", site(nginx_link_target(spec))),
        ])
        .fill()
}

#[cfg(test)]
mod tests {
    use super::*;
    use debpipe_testkit::spec;

    #[test]
    fn version_suffixes_are_debians_rebuild_suffixes() {
        assert_eq!(version_suffix("+deb13").unwrap(), "+deb13");
        assert!(version_suffix("~bpo12+1").is_ok());
        for bad in ["deb13", "+", "+deb 13", "+deb13-1", "+deb_13", ""] {
            assert!(version_suffix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn derived_values_leave_the_validated_spec_as_it_is() {
        let s = spec(r#"{"module":"a","version":"1.0-1"}"#);
        let rebuilt = s.with_version_suffix("+deb13").unwrap();
        assert_eq!(
            (s.version.as_str(), rebuilt.version.as_str()),
            ("1.0-1", "1.0-1+deb13")
        );
        // Only the version differs.
        let mut back = rebuilt.clone();
        back.version.clone_from(&s.version);
        assert_eq!(back, s);
        assert!(s.with_version_suffix("+a b").is_err());
        let seeded = Staged {
            seed_hook: true,
            ..Staged::default()
        };
        assert_eq!(config_hook(&s, &Staged::default()), None);
        assert_eq!(config_hook(&s, &seeded), Some(SEED_HOOK));
        let own = spec(r#"{"module":"a","version":"1","config_hook":"x.py"}"#);
        assert_eq!(config_hook(&own, &seeded), Some("x.py"));
        assert!(render_postinst(&s, &seeded).contains("\nCONFIG_HOOK='scripts/updateconfig.py'\n"));
    }

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
            architecture: Some("amd64".into()),
            ..Facts::default()
        };
        assert_eq!(
            depends(&s, &[f], true),
            [
                "python3 (>= 3.11)",
                "python3 (<< 3.12)",
                "libc6 (>= 2.36)",
                "nginx",
                "dpkg (>= 1.20.6)",
                // the default user is the package's own, made by adduser
                "adduser",
                "libpq5"
            ]
        );
    }

    #[test]
    fn control_has_gencontrol_order_and_folded_description() {
        let s = spec(
            r#"{"module":"a","version":"1.0-1","description":"Short\nLong one.\n\nLong two.","homepage":"https://a.example","maintainer":"A Team <a@example.com>",
            "recommends":["postgresql","redis-server (>= 5)"],"suggests":["memcached"]}"#,
        );
        let c = render_control(&s, &[], false).unwrap();
        assert_eq!(
            c,
            "Package: a-api\nVersion: 1.0-1\nArchitecture: all\nMaintainer: A Team <a@example.com>\n\
             Depends: dpkg (>= 1.20.6), adduser\nRecommends: postgresql, redis-server (>= 5)\n\
             Suggests: memcached\nSection: web\nPriority: optional\nHomepage: https://a.example\n\
             Description: Short\n Long one.\n .\n Long two.\n"
        );
        let s = spec(r#"{"module":"a","version":"1","maintainer":"A <a@example.com>"}"#);
        let c = render_control(&s, &[], false).unwrap();
        assert!(!c.contains("Recommends") && !c.contains("Suggests"), "{c}");
        let parsed = debpipe_core::deb822::parse(&c).unwrap();
        assert_eq!(parsed.len(), 1);
    }

    #[test]
    fn architecture_prefers_spec_then_compiled_facts() {
        let f = |a: &str| Facts {
            architecture: Some(a.into()),
            ..Facts::default()
        };
        let s = spec(r#"{"module":"a","version":"1","maintainer":"A <a@example.com>"}"#);
        assert!(
            render_control(&s, &[f("all"), f("amd64")], false)
                .unwrap()
                .contains("Architecture: amd64\n")
        );
        let s = spec(
            r#"{"module":"a","version":"1","architecture":"arm64","maintainer":"A <a@example.com>"}"#,
        );
        assert!(
            render_control(&s, &[f("amd64")], false)
                .unwrap()
                .contains("Architecture: arm64\n")
        );
    }

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

    /// Every upper-case variable a script uses is assigned in it (an unset
    /// one would expand to "" and, say, `install -d ""` would fail configure).
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
    fn maintainer_comes_from_the_spec_then_debfullname_and_debemail() {
        let s = spec(r#"{"module":"a","version":"1"}"#);
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_string())
            }
        };
        assert_eq!(
            s.maintainer_with(env(&[
                ("DEBFULLNAME", "Jo Doe"),
                ("DEBEMAIL", "jo@example.org")
            ]))
            .unwrap(),
            "Jo Doe <jo@example.org>"
        );
        assert_eq!(
            s.maintainer_with(env(&[("DEBEMAIL", "Jo Doe <jo@example.org>")]))
                .unwrap(),
            "Jo Doe <jo@example.org>"
        );
        for missing in [&[][..], &[("DEBEMAIL", "jo@example.org")][..]] {
            let e = s.maintainer_with(env(missing)).unwrap_err().to_string();
            assert!(
                e.starts_with("spec field `maintainer`: not set")
                    && e.contains("DEBFULLNAME")
                    && e.contains("DEBEMAIL")
                    && !e.contains('\n'),
                "{e}"
            );
        }
        let e = s
            .maintainer_with(env(&[
                ("DEBFULLNAME", "Jo"),
                ("DEBEMAIL", "root@localhost"),
            ]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("real domain"), "{e}");
        let s = spec(r#"{"module":"a","version":"1","maintainer":"A <a@example.com>"}"#);
        assert_eq!(
            s.maintainer_with(env(&[("DEBEMAIL", "x <x@example.org>")]))
                .unwrap(),
            "A <a@example.com>"
        );
    }

    /// lintian (script-in-etc-init.d-not-registered-via-update-rc.d) looks
    /// for `update-rc.d <name>` with the name unquoted.
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
