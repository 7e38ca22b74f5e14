//! The statistics the rollout regression detector relies on.
//!
//! Everything here is pure arithmetic on numbers the caller already aggregated:
//!
//! - [`welch_t_test`]: Welch's unequal-variance t-test on two samples.
//! - [`RatioSums`] / [`RatioEstimate`]: mergeable per-unit sums of a ratio metric `Y/X` and the
//!   delta-method variance of the pooled ratio (Deng et al. 2018).
//! - [`msprt`]: one look of the normal-mixture sequential probability ratio test, with its
//!   always-valid p-value and confidence sequence (Johari, Pekelis, Walsh 2017; Robbins 1970).
//! - [`holm`]: Holm–Bonferroni step-down adjustment for several metrics tested at once.
//! - [`chi_square_gof`]: Pearson chi-square goodness of fit, e.g. a sample-ratio-mismatch check
//!   of the traffic split.
//!
//! Special functions (regularised incomplete beta and gamma) come from `statrs`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use statrs::distribution::{ChiSquared, ContinuousCDF};
use statrs::function::beta::checked_beta_reg;

/// Why a test could not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TestError {
    /// A sample is too small for the test.
    #[error("not enough data: each side needs at least 2 observations")]
    InsufficientData,
    /// There is no variability at all, so the statistic is undefined (the caller decides what a
    /// difference between two constants means).
    #[error("zero variance: both sides are constant")]
    ZeroVariance,
    /// The input is malformed: non-finite numbers, a parameter out of range, a negative
    /// variance, mismatched lengths, ...
    #[error("invalid input: {0}")]
    Invalid(&'static str),
}

/// Result of [`welch_t_test`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WelchResult {
    /// The t statistic of `mean(a) - mean(b)`.
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom (not rounded).
    pub df: f64,
    /// Two-sided p-value from Student's t distribution with `df` degrees of freedom.
    pub p_two_sided: f64,
}

/// Welch's unequal-variance t-test of mean(a) - mean(b).
///
/// With `n_a`, `n_b` observations, means `m_a`, `m_b` and sample variances `v_a`, `v_b`
/// (divisor `n - 1`):
///
/// ```text
/// se² = v_a/n_a + v_b/n_b
/// t   = (m_a - m_b) / sqrt(se²)
/// df  = se⁴ / ( (v_a/n_a)²/(n_a-1) + (v_b/n_b)²/(n_b-1) )      (Welch–Satterthwaite)
/// p   = I_x(df/2, 1/2),  x = df / (df + t²)                     (two-sided Student t tail)
/// ```
///
/// where `I` is the regularised incomplete beta function. Matches
/// `scipy.stats.ttest_ind(a, b, equal_var=False)`.
///
/// Numerics: sums use Neumaier compensated summation; each sample is centred on its first
/// element before the mean and the (two-pass) variance are computed, so a constant sample has a
/// variance of exactly zero and adding the same constant to both samples does not lose
/// precision. `df` is evaluated as `1 / (r_a²/(n_a-1) + r_b²/(n_b-1))` with `r = (v/n)/se²`,
/// which equals the formula above but cannot underflow or overflow. When `t²` is small relative
/// to `df`, `p` is computed as `1 - I_{1-x}(1/2, df/2)` with `1 - x = t²/(df + t²)` formed
/// directly, to keep full precision near `p = 1`.
///
/// # Errors
///
/// - [`TestError::InsufficientData`] when either side has fewer than 2 observations.
/// - [`TestError::ZeroVariance`] when both sides are constant (if only one is, the test runs).
/// - [`TestError::Invalid`] on non-finite observations, or if the arithmetic overflows.
pub fn welch_t_test(a: &[f64], b: &[f64]) -> Result<WelchResult, TestError> {
    if a.len() < 2 || b.len() < 2 {
        return Err(TestError::InsufficientData);
    }
    if !a.iter().chain(b).all(|x| x.is_finite()) {
        return Err(TestError::Invalid("non-finite observation"));
    }
    let sa = Moments::of(a);
    let sb = Moments::of(b);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let wa = sa.var / na;
    let wb = sb.var / nb;
    let se2 = wa + wb;
    // (anchor_a + dev_a) - (anchor_b + dev_b), grouped so that a common shift cancels exactly
    // in the anchors.
    let diff = (sa.anchor - sb.anchor) + (sa.mean_dev - sb.mean_dev);
    if !se2.is_finite() || !diff.is_finite() {
        return Err(TestError::Invalid("numerical overflow"));
    }
    if se2 <= 0.0 {
        return Err(TestError::ZeroVariance);
    }
    let ra = wa / se2;
    let rb = wb / se2;
    let df_den = ra * ra / (na - 1.0) + rb * rb / (nb - 1.0);
    if df_den <= 0.0 {
        return Err(TestError::ZeroVariance);
    }
    let df = 1.0 / df_den;
    let t = diff / se2.sqrt();
    let p = student_t_two_sided(t, df)?;
    Ok(WelchResult {
        t,
        df,
        p_two_sided: p,
    })
}

/// Two-sided tail probability `P(|T| >= |t|)` of Student's t with `df > 0` degrees of freedom.
fn student_t_two_sided(t: f64, df: f64) -> Result<f64, TestError> {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return Err(TestError::Invalid("numerical overflow"));
    }
    let t2 = t * t;
    // x = df/(df+t²) and its complement, both formed without cancellation and well defined for
    // t = 0 and t = ±inf.
    let x = 1.0 / (1.0 + t2 / df);
    let y = 1.0 / (1.0 + df / t2);
    let a = df / 2.0;
    let b = 0.5;
    let beta = |a, b, x| {
        checked_beta_reg(a, b, x).map_err(|_| TestError::Invalid("incomplete beta out of domain"))
    };
    // statrs evaluates the continued fraction for I_x(a, b) directly when
    // x < (a+1)/(a+b+2) and otherwise via 1 - I_{1-x}(b, a) with 1-x computed in floating
    // point; doing the symmetry ourselves with the exact complement keeps precision near p = 1.
    let p = if x < (a + 1.0) / (a + b + 2.0) {
        beta(a, b, x)?
    } else {
        1.0 - beta(b, a, y)?
    };
    Ok(p.clamp(0.0, 1.0))
}

/// Mean and sample variance of one sample, centred on its first element.
struct Moments {
    /// The first observation; every observation is taken relative to it.
    anchor: f64,
    /// Mean of `x - anchor`.
    mean_dev: f64,
    /// Sample variance (divisor `n - 1`).
    var: f64,
}

impl Moments {
    /// Requires `xs.len() >= 2`, all finite (checked by the caller).
    fn of(xs: &[f64]) -> Moments {
        let anchor = xs.first().copied().unwrap_or(0.0);
        let n = xs.len() as f64;
        let mean_dev = neumaier_sum(xs.iter().map(|x| x - anchor)) / n;
        let ss = neumaier_sum(xs.iter().map(|x| {
            let d = (x - anchor) - mean_dev;
            d * d
        }));
        Moments {
            anchor,
            mean_dev,
            var: ss / (n - 1.0),
        }
    }
}

/// Neumaier's improved Kahan–Babuška compensated sum.
fn neumaier_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut sum = 0.0_f64;
    let mut comp = 0.0_f64;
    for v in values {
        let t = sum + v;
        if sum.abs() >= v.abs() {
            comp += (sum - t) + v;
        } else {
            comp += (v - t) + sum;
        }
        sum = t;
    }
    sum + comp
}

/// Mergeable sums over randomisation units (agents) of a ratio metric Y/X, e.g. quality sum / scored tasks.
///
/// Each unit contributes one pair `(y, x)`: `units += 1`, `sum_y += y`, `sum_x += x`,
/// `sum_yy += y²`, `sum_xx += x²`, `sum_xy += x·y`. Sums merge by field-wise addition, in any
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RatioSums {
    /// Number of units added.
    pub units: f64,
    /// Σ y over units (the numerator, e.g. total quality).
    pub sum_y: f64,
    /// Σ x over units (the denominator, e.g. scored tasks).
    pub sum_x: f64,
    /// Σ y².
    pub sum_yy: f64,
    /// Σ x².
    pub sum_xx: f64,
    /// Σ x·y.
    pub sum_xy: f64,
}

/// Reads back what serde_json writes for a non-finite variance (`null`) as `f64::INFINITY`.
fn null_as_infinity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

/// The schema of an `f64` that may be non-finite: `serde_json` writes NaN and ±infinity as
/// `null`.
fn number_or_null(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["number", "null"],
        "format": "double",
    })
}

/// Pooled ratio of a [`RatioSums`] and its delta-method variance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RatioEstimate {
    /// Number of units behind the estimate.
    pub units: f64,
    /// The pooled ratio `sum_y / sum_x`.
    pub ratio: f64,
    /// Delta-method variance of `ratio`; `f64::INFINITY` (unknown) with fewer than 2 units,
    /// which JSON writes as `null`.
    #[schemars(schema_with = "number_or_null")]
    #[serde(deserialize_with = "null_as_infinity")]
    pub variance: f64,
    /// Number of observations of the ratio, `sum_x` (e.g. scored tasks).
    pub observations: f64,
}

impl RatioSums {
    /// Adds one unit (y, x). Units with x <= 0 or non-finite values are ignored (they carry no observation of the ratio).
    pub fn add(&mut self, y: f64, x: f64) {
        if !(x.is_finite() && y.is_finite()) || x <= 0.0 {
            return;
        }
        self.units += 1.0;
        self.sum_y += y;
        self.sum_x += x;
        self.sum_yy += y * y;
        self.sum_xx += x * x;
        self.sum_xy += x * y;
    }

    /// Adds the units of `other` (field-wise sum; associative and commutative).
    pub fn merge(&mut self, other: &RatioSums) {
        self.units += other.units;
        self.sum_y += other.sum_y;
        self.sum_x += other.sum_x;
        self.sum_yy += other.sum_yy;
        self.sum_xx += other.sum_xx;
        self.sum_xy += other.sum_xy;
    }

    /// Pooled ratio sum_y/sum_x and its delta-method variance.
    ///
    /// Delta method for a ratio of means (Deng, Knoblich, Lu 2018, "Applying the Delta Method
    /// in Metric Analytics: A Practical Guide with Novel Ideas", KDD 2018): with `n` units,
    /// `ȳ = sum_y/n`, `x̄ = sum_x/n`, `R = ȳ/x̄` and the sample (divisor `n - 1`) variances
    /// `s_yy`, `s_xx` and covariance `s_xy` of the per-unit `(y, x)`,
    ///
    /// ```text
    /// Var(R̂) ≈ (s_yy − 2 R s_xy + R² s_xx) / (n x̄²)
    /// ```
    ///
    /// It treats the unit (agent), not the individual task, as the independent observation, so
    /// correlation between tasks of one agent is accounted for. Because `ȳ − R x̄ = 0`, the
    /// numerator equals `Σ (y_i − R x_i)² / (n − 1)` = `(sum_yy − 2 R sum_xy + R² sum_xx) /
    /// (n − 1)`, which is how it is evaluated from the sums (no separate centring terms that
    /// would cancel). Tiny negative rounding results are clamped to 0.
    ///
    /// Returns `None` when there are no units or `sum_x <= 0`; with a single unit the variance
    /// is `f64::INFINITY` (unknown).
    pub fn estimate(&self) -> Option<RatioEstimate> {
        let n = self.units;
        if n.is_nan() || n < 1.0 || self.sum_x.is_nan() || self.sum_x <= 0.0 {
            return None;
        }
        let ratio = self.sum_y / self.sum_x;
        let variance = if n < 2.0 {
            f64::INFINITY
        } else {
            let rss = self.sum_yy - 2.0 * ratio * self.sum_xy + ratio * ratio * self.sum_xx;
            // (rss / (n-1)) / (n x̄²) with n x̄² = sum_x² / n.
            let v = rss / (n - 1.0) * n / (self.sum_x * self.sum_x);
            if v > 0.0 { v } else { 0.0 }
        };
        Some(RatioEstimate {
            units: n,
            ratio,
            variance,
            observations: self.sum_x,
        })
    }
}

/// Result of one look of the mixture sequential probability ratio test.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SequentialResult {
    /// ln Λ, the log of the mixture likelihood ratio at this look.
    pub log_lr: f64,
    /// min(1, 1/Λ): the always-valid p-value of this look (callers keep the running minimum across looks).
    pub p_value: f64,
    /// The confidence sequence for the difference at level alpha: (lower, upper).
    pub interval: (f64, f64),
}

/// Normal-mixture mSPRT (Johari, Pekelis, Walsh 2017 "Always valid inference"; Robbins 1970) for H0: θ = 0, where `diff` is the estimate θ̂ ~ N(θ, variance) and the mixing distribution is N(0, tau2).
///
/// # Formulas
///
/// Write `V = variance`, `τ² = tau2`, `θ̂ = diff`. The mixture likelihood ratio against
/// `H0: θ = 0` is
///
/// ```text
/// Λ = ∫ φ(θ̂; θ, V) φ(θ; 0, τ²) dθ / φ(θ̂; 0, V)
///   = φ(θ̂; 0, V + τ²) / φ(θ̂; 0, V)          (the marginal of θ̂ under the mixture is N(0, V+τ²))
///   = sqrt(V / (V + τ²)) · exp( θ̂²/(2V) − θ̂²/(2(V + τ²)) )
/// ln Λ = ½ ln(V / (V + τ²)) + θ̂² τ² / (2 V (V + τ²))
/// ```
///
/// `Λ` evaluated along the looks of an experiment is a nonnegative martingale with mean 1 under
/// H0, so by Ville's inequality `P(sup Λ ≥ 1/α) ≤ α`. Hence
///
/// ```text
/// p = min(1, 1/Λ) = min(1, exp(−ln Λ))
/// ```
///
/// is an always-valid p-value: rejecting when the running minimum over looks is `≤ α` keeps the
/// type-I error at most `α` however often one looks (the caller keeps that running minimum).
///
/// The confidence sequence inverts the test: it holds every `θ₀` with `Λ(θ̂ − θ₀) < 1/α`, i.e.
///
/// ```text
/// (θ̂ − θ₀)² τ² / (2 V (V + τ²)) < ln(1/α) − ½ ln(V / (V + τ²)) = ln( sqrt((V + τ²)/V) / α )
/// h = sqrt( (2 V (V + τ²) / τ²) · ln( sqrt((V + τ²)/V) / α ) )
/// interval = (θ̂ − h, θ̂ + h)
/// ```
///
/// and covers the true `θ` at all looks simultaneously with probability at least `1 − α`. The
/// logarithm's argument exceeds 1 since `α < 1`, so `h > 0`. The interval excludes 0 exactly
/// when `p ≤ α`.
///
/// `τ²` is the prior scale of plausible effects: the test is most sensitive when `|θ|²` is
/// around `τ²` at the sample sizes reached. `ln(V/(V+τ²))` is evaluated as `−ln_1p(τ²/V)`.
///
/// # Errors
///
/// - [`TestError::ZeroVariance`] when `variance == 0` (the caller handles a degenerate
///   estimate).
/// - [`TestError::Invalid`] when an argument is non-finite, `variance < 0`, `tau2 <= 0`, or
///   `alpha` is not in `(0, 1)`.
pub fn msprt(
    diff: f64,
    variance: f64,
    tau2: f64,
    alpha: f64,
) -> Result<SequentialResult, TestError> {
    if !(diff.is_finite() && variance.is_finite() && tau2.is_finite() && alpha.is_finite()) {
        return Err(TestError::Invalid("non-finite input"));
    }
    if tau2 <= 0.0 {
        return Err(TestError::Invalid("tau2 must be positive"));
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(TestError::Invalid("alpha must be in (0, 1)"));
    }
    if variance < 0.0 {
        return Err(TestError::Invalid("variance must not be negative"));
    }
    if variance == 0.0 {
        return Err(TestError::ZeroVariance);
    }
    let v = variance;
    let log1p_ratio = (tau2 / v).ln_1p(); // ln((V + τ²)/V)
    let log_lr = -0.5 * log1p_ratio + (diff * diff / (2.0 * v)) * (tau2 / (v + tau2));
    let p_value = (-log_lr).exp().min(1.0);
    let scale = 2.0 * v * (v / tau2 + 1.0); // 2 V (V + τ²) / τ²
    let half_width = (scale * (0.5 * log1p_ratio - alpha.ln())).sqrt();
    Ok(SequentialResult {
        log_lr,
        p_value,
        interval: (diff - half_width, diff + half_width),
    })
}

/// The prior scales the detector mixes over: `(s, w)` puts weight `w` on a normal mixing
/// distribution of scale `s · τ`. A single scale is sensitive only to effects near `τ` once the
/// estimate's variance is below `τ²`; when the data are noisier (few agents, heavy tails, rare
/// events) an effect many times `τ` would go unseen. Mixing over `τ`, `3τ` and `10τ` keeps the
/// test valid (a convex combination of nonnegative martingales with mean 1 is one) and costs at
/// most a factor 2 in the likelihood ratio at effects near `τ`.
pub const TAU_SCALES: [(f64, f64); 3] = [(1.0, 0.5), (3.0, 0.25), (10.0, 0.25)];

/// `ln Σ_k w_k exp(x_k)` without overflow.
fn log_sum_exp(terms: impl Iterator<Item = (f64, f64)>) -> f64 {
    let terms: Vec<(f64, f64)> = terms.collect();
    let max = terms
        .iter()
        .map(|(_, x)| *x)
        .fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + terms
        .iter()
        .map(|(w, x)| w * (x - max).exp())
        .sum::<f64>()
        .ln()
}

/// ln Λ of the two-sided scale mixture ([`TAU_SCALES`]) of [`msprt`] for an estimate `d` of
/// variance `v > 0` against `θ = 0`.
fn mixture_log_lr(d: f64, v: f64, tau2: f64, scales: &[(f64, f64)]) -> f64 {
    log_sum_exp(scales.iter().map(|&(s, w)| {
        let t2 = tau2 * s * s;
        (
            w,
            -0.5 * (t2 / v).ln_1p() + (d * d / (2.0 * v)) * (t2 / (v + t2)),
        )
    }))
}

/// [`msprt`] with the mixing distribution a mixture of normals of scales `scales` (weights
/// summing to 1): `Λ = Σ_k w_k Λ(τ_k)`, `τ_k = s_k τ`. Its p-value is always valid for the
/// same reason; the confidence sequence `{θ₀ : Λ(θ̂ − θ₀) < 1/α}` has no closed form and is
/// found by bisection (Λ grows with `|θ̂ − θ₀|`). With one scale `(1, 1)` it is [`msprt`].
///
/// # Errors
///
/// As [`msprt`]; also [`TestError::Invalid`] for an empty `scales` or weights not summing to 1.
pub fn msprt_mixture(
    diff: f64,
    variance: f64,
    tau2: f64,
    alpha: f64,
    scales: &[(f64, f64)],
) -> Result<SequentialResult, TestError> {
    let total: f64 = scales.iter().map(|(_, w)| w).sum();
    if scales.is_empty()
        || (total - 1.0).abs() > 1e-9
        || scales.iter().any(|(s, w)| !(*s > 0.0 && *w >= 0.0))
    {
        return Err(TestError::Invalid(
            "mixing scales must be positive with weights summing to 1",
        ));
    }
    // Validates the arguments as the single-scale test does.
    msprt(diff, variance, tau2, alpha)?;
    let log_lr = mixture_log_lr(diff, variance, tau2, scales);
    let target = -alpha.ln();
    // Λ(h) = 1/α: Λ(0) < 1 ≤ 1/α; grow the bracket until Λ(hi) ≥ 1/α.
    let mut hi = variance.sqrt().max(f64::MIN_POSITIVE);
    let mut guard = 0;
    while mixture_log_lr(hi, variance, tau2, scales) < target && guard < 200 {
        hi *= 2.0;
        guard += 1;
    }
    let mut lo = 0.0;
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if mixture_log_lr(mid, variance, tau2, scales) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(SequentialResult {
        log_lr,
        p_value: (-log_lr).exp().min(1.0),
        interval: (diff - hi, diff + hi),
    })
}

/// The one-sided mixture p-value of an excess `z` (estimate minus the null's boundary) with
/// variance `v`: `min(1, 1/Λ)`, `Λ = Σ_k w_k Λ₊(τ_k)` with the half-normal one-sided ratio
/// `Λ₊(τ) = 2 sqrt(V/(V+τ²)) · exp(a²/2) · Φ(a)`, `a = z τ / sqrt(V (V + τ²))` — a
/// nonnegative supermartingale under every null at or below the boundary. For `z ≤ 0` every
/// component is below 1: no evidence.
pub fn one_sided_mixture_p(excess: f64, variance: f64, tau2: f64, scales: &[(f64, f64)]) -> f64 {
    if !(excess.is_finite() && variance.is_finite() && tau2.is_finite())
        || variance <= 0.0
        || tau2 <= 0.0
        || excess <= 0.0
    {
        return 1.0;
    }
    let log_lr = log_sum_exp(scales.iter().map(|&(s, w)| {
        let t2 = tau2 * s * s;
        let a = excess * (t2 / (variance * (variance + t2))).sqrt();
        let phi = 0.5 * statrs::function::erf::erfc(-a / std::f64::consts::SQRT_2);
        (
            w,
            std::f64::consts::LN_2 - 0.5 * (t2 / variance).ln_1p() + 0.5 * a * a + phi.ln(),
        )
    }));
    (-log_lr).exp().min(1.0)
}

/// Holm–Bonferroni step-down adjusted p-values, same order as the input, monotone, capped at 1.
///
/// With the `m` p-values sorted ascending, `p_(1) ≤ … ≤ p_(m)`, the adjusted value of
/// `p_(i)` is `min(1, max_{j ≤ i} (m − j + 1) p_(j))`. Rejecting every hypothesis whose adjusted
/// p-value is `≤ α` controls the family-wise error rate at `α`. Inputs are clamped to `[0, 1]`
/// and a NaN counts as 1 (no evidence).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let clean: Vec<f64> = p
        .iter()
        .map(|&v| if v.is_nan() { 1.0 } else { v.clamp(0.0, 1.0) })
        .collect();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| clean[i].total_cmp(&clean[j]));
    let mut adjusted = vec![1.0; m];
    let mut running = 0.0_f64;
    for (rank, &i) in order.iter().enumerate() {
        let step = ((m - rank) as f64 * clean[i]).min(1.0);
        running = running.max(step);
        adjusted[i] = running;
    }
    adjusted
}

/// Pearson chi-square goodness-of-fit of observed counts against expected shares (shares are normalised to sum 1); df = k − 1; returns (statistic, p-value).
///
/// ```text
/// E_i = N · s_i / Σ s,   N = Σ O_i
/// χ² = Σ (O_i − E_i)² / E_i,   p = P(χ²_{k−1} ≥ χ²)
/// ```
///
/// Matches `scipy.stats.chisquare(observed, f_exp=expected)`.
///
/// # Errors
///
/// - [`TestError::Invalid`] when the slices differ in length, `k < 2`, a share is `<= 0` or
///   non-finite, or a count is negative or non-finite.
/// - [`TestError::InsufficientData`] when the counts sum to zero.
pub fn chi_square_gof(observed: &[f64], expected_share: &[f64]) -> Result<(f64, f64), TestError> {
    if observed.len() != expected_share.len() {
        return Err(TestError::Invalid(
            "observed and expected_share differ in length",
        ));
    }
    let k = observed.len();
    if k < 2 {
        return Err(TestError::Invalid("need at least two categories"));
    }
    if !expected_share.iter().all(|s| s.is_finite() && *s > 0.0) {
        return Err(TestError::Invalid(
            "expected shares must be positive and finite",
        ));
    }
    if !observed.iter().all(|o| o.is_finite() && *o >= 0.0) {
        return Err(TestError::Invalid(
            "observed counts must be non-negative and finite",
        ));
    }
    let total = neumaier_sum(observed.iter().copied());
    if total <= 0.0 {
        return Err(TestError::InsufficientData);
    }
    let share_total = neumaier_sum(expected_share.iter().copied());
    let stat = neumaier_sum(observed.iter().zip(expected_share).map(|(&o, &s)| {
        let e = total * (s / share_total);
        let d = o - e;
        d * d / e
    }));
    if !stat.is_finite() || !share_total.is_finite() || !total.is_finite() {
        return Err(TestError::Invalid("numerical overflow"));
    }
    let dist = ChiSquared::new((k - 1) as f64)
        .map_err(|_| TestError::Invalid("invalid degrees of freedom"))?;
    let p = dist.sf(stat.max(0.0)).clamp(0.0, 1.0);
    Ok((stat, p))
}

/// Pearson chi-square test of homogeneity for a 2×2 table (rows `before` and `after`, columns
/// the two groups), 1 df: whether the groups' shares changed between the two periods. Unlike
/// [`chi_square_gof`] against a share estimated from `before`, it accounts for the estimate's
/// own noise. Returns (statistic, p-value).
pub fn chi_square_2x2(before: [f64; 2], after: [f64; 2]) -> Result<(f64, f64), TestError> {
    let cells = [before[0], before[1], after[0], after[1]];
    if !cells.iter().all(|c| c.is_finite() && *c >= 0.0) {
        return Err(TestError::Invalid(
            "observed counts must be non-negative and finite",
        ));
    }
    let rows = [before[0] + before[1], after[0] + after[1]];
    let cols = [before[0] + after[0], before[1] + after[1]];
    let total = rows[0] + rows[1];
    if rows.iter().chain(cols.iter()).any(|m| *m <= 0.0) {
        return Err(TestError::InsufficientData);
    }
    let mut stat = 0.0;
    for (r, row) in [before, after].iter().enumerate() {
        for (c, &o) in row.iter().enumerate() {
            let e = rows[r] * cols[c] / total;
            stat += (o - e) * (o - e) / e;
        }
    }
    if !stat.is_finite() {
        return Err(TestError::Invalid("numerical overflow"));
    }
    let dist =
        ChiSquared::new(1.0).map_err(|_| TestError::Invalid("invalid degrees of freedom"))?;
    Ok((stat, dist.sf(stat.max(0.0)).clamp(0.0, 1.0)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unknown_variance_survives_a_json_round_trip() {
        let one_unit = RatioEstimate {
            units: 1.0,
            ratio: 0.5,
            variance: f64::INFINITY,
            observations: 4.0,
        };
        let text = serde_json::to_string(&one_unit).expect("serialise");
        assert!(text.contains("\"variance\":null"), "{text}");
        let back: RatioEstimate = serde_json::from_str(&text).expect("read back");
        assert!(back.variance.is_infinite());
        assert_eq!(back.units, 1.0);
    }

    use super::*;

    #[test]
    fn a_one_scale_mixture_is_the_msprt() {
        for (d, v, t2) in [(0.3, 0.01, 0.04), (-1.2, 0.5, 0.1), (0.0, 2.0, 0.3)] {
            let one = msprt(d, v, t2, 0.05).unwrap();
            let mix = msprt_mixture(d, v, t2, 0.05, &[(1.0, 1.0)]).unwrap();
            assert!((one.log_lr - mix.log_lr).abs() < 1e-12);
            assert!(
                (one.interval.0 - mix.interval.0).abs() < 1e-9,
                "{one:?} {mix:?}"
            );
            assert!((one.interval.1 - mix.interval.1).abs() < 1e-9);
        }
        assert!(msprt_mixture(0.1, 0.1, 0.1, 0.05, &[]).is_err());
        assert!(msprt_mixture(0.1, 0.1, 0.1, 0.05, &[(1.0, 0.7)]).is_err());
    }

    #[test]
    fn the_mixture_sees_large_effects_in_noisy_data() {
        // τ = 0.0075 (a 15 % threshold on a 0.05 rate), V = 4e-4 (noisy), an effect of 0.1:
        // one scale hardly reacts, the mixture does.
        let (d, v, t2) = (0.1, 4e-4, 0.0075f64.powi(2));
        let one = msprt(d, v, t2, 0.05).unwrap().p_value;
        let mix = msprt_mixture(d, v, t2, 0.05, &TAU_SCALES).unwrap().p_value;
        assert!(one > 0.05 && mix < 1e-3, "{one} {mix}");
        // Its confidence sequence still inverts its own test.
        let r = msprt_mixture(d, v, t2, 0.05, &TAU_SCALES).unwrap();
        assert!(r.interval.0 > 0.0 && r.interval.0 < d && r.interval.1 > d);
        let edge = msprt_mixture(d - r.interval.0, v, t2, 0.05, &TAU_SCALES).unwrap();
        assert!((edge.p_value - 0.05).abs() < 1e-6, "{edge:?}");
        // One-sided: no evidence at or below the boundary, and large effects seen.
        assert_eq!(one_sided_mixture_p(0.0, v, t2, &TAU_SCALES), 1.0);
        assert_eq!(one_sided_mixture_p(-0.1, v, t2, &TAU_SCALES), 1.0);
        assert!(one_sided_mixture_p(0.1, v, t2, &TAU_SCALES) < 1e-3);
        assert!(one_sided_mixture_p(0.1, v, t2, &[(1.0, 1.0)]) > 0.05);
    }

    use proptest::prelude::*;

    #[test]
    fn chi_square_2x2_matches_the_hand_computation() {
        // [[60, 40], [50, 50]]: margins 100/100 and 110/90, E = 55, 45, 55, 45;
        // χ² = 2·(25/55 + 25/45) = 2.0202…; p = P(χ²₁ > 2.0202) = 0.155218 (erfc(sqrt(χ²/2))).
        let (stat, p) = chi_square_2x2([60.0, 40.0], [50.0, 50.0]).unwrap();
        assert!((stat - 2.0 * (25.0 / 55.0 + 25.0 / 45.0)).abs() < 1e-12);
        assert!((p - 0.155218).abs() < 1e-5, "{p}");
        // Same shares in both periods: no evidence of a mismatch.
        let (stat, p) = chi_square_2x2([300.0, 100.0], [600.0, 200.0]).unwrap();
        assert!(stat.abs() < 1e-12 && (p - 1.0).abs() < 1e-12);
        assert_eq!(
            chi_square_2x2([0.0, 0.0], [1.0, 2.0]),
            Err(TestError::InsufficientData)
        );
        assert!(chi_square_2x2([-1.0, 0.0], [1.0, 2.0]).is_err());
    }
    use rand::{RngExt, SeedableRng};
    use rand_distr::StandardNormal;
    use rand_pcg::Pcg64;

    fn welch(a: &[f64], b: &[f64]) -> WelchResult {
        welch_t_test(a, b).unwrap_or_else(|e| panic!("welch({a:?}, {b:?}): {e}"))
    }

    fn close_rel(x: f64, y: f64, rel: f64) -> bool {
        x == y || (x - y).abs() <= rel * x.abs().max(y.abs())
    }

    #[test]
    fn welch_textbook_five_vs_five() {
        let r = welch(&[1.0, 2.0, 3.0, 4.0, 5.0], &[5.0, 6.0, 7.0, 8.0, 9.0]);
        assert!((r.t - -4.0).abs() < 1e-12, "{r:?}");
        assert!((r.df - 8.0).abs() < 1e-12, "{r:?}");
        assert!((r.p_two_sided - 0.0039498).abs() < 1e-7, "{r:?}");
    }

    #[test]
    fn welch_fifteen_vs_sixteen() {
        let a = [
            27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7,
            21.4,
        ];
        let b = [
            27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 23.9, 22.8, 19.0,
            23.3, 23.7,
        ];
        let r = welch(&a, &b);
        assert!((r.t - -2.437137).abs() < 1e-6, "{r:?}");
        assert!((r.df - 25.402081).abs() < 1e-6, "{r:?}");
        assert!((r.p_two_sided - 0.02213313).abs() < 1e-7, "{r:?}");
    }

    #[test]
    fn welch_identical_samples_and_swap() {
        let a = [3.0, 1.5, 4.25, 2.0];
        let r = welch(&a, &a);
        assert_eq!(r.t, 0.0);
        assert_eq!(r.p_two_sided, 1.0);

        let b = [0.5, 7.0, 2.0, 9.5, 1.0];
        let ab = welch(&a, &b);
        let ba = welch(&b, &a);
        assert_eq!(ab.t, -ba.t);
        assert_eq!(ab.df, ba.df);
        assert_eq!(ab.p_two_sided, ba.p_two_sided);
    }

    #[test]
    fn welch_constant_sides() {
        assert_eq!(
            welch_t_test(&[5.0, 5.0, 5.0], &[7.0, 7.0, 7.0]),
            Err(TestError::ZeroVariance)
        );
        // Non-dyadic constants still have exactly zero variance (samples are centred on their
        // first element).
        assert_eq!(
            welch_t_test(&[0.1; 7], &[0.3; 5]),
            Err(TestError::ZeroVariance)
        );
        // Only one side constant: runs; va = 0, vb = 1 → t = 4/sqrt(1/3), df = nb − 1 = 2.
        let r = welch(&[5.0, 5.0, 5.0], &[1.0, 2.0, 3.0]);
        assert!((r.t - 3.0 * 3f64.sqrt()).abs() < 1e-12, "{r:?}");
        assert!((r.df - 2.0).abs() < 1e-12, "{r:?}");
    }

    #[test]
    fn welch_errors() {
        assert_eq!(
            welch_t_test(&[1.0], &[1.0, 2.0]),
            Err(TestError::InsufficientData)
        );
        assert_eq!(
            welch_t_test(&[1.0, 2.0], &[]),
            Err(TestError::InsufficientData)
        );
        assert!(matches!(
            welch_t_test(&[1.0, f64::NAN], &[1.0, 2.0]),
            Err(TestError::Invalid(_))
        ));
        assert!(matches!(
            welch_t_test(&[1.0, 2.0], &[f64::INFINITY, 2.0]),
            Err(TestError::Invalid(_))
        ));
    }

    // Generated by crates/kaizen-core/tests/data/welch_scipy.py with scipy 1.17.1:
    // scipy.stats.ttest_ind(a, b, equal_var=False) -> (name, a, b, t, df, p).
    #[allow(clippy::type_complexity)]
    const WELCH_SCIPY: &[(&str, &[f64], &[f64], f64, f64, f64)] = &[
        (
            "n=2 vs n=3",
            &[1.0, 2.0],
            &[3.0, 5.0, 4.0],
            -3.273268353539886,
            2.8823529411764697,
            0.04941625686257753,
        ),
        (
            "n=2 vs n=2",
            &[0.0, 1.0],
            &[0.5, 2.5],
            -0.8944271909999159,
            1.4705882352941178,
            0.49313270812084714,
        ),
        (
            "unequal variances",
            &[100.0, 100.1, 99.9, 100.05],
            &[0.0, 1000.0, -500.0, 250.0, 750.0],
            -0.749221810390433,
            4.0000002046783605,
            0.4953796045190873,
        ),
        (
            "small vs wide",
            &[0.1, 0.2, 0.15],
            &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
            -4.562903492783195,
            5.0001428556121725,
            0.006040455225199965,
        ),
        (
            "large t",
            &[10.0, 10.001, 9.999, 10.0005],
            &[0.0, 0.001, -0.001, 0.0002],
            16868.106509220353,
            5.991644028747471,
            3.14369489608899e-24,
        ),
        (
            "one side constant",
            &[5.0, 5.0, 5.0],
            &[1.0, 2.0, 3.0],
            5.196152422706632,
            2.0,
            0.03509871864598465,
        ),
        (
            "near-zero t",
            &[1.0, 2.0, 3.0, 4.0],
            &[2.5, 2.5, 2.4, 2.7],
            -0.03854716722458554,
            3.056994856214227,
            0.9716310666408737,
        ),
        (
            "large magnitude",
            &[1000000.0, -250000.0, 750000.0, 300000.0, -100000.0],
            &[2000000.0, 1500000.0, 900000.0, 2200000.0],
            -3.4823105646178294,
            6.290670359650048,
            0.012143181106369909,
        ),
        (
            "n=40 vs n=3",
            &[
                0.0, 2.534413, 2.747892, 0.45336, -2.230407, -2.826773, -0.778246, 2.04096,
                3.048075, 1.326355, -1.532063, -2.889971, -1.489719, 1.390501, 3.111822, 2.100864,
                -0.70371, -2.714192, -2.072962, 0.639632, 2.938836, 2.719967, 0.193446, -2.308661,
                -2.476735, -0.147055, 2.547675, 3.139128, 1.092717, -1.700902, -2.664095,
                -0.902113, 1.97428, 3.329736, 1.927248, -0.934548, -2.615337, -1.560614, 1.269106,
                3.281386,
            ],
            &[4.0, 4.5, 3.25],
            -7.324325681808319,
            6.71211093855676,
            0.00019528324510722744,
        ),
        (
            "n=30 vs n=25 quality-like",
            &[
                0.7, 0.892712, 0.8031, 0.562447, 0.523309, 0.743024, 0.899709, 0.76382, 0.534435,
                0.547603, 0.784033, 0.897354, 0.721551, 0.514175, 0.579033, 0.821108, 0.885759,
                0.678273, 0.502617, 0.616128, 0.852512, 0.865466, 0.636012, 0.500301, 0.657149,
                0.876774, 0.837424, 0.596748, 0.507336, 0.700178,
            ],
            &[
                0.7, 0.688242, 0.658498, 0.624758, 0.602889, 0.603177, 0.625487, 0.659326,
                0.688778, 0.699993, 0.687695, 0.657669, 0.624036, 0.602614, 0.603479, 0.626223,
                0.66015, 0.689304, 0.699972, 0.687137, 0.656837, 0.623321, 0.602352, 0.603793,
                0.626966,
            ],
            1.9339528777247887,
            33.5705966723252,
            0.06158568968198796,
        ),
        (
            "moderate p",
            &[3.1, 2.9, 3.4, 3.0, 2.8, 3.3],
            &[3.3, 3.5, 3.2, 3.6, 3.1, 3.4, 3.7],
            -2.5344600104329835,
            10.411249703330608,
            0.028817404822201718,
        ),
    ];

    #[test]
    fn welch_matches_scipy() {
        for &(name, a, b, t, df, p) in WELCH_SCIPY {
            let r = welch(a, b);
            assert!(close_rel(r.t, t, 1e-9), "{name}: t {} vs {t}", r.t);
            assert!(close_rel(r.df, df, 1e-9), "{name}: df {} vs {df}", r.df);
            assert!(
                (r.p_two_sided - p).abs() <= 1e-8,
                "{name}: p {} vs {p}",
                r.p_two_sided
            );
        }
    }

    // Generated by crates/kaizen-core/tests/data/welch_scipy.py with scipy 1.17.1:
    // scipy.stats.chisquare(observed, f_exp=total * share / sum(share))
    // -> (name, observed, shares, stat, p).
    #[allow(clippy::type_complexity)]
    const CHI_SQUARE_SCIPY: &[(&str, &[f64], &[f64], f64, f64)] = &[
        (
            "50/50 split",
            &[5200.0, 4800.0],
            &[0.5, 0.5],
            16.0,
            6.334248366623988e-05,
        ),
        (
            "six categories uniform",
            &[30.0, 14.0, 34.0, 45.0, 57.0, 20.0],
            &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
            37.779999999999994,
            4.177325475265192e-07,
        ),
        (
            "unnormalised shares",
            &[120.0, 90.0, 40.0],
            &[5.0, 3.0, 2.0],
            5.2,
            0.07427357821433386,
        ),
    ];

    #[test]
    fn chi_square_matches_scipy() {
        for &(name, obs, share, stat, p) in CHI_SQUARE_SCIPY {
            let (s, q) = chi_square_gof(obs, share).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(close_rel(s, stat, 1e-12), "{name}: stat {s} vs {stat}");
            assert!((q - p).abs() <= 1e-12, "{name}: p {q} vs {p}");
            assert!(close_rel(q, p, 1e-9), "{name}: p {q} vs {p} (relative)");
        }
    }

    #[test]
    fn chi_square_errors() {
        let inv = |r: Result<(f64, f64), TestError>| matches!(r, Err(TestError::Invalid(_)));
        assert!(inv(chi_square_gof(&[1.0], &[1.0])));
        assert!(inv(chi_square_gof(&[1.0, 2.0], &[1.0])));
        assert!(inv(chi_square_gof(&[1.0, 2.0], &[1.0, 0.0])));
        assert!(inv(chi_square_gof(&[1.0, 2.0], &[1.0, f64::NAN])));
        assert!(inv(chi_square_gof(&[-1.0, 2.0], &[1.0, 1.0])));
        assert!(inv(chi_square_gof(&[f64::INFINITY, 2.0], &[1.0, 1.0])));
        assert_eq!(
            chi_square_gof(&[0.0, 0.0], &[1.0, 1.0]),
            Err(TestError::InsufficientData)
        );
        // A perfect fit.
        assert_eq!(chi_square_gof(&[50.0, 50.0], &[1.0, 1.0]), Ok((0.0, 1.0)));
    }

    #[test]
    fn delta_method_hand_example() {
        // Units (y, x): (2, 4), (1, 2), (4, 5); n = 3.
        // sum_y = 7, sum_x = 11 → R = 7/11, ȳ = 7/3, x̄ = 11/3.
        // y − ȳ = −1/3, −4/3, 5/3;  x − x̄ = 1/3, −5/3, 4/3.
        // s_yy = (1 + 16 + 25)/9 / 2 = 7/3
        // s_xx = (1 + 25 + 16)/9 / 2 = 7/3
        // s_xy = (−1 + 20 + 20)/9 / 2 = 13/6
        // numerator = 7/3 − 2·(7/11)·(13/6) + (49/121)·(7/3)
        //           = (847 − 1001 + 343)/363 = 189/363 = 63/121
        //   (check: residuals y − R x = −6/11, −3/11, 9/11; Σ² = 126/121; /(n−1) = 63/121)
        // n x̄² = 3 · 121/9 = 121/3
        // Var(R̂) = (63/121) / (121/3) = 189/14641 ≈ 0.0129090
        let mut s = RatioSums::default();
        for (y, x) in [(2.0, 4.0), (1.0, 2.0), (4.0, 5.0)] {
            s.add(y, x);
        }
        let e = s
            .estimate()
            .unwrap_or_else(|| panic!("estimate of {s:?} is None"));
        assert_eq!(e.units, 3.0);
        assert_eq!(e.observations, 11.0);
        assert!((e.ratio - 7.0 / 11.0).abs() < 1e-15);
        assert!(
            (e.variance - 189.0 / 14641.0).abs() < 1e-15,
            "{}",
            e.variance
        );

        // Ignored units do not change anything.
        let before = s;
        s.add(3.0, 0.0);
        s.add(3.0, -1.0);
        s.add(f64::NAN, 1.0);
        s.add(1.0, f64::INFINITY);
        assert_eq!(s, before);

        // Merging in pieces gives the same sums.
        let mut left = RatioSums::default();
        left.add(2.0, 4.0);
        let mut right = RatioSums::default();
        right.add(1.0, 2.0);
        right.add(4.0, 5.0);
        left.merge(&right);
        assert_eq!(left, before);
    }

    #[test]
    fn delta_method_edge_cases() {
        assert_eq!(RatioSums::default().estimate(), None);
        let mut one = RatioSums::default();
        one.add(3.0, 4.0);
        let e = one
            .estimate()
            .unwrap_or_else(|| panic!("one unit has an estimate"));
        assert_eq!(e.ratio, 0.75);
        assert_eq!(e.variance, f64::INFINITY);
        // Every unit has exactly the same ratio: zero variance, never negative.
        let mut same = RatioSums::default();
        for x in [1.0, 3.0, 7.0, 10.0] {
            same.add(0.3 * x, x);
        }
        let e = same.estimate().unwrap_or_else(|| panic!("estimate exists"));
        assert!(e.variance >= 0.0 && e.variance < 1e-15, "{}", e.variance);
    }

    #[test]
    fn delta_method_matches_monte_carlo() {
        // 2,000 replications of an experiment arm with 200 agents. Agent i runs
        // x_i ~ 1 + U{0..20} scored tasks with agent-level quality μ_i ~ N(0.7, 0.1²) and
        // per-task noise N(0, 0.2²), so y_i = x_i μ_i + 0.2 sqrt(x_i) z_i. The mean delta-method
        // variance must match the empirical variance of the pooled ratio across replications.
        const REPS: usize = 2_000;
        const AGENTS: usize = 200;
        let mut rng = Pcg64::seed_from_u64(0x5eed_de17a);
        let mut ratios = Vec::with_capacity(REPS);
        let mut delta_var_sum = 0.0;
        for _ in 0..REPS {
            let mut s = RatioSums::default();
            for _ in 0..AGENTS {
                let x = f64::from(1 + rng.random_range(0..=20u32));
                let z1: f64 = rng.sample(StandardNormal);
                let z2: f64 = rng.sample(StandardNormal);
                let mu = 0.7 + 0.1 * z1;
                s.add(x * mu + 0.2 * x.sqrt() * z2, x);
            }
            let e = s.estimate().unwrap_or_else(|| panic!("estimate exists"));
            ratios.push(e.ratio);
            delta_var_sum += e.variance;
        }
        let n = REPS as f64;
        let mean = ratios.iter().sum::<f64>() / n;
        let empirical = ratios.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let delta = delta_var_sum / n;
        let rel = delta / empirical - 1.0;
        assert!(
            rel.abs() <= 0.15,
            "delta {delta:e} vs empirical {empirical:e} ({:+.1} %)",
            100.0 * rel
        );
    }

    #[test]
    fn msprt_closed_form() {
        // V = 0.25, τ² = 1, θ̂ = 1:
        // ln Λ = ½ ln(0.25/1.25) + 1·1/(2·0.25·1.25) = ½ ln 0.2 + 1.6 = −0.804719 + 1.6
        let r = msprt(1.0, 0.25, 1.0, 0.05).unwrap_or_else(|e| panic!("{e}"));
        assert!((r.log_lr - 0.795_281_043_782_95).abs() < 1e-12, "{r:?}");
        assert!((r.p_value - (-0.795_281_043_782_95_f64).exp()).abs() < 1e-12);
        // h = sqrt(2·0.25·1.25/1 · ln(sqrt(1.25/0.25)/0.05)) = sqrt(0.625 · ln(44.72136))
        let h = (0.625 * (5f64.sqrt() / 0.05).ln()).sqrt();
        assert!((h - 1.541_194_996_944_546).abs() < 1e-12);
        assert!(r.interval.0 < 1.0 && 1.0 < r.interval.1);
        assert!((r.interval.1 - 1.0 - h).abs() < 1e-12, "{r:?}");
        assert!((1.0 - r.interval.0 - h).abs() < 1e-12, "{r:?}");
    }

    #[test]
    fn msprt_p_value_shape() {
        let (v, tau2, alpha) = (0.04, 0.01, 0.05);
        let mut last = f64::INFINITY;
        for i in 0..=80 {
            let diff = f64::from(i) * 0.025;
            let r = msprt(diff, v, tau2, alpha).unwrap_or_else(|e| panic!("{e}"));
            assert!((0.0..=1.0).contains(&r.p_value));
            assert!(r.p_value <= last, "p not decreasing at diff {diff}");
            last = r.p_value;
            let neg = msprt(-diff, v, tau2, alpha).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(neg.p_value, r.p_value);
            // The confidence sequence excludes 0 exactly when p ≤ α (away from the boundary).
            let excludes_zero = r.interval.0 > 0.0 || r.interval.1 < 0.0;
            if (r.p_value - alpha).abs() > 1e-9 {
                assert_eq!(excludes_zero, r.p_value <= alpha, "diff {diff}: {r:?}");
            }
        }
        // θ̂ = 2 is ten standard errors: ln Λ = ½ ln(0.8) + 4 · 0.01/(2 · 0.04 · 0.05) ≈ 9.89.
        assert!(last < 1e-4, "large effect is detected: {last}");
        // θ̂ = 0: Λ = sqrt(V/(V+τ²)) < 1, so 1/Λ > 1 and p is capped at 1.
        let zero = msprt(0.0, v, tau2, alpha).unwrap_or_else(|e| panic!("{e}"));
        assert!(zero.log_lr < 0.0);
        assert_eq!(zero.p_value, 1.0);
        let tiny = msprt(1e-6, v, tau2, alpha).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tiny.p_value, 1.0);
    }

    #[test]
    fn msprt_errors() {
        assert_eq!(msprt(1.0, 0.0, 1.0, 0.05), Err(TestError::ZeroVariance));
        let inv = |r: Result<SequentialResult, TestError>| matches!(r, Err(TestError::Invalid(_)));
        assert!(inv(msprt(1.0, -0.1, 1.0, 0.05)));
        assert!(inv(msprt(f64::NAN, 0.1, 1.0, 0.05)));
        assert!(inv(msprt(1.0, f64::INFINITY, 1.0, 0.05)));
        assert!(inv(msprt(1.0, 0.1, 0.0, 0.05)));
        assert!(inv(msprt(1.0, 0.1, -1.0, 0.05)));
        assert!(inv(msprt(1.0, 0.1, 1.0, 0.0)));
        assert!(inv(msprt(1.0, 0.1, 1.0, 1.0)));
        assert!(inv(msprt(1.0, 0.1, 1.0, f64::NAN)));
    }

    #[test]
    fn msprt_false_positive_rate_under_h0() {
        // θ = 0, N(0, 1) observations, 12 looks at n = 20, 40, …, 240; θ̂ is the running mean
        // with known variance V = 1/n. Reject when the running minimum p ≤ α at any look.
        const RUNS: usize = 2_000;
        const LOOKS: u32 = 12;
        const STEP: f64 = 20.0;
        let alpha = 0.05;
        let tau2 = 0.01;
        let mut rng = Pcg64::seed_from_u64(0x000a_b7e5_7000);
        let mut rejections = 0usize;
        for _ in 0..RUNS {
            let mut sum = 0.0;
            let mut min_p = 1.0_f64;
            for look in 1..=LOOKS {
                // The sum of STEP new N(0,1) draws is N(0, STEP).
                let z: f64 = rng.sample(StandardNormal);
                sum += STEP.sqrt() * z;
                let n = STEP * f64::from(look);
                let r = msprt(sum / n, 1.0 / n, tau2, alpha).unwrap_or_else(|e| panic!("{e}"));
                min_p = min_p.min(r.p_value);
            }
            if min_p <= alpha {
                rejections += 1;
            }
        }
        let rate = rejections as f64 / RUNS as f64;
        assert!(rate <= alpha + 0.015, "false-positive rate {rate}");
    }

    #[test]
    fn holm_known_example() {
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-15, "{adj:?}");
        }
        assert_eq!(holm(&[]), Vec::<f64>::new());
        assert_eq!(holm(&[0.2]), vec![0.2]);
        // Capped at 1, ties share a value, NaN counts as 1.
        assert_eq!(holm(&[0.5, 0.5, 0.9]), vec![1.0, 1.0, 1.0]);
        assert_eq!(holm(&[0.01, 0.01]), vec![0.02, 0.02]);
        assert_eq!(holm(&[f64::NAN, 0.01]), vec![1.0, 0.02]);
    }

    /// Dyadic values k/64 with |k| ≤ 64,000 (so |x| ≤ 1000): exactly representable, and so is
    /// any sum with a shift of the same kind.
    fn dyadic() -> impl Strategy<Value = f64> {
        (-64_000i32..=64_000).prop_map(|k| f64::from(k) / 64.0)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn welch_p_in_range_and_df_positive(
            a in prop::collection::vec(-1e6f64..1e6, 2..=40),
            b in prop::collection::vec(-1e6f64..1e6, 2..=40),
        ) {
            match welch_t_test(&a, &b) {
                Ok(r) => {
                    prop_assert!((0.0..=1.0).contains(&r.p_two_sided), "{r:?}");
                    prop_assert!(r.df > 0.0 && r.t.is_finite(), "{r:?}");
                    // Welch–Satterthwaite df lies between min(n)−1 and n_a+n_b−2.
                    let lo = (a.len().min(b.len()) - 1) as f64;
                    let hi = (a.len() + b.len() - 2) as f64;
                    prop_assert!(r.df >= lo * (1.0 - 1e-12) && r.df <= hi * (1.0 + 1e-12), "{r:?}");
                }
                Err(e) => prop_assert_eq!(e, TestError::ZeroVariance),
            }
        }

        #[test]
        fn welch_swap_symmetry(
            a in prop::collection::vec(-1e6f64..1e6, 2..=40),
            b in prop::collection::vec(-1e6f64..1e6, 2..=40),
        ) {
            let ab = welch_t_test(&a, &b);
            let ba = welch_t_test(&b, &a);
            match (ab, ba) {
                (Ok(x), Ok(y)) => {
                    prop_assert_eq!(x.t, -y.t);
                    prop_assert_eq!(x.df, y.df);
                    prop_assert_eq!(x.p_two_sided, y.p_two_sided);
                }
                (x, y) => prop_assert_eq!(x, y),
            }
        }

        #[test]
        fn welch_shift_invariance(
            a in prop::collection::vec(dyadic(), 2..=40),
            b in prop::collection::vec(dyadic(), 2..=40),
            shift in dyadic(),
        ) {
            let sa: Vec<f64> = a.iter().map(|x| x + shift).collect();
            let sb: Vec<f64> = b.iter().map(|x| x + shift).collect();
            match (welch_t_test(&a, &b), welch_t_test(&sa, &sb)) {
                (Ok(x), Ok(y)) => {
                    prop_assert!(close_rel(x.t, y.t, 1e-9), "{x:?} vs {y:?}");
                    prop_assert!(close_rel(x.df, y.df, 1e-9), "{x:?} vs {y:?}");
                    prop_assert!(close_rel(x.p_two_sided, y.p_two_sided, 1e-9), "{x:?} vs {y:?}");
                }
                (x, y) => prop_assert_eq!(x, y),
            }
        }

        #[test]
        fn holm_bounds_and_monotone(p in prop::collection::vec(0.0f64..=1.0, 0..30)) {
            let adj = holm(&p);
            prop_assert_eq!(adj.len(), p.len());
            for (i, (&q, &a)) in p.iter().zip(&adj).enumerate() {
                prop_assert!(a >= q && a <= 1.0, "index {i}: {q} → {a}");
                for (&q2, &a2) in p.iter().zip(&adj) {
                    if q <= q2 {
                        prop_assert!(a <= a2, "order broken: {q} → {a}, {q2} → {a2}");
                    }
                }
            }
        }
    }
}
