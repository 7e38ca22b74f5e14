//! The lifecycle rules of a proposal and of its rollout, defined once: the statuses
//! ([`ProposalStatus`]) and rollout states ([`RolloutState`]), the allowed transitions between
//! them, who may make each transition and when a reason is required ([`check_transition`],
//! [`check_rollout_move`]), what a live rollout overlays ([`live_overlay`]), and the separation
//! of duties: agents never approve ([`may_approve`], the only definition of that rule).
//!
//! Pure functions, no IO. The store persists statuses and states and enforces these rules by
//! calling them; the service and the server call the same functions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::auth::Action;
use crate::error::ErrorKind;
use crate::org::OrgChange;

fn names<T: Copy>(items: &[T], name: impl Fn(T) -> &'static str) -> String {
    items
        .iter()
        .map(|i| name(*i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where a proposal is in its life.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", parse_err_ty = String, parse_err_fn = unknown_proposal_status)]
pub enum ProposalStatus {
    /// Waiting for a human decision.
    Pending,
    /// A human approved it; its rollout has not started.
    Approved,
    /// A human rejected it (final).
    Rejected,
    /// Being rolled out and observed: the agents of its rollout see it as an overlay.
    RollingOut,
    /// Its rollout ended without a verdict and waits for a human (extend, apply, roll back).
    Inconclusive,
    /// Its changes are a version of the org document.
    Applied,
    /// It was rolled out or applied, and then undone (final).
    RolledBack,
    /// Undoing it failed part-way; a human must look (an alert was raised).
    RollbackFailed,
    /// A newer proposal replaced it before anyone decided (final).
    Superseded,
}

impl ProposalStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [ProposalStatus; 9] = [
        ProposalStatus::Pending,
        ProposalStatus::Approved,
        ProposalStatus::Rejected,
        ProposalStatus::RollingOut,
        ProposalStatus::Inconclusive,
        ProposalStatus::Applied,
        ProposalStatus::RolledBack,
        ProposalStatus::RollbackFailed,
        ProposalStatus::Superseded,
    ];

    /// The wire name (`pending`, `rolled_back`, …).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the proposal still waits for a decision or is being rolled out (pending,
    /// approved, rolling out, inconclusive): an equivalent new proposal is a duplicate of it.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            ProposalStatus::Pending
                | ProposalStatus::Approved
                | ProposalStatus::RollingOut
                | ProposalStatus::Inconclusive
        )
    }

    /// The statuses a proposal may move to from this one; empty for a final status. This is
    /// the only definition of the allowed transitions:
    ///
    /// | from | to |
    /// |---|---|
    /// | pending | approved, rejected, superseded |
    /// | approved | rolling_out, rejected |
    /// | rolling_out | applied, rolled_back, inconclusive, rollback_failed |
    /// | inconclusive | rolling_out (extended), applied, rolled_back, rollback_failed |
    /// | applied | rolled_back |
    /// | rollback_failed | rolled_back (a retry succeeded) |
    pub fn allowed_next(self) -> &'static [ProposalStatus] {
        match self {
            ProposalStatus::Pending => &[
                ProposalStatus::Approved,
                ProposalStatus::Rejected,
                ProposalStatus::Superseded,
            ],
            ProposalStatus::Approved => &[ProposalStatus::RollingOut, ProposalStatus::Rejected],
            ProposalStatus::RollingOut => &[
                ProposalStatus::Applied,
                ProposalStatus::RolledBack,
                ProposalStatus::Inconclusive,
                ProposalStatus::RollbackFailed,
            ],
            ProposalStatus::Inconclusive => &[
                ProposalStatus::RollingOut,
                ProposalStatus::Applied,
                ProposalStatus::RolledBack,
                ProposalStatus::RollbackFailed,
            ],
            ProposalStatus::Applied => &[ProposalStatus::RolledBack],
            ProposalStatus::RollbackFailed => &[ProposalStatus::RolledBack],
            ProposalStatus::Rejected | ProposalStatus::RolledBack | ProposalStatus::Superseded => {
                &[]
            }
        }
    }

    /// Whether `self → to` is allowed.
    pub fn can_become(self, to: ProposalStatus) -> bool {
        self.allowed_next().contains(&to)
    }

    /// The human decision that moving a proposal to this status is (`approve` for approved,
    /// `reject` for rejected), if it is one: only an actor that [`may_approve`] makes it.
    pub fn human_decision(self) -> Option<&'static str> {
        match self {
            ProposalStatus::Approved => Some("approve"),
            ProposalStatus::Rejected => Some("reject"),
            _ => None,
        }
    }

    /// Whether moving a proposal to this status needs a reason (rejected, rolled_back).
    pub fn reason_required(self) -> bool {
        matches!(self, ProposalStatus::Rejected | ProposalStatus::RolledBack)
    }
}

/// The parse error of [`ProposalStatus`]: names the valid values.
fn unknown_proposal_status(s: &str) -> String {
    format!(
        "unknown proposal status {s:?}; expected one of {}",
        names(&ProposalStatus::ALL, ProposalStatus::as_str)
    )
}

/// What kind of principal acts on a proposal.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", parse_err_ty = String, parse_err_fn = unknown_actor_kind)]
pub enum ActorKind {
    /// A person. Only a person may approve or reject.
    Human,
    /// An AI agent.
    Agent,
    /// kaizen itself (the cycle service, the rollout engine).
    System,
}

impl ActorKind {
    /// Every kind.
    pub const ALL: [ActorKind; 3] = [ActorKind::Human, ActorKind::Agent, ActorKind::System];

    /// The wire name (`human`, `agent`, `system`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The parse error of [`ActorKind`]: names the valid values.
fn unknown_actor_kind(s: &str) -> String {
    format!(
        "unknown actor kind {s:?}; expected one of {}",
        names(&ActorKind::ALL, ActorKind::as_str)
    )
}

/// Who acts on a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Actor {
    /// The name recorded with the transition (a login, an agent id, `meta-loop`).
    pub name: String,
    /// What kind of principal it is.
    pub kind: ActorKind,
}

impl Actor {
    /// A person.
    pub fn human(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: ActorKind::Human,
        }
    }

    /// An AI agent.
    pub fn agent(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: ActorKind::Agent,
        }
    }

    /// kaizen itself.
    pub fn system(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: ActorKind::System,
        }
    }
}

/// Where a rollout is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumString,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case", parse_err_ty = String, parse_err_fn = unknown_rollout_state)]
pub enum RolloutState {
    /// The overlay is live and checks run on schedule.
    Observing,
    /// The window ended inconclusive; the overlay stays live until a human decides.
    Paused,
    /// The rollback executor is undoing the overlay (resumable: `reverted` counts the done
    /// operations).
    RollingBack,
    /// The changes became an org version (final).
    Applied,
    /// The overlay was removed (final).
    RolledBack,
    /// The rollback failed; what is live is `changes` + the first `reverted` rollback
    /// operations. A human must look.
    RollbackFailed,
}

impl RolloutState {
    /// Every state.
    pub const ALL: [RolloutState; 6] = [
        RolloutState::Observing,
        RolloutState::Paused,
        RolloutState::RollingBack,
        RolloutState::Applied,
        RolloutState::RolledBack,
        RolloutState::RollbackFailed,
    ];

    /// The state a rollout starts in.
    pub const START: RolloutState = RolloutState::Observing;

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether the overlay (or what is left of it) is in the agents' effective config. The
    /// only definition of it: the store builds its queries of live rollouts from this.
    pub fn overlay_is_live(self) -> bool {
        matches!(
            self,
            RolloutState::Observing
                | RolloutState::Paused
                | RolloutState::RollingBack
                | RolloutState::RollbackFailed
        )
    }

    /// The states a rollout may move to from this one; empty for a final state:
    ///
    /// | from | to |
    /// |---|---|
    /// | observing | paused (inconclusive), rolling_back, applied |
    /// | paused | observing (extended), rolling_back, applied |
    /// | rolling_back | rolled_back, rollback_failed |
    /// | rollback_failed | rolling_back (a human retries) |
    pub fn allowed_next(self) -> &'static [RolloutState] {
        match self {
            RolloutState::Observing => &[
                RolloutState::Paused,
                RolloutState::RollingBack,
                RolloutState::Applied,
            ],
            RolloutState::Paused => &[
                RolloutState::Observing,
                RolloutState::RollingBack,
                RolloutState::Applied,
            ],
            RolloutState::RollingBack => &[RolloutState::RolledBack, RolloutState::RollbackFailed],
            RolloutState::RollbackFailed => &[RolloutState::RollingBack],
            RolloutState::Applied | RolloutState::RolledBack => &[],
        }
    }

    /// Whether `self → to` is allowed.
    pub fn can_become(self, to: RolloutState) -> bool {
        self.allowed_next().contains(&to)
    }
}

/// The parse error of [`RolloutState`]: names the valid values.
fn unknown_rollout_state(s: &str) -> String {
    format!(
        "unknown rollout state {s:?}; expected one of {}",
        names(&RolloutState::ALL, RolloutState::as_str)
    )
}

/// Why a lifecycle rule refused a move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// The proposal transition is not one of [`ProposalStatus::allowed_next`].
    #[error("a proposal cannot go from {from} to {to}: {}", allowed(*.from))]
    IllegalTransition {
        /// The status it would leave.
        from: ProposalStatus,
        /// The status asked for.
        to: ProposalStatus,
    },
    /// The rollout move is not one of [`RolloutState::allowed_next`].
    #[error("a rollout cannot go from {from} to {to}: {}", allowed_moves(*.from))]
    IllegalRolloutMove {
        /// The state it would leave.
        from: RolloutState,
        /// The state asked for.
        to: RolloutState,
    },
    /// A human decision by an actor that is not a person.
    #[error(
        "only a human may {action}; {actor} is {article} {kind} actor (mandatory human approval)",
        article = if matches!(.kind, ActorKind::Agent) { "an" } else { "a" }
    )]
    NotHuman {
        /// What was attempted (`approve`, `reject`, …).
        action: &'static str,
        /// The actor's name.
        actor: String,
        /// The actor's kind.
        kind: ActorKind,
    },
    /// A transition that needs a reason got none.
    #[error("a reason is required to mark a proposal {to}")]
    ReasonRequired {
        /// The status asked for.
        to: ProposalStatus,
    },
    /// A reason that is blank.
    #[error("the reason must not be blank; leave it out instead")]
    BlankReason,
}

impl LifecycleError {
    /// What kind of failure it is: a move the current state does not allow is a conflict, a
    /// non-human decision is forbidden, a missing reason is invalid input.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LifecycleError::IllegalTransition { .. }
            | LifecycleError::IllegalRolloutMove { .. } => ErrorKind::Conflict,
            LifecycleError::NotHuman { .. } => ErrorKind::Forbidden,
            LifecycleError::ReasonRequired { .. } | LifecycleError::BlankReason => {
                ErrorKind::Invalid
            }
        }
    }
}

/// `from {from} it can only go to …`, or `{from} is final`.
pub fn allowed(from: ProposalStatus) -> String {
    let next = from.allowed_next();
    if next.is_empty() {
        format!("{from} is final")
    } else {
        format!(
            "from {from} it can only go to {}",
            names(next, ProposalStatus::as_str)
        )
    }
}

fn allowed_moves(from: RolloutState) -> String {
    let next = from.allowed_next();
    if next.is_empty() {
        format!("{from} is final")
    } else {
        format!(
            "from {from} it can only go to {}",
            names(next, RolloutState::as_str)
        )
    }
}

/// Whether an actor of `kind` may make a human decision: approve or reject a proposal, decide
/// a rollout. Only a person may; agents never approve, and neither does kaizen itself. This is
/// the only definition of the rule: every check of it (the store's last line of defence, the
/// service, token grants, the server) calls this function.
pub fn may_approve(kind: ActorKind) -> bool {
    kind == ActorKind::Human
}

/// Whether an actor of `kind` may exercise `action` at all, whatever its grant says:
/// [`Action::Approve`] (a human decision) only if it [`may_approve`]; every other action yes.
pub fn may_exercise(kind: ActorKind, action: Action) -> bool {
    action != Action::Approve || may_approve(kind)
}

/// Refuses `actor` for the human decision `action` (`approve`, `reject`, `decide on the
/// rollout of`, …) unless it [`may_approve`].
pub fn require_human(actor: &Actor, action: &'static str) -> Result<(), LifecycleError> {
    if may_approve(actor.kind) {
        Ok(())
    } else {
        Err(LifecycleError::NotHuman {
            action,
            actor: actor.name.clone(),
            kind: actor.kind,
        })
    }
}

/// The rules of the proposal transition `from → to` by `actor` that need no storage: it is
/// allowed ([`ProposalStatus::can_become`]), a human decision (approve, reject) is made by an
/// actor that [`may_approve`], and it has a non-blank reason where one is required
/// ([`ProposalStatus::reason_required`]); a reason, when given, is never blank.
pub fn check_transition(
    from: ProposalStatus,
    to: ProposalStatus,
    actor: &Actor,
    reason: Option<&str>,
) -> Result<(), LifecycleError> {
    if !from.can_become(to) {
        return Err(LifecycleError::IllegalTransition { from, to });
    }
    if let Some(action) = to.human_decision() {
        require_human(actor, action)?;
    }
    match reason.map(str::trim) {
        None if to.reason_required() => Err(LifecycleError::ReasonRequired { to }),
        Some("") if to.reason_required() => Err(LifecycleError::ReasonRequired { to }),
        Some("") => Err(LifecycleError::BlankReason),
        _ => Ok(()),
    }
}

/// Refuses a rollout move that is not one of [`RolloutState::allowed_next`].
pub fn check_rollout_move(from: RolloutState, to: RolloutState) -> Result<(), LifecycleError> {
    if from.can_become(to) {
        Ok(())
    } else {
        Err(LifecycleError::IllegalRolloutMove { from, to })
    }
}

/// What the treatment agents of a rollout in `state` see on top of the org version: its
/// `changes` followed by the first `reverted` of its `rollback` operations (those the rollback
/// executor already ran). Empty unless the overlay is live ([`RolloutState::overlay_is_live`]).
pub fn live_overlay(
    state: RolloutState,
    changes: &[OrgChange],
    rollback: &[OrgChange],
    reverted: usize,
) -> Vec<OrgChange> {
    if !state.overlay_is_live() {
        return Vec::new();
    }
    let done = reverted.min(rollback.len());
    let mut out = changes.to_vec();
    out.extend_from_slice(&rollback[..done]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProposalStatus::*;

    fn pairs<T: Copy>(all: &[T], ok: impl Fn(T, T) -> bool) -> Vec<(T, T)> {
        all.iter()
            .flat_map(|f| all.iter().map(move |t| (*f, *t)))
            .filter(|(f, t)| ok(*f, *t))
            .collect()
    }

    #[test]
    fn wire_names_round_trip() {
        for s in ProposalStatus::ALL {
            assert_eq!(s.as_str().parse::<ProposalStatus>(), Ok(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(
            "done".parse::<ProposalStatus>(),
            Err(
                r#"unknown proposal status "done"; expected one of pending, approved, rejected, rolling_out, inconclusive, applied, rolled_back, rollback_failed, superseded"#
                    .to_owned()
            )
        );
        for k in ActorKind::ALL {
            assert_eq!(k.as_str().parse::<ActorKind>(), Ok(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
        assert!("robot".parse::<ActorKind>().is_err());
        for s in RolloutState::ALL {
            assert_eq!(s.as_str().parse::<RolloutState>(), Ok(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert!("stopped".parse::<RolloutState>().is_err());
    }

    #[test]
    fn the_transition_table() {
        assert_eq!(
            pairs(&ProposalStatus::ALL, ProposalStatus::can_become),
            [
                (Pending, Approved),
                (Pending, Rejected),
                (Pending, Superseded),
                (Approved, Rejected),
                (Approved, RollingOut),
                (RollingOut, Inconclusive),
                (RollingOut, Applied),
                (RollingOut, RolledBack),
                (RollingOut, RollbackFailed),
                (Inconclusive, RollingOut),
                (Inconclusive, Applied),
                (Inconclusive, RolledBack),
                (Inconclusive, RollbackFailed),
                (Applied, RolledBack),
                (RollbackFailed, RolledBack),
            ]
        );
        assert!(Pending.is_open() && Approved.is_open());
        assert!(RollingOut.is_open() && Inconclusive.is_open());
        assert!(!Rejected.is_open() && !Applied.is_open() && !RollbackFailed.is_open());
        assert!(!RolledBack.is_open() && !Superseded.is_open());
    }

    #[test]
    fn every_allowed_transition_passes_for_a_human_with_a_reason() {
        let ana = Actor::human("ana");
        for (from, to) in pairs(&ProposalStatus::ALL, ProposalStatus::can_become) {
            assert_eq!(
                check_transition(from, to, &ana, Some("because")),
                Ok(()),
                "{from} → {to}"
            );
        }
    }

    #[test]
    fn refused_transitions_name_what_is_allowed() {
        let ana = Actor::human("ana");
        for (from, to) in [
            (Pending, Applied),
            (Pending, RollingOut),
            (Approved, Applied),
            (Rejected, Approved),
            (Applied, Pending),
            (RolledBack, RollingOut),
            (Superseded, Pending),
            (Pending, Pending),
        ] {
            let e = check_transition(from, to, &ana, Some("x")).unwrap_err();
            assert_eq!(e, LifecycleError::IllegalTransition { from, to });
            assert_eq!(e.kind(), ErrorKind::Conflict);
        }
        let e = check_transition(Rejected, Approved, &ana, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a proposal cannot go from rejected to approved: rejected is final"
        );
        let e = check_transition(Approved, Applied, &ana, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a proposal cannot go from approved to applied: from approved it can only go to rolling_out, rejected"
        );
    }

    #[test]
    fn agents_and_the_system_never_approve_or_reject() {
        assert!(may_approve(ActorKind::Human));
        assert!(!may_approve(ActorKind::Agent));
        assert!(!may_approve(ActorKind::System));
        for actor in [Actor::agent("bot-7"), Actor::system("meta-loop")] {
            for (from, to, action) in [
                (Pending, Approved, "approve"),
                (Pending, Rejected, "reject"),
                (Approved, Rejected, "reject"),
            ] {
                let e = check_transition(from, to, &actor, Some("sure")).unwrap_err();
                assert_eq!(
                    e,
                    LifecycleError::NotHuman {
                        action,
                        actor: actor.name.clone(),
                        kind: actor.kind
                    }
                );
                assert_eq!(e.kind(), ErrorKind::Forbidden);
            }
        }
        let e = require_human(&Actor::agent("bot-7"), "approve").unwrap_err();
        assert_eq!(
            e.to_string(),
            "only a human may approve; bot-7 is an agent actor (mandatory human approval)"
        );
        assert_eq!(require_human(&Actor::human("ana"), "approve"), Ok(()));
        // What is not a human decision, kaizen itself may do.
        let engine = Actor::system("rollout-engine");
        assert_eq!(
            check_transition(RollingOut, Applied, &engine, Some("improved")),
            Ok(())
        );
        assert_eq!(check_transition(Pending, Superseded, &engine, None), Ok(()));
    }

    #[test]
    fn approve_is_out_of_reach_for_agents_whatever_the_action() {
        for action in Action::ALL {
            assert!(may_exercise(ActorKind::Human, action));
            assert_eq!(
                may_exercise(ActorKind::Agent, action),
                action != Action::Approve
            );
            assert_eq!(
                may_exercise(ActorKind::System, action),
                action != Action::Approve
            );
        }
    }

    #[test]
    fn a_reason_is_required_to_reject_and_to_roll_back() {
        let ana = Actor::human("ana");
        let required: Vec<ProposalStatus> = ProposalStatus::ALL
            .into_iter()
            .filter(|s| s.reason_required())
            .collect();
        assert_eq!(required, [Rejected, RolledBack]);
        for (from, to) in [
            (Pending, Rejected),
            (Approved, Rejected),
            (Applied, RolledBack),
            (RollingOut, RolledBack),
        ] {
            for reason in [None, Some(""), Some("  ")] {
                let e = check_transition(from, to, &ana, reason).unwrap_err();
                assert_eq!(e, LifecycleError::ReasonRequired { to });
                assert_eq!(e.kind(), ErrorKind::Invalid);
            }
        }
        // Elsewhere a reason is optional, but never blank.
        assert_eq!(check_transition(Pending, Approved, &ana, None), Ok(()));
        assert_eq!(
            check_transition(Pending, Approved, &ana, Some(" ")),
            Err(LifecycleError::BlankReason)
        );
    }

    #[test]
    fn the_rollout_moves() {
        use RolloutState as R;
        assert_eq!(
            pairs(&RolloutState::ALL, RolloutState::can_become),
            [
                (R::Observing, R::Paused),
                (R::Observing, R::RollingBack),
                (R::Observing, R::Applied),
                (R::Paused, R::Observing),
                (R::Paused, R::RollingBack),
                (R::Paused, R::Applied),
                (R::RollingBack, R::RolledBack),
                (R::RollingBack, R::RollbackFailed),
                (R::RollbackFailed, R::RollingBack),
            ]
        );
        for (from, to) in [
            (R::Observing, R::RolledBack),
            (R::Applied, R::RollingBack),
            (R::RolledBack, R::Observing),
            (R::RollingBack, R::Observing),
            (R::RollbackFailed, R::Applied),
        ] {
            let e = check_rollout_move(from, to).unwrap_err();
            assert_eq!(e, LifecycleError::IllegalRolloutMove { from, to });
            assert_eq!(e.kind(), ErrorKind::Conflict);
        }
        assert_eq!(check_rollout_move(R::Paused, R::Observing), Ok(()));
    }

    #[test]
    fn which_overlays_are_live() {
        use RolloutState as R;
        let live: Vec<RolloutState> = RolloutState::ALL
            .into_iter()
            .filter(|s| s.overlay_is_live())
            .collect();
        assert_eq!(
            live,
            [R::Observing, R::Paused, R::RollingBack, R::RollbackFailed]
        );
        let set = |v: i64| OrgChange::SetSetting {
            path: "a.b".to_owned(),
            from: None,
            to: Some(crate::org::SettingValue::Integer(v)),
        };
        let (changes, rollback) = (vec![set(1), set(2)], vec![set(3), set(4)]);
        assert_eq!(
            live_overlay(R::RollingBack, &changes, &rollback, 1),
            vec![set(1), set(2), set(3)]
        );
        assert_eq!(
            live_overlay(R::RollbackFailed, &changes, &rollback, 9),
            vec![set(1), set(2), set(3), set(4)]
        );
        assert_eq!(live_overlay(R::Observing, &changes, &rollback, 0), changes);
        assert!(live_overlay(R::Applied, &changes, &rollback, 0).is_empty());
        assert!(live_overlay(R::RolledBack, &changes, &rollback, 2).is_empty());
    }
}
