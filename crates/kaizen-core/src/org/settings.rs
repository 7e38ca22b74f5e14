//! [`Settings`]: the tree of tunable values, addressed by dotted paths such as
//! `models.default_tier`.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::event::MAX_NAME_LEN;

/// One value of the settings tree.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum SettingValue {
    /// `true` or `false`.
    Bool(bool),
    /// A whole number.
    Integer(i64),
    /// A finite number with a fractional part (written with a decimal point, e.g. `2.0`).
    Float(f64),
    /// Text.
    String(String),
    /// A section: named values.
    Map(BTreeMap<String, SettingValue>),
}

impl SettingValue {
    /// The kind of value, for messages: `boolean`, `integer`, `float`, `string` or `map`.
    pub fn kind(&self) -> &'static str {
        match self {
            SettingValue::Bool(_) => "boolean",
            SettingValue::Integer(_) => "integer",
            SettingValue::Float(_) => "float",
            SettingValue::String(_) => "string",
            SettingValue::Map(_) => "map",
        }
    }
}

impl fmt::Display for SettingValue {
    /// Strings quoted, floats with a decimal point, maps as `{key: value, …}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingValue::Bool(b) => write!(f, "{b}"),
            SettingValue::Integer(i) => write!(f, "{i}"),
            SettingValue::Float(x) => write!(f, "{x:?}"),
            SettingValue::String(s) => write!(f, "{s:?}"),
            SettingValue::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

impl From<bool> for SettingValue {
    fn from(b: bool) -> Self {
        SettingValue::Bool(b)
    }
}

impl From<i64> for SettingValue {
    fn from(i: i64) -> Self {
        SettingValue::Integer(i)
    }
}

impl From<f64> for SettingValue {
    fn from(x: f64) -> Self {
        SettingValue::Float(x)
    }
}

impl From<&str> for SettingValue {
    fn from(s: &str) -> Self {
        SettingValue::String(s.to_owned())
    }
}

impl<'de> Deserialize<'de> for SettingValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SettingVisitor)
    }
}

struct SettingVisitor;

impl<'de> Visitor<'de> for SettingVisitor {
    type Value = SettingValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean, a number, a string or a map of settings")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<SettingValue, E> {
        Ok(SettingValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<SettingValue, E> {
        Ok(SettingValue::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<SettingValue, E> {
        i64::try_from(v)
            .map(SettingValue::Integer)
            .map_err(|_| E::custom(format!("integer {v} is too large (at most {})", i64::MAX)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<SettingValue, E> {
        if v.is_finite() {
            Ok(SettingValue::Float(v))
        } else {
            Err(E::custom(format!("expected a finite number, found {v}")))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SettingValue, E> {
        Ok(SettingValue::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<SettingValue, E> {
        Ok(SettingValue::String(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<SettingValue, A::Error> {
        let mut map = BTreeMap::new();
        while let Some((k, v)) = access.next_entry::<String, SettingValue>()? {
            if map.insert(k.clone(), v).is_some() {
                return Err(de::Error::custom(format!("duplicate setting {k:?}")));
            }
        }
        Ok(SettingValue::Map(map))
    }
}

/// The settings tree: top-level names mapped to values or sections.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Settings(pub BTreeMap<String, SettingValue>);

/// Checks one segment of a settings path (a key of a settings map).
pub(crate) fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("empty name".to_owned());
    }
    if key.trim() != key {
        return Err(format!("name {key:?} has surrounding whitespace"));
    }
    if key.contains('.') {
        return Err(format!("name {key:?} contains `.` (paths are dotted)"));
    }
    if key.len() > MAX_NAME_LEN {
        return Err(format!(
            "name is {} bytes long, at most {MAX_NAME_LEN} allowed",
            key.len()
        ));
    }
    if key.chars().any(char::is_control) {
        return Err(format!("name {key:?} contains control characters"));
    }
    Ok(())
}

/// Splits a dotted settings path into its segments, each a valid settings name.
pub fn parse_setting_path(path: &str) -> Result<Vec<&str>, String> {
    if path.is_empty() {
        return Err(
            "expected a dotted settings path such as models.default_tier, found an empty string"
                .to_owned(),
        );
    }
    let segments: Vec<&str> = path.split('.').collect();
    for seg in &segments {
        if seg.is_empty() {
            return Err(format!("settings path {path:?} has an empty segment"));
        }
        check_key(seg).map_err(|e| format!("settings path {path:?}: {e}"))?;
    }
    Ok(segments)
}

impl Settings {
    /// The value at `path` (a leaf or a section), if present.
    pub fn get(&self, path: &str) -> Option<&SettingValue> {
        let segments = parse_setting_path(path).ok()?;
        let (last, parents) = segments.split_last()?;
        let mut map = &self.0;
        for seg in parents {
            match map.get(*seg)? {
                SettingValue::Map(child) => map = child,
                _ => return None,
            }
        }
        map.get(*last)
    }

    /// Sets (`Some`) or removes (`None`) the value at `path`. Missing sections are created;
    /// sections left empty by a removal are removed. Fails when the path is malformed or runs
    /// through a value that is not a section.
    pub fn set(&mut self, path: &str, value: Option<SettingValue>) -> Result<(), String> {
        let segments = parse_setting_path(path)?;
        set_in(&mut self.0, &segments, 0, value)
    }

    /// Every leaf (non-map value) with its dotted path, in path order.
    pub fn leaves(&self) -> Vec<(String, &SettingValue)> {
        fn walk<'a>(
            map: &'a BTreeMap<String, SettingValue>,
            prefix: &str,
            out: &mut Vec<(String, &'a SettingValue)>,
        ) {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    SettingValue::Map(child) => walk(child, &path, out),
                    leaf => out.push((path, leaf)),
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.0, "", &mut out);
        out
    }
}

fn set_in(
    map: &mut BTreeMap<String, SettingValue>,
    segments: &[&str],
    depth: usize,
    value: Option<SettingValue>,
) -> Result<(), String> {
    let Some(&seg) = segments.get(depth) else {
        return Err("empty settings path".to_owned());
    };
    if depth + 1 == segments.len() {
        match value {
            Some(v) => {
                map.insert(seg.to_owned(), v);
            }
            None => {
                map.remove(seg);
            }
        }
        return Ok(());
    }
    match map.get_mut(seg) {
        Some(SettingValue::Map(child)) => {
            set_in(child, segments, depth + 1, value)?;
            if child.is_empty() {
                map.remove(seg);
            }
            Ok(())
        }
        Some(other) => Err(format!(
            "{} is not a section but the {} {other}",
            segments[..=depth].join("."),
            other.kind()
        )),
        None => match value {
            None => Ok(()),
            Some(v) => {
                let mut child = BTreeMap::new();
                set_in(&mut child, segments, depth + 1, Some(v))?;
                map.insert(seg.to_owned(), SettingValue::Map(child));
                Ok(())
            }
        },
    }
}
