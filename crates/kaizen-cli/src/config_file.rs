//! Loading `kaizen.yaml`: finding the file, parsing it strictly, applying `KAIZEN__…`
//! environment overrides and validating the result; plus the starter template for `kaizen init`.
//!
//! The model itself (keys, defaults, ranges) lives in [`kaizen_core::config`] (the meta-loop's
//! sections) and [`kaizen_server::settings`] (`server`, `mcp`, and the whole file). Nothing here falls
//! back to defaults on a bad file: every problem is an error that names the key.

use std::collections::BTreeMap;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use kaizen_core::config::{REDACTED, SECRET_PATHS};
use kaizen_server::settings::Settings;
use serde_json::Value;

/// The commented starter configuration written by `kaizen init`. Parses to
/// [`Settings::default()`].
pub const TEMPLATE: &str = include_str!("kaizen.example.yaml");

/// File looked for in the working directory when no path is given.
pub const DEFAULT_FILE: &str = "kaizen.yaml";

/// Environment variable naming the configuration file when no path is given.
pub const CONFIG_ENV: &str = "KAIZEN_CONFIG";

/// Prefix of override variables: `KAIZEN__SECTION__KEY=value` (matched case-insensitively;
/// `__` separates key path segments).
pub const OVERRIDE_PREFIX: &str = "KAIZEN__";

/// A configuration ready to use, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedConfig {
    /// The parsed, overridden and validated configuration.
    pub config: Settings,
    /// The file that was read; `None` when no file was found and the defaults were used.
    pub source: Option<PathBuf>,
    /// Names of the `KAIZEN__…` variables that were applied, sorted.
    pub overrides: Vec<String>,
}

/// Loads the configuration using the process environment.
///
/// The file is `path` if given (it must exist), else `$KAIZEN_CONFIG` if set (it must exist),
/// else `./kaizen.yaml` if present, else none (defaults). `KAIZEN__…` overrides are applied on
/// top, then the result is validated; every validation problem is reported in one error.
pub fn load(path: Option<&Path>) -> Result<LoadedConfig> {
    load_with_env(path, process_env())
}

/// [`load`] with an explicit environment instead of the process's (used by tests).
pub fn load_with_env(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<LoadedConfig> {
    load_in(path, env, Path::new(DEFAULT_FILE))
}

/// [`load_with_env`] with the fallback file given explicitly.
fn load_in(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    local: &Path,
) -> Result<LoadedConfig> {
    let mut config_env = None;
    let mut overrides = Vec::new();
    for (name, value) in env {
        if name == CONFIG_ENV {
            config_env = Some(value).filter(|v| !v.is_empty());
        } else if let Some(path) = override_path(&name) {
            overrides.push(Override {
                var: name,
                path,
                value,
            });
        }
    }
    overrides.sort_by(|a, b| a.var.cmp(&b.var));

    let source = match (path, config_env) {
        (Some(p), _) => Some(p.to_path_buf()),
        (None, Some(p)) => Some(PathBuf::from(p)),
        (None, None) if local.is_file() => Some(local.to_path_buf()),
        (None, None) => None,
    };
    let mut config = match &source {
        Some(file) => {
            let text = fs::read_to_string(file).map_err(|e| {
                let via = if path.is_none() && file != local {
                    format!(" (named by ${CONFIG_ENV})")
                } else {
                    String::new()
                };
                if e.kind() == ErrorKind::NotFound {
                    anyhow!("config file {}{via} does not exist", file.display())
                } else {
                    anyhow!("cannot read config file {}{via}: {e}", file.display())
                }
            })?;
            parse_yaml(&text, &file.display().to_string())?
        }
        None => Settings::default(),
    };
    if !overrides.is_empty() {
        config = apply_overrides(&config, &overrides)?;
    }

    if let Err(errors) = config.validate() {
        let origin = match &source {
            Some(file) => file.display().to_string(),
            None => "the built-in defaults".to_owned(),
        };
        let with = if overrides.is_empty() {
            String::new()
        } else {
            let vars: Vec<&str> = overrides.iter().map(|o| o.var.as_str()).collect();
            format!(" with overrides from {}", vars.join(", "))
        };
        let lines: Vec<String> = errors.into_iter().map(|e| format!("  - {e}")).collect();
        bail!(
            "invalid configuration in {origin}{with}:\n{}",
            lines.join("\n")
        );
    }

    Ok(LoadedConfig {
        config,
        source,
        overrides: overrides.into_iter().map(|o| o.var).collect(),
    })
}

/// Parses `kaizen.yaml` text strictly (no validation): unknown keys and wrong types are errors
/// that name the key path and the line and column. Empty text (or `null`) gives the defaults.
/// `origin` names the text in messages, usually the file path.
pub fn parse_yaml(text: &str, origin: &str) -> Result<Settings> {
    let mut key_path = None;
    let parsed = serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize::<_, Option<Settings>>(de).map_err(|e| {
            key_path = Some(e.path().to_string());
            e.into_inner()
        })
    });
    match parsed {
        Ok(config) => Ok(config.unwrap_or_default()),
        Err(err) => Err(anyhow!(describe_yaml_error(
            &err,
            key_path.as_deref(),
            text,
            origin
        ))),
    }
}

/// Writes [`TEMPLATE`] to `path`, refusing to replace an existing file unless `force`.
pub fn write_template(path: &Path, force: bool) -> Result<()> {
    if force {
        return fs::write(path, TEMPLATE)
            .with_context(|| format!("cannot write {}", path.display()));
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            if e.kind() == ErrorKind::AlreadyExists {
                anyhow!(
                    "{} already exists; refusing to overwrite it (use --force to replace it)",
                    path.display()
                )
            } else {
                anyhow!("cannot create {}: {e}", path.display())
            }
        })?;
    file.write_all(TEMPLATE.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The process environment's kaizen variables (values converted lossily if not UTF-8).
fn process_env() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            (name == CONFIG_ENV || override_path(&name).is_some())
                .then(|| (name, value.to_string_lossy().into_owned()))
        })
        .collect()
}

/// One `KAIZEN__…` variable.
struct Override {
    var: String,
    /// Lower-cased key path segments.
    path: Vec<String>,
    value: String,
}

impl Override {
    fn dotted(&self) -> String {
        self.path.join(".")
    }

    /// `NAME="value"` for messages, with secret values hidden.
    fn shown(&self) -> String {
        if SECRET_PATHS.contains(&self.dotted().as_str()) {
            format!("{}={REDACTED:?}", self.var)
        } else {
            format!("{}={:?}", self.var, self.value)
        }
    }
}

/// The key path of an override variable, or `None` if `name` is not one.
fn override_path(name: &str) -> Option<Vec<String>> {
    let prefix = name.get(..OVERRIDE_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(OVERRIDE_PREFIX) {
        return None;
    }
    Some(
        name[OVERRIDE_PREFIX.len()..]
            .split("__")
            .map(str::to_lowercase)
            .collect(),
    )
}

/// Applies `overrides` to `config`. Each value is read as YAML (usually a scalar); when the key
/// wants a string, the text is taken as is (so a salt of `12345` or `yes` stays a string).
fn apply_overrides(config: &Settings, overrides: &[Override]) -> Result<Settings> {
    let mut tree = serde_json::to_value(config).context("cannot represent the configuration")?;
    let mut problems = Vec::new();
    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    let mut parsed = Vec::with_capacity(overrides.len());
    for o in overrides {
        let dotted = o.dotted();
        if let Some(other) = seen.insert(dotted.clone(), &o.var) {
            problems.push(format!("{} and {other} both set {dotted}", o.var));
            continue;
        }
        // Text that is not valid YAML can still be a string value (a salt, a path).
        let value = serde_saphyr::from_str::<Value>(&o.value)
            .unwrap_or_else(|_| Value::String(o.value.clone()));
        match slot(&mut tree, &o.path) {
            Ok(target) if target.is_object() => problems.push(format!(
                "{}: {} is a section; set its keys one by one (e.g. {}__<KEY>)",
                o.var,
                o.dotted(),
                o.var.to_uppercase()
            )),
            Ok(target) => {
                *target = value;
                parsed.push(o);
            }
            Err(why) => problems.push(format!("{}: {why}", o.var)),
        }
    }
    if !problems.is_empty() {
        bail!(
            "invalid environment override:\n  - {}",
            problems.join("\n  - ")
        );
    }

    // A key that rejects the parsed number/bool/null is retried once with the raw text; if
    // that fails too, the first error is reported.
    let mut first_error: BTreeMap<&str, String> = BTreeMap::new();
    loop {
        let e = match serde_path_to_error::deserialize::<_, Settings>(tree.clone()) {
            Ok(config) => return Ok(config),
            Err(e) => e,
        };
        let at = e.path().to_string();
        let Some(o) = parsed.iter().find(|o| {
            let key = o.dotted();
            at.strip_prefix(&key)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        }) else {
            bail!(
                "invalid configuration after environment overrides: {at}: {}",
                e.inner()
            );
        };
        let retry = at == o.dotted() && !first_error.contains_key(o.var.as_str());
        match slot(&mut tree, &o.path).ok().filter(|v| !v.is_string()) {
            Some(target) if retry => {
                *target = Value::String(o.value.clone());
                first_error.insert(&o.var, e.inner().to_string());
            }
            _ => {
                let message = first_error
                    .remove(o.var.as_str())
                    .unwrap_or_else(|| e.inner().to_string());
                bail!(
                    "invalid environment override {}: {at}: {message}",
                    o.shown()
                );
            }
        }
    }
}

/// The value at `path` in `tree`, which must name an existing key.
fn slot<'a>(tree: &'a mut Value, path: &[String]) -> std::result::Result<&'a mut Value, String> {
    let mut node = tree;
    let mut walked: Vec<&str> = Vec::new();
    for segment in path {
        let Value::Object(map) = node else {
            return Err(format!("{} is not a section", walked.join(".")));
        };
        if !map.contains_key(segment) {
            let under = if walked.is_empty() {
                "at the top level".to_owned()
            } else {
                format!("under {}", walked.join("."))
            };
            let known: Vec<&str> = map.keys().map(String::as_str).collect();
            return Err(format!(
                "unknown key `{segment}` {under}; expected one of {}",
                known.join(", ")
            ));
        }
        walked.push(segment);
        node = map
            .get_mut(segment)
            .ok_or_else(|| format!("unknown key {}", walked.join(".")))?;
    }
    Ok(node)
}

/// `origin:line:column: key.path: message`, with the offending text and what was expected when
/// the parser's own message is terse.
fn describe_yaml_error(
    err: &serde_saphyr::Error,
    key_path: Option<&str>,
    text: &str,
    origin: &str,
) -> String {
    let bare = err.without_snippet();
    let location = bare.location();
    let mut message = bare.to_string();
    let mut place = origin.to_owned();
    if let Some(loc) = location {
        let suffix = format!(" at line {}, column {}", loc.line(), loc.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_owned();
        }
        // Advice about the parser's options is not for kaizen's users.
        if let Some(stripped) =
            message.strip_suffix(", set DuplicateKeyPolicy in Options if acceptable")
        {
            message = stripped.to_owned();
        }
        place = format!("{origin}:{}:{}", loc.line(), loc.column());
    }
    if let Some(expected) = terse_type_hint(&message) {
        let found = location.and_then(|loc| {
            let span = loc.span();
            let start = usize::try_from(span.byte_offset()?).ok()?;
            let len = usize::try_from(span.byte_len()?).ok()?;
            text.get(start..start.checked_add(len)?)
                .filter(|found| !found.trim().is_empty())
        });
        message = match found {
            Some(found) => format!("{expected}, found `{found}`"),
            None => format!("{expected} ({message})"),
        };
    }
    match key_path.filter(|p| !p.is_empty() && *p != "?") {
        Some(".") => format!("{place}: top level: {message}"),
        Some(p) => format!("{place}: {p}: {message}"),
        None => format!("{place}: {message}"),
    }
}

/// For serde-saphyr's terse messages ("invalid u32", "expected mapping start"), what the key
/// expected.
fn terse_type_hint(message: &str) -> Option<&'static str> {
    if message == "expected mapping start" {
        return Some("expected a mapping of `key: value` entries");
    }
    Some(match message.strip_prefix("invalid ")? {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "expected a whole number >= 0",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "expected a whole number",
        "f32" | "f64" | "floating point" => "expected a number",
        "boolean" | "bool" => "expected true or false",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use kaizen_core::config::RolloutStrategyKind;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        path
    }

    fn load_text(text: &str) -> Result<LoadedConfig> {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "kaizen.yaml", text);
        load_with_env(Some(&path), env(&[]))
    }

    fn err_text(r: Result<LoadedConfig>) -> String {
        format!("{:#}", r.unwrap_err())
    }

    fn leaf_paths(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    leaf_paths(v, &p, out);
                }
            }
            _ => {
                out.insert(prefix.to_owned());
            }
        }
    }

    #[test]
    fn template_is_exactly_the_defaults_and_lists_every_key() {
        let parsed = parse_yaml(TEMPLATE, "template").unwrap();
        assert_eq!(parsed, Settings::default());
        assert_eq!(parsed.validate(), Ok(()));

        let mut want = BTreeSet::new();
        leaf_paths(
            &serde_json::to_value(Settings::default()).unwrap(),
            "",
            &mut want,
        );
        let mut have = BTreeSet::new();
        let raw: Value = serde_saphyr::from_str(TEMPLATE).unwrap();
        leaf_paths(&raw, "", &mut have);
        assert_eq!(have, want, "the template must list every key");
        assert!(!parsed.kaizen.self_improvement.enabled);
    }

    #[test]
    fn written_template_loads_as_defaults_and_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kaizen.yaml");
        write_template(&path, false).unwrap();
        let loaded = load_with_env(Some(&path), env(&[])).unwrap();
        assert_eq!(loaded.config, Settings::default());
        assert_eq!(loaded.source.as_deref(), Some(path.as_path()));

        fs::write(&path, "storage:\n  path: mine.db\n").unwrap();
        let err = write_template(&path, false).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "storage:\n  path: mine.db\n"
        );
        write_template(&path, true).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), TEMPLATE);
    }

    #[test]
    fn empty_file_and_empty_sections_are_defaults() {
        for text in [
            "",
            "# nothing\n",
            "~\n",
            "storage:\nself_improvement:\n  rollout:\n",
        ] {
            let loaded = load_text(text).unwrap();
            assert_eq!(loaded.config, Settings::default(), "{text:?}");
        }
    }

    #[test]
    fn partial_file_keeps_other_defaults() {
        let loaded = load_text(
            "self_improvement:\n  enabled: true\n  rollout:\n    default_strategy: ab_test\n",
        )
        .unwrap();
        let si = &loaded.config.kaizen.self_improvement;
        assert!(si.enabled);
        assert_eq!(si.rollout.default_strategy, RolloutStrategyKind::AbTest);
        assert_eq!(si.rollout.observation_window_hours, 48);
        assert_eq!(
            loaded.config.kaizen.storage,
            Settings::default().kaizen.storage
        );
    }

    #[test]
    fn unknown_top_level_key_is_named() {
        let err = err_text(load_text("storage:\n  path: a.db\nbogus: 1\n"));
        assert!(
            err.contains("kaizen.yaml:3:1: top level: unknown field `bogus`"),
            "{err}"
        );
        assert!(
            err.contains("self_improvement"),
            "lists the valid keys: {err}"
        );
    }

    #[test]
    fn unknown_nested_key_is_named() {
        let err = err_text(load_text(
            "self_improvement:\n  rollout:\n    ab_test:\n      control_fraktion: 0.5\n",
        ));
        assert!(
            err.contains(
                "kaizen.yaml:4:7: self_improvement.rollout.ab_test.control_fraktion: \
                 unknown field `control_fraktion`"
            ),
            "{err}"
        );
        assert!(err.contains("control_fraction"), "{err}");
    }

    #[test]
    fn wrong_type_names_path_expected_and_found() {
        let err = err_text(load_text(
            "self_improvement:\n  rollout:\n    observation_window_hours: two days # x\n",
        ));
        assert!(
            err.contains(
                "kaizen.yaml:3:31: self_improvement.rollout.observation_window_hours: \
                 expected a whole number >= 0, found `two days`"
            ),
            "{err}"
        );
        let err = err_text(load_text("self_improvement:\n  enabled: 2\n"));
        assert!(
            err.contains("self_improvement.enabled: expected true or false, found `2`"),
            "{err}"
        );
        let err = err_text(load_text(
            "self_improvement:\n  rollout:\n    default_strategy: blue_green\n",
        ));
        assert!(
            err.contains("self_improvement.rollout.default_strategy: unknown variant `blue_green`"),
            "{err}"
        );
        assert!(err.contains("ab_test"), "{err}");
    }

    #[test]
    fn out_of_range_values_are_all_reported() {
        let err = err_text(load_text(
            "self_improvement:\n  rollout:\n    ab_test:\n      control_fraction: 1.5\n  \
             regression:\n    min_data_points: 1\n",
        ));
        assert!(err.contains("invalid configuration in"), "{err}");
        assert!(
            err.contains(
                "self_improvement.rollout.ab_test.control_fraction: \
                 expected a number in (0, 1), found 1.5"
            ),
            "{err}"
        );
        assert!(
            err.contains(
                "self_improvement.regression.min_data_points: expected an integer >= 2, found 1"
            ),
            "{err}"
        );
    }

    #[test]
    fn interval_longer_than_window_is_an_error() {
        let err = err_text(load_text(
            "self_improvement:\n  rollout:\n    observation_window_hours: 6\n    \
             regression_check_interval_hours: 12\n",
        ));
        assert!(
            err.contains(
                "self_improvement.rollout.regression_check_interval_hours: expected at most \
                 observation_window_hours (6), found 12"
            ),
            "{err}"
        );
    }

    #[test]
    fn env_overrides_set_values_after_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "k.yaml", "storage:\n  path: file.db\n");
        let loaded = load_with_env(
            Some(&path),
            env(&[
                ("KAIZEN__SELF_IMPROVEMENT__ENABLED", "true"),
                ("KAIZEN__STORAGE__PATH", "/tmp/x.db"),
                ("kaizen__storage__raw_retention_days", "null"),
                (
                    "KAIZEN__SELF_IMPROVEMENT__ROLLOUT__AB_TEST__CONTROL_FRACTION",
                    "0.3",
                ),
                ("KAIZEN__SIGNALS__MONTHLY_BUDGET_USD", "1200"),
                ("KAIZEN__RULES__DISABLED", "[redundancy]"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        let c = &loaded.config;
        assert!(c.kaizen.self_improvement.enabled);
        assert_eq!(c.kaizen.storage.path, "/tmp/x.db");
        assert_eq!(c.kaizen.storage.raw_retention_days, None);
        assert_eq!(
            c.kaizen.self_improvement.rollout.ab_test.control_fraction,
            0.3
        );
        assert_eq!(c.kaizen.signals.monthly_budget_usd, Some(1200.0));
        assert_eq!(c.kaizen.rules.disabled, vec!["redundancy".to_owned()]);
        assert_eq!(loaded.overrides.len(), 6);
    }

    /// The overrides `pairs` applied to the defaults, without validation.
    fn overridden(pairs: &[(&str, &str)]) -> Result<Settings> {
        let overrides: Vec<Override> = pairs
            .iter()
            .map(|(var, value)| Override {
                var: (*var).to_owned(),
                path: override_path(var).unwrap(),
                value: (*value).to_owned(),
            })
            .collect();
        apply_overrides(&Settings::default(), &overrides)
    }

    #[test]
    fn env_string_keys_keep_the_text() {
        let loaded = load_with_env(None, env(&[("KAIZEN__STORAGE__PATH", "12345")])).unwrap();
        assert_eq!(loaded.config.kaizen.storage.path, "12345");
        // An optional string key too (validation refuses this one: see
        // `keys_of_unavailable_features_are_refused_naming_the_key`).
        let c = overridden(&[(
            "KAIZEN__SELF_IMPROVEMENT__CROSS_DEPLOYMENT_ANALYTICS__INDUSTRY_TAG",
            "yes",
        )])
        .unwrap();
        assert_eq!(
            c.kaizen
                .self_improvement
                .cross_deployment_analytics
                .industry_tag
                .as_deref(),
            Some("yes")
        );
    }

    #[test]
    fn keys_of_unavailable_features_are_refused_naming_the_key() {
        let err = err_text(load_text(
            "self_improvement:\n  chief_of_staff_enabled: true\n",
        ));
        assert!(err.contains("invalid configuration in"), "{err}");
        assert!(
            err.contains(
                "self_improvement.chief_of_staff_enabled: the chief of staff is not available \
                 yet; remove the key or set it to false"
            ),
            "{err}"
        );

        let err = err_text(load_with_env(
            None,
            env(&[
                (
                    "KAIZEN__SELF_IMPROVEMENT__CODE_MODIFICATION_ENABLED",
                    "true",
                ),
                (
                    "KAIZEN__SELF_IMPROVEMENT__CROSS_DEPLOYMENT_ANALYTICS__DEPLOYMENT_ID_SALT",
                    "hunter2",
                ),
            ]),
        ));
        assert!(
            err.contains("with overrides from KAIZEN__SELF_IMPROVEMENT__CODE_MODIFICATION_ENABLED"),
            "{err}"
        );
        assert!(
            err.contains(
                "self_improvement.code_modification_enabled: code-modification proposals are not \
                 available yet"
            ),
            "{err}"
        );
        assert!(
            err.contains(
                "self_improvement.cross_deployment_analytics.deployment_id_salt: cross-deployment \
                 analytics is not available yet; remove the key or set it to null"
            ),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "the salt is never echoed: {err}");

        // Writing the defaults out explicitly is fine.
        let loaded = load_text(
            "self_improvement:\n  chief_of_staff_enabled: false\n  \
             code_modification_enabled: false\n  schedule:\n    \
             inflection_trigger_enabled: true\n  cross_deployment_analytics:\n    \
             enabled: false\n    batch_size: 50\n",
        )
        .unwrap();
        assert_eq!(loaded.config, Settings::default());
    }

    #[test]
    fn unknown_env_key_names_the_variable() {
        let err = err_text(load_with_env(
            None,
            env(&[("KAIZEN__STORAGE__PTH", "x.db")]),
        ));
        assert!(
            err.contains("KAIZEN__STORAGE__PTH: unknown key `pth` under storage"),
            "{err}"
        );
        assert!(err.contains("raw_retention_days"), "{err}");
        let err = err_text(load_with_env(None, env(&[("KAIZEN__NOPE", "1")])));
        assert!(
            err.contains("KAIZEN__NOPE: unknown key `nope` at the top level"),
            "{err}"
        );
        let err = err_text(load_with_env(None, env(&[("KAIZEN__STORAGE", "x")])));
        assert!(
            err.contains("KAIZEN__STORAGE: storage is a section"),
            "{err}"
        );
    }

    #[test]
    fn bad_env_value_names_the_variable_and_expectation() {
        let err = err_text(load_with_env(
            None,
            env(&[(
                "KAIZEN__SELF_IMPROVEMENT__GUARDS__PROPOSAL_RATE_LIMIT",
                "many",
            )]),
        ));
        assert!(
            err.contains(
                "KAIZEN__SELF_IMPROVEMENT__GUARDS__PROPOSAL_RATE_LIMIT=\"many\": \
                 self_improvement.guards.proposal_rate_limit: invalid type: string \"many\""
            ),
            "{err}"
        );
        let err = err_text(load_with_env(
            None,
            env(&[("KAIZEN__SELF_IMPROVEMENT__GUARDS__PROPOSAL_RATE_LIMIT", "0")]),
        ));
        assert!(
            err.contains(
                "with overrides from KAIZEN__SELF_IMPROVEMENT__GUARDS__PROPOSAL_RATE_LIMIT"
            ),
            "{err}"
        );
        assert!(
            err.contains("self_improvement.guards.proposal_rate_limit: expected an integer >= 1"),
            "{err}"
        );
    }

    #[test]
    fn explicit_missing_path_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.yaml");
        let err = err_text(load_with_env(Some(&missing), env(&[])));
        assert!(err.contains(&missing.display().to_string()), "{err}");
        assert!(err.contains("does not exist"), "{err}");

        let err = err_text(load_with_env(
            None,
            env(&[(CONFIG_ENV, &missing.display().to_string())]),
        ));
        assert!(err.contains("$KAIZEN_CONFIG"), "{err}");
        assert!(err.contains(&missing.display().to_string()), "{err}");
    }

    #[test]
    fn resolution_order_is_path_then_env_then_local_then_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let explicit = write(&dir, "explicit.yaml", "storage:\n  path: explicit.db\n");
        let via_env = write(&dir, "env.yaml", "storage:\n  path: env.db\n");
        let local = write(&dir, "kaizen.yaml", "storage:\n  path: local.db\n");
        let env_var = env(&[(CONFIG_ENV, &via_env.display().to_string())]);

        let c = load_in(Some(&explicit), env_var.clone(), &local).unwrap();
        assert_eq!(c.config.kaizen.storage.path, "explicit.db");
        let c = load_in(None, env_var, &local).unwrap();
        assert_eq!(c.config.kaizen.storage.path, "env.db");
        assert_eq!(c.source.as_deref(), Some(via_env.as_path()));
        let c = load_in(None, env(&[(CONFIG_ENV, "")]), &local).unwrap();
        assert_eq!(c.config.kaizen.storage.path, "local.db");
        let c = load_in(None, env(&[]), &dir.path().join("none.yaml")).unwrap();
        assert_eq!(c.source, None);
        assert_eq!(c.config, Settings::default());
    }

    #[test]
    fn a_section_given_a_scalar_says_what_it_expected() {
        let err = err_text(load_text("storage: 5\n"));
        assert!(
            err.contains(
                "kaizen.yaml:1:10: storage: expected a mapping of `key: value` entries, found `5`"
            ),
            "{err}"
        );
        let err = err_text(load_text("- a\n"));
        assert!(
            err.contains("kaizen.yaml:1:1: top level: expected a mapping"),
            "{err}"
        );
    }

    #[test]
    fn secret_override_values_are_kept_verbatim_and_never_echoed() {
        let var = "KAIZEN__SELF_IMPROVEMENT__CROSS_DEPLOYMENT_ANALYTICS__DEPLOYMENT_ID_SALT";
        for salt in ["[hunter2]", "a: b [c", "12345"] {
            let c = overridden(&[(var, salt)]).unwrap();
            let analytics = &c.kaizen.self_improvement.cross_deployment_analytics;
            assert_eq!(analytics.deployment_id_salt.as_deref(), Some(salt));
            let err = err_text(load_with_env(None, env(&[(var, salt)])));
            assert!(err.contains("deployment_id_salt"), "{err}");
            assert!(!err.contains(salt), "{err}");
        }
        let secret = Override {
            var: var.to_owned(),
            path: override_path(var).unwrap(),
            value: "hunter2".to_owned(),
        };
        assert_eq!(secret.shown(), format!("{var}=\"***redacted***\""));
        let plain = Override {
            var: "KAIZEN__STORAGE__PATH".to_owned(),
            path: override_path("KAIZEN__STORAGE__PATH").unwrap(),
            value: "x.db".to_owned(),
        };
        assert_eq!(plain.shown(), "KAIZEN__STORAGE__PATH=\"x.db\"");
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let err = err_text(load_text("storage:\n  path: [unclosed\n"));
        assert!(err.contains("kaizen.yaml:"), "{err}");
        assert!(err.contains("storage.path"), "{err}");
    }
}
