//! The config file: modules (how to probe) and targets (what to probe
//! continuously), in TOML.
//!
//! TOML rather than YAML: it is what Rust tools (Cargo, rustfmt) and many
//! exporters use, it has no indentation to get wrong, and the parser names
//! the line and column of every mistake, which this module carries into
//! its own checks (an unknown module, a bad address). Unknown keys are
//! errors, so a misspelt `pasword_file` does not silently probe without
//! credentials.
//!
//! ```toml
//! [modules.default]              # used when a request or target names none
//! count = 1                      # handshakes per /probe request
//! timeout = "5s"                 # the probe's own deadline per handshake
//! ssl_mode = "PREFERRED"
//! connect_timeout = "10s"        # the server's, to compare phases against
//!
//! [modules.login]                # real logins: credentials by reference only
//! user = "monitor"
//! password_file = "/etc/handshake-probe/monitor.password"
//! # password_env = "HSP_MONITOR_PASSWORD"
//! # defaults_file = "/etc/mysql/monitor.cnf"   # [client] user and password
//!
//! [[targets]]
//! address = "db1:3306"
//! module = "login"
//! interval = "15s"
//! ```
//!
//! Passwords are never inline: a file, an environment variable or an
//! option file holds them, and nothing here prints them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hsp_probe::{Credentials, ProbeConfig, SslMode};
use hsp_wire::client::Secret;
use serde::Deserialize;
use toml::Spanned;

/// The module a request or target gets when it names none.
pub const DEFAULT_MODULE: &str = "default";

/// Reads `[client]` user and password from a MySQL option file (the
/// binary's option-file reader, so `!include` and the rest work as for
/// the mysql client).
pub type DefaultsReader = fn(&Path) -> Result<(Option<String>, Option<Secret>), String>;

/// A config that could not be used: the file, the line when known, why.
#[derive(Debug, thiserror::Error)]
#[error("{file}{}: {why}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ConfigError {
    /// The config file (or the flag that stood for it).
    pub file: String,
    /// 1-based line.
    pub line: Option<usize>,
    /// What is wrong.
    pub why: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    modules: BTreeMap<String, Spanned<ModuleFile>>,
    #[serde(default)]
    targets: Vec<Spanned<TargetFile>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModuleFile {
    count: Option<u32>,
    timeout: Option<String>,
    ssl_mode: Option<String>,
    ssl_ca: Option<PathBuf>,
    connect_timeout: Option<String>,
    user: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    defaults_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFile {
    address: Spanned<String>,
    module: Option<Spanned<String>>,
    interval: Option<String>,
}

/// How to probe.
#[derive(Debug, Clone)]
pub struct Module {
    /// Handshakes per `/probe` request.
    pub count: u32,
    /// The probe's own deadline per handshake.
    pub timeout: Duration,
    /// TLS.
    pub ssl_mode: SslMode,
    /// CA for the VERIFY modes.
    pub ssl_ca: Option<PathBuf>,
    /// The server's connect_timeout, if given.
    pub connect_timeout: Option<Duration>,
    /// Credentials (read from their reference when the config loads).
    pub credentials: Option<Credentials>,
}

impl Default for Module {
    fn default() -> Self {
        Self {
            count: 1,
            timeout: Duration::from_secs(5),
            ssl_mode: SslMode::Preferred,
            ssl_ca: None,
            connect_timeout: None,
            credentials: None,
        }
    }
}

impl Module {
    /// The probe's options for `host:port` under this module.
    pub fn probe_config(&self, host: &str, port: u16) -> ProbeConfig {
        let mut c = ProbeConfig::new(host, port);
        c.credentials.clone_from(&self.credentials);
        c.ssl_mode = self.ssl_mode;
        c.ssl_ca.clone_from(&self.ssl_ca);
        c.timeout = self.timeout;
        c.count = Some(u64::from(self.count));
        c.concurrency = 1;
        c.threads = 1;
        c.params.access_denied_expected = self.credentials.is_none();
        if let Some(t) = self.connect_timeout {
            c.params.connect_timeout = t;
        }
        c
    }
}

/// A target probed continuously.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port` as written.
    pub address: String,
    /// The module's name.
    pub module: String,
    /// Time between handshakes (before jitter).
    pub interval: Duration,
}

/// Everything `serve` probes and how.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// By name; `default` always exists.
    pub modules: BTreeMap<String, Module>,
    /// Probed continuously.
    pub targets: Vec<Target>,
}

impl Config {
    /// Reads `path`; `extra` targets (`--target`) use the default module,
    /// `interval` is for targets that give none.
    pub fn load(
        path: Option<&Path>,
        extra: &[String],
        interval: Duration,
        defaults: DefaultsReader,
    ) -> Result<Self, ConfigError> {
        let mut cfg = Self::default();
        if let Some(path) = path {
            let name = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                file: name.clone(),
                line: None,
                why: format!("cannot read it ({e})"),
            })?;
            cfg = Self::parse(&text, &name, interval, defaults)?;
        }
        cfg.modules.entry(DEFAULT_MODULE.into()).or_default();
        for t in extra {
            hsp_probe::config::split_target(t).map_err(|why| ConfigError {
                file: "--target".into(),
                line: None,
                why,
            })?;
            cfg.targets.push(Target {
                address: t.clone(),
                module: DEFAULT_MODULE.into(),
                interval,
            });
        }
        Ok(cfg)
    }

    /// Parses a config file's text (`name` for errors).
    pub fn parse(
        text: &str,
        name: &str,
        interval: Duration,
        defaults: DefaultsReader,
    ) -> Result<Self, ConfigError> {
        let at = |span: std::ops::Range<usize>, why: String| ConfigError {
            file: name.to_string(),
            line: Some(text[..span.start.min(text.len())].matches('\n').count() + 1),
            why,
        };
        let file: File = toml::from_str(text).map_err(|e| ConfigError {
            file: name.to_string(),
            line: e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1),
            why: e.message().to_string(),
        })?;
        let mut cfg = Self::default();
        for (mname, m) in file.modules {
            let span = m.span();
            let module = module(m.into_inner(), defaults).map_err(|why| at(span, why))?;
            cfg.modules.insert(mname, module);
        }
        cfg.modules.entry(DEFAULT_MODULE.into()).or_default();
        for t in file.targets {
            let span = t.span();
            let t = t.into_inner();
            hsp_probe::config::split_target(t.address.get_ref())
                .map_err(|why| at(t.address.span(), why))?;
            let module = match t.module {
                Some(m) if !cfg.modules.contains_key(m.get_ref()) => {
                    return Err(at(
                        m.span(),
                        format!("no module named '{}' in [modules]", m.get_ref()),
                    ));
                }
                Some(m) => m.into_inner(),
                None => DEFAULT_MODULE.to_string(),
            };
            let interval = match t.interval {
                Some(i) => duration(&i).map_err(|why| at(span.clone(), why))?,
                None => interval,
            };
            cfg.targets.push(Target {
                address: t.address.into_inner(),
                module,
                interval,
            });
        }
        Ok(cfg)
    }
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("'{s}' is not a duration ({e})"))
}

fn module(m: ModuleFile, defaults: DefaultsReader) -> Result<Module, String> {
    let mut out = Module::default();
    if let Some(c) = m.count {
        if !(1..=100).contains(&c) {
            return Err(format!("count = {c}: from 1 to 100 handshakes per request"));
        }
        out.count = c;
    }
    if let Some(t) = &m.timeout {
        out.timeout = duration(t)?;
    }
    if let Some(t) = &m.connect_timeout {
        out.connect_timeout = Some(duration(t)?);
    }
    if let Some(s) = &m.ssl_mode {
        out.ssl_mode = match s.to_ascii_uppercase().as_str() {
            "DISABLED" => SslMode::Disabled,
            "PREFERRED" => SslMode::Preferred,
            "REQUIRED" => SslMode::Required,
            "VERIFY_CA" => SslMode::VerifyCa,
            "VERIFY_IDENTITY" => SslMode::VerifyIdentity,
            _ => {
                return Err(format!(
                    "ssl_mode = '{s}': DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY"
                ));
            }
        };
    }
    out.ssl_ca = m.ssl_ca;
    let references = [
        m.password_file.is_some(),
        m.password_env.is_some(),
        m.defaults_file.is_some(),
    ];
    if references.iter().filter(|r| **r).count() > 1 {
        return Err("give one of password_file, password_env, defaults_file".into());
    }
    let (mut user, mut password) = (m.user, None);
    if let Some(f) = &m.password_file {
        password = Some(
            hsp_probe::config::read_password_file(f)
                .map_err(|e| format!("password_file {}: cannot read it ({e})", f.display()))?,
        );
    }
    if let Some(v) = &m.password_env {
        let p =
            std::env::var(v).map_err(|_| format!("password_env {v}: the variable is not set"))?;
        password = Some(Secret::new(p));
    }
    if let Some(f) = &m.defaults_file {
        let (u, p) = defaults(f).map_err(|e| format!("defaults_file {}: {e}", f.display()))?;
        user = user.or(u);
        password = p.or(password);
    }
    out.credentials = match (user, password) {
        (Some(user), Some(password)) => Some(Credentials { user, password }),
        (Some(user), None) => Some(Credentials {
            user,
            password: Secret::new(""),
        }),
        (None, Some(_)) => return Err("a password without a user".into()),
        (None, None) => None,
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_defaults(_: &Path) -> Result<(Option<String>, Option<Secret>), String> {
        Err("not expected".into())
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, "serve.toml", Duration::from_secs(15), no_defaults)
    }

    #[test]
    fn modules_and_targets_with_their_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\nignored\n").unwrap();
        let c = parse(&format!(
            r#"
[modules.login]
user = "monitor"
password_file = "{}"
ssl_mode = "disabled"
timeout = "2s"
count = 3

[[targets]]
address = "db1:3307"
module = "login"
interval = "5s"

[[targets]]
address = "[::1]"
"#,
            pw.display()
        ))
        .unwrap();
        let login = &c.modules["login"];
        assert_eq!(login.count, 3);
        assert_eq!(login.ssl_mode, SslMode::Disabled);
        let creds = login.credentials.as_ref().unwrap();
        assert_eq!(creds.user, "monitor");
        assert!(!format!("{creds:?}").contains("s3cret"), "never printed");
        assert!(c.modules.contains_key(DEFAULT_MODULE));
        assert_eq!(
            c.targets,
            vec![
                Target {
                    address: "db1:3307".into(),
                    module: "login".into(),
                    interval: Duration::from_secs(5),
                },
                Target {
                    address: "[::1]".into(),
                    module: DEFAULT_MODULE.into(),
                    interval: Duration::from_secs(15),
                },
            ]
        );
    }

    #[test]
    fn mistakes_name_the_file_and_line() {
        let cases = [
            (
                "[modules.a]\npasword_file = \"x\"\n",
                2,
                "unknown field `pasword_file`",
            ),
            (
                "[[targets]]\naddress = \"db1\"\nmodule = \"nope\"\n",
                3,
                "no module named 'nope'",
            ),
            (
                "[[targets]]\naddress = \"db1:port\"\n",
                2,
                "HOST[:PORT] 'db1:port'",
            ),
            (
                "\n\n[modules.a]\ntimeout = \"soon\"\n",
                3,
                "'soon' is not a duration",
            ),
            (
                "[modules.a]\npassword_env = \"HSP_SURELY_UNSET_VAR\"\nuser = \"u\"\n",
                1,
                "not set",
            ),
            ("[[targets]\n", 1, ""),
        ];
        for (text, line, why) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, Some(line), "{text}: {e}");
            assert!(e.to_string().contains(why), "{text}: {e}");
            assert!(
                e.to_string().starts_with(&format!("serve.toml:{line}: ")),
                "{e}"
            );
        }
    }
}
