//! Mergeable summary statistics: the unit of a rollup.

use serde::{Deserialize, Serialize};

/// Count, sum, sum of squares, min and max of a numeric signal.
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
    };

    /// A single observation.
    pub fn of(x: f64) -> Stat {
        Stat::weighted(x, 1.0)
    }

    /// An observation `x` seen `w` times.
    pub fn weighted(x: f64, w: f64) -> Stat {
        Stat {
            n: w,
            sum: x * w,
            sumsq: x * x * w,
            min: x,
            max: x,
        }
    }

    /// Adds one observation.
    pub fn add(&mut self, x: f64) {
        self.merge(&Stat::of(x));
    }

    /// Merges another summary into this one.
    pub fn merge(&mut self, other: &Stat) {
        self.n += other.n;
        self.sum += other.sum;
        self.sumsq += other.sumsq;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Whether nothing was observed.
    pub fn is_empty(&self) -> bool {
        self.n <= 0.0
    }

    /// The mean, or `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (self.n > 0.0).then(|| self.sum / self.n)
    }

    /// The unbiased sample variance, or `None` with fewer than two observations.
    pub fn variance(&self) -> Option<f64> {
        if self.n < 2.0 {
            return None;
        }
        let mean = self.sum / self.n;
        // Guard tiny negative values from cancellation.
        Some(((self.sumsq - self.n * mean * mean) / (self.n - 1.0)).max(0.0))
    }
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

    proptest! {
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
