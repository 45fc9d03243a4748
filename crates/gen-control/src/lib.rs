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
//!
//! Where things are:
//! - [`cli`] — the flags ([`Cli`]) and the `--version-suffix` check;
//! - [`staged`] — what the staging tree holds (conffiles, nginx file, group files);
//! - [`hook`] — the config hook postinst runs (the spec's, or the seed's);
//! - [`fingerprint`](mod@fingerprint) — the hash that tells one nginx file from another;
//! - [`control`] — `DEBIAN/control` and `Depends`;
//! - [`scripts`] — the maintainer scripts, filled from `scripts/*.sh`.

pub mod cli;
pub mod control;
pub mod fingerprint;
pub mod hook;
pub mod scripts;
pub mod staged;

use debpipe_core::{AppSpec, Error, Result, io};

pub use cli::{Cli, version_suffix};
pub use control::{depends, render_control};
pub use fingerprint::fingerprint;
pub use hook::{SEED_HOOK, config_hook};
pub use scripts::{
    OLD_DEFAULT_USER, env_dir, env_file_template, render_postinst, render_postrm, render_prerm,
};
pub use staged::{Staged, default_conffiles, nginx_site_link, nginx_site_path};

/// What other tools found out about the package's contents (mkvenv's
/// facts), as the one type in debpipe-core.
pub use debpipe_core::facts::Facts;

/// The control area: file name, contents, mode.
pub type Area = Vec<(&'static str, String, u32)>;

/// Run the tool.
pub fn run(cli: &Cli) -> Result<()> {
    let spec = AppSpec::from_json(&cli.spec, &io::read_input(&cli.spec)?)?;
    debpipe_core::app_server::not_yet(
        &spec,
        "gen-control",
        &[
            debpipe_core::spec::AppServer::Gunicorn,
            debpipe_core::spec::AppServer::GunicornAsgi,
        ],
    )
    .map_err(|e| e.in_file(&io::display_name(&cli.spec)))?;
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
        .out_dir()
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

#[cfg(test)]
mod tests {
    use super::*;
    use debpipe_testkit::spec;
    use std::path::Path;

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
