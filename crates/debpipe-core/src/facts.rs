//! The facts one tool finds out about the package's contents and another
//! turns into control fields: mkvenv writes them (JSON on stdout),
//! gen-control reads them (`--facts FILE`). One type for both sides, with
//! unknown fields refused, so a renamed field is an error rather than a
//! silently empty `Depends`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::spec::{architecture, relation};

/// What is known about the venv (or another part of the package).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    /// Install path of the venv.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub venv: String,
    /// `MAJOR.MINOR` of its interpreter.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub python: String,
    /// Relations on the interpreter's package, one per entry.
    #[serde(default)]
    pub python_depends: Vec<String>,
    /// Relations on the packages of the shared libraries that ELF files load
    /// from outside the package, one per entry, sorted.
    #[serde(default)]
    pub shlib_depends: Vec<String>,
    /// Other relations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends: Vec<String>,
    /// `all` without any ELF file, else the architecture of the compiled files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// True when postinst must byte-compile (the package ships no bytecode).
    #[serde(default)]
    pub compiled: bool,
    /// The installed wheels that carry their own copies of shared libraries
    /// (auditwheel's `<name>.libs/`), which Debian's security updates never
    /// reach; sorted by project, then directory. Absent in facts written
    /// before it existed, which read as none.
    #[serde(default)]
    pub bundled_libraries: Vec<BundledLibraries>,
}

/// One wheel's bundled shared libraries: an auditwheel-repaired
/// (manylinux/musllinux) wheel copies the libraries its extensions link
/// into `<name>.libs/` beside its packages (older auditwheel: `<package>/.libs/`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundledLibraries {
    /// The project that installed the directory (its `.dist-info`'s `Name`),
    /// as `no_binary` takes it.
    pub project: String,
    /// Its version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The wheel's tags (`cp311-cp311-manylinux_2_28_x86_64`), from its
    /// `WHEEL` file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tag: String,
    /// The directory, relative to `site-packages` (`pycurl.libs`).
    pub dir: String,
    /// The shared libraries' file names in it, sorted.
    pub libraries: Vec<String>,
}

impl Facts {
    /// Parse and check one facts file; `path` names it in errors.
    pub fn from_json(path: &Path, bytes: &[u8]) -> Result<Self> {
        let name = crate::io::display_name(path);
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
            architecture(a).map_err(|why| Error::file(&name, format!("`architecture`: {why}")))?;
        }
        Ok(facts)
    }

    /// Pretty JSON with a final newline, as mkvenv prints it.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_unknown_fields() {
        let f = Facts {
            venv: "/opt/www/venvs/a-api".into(),
            python: "3.11".into(),
            python_depends: vec!["python3 (>= 3.11)".into()],
            architecture: Some("amd64".into()),
            compiled: true,
            ..Facts::default()
        };
        let json = f.to_json();
        assert!(!json.contains("\"depends\""), "{json}");
        assert!(json.contains("\"bundled_libraries\": []"), "{json}");
        assert_eq!(
            Facts::from_json(Path::new("f"), json.as_bytes()).unwrap(),
            f
        );
        let e = Facts::from_json(Path::new("f.json"), br#"{"python_deps":["python3"]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("f.json: ") && e.contains("python_deps"),
            "{e}"
        );
    }

    #[test]
    fn bundled_libraries_round_trip_and_old_facts_read_as_none() {
        let f = Facts {
            bundled_libraries: vec![BundledLibraries {
                project: "pycurl".into(),
                version: "7.45.6".into(),
                tag: "cp311-cp311-manylinux_2_28_x86_64".into(),
                dir: "pycurl.libs".into(),
                libraries: vec!["libcurl-a1b2c3d4.so.4.8.0".into()],
            }],
            ..Facts::default()
        };
        let json = f.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["bundled_libraries"][0]["project"], "pycurl");
        assert_eq!(v["bundled_libraries"][0]["dir"], "pycurl.libs");
        assert_eq!(
            Facts::from_json(Path::new("f"), json.as_bytes()).unwrap(),
            f
        );
        // facts written before the field existed
        let old = br#"{"venv":"/v","python":"3.11","python_depends":[],"shlib_depends":[],"compiled":true}"#;
        let read = Facts::from_json(Path::new("old.json"), old).unwrap();
        assert!(read.bundled_libraries.is_empty());
        // a misspelt entry field is refused like any other
        let e = Facts::from_json(
            Path::new("f.json"),
            br#"{"bundled_libraries":[{"project":"p","dir":"p.libs","libs":[]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("libs"), "{e}");
    }
}
