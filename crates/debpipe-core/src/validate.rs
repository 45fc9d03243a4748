//! The allow-lists every value of the app spec is checked against before it
//! reaches an ini file, an nginx config, a shell script, a systemd unit or a
//! control file: one function per kind of value, each returning why a value
//! is refused. Values are checked, not escaped: uWSGI's ini has no escape at
//! all, nginx cannot escape `$`, systemd expands `%` and `$`.

pub(crate) fn nonempty(v: &str) -> std::result::Result<(), String> {
    if v.is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(())
    }
}

pub(crate) fn only(
    v: &str,
    what: &str,
    ok: impl Fn(char) -> bool,
) -> std::result::Result<(), String> {
    nonempty(v)?;
    match v.chars().find(|&c| !ok(c)) {
        Some(c) => Err(format!("{what}: character {c:?} not allowed in {v:?}")),
        None => Ok(()),
    }
}

/// A Python identifier (ASCII): `wechat`, `my_app`.
pub fn python_identifier(v: &str) -> std::result::Result<(), String> {
    nonempty(v)?;
    let ok = v
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "must be a Python identifier ([A-Za-z_][A-Za-z0-9_]*), got {v:?}"
        ))
    }
}

/// Python dotted module path: `pro_setting.settings`.
pub fn dotted_identifier(v: &str) -> std::result::Result<(), String> {
    nonempty(v)?;
    if v.split('.').all(|p| python_identifier(p).is_ok()) {
        Ok(())
    } else {
        Err(format!(
            "must be a Python dotted identifier like `pkg.module`, got {v:?}"
        ))
    }
}

pub(crate) fn wsgi_entry(v: &str) -> std::result::Result<(), String> {
    let (m, callable) = v.split_once(':').unwrap_or((v, "application"));
    dotted_identifier(m)?;
    python_identifier(callable)
        .map_err(|_| format!("callable after `:` must be a Python identifier, got {v:?}"))
}

/// A Debian package name: `[a-z0-9][a-z0-9+.-]+`.
pub fn package_name(v: &str) -> std::result::Result<(), String> {
    let ok = v.len() >= 2
        && v.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "must be a Debian package name (lowercase letters, digits, `+-.`, at least 2 characters, starting alphanumeric), got {v:?}"
        ))
    }
}

/// A Debian version: `[epoch:]upstream[-revision]`, as dpkg checks it.
pub fn debian_version(v: &str) -> std::result::Result<(), String> {
    let bad = |why: &str| Err(format!("not a Debian version ({why}): {v:?}"));
    if v.is_empty() {
        return bad("empty");
    }
    if v.contains(|c: char| c.is_control() || c.is_whitespace()) {
        return bad("spaces and control characters are not allowed");
    }
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (Some(e), r),
        None => (None, v),
    };
    if let Some(e) = epoch
        && (e.is_empty() || !e.chars().all(|c| c.is_ascii_digit()))
    {
        return bad("epoch must be a number");
    }
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, Some(r)),
        None => (rest, None),
    };
    if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
        return bad("must start with a digit");
    }
    if !upstream
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".+~-:".contains(c))
    {
        return bad("upstream part allows only letters, digits and `.+~-:`");
    }
    if let Some(r) = revision
        && (r.is_empty()
            || !r
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+~".contains(c)))
    {
        return bad("revision allows only letters, digits and `.+~`");
    }
    Ok(())
}

/// An architecture name: `amd64`, `all`, `any`, `linux-any`.
pub fn architecture(v: &str) -> std::result::Result<(), String> {
    only(v, "architecture", |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
    })
}

/// An absolute, normalized path from a safe character set: it lands in ini
/// files, nginx configs, shell scripts and systemd units unquoted.
pub fn abs_path(v: &str) -> std::result::Result<(), String> {
    if !v.starts_with('/') {
        return Err(format!("must be an absolute path, got {v:?}"));
    }
    if v == "/" {
        return Err("must not be the root directory".into());
    }
    path_chars(v)?;
    if v.ends_with('/') {
        return Err(format!("must not end with `/`, got {v:?}"));
    }
    normalized(&v[1..], v)
}

pub(crate) fn rel_path(v: &str) -> std::result::Result<(), String> {
    if v.starts_with('/') {
        return Err(format!("must be relative to `app_dir`, got {v:?}"));
    }
    path_chars(v)?;
    normalized(v, v)
}

pub(crate) fn path_chars(v: &str) -> std::result::Result<(), String> {
    only(v, "path", |c| {
        c.is_ascii_alphanumeric() || "/._+-".contains(c)
    })
}

pub(crate) fn normalized(rest: &str, v: &str) -> std::result::Result<(), String> {
    for comp in rest.split('/') {
        match comp {
            "" => return Err(format!("must not contain `//`, got {v:?}")),
            "." | ".." => {
                return Err(format!(
                    "must not contain `.` or `..` components, got {v:?}"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A URL prefix for an nginx `location`: `/api/wechat/`.
pub(crate) fn url_prefix(v: &str) -> std::result::Result<(), String> {
    if !v.starts_with('/') || !v.ends_with('/') {
        return Err(format!("must start and end with `/`, got {v:?}"));
    }
    only(v, "URL prefix", |c| {
        c.is_ascii_alphanumeric() || "/._~-".contains(c)
    })?;
    if v == "/" {
        return Ok(());
    }
    normalized(&v[1..v.len() - 1], v)
}

/// A user or group name as adduser accepts by default.
pub(crate) fn user_name(v: &str) -> std::result::Result<(), String> {
    let ok = v.len() <= 32
        && v.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "must be a user name ([a-z_][a-z0-9_-]*, at most 32), got {v:?}"
        ))
    }
}

pub(crate) fn env_name(v: &str) -> std::result::Result<(), String> {
    python_identifier(v).map_err(|_| format!("must be an environment variable name, got {v:?}"))
}

/// A value safe unquoted in every format we write: no `%`, `$`, `(`, quotes,
/// `;`, backslashes, newlines or other control characters, and no leading
/// or trailing space (uWSGI strips it).
pub fn safe_value(v: &str) -> std::result::Result<(), String> {
    only(v, "value", |c| {
        c.is_ascii_alphanumeric() || " ._,:/=+@-".contains(c)
    })?;
    if v.starts_with(' ') || v.ends_with(' ') {
        return Err(format!("must not start or end with a space, got {v:?}"));
    }
    Ok(())
}

pub(crate) fn uwsgi_key(v: &str) -> std::result::Result<(), String> {
    only(v, "uWSGI option name", |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
    })?;
    if v.starts_with("daemonize") {
        return Err(format!(
            "`{v}` is not allowed: uWSGI must stay in the foreground under the service manager"
        ));
    }
    Ok(())
}

pub(crate) fn plugin_name(v: &str) -> std::result::Result<(), String> {
    only(v, "uWSGI plugin name", |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'
    })
}

pub(crate) fn listen(v: &str) -> std::result::Result<(), String> {
    only(v, "listen address", |c| {
        c.is_ascii_hexdigit() || ".:[]".contains(c)
    })?;
    let port = v.rsplit(':').next().unwrap_or(v);
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("must be PORT, ADDR:PORT or [V6]:PORT, got {v:?}")),
    }
}

pub(crate) fn server_name(v: &str) -> std::result::Result<(), String> {
    only(v, "server name", |c| {
        c.is_ascii_alphanumeric() || ".-_*".contains(c)
    })
}

/// An `ALLOWED_HOSTS` entry: a host name, `.domain` (and its subdomains),
/// `*`, or an IP address.
pub(crate) fn allowed_host(v: &str) -> std::result::Result<(), String> {
    only(v, "host", |c| {
        c.is_ascii_alphanumeric() || ".-_*:[]".contains(c)
    })
}

pub(crate) fn nginx_size(v: &str) -> std::result::Result<(), String> {
    let digits = v.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G']);
    if !digits.is_empty()
        && digits.len() + 1 >= v.len()
        && digits.chars().all(|c| c.is_ascii_digit())
    {
        Ok(())
    } else {
        Err(format!("must be a size like `10m`, got {v:?}"))
    }
}

pub(crate) fn no_control(v: &str, allow_newline: bool) -> std::result::Result<(), String> {
    match v
        .chars()
        .find(|&c| c.is_control() && !(allow_newline && c == '\n'))
    {
        Some(c) => Err(format!("control character {c:?} not allowed")),
        None => Ok(()),
    }
}

pub(crate) fn description(v: &str) -> std::result::Result<(), String> {
    no_control(v, true)?;
    let synopsis = v.lines().next().unwrap_or("").trim();
    if synopsis.is_empty() {
        return Err("the first line (the synopsis) must not be empty".into());
    }
    if synopsis.chars().count() > 80 {
        return Err("the first line (the synopsis) must be at most 80 characters".into());
    }
    // gen-control wraps long lines; these two kinds it cannot.
    let long = v.split_once('\n').map_or("", |(_, l)| l);
    if let Some((n, line)) = crate::deb822::unfoldable_description_line(long) {
        return Err(format!(
            "line {} is over {} columns and cannot be wrapped ({}): {line:?}",
            n + 1,
            crate::deb822::DESCRIPTION_WIDTH,
            if line.starts_with(' ') {
                "a verbatim line, starting with a space"
            } else {
                "a word over 79 characters"
            }
        ));
    }
    Ok(())
}

pub(crate) fn maintainer(v: &str) -> std::result::Result<(), String> {
    no_control(v, false)?;
    let ok = v
        .strip_suffix('>')
        .and_then(|s| s.split_once(" <"))
        .is_some_and(|(name, mail)| {
            !name.trim().is_empty()
                && !name.contains(['<', '>', ','])
                && mail.contains('@')
                && !mail.contains(['<', '>', ' '])
        });
    if !ok {
        return Err(format!("must be `Full Name <email@host>`, got {v:?}"));
    }
    // lintian's bogus-mail-host: a host that mail cannot reach.
    let host = v
        .rsplit_once('@')
        .map_or("", |(_, h)| h.trim_end_matches('>'))
        .to_ascii_lowercase();
    if !host.contains('.') || host.ends_with(".localdomain") || host.ends_with(".localhost") {
        return Err(format!(
            "the email's host must be a real domain (not localhost or a bare name), got {v:?}"
        ));
    }
    Ok(())
}

pub(crate) fn homepage(v: &str) -> std::result::Result<(), String> {
    no_control(v, false)?;
    if (v.starts_with("https://") || v.starts_with("http://")) && !v.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err(format!("must be an http(s) URL without spaces, got {v:?}"))
    }
}

pub(crate) fn section(v: &str) -> std::result::Result<(), String> {
    only(v, "section", |c| {
        c.is_ascii_lowercase() || c.is_ascii_digit() || "/+-.".contains(c)
    })
}

pub(crate) fn priority(v: &str) -> std::result::Result<(), String> {
    match v {
        "required" | "important" | "standard" | "optional" | "extra" => Ok(()),
        _ => Err(format!(
            "must be one of required, important, standard, optional, got {v:?}"
        )),
    }
}

/// What lintian rejects as an error in a synopsis that depends on the
/// package's name (`description-starts-with-package-name`,
/// `description-is-pkg-name`) or is a template (`description-is-dh_make-template`,
/// `description-is-debmake-template`).
pub(crate) fn synopsis_for(package: &str, synopsis: &str) -> std::result::Result<(), String> {
    let lower = synopsis.to_ascii_lowercase();
    let word_end = |rest: &str| !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
    if let Some(rest) = lower.strip_prefix(&package.to_ascii_lowercase())
        && word_end(rest)
    {
        return Err(format!(
            "the synopsis must not start with the package name {package:?} (lintian: description-starts-with-package-name), got {synopsis:?}"
        ));
    }
    let fuzzy = |s: &str| {
        s.to_ascii_lowercase()
            .replace(['-', '_', '/', '\\'], " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    if fuzzy(package) == fuzzy(synopsis) {
        return Err(format!(
            "the synopsis must say more than the package name (lintian: description-is-pkg-name), got {synopsis:?}"
        ));
    }
    if lower.trim() == "missing" || synopsis.contains("<insert up to 60 chars description>") {
        return Err(format!(
            "the synopsis is a template's placeholder (lintian: description-is-dh_make-template), got {synopsis:?}"
        ));
    }
    Ok(())
}

/// An address range nginx's `set_real_ip_from` takes: an IPv4 or IPv6
/// address with an optional prefix length.
pub(crate) fn cidr(v: &str) -> std::result::Result<(), String> {
    let (addr, len) = v.split_once('/').map_or((v, None), |(a, l)| (a, Some(l)));
    let max = match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => 32,
        Ok(std::net::IpAddr::V6(_)) => 128,
        Err(_) => {
            return Err(format!(
                "must be an IP address or CIDR (10.0.0.0/8), got {v:?}"
            ));
        }
    };
    if let Some(l) = len {
        match l.parse::<u8>() {
            Ok(n) if n <= max && l.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return Err(format!("prefix length must be 0 to {max}, got {v:?}")),
        }
    }
    Ok(())
}

/// A Python project name as pip takes it (`pycurl`, `psycopg2-binary`).
pub(crate) fn python_project(v: &str) -> std::result::Result<(), String> {
    only(v, "Python project name", |c| {
        c.is_ascii_alphanumeric() || "._-".contains(c)
    })?;
    if !v.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("must start with a letter or digit, got {v:?}"));
    }
    Ok(())
}

/// One Debian relation (`Depends` entry): `pkg [(op version)] [| alt ...]`.
pub fn relation(v: &str) -> std::result::Result<(), String> {
    no_control(v, false)?;
    if v.contains(',') {
        return Err(format!("one relation per entry (no `,`), got {v:?}"));
    }
    for alt in v.split('|') {
        let alt = alt.trim();
        let (name, rest) = match alt.find([' ', '(']) {
            Some(i) => (&alt[..i], alt[i..].trim()),
            None => (alt, ""),
        };
        let bare = name.split_once(':').map_or(name, |(n, _)| n);
        package_name(bare).map_err(|r| format!("in {v:?}: {r}"))?;
        if rest.is_empty() {
            continue;
        }
        let inner = rest
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| format!("expected `(op version)` after the name in {v:?}"))?;
        let inner = inner.trim();
        let op_len = inner
            .find(|c: char| !"<>=".contains(c))
            .unwrap_or(inner.len());
        let (op, ver) = inner.split_at(op_len);
        if !matches!(op, "<<" | "<=" | "=" | ">=" | ">>") {
            return Err(format!(
                "relation operator must be <<, <=, =, >= or >>, in {v:?}"
            ));
        }
        debian_version(ver.trim()).map_err(|r| format!("in {v:?}: {r}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;

    type Check = fn(&str) -> std::result::Result<(), String>;

    /// Each validator: values it takes, and values it refuses with the
    /// message it gives.
    const CASES: &[(&str, Check, &[&str], &[&str])] = &[
        (
            "python_identifier",
            python_identifier,
            &["wechat", "_a1"],
            &["1a", "a-b", "", "a;b"],
        ),
        (
            "dotted_identifier",
            dotted_identifier,
            &["a.b.c", "pro_setting.settings"],
            &["a..b", ".a", "a.1b"],
        ),
        (
            "wsgi_entry",
            wsgi_entry,
            &["a.wsgi:application", "a.wsgi"],
            &["a.wsgi:", "a:b:c", "a-b:app"],
        ),
        (
            "package_name",
            package_name,
            &["wechat-api", "a0+b.c"],
            &["A", "a", "-ab", "a_b"],
        ),
        (
            "debian_version",
            debian_version,
            &["1.0", "1:2.0-1", "1.0~rc1+deb13"],
            &["", "a1", "1.0 1", "1:", "1.0-"],
        ),
        (
            "architecture",
            architecture,
            &["amd64", "all"],
            &["AMD64", "a b", ""],
        ),
        (
            "abs_path",
            abs_path,
            &["/opt/www/a"],
            &["opt", "/a/../b", "/a//b", "/a b", "/a/"],
        ),
        (
            "rel_path",
            rel_path,
            &["scripts/x.py"],
            &["/x.py", "../x", "a b"],
        ),
        (
            "url_prefix",
            url_prefix,
            &["/static/"],
            &["static/", "/static", "/a b/"],
        ),
        (
            "user_name",
            user_name,
            &["www-data", "app_1"],
            &["Root", "1a", "a:b", ""],
        ),
        (
            "env_name",
            env_name,
            &["DJANGO_SETTINGS", "_A"],
            &["1A", "A-B", ""],
        ),
        (
            "safe_value",
            safe_value,
            &["postgres://db/a", "a b"],
            &["$HOME", "a`b`", "a\"b", "a\\b", "a\nb"],
        ),
        (
            "uwsgi_key",
            uwsgi_key,
            &["max-requests"],
            &["Max", "a=b", ""],
        ),
        ("plugin_name", plugin_name, &["python3"], &["py thon", ""]),
        (
            "listen",
            listen,
            &["127.0.0.1:8080", "80", "[::]:443"],
            &["a b", "", "host;x"],
        ),
        (
            "server_name",
            server_name,
            &["a.example", "*.a.example", "_"],
            &["a b", "a;b", ""],
        ),
        (
            "allowed_host",
            allowed_host,
            &["a.example", ".a.example"],
            &["a b", "", "a/b"],
        ),
        (
            "nginx_size",
            nginx_size,
            &["10m", "512k", "100"],
            &["10 m", "m", "10x", ""],
        ),
        (
            "description",
            description,
            &["A thing\nLong text."],
            &["", "a\tb"],
        ),
        (
            "maintainer",
            maintainer,
            &["Jane Doe <jane@example.com>"],
            &["jane@example.com", "Jane <jane>", "Jane <jane@localhost>"],
        ),
        (
            "homepage",
            homepage,
            &["https://a.example/"],
            &["a.example", "ftp://a", "https://a b"],
        ),
        (
            "section",
            section,
            &["web", "contrib/python"],
            &["Web", "a b", ""],
        ),
        ("priority", priority, &["optional"], &["high", ""]),
        (
            "cidr",
            cidr,
            &["10.0.0.0/8", "127.0.0.1", "::1/128"],
            &["10.0.0.0/33", "a.b", "10.0.0.0/x"],
        ),
        (
            "python_project",
            python_project,
            &["Pillow", "psycopg2-binary"],
            &["-a", "a b", ""],
        ),
        (
            "relation",
            relation,
            &["libc6 (>= 2.36)", "ab | cd:any", "python3 (<< 3.12)"],
            &["a, b", "ab (>> )", "ab (~ 1)", "A", "ab >= 1"],
        ),
    ];

    #[test]
    fn validators_take_good_values() {
        for (name, check, good, _) in CASES {
            for v in *good {
                assert_eq!(check(v), Ok(()), "{name}({v:?})");
            }
        }
    }

    /// Every refusal names the value and says what was wanted, on one line
    /// (the messages are in `validate_messages.txt` beside this test).
    #[test]
    fn validators_refuse_bad_values_with_their_message() {
        let mut got = String::new();
        for (name, check, _, bad) in CASES {
            for v in *bad {
                let e = check(v).expect_err(&format!("{name}({v:?}) should fail"));
                assert!(!e.is_empty() && !e.contains('\n'), "{name}({v:?}): {e:?}");
                let _ = writeln!(got, "{name}({v:?}): {e}");
            }
        }
        let want = include_str!("validate_messages.txt");
        if std::env::var_os("BLESS").is_some() {
            std::fs::write(
                concat!(env!("CARGO_MANIFEST_DIR"), "/src/validate_messages.txt"),
                &got,
            )
            .unwrap();
        } else {
            assert_eq!(got, want, "BLESS=1 rewrites src/validate_messages.txt");
        }
    }

    #[test]
    fn synopsis_must_not_repeat_the_package_name() {
        assert_eq!(synopsis_for("wechat-api", "Chat server"), Ok(()));
        assert!(synopsis_for("wechat-api", "wechat-api chat server").is_err());
    }
}
