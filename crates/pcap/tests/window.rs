//! "Window full": new data that reaches exactly the right edge of the
//! window the receiver offered (its ACK plus its window, scaled by the
//! shift both SYNs announced). Without both SYNs the scaling is unknown and
//! nothing is counted.

use std::net::SocketAddr;
use std::time::Duration;

use hsp_core::Params;
use hsp_pcap::{Follower, Segment, TcpFlags};
use hsp_wire::observer::ObserverConfig;

const C: &str = "10.0.0.1:40000";
const S: &str = "10.0.0.2:3306";

fn seg<'a>(
    from_client: bool,
    seq: u32,
    ack: u32,
    window: u16,
    wscale: Option<u8>,
    flags: TcpFlags,
    payload: &'a [u8],
) -> Segment<'a> {
    let (c, s): (SocketAddr, SocketAddr) = (C.parse().unwrap(), S.parse().unwrap());
    let (src, dst) = if from_client { (c, s) } else { (s, c) };
    Segment {
        src,
        dst,
        seq,
        ack,
        window,
        wscale,
        flags,
        ttl: 64,
        options: &[],
        payload,
        len: payload.len() as u32,
        truncated: false,
    }
}

/// Window-full count of a connection: SYNs announcing `scales` (client,
/// server; `None` leaves the SYN-ACK out), the server offering `window`
/// (unscaled) and the client then sending `len` bytes.
fn window_full(scales: (Option<u8>, Option<Option<u8>>), window: u16, len: usize) -> u32 {
    let mut f = Follower::new(vec![3306], ObserverConfig::default());
    let mut out = Vec::new();
    let ack = TcpFlags {
        ack: true,
        ..TcpFlags::default()
    };
    let syn = TcpFlags {
        syn: true,
        ..TcpFlags::default()
    };
    let data = vec![0x41; len];
    let mut segs = vec![seg(true, 1000, 0, 64240, scales.0, syn, &[])];
    if let Some(server_scale) = scales.1 {
        segs.push(seg(
            false,
            5000,
            1001,
            65160,
            server_scale,
            TcpFlags { ack: true, ..syn },
            &[],
        ));
    }
    segs.push(seg(true, 1001, 5001, 502, None, ack, &[]));
    segs.push(seg(false, 5001, 1001, window, None, ack, &[]));
    segs.push(seg(true, 1001, 5001, 502, None, ack, &data));
    for (i, s) in segs.iter().enumerate() {
        f.on_segment(s, Duration::from_millis(i as u64), i as u64 + 1, &mut out);
    }
    f.finish();
    let done: Vec<_> = f.drain_finished().collect();
    assert_eq!(done.len(), 1);
    let r = done[0].track.record(
        done[0].conn,
        done[0].endpoints,
        Duration::ZERO,
        &Params::default(),
    );
    let n = r.tcp.as_ref().unwrap().window_full;
    if n > 0 {
        assert!(
            r.evidence.iter().any(|e| e.contains("window full")),
            "{:?}",
            r.evidence
        );
    }
    n
}

#[test]
fn data_that_reaches_the_scaled_window_edge_fills_it() {
    // Both sides scale by 2^7: a window of 10 is 1280 bytes.
    assert_eq!(window_full((Some(7), Some(Some(7))), 10, 1280), 1);
    assert_eq!(window_full((Some(7), Some(Some(7))), 10, 1279), 0);
    // The server's own shift applies to the windows it advertises.
    assert_eq!(window_full((Some(0), Some(Some(2))), 10, 40), 1);
}

#[test]
fn scaling_needs_both_sides_and_both_syns() {
    // Only the client offered scaling: windows are not scaled.
    assert_eq!(window_full((Some(7), Some(None)), 10, 10), 1);
    assert_eq!(window_full((Some(7), Some(None)), 10, 1280), 0);
    // No SYN-ACK in the capture: the scaling is unknown, nothing counted.
    assert_eq!(window_full((Some(7), None), 10, 1280), 0);
    assert_eq!(window_full((Some(7), None), 10, 10), 0);
}

/// The window scale option read from real SYNs: the fixture's client and
/// server both announce a shift of 10 (tshark's
/// `tcp.options.wscale.shift`); other segments carry none.
#[test]
fn window_scale_is_read_from_real_syns() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/cli-native-query.pcap");
    let mut f = hsp_pcap::PcapFile::open(&path).unwrap();
    let dlt = f.linktype();
    let mut scales = Vec::new();
    while let Some(r) = f.next_record().unwrap() {
        if let Some(s) = hsp_pcap::slice_tcp(dlt, r.data) {
            scales.push((s.flags.syn, s.wscale));
        }
    }
    assert_eq!(scales[..2], [(true, Some(10)), (true, Some(10))]);
    assert!(scales[2..].iter().all(|&(syn, w)| !syn && w.is_none()));
}
