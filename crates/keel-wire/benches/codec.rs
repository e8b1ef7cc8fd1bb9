//! Full-feed codec benchmarks: decode and encode the generated 1.05M-prefix IPv4 and
//! 230k-prefix IPv6 feeds (keel-tablegen, 3-6 prefixes per UPDATE), with netgauze-bgp-pkt
//! on the same bytes for comparison. Figures are recorded in docs/benchmarks.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keel_tablegen::{RouteGroup, Table, TableSpec};
use keel_wire::{builder, CodecOptions, Family, Message};
use netgauze_bgp_pkt::path_attribute::{MpReach, PathAttributeValue};
use netgauze_bgp_pkt::wire::deserializer::BgpParsingContext;
use netgauze_bgp_pkt::BgpMessage;
use netgauze_parse_utils::reader::SliceReader;
use netgauze_parse_utils::traits::ParseFromWithOneInput;
use netgauze_parse_utils::WritablePdu;
use std::hint::black_box;
use std::time::Duration;

/// Every message of a byte stream.
fn frames<'a>(mut buf: &'a [u8], opts: &CodecOptions) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    while let Some(f) = Message::next_frame(buf, opts).expect("valid header") {
        buf = &buf[f.len()..];
        out.push(f);
    }
    assert!(buf.is_empty());
    out
}

/// keel-wire: decode every message, all attributes parsed; returns the prefixes announced.
fn keel_decode(frames: &[&[u8]], opts: &CodecOptions) -> usize {
    let mut prefixes = 0;
    for f in frames {
        // Borrowed, not moved out of the `Result`: that would copy the 360-octet `Update`.
        let m = Message::decode(f, opts);
        let Ok(Message::Update(u)) = &m else { panic!("not a valid UPDATE: {m:?}") };
        prefixes += u.announced_routes().count();
        black_box(u);
    }
    prefixes
}

/// keel-wire: encode every group with `builder::announce`.
fn keel_encode(groups: &[&RouteGroup], opts: &CodecOptions, out: &mut Vec<u8>) -> usize {
    out.clear();
    groups
        .iter()
        .map(|g| builder::announce(g.family, &g.attributes, g.next_hop, &g.prefixes, opts, out).expect("fits"))
        .sum()
}

fn netgauze_parse(frame: &[u8], ctx: &mut BgpParsingContext) -> BgpMessage {
    BgpMessage::parse(&mut SliceReader::new(frame), ctx).expect("netgauze decodes")
}

/// Prefixes a netgauze UPDATE announces (NLRI field and MP_REACH_NLRI).
fn netgauze_prefixes(m: &BgpMessage) -> usize {
    let BgpMessage::Update(u) = m else { unreachable!() };
    let mp: usize = u
        .path_attributes()
        .iter()
        .map(|a| match a.value() {
            PathAttributeValue::MpReach(MpReach::Ipv6Unicast { nlri, .. }) => nlri.len(),
            PathAttributeValue::MpReach(MpReach::Ipv4Unicast { nlri, .. }) => nlri.len(),
            _ => 0,
        })
        .sum();
    u.nlri().len() + mp
}

fn netgauze_decode(frames: &[&[u8]]) -> usize {
    let mut ctx = BgpParsingContext::default();
    let mut prefixes = 0;
    for f in frames {
        let m = netgauze_parse(f, &mut ctx);
        prefixes += netgauze_prefixes(&m);
        black_box(&m);
    }
    prefixes
}

fn netgauze_encode(messages: &[BgpMessage], out: &mut Vec<u8>) {
    out.clear();
    for m in messages {
        m.write(out).expect("netgauze encodes");
    }
}

fn feed(c: &mut Criterion, table: &Table, family: Family, name: &str) {
    let opts = CodecOptions::default();
    let mut bytes = Vec::new();
    table.write_family(family, &opts, &mut bytes).expect("encodes");
    let frames = frames(&bytes, &opts);
    let prefixes = table.prefix_count(family);
    // Both decoders see every prefix; netgauze re-encodes the same bytes.
    assert_eq!(keel_decode(&frames, &opts), prefixes);
    assert_eq!(netgauze_decode(&frames), prefixes);
    let mut ctx = BgpParsingContext::default();
    let decoded: Vec<BgpMessage> = frames.iter().map(|f| netgauze_parse(f, &mut ctx)).collect();
    let mut out = Vec::with_capacity(bytes.len());
    netgauze_encode(&decoded, &mut out);
    assert_eq!(out, bytes, "netgauze re-encodes keel's bytes exactly");
    println!("{name}: {prefixes} prefixes, {} UPDATEs, {} octets", frames.len(), bytes.len());

    let mut g = c.benchmark_group(name);
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(prefixes as u64));
    g.bench_function("keel decode", |b| b.iter(|| keel_decode(black_box(&frames), &opts)));
    g.bench_function("netgauze decode", |b| b.iter(|| netgauze_decode(black_box(&frames))));
    // Selected beforehand: skipping the other family's groups would add cache misses.
    let groups: Vec<&RouteGroup> = table.family(family).collect();
    g.bench_function("keel encode", |b| b.iter(|| keel_encode(black_box(&groups), &opts, &mut out)));
    g.bench_function("netgauze encode", |b| b.iter(|| netgauze_encode(black_box(&decoded), &mut out)));
    g.finish();
}

fn codec(c: &mut Criterion) {
    let table = Table::generate(&TableSpec::default());
    feed(c, &table, Family::IPV4_UNICAST, "ipv4 full feed");
    feed(c, &table, Family::IPV6_UNICAST, "ipv6 full feed");
}

criterion_group!(benches, codec);
criterion_main!(benches);
