//! stage-app: copy an app directory into a staging tree at the spec's
//! install paths, with what every Debian package carries.
//!
//! From `APP` (laid out as the README documents):
//! - the Django project (everything but `app.json`, `wheels/`, `etc/`,
//!   dotfiles and bytecode) goes to `STAGE/<app_dir>`;
//! - `APP/etc/**` goes to `STAGE/etc/**` (gen-control lists them as
//!   conffiles), keeping the read bits a file withholds: a 0640 file stays
//!   0640 and gen-control's postinst gives it the service's group. Files
//!   under the spec's `private_config` (default `/etc/<package>`) lose
//!   others' bits whatever their source mode, since a git checkout keeps
//!   no 0640;
//! - `STAGE/usr/share/doc/<package>/copyright` (from `APP/COPYING` or
//!   `APP/LICENSE` when present) and `changelog.Debian.gz` (gzip without a
//!   timestamp), and lintian overrides, each with its reason: the seed's
//!   layout lives in /opt on purpose, and tags on third-party files inside
//!   the private venv are the wheels' (the package's own files stay
//!   checked).
//!
//! `--print FIELD` prints one resolved spec value instead (for Makefiles).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use clap::ValueEnum as _;
use debpipe_core::date::rfc2822;
use debpipe_core::io::gzip9n;
use debpipe_core::{AppSpec, Error, Result, io, modes};

/// Copy an app into a staging tree, or print a resolved spec value.
#[derive(Debug, clap::Parser)]
#[command(
    version,
    about = "Copy an app directory into a staging tree at the spec's install paths",
    long_about = "Copy an app directory into a staging tree at the spec's install paths \
(JSON spec, see README): the Django project to <app_dir>, APP/etc to /etc, and the \
copyright, changelog.Debian.gz and lintian override every package needs. Prints STAGE.\n\n\
With --print FIELD, print one value of the resolved spec (defaults filled in) instead.",
    after_help = "Examples:\n  stage-app app.json --app . --root stage\n  stage-app --print venv app.json        # /opt/www/venvs/wechat-api"
)]
pub struct Cli {
    /// App spec (JSON); `-` reads stdin
    #[arg(value_name = "SPEC", default_value = "-")]
    pub spec: PathBuf,
    /// App directory to copy (default: the spec's directory)
    #[arg(long, value_name = "DIR", conflicts_with = "print")]
    pub app: Option<PathBuf>,
    /// Staging tree to fill
    #[arg(long, value_name = "STAGE", required_unless_present = "print")]
    pub root: Option<PathBuf>,
    /// Print one resolved value instead of staging (deprecated: `appspec
    /// get FIELD SPEC` prints any field; this goes away in 0.2.0)
    #[arg(long, value_name = "FIELD", value_enum)]
    pub print: Option<Field>,
}

/// A resolved spec value `--print` can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Field {
    /// Package name
    Package,
    /// Package version
    Version,
    /// Install path of the virtualenv
    Venv,
    /// Install path of the Django project
    AppDir,
}

/// Names never copied from the app directory.
const SKIP: &[&str] = &[
    "app.json",
    "wheels",
    "etc",
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    "build",
    "dist",
    "debian",
];

/// Run the tool.
pub fn run(cli: &Cli) -> Result<()> {
    let spec = AppSpec::from_json(&cli.spec, &io::read_input(&cli.spec)?)?;
    if let Some(field) = cli.print {
        let name = field
            .to_possible_value()
            .map_or_else(String::new, |v| v.get_name().replace('-', "_"));
        debpipe_core::cli::deprecated(
            "stage-app",
            "--print",
            &format!("`appspec get {name} SPEC`"),
        );
        let v = match field {
            Field::Package => &spec.package,
            Field::Version => &spec.version,
            Field::Venv => &spec.venv,
            Field::AppDir => &spec.app_dir,
        };
        return io::write_stdout(format!("{v}\n").as_bytes());
    }
    let root = cli
        .root
        .as_deref()
        .ok_or_else(|| Error::Usage("--root is required".into()))?;
    let app = match &cli.app {
        Some(a) => a.clone(),
        None if io::is_stdin(&cli.spec) => {
            return Err(Error::Usage(
                "--app is required when the spec comes from stdin".into(),
            ));
        }
        None => cli
            .spec
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    let app = if app.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        app
    };
    stage(&spec, &app, root)?;
    io::write_stdout(format!("{}\n", root.display()).as_bytes())
}

/// Fill `root` from `app` for `spec`.
pub fn stage(spec: &AppSpec, app: &Path, root: &Path) -> Result<()> {
    if !app.is_dir() {
        return Err(Error::file(app, "not a directory"));
    }
    let maintainer = spec.maintainer()?;
    // The stage may sit inside the app directory (`--app . --root stage`):
    // never copy it into itself.
    fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
    let target = Target {
        canonical: fs::canonicalize(root).map_err(|e| Error::io(root, e))?,
        private: spec.private_config.iter().map(|d| under(root, d)).collect(),
    };
    copy_tree(app, &under(root, &spec.app_dir), Tree::App, &target)?;
    let etc = app.join("etc");
    if etc.is_dir() {
        copy_tree(&etc, &root.join("etc"), Tree::Etc, &target)?;
    }
    let doc = format!("/usr/share/doc/{}", spec.package);
    let mtime = fs::metadata(app).map_err(|e| Error::io(app, e))?;
    let when = debpipe_core::time::source_date_epoch()?.unwrap_or_else(|| {
        use std::os::unix::fs::MetadataExt;
        mtime.mtime()
    });
    io::write_staged(
        root,
        &format!("{doc}/copyright"),
        copyright(spec, &maintainer, when, app)?.as_bytes(),
        0o644,
    )?;
    // A native version (no Debian revision) names it changelog.gz.
    let changelog_name = if spec.version.contains('-') {
        "changelog.Debian.gz"
    } else {
        "changelog.gz"
    };
    io::write_staged(
        root,
        &format!("{doc}/{changelog_name}"),
        &gzip9n(changelog(spec, &maintainer, when).as_bytes()),
        0o644,
    )?;
    io::write_staged(
        root,
        &format!("/usr/share/lintian/overrides/{}", spec.package),
        lintian_overrides(spec, &private_conffiles(root)?).as_bytes(),
        0o644,
    )?;
    Ok(())
}

/// The staged files under `etc/` whose mode keeps others (or the group) out:
/// their install paths without the leading `/`, sorted.
fn private_conffiles(root: &Path) -> Result<Vec<String>> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) -> Result<()> {
        let Ok(entries) = fs::read_dir(dir) else {
            return Ok(());
        };
        for e in entries {
            let path = e.map_err(|e| Error::io(dir, e))?.path();
            let meta = fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
            if meta.is_dir() {
                walk(&path, root, out)?;
            } else if meta.is_file()
                && meta.permissions().mode() & 0o044 != 0o044
                && let Ok(rel) = path.strip_prefix(root)
            {
                out.push(rel.display().to_string());
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(&root.join("etc"), root, &mut out)?;
    out.sort();
    Ok(out)
}

/// What lintian says of any packaged virtualenv, and why it is expected:
/// each override is limited to the venv's own files (and the static files
/// collected from it), the conffiles that keep their restrictive modes
/// (`private`, install paths without the leading `/`), and the changelog
/// debpipe writes.
pub fn lintian_overrides(spec: &AppSpec, private: &[String]) -> String {
    use std::fmt::Write as _;
    let p = &spec.package;
    let venv = spec.venv.trim_start_matches('/');
    // collectstatic copies the same libraries out of the venv, to be served.
    let mut collected = spec.static_files.as_ref().map_or_else(String::new, |st| {
        let dir = st.dir.trim_start_matches('/');
        format!(
            "# collectstatic copies them from the venv into the static root nginx serves.\n\
             {p}: embedded-javascript-library * [{dir}/*]\n\
             {p}: duplicate-font-file * [{dir}/*]\n\
             {p}: truetype-font-prohibits-installable-embedding * [{dir}/*]\n"
        )
    });
    if !private.is_empty() {
        collected.push_str(
            "# The app ships these configuration files readable by the service's group\n\
             # alone (they hold its settings); postinst gives them that group.\n",
        );
        for f in private {
            let _ = writeln!(collected, "{p}: non-standard-file-perm * [{f}]");
        }
    }
    if spec.version.contains('-') {
        collected.push_str("# A private package has no Debian bug to close (no ITP).\n");
        let _ = writeln!(collected, "{p}: initial-upload-closes-no-bugs *");
    }
    format!(
        "# The seed's layout installs the app and its virtualenv under /opt/www on purpose.\n\
         {p}: dir-or-file-in-opt\n\
         # A virtualenv's scripts run the venv's interpreter, not /usr/bin/python3.\n\
         {p}: wrong-path-for-interpreter * [{venv}/*]\n\
         {p}: unusual-interpreter * [{venv}/*]\n\
         # Modules pip installs with a #! line are imported, not run.\n\
         {p}: script-not-executable [{venv}/*]\n\
         # Compiled wheels (uWSGI) come as pip built them, with their own RUNPATH.\n\
         {p}: unstripped-binary-or-object [{venv}/*]\n\
         {p}: custom-library-search-path * [{venv}/*]\n\
         # Django's admin and other wheels ship their own copies of JavaScript\n\
         # libraries (jQuery...); manylinux wheels link their C libraries in (PyYAML:\n\
         # libyaml). They are the wheels' files, and live and update with the venv.\n\
         {p}: embedded-javascript-library * [{venv}/*]\n\
         {p}: embedded-library * [{venv}/*]\n\
         # Some wheels carry their own copy of the IEEE OUI registry (netaddr, scapy...);\n\
         # it is the wheel's data, read by that wheel, not a system copy of ieee-data.\n\
         {p}: package-installs-ieee-data [{venv}/*]\n\
         # Templates and docs inside third-party wheels name external resources; the\n\
         # app decides what it serves, and its own files stay checked.\n\
         {p}: privacy-breach-generic * [{venv}/*]\n\
         # Fonts inside wheels (reportlab's Type 1 and TrueType fonts, DRF's\n\
         # Font Awesome) are the wheels' own, under their licences, for a private\n\
         # package: lintian's font and licence checks are about Debian's archive.\n\
         {p}: license-problem-font-adobe-copyrighted-fragment [{venv}/*]\n\
         {p}: license-problem-font-adobe-copyrighted-fragment-no-credit [{venv}/*]\n\
         {p}: duplicate-font-file * [{venv}/*]\n\
         {p}: truetype-font-prohibits-installable-embedding * [{venv}/*]\n\
         # A wheel's own source files (a .gitignore of its bundled sources).\n\
         {p}: package-contains-vcs-control-file [{venv}/*]\n\
         # postinst moves what www-data owned (a version that ran as www-data) over\n\
         # to the service's own user: `find -user www-data` never follows a\n\
         # symlink and `chown -h` changes a link itself, in the package's own\n\
         # state, media and log paths only.\n\
         {p}: recursive-privilege-change * [postinst:*]\n{collected}"
    )
}

fn under(root: &Path, abs: &str) -> PathBuf {
    root.join(abs.trim_start_matches('/'))
}

/// Which tree `copy_tree` copies: the app directory's top (where `SKIP`
/// applies), a directory below it, or `etc/`, whose files keep their
/// privacy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tree {
    App,
    Below,
    Etc,
}

/// The mode of a file staged from `etc/`: debpipe's rule ([`modes::file_mode`])
/// without the read bits the source withholds, so that a 0640 file stays
/// 0640 (gen-control's postinst gives it the service's group) and a 0600
/// one stays 0600.
pub fn etc_mode(rule: u32, source: u32) -> u32 {
    let mut mode = rule;
    if source & 0o040 == 0 {
        mode &= !0o070;
    }
    if source & 0o004 == 0 {
        mode &= !0o007;
    }
    mode
}

/// Where `copy_tree` writes: the staging tree, canonical (the stage may sit
/// inside the app directory and is never copied into itself), and the staged
/// paths of the spec's `private_config`.
struct Target {
    canonical: PathBuf,
    private: Vec<PathBuf>,
}

/// The mode of a staged file, decided once: debpipe-core's one rule (a file
/// with an executable bit stays executable only if it is a `#!` script or
/// an ELF file: a stray bit on data goes, as lintian asks), then, from
/// `etc/`, [`etc_mode`]. A `private` file (at or below a `private_config`
/// path) also loses others' bits whatever its source mode: it is readable by
/// root and, once postinst gives it the service's group, by the app alone.
fn staged_mode(data: &[u8], source: u32, tree: Tree, private: bool) -> u32 {
    let had_x = source & 0o111 != 0;
    let mut mode = modes::file_mode(data, had_x && data.starts_with(b"\x7fELF"), had_x);
    if tree == Tree::Etc {
        mode = etc_mode(mode, source);
    }
    if private {
        mode &= !0o007;
    }
    mode
}

fn copy_tree(from: &Path, to: &Path, tree: Tree, target: &Target) -> Result<()> {
    let skip = tree == Tree::App;
    fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    fs::set_permissions(to, fs::Permissions::from_mode(modes::EXECUTABLE))
        .map_err(|e| Error::io(to, e))?;
    let mut entries: Vec<_> = fs::read_dir(from)
        .map_err(|e| Error::io(from, e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::io(from, e))?;
    entries.sort_by_key(fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name();
        let name_s = name.to_string_lossy();
        let src = entry.path();
        // Dotfiles (.gitignore, .env with secrets...) and bytecode never ship.
        if skip && SKIP.contains(&name_s.as_ref())
            || name_s.starts_with('.')
            || name_s.ends_with(".pyc")
        {
            continue;
        }
        let dst = to.join(&name);
        let meta = fs::symlink_metadata(&src).map_err(|e| Error::io(&src, e))?;
        if meta.is_dir() {
            if fs::canonicalize(&src).is_ok_and(|c| c == target.canonical) {
                continue;
            }
            let below = if tree == Tree::Etc {
                Tree::Etc
            } else {
                Tree::Below
            };
            copy_tree(&src, &dst, below, target)?;
        } else if meta.file_type().is_symlink() {
            let link = fs::read_link(&src).map_err(|e| Error::io(&src, e))?;
            let _ = fs::remove_file(&dst);
            std::os::unix::fs::symlink(&link, &dst).map_err(|e| Error::io(&dst, e))?;
        } else if meta.is_file() {
            let data = fs::read(&src).map_err(|e| Error::io(&src, e))?;
            let private = target.private.iter().any(|p| dst.starts_with(p));
            let mode = staged_mode(&data, meta.permissions().mode(), tree, private);
            io::write_atomic(&dst, &data, mode)?;
        } else {
            return Err(Error::file(
                &src,
                "not a regular file, directory or symlink",
            ));
        }
    }
    Ok(())
}

fn copyright(spec: &AppSpec, maintainer: &str, when: i64, app: &Path) -> Result<String> {
    for name in ["COPYING", "LICENSE", "LICENSE.txt", "copyright"] {
        let p = app.join(name);
        if p.is_file() {
            return fs::read_to_string(&p).map_err(|e| Error::io(&p, e));
        }
    }
    Ok(format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: {}\n\nFiles: *\nCopyright: {} {}\nLicense: other\n \
         No license file was found in the app directory; ask the maintainer.\n",
        spec.package,
        debpipe_core::date::year(when),
        maintainer
    ))
}

/// A Debian changelog entry for the spec's version by `maintainer`, dated
/// `when` (seconds).
pub fn changelog(spec: &AppSpec, maintainer: &str, when: i64) -> String {
    format!(
        "{} ({}) unstable; urgency=medium\n\n  * Built by debpipe from the app spec.\n\n -- {}  {}\n",
        spec.package,
        spec.version,
        maintainer,
        rfc2822(when)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    debpipe_testkit::verify_cli!(Cli);
}
