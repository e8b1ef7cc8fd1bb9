//! The session fuzz harness (`keel::neighbor::fuzz`, also the cargo-fuzz target
//! `fuzz/fuzz_targets/session.rs`) over a bounded, deterministic corpus: the structured seeds,
//! and mutations of them from a seeded generator (bit flips, truncations, length edits,
//! splices, duplicated messages, random bytes). The number of inputs bounds the run, not a
//! clock; each input runs on tokio's paused clock.

use crate::common::rng::Rng;
use keel::neighbor::fuzz::{run, seeds, Outcome};
use std::path::PathBuf;

/// Offsets of the messages in a raw stream (where a marker starts), past the two control bytes.
fn message_starts(v: &[u8]) -> Vec<usize> {
    (2..v.len().saturating_sub(18)).filter(|&i| v[i..i + 16].iter().all(|&b| b == 0xff)).collect()
}

/// One to three mutations of `base`, some taking bytes from `other`.
fn mutate(rng: &mut Rng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + rng.below(3) {
        let len = v.len();
        match rng.below(9) {
            // Bit flip, anywhere past the control bytes.
            0 if len > 2 => {
                let i = 2 + rng.below(len - 2);
                v[i] ^= 1 << rng.below(8);
            }
            // Truncation.
            1 => v.truncate(rng.below(len + 1).max(2)),
            // A message's length field, a little off or anything.
            2 => {
                let starts = message_starts(&v);
                if let Some(&i) = starts.get(rng.below(starts.len())) {
                    let old = u16::from_be_bytes([v[i + 16], v[i + 17]]);
                    let new = match rng.below(3) {
                        0 => old.wrapping_add(1 + rng.below(4) as u16),
                        1 => old.wrapping_sub(1 + rng.below(4) as u16),
                        _ => rng.next() as u16,
                    };
                    v[i + 16..i + 18].copy_from_slice(&new.to_be_bytes());
                }
            }
            // A one-octet field (attribute, NLRI or capability lengths mostly are) off by a little.
            3 if len > 2 => {
                let i = 2 + rng.below(len - 2);
                v[i] = v[i].wrapping_add(rng.below(5) as u8).wrapping_sub(2);
            }
            // Splice: the start of one input, the end of another.
            4 => {
                let (a, b) = (rng.below(len + 1), rng.below(other.len() + 1));
                v.truncate(a.max(2));
                v.extend_from_slice(&other[b..]);
            }
            // A message sent twice.
            5 => {
                let starts = message_starts(&v);
                if let Some(&i) = starts.get(rng.below(starts.len())) {
                    let end = (i + usize::from(u16::from_be_bytes([v[i + 16], v[i + 17]]))).min(len);
                    let copy = v[i..end].to_vec();
                    v.splice(end..end, copy);
                }
            }
            // Random bytes inserted.
            6 => {
                let at = 2.min(len) + rng.below(len.saturating_sub(2) + 1);
                let bytes: Vec<u8> = (0..1 + rng.below(24)).map(|_| rng.byte()).collect();
                v.splice(at..at, bytes);
            }
            // An interesting value.
            7 if len > 2 => {
                let i = 2 + rng.below(len - 2);
                v[i] = [0, 1, 0x7f, 0x80, 0xfe, 0xff][rng.below(6)];
            }
            // The session shape: flags or capabilities.
            _ if len >= 2 => v[rng.below(2)] = rng.byte(),
            _ => {}
        }
    }
    v
}

fn check(input: &[u8]) -> Outcome {
    match run(input) {
        Ok(o) => o,
        Err(e) => panic!("{e}\ninput: {}", hex(input)),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn seeds_reach_established_and_each_reaction() {
    let outcomes: Vec<Outcome> = seeds().iter().map(|s| check(s)).collect();
    let count = |f: &dyn Fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    // The handshake works for every shape, and routes arrive.
    assert!(count(&|o| o.reached_established) == outcomes.len(), "{outcomes:?}");
    assert!(count(&|o| o.established && o.routes > 0) > 0, "{outcomes:?}");
    // RFC 7606: a treat-as-withdraw UPDATE keeps the session.
    assert!(count(&|o| o.treat_as_withdraw > 0 && o.established) > 0, "{outcomes:?}");
    // RFC 4271 §6.1 and §6.3: a bad header and a bad attribute list reset it.
    assert!(count(&|o| o.notification_sent.is_some_and(|(c, _)| c == 1) && o.closed) > 0, "{outcomes:?}");
    assert!(count(&|o| o.notification_sent.is_some_and(|(c, _)| c == 3) && o.closed) > 0, "{outcomes:?}");
    // The peer's NOTIFICATION closes it without one from keel.
    assert!(count(&|o| o.notification_received && o.notification_sent.is_none() && o.closed) > 0, "{outcomes:?}");
}

/// Inputs in the bounded run: about 13 s in a debug build on a 2-core machine.
const GENERATED: usize = 8000;

#[test]
fn generated_corpus_keeps_the_invariants() {
    let seeds = seeds();
    let mut rng = Rng(0x006b_6565_6c2d_3136); // "keel-16" in ASCII
    let (mut established, mut resets, mut kept) = (0, 0, 0);
    for _ in 0..GENERATED {
        let base = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())];
        let input = match rng.below(10) {
            // Now and then nothing structured at all.
            0 => (0..rng.below(200)).map(|_| rng.byte()).collect(),
            _ => mutate(&mut rng, base, other),
        };
        let o = check(&input);
        established += usize::from(o.reached_established);
        resets += usize::from(o.notification_sent.is_some());
        kept += usize::from(o.established && o.updates > 0);
    }
    // The mutations reach every part: sessions that survive them, and NOTIFICATIONs.
    assert!(established > GENERATED / 3, "{established} of {GENERATED} reached Established");
    assert!(resets > GENERATED / 10, "{resets} of {GENERATED} got a NOTIFICATION");
    assert!(kept > GENERATED / 10, "{kept} of {GENERATED} kept the session with UPDATEs");
}

/// `fuzz/seeds/session` holds the seeds as files (cargo-fuzz's seed corpus). Run with
/// KEEL_WRITE_SEEDS=1 to write them after changing `seeds()`.
#[test]
fn seed_files_are_current() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/session");
    let seeds = seeds();
    if std::env::var_os("KEEL_WRITE_SEEDS").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:03}")), s).unwrap();
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (KEEL_WRITE_SEEDS=1 writes it)", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let on_disk: Vec<Vec<u8>> = files.iter().filter_map(|f| std::fs::read(f).ok()).collect();
    assert!(on_disk == seeds, "{} differs from seeds(): run with KEEL_WRITE_SEEDS=1", dir.display());
}

/// Inputs that once broke an invariant, with what was wrong.
#[test]
fn regressions() {
    // Harness (not keel): after an Enhanced Route Refresh (RFC 7313) the peer re-announces
    // its routes with keel's AS 65000 in the AS_PATH. keel refuses looped paths (RFC 4271
    // §9.1.2) and so drops the earlier ones; the oracle took them as still announced.
    let looped = "068002003300000022400101004002060202fdeafc00400304c00002028004040000000ac00804fde8000118\
        cb007118cb007119c00002800200040000000002000a00000006800f03000201050004000101010200330000\
        0022400101004002060202fde82b00400304c00002028004040000000ac00804fde8000118cb007118cb0071\
        19c000028005000400010201";
    let o = check(&unhex(looped));
    assert!(o.established && o.updates == 4, "{o:?}");
    assert_eq!(o.routes, 0, "looped paths replaced every route: {o:?}");
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(char::is_ascii_hexdigit).collect();
    (0..s.len() / 2).filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()).collect()
}
