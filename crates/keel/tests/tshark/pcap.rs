//! A minimal pcap writer for tests: TCP connections over IPv4 over Ethernet, with correct
//! lengths, sequence numbers and checksums, one segment per payload.

use std::net::Ipv4Addr;

/// Classic pcap (microsecond timestamps), link type Ethernet.
pub struct Pcap {
    bytes: Vec<u8>,
    usec: u64,
}

impl Default for Pcap {
    fn default() -> Self {
        Self::new()
    }
}

impl Pcap {
    pub fn new() -> Self {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        bytes.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        bytes.extend_from_slice(&262_144u32.to_le_bytes()); // snaplen
        bytes.extend_from_slice(&1u32.to_le_bytes()); // LINKTYPE_ETHERNET
        Pcap { bytes, usec: 1_700_000_000_000_000 }
    }

    pub fn packet(&mut self, frame: &[u8]) {
        self.usec += 1000;
        self.bytes.extend_from_slice(&((self.usec / 1_000_000) as u32).to_le_bytes());
        self.bytes.extend_from_slice(&((self.usec % 1_000_000) as u32).to_le_bytes());
        self.bytes.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(frame);
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// RFC 1071 Internet checksum over several pieces.
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &b in *part {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

#[derive(Clone, Copy)]
pub struct Endpoint {
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    pub port: u16,
    /// Next sequence number to send.
    pub seq: u32,
    ip_id: u16,
}

impl Endpoint {
    pub fn new(mac: [u8; 6], ip: Ipv4Addr, port: u16, isn: u32) -> Self {
        Endpoint { mac, ip, port, seq: isn, ip_id: 1 }
    }
}

/// One TCP connection between a client `a` and a server `b`.
pub struct Tcp {
    pub a: Endpoint,
    pub b: Endpoint,
}

impl Tcp {
    /// Writes the three-way handshake.
    pub fn open(pcap: &mut Pcap, a: Endpoint, b: Endpoint) -> Self {
        let mut t = Tcp { a, b };
        t.segment(pcap, true, SYN, &[]);
        t.segment(pcap, false, SYN | ACK, &[]);
        t.segment(pcap, true, ACK, &[]);
        t
    }

    /// Sends `payload` from `a` (or `b`) in one segment, acknowledged by the other side.
    pub fn send(&mut self, pcap: &mut Pcap, from_a: bool, payload: &[u8]) {
        self.segment(pcap, from_a, PSH | ACK, payload);
        self.segment(pcap, !from_a, ACK, &[]);
    }

    /// Both sides close.
    pub fn close(&mut self, pcap: &mut Pcap) {
        self.segment(pcap, true, FIN | ACK, &[]);
        self.segment(pcap, false, FIN | ACK, &[]);
        self.segment(pcap, true, ACK, &[]);
    }

    fn segment(&mut self, pcap: &mut Pcap, from_a: bool, flags: u8, payload: &[u8]) {
        let (src, dst) = if from_a { (&mut self.a, &mut self.b) } else { (&mut self.b, &mut self.a) };
        let ack = if flags & ACK != 0 { dst.seq } else { 0 };
        let mut tcp = Vec::with_capacity(20 + payload.len());
        tcp.extend_from_slice(&src.port.to_be_bytes());
        tcp.extend_from_slice(&dst.port.to_be_bytes());
        tcp.extend_from_slice(&src.seq.to_be_bytes());
        tcp.extend_from_slice(&ack.to_be_bytes());
        tcp.push(5 << 4);
        tcp.push(flags);
        tcp.extend_from_slice(&65535u16.to_be_bytes());
        tcp.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        tcp.extend_from_slice(payload);
        let tcp_len = tcp.len() as u16;
        let mut pseudo = Vec::with_capacity(12);
        pseudo.extend_from_slice(&src.ip.octets());
        pseudo.extend_from_slice(&dst.ip.octets());
        pseudo.extend_from_slice(&[0, 6]);
        pseudo.extend_from_slice(&tcp_len.to_be_bytes());
        let c = checksum(&[&pseudo, &tcp]);
        tcp[16..18].copy_from_slice(&c.to_be_bytes());

        let mut ip = Vec::with_capacity(20);
        ip.extend_from_slice(&[0x45, 0]);
        ip.extend_from_slice(&(20 + tcp_len).to_be_bytes());
        ip.extend_from_slice(&src.ip_id.to_be_bytes());
        ip.extend_from_slice(&[0x40, 0, 64, 6, 0, 0]); // DF, TTL 64, TCP, checksum
        ip.extend_from_slice(&src.ip.octets());
        ip.extend_from_slice(&dst.ip.octets());
        let c = checksum(&[&ip]);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        src.ip_id = src.ip_id.wrapping_add(1);

        let mut frame = Vec::with_capacity(14 + ip.len() + tcp.len());
        frame.extend_from_slice(&dst.mac);
        frame.extend_from_slice(&src.mac);
        frame.extend_from_slice(&0x0800u16.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&tcp);
        pcap.packet(&frame);

        let consumed = payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
        src.seq = src.seq.wrapping_add(consumed);
    }
}

#[test]
fn checksum_of_rfc1071_example() {
    // RFC 1071 §3: the sum of 0001 f203 f4f5 f6f7 is ddf2, so the checksum is 220d.
    assert_eq!(checksum(&[&[0x00, 0x01, 0xf2], &[0x03, 0xf4, 0xf5, 0xf6, 0xf7]]), 0x220d);
}
