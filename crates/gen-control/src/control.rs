//! `DEBIAN/control`: its fields in dpkg-gencontrol's order, and `Depends`.

use debpipe_core::deb822::{Paragraph, fold_description};
use debpipe_core::{AppSpec, Result};

use crate::Facts;
use crate::scripts::custom_account;

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

#[cfg(test)]
mod tests {
    use super::*;
    use debpipe_testkit::spec;

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
}
