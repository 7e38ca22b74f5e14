//! Who gets a change during a staged rollout: a deterministic, exactly sized, stratified split
//! of the agents into a treatment and a control group.
//!
//! [`assign`] puts exactly `round(N × fraction)` agents in treatment. Departments with at least
//! `min_stratum_size` agents are strata of their own and each gets its proportional share
//! (largest-remainder apportionment), so a big department is never left out of (or swamped by)
//! the treatment by chance; the small departments are pooled into one stratum. Within a
//! stratum, agents are ranked by [`rank_key`], a hash of the agent id and the proposal id: the
//! split depends on nothing else (not on the order of the input, the platform or the run), and
//! different proposals pick different agents, so no agent is systematically in treatment.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::improve::proposal::fnv1a64;
use crate::org::Agent;

/// The name of the stratum that pools the departments smaller than the minimum stratum size.
pub const POOLED_STRATUM: &str = "(other departments)";

/// The arm of a rollout an agent is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// Runs the org version without the change.
    Control,
    /// Runs with the change.
    Treatment,
}

/// One stratum of the assignment (a department, or the pooled small departments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Stratum {
    /// The department id, or [`POOLED_STRATUM`] for the pooled small departments.
    pub name: String,
    /// How many agents the stratum has.
    pub agents: usize,
    /// How many of them are in treatment.
    pub treatment: usize,
}

/// Who gets the change. Recorded with the rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Assignment {
    /// The fraction of the agents asked to be in treatment.
    pub treatment_fraction: f64,
    /// The agents in treatment. Sorted by agent id.
    pub treatment: Vec<String>,
    /// The agents in control. Sorted by agent id.
    pub control: Vec<String>,
    /// The strata, sorted by name.
    pub strata: Vec<Stratum>,
}

impl Assignment {
    /// Everyone in treatment (before/after rollouts): fraction 1, no control group, one
    /// stratum per department (sorted by name) with all its agents in treatment. A repeated
    /// agent id is listed once.
    pub fn everyone(agents: &[Agent]) -> Assignment {
        let mut treatment: Vec<String> = agents.iter().map(|a| a.id.clone()).collect();
        treatment.sort_unstable();
        treatment.dedup();
        let mut per_department: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for a in agents {
            per_department
                .entry(a.department.as_str())
                .or_default()
                .push(a.id.as_str());
        }
        let strata = per_department
            .into_iter()
            .map(|(name, mut ids)| {
                ids.sort_unstable();
                ids.dedup();
                Stratum {
                    name: name.to_owned(),
                    agents: ids.len(),
                    treatment: ids.len(),
                }
            })
            .collect();
        Assignment {
            treatment_fraction: 1.0,
            treatment,
            control: Vec::new(),
            strata,
        }
    }

    /// The arm of `agent_id`, `None` if it is not assigned (binary search on the sorted lists).
    pub fn arm(&self, agent_id: &str) -> Option<Arm> {
        let find = |list: &[String]| list.binary_search_by(|x| x.as_str().cmp(agent_id)).is_ok();
        if find(&self.treatment) {
            Some(Arm::Treatment)
        } else if find(&self.control) {
            Some(Arm::Control)
        } else {
            None
        }
    }
}

/// The hash that ranks an agent for a proposal: [`fnv1a64`] over the bytes of `agent_id`, a
/// NUL byte and the bytes of `proposal_id`, passed through splitmix64's finaliser
/// (`z ^= z >> 30; z *= 0xbf58476d1ce4e5b9; z ^= z >> 27; z *= 0x94d049bb133111eb;
/// z ^= z >> 31`, wrapping multiplications), so that ids differing in their last byte do not
/// get correlated ranks. Pure integer arithmetic on bytes: stable across Rust versions and
/// platforms.
pub fn rank_key(agent_id: &str, proposal_id: &str) -> u64 {
    let mut bytes = Vec::with_capacity(agent_id.len() + 1 + proposal_id.len());
    bytes.extend_from_slice(agent_id.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(proposal_id.as_bytes());
    mix64(fnv1a64(&bytes))
}

/// splitmix64's finaliser (a bijection that spreads every input bit over the output).
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Splits `agents` for `proposal_id` into treatment and control.
///
/// * **Size**: exactly `T = round(N × treatment_fraction)` agents in treatment (`f64::round`,
///   halves away from zero), clamped to `[1, N]`; none when there are no agents. The fraction
///   must be in `(0, 1]`; anything else (0, negative, above 1, NaN) is an error, and so is an
///   agent id that appears twice.
/// * **Strata**: every department with at least `min_stratum_size` agents is a stratum named
///   after it; all other agents form one stratum named [`POOLED_STRATUM`] (omitted when empty).
/// * **Quotas**: stratum `s` with `n_s` agents has the ideal quota `q_s = n_s × T / N`; each
///   gets `floor(q_s)`, and the remaining `T − Σ floor(q_s)` go one by one to the strata with
///   the largest fractional parts (ties: by a per-proposal hash of the stratum name, so no stratum is favoured across proposals), never more than `n_s`.
///   Computed in integers, so it is exact. Each quota is within one agent of `q_s`.
/// * **Who**: within a stratum, agents are sorted by ([`rank_key`], agent id) and the first
///   `quota` are in treatment.
///
/// Deterministic from the (agent id, department, proposal id) triples only: the order of
/// `agents` does not matter.
pub fn assign(
    agents: &[Agent],
    proposal_id: &str,
    treatment_fraction: f64,
    min_stratum_size: usize,
) -> Result<Assignment, String> {
    if !(treatment_fraction > 0.0 && treatment_fraction <= 1.0) {
        return Err(format!(
            "the treatment fraction must be in (0, 1], found {treatment_fraction}"
        ));
    }
    let mut by_id: Vec<&Agent> = agents.iter().collect();
    by_id.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    if let Some(w) = by_id.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(format!("agent {:?} appears more than once", w[0].id));
    }

    let n = by_id.len();
    let total = treatment_total(n, treatment_fraction);

    // Strata, by name; members keep the id order of `by_id`.
    let mut per_department: BTreeMap<&str, Vec<&Agent>> = BTreeMap::new();
    for a in &by_id {
        per_department
            .entry(a.department.as_str())
            .or_default()
            .push(a);
    }
    let mut pooled: Vec<&Agent> = Vec::new();
    let mut members: BTreeMap<&str, Vec<&Agent>> = BTreeMap::new();
    for (department, list) in per_department {
        if list.len() >= min_stratum_size {
            members.insert(department, list);
        } else {
            pooled.extend(list);
        }
    }
    if !pooled.is_empty() {
        members.entry(POOLED_STRATUM).or_default().extend(pooled);
    }
    let members: Vec<(&str, Vec<&Agent>)> = members.into_iter().collect();

    let sizes: Vec<usize> = members.iter().map(|(_, list)| list.len()).collect();
    // Equal remainders are broken by a per-proposal hash of the stratum name, so no stratum
    // gets the extra seat for every proposal.
    let tiebreak: Vec<u64> = members
        .iter()
        .map(|(name, _)| rank_key(name, proposal_id))
        .collect();
    let quotas = apportion(&sizes, total, &tiebreak);

    let mut treatment = Vec::with_capacity(total);
    let mut control = Vec::with_capacity(n - total);
    let mut strata = Vec::with_capacity(members.len());
    for ((name, list), quota) in members.into_iter().zip(quotas) {
        let mut ranked: Vec<(u64, &Agent)> = list
            .iter()
            .map(|a| (rank_key(&a.id, proposal_id), *a))
            .collect();
        ranked.sort_unstable_by(|(ka, a), (kb, b)| ka.cmp(kb).then_with(|| a.id.cmp(&b.id)));
        for (i, (_, a)) in ranked.iter().enumerate() {
            if i < quota {
                treatment.push(a.id.clone());
            } else {
                control.push(a.id.clone());
            }
        }
        strata.push(Stratum {
            name: name.to_owned(),
            agents: list.len(),
            treatment: quota,
        });
    }
    treatment.sort_unstable();
    control.sort_unstable();
    Ok(Assignment {
        treatment_fraction,
        treatment,
        control,
        strata,
    })
}

/// `round(n × fraction)` clamped to `[1, n]` (0 when `n` is 0); `fraction` is in `(0, 1]`.
fn treatment_total(n: usize, fraction: f64) -> usize {
    if n == 0 {
        return 0;
    }
    let rounded = (n as f64 * fraction).round();
    // `rounded` is in [0, n]; the float-to-int `as` saturates, and the clamp bounds it anyway.
    (rounded as usize).clamp(1, n)
}

/// Largest-remainder apportionment of `total` (at most `Σ sizes`) over strata of `sizes`;
/// equal remainders go in ascending `tiebreak` order.
fn apportion(sizes: &[usize], total: usize, tiebreak: &[u64]) -> Vec<usize> {
    let n: u128 = sizes.iter().map(|&s| s as u128).sum();
    if n == 0 {
        return vec![0; sizes.len()];
    }
    let t = total as u128;
    // q_s = s × t / n = floor + remainder / n; the remainder orders the fractional parts.
    let mut quotas = Vec::with_capacity(sizes.len());
    let mut remainders = Vec::with_capacity(sizes.len());
    for &s in sizes {
        let product = s as u128 * t;
        // floor(q_s) ≤ s because t ≤ n.
        quotas.push(usize::try_from(product / n).unwrap_or(s));
        remainders.push(product % n);
    }
    let given: usize = quotas.iter().sum();
    let mut left = total.saturating_sub(given);
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| {
        remainders[b].cmp(&remainders[a]).then_with(|| {
            let ka = tiebreak.get(a).copied().unwrap_or(0);
            let kb = tiebreak.get(b).copied().unwrap_or(0);
            ka.cmp(&kb).then(a.cmp(&b))
        })
    });
    for i in order {
        if left == 0 {
            break;
        }
        if quotas[i] < sizes[i] {
            quotas[i] += 1;
            left -= 1;
        }
    }
    quotas
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn agent(id: &str, department: &str) -> Agent {
        Agent {
            id: id.to_owned(),
            role: "worker".to_owned(),
            department: department.to_owned(),
        }
    }

    /// `n` agents `agent-0000`…, spread over departments by `department(i)`.
    fn org(n: usize, department: impl Fn(usize) -> String) -> Vec<Agent> {
        (0..n)
            .map(|i| agent(&format!("agent-{i:04}"), &department(i)))
            .collect()
    }

    fn expected_total(n: usize, f: f64) -> usize {
        if n == 0 {
            0
        } else {
            ((n as f64 * f).round() as usize).clamp(1, n)
        }
    }

    /// Deterministic Fisher–Yates with a fixed LCG, so the test needs no RNG crate.
    fn shuffled(agents: &[Agent], seed: u64) -> Vec<Agent> {
        let mut v = agents.to_vec();
        let mut state = seed;
        for i in (1..v.len()).rev() {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let j = ((state >> 33) as usize) % (i + 1);
            v.swap(i, j);
        }
        v
    }

    fn check_partition(agents: &[Agent], a: &Assignment) {
        let all: BTreeSet<&str> = agents.iter().map(|x| x.id.as_str()).collect();
        let t: BTreeSet<&str> = a.treatment.iter().map(String::as_str).collect();
        let c: BTreeSet<&str> = a.control.iter().map(String::as_str).collect();
        assert!(t.is_disjoint(&c));
        assert_eq!(t.union(&c).copied().collect::<BTreeSet<_>>(), all);
        assert!(a.treatment.windows(2).all(|w| w[0] < w[1]));
        assert!(a.control.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            a.strata.iter().map(|s| s.agents).sum::<usize>(),
            agents.len()
        );
        assert_eq!(
            a.strata.iter().map(|s| s.treatment).sum::<usize>(),
            a.treatment.len()
        );
    }

    #[test]
    fn rank_key_is_pinned() {
        // The documented construction, spelled out; pinned so that a change is noticed.
        let mut bytes = b"agent-1".to_vec();
        bytes.push(0);
        bytes.extend_from_slice(b"p1");
        assert_eq!(rank_key("agent-1", "p1"), mix64(fnv1a64(&bytes)));
        assert_eq!(rank_key("agent-1", "p1"), 0x97a5_a5ea_f612_dc0d);
        assert_eq!(mix64(0), 0);
        assert_eq!(mix64(1), 0x5692_161d_100b_05e5);
        // The NUL separator: ("ab", "c") and ("a", "bc") differ.
        assert_ne!(rank_key("ab", "c"), rank_key("a", "bc"));
    }

    #[test]
    fn exact_sizes_for_many_n_and_fractions() {
        for n in 0..=120 {
            let agents = org(n, |i| format!("d{}", i % 7));
            for step in 1..=100 {
                let f = f64::from(step) / 100.0;
                let a = assign(&agents, "p", f, 5).unwrap();
                assert_eq!(a.treatment.len(), expected_total(n, f), "n={n} f={f}");
                check_partition(&agents, &a);
            }
        }
    }

    #[test]
    fn tiny_fractions_still_treat_one_agent() {
        let agents = org(10, |_| "d".to_owned());
        let a = assign(&agents, "p", 0.001, 1).unwrap();
        assert_eq!(a.treatment.len(), 1);
        assert_eq!(a.control.len(), 9);
        let a = assign(&agents, "p", 1.0, 1).unwrap();
        assert_eq!(a.treatment.len(), 10);
        assert!(a.control.is_empty());
        let empty = assign(&[], "p", 0.5, 1).unwrap();
        assert!(empty.treatment.is_empty() && empty.control.is_empty() && empty.strata.is_empty());
    }

    #[test]
    fn deterministic_and_independent_of_input_order() {
        let agents = org(97, |i| format!("dept-{}", i % 5));
        let first = assign(&agents, "proposal-x", 0.3, 10).unwrap();
        assert_eq!(assign(&agents, "proposal-x", 0.3, 10).unwrap(), first);
        for seed in 0..20 {
            let s = shuffled(&agents, seed);
            assert_eq!(assign(&s, "proposal-x", 0.3, 10).unwrap(), first);
        }
    }

    #[test]
    fn different_proposals_pick_different_agents() {
        let agents = org(100, |i| format!("dept-{}", i % 4));
        let a = assign(&agents, "proposal-a", 0.2, 10).unwrap();
        let b = assign(&agents, "proposal-b", 0.2, 10).unwrap();
        assert_eq!(a.treatment.len(), b.treatment.len());
        assert_ne!(a.treatment, b.treatment);
        // Not merely a permutation of one agent: the overlap is far from complete.
        let sa: BTreeSet<&String> = a.treatment.iter().collect();
        let overlap = b.treatment.iter().filter(|x| sa.contains(x)).count();
        assert!(overlap < a.treatment.len() - 3, "overlap {overlap}");
    }

    #[test]
    fn strata_keep_big_departments_proportional() {
        // Departments of 40, 30, 20, 5 and 5 agents; the two small ones are pooled.
        let sizes = [
            ("eng", 40),
            ("support", 30),
            ("sales", 20),
            ("legal", 5),
            ("hr", 5),
        ];
        let mut agents = Vec::new();
        for (dept, count) in sizes {
            for i in 0..count {
                agents.push(agent(&format!("{dept}-{i:02}"), dept));
            }
        }
        for step in 1..=20 {
            let f = f64::from(step) / 20.0;
            for p in 0..25 {
                let a = assign(&agents, &format!("p{p}"), f, 10).unwrap();
                check_partition(&agents, &a);
                let names: Vec<&str> = a.strata.iter().map(|s| s.name.as_str()).collect();
                assert_eq!(names, [POOLED_STRATUM, "eng", "sales", "support"]);
                for (dept, count) in &sizes[..3] {
                    let treated = a
                        .treatment
                        .iter()
                        .filter(|id| id.starts_with(&format!("{dept}-")))
                        .count();
                    let ideal = f64::from(*count) * f;
                    assert!(
                        (treated as f64 - ideal).abs() <= 1.0,
                        "{dept}: {treated} treated, ideal {ideal} (f={f})"
                    );
                    let stratum = a.strata.iter().find(|s| s.name == *dept).unwrap();
                    assert_eq!(stratum.treatment, treated);
                    assert_eq!(stratum.agents, *count as usize);
                }
                let pooled = &a.strata[0];
                assert_eq!(pooled.agents, 10);
            }
        }
    }

    #[test]
    fn largest_remainder_ties_go_by_tiebreak() {
        // Three strata of 5 at 0.5 of 15 → T = 8 (7.5 rounds up): 2.67 each, floors 2+2+2,
        // two extra seats, to the two smallest tiebreak keys.
        assert_eq!(apportion(&[5, 5, 5], 8, &[0, 1, 2]), vec![3, 3, 2]);
        assert_eq!(apportion(&[5, 5, 5], 8, &[9, 1, 2]), vec![2, 3, 3]);
        assert_eq!(apportion(&[1, 9], 5, &[0, 1]), vec![1, 4]);
        assert_eq!(apportion(&[2, 9], 5, &[0, 1]), vec![1, 4]);
        assert_eq!(apportion(&[3, 3], 6, &[0, 1]), vec![3, 3]);
        assert_eq!(apportion(&[], 0, &[]), Vec::<usize>::new());
    }

    /// How often each agent is in treatment over 1000 proposals at 0.2.
    fn treatment_frequencies(agents: &[Agent], min_stratum_size: usize) -> Vec<(String, f64)> {
        let mut counts = BTreeMap::<String, usize>::new();
        let runs = 1000;
        for p in 0..runs {
            let a = assign(agents, &format!("proposal-{p:04}"), 0.2, min_stratum_size).unwrap();
            assert_eq!(a.treatment.len(), 10);
            for id in a.treatment {
                *counts.entry(id).or_default() += 1;
            }
        }
        agents
            .iter()
            .map(|x| {
                let n = counts.get(&x.id).copied().unwrap_or(0);
                (x.id.clone(), n as f64 / f64::from(runs))
            })
            .collect()
    }

    #[test]
    fn no_agent_is_systematically_favoured() {
        // One pool, and five strata of ten whose quotas (2 each) are exact.
        for (agents, min) in [
            (org(50, |_| "everyone".to_owned()), 1),
            (org(50, |i| format!("dept-{}", i % 5)), 10),
            (org(50, |i| format!("dept-{}", i % 13)), 100),
        ] {
            for (id, freq) in treatment_frequencies(&agents, min) {
                assert!((freq - 0.2).abs() <= 0.05, "{id} treated {freq}");
            }
        }
    }

    #[test]
    fn uneven_strata_share_the_extra_seat_across_proposals() {
        // 17, 17 and 16 agents at 0.2: T = 10, ideal quotas 3.4, 3.4 and 3.2. The extra seat
        // goes to dept-0 or dept-1 (equal remainders), chosen per proposal by hash, so over
        // many proposals no department's agents are favoured beyond the seat arithmetic.
        let agents = org(50, |i| format!("dept-{}", i % 3));
        let freqs = treatment_frequencies(&agents, 10);
        let mean = |dept: usize| {
            let v: Vec<f64> = freqs
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 3 == dept)
                .map(|(_, (_, f))| *f)
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        // dept-0 and dept-1 each get 4 seats half of the time: 3.5/17 ≈ 0.206; dept-2 3/16.
        for (dept, expected) in [(0, 3.5 / 17.0), (1, 3.5 / 17.0), (2, 3.0 / 16.0)] {
            assert!(
                (mean(dept) - expected).abs() < 0.01,
                "dept-{dept}: {} vs {expected}",
                mean(dept)
            );
        }
        for (id, freq) in &freqs {
            assert!((freq - 0.2).abs() <= 0.05, "{id} treated {freq}");
        }
    }

    #[test]
    fn everyone_is_in_treatment() {
        let agents = vec![agent("b", "eng"), agent("a", "ops"), agent("c", "eng")];
        let a = Assignment::everyone(&agents);
        assert_eq!(a.treatment, ["a", "b", "c"]);
        assert!(a.control.is_empty());
        assert_eq!(a.treatment_fraction, 1.0);
        assert_eq!(
            a.strata,
            vec![
                Stratum {
                    name: "eng".to_owned(),
                    agents: 2,
                    treatment: 2
                },
                Stratum {
                    name: "ops".to_owned(),
                    agents: 1,
                    treatment: 1
                },
            ]
        );
        assert_eq!(a.arm("a"), Some(Arm::Treatment));
        assert_eq!(a.arm("z"), None);
    }

    #[test]
    fn arm_looks_up_both_lists() {
        let agents = org(30, |i| format!("d{}", i % 2));
        let a = assign(&agents, "p", 0.5, 1).unwrap();
        for id in &a.treatment {
            assert_eq!(a.arm(id), Some(Arm::Treatment));
        }
        for id in &a.control {
            assert_eq!(a.arm(id), Some(Arm::Control));
        }
        assert_eq!(a.arm("nobody"), None);
    }

    #[test]
    fn bad_fractions_and_duplicates_are_errors() {
        let agents = org(10, |_| "d".to_owned());
        for f in [0.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            let e = assign(&agents, "p", f, 1).unwrap_err();
            assert!(e.contains("treatment fraction"), "{e}");
        }
        let mut dup = agents.clone();
        dup.push(agent("agent-0003", "other"));
        let e = assign(&dup, "p", 0.5, 1).unwrap_err();
        assert_eq!(e, "agent \"agent-0003\" appears more than once");
    }

    #[test]
    fn serde_shapes() {
        assert_eq!(
            serde_json::to_string(&Arm::Treatment).unwrap(),
            "\"treatment\""
        );
        let a = assign(&org(4, |_| "d".to_owned()), "p", 0.5, 1).unwrap();
        let back: Assignment = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn sizes_partition_and_order_independence(
            n in 0usize..200,
            departments in 1usize..12,
            f in 0.0001f64..=1.0,
            min in 0usize..30,
            seed in any::<u64>(),
            proposal in "[a-z0-9]{1,12}",
        ) {
            let agents = org(n, |i| format!("d{}", (i * 7 + i / 3) % departments));
            let a = assign(&agents, &proposal, f, min).unwrap();
            prop_assert_eq!(a.treatment.len(), expected_total(n, f));
            check_partition(&agents, &a);
            let total = a.treatment.len();
            for s in &a.strata {
                // Each quota is within one agent of its ideal share n_s × T / N.
                let ideal = s.agents as f64 * total as f64 / n as f64;
                prop_assert!((s.treatment as f64 - ideal).abs() < 1.0);
                prop_assert!(s.treatment <= s.agents);
                prop_assert!(s.name == POOLED_STRATUM || s.agents >= min);
            }
            prop_assert_eq!(assign(&shuffled(&agents, seed), &proposal, f, min).unwrap(), a);
        }
    }
}
