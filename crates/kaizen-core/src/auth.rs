//! Capabilities and grants: what an operation needs, and what a bearer token may do.
//!
//! * A [`Capability`] is what one operation needs: `domain:action`, e.g. `proposals:approve`.
//!   The [`Action`]s are independent: `org:admin` does not imply `org:read` (grant `org:*` for
//!   the whole domain).
//! * A [`Grant`] is a token's allow and deny patterns. A pattern is `domain:action` where
//!   either side is a literal or `*` (the whole side, never part of it): `proposals:read`,
//!   `proposals:*`, `*:read`, `*:*`. `*` alone is everything and is the same pattern as `*:*`
//!   (both are stored as `*`). A leading `!` makes a pattern a deny: `!org:admin`,
//!   `!*:approve`. [`Grant::allows`]: some allow pattern matches and no deny pattern does
//!   (deny beats allow, whatever the order).
//!
//! Unlike shell globbing on the whole string, a `*` never crosses the `:` and never matches
//! part of a name: `proposals:*` cannot reach a domain `proposals_archive`, and `prop*` is an
//! error rather than a silent prefix match.
//!
//! Patterns are trimmed and lower-cased; a domain is `[a-z0-9_-]+`; anything else is an error
//! that names the pattern.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest pattern or capability accepted, in bytes (after trimming). Real ones are short;
/// the bound keeps hostile input out of error messages and storage.
pub const MAX_PATTERN_LEN: usize = 100;

/// What an operation does within its domain.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Debug,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", parse_err_ty = String, parse_err_fn = unknown_action)]
pub enum Action {
    /// Look, never change.
    Read,
    /// Change state (ingest, run a cycle, propose, edit).
    Write,
    /// A human decision: approve or reject a proposal, decide a paused rollout. Only a
    /// principal that [`crate::lifecycle::may_approve`] exercises it, whatever its grant says
    /// ([`crate::lifecycle::may_exercise`]).
    Approve,
    /// Administer the domain (tokens, configuration).
    Admin,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 4] = [Action::Read, Action::Write, Action::Approve, Action::Admin];

    /// The wire name (`read`, `write`, `approve`, `admin`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The parse error of [`Action`]: names the valid values.
fn unknown_action(s: &str) -> String {
    format!(
        "unknown action {:?}; expected read, write, approve or admin",
        shorten(s)
    )
}

/// What an operation needs: `domain:action`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Capability {
    /// The domain (`proposals`, `org`, `tokens`, …), `[a-z0-9_-]+`.
    pub domain: String,
    /// What is done in it.
    pub action: Action,
}

impl Capability {
    /// `domain:action`. The domain is compared case-insensitively by [`Grant::allows`]; use
    /// [`str::parse`] to validate one that comes from input.
    pub fn new(domain: impl Into<String>, action: Action) -> Self {
        Self {
            domain: domain.into(),
            action,
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.domain, self.action)
    }
}

impl FromStr for Capability {
    type Err = String;

    /// Parses `domain:action` (trimmed, lower-cased). Wildcards and `!` are pattern syntax,
    /// not capabilities, and are refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = normalise(s, "capability")?;
        let err = |why: String| format!("capability {:?}: {why}", shorten(&text));
        let (domain, action) = split(&text).map_err(err)?;
        if domain == "*" || action == "*" {
            return Err(err(
                "a capability names one domain and one action; `*` belongs in patterns".to_owned(),
            ));
        }
        check_domain(domain).map_err(err)?;
        Ok(Capability {
            domain: domain.to_owned(),
            action: action.parse().map_err(err)?,
        })
    }
}

/// One side of a pattern's domain.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum DomainPat {
    Any,
    Is(String),
}

/// One `domain:action` pattern, without its allow/deny sign.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Pattern {
    domain: DomainPat,
    action: Option<Action>,
}

impl Pattern {
    fn matches(&self, needed: &Capability) -> bool {
        let domain = match &self.domain {
            DomainPat::Any => true,
            DomainPat::Is(d) => d.eq_ignore_ascii_case(&needed.domain),
        };
        domain && self.action.is_none_or(|a| a == needed.action)
    }

    /// Parses a pattern without a sign (already trimmed and lower-cased).
    fn parse(text: &str) -> Result<Pattern, String> {
        if text == "*" {
            return Ok(Pattern {
                domain: DomainPat::Any,
                action: None,
            });
        }
        let (domain, action) = split(text)?;
        let domain = if domain == "*" {
            DomainPat::Any
        } else {
            check_domain(domain)?;
            DomainPat::Is(domain.to_owned())
        };
        let action = if action == "*" {
            None
        } else if action.contains('*') {
            return Err(format!(
                "{action:?}: a `*` stands for a whole side, not part of a name"
            ));
        } else {
            Some(action.parse()?)
        };
        Ok(Pattern { domain, action })
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.domain, self.action) {
            (DomainPat::Any, None) => f.write_str("*"),
            (DomainPat::Any, Some(a)) => write!(f, "*:{a}"),
            (DomainPat::Is(d), None) => write!(f, "{d}:*"),
            (DomainPat::Is(d), Some(a)) => write!(f, "{d}:{a}"),
        }
    }
}

/// A token's grant: allow and deny patterns (see the [module docs](self) for the syntax).
///
/// Serialised as its list of canonical patterns ([`Grant::patterns`]) and deserialised through
/// [`Grant::parse`], so a stored or received grant is always valid.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Grant {
    allow: Vec<Pattern>,
    deny: Vec<Pattern>,
}

impl Grant {
    /// Parses `patterns`. Each is trimmed and lower-cased; duplicates collapse (`*` and `*:*`
    /// are one pattern). Refused, with an error naming the pattern: an empty pattern, a
    /// missing or extra `:`, an empty side, a domain outside `[a-z0-9_-]+`, an unknown action,
    /// a `*` that is part of a name, a doubled `!`. A grant needs at least one allow pattern
    /// (one of only denies allows nothing and is surely a mistake).
    pub fn parse(patterns: &[String]) -> Result<Grant, String> {
        let mut grant = Grant {
            allow: Vec::new(),
            deny: Vec::new(),
        };
        for raw in patterns {
            let text = normalise(raw, "capability pattern")?;
            let err = |why: String| format!("capability pattern {:?}: {why}", shorten(&text));
            let (deny, body) = match text.strip_prefix('!') {
                Some(rest) if rest.starts_with('!') => {
                    return Err(err("only one `!` may lead a pattern".to_owned()));
                }
                Some(rest) => (true, rest),
                None => (false, text.as_str()),
            };
            if body.is_empty() {
                return Err(err("`!` must be followed by domain:action".to_owned()));
            }
            let pattern = Pattern::parse(body).map_err(err)?;
            let list = if deny {
                &mut grant.deny
            } else {
                &mut grant.allow
            };
            if !list.contains(&pattern) {
                list.push(pattern);
            }
        }
        if grant.allow.is_empty() {
            return Err(if patterns.is_empty() {
                "a grant needs at least one capability pattern (e.g. `*:read`)".to_owned()
            } else {
                "a grant needs at least one allow pattern; deny patterns (`!…`) only take away"
                    .to_owned()
            });
        }
        Ok(grant)
    }

    /// The canonical patterns: allows, then denies (with their `!`), each in the order first
    /// given. [`Grant::parse`] of this list gives the same grant.
    pub fn patterns(&self) -> Vec<String> {
        self.allow
            .iter()
            .map(Pattern::to_string)
            .chain(self.deny.iter().map(|p| format!("!{p}")))
            .collect()
    }

    /// Whether `needed` is granted: some allow pattern matches it and no deny pattern does.
    /// `*` alone matches everything.
    pub fn allows(&self, needed: &Capability) -> bool {
        !self.deny.iter().any(|p| p.matches(needed)) && self.allow.iter().any(|p| p.matches(needed))
    }

    /// Whether some allow pattern names [`Action::Approve`] literally (`proposals:approve`,
    /// `*:approve`), as opposed to reaching it only through a `*`.
    pub fn names_approve(&self) -> bool {
        self.allow.iter().any(|p| p.action == Some(Action::Approve))
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.patterns().join(", "))
    }
}

impl TryFrom<Vec<String>> for Grant {
    type Error = String;

    fn try_from(patterns: Vec<String>) -> Result<Self, Self::Error> {
        Grant::parse(&patterns)
    }
}

impl From<Grant> for Vec<String> {
    fn from(g: Grant) -> Self {
        g.patterns()
    }
}

/// Trims and lower-cases; refuses empty and overlong input.
fn normalise(raw: &str, what: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(format!("empty {what}; expected domain:action"));
    }
    if text.len() > MAX_PATTERN_LEN {
        return Err(format!(
            "{what} {:?} is {} bytes long; at most {MAX_PATTERN_LEN} are allowed",
            shorten(text),
            text.len()
        ));
    }
    Ok(text.to_lowercase())
}

/// Splits `domain:action`, refusing a missing or extra `:` and empty sides.
fn split(text: &str) -> Result<(&str, &str), String> {
    let mut parts = text.split(':');
    let (Some(domain), Some(action), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(if text.contains(':') {
            "expected exactly one `:` (domain:action)".to_owned()
        } else {
            "expected domain:action (e.g. proposals:read, proposals:*, *:read or *)".to_owned()
        });
    };
    if domain.is_empty() {
        return Err("the domain before `:` is empty".to_owned());
    }
    if action.is_empty() {
        return Err("the action after `:` is empty".to_owned());
    }
    Ok((domain, action))
}

fn check_domain(domain: &str) -> Result<(), String> {
    if domain.contains('*') {
        return Err(format!(
            "domain {domain:?}: a `*` stands for a whole side, not part of a name"
        ));
    }
    if !domain
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "domain {:?} may only contain a-z, 0-9, _ and -",
            shorten(domain)
        ));
    }
    Ok(())
}

/// At most 40 characters of `s`, for error messages.
fn shorten(s: &str) -> String {
    const KEEP: usize = 40;
    if s.chars().count() <= KEEP {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(KEEP).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn grant(patterns: &[&str]) -> Grant {
        let owned: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        Grant::parse(&owned).unwrap_or_else(|e| panic!("{patterns:?}: {e}"))
    }

    fn cap(s: &str) -> Capability {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn parse_err(patterns: &[&str]) -> String {
        let owned: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        match Grant::parse(&owned) {
            Ok(g) => panic!("{patterns:?} parsed as {g}"),
            Err(e) => e,
        }
    }

    #[test]
    fn action_and_capability_round_trip() {
        for a in Action::ALL {
            assert_eq!(a.as_str().parse::<Action>(), Ok(a));
            assert_eq!(
                serde_json::to_string(&a).unwrap(),
                format!("\"{}\"", a.as_str())
            );
        }
        let c = cap("  Proposals:APPROVE ");
        assert_eq!(c, Capability::new("proposals", Action::Approve));
        assert_eq!(c.to_string(), "proposals:approve");
        assert_eq!(cap(&c.to_string()), c);
    }

    #[test]
    fn bad_capabilities_are_refused() {
        for (input, needle) in [
            ("", "empty capability"),
            ("proposals", "expected domain:action"),
            ("a:b:c", "exactly one `:`"),
            (":read", "domain before `:` is empty"),
            ("org:", "action after `:` is empty"),
            ("org:fly", "unknown action \"fly\""),
            ("*:read", "`*` belongs in patterns"),
            ("org:*", "`*` belongs in patterns"),
            ("o g:read", "may only contain"),
            ("ørg:read", "may only contain"),
        ] {
            let e = input.parse::<Capability>().unwrap_err();
            assert!(e.contains(needle), "{input:?}: {e}");
        }
    }

    /// Patterns × capabilities: whether the one-pattern grant allows it.
    #[test]
    fn the_matching_table() {
        let caps = [
            "proposals:read",
            "proposals:approve",
            "proposals_archive:read",
            "org:write",
            "org:admin",
            "tokens:admin",
        ];
        let table: [(&str, [bool; 6]); 9] = [
            ("*", [true; 6]),
            ("*:*", [true; 6]),
            ("proposals:*", [true, true, false, false, false, false]),
            ("*:read", [true, false, true, false, false, false]),
            ("*:admin", [false, false, false, false, true, true]),
            ("org:write", [false, false, false, true, false, false]),
            ("proposals:read", [true, false, false, false, false, false]),
            (
                "proposals_archive:*",
                [false, false, true, false, false, false],
            ),
            // Actions are independent: admin does not imply write or read.
            ("org:admin", [false, false, false, false, true, false]),
        ];
        for (pattern, expected) in table {
            let g = grant(&[pattern]);
            for (c, want) in caps.iter().zip(expected) {
                assert_eq!(g.allows(&cap(c)), want, "{pattern} vs {c}");
            }
        }
    }

    #[test]
    fn deny_beats_allow_in_any_order() {
        let g = grant(&["!org:admin", "*"]);
        assert!(!g.allows(&cap("org:admin")));
        assert!(g.allows(&cap("org:write")));
        assert!(g.allows(&cap("tokens:admin")));
        let g = grant(&["proposals:*", "!*:approve"]);
        assert!(g.allows(&cap("proposals:read")));
        assert!(g.allows(&cap("proposals:write")));
        assert!(!g.allows(&cap("proposals:approve")));
        let g = grant(&["*", "!*"]);
        for c in ["org:read", "proposals:approve", "x:admin"] {
            assert!(!g.allows(&cap(c)), "{c}");
        }
        // A deny that matches nothing needed takes nothing away.
        let g = grant(&["*:read", "!org:write"]);
        assert!(g.allows(&cap("org:read")));
    }

    #[test]
    fn patterns_are_case_folded_trimmed_and_canonical() {
        let g = grant(&[
            "  Proposals:READ ",
            "*:*",
            "*",
            "proposals:read",
            "!ORG:Admin",
            "!*:Approve",
        ]);
        assert_eq!(
            g.patterns(),
            ["proposals:read", "*", "!org:admin", "!*:approve"]
        );
        assert_eq!(g.to_string(), "proposals:read, *, !org:admin, !*:approve");
        assert_eq!(Grant::parse(&g.patterns()), Ok(g.clone()));
        // `*` and `*:*` are one pattern.
        assert_eq!(grant(&["*:*"]), grant(&["*"]));
        assert_eq!(grant(&["*:*"]).patterns(), ["*"]);
        // A capability built in code with upper case still matches.
        assert!(grant(&["org:read"]).allows(&Capability::new("ORG", Action::Read)));
        // Serde goes through the canonical list.
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(json, r#"["proposals:read","*","!org:admin","!*:approve"]"#);
        assert_eq!(serde_json::from_str::<Grant>(&json).unwrap(), g);
        assert!(serde_json::from_str::<Grant>(r#"["x:fly"]"#).is_err());
    }

    #[test]
    fn bad_patterns_are_errors_naming_them() {
        for (pattern, needle) in [
            ("proposals", "expected domain:action"),
            ("a:b:c", "exactly one `:`"),
            (":read", "domain before `:` is empty"),
            ("org:", "action after `:` is empty"),
            ("x:fly", "unknown action \"fly\""),
            ("!!x:read", "only one `!`"),
            ("!", "must be followed by domain:action"),
            ("prop*:read", "whole side"),
            ("proposals:re*", "whole side"),
            ("*x", "expected domain:action"),
            ("org admin:read", "may only contain"),
            ("! org:read", "may only contain"),
            ("org.x:read", "may only contain"),
            ("ørg:read", "may only contain"),
            ("org:read\0", "unknown action"),
        ] {
            let e = parse_err(&["*:read", pattern]);
            let shown = pattern.trim().to_lowercase();
            assert!(
                e.contains(&format!("{shown:?}")),
                "{pattern:?}: the error does not name it: {e}"
            );
            assert!(e.contains(needle), "{pattern:?}: {e}");
        }
        assert!(parse_err(&[""]).contains("empty capability pattern"));
        assert!(parse_err(&["   "]).contains("empty capability pattern"));
        assert!(parse_err(&[]).contains("at least one capability pattern"));
        assert!(parse_err(&["!org:admin"]).contains("at least one allow pattern"));
        let long = format!("{}:read", "a".repeat(10_000));
        let e = parse_err(&[&long]);
        assert!(e.contains("10005 bytes long"), "{e}");
        assert!(e.len() < 200, "the error echoes the whole input: {e}");
    }

    #[test]
    fn names_approve_sees_only_literal_approve() {
        assert!(grant(&["proposals:approve"]).names_approve());
        assert!(grant(&["*:approve"]).names_approve());
        assert!(!grant(&["*"]).names_approve());
        assert!(!grant(&["proposals:*", "!proposals:approve"]).names_approve());
    }

    fn arb_pattern() -> impl Strategy<Value = String> {
        let domain = prop_oneof![
            Just("*".to_owned()),
            Just("org".to_owned()),
            Just("proposals".to_owned()),
            "[a-z0-9_-]{1,2}"
        ];
        let action = prop_oneof![
            Just("*"),
            Just("read"),
            Just("write"),
            Just("approve"),
            Just("admin")
        ];
        prop_oneof![
            Just("*".to_owned()),
            (domain, action).prop_map(|(d, a)| format!("{d}:{a}")),
        ]
    }

    fn arb_capability() -> impl Strategy<Value = Capability> {
        (
            prop_oneof![
                Just("org".to_owned()),
                Just("proposals".to_owned()),
                "[a-z0-9_-]{1,2}"
            ],
            proptest::sample::select(Action::ALL.to_vec()),
        )
            .prop_map(|(d, a)| Capability::new(d, a))
    }

    proptest! {
        #[test]
        fn a_deny_equal_to_an_allow_always_denies(
            allows in proptest::collection::vec(arb_pattern(), 1..5),
            pick in any::<proptest::sample::Index>(),
            needed in arb_capability(),
        ) {
            let denied = pick.get(&allows).clone();
            let mut patterns = allows.clone();
            patterns.push(format!("!{denied}"));
            let g = Grant::parse(&patterns).unwrap();
            let single = Grant::parse(std::slice::from_ref(&denied)).unwrap();
            if single.allows(&needed) {
                prop_assert!(!g.allows(&needed), "{g} allows {needed}");
            }
            // The canonical form parses back to the same grant.
            prop_assert_eq!(Grant::parse(&g.patterns()).unwrap(), g);
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(s in "\\PC{0,30}") {
            let _ = Grant::parse(std::slice::from_ref(&s));
            let _ = s.parse::<Capability>();
        }
    }
}
