//! appspec: the app spec as the tools see it.
//!
//! `appspec check SPEC` validates a spec the way every tool does and prints
//! it resolved (every default filled in, the maintainer taken from
//! `DEBFULLNAME`/`DEBEMAIL` when the spec has none) as JSON; `appspec get
//! FIELD SPEC` prints one resolved value, for Makefiles and scripts (a
//! string as it is, anything else as JSON).

use std::path::PathBuf;

use debpipe_core::{AppSpec, Error, Result, io};

/// Check an app spec, or print one of its resolved values.
#[derive(Debug, clap::Parser)]
#[command(
    version,
    about = "Check an app spec and print its resolved values (defaults filled in)",
    after_help = "Examples:\n  appspec check app.json              # validate, print the resolved spec as JSON\n  appspec get venv app.json           # /opt/www/venvs/wechat-api\n  appspec get allowed_hosts app.json  # [\"wechat.example.com\"]\n  appspec get --lines build_depends app.json   # libpq-dev, one per line\n  appspec get --dist trixie systemd_unit app.json  # /usr/lib/systemd/system/wechat-api.service"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What to do with the spec.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Validate SPEC and print it resolved, as JSON
    Check {
        #[command(flatten)]
        target: Target,
        /// App spec (JSON); `-` reads stdin
        #[arg(value_name = "SPEC", default_value = "-")]
        spec: PathBuf,
    },
    /// Print one resolved value of SPEC (a string as is, else JSON)
    Get {
        /// A field of the resolved spec, e.g. `venv`, `package`, `state_dir`
        #[arg(value_name = "FIELD")]
        field: String,
        /// Print a list's strings one per line (nothing for an empty list),
        /// for a shell or make to split
        #[arg(long)]
        lines: bool,
        #[command(flatten)]
        target: Target,
        /// App spec (JSON); `-` reads stdin
        #[arg(value_name = "SPEC", default_value = "-")]
        spec: PathBuf,
    },
}

/// The release the package is built for: the paths that differ by release
/// (`systemd_unit`) are that release's.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The Debian release (a codename of releases.tsv, as `make DIST=`):
    /// `systemd_unit` is in its unit directory [default: /lib/systemd/system]
    #[arg(long, value_name = "DIST", value_parser = debpipe_core::release::parse_dist)]
    pub dist: Option<&'static debpipe_core::release::Release>,
}

impl Target {
    /// The systemd unit directory of the release, or the default one.
    pub fn unit_dir(&self) -> &'static str {
        self.dist
            .map_or(debpipe_core::release::DEFAULT_UNIT_DIR, |r| r.unit_dir)
    }
}

/// Run the tool.
pub fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Check { spec, target } => {
            let resolved = resolve(spec, target)?;
            let mut text = serde_json::to_string_pretty(&resolved).unwrap_or_default();
            text.push('\n');
            io::write_stdout(text.as_bytes())
        }
        Command::Get {
            field,
            spec,
            lines,
            target,
        } => {
            let resolved = resolve(spec, target)?;
            let value = resolved.get(field.as_str()).ok_or_else(|| {
                let names: Vec<&str> = resolved
                    .as_object()
                    .map(|o| o.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                Error::Usage(format!(
                    "no field `{field}` in the resolved spec; one of: {}",
                    names.join(", ")
                ))
            })?;
            let text = match value {
                serde_json::Value::Array(items) if *lines => {
                    let mut out = String::new();
                    for item in items {
                        match item {
                            serde_json::Value::String(s) => out.push_str(s),
                            other => out.push_str(&other.to_string()),
                        }
                        out.push('\n');
                    }
                    return io::write_stdout(out.as_bytes());
                }
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            io::write_stdout(format!("{text}\n").as_bytes())
        }
    }
}

/// The spec at `path`, validated and resolved for `target`, as a JSON object.
pub fn resolve(path: &std::path::Path, target: &Target) -> Result<serde_json::Value> {
    let spec = AppSpec::from_json(path, &io::read_input(path)?)?;
    to_json(&spec, &spec.maintainer()?, target.unit_dir())
}

/// The resolved spec as JSON, with `maintainer` as given and the systemd
/// unit in `unit_dir`.
pub fn to_json(spec: &AppSpec, maintainer: &str, unit_dir: &str) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(spec).map_err(|e| Error::Usage(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        o.insert("maintainer".into(), maintainer.into());
        let derived = [
            ("socket", spec.socket()),
            ("runtime_dir", spec.runtime_dir()),
            ("secret_key_file", spec.secret_key_file()),
            ("manage_helper", spec.manage_helper_path()),
            ("nginx_conf", spec.nginx_conf_path()),
            ("systemd_unit", spec.systemd_unit_path(unit_dir)),
            ("sysv_script", spec.sysv_script_path()),
        ];
        for (k, val) in derived {
            o.insert(k.into(), val.into());
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    debpipe_testkit::verify_cli!(Cli);

    #[test]
    fn resolved_spec_has_defaults_and_derived_paths() {
        let s = debpipe_testkit::spec(r#"{"module":"a","version":"1"}"#);
        let v = to_json(&s, "A <a@example.com>", "/lib/systemd/system").unwrap();
        assert_eq!(v["venv"], "/opt/www/venvs/a-api");
        assert_eq!(v["state_dir"], "/var/lib/a-api");
        assert_eq!(v["socket"], "/run/a-api/a-api.sock");
        assert_eq!(v["maintainer"], "A <a@example.com>");
        assert_eq!(v["migrate"], false);
    }
}
