//! decode(encode(v)) == v for every packet type, over generated values.
//! (The opposite direction, encode(decode(bytes)) == bytes, runs over every
//! real packet in fixtures/ and the public corpus: crates/pcap/tests.)

use bytes::BytesMut;
use hsp_wire::codes::{Command, ErrorCode};
use hsp_wire::flags::{Capabilities, StatusFlags};
use hsp_wire::frame::{Deframer, Frame, write_packet};
use hsp_wire::packets::*;
use proptest::prelude::*;

fn bytes_no_nul(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(1u8..=255, 0..max)
}
fn bytes_any(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}
fn caps() -> impl Strategy<Value = Capabilities> {
    any::<u32>().prop_map(Capabilities::from_bits_retain)
}

fn greeting() -> impl Strategy<Value = HandshakeV10> {
    (
        bytes_no_nul(40),
        any::<u32>(),
        any::<[u8; 8]>(),
        caps(),
        any::<u8>(),
        any::<u16>(),
        any::<[u8; 10]>(),
        bytes_no_nul(30),
        any::<bool>(),
        0u8..30,
    )
        .prop_map(|(v, id, a1, caps, coll, st, res, plugin, nul, alen)| {
            let caps = caps | Capabilities::SECURE_CONNECTION | Capabilities::PLUGIN_AUTH;
            let n = usize::from(alen).saturating_sub(8).max(13);
            // The plugin name is last; without its NUL it may not be empty.
            let nul = nul || plugin.is_empty();
            HandshakeV10 {
                server_version: v,
                connection_id: id,
                auth_data_1: a1,
                filler: 0,
                capabilities: caps,
                ext: Some(GreetingExt {
                    collation: coll,
                    status: StatusFlags::from_bits_retain(st),
                    auth_data_len: alen,
                    reserved: res,
                    auth_data_2: Some((0..n).map(|i| (i as u8) | 1).collect()),
                    auth_plugin: Some((plugin, nul)),
                    trailing: vec![],
                }),
            }
        })
}

fn login() -> impl Strategy<Value = HandshakeResponse41> {
    (
        caps(),
        any::<u32>(),
        any::<u8>(),
        bytes_no_nul(20),
        bytes_any(40),
        proptest::option::of(bytes_no_nul(20)),
        proptest::option::of(bytes_no_nul(20)),
        proptest::option::of(proptest::collection::vec(
            (bytes_any(10), bytes_any(10)),
            0..5,
        )),
        proptest::option::of(any::<u8>()),
    )
        .prop_map(|(caps, mp, coll, user, auth, db, plugin, attrs, z)| {
            let mut caps =
                caps | Capabilities::PROTOCOL_41 | Capabilities::PLUGIN_AUTH_LENENC_CLIENT_DATA;
            // Presence on the wire follows the flags; a later field forces
            // the earlier optional ones to be present.
            caps.set(Capabilities::ZSTD_COMPRESSION_ALGORITHM, z.is_some());
            caps.set(Capabilities::CONNECT_ATTRS, attrs.is_some());
            caps.set(
                Capabilities::PLUGIN_AUTH,
                plugin.is_some() || attrs.is_some() || z.is_some(),
            );
            caps.set(
                Capabilities::CONNECT_WITH_DB,
                db.is_some() || caps.contains(Capabilities::PLUGIN_AUTH),
            );
            let database = caps
                .contains(Capabilities::CONNECT_WITH_DB)
                .then(|| db.unwrap_or_default());
            let auth_plugin = caps
                .contains(Capabilities::PLUGIN_AUTH)
                .then(|| plugin.unwrap_or_default());
            let attributes = caps
                .contains(Capabilities::CONNECT_ATTRS)
                .then(|| attrs.unwrap_or_default());
            HandshakeResponse41 {
                header: LoginHeader {
                    capabilities: caps,
                    max_packet: mp,
                    collation: coll,
                    reserved: [0; 23],
                },
                user,
                auth_response: auth,
                database,
                auth_plugin,
                attributes,
                zstd_level: z,
            }
        })
}

fn ok_packet(track: bool) -> impl Strategy<Value = (OkPacket, Ctx)> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u16>(),
        any::<u16>(),
        bytes_any(30),
        proptest::option::of(bytes_any(20)),
        prop_oneof![Just(0u8), Just(0xfeu8)],
    )
        .prop_map(move |(a, i, st, w, info, ss, h)| {
            let mut caps = Capabilities::PROTOCOL_41;
            let mut status = StatusFlags::from_bits_retain(st);
            status.set(StatusFlags::SESSION_STATE_CHANGED, ss.is_some() && track);
            if track {
                caps |= Capabilities::SESSION_TRACK;
            }
            let info = if track {
                Some(info)
            } else {
                Some(info).filter(|i| !i.is_empty())
            };
            (
                OkPacket {
                    header: h,
                    affected_rows: a,
                    last_insert_id: i,
                    status: Some(status),
                    warnings: Some(w),
                    info,
                    session_state: if track { ss } else { None },
                },
                Ctx { caps },
            )
        })
}

proptest! {
    #[test]
    fn greeting_round_trips(g in greeting()) {
        let mut b = Vec::new();
        g.encode(&mut b);
        prop_assert_eq!(HandshakeV10::decode(&b).unwrap(), g);
    }

    #[test]
    fn greeting_v9_round_trips(v in bytes_no_nul(30), id in any::<u32>(), s in bytes_no_nul(9)) {
        let g = HandshakeV9 { server_version: v, connection_id: id, scramble: s };
        let mut b = Vec::new();
        g.encode(&mut b);
        prop_assert_eq!(HandshakeV9::decode(&b).unwrap(), g);
    }

    #[test]
    fn login_round_trips(l in login()) {
        let mut b = Vec::new();
        l.encode(&mut b);
        prop_assert_eq!(decode_login(&b), Packet::Login(l));
    }

    #[test]
    fn ssl_request_round_trips(c in caps(), mp in any::<u32>(), coll in any::<u8>(), r in any::<[u8; 23]>()) {
        let s = SslRequest { header: LoginHeader { capabilities: c | Capabilities::SSL | Capabilities::PROTOCOL_41, max_packet: mp, collation: coll, reserved: r } };
        let mut b = Vec::new();
        s.encode(&mut b);
        prop_assert_eq!(decode_login(&b), Packet::SslRequest(s));
    }

    #[test]
    fn login320_round_trips(user in bytes_no_nul(16), auth in bytes_no_nul(9), db in proptest::option::of(bytes_no_nul(10)), mp in 0u32..0xff_ffff) {
        let mut caps = Capabilities::LONG_PASSWORD;
        caps.set(Capabilities::CONNECT_WITH_DB, db.is_some());
        let l = HandshakeResponse320 { capabilities: caps, max_packet: mp, user, auth_response: auth, auth_nul: true, database: db };
        let mut b = Vec::new();
        l.encode(&mut b);
        prop_assert_eq!(decode_login(&b), Packet::Login320(l));
    }

    #[test]
    fn auth_packets_round_trip(p in bytes_no_nul(30), d in bytes_any(64)) {
        let sw = AuthSwitchRequest { plugin: p.clone(), data: d.clone() };
        let mut b = Vec::new();
        sw.encode(&mut b);
        prop_assert_eq!(AuthSwitchRequest::decode(&b).unwrap(), sw);
        let nf = AuthNextFactor { plugin: p, data: d.clone() };
        let mut b = Vec::new();
        nf.encode(&mut b);
        prop_assert_eq!(AuthNextFactor::decode(&b).unwrap(), nf);
        let md = AuthMoreData { data: d.clone() };
        let mut b = Vec::new();
        md.encode(&mut b);
        prop_assert_eq!(AuthMoreData::decode(&b).unwrap(), md);
        let cd = ClientAuthData { data: d };
        let mut b = Vec::new();
        cd.encode(&mut b);
        prop_assert_eq!(ClientAuthData::decode(&b).unwrap(), cd);
    }

    #[test]
    fn ok_round_trips((ok, ctx) in prop_oneof![ok_packet(false), ok_packet(true)]) {
        let mut b = Vec::new();
        ok.encode(&mut b, ctx);
        prop_assert_eq!(OkPacket::decode(&b, ctx).unwrap(), ok);
    }

    #[test]
    fn err_round_trips(code in any::<u16>(), st in proptest::option::of(any::<[u8; 5]>()), msg in bytes_any(60)) {
        // Without a SQL state the message must not look like one.
        let msg = if st.is_none() && msg.first() == Some(&b'#') { msg[1..].to_vec() } else { msg };
        let e = ErrPacket { code: ErrorCode(code), sql_state: st, message: msg };
        let mut b = Vec::new();
        e.encode(&mut b);
        prop_assert_eq!(ErrPacket::decode(&b).unwrap(), e);
    }

    #[test]
    fn eof_round_trips(w in any::<u16>(), s in any::<u16>(), old in any::<bool>()) {
        let e = if old { EofPacket { warnings: None, status: None } } else { EofPacket { warnings: Some(w), status: Some(StatusFlags::from_bits_retain(s)) } };
        let mut b = Vec::new();
        e.encode(&mut b);
        prop_assert!(is_eof(&b));
        prop_assert_eq!(EofPacket::decode(&b).unwrap(), e);
    }

    #[test]
    fn commands_round_trip(cmd in any::<u8>(), body in bytes_any(40), sql in bytes_any(40), names in proptest::collection::vec((bytes_any(8), bytes_any(8)), 0..4), user in bytes_no_nul(10), db in bytes_no_nul(10)) {
        let attrs_ctx = Ctx { caps: Capabilities::PROTOCOL_41 | Capabilities::QUERY_ATTRIBUTES | Capabilities::SECURE_CONNECTION };
        // COM_QUERY with string-typed query attributes.
        let n = names.len();
        let qa = QueryAttributes {
            param_count: n as u64,
            param_set_count: 1,
            null_bitmap: if n == 0 { vec![] } else { vec![0; n.div_ceil(8)] },
            bind_flag: (n > 0).then_some(1),
            params: names.iter().map(|(k, _)| QueryParam { type_and_flags: 0xfe, name: k.clone() }).collect(),
            values: names.iter().map(|(_, v)| { let mut b = vec![v.len() as u8]; b.extend_from_slice(v); b }).collect(),
        };
        let q = Packet::Command(CommandPacket { command: Command::COM_QUERY, body: CommandBody::Query(ComQuery { attributes: Some(qa), query: sql }) });
        let b = q.to_payload(attrs_ctx);
        prop_assert_eq!(Packet::Command(CommandPacket::decode(&b, attrs_ctx).unwrap()), q);
        // COM_CHANGE_USER.
        let cu = CommandPacket { command: Command::COM_CHANGE_USER, body: CommandBody::ChangeUser(ComChangeUser { user, auth_response: body.clone(), database: db, rest: vec![45, 0] }) };
        let mut b = Vec::new();
        cu.encode(&mut b, attrs_ctx);
        prop_assert_eq!(CommandPacket::decode(&b, attrs_ctx).unwrap(), cu);
        // Every other command byte keeps its body.
        let c = Command(cmd);
        if ![Command::COM_QUERY, Command::COM_CHANGE_USER, Command::COM_INIT_DB].contains(&c) {
            let p = CommandPacket { command: c, body: CommandBody::Raw(body) };
            let mut b = Vec::new();
            p.encode(&mut b, Ctx::default());
            prop_assert_eq!(CommandPacket::decode(&b, Ctx::default()).unwrap(), p);
        }
    }

    #[test]
    fn result_set_packets_round_trip(count in any::<u64>(), mf in proptest::option::of(0u8..2), names in proptest::collection::vec(bytes_any(12), 6), vals in proptest::collection::vec(proptest::option::of(bytes_any(300)), 0..6), fixed in (any::<u16>(), any::<u32>(), any::<u8>(), any::<u16>(), any::<u8>())) {
        let cc = ColumnCount { count, metadata_follows: mf };
        let mut b = Vec::new();
        cc.encode(&mut b);
        prop_assert_eq!(ColumnCount::decode(&b).unwrap(), cc);
        let cd = ColumnDefinition {
            catalog: names[0].clone(), schema: names[1].clone(), table: names[2].clone(), org_table: names[3].clone(), name: names[4].clone(), org_name: names[5].clone(),
            fixed_len: 0x0c, charset: fixed.0, column_length: fixed.1, column_type: fixed.2, flags: fixed.3, decimals: fixed.4, rest: vec![0, 0],
        };
        let mut b = Vec::new();
        cd.encode(&mut b);
        prop_assert_eq!(ColumnDefinition::decode(&b).unwrap(), cd);
        let row = TextRow { values: vals };
        let mut b = Vec::new();
        row.encode(&mut b);
        prop_assert_eq!(TextRow::decode(&b).unwrap(), row);
    }

    #[test]
    fn deframer_joins_any_chunking(payloads in proptest::collection::vec(bytes_any(600), 1..6), cut in proptest::collection::vec(1usize..200, 1..20)) {
        let mut wire = BytesMut::new();
        let mut seq = 0u8;
        for p in &payloads {
            seq = write_packet(&mut wire, seq, p);
        }
        let mut d = Deframer::default();
        let mut got = Vec::new();
        let mut rest = &wire[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = cut[i % cut.len()].min(rest.len());
            d.push(&rest[..n]);
            rest = &rest[n..];
            i += 1;
            while let Some(Frame::Packet(p)) = d.next_frame() {
                got.push(p.payload.to_vec());
            }
        }
        prop_assert_eq!(got, payloads);
    }
}
