use keel_tablegen::*;
use keel_wire::*;
use std::hint::black_box;
use std::time::Instant;
fn main() {
    let t = Table::generate(&TableSpec::default());
    let opts = CodecOptions::default();
    let mut bytes = Vec::new();
    t.write_family(Family::IPV4_UNICAST, &opts, &mut bytes).unwrap();
    let mut frames = Vec::new();
    let mut b = bytes.as_slice();
    while let Some(f) = Message::next_frame(b, &opts).unwrap() {
        b = &b[f.len()..];
        frames.push(f);
    }
    let mut best_d = f64::MAX;
    let mut best_e = f64::MAX;
    let mut out = Vec::with_capacity(bytes.len());
    for _ in 0..25 {
        let s = Instant::now();
        let mut n = 0;
        for f in &frames {
            let m = Message::decode(f, &opts);
            if let Ok(Message::Update(u)) = &m {
                n += u.announced_routes().count();
                black_box(u);
            }
        }
        assert_eq!(n, 1_050_000);
        best_d = best_d.min(s.elapsed().as_secs_f64());
        let s = Instant::now();
        out.clear();
        for g in t.family(Family::IPV4_UNICAST) {
            builder::announce(g.family, &g.attributes, g.next_hop, &g.prefixes, &opts, &mut out).unwrap();
        }
        black_box(&out);
        best_e = best_e.min(s.elapsed().as_secs_f64());
    }
    println!("min decode {:.1} ms, min encode {:.1} ms", best_d * 1e3, best_e * 1e3);
}
