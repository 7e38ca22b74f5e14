//! The study's data model: per-agent **hourly** sums (tasks, successes, scored tasks, quality
//! sum, cost, runtime errors), so that any window a check reads is a sum over hours.
//!
//! [`DataModel`] holds every parameter (the module doc of [`crate::study`] has the table);
//! [`Departure`] names the presets that depart from the baseline model the ways real agent
//! metrics do. [`World::draw`] draws one run's organisation (the agents' traits, the clock, the
//! drift slopes) and [`World::simulate`] its hours into a [`Panel`] of hourly sums.

use std::ops::Range;

use kaizen_core::rollout::check::{AgentSums, Metric};
use rand::RngExt;
use rand_distr::{Binomial, Poisson, StandardNormal};
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

/// Hours in a day.
const DAY: i64 = 24;

/// A start time: random per run, or fixed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Drawn uniformly per run.
    Random,
    /// Always this value (the start's hour of the day for a daily cycle, its weekday, 0 =
    /// Monday, for a weekly one).
    Fixed(u32),
}

/// A daily cycle: each relative effect is scaled by `sin(2π · hour of day / 24)`, so the
/// metric moves by ± the amplitude over a day.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DailyCycle {
    /// Amplitude on task volume.
    pub activity: f64,
    /// Amplitude on cost per task.
    pub cost: f64,
    /// Amplitude on the quality mean.
    pub quality: f64,
    /// Amplitude on the success probability.
    pub success: f64,
    /// The hour of the day the rollout starts at.
    pub phase: Phase,
}

/// Easier weekends: on 2 of the 7 days (Saturday, Sunday) each metric is shifted by these
/// relative amounts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WeeklyCycle {
    /// On task volume (negative: fewer tasks).
    pub activity: f64,
    /// On cost per task.
    pub cost: f64,
    /// On the quality mean.
    pub quality: f64,
    /// On the success probability.
    pub success: f64,
    /// The weekday the rollout starts on (0 = Monday).
    pub phase: Phase,
}

/// A within-agent AR(1) latent state `z` over hours, `z_t = ρ z_{t−1} + sqrt(1 − ρ²) σ ε`
/// (stationary standard deviation σ), which multiplies each metric by `exp(loading × z)`
/// (activity by `exp(z − σ²/2)`, mean 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Autocorrelation {
    /// Correlation of the state from one hour to the next.
    pub rho: f64,
    /// Stationary standard deviation of the state (log scale).
    pub sd: f64,
    /// Loading of cost per task.
    pub cost: f64,
    /// Loading of the quality mean (negative: a busy agent does worse).
    pub quality: f64,
    /// Loading of the success probability.
    pub success: f64,
}

/// A secular drift, linear in time, org-wide: each metric is multiplied by
/// `1 + slope × days since the start` (negative before the start).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Drift {
    /// Relative change of cost per task per day.
    pub cost_per_day: f64,
    /// Relative change of the quality mean per day.
    pub quality_per_day: f64,
    /// Relative change of the success probability per day.
    pub success_per_day: f64,
}

/// The generator's parameters. [`DataModel::default`] is the project's baseline model; each
/// departure is a field (`None` or a neutral value when absent) so that they combine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataModel {
    /// Mean tasks per agent per hour (before the agent's activity multiplier).
    pub tasks_per_agent_hour: f64,
    /// Mean of the agents' latent quality.
    pub quality_mean: f64,
    /// Between-agent standard deviation of the latent quality.
    pub quality_agent_sd: f64,
    /// Per-task standard deviation of a quality score around the agent's mean.
    pub quality_task_sd: f64,
    /// Probability that a task carries a quality score.
    pub scored_p: f64,
    /// Probability that a scored task gets a failed score (0).
    pub failed_score_p: f64,
    /// Mean success probability.
    pub success_mean: f64,
    /// Between-agent standard deviation of the success probability.
    pub success_agent_sd: f64,
    /// Mean cost per task, USD.
    pub cost_mean: f64,
    /// Log-scale standard deviation of the agents' cost per task.
    pub cost_agent_sigma: f64,
    /// Log-scale standard deviation of a task's cost around its agent's (mean-1 multiplier).
    pub cost_task_sigma: f64,
    /// Probability that a task's cost is multiplied by `cost_outlier_factor`.
    pub cost_outlier_p: f64,
    /// The outliers' cost multiplier.
    pub cost_outlier_factor: f64,
    /// Median runtime errors per task.
    pub error_rate: f64,
    /// Log-scale standard deviation of the agents' error rate.
    pub error_agent_sigma: f64,
    /// Log-scale standard deviation of the agents' activity.
    pub activity_sigma: f64,
    /// Probability that an agent works on a given day (no tasks that day otherwise).
    pub work_day_p: f64,
    /// Within-agent autocorrelation over hours.
    pub autocorrelation: Option<Autocorrelation>,
    /// A daily cycle.
    pub daily: Option<DailyCycle>,
    /// Easier weekends.
    pub weekly: Option<WeeklyCycle>,
    /// A fixed secular drift.
    pub drift: Drift,
    /// A random secular drift: per run, each slope uniform in ± these.
    pub random_drift: Option<Drift>,
}

impl Default for DataModel {
    fn default() -> Self {
        Self {
            tasks_per_agent_hour: 2.0,
            quality_mean: 7.0,
            quality_agent_sd: 0.6,
            quality_task_sd: 1.5,
            scored_p: 0.8,
            failed_score_p: 0.0,
            success_mean: 0.9,
            success_agent_sd: 0.04,
            cost_mean: 0.05,
            cost_agent_sigma: 0.3,
            cost_task_sigma: 0.5,
            cost_outlier_p: 0.0,
            cost_outlier_factor: 50.0,
            error_rate: 0.05,
            error_agent_sigma: 0.3,
            activity_sigma: 0.3,
            work_day_p: 1.0,
            autocorrelation: None,
            daily: None,
            weekly: None,
            drift: Drift::default(),
            random_drift: None,
        }
    }
}

/// The named departures from the baseline model (`kaizen bench rollouts --departures`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::Display,
    strum::EnumIter,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Departure {
    /// The baseline model.
    None,
    /// Per-agent cost log-normal σ = 1, per-task σ = 1.5, 1 % of tasks cost 50×, 5 % of scored
    /// tasks get a failed quality score (0).
    HeavyTails,
    /// A within-agent AR(1) state (ρ = 0.8 per hour, σ = 0.3) on activity (loading 1), cost
    /// (0.5), quality (−1/6) and success (−1/10).
    Autocorrelation,
    /// A daily cycle, ±15 % on cost and activity, ±5 % on quality and success, the start's
    /// hour of the day random per run.
    Daily,
    /// The same daily cycle, the rollout always starting at 09:00.
    DailyFixed,
    /// Easier weekends (quality +5 %, success +3 %, cost −10 %, activity −40 %), the start's
    /// weekday random per run.
    Weekly,
    /// Cost +2 %/day, quality −0.5 %/day, linear in time, org-wide.
    DriftFixed,
    /// Per run, slopes uniform in ±2 %/day for cost and ±0.5 %/day for quality and success.
    DriftRandom,
    /// Each agent works on a given day with probability 0.5.
    Intermittent,
    /// 0.25 tasks per agent-hour instead of 2.
    LowVolume,
    /// Everything above at once (the daily cycle with a random phase).
    All,
}

impl Departure {
    /// Every departure, in report order.
    pub const ALL: [Departure; 11] = [
        Departure::None,
        Departure::HeavyTails,
        Departure::Autocorrelation,
        Departure::Daily,
        Departure::DailyFixed,
        Departure::Weekly,
        Departure::DriftFixed,
        Departure::DriftRandom,
        Departure::Intermittent,
        Departure::LowVolume,
        Departure::All,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The baseline model with this departure.
    pub fn model(self) -> DataModel {
        self.apply(DataModel::default())
    }

    /// `model` with this departure added (departures combine).
    pub fn apply(self, mut m: DataModel) -> DataModel {
        let daily = |phase| DailyCycle {
            activity: 0.15,
            cost: 0.15,
            quality: 0.05,
            success: 0.05,
            phase,
        };
        match self {
            Departure::None => {}
            Departure::HeavyTails => {
                m.cost_agent_sigma = 1.0;
                m.cost_task_sigma = 1.5;
                m.cost_outlier_p = 0.01;
                m.cost_outlier_factor = 50.0;
                m.failed_score_p = 0.05;
            }
            Departure::Autocorrelation => {
                m.autocorrelation = Some(Autocorrelation {
                    rho: 0.8,
                    sd: 0.3,
                    cost: 0.5,
                    quality: -1.0 / 6.0,
                    success: -0.1,
                });
            }
            Departure::Daily => m.daily = Some(daily(Phase::Random)),
            Departure::DailyFixed => m.daily = Some(daily(Phase::Fixed(9))),
            Departure::Weekly => {
                m.weekly = Some(WeeklyCycle {
                    activity: -0.40,
                    cost: -0.10,
                    quality: 0.05,
                    success: 0.03,
                    phase: Phase::Random,
                });
            }
            Departure::DriftFixed => {
                m.drift = Drift {
                    cost_per_day: 0.02,
                    quality_per_day: -0.005,
                    success_per_day: 0.0,
                };
            }
            Departure::DriftRandom => {
                m.random_drift = Some(Drift {
                    cost_per_day: 0.02,
                    quality_per_day: 0.005,
                    success_per_day: 0.005,
                });
            }
            Departure::Intermittent => m.work_day_p = 0.5,
            Departure::LowVolume => m.tasks_per_agent_hour = 0.25,
            Departure::All => {
                for d in [
                    Departure::HeavyTails,
                    Departure::Autocorrelation,
                    Departure::Daily,
                    Departure::Weekly,
                    Departure::DriftFixed,
                    Departure::DriftRandom,
                    Departure::Intermittent,
                    Departure::LowVolume,
                ] {
                    m = d.apply(m);
                }
            }
        }
        m
    }
}

/// The change's true effect on the treated agents after the start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// Relative change of the quality mean (e.g. `-0.10`).
    pub quality: f64,
    /// Relative change of the success probability.
    pub success: f64,
    /// Relative change of cost per task.
    pub cost: f64,
    /// Multiplier of the error rate (1 = none).
    pub errors: f64,
    /// The metric the change is meant to improve (the check's primary metric).
    pub primary: Metric,
}

impl Default for Effect {
    /// No effect; quality is the primary metric.
    fn default() -> Self {
        Self {
            quality: 0.0,
            success: 0.0,
            cost: 0.0,
            errors: 1.0,
            primary: Metric::Quality,
        }
    }
}

/// One hour's (or window's) sums for one agent.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Sums {
    /// Tasks completed.
    pub tasks: f64,
    /// Of which successful.
    pub successes: f64,
    /// Tasks with a quality score.
    pub scored: f64,
    /// Sum of their scores.
    pub quality_sum: f64,
    /// Spend, USD.
    pub cost_usd: f64,
    /// Runtime errors.
    pub errors: f64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.tasks += o.tasks;
        self.successes += o.successes;
        self.scored += o.scored;
        self.quality_sum += o.quality_sum;
        self.cost_usd += o.cost_usd;
        self.errors += o.errors;
    }

    fn minus(&self, o: &Sums) -> Sums {
        Sums {
            tasks: self.tasks - o.tasks,
            successes: self.successes - o.successes,
            scored: self.scored - o.scored,
            quality_sum: self.quality_sum - o.quality_sum,
            cost_usd: self.cost_usd - o.cost_usd,
            errors: self.errors - o.errors,
        }
    }

    /// As the detector's per-agent sums.
    pub fn to_agent(self, agent_id: &str) -> AgentSums {
        AgentSums {
            agent_id: agent_id.to_owned(),
            tasks: self.tasks,
            successes: self.successes,
            scored: self.scored,
            quality_sum: self.quality_sum,
            cost_usd: self.cost_usd,
            errors: self.errors,
        }
    }
}

/// Hourly sums per agent over a range of hours (relative to the start, hour 0 the first hour
/// after it), kept as per-agent prefix sums so that any window's sum costs two reads.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    first: i64,
    hours: usize,
    agents: usize,
    /// `prefix[a * (hours + 1) + h]`: agent `a`'s sums over the first `h` hours.
    prefix: Vec<Sums>,
}

impl Panel {
    /// The hours covered.
    pub fn hours(&self) -> Range<i64> {
        self.first..self.first + self.hours as i64
    }

    /// Agents.
    pub fn agents(&self) -> usize {
        self.agents
    }

    fn index(&self, h: i64) -> usize {
        (h - self.first).clamp(0, self.hours as i64) as usize
    }

    /// Agent `a`'s sums over the hours `r` (clipped to the panel).
    pub fn sums(&self, a: usize, r: &Range<i64>) -> Sums {
        let row = a * (self.hours + 1);
        let (s, e) = (self.index(r.start), self.index(r.end.max(r.start)));
        match (self.prefix.get(row + e), self.prefix.get(row + s)) {
            (Some(end), Some(start)) => end.minus(start),
            _ => Sums::default(),
        }
    }

    fn reset(&mut self, first: i64, hours: usize, agents: usize) {
        self.first = first;
        self.hours = hours;
        self.agents = agents;
        self.prefix.clear();
        self.prefix.resize(agents * (hours + 1), Sums::default());
    }
}

/// One agent's latent traits for a run.
#[derive(Debug, Clone)]
struct Agent {
    quality: f64,
    success: f64,
    cost: f64,
    errors: f64,
    activity: f64,
}

/// One run's organisation: the agents' traits, the clock and the drift slopes.
#[derive(Debug, Clone)]
pub struct World {
    model: DataModel,
    agents: Vec<Agent>,
    /// The hour of the day at the start (hour 0).
    start_hour_of_day: i64,
    /// The weekday at the start (0 = Monday).
    start_weekday: i64,
    /// The run's drift slopes (fixed plus random).
    drift: Drift,
}

fn normal(rng: &mut Pcg64) -> f64 {
    rng.sample(StandardNormal)
}

fn phase(rng: &mut Pcg64, p: Option<Phase>, period: u32) -> i64 {
    match p {
        Some(Phase::Fixed(v)) => i64::from(v % period),
        Some(Phase::Random) => i64::from(rng.random_range(0..period)),
        None => 0,
    }
}

fn poisson(rng: &mut Pcg64, mean: f64) -> f64 {
    if !(mean.is_finite() && mean > 0.0) {
        return 0.0;
    }
    Poisson::new(mean).map_or(0.0, |d| rng.sample(d))
}

fn binomial(rng: &mut Pcg64, n: u64, p: f64) -> f64 {
    if n == 0 || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return n as f64;
    }
    Binomial::new(n, p).map_or(0.0, |d| rng.sample(d) as f64)
}

/// A draw of `LogNormal(−σ²/2, σ)` (mean 1).
fn mean_one(rng: &mut Pcg64, sigma: f64) -> f64 {
    if sigma <= 0.0 {
        return 1.0;
    }
    (sigma * normal(rng) - 0.5 * sigma * sigma).exp()
}

/// The org-wide multipliers of one hour.
#[derive(Debug, Clone, Copy)]
struct HourFactors {
    activity: f64,
    cost: f64,
    quality: f64,
    success: f64,
}

impl World {
    /// Draws one run's organisation of `agents` agents under `model`.
    pub fn draw(model: &DataModel, agents: usize, rng: &mut Pcg64) -> World {
        let start_hour_of_day = phase(rng, model.daily.map(|d| d.phase), 24);
        let start_weekday = phase(rng, model.weekly.map(|w| w.phase), 7);
        let mut drift = model.drift;
        if let Some(r) = model.random_drift {
            drift.cost_per_day += r.cost_per_day * rng.random_range(-1.0..=1.0);
            drift.quality_per_day += r.quality_per_day * rng.random_range(-1.0..=1.0);
            drift.success_per_day += r.success_per_day * rng.random_range(-1.0..=1.0);
        }
        let cost_mu = model.cost_mean.ln() - 0.5 * model.cost_agent_sigma.powi(2);
        let agents = (0..agents)
            .map(|_| Agent {
                quality: (model.quality_mean + model.quality_agent_sd * normal(rng))
                    .clamp(1.0, 9.5),
                success: (model.success_mean + model.success_agent_sd * normal(rng))
                    .clamp(0.5, 0.99),
                cost: (cost_mu + model.cost_agent_sigma * normal(rng)).exp(),
                errors: model.error_rate * (model.error_agent_sigma * normal(rng)).exp(),
                activity: (model.activity_sigma * normal(rng)).exp(),
            })
            .collect();
        World {
            model: model.clone(),
            agents,
            start_hour_of_day,
            start_weekday,
            drift,
        }
    }

    /// The hour of the day (0–23) of hour `h` (relative to the start).
    pub fn hour_of_day(&self, h: i64) -> i64 {
        (self.start_hour_of_day + h).rem_euclid(DAY)
    }

    /// The day index of hour `h` (day 0 holds the start; days begin at midnight).
    pub fn day(&self, h: i64) -> i64 {
        (self.start_hour_of_day + h).div_euclid(DAY)
    }

    /// The weekday (0 = Monday) of hour `h`.
    pub fn weekday(&self, h: i64) -> i64 {
        (self.start_weekday + self.day(h)).rem_euclid(7)
    }

    /// The run's drift slopes.
    pub fn drift(&self) -> Drift {
        self.drift
    }

    fn factors(&self, h: i64) -> HourFactors {
        let m = &self.model;
        let mut f = HourFactors {
            activity: 1.0,
            cost: 1.0,
            quality: 1.0,
            success: 1.0,
        };
        if let Some(d) = m.daily {
            let s = (std::f64::consts::TAU * self.hour_of_day(h) as f64 / DAY as f64).sin();
            f.activity *= 1.0 + d.activity * s;
            f.cost *= 1.0 + d.cost * s;
            f.quality *= 1.0 + d.quality * s;
            f.success *= 1.0 + d.success * s;
        }
        if let Some(w) = m.weekly
            && self.weekday(h) >= 5
        {
            f.activity *= 1.0 + w.activity;
            f.cost *= 1.0 + w.cost;
            f.quality *= 1.0 + w.quality;
            f.success *= 1.0 + w.success;
        }
        let days = h as f64 / DAY as f64;
        f.cost *= (1.0 + self.drift.cost_per_day * days).max(0.0);
        f.quality *= (1.0 + self.drift.quality_per_day * days).max(0.0);
        f.success *= (1.0 + self.drift.success_per_day * days).max(0.0);
        f
    }

    /// Simulates the hours `hours` (relative to the start) into `panel`, only the hours inside
    /// one of `read` having tasks (the others are left empty: nothing reads them; the
    /// autocorrelated state and the working days still evolve through them). `treated` (one
    /// flag per agent) get `effect` from hour 0 on.
    pub fn simulate(
        &self,
        rng: &mut Pcg64,
        hours: Range<i64>,
        read: &[Range<i64>],
        treated: &[bool],
        effect: &Effect,
        panel: &mut Panel,
    ) {
        let m = &self.model;
        let len = (hours.end - hours.start).max(0) as usize;
        panel.reset(hours.start, len, self.agents.len());
        let factors: Vec<Option<HourFactors>> = hours
            .clone()
            .map(|h| read.iter().any(|r| r.contains(&h)).then(|| self.factors(h)))
            .collect();
        let ar = m.autocorrelation;
        let innovation = ar.map_or(0.0, |a| (1.0 - a.rho * a.rho).max(0.0).sqrt() * a.sd);
        for (i, agent) in self.agents.iter().enumerate() {
            let is_treated = treated.get(i).copied().unwrap_or(false);
            let mut z = ar.map_or(0.0, |a| a.sd * normal(rng));
            let mut day = i64::MIN;
            let mut works = true;
            let row = i * (len + 1);
            let mut acc = Sums::default();
            for (k, h) in hours.clone().enumerate() {
                if let Some(a) = ar
                    && k > 0
                {
                    z = a.rho * z + innovation * normal(rng);
                }
                if m.work_day_p < 1.0 && self.day(h) != day {
                    day = self.day(h);
                    works = rng.random_bool(m.work_day_p.clamp(0.0, 1.0));
                }
                if let (Some(f), true) = (factors[k], works) {
                    let (mut fa, mut fc, mut fq, mut fs) =
                        (f.activity, f.cost, f.quality, f.success);
                    if let Some(a) = ar {
                        fa *= (z - 0.5 * a.sd * a.sd).exp();
                        fc *= (a.cost * z).exp();
                        fq *= (a.quality * z).exp();
                        fs *= (a.success * z).exp();
                    }
                    let mut err = agent.errors;
                    if is_treated && h >= 0 {
                        fq *= 1.0 + effect.quality;
                        fs *= 1.0 + effect.success;
                        fc *= 1.0 + effect.cost;
                        err *= effect.errors.max(0.0);
                    }
                    let hour = self.hour(
                        rng,
                        m.tasks_per_agent_hour * agent.activity * fa,
                        agent.quality * fq,
                        (agent.success * fs).clamp(0.0, 1.0),
                        agent.cost * fc,
                        err,
                    );
                    acc.add(&hour);
                }
                if let Some(p) = panel.prefix.get_mut(row + k + 1) {
                    *p = acc;
                }
            }
        }
    }

    /// One agent-hour: `Poisson(volume)` tasks, each scored with probability `scored_p` (a
    /// failed score 0 with probability `failed_score_p`, else `clamp(N(quality, sd²), 0, 10)`),
    /// successful with probability `success`, costing `cost` × a mean-1 log-normal (× the
    /// outlier factor with probability `cost_outlier_p`), with `Poisson(errors)` runtime errors
    /// (drawn as one Poisson count for the hour's tasks).
    fn hour(
        &self,
        rng: &mut Pcg64,
        volume: f64,
        quality: f64,
        success: f64,
        cost: f64,
        errors: f64,
    ) -> Sums {
        let m = &self.model;
        let n = poisson(rng, volume) as u64;
        if n == 0 {
            return Sums::default();
        }
        let mut s = Sums {
            tasks: n as f64,
            ..Sums::default()
        };
        s.scored = binomial(rng, n, m.scored_p);
        for _ in 0..s.scored as u64 {
            if m.failed_score_p > 0.0 && rng.random_bool(m.failed_score_p.min(1.0)) {
                continue;
            }
            s.quality_sum += (quality + m.quality_task_sd * normal(rng)).clamp(0.0, 10.0);
        }
        s.successes = binomial(rng, n, success);
        for _ in 0..n {
            let mut c = cost * mean_one(rng, m.cost_task_sigma);
            if m.cost_outlier_p > 0.0 && rng.random_bool(m.cost_outlier_p.min(1.0)) {
                c *= m.cost_outlier_factor;
            }
            s.cost_usd += c;
        }
        s.errors = poisson(rng, errors * n as f64);
        s
    }
}
