//! `keel decode`: BGP messages given as hex, printed as JSON, one object per message and line.
//! The input forms and the JSON shapes are documented and built in [`keel_api::decode`].

use keel_api::decode::{decode_hex, ErrorLine};
use keel_wire::{CodecOptions, Family};
use std::io::{Read, Write};
use std::process::ExitCode;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct DecodeArgs {
    /// Messages in hex (marker optional, several back to back); stdin when none are given.
    pub hex: Vec<String>,
    /// Read UPDATEs as on a session without the four-octet AS capability (2-octet AS_PATH).
    #[arg(long)]
    pub as2: bool,
    /// Read UPDATEs with Add-Path path identifiers for ipv4-unicast and ipv6-unicast.
    #[arg(long)]
    pub add_path: bool,
    /// Allow messages up to 65535 octets (RFC 8654 Extended Message).
    #[arg(long)]
    pub extended_message: bool,
}

impl DecodeArgs {
    pub fn codec_options(&self) -> CodecOptions {
        CodecOptions {
            four_octet_as: !self.as2,
            extended_message: self.extended_message,
            add_path: if self.add_path { vec![Family::IPV4_UNICAST, Family::IPV6_UNICAST] } else { Vec::new() },
        }
    }
}

pub fn run(args: &DecodeArgs) -> ExitCode {
    let text = if args.hex.is_empty() {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            eprintln!("keel decode: reading stdin: {e}");
            return ExitCode::FAILURE;
        }
        s
    } else {
        args.hex.join(" ")
    };
    let report = decode_hex(&text, &args.codec_options(), args.add_path);
    let mut out = std::io::stdout().lock();
    let mut print = |v: &dyn erased::Json| -> std::io::Result<()> {
        v.write_json(&mut out)?;
        out.write_all(b"\n")
    };
    let mut ok = true;
    for m in &report.messages {
        ok &= print(m).is_ok();
    }
    if let Some(e) = &report.error {
        ok &= print(&ErrorLine { error: e }).is_ok();
    }
    ok &= out.flush().is_ok();
    if report.error.is_none() && ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Object-safe "serialize as one JSON line".
mod erased {
    pub trait Json {
        fn write_json(&self, w: &mut dyn std::io::Write) -> std::io::Result<()>;
    }
    impl<T: serde::Serialize> Json for T {
        fn write_json(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
            serde_json::to_writer(w, self).map_err(std::io::Error::other)
        }
    }
}
