//! AS_PATH (RFC 4271 §4.3, §5.1.2) and its 2-octet/4-octet conversion with AS4_PATH
//! (RFC 6793 §4.2.3 reconstruction).

use crate::open::AS_TRANS;
use crate::reader::Reader;
use std::fmt;
use thin_vec::{thin_vec, ThinVec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum SegmentType {
    Set = 1,
    Sequence = 2,
    /// RFC 5065 §3.
    ConfedSequence = 3,
    ConfedSet = 4,
}

impl SegmentType {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => SegmentType::Set,
            2 => SegmentType::Sequence,
            3 => SegmentType::ConfedSequence,
            4 => SegmentType::ConfedSet,
            _ => return None,
        })
    }
    pub fn is_confed(self) -> bool {
        matches!(self, SegmentType::ConfedSequence | SegmentType::ConfedSet)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct AsSegment {
    pub kind: SegmentType,
    pub asns: ThinVec<u32>,
}

impl AsSegment {
    /// Its contribution to the path length (RFC 4271 §9.1.2.2 a, RFC 5065 §5.3).
    pub fn path_length(&self) -> usize {
        match self.kind {
            SegmentType::Sequence => self.asns.len(),
            SegmentType::Set => 1,
            SegmentType::ConfedSequence | SegmentType::ConfedSet => 0,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct AsPath {
    pub segments: ThinVec<AsSegment>,
}

impl AsPath {
    /// A path of one AS_SEQUENCE (empty when `asns` is).
    pub fn sequence(asns: impl Into<Vec<u32>>) -> Self {
        let asns = asns.into();
        if asns.is_empty() {
            return AsPath::default();
        }
        AsPath { segments: thin_vec![AsSegment { kind: SegmentType::Sequence, asns: asns.into() }] }
    }

    /// Path length for the decision process: AS_SET counts 1, confederation segments 0.
    pub fn path_length(&self) -> usize {
        self.segments.iter().map(AsSegment::path_length).sum()
    }

    /// The AS that originated the route: last AS of a trailing AS_SEQUENCE.
    pub fn origin_as(&self) -> Option<u32> {
        match self.segments.last() {
            Some(AsSegment { kind: SegmentType::Sequence, asns }) => asns.last().copied(),
            _ => None,
        }
    }

    /// The Route Origin ASN of RFC 6811 §2: the last AS of a final AS_SEQUENCE; `local_as` when
    /// the path is empty or ends in a confederation segment; `None` (the RFC's "NONE", which no
    /// VRP matches) when it ends in an AS_SET.
    pub fn route_origin_asn(&self, local_as: u32) -> Option<u32> {
        match self.segments.last() {
            None => Some(local_as),
            Some(AsSegment { kind: SegmentType::Sequence, asns }) => asns.last().copied(),
            Some(AsSegment { kind: SegmentType::ConfedSequence | SegmentType::ConfedSet, .. }) => Some(local_as),
            Some(AsSegment { kind: SegmentType::Set, .. }) => None,
        }
    }

    /// The neighbouring AS: first AS of a leading AS_SEQUENCE.
    pub fn neighbor_as(&self) -> Option<u32> {
        match self.segments.first() {
            Some(AsSegment { kind: SegmentType::Sequence, asns }) => asns.first().copied(),
            _ => None,
        }
    }

    /// True when the path holds an AS_CONFED_SEQUENCE or AS_CONFED_SET (RFC 5065 §3).
    pub fn has_confed(&self) -> bool {
        self.segments.iter().any(|s| s.kind.is_confed())
    }

    /// Removes every AS_CONFED_SEQUENCE and AS_CONFED_SET, as RFC 5065 §4.1 c) says before a
    /// path goes to a neighbor outside the confederation; AS_SEQUENCEs the removal made
    /// neighbors are joined (same ASes, same order, same length).
    pub fn strip_confed(&mut self) {
        if !self.has_confed() {
            return;
        }
        let mut out: Vec<AsSegment> = Vec::with_capacity(self.segments.len());
        for s in std::mem::take(&mut self.segments).into_iter().filter(|s| !s.kind.is_confed()) {
            match out.last_mut() {
                Some(l)
                    if l.kind == SegmentType::Sequence
                        && s.kind == SegmentType::Sequence
                        && l.asns.len() + s.asns.len() <= 255 =>
                {
                    l.asns.extend_from_slice(&s.asns)
                }
                _ => out.push(s),
            }
        }
        self.segments = out.into();
    }

    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// Every AS in order (segment kinds ignored), as the API shows it.
    pub fn asns(&self) -> impl Iterator<Item = u32> + '_ {
        self.segments.iter().flat_map(|s| s.asns.iter().copied())
    }

    /// Prepends `asn` to the leading AS_SEQUENCE, or starts one (RFC 4271 §5.1.2).
    pub fn prepend(&mut self, asn: u32) {
        match self.segments.first_mut() {
            Some(s) if s.kind == SegmentType::Sequence && s.asns.len() < 255 => s.asns.insert(0, asn),
            _ => self.segments.insert(0, AsSegment { kind: SegmentType::Sequence, asns: thin_vec![asn] }),
        }
    }

    /// Decodes with 2- or 4-octet AS numbers. Errors name what is malformed (RFC 7606 §7.2).
    pub(crate) fn decode(value: &[u8], four_octet: bool) -> Result<AsPath, String> {
        let width = if four_octet { 4 } else { 2 };
        let mut r = Reader::new(value);
        let mut segments = Vec::with_capacity(1);
        while !r.is_empty() {
            let (Some(t), Some(n)) = (r.u8(), r.u8()) else {
                return Err("AS_PATH segment header truncated".into());
            };
            let kind = SegmentType::from_u8(t).ok_or_else(|| format!("AS_PATH segment type {t} unknown"))?;
            if n == 0 {
                return Err("AS_PATH segment of length 0".into());
            }
            let bytes = r
                .take(n as usize * width)
                .ok_or_else(|| format!("AS_PATH segment of {n} AS numbers runs past the attribute"))?;
            let asns = if four_octet {
                bytes.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect()
            } else {
                bytes.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]) as u32).collect()
            };
            segments.push(AsSegment { kind, asns });
        }
        Ok(AsPath { segments: segments.into() })
    }

    /// Encodes with 4-octet AS numbers, or 2-octet ones where AS_TRANS stands for larger ASes.
    /// Segments longer than 255 AS numbers are split.
    pub(crate) fn encode(&self, four_octet: bool, out: &mut Vec<u8>) {
        for s in &self.segments {
            for chunk in s.asns.chunks(255) {
                out.push(s.kind as u8);
                out.push(chunk.len() as u8);
                for &asn in chunk {
                    if four_octet {
                        out.extend_from_slice(&asn.to_be_bytes());
                    } else {
                        out.extend_from_slice(&u16::try_from(asn).unwrap_or(AS_TRANS).to_be_bytes());
                    }
                }
            }
        }
    }

    /// True when a 2-octet session needs AS4_PATH to carry this path.
    pub fn needs_as4(&self) -> bool {
        self.asns().any(|a| a > u16::MAX as u32)
    }

    /// The AS4_PATH to send beside this path on a 2-octet session: without confederation
    /// segments (RFC 6793 §3).
    pub(crate) fn as4_path(&self) -> AsPath {
        AsPath { segments: self.segments.iter().filter(|s| !s.kind.is_confed()).cloned().collect() }
    }

    /// RFC 6793 §4.2.3: merges the AS_PATH received on a 2-octet session with its AS4_PATH.
    pub(crate) fn reconstruct(as_path: &AsPath, as4_path: &AsPath) -> AsPath {
        let as4: Vec<AsSegment> = as4_path.segments.iter().filter(|s| !s.kind.is_confed()).cloned().collect();
        let as4_len: usize = as4.iter().map(AsSegment::path_length).sum();
        let total = as_path.path_length();
        if total < as4_len {
            return as_path.clone();
        }
        let mut need = total - as4_len;
        let mut lead = Vec::new();
        let mut split = false;
        for s in &as_path.segments {
            if need == 0 {
                break;
            }
            match s.kind {
                SegmentType::Sequence if s.asns.len() > need => {
                    lead.push(AsSegment { kind: s.kind, asns: s.asns[..need].into() });
                    need = 0;
                    split = true;
                }
                _ => {
                    need -= s.path_length().min(need);
                    lead.push(s.clone());
                }
            }
        }
        // Join a split AS_SEQUENCE back into one segment; AS4_PATH's own segments stay as sent.
        let mut as4 = as4.into_iter();
        if let (true, Some(l), Some(s)) = (split, lead.last_mut(), as4.as_slice().first()) {
            if s.kind == SegmentType::Sequence && l.asns.len() + s.asns.len() <= 255 {
                l.asns.extend_from_slice(&s.asns);
                as4.next();
            }
        }
        lead.extend(as4);
        AsPath { segments: lead.into() }
    }
}

/// `65001 65002 {65003,65004} (65010)` like BIRD and FRR print paths.
impl fmt::Display for AsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            let list = s.asns.iter().map(|a| a.to_string()).collect::<Vec<_>>();
            match s.kind {
                SegmentType::Sequence => write!(f, "{}", list.join(" "))?,
                SegmentType::Set => write!(f, "{{{}}}", list.join(","))?,
                SegmentType::ConfedSequence => write!(f, "({})", list.join(" "))?,
                SegmentType::ConfedSet => write!(f, "[{}]", list.join(","))?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(a: &[u32]) -> AsSegment {
        AsSegment { kind: SegmentType::Sequence, asns: a.into() }
    }

    #[test]
    fn length_counts_set_as_one_and_confed_as_zero() {
        let p = AsPath {
            segments: thin_vec![
                AsSegment { kind: SegmentType::ConfedSequence, asns: thin_vec![64512, 64513] },
                seq(&[65001, 65002]),
                AsSegment { kind: SegmentType::Set, asns: thin_vec![1, 2, 3] },
            ],
        };
        assert_eq!(p.path_length(), 3);
        assert_eq!(p.to_string(), "(64512 64513) 65001 65002 {1,2,3}");
        assert_eq!(p.origin_as(), None);
        assert_eq!(p.neighbor_as(), None);
    }

    #[test]
    fn rfc5065_confederation_segments_found_and_stripped() {
        let confed = |kind, a: &[u32]| AsSegment { kind, asns: a.into() };
        let mut p = AsPath {
            segments: thin_vec![
                seq(&[65001]),
                confed(SegmentType::ConfedSequence, &[64512, 64513]),
                confed(SegmentType::ConfedSet, &[64514]),
                seq(&[65002]),
                AsSegment { kind: SegmentType::Set, asns: thin_vec![1, 2] },
            ],
        };
        assert!(p.has_confed());
        let length = p.path_length();
        p.strip_confed();
        assert!(!p.has_confed());
        assert_eq!(p.segments, vec![seq(&[65001, 65002]), AsSegment { kind: SegmentType::Set, asns: thin_vec![1, 2] }]);
        // RFC 5065 §5.3: the confederation segments never counted, so the length is the same.
        assert_eq!(p.path_length(), length);
        assert!(!AsPath::sequence(vec![65001]).has_confed());
    }

    #[test]
    fn rfc6811_route_origin_asn() {
        let set = AsSegment { kind: SegmentType::Set, asns: thin_vec![65010, 65011] };
        let confed = AsSegment { kind: SegmentType::ConfedSequence, asns: thin_vec![64512] };
        let cases = [
            (AsPath::default(), Some(65000)),
            (AsPath::sequence(vec![65001, 65002]), Some(65002)),
            (AsPath { segments: thin_vec![seq(&[65001]), set.clone()] }, None),
            (AsPath { segments: thin_vec![set, seq(&[65003])] }, Some(65003)),
            (AsPath { segments: thin_vec![confed.clone()] }, Some(65000)),
            (AsPath { segments: thin_vec![seq(&[65001]), confed] }, Some(65000)),
        ];
        for (path, origin) in cases {
            assert_eq!(path.route_origin_asn(65000), origin, "{path}");
        }
    }

    #[test]
    fn rfc6793_reconstruction() {
        // AS_PATH 65001 23456 23456, AS4_PATH 4200000001 4200000002 -> 65001 4200000001 4200000002
        let as_path = AsPath::sequence(vec![65001, 23456, 23456]);
        let as4 = AsPath::sequence(vec![4_200_000_001, 4_200_000_002]);
        assert_eq!(
            AsPath::reconstruct(&as_path, &as4),
            AsPath { segments: thin_vec![seq(&[65001, 4_200_000_001, 4_200_000_002])] }
        );
        assert_eq!(
            AsPath::reconstruct(&as_path, &as4).asns().collect::<Vec<_>>(),
            [65001, 4_200_000_001, 4_200_000_002]
        );
        // AS4_PATH longer than AS_PATH: ignored.
        let long = AsPath::sequence(vec![1, 2, 3, 4]);
        assert_eq!(AsPath::reconstruct(&as_path, &long), as_path);
    }

    #[test]
    fn encode_two_octet_uses_as_trans_and_splits_long_segments() {
        let p = AsPath::sequence((0..300).map(|i| 4_200_000_000 + i).collect::<Vec<_>>());
        let mut out = Vec::new();
        p.encode(false, &mut out);
        assert_eq!(out.len(), 2 + 255 * 2 + 2 + 45 * 2);
        assert_eq!(&out[2..4], &AS_TRANS.to_be_bytes());
        let back = AsPath::decode(&out, false).unwrap();
        assert_eq!(back.path_length(), 300);
        assert!(AsPath::decode(&[2, 0], true).is_err());
        assert!(AsPath::decode(&[5, 1, 0, 0, 0, 1], true).is_err());
        assert!(AsPath::decode(&[2, 2, 0, 0, 0, 1], true).is_err());
    }
}
