//! Option files, read as the mysql client reads them, so that a probe
//! logs in where `mysql` does with no flags: /etc/my.cnf,
//! /etc/mysql/my.cnf, $MYSQL_HOME/my.cnf, ~/.my.cnf, in that order (a
//! later file wins), groups `[client]` and `[handshake-probe]` (the latter
//! after the former), `!include FILE` and `!includedir DIR` (its `.cnf`
//! files, sorted), and the command line's `--no-defaults`,
//! `--defaults-file=FILE` (only that file), `--defaults-extra-file=FILE`
//! (after the others) and `--print-defaults`.
//!
//! What the files give becomes `--option=value` arguments placed before
//! the command line's, so the command line wins. `[client]` is shared by
//! every MySQL tool: the options the probe has no use for there are
//! skipped; in `[handshake-probe]` any of its long options may appear. A
//! file readable by others that holds a password is warned about, as the
//! mysql client warns about world-writable ones.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// `[client]` options the probe takes (the mysql client's names, `_` or
/// `-`).
const CLIENT_KEYS: [&str; 7] = [
    "host", "port", "user", "password", "database", "ssl-mode", "ssl-ca",
];
/// Option-file nesting deeper than this is a loop.
const MAX_DEPTH: usize = 10;

/// The options of the files, and what to warn about.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Defaults {
    /// `--key=value` (or `--key`), in file order.
    pub(crate) args: Vec<String>,
    pub(crate) warnings: Vec<String>,
}

/// The files the mysql client reads by default, in order.
pub(crate) fn default_files() -> Vec<PathBuf> {
    let mut v = vec![
        PathBuf::from("/etc/my.cnf"),
        PathBuf::from("/etc/mysql/my.cnf"),
    ];
    if let Some(h) = std::env::var_os("MYSQL_HOME") {
        v.push(Path::new(&h).join("my.cnf"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        v.push(Path::new(&h).join(".my.cnf"));
    }
    v
}

/// Applies the option files to the probe's command line `argv` (program
/// name first): their options go before the command line's, and the
/// file-selecting flags are taken out. `Err` is a message for a usage
/// error; `Ok(None)` means `--print-defaults` printed and the run ends.
pub(crate) fn apply(
    argv: Vec<OsString>,
    defaults: &[PathBuf],
) -> Result<Option<Vec<OsString>>, String> {
    let mut no_defaults = false;
    let mut print = false;
    let mut only: Option<PathBuf> = None;
    let mut extra: Option<PathBuf> = None;
    let mut rest = Vec::with_capacity(argv.len());
    let mut it = argv.into_iter().enumerate().peekable();
    while let Some((i, a)) = it.next() {
        let s = a.to_str().unwrap_or_default();
        // `--defaults-file FILE` (two words) as `--defaults-file=FILE`.
        if i > 0 && matches!(s, "--defaults-file" | "--defaults-extra-file") {
            let Some((_, f)) = it.next() else {
                return Err(format!("{s} needs a FILE"));
            };
            let f = PathBuf::from(f);
            if s == "--defaults-file" {
                only = Some(f);
            } else {
                extra = Some(f);
            }
            continue;
        }
        if i > 0 && s == "--no-defaults" {
            no_defaults = true;
        } else if i > 0 && s == "--print-defaults" {
            print = true;
        } else if let Some(f) = s.strip_prefix("--defaults-file=").filter(|_| i > 0) {
            only = Some(f.into());
        } else if let Some(f) = s.strip_prefix("--defaults-extra-file=").filter(|_| i > 0) {
            extra = Some(f.into());
        } else {
            rest.push(a);
        }
    }
    let files: Vec<PathBuf> = match (no_defaults, only) {
        (true, _) => Vec::new(),
        (false, Some(f)) => {
            if !f.is_file() {
                return Err(format!("--defaults-file={}: no such file", f.display()));
            }
            vec![f]
        }
        (false, None) => {
            let mut v = defaults.to_vec();
            if let Some(e) = extra {
                if !e.is_file() {
                    return Err(format!(
                        "--defaults-extra-file={}: no such file",
                        e.display()
                    ));
                }
                v.push(e);
            }
            v
        }
    };
    let mut d = Defaults::default();
    for f in &files {
        if f.is_file() {
            read(f, 0, &mut d)?;
        }
    }
    for w in &d.warnings {
        eprintln!("warning: {w}");
    }
    if print {
        let shown: Vec<String> = d.args.iter().map(|a| masked(a)).collect();
        println!(
            "handshake-probe would have been started with the following arguments:\n{}",
            shown.join(" ")
        );
        return Ok(None);
    }
    let mut out = Vec::with_capacity(rest.len() + d.args.len());
    let mut it = rest.into_iter();
    out.extend(it.next());
    out.extend(d.args.into_iter().map(OsString::from));
    out.extend(it);
    Ok(Some(out))
}

fn masked(a: &str) -> String {
    match a.split_once('=') {
        Some(("--password", _)) => "--password=*****".into(),
        _ => a.to_string(),
    }
}

/// Reads `path` (and what it includes) into `d`.
fn read(path: &Path, depth: usize, d: &mut Defaults) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "{}: option files include each other too deeply",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("option file {}: {e}", path.display()))?;
    let mut group: Option<String> = None;
    let mut password_here = false;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let at = || format!("{}:{}", path.display(), n + 1);
        if let Some(f) = line.strip_prefix("!includedir") {
            let dir = relative(path, f.trim());
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| format!("{}: !includedir {}: {e}", at(), dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "cnf"))
                .collect();
            files.sort();
            for f in files {
                read(&f, depth + 1, d)?;
            }
            continue;
        }
        if let Some(f) = line.strip_prefix("!include") {
            read(&relative(path, f.trim()), depth + 1, d)?;
            continue;
        }
        if let Some(g) = line.strip_prefix('[') {
            let g = g
                .strip_suffix(']')
                .ok_or_else(|| format!("{}: a group header without ']'", at()))?;
            group = Some(g.trim().to_ascii_lowercase());
            continue;
        }
        let Some(g) = group.as_deref() else {
            return Err(format!("{}: an option before any [group]", at()));
        };
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(unquote(strip_comment(v.trim())))),
            None => (line, None),
        };
        let key = key.replace('_', "-");
        let wanted = match g {
            "client" => CLIENT_KEYS.contains(&key.as_str()),
            "handshake-probe" => true,
            _ => false,
        };
        if !wanted {
            continue;
        }
        if key == "password" {
            password_here = true;
        }
        d.args.push(match value {
            Some(v) => format!("--{key}={v}"),
            None => format!("--{key}"),
        });
    }
    if password_here && readable_by_others(path) {
        d.warnings.push(format!(
            "{} holds a password and is readable by other users: chmod 600 it",
            path.display()
        ));
    }
    Ok(())
}

/// The user and password one option file gives (`[client]`, then
/// `[handshake-probe]`), for `serve`'s `defaults_file`; its warnings are
/// printed.
pub(crate) fn credentials(
    path: &Path,
) -> Result<(Option<String>, Option<hsp_wire::client::Secret>), String> {
    let mut d = Defaults::default();
    read(path, 0, &mut d)?;
    for w in &d.warnings {
        eprintln!("warning: {w}");
    }
    let (mut user, mut password) = (None, None);
    for a in &d.args {
        if let Some(u) = a.strip_prefix("--user=") {
            user = Some(u.to_string());
        } else if let Some(p) = a.strip_prefix("--password=") {
            password = Some(hsp_wire::client::Secret::new(p));
        }
    }
    Ok((user, password))
}

/// `f` relative to the directory of `from`, unless absolute.
fn relative(from: &Path, f: &str) -> PathBuf {
    let p = Path::new(f);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        from.parent().unwrap_or(Path::new(".")).join(p)
    }
}

/// A value without a trailing ` # comment` (not inside quotes).
fn strip_comment(v: &str) -> &str {
    if v.starts_with('"') || v.starts_with('\'') {
        return v;
    }
    match v.find(" #") {
        Some(i) => v[..i].trim_end(),
        None => v,
    }
}

/// A value in single or double quotes, unquoted (with `\\` escapes in
/// double quotes as the mysql client reads them).
fn unquote(v: &str) -> String {
    let q = v.chars().next();
    if matches!(q, Some('"' | '\'')) && v.len() >= 2 && v.ends_with(q.unwrap_or('"')) {
        let inner = &v[1..v.len() - 1];
        return inner.replace("\\\\", "\\");
    }
    v.to_string()
}

fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o004 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn groups_includes_quotes_and_order() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf.d");
        std::fs::create_dir(&conf).unwrap();
        std::fs::write(conf.join("b.cnf"), "[client]\nport = 3307\n").unwrap();
        std::fs::write(conf.join("a.cnf"), "[client]\nport = 3306\n").unwrap();
        std::fs::write(conf.join("skip.txt"), "[client]\nport = 1\n").unwrap();
        std::fs::write(dir.path().join("inc.cnf"), "[handshake-probe]\ncount=5\n").unwrap();
        let main = dir.path().join("my.cnf");
        std::fs::write(
            &main,
            "# comment\n[mysqld]\nport=1\n[client]\nuser=app\npassword=\"p a#ss\"\nsocket=/x\nssl_mode=DISABLED # trailing\n!include inc.cnf\n!includedir conf.d\n",
        )
        .unwrap();
        let out = apply(os(&["hp", "-n", "2", "db"]), std::slice::from_ref(&main))
            .unwrap()
            .unwrap();
        assert_eq!(
            out,
            os(&[
                "hp",
                "--user=app",
                "--password=p a#ss",
                "--ssl-mode=DISABLED",
                "--count=5",
                "--port=3306",
                "--port=3307",
                "-n",
                "2",
                "db"
            ])
        );
        // --no-defaults, --defaults-file, --defaults-extra-file.
        let none = apply(
            os(&["hp", "--no-defaults", "db"]),
            std::slice::from_ref(&main),
        )
        .unwrap()
        .unwrap();
        assert_eq!(none, os(&["hp", "db"]));
        let extra = dir.path().join("extra.cnf");
        std::fs::write(&extra, "[client]\nhost=h2\n").unwrap();
        let only = apply(
            os(&["hp", &format!("--defaults-file={}", extra.display())]),
            std::slice::from_ref(&main),
        )
        .unwrap()
        .unwrap();
        assert_eq!(only, os(&["hp", "--host=h2"]));
        let both = apply(
            os(&["hp", &format!("--defaults-extra-file={}", extra.display())]),
            &[main],
        )
        .unwrap()
        .unwrap();
        assert_eq!(both.last().unwrap(), "--host=h2");
        assert!(apply(os(&["hp", "--defaults-file=/nonexistent/x.cnf"]), &[]).is_err());
        // Two words, as clap would take it: the same.
        let two = apply(
            os(&["hp", "--defaults-file", extra.to_str().unwrap(), "db"]),
            &[],
        )
        .unwrap()
        .unwrap();
        assert_eq!(two, os(&["hp", "--host=h2", "db"]));
        assert!(apply(os(&["hp", "--defaults-extra-file"]), &[]).is_err());
    }

    #[test]
    fn a_password_readable_by_others_is_warned() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("my.cnf");
        std::fs::write(&f, "[client]\npassword=x\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut d = Defaults::default();
        read(&f, 0, &mut d).unwrap();
        assert!(
            d.warnings[0].contains("readable by other users"),
            "{:?}",
            d.warnings
        );
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut d = Defaults::default();
        read(&f, 0, &mut d).unwrap();
        assert!(d.warnings.is_empty());
    }

    #[test]
    fn damaged_files_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("my.cnf");
        std::fs::write(&f, "user=x\n").unwrap();
        let e = read(&f, 0, &mut Defaults::default()).unwrap_err();
        assert!(e.ends_with("my.cnf:1: an option before any [group]"), "{e}");
        std::fs::write(&f, "[client\n").unwrap();
        let e = read(&f, 0, &mut Defaults::default()).unwrap_err();
        assert!(e.contains("my.cnf:1: a group header without ']'"), "{e}");
        std::fs::write(&f, "[client]\n!include my.cnf\n").unwrap();
        let e = read(&f, 0, &mut Defaults::default()).unwrap_err();
        assert!(e.contains("too deeply"), "{e}");
    }
}
