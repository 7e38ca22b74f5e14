//! The simulators' random numbers: one stack (`rand`, `rand_pcg`'s `Pcg64`, `rand_distr`) for
//! the dataset generator and for `kaizen-lab`'s organisation.
//!
//! [`Rng`] wraps a `Pcg64` with the draws the simulations need. `Pcg64` is a portable,
//! reproducible generator: the same seed gives the same numbers on every platform.
//!
//! Streams are keyed: [`Rng::keyed`] derives an independent generator from a run's seed and a
//! few integers (an agent's index, the simulated hour, a purpose tag), so that two runs that
//! share a seed draw the *same* numbers for the same key whatever else they draw (common random
//! numbers).

use rand::{Rng as _, RngExt, SeedableRng};
use rand_distr::{Poisson, StandardNormal};
use rand_pcg::Pcg64;

/// A seeded `Pcg64` with the simulations' distributions.
#[derive(Debug, Clone)]
pub struct Rng(Pcg64);

impl Rng {
    /// A generator seeded with `seed` (`Pcg64::seed_from_u64`).
    pub fn new(seed: u64) -> Self {
        Rng(Pcg64::seed_from_u64(seed))
    }

    /// An independent generator for `seed` and `key` (e.g. `[PURPOSE, agent, hour]`): each key
    /// element in turn is combined with the first output of the generator seeded so far, which
    /// seeds the next one. Different keys (also keys that differ only in order or length) give
    /// unrelated streams.
    pub fn keyed(seed: u64, key: &[u64]) -> Self {
        let mut rng = Pcg64::seed_from_u64(seed);
        for k in key {
            let s = rng.next_u64() ^ *k;
            rng = Pcg64::seed_from_u64(s);
        }
        Rng(rng)
    }

    /// The underlying `Pcg64`, for draws from other `rand_distr` distributions.
    pub fn pcg(&mut self) -> &mut Pcg64 {
        &mut self.0
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0.random::<f64>()
    }

    /// Uniform in [lo, hi) (`lo` when the range is empty).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in [0, n); 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.0.random_range(0..n)
    }

    /// `true` with probability `p` (clamped to [0, 1]; never for NaN).
    pub fn chance(&mut self, p: f64) -> bool {
        if p.is_nan() {
            return false;
        }
        self.0.random_bool(p.clamp(0.0, 1.0))
    }

    /// Standard normal.
    pub fn normal(&mut self) -> f64 {
        self.0.sample(StandardNormal)
    }

    /// Normal with mean `mean` and standard deviation `sd`.
    pub fn gauss(&mut self, mean: f64, sd: f64) -> f64 {
        mean + sd * self.normal()
    }

    /// Log-normal with mean 1: `exp(σ Z − σ²/2)`.
    pub fn jitter(&mut self, sigma: f64) -> f64 {
        (sigma * self.normal() - sigma * sigma / 2.0).exp()
    }

    /// Poisson with mean `lambda`; 0 when `lambda` is not a positive finite number (or too
    /// large for `rand_distr`).
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if !(lambda.is_finite() && lambda > 0.0) {
            return 0;
        }
        match Poisson::new(lambda) {
            Ok(p) => {
                let x: f64 = self.0.sample(p);
                x as u64
            }
            Err(_) => 0,
        }
    }

    /// An index drawn with the given non-negative `weights` (negative ones count as 0; the last
    /// index when they sum to zero).
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().map(|w| w.max(0.0)).sum();
        if total <= 0.0 {
            return weights.len().saturating_sub(1);
        }
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            x -= w.max(0.0);
            if x < 0.0 {
                return i;
            }
        }
        weights.len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(mut r: Rng) -> Vec<u64> {
        (0..5).map(|_| r.next_u64()).collect()
    }

    #[test]
    fn same_seed_same_numbers_and_keys_are_independent() {
        assert_eq!(draws(Rng::keyed(7, &[1, 2])), draws(Rng::keyed(7, &[1, 2])));
        assert_ne!(draws(Rng::keyed(7, &[1, 2])), draws(Rng::keyed(7, &[2, 1])));
        assert_ne!(draws(Rng::keyed(7, &[1])), draws(Rng::keyed(7, &[1, 0])));
        assert_ne!(draws(Rng::keyed(7, &[1, 2])), draws(Rng::keyed(8, &[1, 2])));
        assert_eq!(draws(Rng::new(3)), draws(Rng::new(3)));
    }

    #[test]
    fn distributions_have_their_moments() {
        let mut r = Rng::new(42);
        let n = 200_000;
        let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
        let normals: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let m = mean(&normals);
        let var = normals.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.01, "{m}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
        let jit: Vec<f64> = (0..n).map(|_| r.jitter(0.5)).collect();
        assert!((mean(&jit) - 1.0).abs() < 0.01, "{}", mean(&jit));
        for lambda in [0.3, 4.0, 50.0] {
            let p: Vec<f64> = (0..n).map(|_| r.poisson(lambda) as f64).collect();
            assert!(
                (mean(&p) - lambda).abs() < 0.02 * lambda.max(1.0),
                "{lambda}"
            );
        }
        assert_eq!(r.poisson(0.0), 0);
        assert_eq!(r.poisson(f64::NAN), 0);
        let w = [0.0, 1.0, 3.0];
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[r.weighted(&w)] += 1;
        }
        assert_eq!(counts[0], 0);
        assert!((f64::from(counts[2]) / 40_000.0 - 0.75).abs() < 0.01);
        for _ in 0..1000 {
            assert!(r.below(7) < 7);
            let u = r.uniform(2.0, 3.0);
            assert!((2.0..3.0).contains(&u));
        }
        assert_eq!(r.below(0), 0);
        assert!(!r.chance(f64::NAN));
        assert!(!r.chance(-1.0));
        assert!(r.chance(2.0));
    }
}
