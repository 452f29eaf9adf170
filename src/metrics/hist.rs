//! A histogram in atomics: the query path adds one observation with two relaxed increments and
//! no lock (prometheus-client's own histogram takes a lock per observation).

use std::sync::atomic::{AtomicU64, Ordering};

/// Fixed buckets chosen at construction; the upper bounds are in the metric's base unit and the
/// observations in an integer sub-unit (`scale` sub-units make one base unit).
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds in sub-units, increasing.
    bounds: &'static [u64],
    /// One count per bound, plus the `+Inf` bucket; not cumulative (the scrape sums them).
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
    scale: f64,
}

impl Histogram {
    /// A histogram over `bounds` (sub-units), `scale` sub-units per base unit.
    pub fn new(bounds: &'static [u64], scale: f64) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
            scale,
        }
    }

    /// Adds one observation of `v` sub-units.
    #[inline]
    pub fn observe(&self, v: u64) {
        self.observe_n(v, 1);
    }

    /// Adds `n` observations of `v` sub-units each.
    #[inline]
    pub fn observe_n(&self, v: u64, n: u64) {
        if n == 0 {
            return;
        }
        let i = self.bounds.partition_point(|&b| b < v);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(n, Ordering::Relaxed);
        }
        self.sum.fetch_add(v.saturating_mul(n), Ordering::Relaxed);
    }

    /// The sum (base units), the count, and the buckets `(upper bound, count in this bucket
    /// alone)`, `+Inf` last: prometheus-client's encoders make them cumulative.
    pub fn snapshot(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut total = 0;
        let mut buckets = Vec::with_capacity(self.counts.len());
        for (i, c) in self.counts.iter().enumerate() {
            let n = c.load(Ordering::Relaxed);
            total += n;
            let bound = self
                .bounds
                .get(i)
                .map_or(f64::INFINITY, |&b| b as f64 / self.scale);
            buckets.push((bound, n));
        }
        let sum = self.sum.load(Ordering::Relaxed) as f64 / self.scale;
        (sum, total, buckets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive() {
        static B: [u64; 3] = [10, 100, 1000];
        let h = Histogram::new(&B, 1000.0);
        for v in [1, 10, 11, 100, 5000] {
            h.observe(v);
        }
        let (sum, count, buckets) = h.snapshot();
        assert_eq!(count, 5);
        let n = Histogram::new(&B, 1000.0);
        n.observe_n(11, 3);
        n.observe_n(5000, 0);
        assert_eq!(
            n.snapshot(),
            (
                0.033,
                3,
                vec![(0.01, 0), (0.1, 3), (1.0, 0), (f64::INFINITY, 0)]
            )
        );
        assert!((sum - 5.122).abs() < 1e-9);
        assert_eq!(
            buckets,
            vec![(0.01, 2), (0.1, 2), (1.0, 0), (f64::INFINITY, 1)]
        );
    }
}
