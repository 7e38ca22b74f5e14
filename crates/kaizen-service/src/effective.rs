//! Effective configuration reads: what agent runtimes poll, so it is served from memory.
//!
//! [`EffectiveConfigs`] keeps the current org version, the live rollout overlays and every
//! agent's computed [`EffectiveConfig`] (with its JSON bytes, ready to send). Each read first
//! compares the store's config generation ([`Store::config_generation`], bumped by a trigger on
//! every org version and rollout change, whichever process made it); only when it moved is the
//! cache rebuilt. A read is one indexed lookup in SQLite plus a hash-map probe.

use std::collections::HashMap;
use std::sync::Arc;

use kaizen_core::org::{EffectiveConfig, EffectiveError, OrgDocument, Overlay, effective_config};
use kaizen_core::rollout::assign::{Arm, Assignment};
use kaizen_store::Store;

use crate::{Result, ServiceError, store_err};

/// One agent's effective config and its serialised form.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedConfig {
    /// The config.
    pub config: EffectiveConfig,
    /// Its JSON, as served.
    pub json: Arc<str>,
}

/// Serialised as the config itself (MCP and `kaizen call` return it as JSON; REST sends the
/// cached bytes).
impl serde::Serialize for CachedConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.config.serialize(s)
    }
}

impl schemars::JsonSchema for CachedConfig {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        EffectiveConfig::schema_name()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        EffectiveConfig::json_schema(g)
    }
}

struct LiveOverlay {
    proposal_id: String,
    assignment: Assignment,
    changes: Vec<kaizen_core::org::OrgChange>,
}

/// The in-memory read path of effective configs.
#[derive(Default)]
pub struct EffectiveConfigs {
    generation: Option<i64>,
    /// With a recheck interval, when the generation was last read.
    checked_at: Option<std::time::Instant>,
    /// Read the generation at most this often (None: on every read). A long-running server
    /// that calls [`EffectiveConfigs::invalidate`] after its own writes uses this to skip the
    /// query; changes by other processes then show within the interval.
    recheck: Option<std::time::Duration>,
    org: Option<(i64, OrgDocument)>,
    overlays: Vec<LiveOverlay>,
    cache: HashMap<String, Arc<CachedConfig>>,
}

impl std::fmt::Debug for EffectiveConfigs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EffectiveConfigs")
            .field("generation", &self.generation)
            .field("org_version", &self.org.as_ref().map(|(v, _)| *v))
            .field("overlays", &self.overlays.len())
            .field("cached_agents", &self.cache.len())
            .finish()
    }
}

impl EffectiveConfigs {
    /// An empty cache that checks the store's generation on every read.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache that checks the store's generation at most every `interval` (and after
    /// [`EffectiveConfigs::invalidate`]).
    pub fn with_recheck(interval: std::time::Duration) -> Self {
        Self {
            recheck: Some(interval),
            ..Self::default()
        }
    }

    /// Makes the next read check the store's generation (call after a write of this process).
    pub fn invalidate(&mut self) {
        self.checked_at = None;
    }

    /// Agent `agent_id`'s cached config when it is known to be current without reading the
    /// store: within the recheck interval of the last generation check, and already built.
    /// `None` means "ask [`EffectiveConfigs::get`]".
    pub fn fresh(&self, agent_id: &str) -> Option<Arc<CachedConfig>> {
        let (interval, at) = (self.recheck?, self.checked_at?);
        self.generation?;
        if at.elapsed() >= interval {
            return None;
        }
        self.cache.get(agent_id).map(Arc::clone)
    }

    fn refresh(&mut self, store: &mut Store) -> Result<()> {
        if let (Some(interval), Some(at), Some(_)) =
            (self.recheck, self.checked_at, self.generation)
            && at.elapsed() < interval
        {
            return Ok(());
        }
        let generation = store.config_generation().map_err(store_err)?;
        self.checked_at = Some(std::time::Instant::now());
        if self.generation == Some(generation) {
            return Ok(());
        }
        let current = store.org_current().map_err(store_err)?;
        let live = store.live_rollouts().map_err(store_err)?;
        self.org = current.map(|v| (v.id, v.document));
        self.overlays = live
            .iter()
            .map(|r| LiveOverlay {
                proposal_id: r.proposal_id.clone(),
                assignment: r.assignment.clone(),
                changes: r.live_overlay(),
            })
            .collect();
        self.cache.clear();
        self.generation = Some(generation);
        Ok(())
    }

    /// Agent `agent_id`'s effective config: the current org version plus the overlay of every
    /// live rollout whose treatment group includes the agent.
    pub fn get(&mut self, store: &mut Store, agent_id: &str) -> Result<Arc<CachedConfig>> {
        self.refresh(store)?;
        if let Some(hit) = self.cache.get(agent_id) {
            return Ok(Arc::clone(hit));
        }
        let Some((version, doc)) = &self.org else {
            return Err(ServiceError::NoOrg);
        };
        let overlays: Vec<Overlay<'_>> = self
            .overlays
            .iter()
            .filter(|o| o.assignment.arm(agent_id) == Some(Arm::Treatment))
            .map(|o| Overlay {
                proposal_id: &o.proposal_id,
                changes: &o.changes,
            })
            .collect();
        let config = effective_config(doc, *version, agent_id, &overlays).map_err(|e| match e {
            EffectiveError::UnknownAgent(..) => ServiceError::NotFound(e.to_string()),
            EffectiveError::Overlay { .. } => ServiceError::Internal(e.to_string()),
        })?;
        let json = serde_json::to_string(&config)
            .map_err(|e| ServiceError::Internal(format!("encoding the effective config: {e}")))?;
        let cached = Arc::new(CachedConfig {
            config,
            json: Arc::from(json),
        });
        self.cache.insert(agent_id.to_owned(), Arc::clone(&cached));
        Ok(cached)
    }

    /// Computes the config without the cache (what every read would cost without it; for the
    /// benchmark and for tests that compare).
    pub fn compute_uncached(store: &mut Store, agent_id: &str) -> Result<EffectiveConfig> {
        let mut fresh = EffectiveConfigs::new();
        let c = fresh.get(store, agent_id)?;
        Ok(c.config.clone())
    }
}
