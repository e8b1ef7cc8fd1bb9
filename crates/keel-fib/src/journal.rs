//! A [`MemoryFib`] kept in a file, standing in for the kernel's table when keeld runs without
//! root (`[fib] backend = "memory"`, used by `keel lab`).
//!
//! Like the kernel's table, its routes outlive the keeld process that installed them: every
//! change that modifies the table is appended to a journal before [`Fib::apply`] returns, and
//! the next process reads the journal back (RFC 4724 §4.1: the restarting speaker finds its
//! forwarding state preserved). Lines are `+ PREFIX GW[,GW..]` (install or replace),
//! `- PREFIX` (delete) and `= PREFIX GW[,GW..]` (a route carried over when the journal is
//! compacted at open). The first line, `# operations N`, counts the `+`/`-` lines compaction
//! folded away, so `N` plus the `+`/`-` lines is every operation since the file was created
//! ([`operations`]): a rehearsal reads it like `ip monitor route`.
//!
//! Every next hop resolves as directly connected: there is no IGP to ask.

use crate::fib::{ApplyReport, Fib, FibChange, FibError, FibRoute, NextHop, Resolution, MAIN_TABLE};
use crate::memory::MemoryFib;
use keel_wire::Prefix;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// See the [module documentation](self).
#[derive(Debug)]
pub struct JournalFib {
    table: MemoryFib,
    path: PathBuf,
    file: std::fs::File,
}

fn malformed(line: usize) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("FIB journal line {line} is malformed"))
}

fn parse_route(prefix: &str, gateways: &str) -> Option<FibRoute> {
    let prefix: Prefix = prefix.parse().ok()?;
    let hops = gateways.split(',').map(|g| g.parse::<IpAddr>().ok().map(NextHop::new)).collect::<Option<Vec<_>>>()?;
    Some(FibRoute::new(prefix, hops))
}

fn route_line(mark: char, r: &FibRoute) -> String {
    let hops: Vec<String> = r.next_hops.iter().map(|n| n.gateway.to_string()).collect();
    format!("{mark} {} {}\n", r.prefix, hops.join(","))
}

/// Reads a journal: the routes it leaves and the operations it records. A last line without
/// its newline (a write cut by SIGKILL) is ignored, as the kernel never saw it.
fn replay(text: &str) -> io::Result<(Vec<FibRoute>, u64)> {
    let mut routes = std::collections::BTreeMap::new();
    let mut operations = 0u64;
    let complete = text.rfind('\n').map_or("", |i| &text[..=i]);
    for (i, line) in complete.lines().enumerate() {
        let mut f = line.split(' ');
        match (f.next(), f.next(), f.next()) {
            (Some("#"), Some("operations"), Some(n)) => operations += n.parse::<u64>().map_err(|_| malformed(i + 1))?,
            (Some(mark @ ("+" | "=")), Some(p), Some(g)) => {
                let r = parse_route(p, g).ok_or_else(|| malformed(i + 1))?;
                operations += u64::from(mark == "+");
                routes.insert(r.prefix, r);
            }
            (Some("-"), Some(p), None) => {
                let p: Prefix = p.parse().map_err(|_| malformed(i + 1))?;
                operations += 1;
                routes.remove(&p);
            }
            (Some(""), None, None) => {}
            _ => return Err(malformed(i + 1)),
        }
    }
    Ok((routes.into_values().collect(), operations))
}

/// Every table operation recorded in the journal at `path` since it was created (0 when
/// there is no journal yet). Reads the file as a stream: no routes are kept.
pub fn operations(path: &Path) -> io::Result<u64> {
    use std::io::BufRead;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut reader = io::BufReader::with_capacity(1 << 16, file);
    let mut line = Vec::new();
    let mut operations = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 || line.last() != Some(&b'\n') {
            return Ok(operations);
        }
        match line.first() {
            Some(b'+' | b'-') => operations += 1,
            Some(b'#') => {
                let text = String::from_utf8_lossy(&line);
                let n = text.trim_end().strip_prefix("# operations ").and_then(|n| n.parse::<u64>().ok());
                operations += n.ok_or_else(|| malformed(0))?;
            }
            _ => {}
        }
    }
}

impl JournalFib {
    /// Opens (or creates) the journal at `path`, compacting it.
    pub fn open(path: &Path) -> io::Result<JournalFib> {
        let (routes, operations) = match std::fs::read_to_string(path) {
            Ok(text) => replay(&text)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => (Vec::new(), 0),
            Err(e) => return Err(e),
        };
        let mut compact = format!("# operations {operations}\n");
        for r in &routes {
            compact.push_str(&route_line('=', r));
        }
        let tmp = path.with_extension("compacting");
        std::fs::write(&tmp, compact)?;
        std::fs::rename(&tmp, path)?;
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        let mut table = MemoryFib::with_owned(routes);
        for p in ["0.0.0.0/0", "::/0"] {
            if let Ok(prefix) = p.parse() {
                table.add_kernel_route(Resolution {
                    prefix,
                    gateway: None,
                    ifindex: None,
                    metric: 0,
                    table: MAIN_TABLE,
                    protocol: 2,
                });
            }
        }
        Ok(JournalFib { table, path: path.to_path_buf(), file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// keel's routes, in prefix order.
    pub fn routes(&self) -> Vec<FibRoute> {
        self.table.routes()
    }
}

impl Fib for JournalFib {
    async fn apply(&mut self, changes: &[FibChange]) -> Result<ApplyReport, FibError> {
        // Journal what will change, as the kernel would report it (`ip monitor route`).
        let mut lines = String::new();
        let mut installed = std::collections::HashMap::new();
        for c in changes {
            match c {
                FibChange::Upsert(r) => {
                    let current = installed
                        .get(&r.prefix)
                        .cloned()
                        .or_else(|| self.table.get(&r.prefix).map(|h| Some(FibRoute::new(r.prefix, h.to_vec()))));
                    let unchanged = current.flatten().is_some_and(|old| r.satisfied_by(&old));
                    if !unchanged && !r.next_hops.is_empty() {
                        lines.push_str(&route_line('+', r));
                        installed.insert(r.prefix, Some(r.clone()));
                    }
                }
                FibChange::Delete(p) => {
                    let present = installed.get(p).map_or_else(|| self.table.get(p).is_some(), Option::is_some);
                    if present {
                        lines.push_str(&format!("- {p}\n"));
                        installed.insert(*p, None);
                    }
                }
            }
        }
        self.file.write_all(lines.as_bytes())?;
        self.table.apply(changes).await
    }
    async fn read_owned(&mut self) -> Result<Vec<FibRoute>, FibError> {
        self.table.read_owned().await
    }
    async fn resolve(&mut self, addr: IpAddr) -> Result<Option<Resolution>, FibError> {
        self.table.resolve(addr).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(p: &str, gw: &str) -> FibRoute {
        FibRoute::new(p.parse().unwrap(), vec![NextHop::new(gw.parse().unwrap())])
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn routes_and_operations_survive_reopening() {
        let dir = std::env::temp_dir().join(format!("keel-fib-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fib.journal");
        let _ = std::fs::remove_file(&path);
        let a = route("198.51.100.0/24", "192.0.2.2");
        let b = route("2001:db8:1::/48", "2001:db8::2");
        {
            let mut fib = JournalFib::open(&path).unwrap();
            let r = block_on(fib.apply(&[FibChange::Upsert(a.clone()), FibChange::Upsert(b.clone())])).unwrap();
            assert_eq!(r.upserted, 2);
            // Unchanged routes and absent deletes are no operations.
            block_on(fib.apply(&[FibChange::Upsert(a.clone()), FibChange::Delete("203.0.113.0/24".parse().unwrap())]))
                .unwrap();
            block_on(fib.apply(&[FibChange::Delete(b.prefix)])).unwrap();
        }
        assert_eq!(operations(&path).unwrap(), 3);
        // A write cut short by SIGKILL is not an operation.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"+ 203.0.113.0/24 19").unwrap();
        let mut fib = JournalFib::open(&path).unwrap();
        assert_eq!(block_on(fib.read_owned()).unwrap(), [a]);
        assert_eq!(operations(&path).unwrap(), 3);
        let via = block_on(fib.resolve("192.0.2.2".parse().unwrap())).unwrap().unwrap();
        assert_eq!(via.gateway, None, "every next hop is connected");
        block_on(fib.apply(&[FibChange::Upsert(route("198.51.100.0/24", "192.0.2.3"))])).unwrap();
        assert_eq!(operations(&path).unwrap(), 4);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_malformed_journal_is_an_error() {
        assert!(replay("+ 198.51.100.0/24\n").is_err());
        assert!(replay("* x\n").is_err());
        assert_eq!(replay("# operations 7\n= 198.51.100.0/24 192.0.2.2\n").unwrap().1, 7);
    }
}
