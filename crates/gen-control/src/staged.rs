//! What the staging tree holds: the conffiles under `STAGE/etc` (a sorted
//! walk), the nginx file the package ships and where, the files readable by
//! their group alone, and the seed's hook.

use std::path::Path;

use debpipe_core::{AppSpec, Error, Result};

use crate::fingerprint;
use crate::hook::has_seed_hook;

/// What gen-control learns from the staging tree: the conffiles, the nginx
/// file the package ships (if any) and where, and the files readable by
/// their group alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Staged {
    /// Every file under `STAGE/etc`, sorted (dpkg's conffiles).
    pub conffiles: Vec<String>,
    /// The package ships an nginx file (Depends on nginx, reloads).
    pub ships_nginx: bool,
    /// [`fingerprint()`](crate::fingerprint()) of that file (`none` without one).
    pub nginx_shipped: String,
    /// The server block is staged at [`nginx_site_path`] (outside what
    /// nginx reads): postinst links it into sites-enabled and postrm remove
    /// takes the link away.
    pub nginx_site: bool,
    /// Conffiles readable by their group and not by others (mode, path):
    /// postinst gives them the service's group.
    pub group_files: Vec<(u32, String)>,
    /// The staged app has the seed's hook, [`SEED_HOOK`](crate::SEED_HOOK) (postinst runs it
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

pub(crate) fn nginx_link_target(spec: &AppSpec) -> String {
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
