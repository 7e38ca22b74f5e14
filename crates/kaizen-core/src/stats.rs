//! Mergeable summary statistics: the unit of a rollup.
//!
//! Sums are compensated: each [`Stat`] carries the rounding error of its `sum` and `sumsq`
//! (Neumaier's variant of Kahan summation, kept as a second word as in double-double
//! arithmetic), so merging many small observations into a large total loses nothing to
//! rounding, and `sum` is always the best estimate of the exact sum. The compensation is not
//! persisted: a stored rollup row holds the rounded `sum`, which is within half an ulp of the
//! exact sum of what it absorbed. Sums saturate at `±f64::MAX` instead of overflowing to
//! infinity, so a `Stat` built from finite observations is finite (see `is_finite`).

use serde::{Deserialize, Serialize};

/// Count, sum, sum of squares, min and max of a numeric signal (plus the compensation terms
/// of the two sums).
///
/// `Stat`s merge associatively and commutatively, which is what lets rollups be built in any
/// order, in any batches, and re-aggregated across buckets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Number of observations (a weight, for weighted observations).
    pub n: f64,
    /// Sum of the observations.
    pub sum: f64,
    /// Sum of the squared observations.
    pub sumsq: f64,
    /// Smallest observation (`+inf` when empty).
    pub min: f64,
    /// Largest observation (`-inf` when empty).
    pub max: f64,
    /// Rounding error of `sum` (exact sum ≈ `sum + sum_err`).
    #[serde(skip)]
    sum_err: f64,
    /// Rounding error of `sumsq`.
    #[serde(skip)]
    sumsq_err: f64,
}

/// Adds `b` to the compensated pair (`sum`, `err`), keeping `sum` the rounded best estimate
/// and `err` what rounding lost (Knuth's TwoSum followed by a renormalisation). Saturates at
/// `±f64::MAX`; a non-finite addend makes the sum non-finite (and the error 0).
fn add_compensated(sum: &mut f64, err: &mut f64, b: f64, b_err: f64) {
    let a = *sum;
    let s = a + b;
    if !s.is_finite() {
        *sum = saturate(s);
        *err = 0.0;
        return;
    }
    // TwoSum: `s + e == a + b` exactly.
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    let e = e + *err + b_err;
    let t = s + e;
    if !t.is_finite() {
        *sum = saturate(t);
        *err = 0.0;
        return;
    }
    *err = e - (t - s);
    *sum = t;
}

/// `±inf` → `±f64::MAX`; NaN stays NaN (it cannot come from finite inputs).
fn saturate(x: f64) -> f64 {
    if x.is_nan() {
        x
    } else {
        x.clamp(-f64::MAX, f64::MAX)
    }
}

impl Default for Stat {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl Stat {
    /// No observations.
    pub const EMPTY: Stat = Stat {
        n: 0.0,
        sum: 0.0,
        sumsq: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        sum_err: 0.0,
        sumsq_err: 0.0,
    };

    /// A summary from its stored parts (no compensation terms).
    pub fn from_parts(n: f64, sum: f64, sumsq: f64, min: f64, max: f64) -> Stat {
        Stat {
            n,
            sum,
            sumsq,
            min,
            max,
            sum_err: 0.0,
            sumsq_err: 0.0,
        }
    }

    /// A single observation.
    pub fn of(x: f64) -> Stat {
        Stat::weighted(x, 1.0)
    }

    /// An observation `x` seen `w` times.
    pub fn weighted(x: f64, w: f64) -> Stat {
        Stat::from_parts(w, saturate(x * w), saturate(x * x * w), x, x)
    }

    /// Adds one observation.
    pub fn add(&mut self, x: f64) {
        self.merge(&Stat::of(x));
    }

    /// Merges another summary into this one.
    pub fn merge(&mut self, other: &Stat) {
        self.n += other.n;
        add_compensated(&mut self.sum, &mut self.sum_err, other.sum, other.sum_err);
        add_compensated(
            &mut self.sumsq,
            &mut self.sumsq_err,
            other.sumsq,
            other.sumsq_err,
        );
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Whether the count and the sums are finite numbers (`min`/`max` are ±∞ when empty by
    /// design and are not checked).
    pub fn is_finite(&self) -> bool {
        self.n.is_finite() && self.sum.is_finite() && self.sumsq.is_finite()
    }

    /// Whether nothing was observed.
    pub fn is_empty(&self) -> bool {
        self.n <= 0.0
    }

    /// The mean, or `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0.0)
            .then(|| self.sum / self.n)
            .filter(|m| m.is_finite())
    }

    /// The unbiased sample variance, or `None` with fewer than two observations.
    pub fn variance(&self) -> Option<f64> {
        if self.n < 2.0 {
            return None;
        }
        let mean = self.sum / self.n;
        // Guard tiny negative values from cancellation.
        let var = ((self.sumsq - self.n * mean * mean) / (self.n - 1.0)).max(0.0);
        var.is_finite().then_some(var)
    }
}

/// The compensated (Neumaier) sum of `values`, saturating at `±f64::MAX`.
pub fn fsum(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut sum, mut err) = (0.0, 0.0);
    for v in values {
        add_compensated(&mut sum, &mut err, v, 0.0);
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mean_and_variance() {
        let mut s = Stat::EMPTY;
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            s.add(x);
        }
        assert_eq!(s.mean(), Some(5.0));
        // Sample variance of that classic set is 32/7.
        let var = s.variance().unwrap_or(f64::NAN);
        assert!((var - 32.0 / 7.0).abs() < 1e-12);
        assert_eq!((s.min, s.max), (2.0, 9.0));
        assert_eq!(Stat::EMPTY.mean(), None);
        assert_eq!(Stat::of(1.0).variance(), None);
    }

    #[test]
    fn many_small_additions_to_a_large_total_are_not_lost() {
        // Naively, 1e16 + 1.0 == 1e16: ten thousand additions of 1 vanish.
        let mut s = Stat::of(1e16);
        for _ in 0..10_000 {
            s.add(1.0);
        }
        assert_eq!(s.sum, 1e16 + 10_000.0);
        // And 0.1 a million times: the naive sum drifts, the compensated one does not.
        let mut tenth = Stat::EMPTY;
        for _ in 0..1_000_000 {
            tenth.add(0.1);
        }
        let naive: f64 = std::iter::repeat_n(0.1, 1_000_000).sum();
        assert!((naive - 1e5).abs() > 1e-7, "naive sum was exact: {naive}");
        assert!((tenth.sum - 1e5).abs() <= 1e-10, "{}", tenth.sum);
    }

    #[test]
    fn fsum_is_compensated_and_saturates() {
        assert_eq!(fsum([1e16, 1.0, 1.0, 1.0, 1.0]), 1e16 + 4.0);
        assert_eq!(fsum([1e308, 1e308, -1e308]), f64::MAX - 1e308);
        assert_eq!(fsum(std::iter::empty()), 0.0);
    }

    #[test]
    fn sums_saturate_instead_of_overflowing() {
        let mut s = Stat::EMPTY;
        for _ in 0..3 {
            s.add(1.7e308);
        }
        assert_eq!(s.sum, f64::MAX);
        assert_eq!(s.sumsq, f64::MAX);
        assert!(s.is_finite());
        assert!(s.mean().is_some_and(f64::is_finite));
        assert!(Stat::EMPTY.is_finite());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn merge_is_order_independent(xs in proptest::collection::vec(-1e6f64..1e6, 0..50), split in 0usize..50) {
            let split = split.min(xs.len());
            let mut whole = Stat::EMPTY;
            xs.iter().for_each(|x| whole.add(*x));
            let (a, b) = xs.split_at(split);
            let mut left = Stat::EMPTY;
            a.iter().for_each(|x| left.add(*x));
            let mut right = Stat::EMPTY;
            b.iter().for_each(|x| right.add(*x));
            right.merge(&left);
            prop_assert_eq!(whole.n, right.n);
            prop_assert!((whole.sum - right.sum).abs() <= 1e-6 * (1.0 + whole.sum.abs()));
            prop_assert_eq!(whole.min, right.min);
            prop_assert_eq!(whole.max, right.max);
        }
    }
}
