//! A small deterministic random number generator and the distributions the simulation draws
//! from. No dependency, so the same seed gives the same organisation on every platform and
//! with every version of the `rand` crates.
//!
//! Streams are keyed: [`Rng::keyed`] derives an independent generator from the run's seed and a
//! few integers (an agent's index, the simulated hour, a purpose tag). The run with kaizen's
//! loop and the counterfactual run without it therefore draw the *same* numbers for the same
//! agent and hour, and differ only where the configuration they read differs (common random
//! numbers: the comparison is not drowned in sampling noise).

/// splitmix64's finaliser: a bijective 64-bit mix.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// xoshiro256** seeded through splitmix64.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let mut next = || {
            sm = sm.wrapping_add(0x9e37_79b9_7f4a_7c15);
            mix64(sm)
        };
        let s = [next(), next(), next(), next()];
        Self { s }
    }

    /// An independent generator for `seed` and `key` (e.g. `[PURPOSE, agent, hour]`).
    pub fn keyed(seed: u64, key: &[u64]) -> Self {
        let mut h = mix64(seed ^ 0x6a09_e667_f3bc_c908);
        for (i, k) in key.iter().enumerate() {
            h = mix64(
                h ^ mix64(k.wrapping_add((i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))),
            );
        }
        Self::new(h)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in [0, n); 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's multiply-shift; the bias is below 2^-64 × n, irrelevant here.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// `true` with probability `p` (clamped to [0, 1]).
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p.clamp(0.0, 1.0)
    }

    /// Standard normal (Box–Muller; one of the pair is discarded to keep streams simple).
    pub fn normal(&mut self) -> f64 {
        // 1 − unit() is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Normal with mean `mean` and standard deviation `sd`.
    pub fn gauss(&mut self, mean: f64, sd: f64) -> f64 {
        mean + sd * self.normal()
    }

    /// Log-normal with mean 1: `exp(σ Z − σ²/2)`.
    pub fn jitter(&mut self, sigma: f64) -> f64 {
        (sigma * self.normal() - sigma * sigma / 2.0).exp()
    }

    /// Poisson with mean `lambda` (Knuth's product method below 30, a rounded normal above).
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda.is_nan() || lambda <= 0.0 || lambda.is_infinite() {
            return 0;
        }
        if lambda >= 30.0 {
            return self.gauss(lambda, lambda.sqrt()).round().max(0.0) as u64;
        }
        let limit = (-lambda).exp();
        let mut k = 0u64;
        let mut p = self.unit();
        while p > limit {
            k += 1;
            p *= self.unit();
        }
        k
    }

    /// An index drawn with the given non-negative `weights` (the last index when they sum to
    /// zero).
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

    #[test]
    fn same_seed_same_numbers_and_keys_are_independent() {
        let a: Vec<u64> = {
            let mut r = Rng::keyed(7, &[1, 2]);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::keyed(7, &[1, 2]);
            (0..5).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng::keyed(7, &[2, 1]);
            (0..5).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
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
        let w = [0.0, 1.0, 3.0];
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[r.weighted(&w)] += 1;
        }
        assert_eq!(counts[0], 0);
        assert!((f64::from(counts[2]) / 40_000.0 - 0.75).abs() < 0.01);
        for _ in 0..1000 {
            assert!(r.below(7) < 7);
        }
        assert_eq!(r.below(0), 0);
    }
}
