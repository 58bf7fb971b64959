/// Durations below this many seconds are kept exactly.
const EXACT: u64 = 256;
/// Above [`EXACT`], each doubling of the duration is cut into 2^6 = 64 bins: a bin's middle
/// is within 1/128 (0.8 %) of anything in it.
const SUB_BITS: u32 = 6;
const SUBS: u64 = 1 << SUB_BITS;

/// How many times took how long: a histogram of durations in seconds from which medians
/// and other percentiles are read, exact below 256 seconds and within 0.8 % above. Two of
/// them add up exactly, so a month's percentiles come from its days' histograms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Durations {
    /// (bin, how many), by bin: merging two is one pass over both.
    bins: Vec<(u32, u64)>,
    count: u64,
}

fn bin_of(seconds: i64) -> u32 {
    let v = u64::try_from(seconds).unwrap_or(0);
    if v < EXACT {
        return v as u32;
    }
    let octave = 63 - v.leading_zeros(); // ≥ 8
    let sub = (v >> (octave - SUB_BITS)) - SUBS;
    (EXACT + u64::from(octave - 8) * SUBS + sub) as u32
}

/// The seconds a bin stands for: itself when exact, its middle otherwise.
fn seconds_of(bin: u32) -> i64 {
    let bin = u64::from(bin);
    if bin < EXACT {
        return bin as i64;
    }
    let k = bin - EXACT;
    let octave = 8 + (k / SUBS) as u32;
    let shift = octave - SUB_BITS;
    let low = (SUBS + k % SUBS) << shift;
    (low + ((1u64 << shift) >> 1)) as i64
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (first, rest) = bytes.split_first()?;
        *bytes = rest;
        v |= u64::from(first & 0x7f) << shift;
        if first & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

impl Durations {
    /// Counts one duration; negative ones (clocks a little apart) count as zero.
    pub fn record(&mut self, seconds: i64) {
        let bin = bin_of(seconds);
        match self.bins.binary_search_by_key(&bin, |(b, _)| *b) {
            Ok(i) => self.bins[i].1 += 1,
            Err(i) => self.bins.insert(i, (bin, 1)),
        }
        self.count += 1;
    }

    /// Adds another histogram's counts to this one.
    pub fn merge(&mut self, other: &Durations) {
        if other.bins.is_empty() {
            return;
        }
        if self.bins.is_empty() {
            self.clone_from(other);
            return;
        }
        let (a, b) = (&self.bins, &other.bins);
        let mut merged = Vec::with_capacity(a.len().max(b.len()));
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            let (x, y) = (a[i], b[j]);
            match x.0.cmp(&y.0) {
                std::cmp::Ordering::Equal => {
                    merged.push((x.0, x.1 + y.1));
                    i += 1;
                    j += 1;
                }
                std::cmp::Ordering::Less => {
                    merged.push(x);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    merged.push(y);
                    j += 1;
                }
            }
        }
        merged.extend_from_slice(&a[i..]);
        merged.extend_from_slice(&b[j..]);
        self.bins = merged;
        self.count += other.count;
    }

    /// How many durations were counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `q` quantile (0 < q ≤ 1) by nearest rank: the smallest duration with at least
    /// `q` of all of them at or below it (the median of 1, 2, 3, 4 is 2). `None` when
    /// nothing was counted.
    pub fn quantile(&self, q: f64) -> Option<i64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (bin, n) in &self.bins {
            seen += n;
            if seen >= rank {
                return Some(seconds_of(*bin));
            }
        }
        None
    }

    /// The histogram as stored: for each bin in order, the distance from the previous one
    /// and its count, as LEB128 varints — a day's histogram of a few hundred bins is a
    /// few hundred bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bins.len() * 3);
        let mut last = 0;
        for (bin, n) in &self.bins {
            put_varint(&mut out, u64::from(bin - last));
            put_varint(&mut out, *n);
            last = *bin;
        }
        out
    }

    /// A histogram read back from [`Durations::to_bytes`]; a truncated end is dropped.
    pub fn from_bytes(mut bytes: &[u8]) -> Self {
        let mut out = Self::default();
        let mut bin = 0u64;
        while !bytes.is_empty() {
            let (Some(delta), Some(n)) = (take_varint(&mut bytes), take_varint(&mut bytes)) else {
                break;
            };
            bin += delta;
            let Ok(b) = u32::try_from(bin) else { break };
            if n > 0 {
                out.bins.push((b, n));
                out.count += n;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations_are_exact_and_long_ones_within_a_percent() {
        for s in [0, 1, 59, 255] {
            assert_eq!(seconds_of(bin_of(s)), s);
        }
        for s in [
            256,
            300,
            3_599,
            3_600,
            86_399,
            86_400,
            7 * 86_400 + 13,
            400 * 86_400,
        ] {
            let back = seconds_of(bin_of(s));
            let error = (back - s).abs() as f64 / s as f64;
            assert!(error <= 1.0 / 128.0, "{s} → {back}");
        }
        // Bins are ordered as durations are.
        let mut last = 0;
        for s in (0..2_000_000).step_by(997) {
            let b = bin_of(s);
            assert!(b >= last);
            last = b;
        }
        assert_eq!(bin_of(-5), 0);
    }

    #[test]
    fn quantiles_by_nearest_rank_and_merging_is_exact() {
        let mut a = Durations::default();
        assert_eq!(a.quantile(0.5), None);
        for s in [1, 2, 3, 4] {
            a.record(s);
        }
        assert_eq!(a.quantile(0.5), Some(2));
        assert_eq!(a.quantile(0.9), Some(4));
        let mut b = Durations::default();
        for s in [10, 20, 30, 40, 50, 60] {
            b.record(s);
        }
        let mut both = a.clone();
        both.merge(&b);
        assert_eq!(both.count(), 10);
        assert_eq!(both.quantile(0.5), Some(10));
        assert_eq!(Durations::from_bytes(&both.to_bytes()), both);
        let mut wide = Durations::default();
        for s in [0, 255, 256, 3_600, 86_400, 40_000_000] {
            wide.record(s);
        }
        let bytes = wide.to_bytes();
        assert_eq!(Durations::from_bytes(&bytes), wide);
        // A truncated end is dropped, not misread.
        assert_eq!(Durations::from_bytes(&bytes[..bytes.len() - 1]).count(), 5);
        assert_eq!(Durations::from_bytes(&[]).count(), 0);
    }
}
