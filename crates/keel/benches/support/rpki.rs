//! RPKI for the convergence benchmark with `KEEL_BENCH_RPKI=1` (issue 11): ~520k synthetic
//! VRPs derived from the generated table the way `crates/keel-rpki/benches/rpki.rs` derives
//! them (IPv4 only: ~48% of the routes valid, ~1.8% invalid, the rest not-found), served by a
//! StayRTR cache from a JSON file.

use keel_rpki::{route_origin_asn, Vrp};
use keel_tablegen::Table;
use keel_wire::{Family, Prefix};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

/// VRPs for the IPv4 routes of `table` as keeld (AS `local_as`) receives them: among routes
/// that cover no other route, chosen by a hash of the route's index, a VRP of the route's own
/// prefix and origin for ~48% of all routes (valid), 1% with another origin (invalid), 1% for
/// the covering prefix one bit shorter with max length equal to its length (too specific:
/// invalid). The same derivation as the keel-rpki benchmark.
pub fn synthetic_vrps(table: &Table, local_as: u32) -> Vec<Vrp> {
    let routes: Vec<(Prefix, Option<u32>)> = table
        .family(Family::IPV4_UNICAST)
        .flat_map(|g| {
            let origin = route_origin_asn(g.attributes.as_path.as_ref(), local_as);
            g.prefixes.iter().map(move |n| (n.prefix, origin))
        })
        .collect();
    keel_rpki::synthetic::vrps(&routes)
}

/// Writes `vrps` as a StayRTR / rpki-client JSON file.
pub fn write_json(path: &Path, vrps: &[Vrp]) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create VRP file"));
    out.write_all(b"{\"roas\":[").unwrap();
    for (i, v) in vrps.iter().enumerate() {
        let sep = if i == 0 { "" } else { ",\n" };
        write!(
            out,
            "{sep}{{\"prefix\":\"{}\",\"maxLength\":{},\"asn\":\"AS{}\",\"ta\":\"bench\"}}",
            v.prefix(),
            v.max_len(),
            v.asn()
        )
        .unwrap();
    }
    out.write_all(b"]}\n").unwrap();
    out.flush().unwrap();
}

/// A StayRTR cache serving a VRP file; killed (by its pid) on drop.
pub struct Stayrtr {
    child: Child,
    dir: PathBuf,
}

impl Stayrtr {
    /// Writes `vrps` to a file and starts StayRTR on `bind` (`ADDRESS:PORT`) serving it.
    pub fn start(vrps: &[Vrp], bind: &str) -> Stayrtr {
        let dir = std::env::temp_dir().join(format!("keel-bench-stayrtr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("vrps.json");
        write_json(&file, vrps);
        let child = keel_lab::daemons::stayrtr::command(&file, bind, 3600)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stayrtr.log")).unwrap())
            .spawn()
            .expect("start stayrtr (see /work/shared/interop.md)");
        Stayrtr { child, dir }
    }
}

impl Drop for Stayrtr {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
