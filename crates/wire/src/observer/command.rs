//! The command phase: the client's request decides what the server's
//! answer looks like (OK/ERR, a result set, a field list, a prepared
//! statement's definitions, statistics, a stream).

use std::time::Duration;

use crate::codes::Command;
use crate::flags::{Capabilities, StatusFlags};
use crate::packets::*;

use super::connection::{err_or_malformed, ok_or_malformed};
use super::{Direction, Milestone, Observer, ObserverEvent, State};

/// What the server's next packet in the command phase is expected to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resp {
    Generic,
    ResultStart { binary: bool },
    Columns { left: u64, binary: bool },
    ColumnsEof { binary: bool },
    Rows { binary: bool },
    FieldList,
    PrepareOk,
    PrepareDefs { params: u64, cols: u64 },
    PrepareEof { cols: u64 },
    Statistics,
    InfileData,
    Stream,
}

impl Observer {
    /// A client packet in the command phase: a request, LOAD DATA's
    /// content, or (after a gap) whatever comes before the next request.
    pub(super) fn client_command(
        &mut self,
        seq: u8,
        p: &[u8],
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) -> Packet {
        if self.resp == Resp::InfileData {
            if p.is_empty() {
                self.resp = Resp::Generic;
            }
            return Packet::Data(p.to_vec());
        }
        if self.resync && seq != 0 {
            return Packet::Data(p.to_vec());
        }
        self.resync = false;
        let ctx = self.ctx();
        let pkt = CommandPacket::decode(p, ctx)
            .map_or_else(|_| Packet::Malformed(p.to_vec()), Packet::Command);
        if let Packet::Command(c) = &pkt {
            self.on_command(c.command, at, out);
        }
        pkt
    }

    /// A request: what the server's answer will look like, and its
    /// milestone.
    pub(super) fn on_command(
        &mut self,
        command: Command,
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) {
        self.resp = match command {
            Command::COM_QUERY => Resp::ResultStart { binary: false },
            Command::COM_STMT_EXECUTE | Command::COM_STMT_FETCH => {
                Resp::ResultStart { binary: true }
            }
            Command::COM_FIELD_LIST => Resp::FieldList,
            Command::COM_STMT_PREPARE => Resp::PrepareOk,
            Command::COM_STATISTICS => Resp::Statistics,
            Command::COM_BINLOG_DUMP | Command::COM_BINLOG_DUMP_GTID => Resp::Stream,
            Command::COM_CHANGE_USER => {
                self.change_user = true;
                self.state = State::ExpectAuthResult;
                Resp::Generic
            }
            _ => Resp::Generic,
        };
        Self::milestone(
            out,
            at,
            Direction::ClientToServer,
            Milestone::Command(command),
        );
    }

    fn deprecate_eof(&self) -> bool {
        // Mid-stream: Wireshark's assume_deprecate_eof preference is off
        // by default in 4.0; guess from the packets instead (see below).
        self.negotiated()
            .is_some_and(|c| c.contains(Capabilities::DEPRECATE_EOF))
    }

    pub(super) fn command_response(
        &mut self,
        p: &[u8],
        at: Duration,
        out: &mut Vec<ObserverEvent>,
    ) -> Packet {
        let dir = Direction::ServerToClient;
        let first = p.first().copied();
        let ctx = self.ctx();
        let dep = self.deprecate_eof();
        if first == Some(0xff) {
            let pkt = err_or_malformed(p);
            if let Packet::Err(e) = &pkt {
                Self::milestone(
                    out,
                    at,
                    dir,
                    Milestone::Err {
                        code: e.code,
                        in_place_of_greeting: false,
                    },
                );
                if self.resp != Resp::Stream {
                    self.resp = Resp::Generic;
                }
            }
            return pkt;
        }
        // A 0xFE packet shorter than 9 bytes ends a list of definitions or
        // rows: an EOF, or an OK under DEPRECATE_EOF.
        let terminator = |p: &[u8]| -> Packet {
            if is_eof(p) && !dep {
                EofPacket::decode(p).map_or_else(|_| ok_or_malformed(p, ctx), Packet::Eof)
            } else {
                ok_or_malformed(p, ctx)
            }
        };
        let more = |pkt: &Packet| -> bool {
            match pkt {
                Packet::Ok(o) => o
                    .status
                    .is_some_and(|s| s.contains(StatusFlags::MORE_RESULTS_EXISTS)),
                Packet::Eof(e) => e
                    .status
                    .is_some_and(|s| s.contains(StatusFlags::MORE_RESULTS_EXISTS)),
                _ => false,
            }
        };
        match self.resp {
            Resp::Generic => match first {
                Some(0x00) => ok_or_malformed(p, ctx),
                Some(0xfe) if p.len() < 9 => terminator(p),
                _ => Packet::Data(p.to_vec()),
            },
            Resp::Statistics => Packet::Data(p.to_vec()),
            Resp::Stream => Packet::Data(p.to_vec()),
            Resp::InfileData => Packet::Data(p.to_vec()),
            Resp::ResultStart { binary } => match first {
                Some(0x00) => {
                    let pkt = ok_or_malformed(p, ctx);
                    if !more(&pkt) {
                        self.resp = Resp::Generic;
                    }
                    pkt
                }
                Some(0xfb) => {
                    self.resp = Resp::InfileData;
                    Packet::Data(p.to_vec())
                }
                _ => match ColumnCount::decode(p) {
                    Ok(c) => {
                        self.resp = if c.count == 0 {
                            Resp::Generic
                        } else if c.metadata_follows == Some(0) {
                            Resp::Rows { binary }
                        } else {
                            Resp::Columns {
                                left: c.count,
                                binary,
                            }
                        };
                        Packet::ColumnCount(c)
                    }
                    Err(_) => Packet::Malformed(p.to_vec()),
                },
            },
            Resp::Columns { left, binary } => {
                if first == Some(0xfe) && p.len() < 9 {
                    // Fewer columns than announced: accept the terminator.
                    self.resp = Resp::Rows { binary };
                    return terminator(p);
                }
                let pkt = ColumnDefinition::decode(p)
                    .map_or_else(|_| Packet::Malformed(p.to_vec()), Packet::ColumnDefinition);
                self.resp = if left > 1 {
                    Resp::Columns {
                        left: left - 1,
                        binary,
                    }
                } else if dep {
                    Resp::Rows { binary }
                } else {
                    Resp::ColumnsEof { binary }
                };
                pkt
            }
            Resp::ColumnsEof { binary } => {
                self.resp = Resp::Rows { binary };
                if first == Some(0xfe) && p.len() < 9 {
                    terminator(p)
                } else {
                    self.row(p, binary)
                }
            }
            Resp::Rows { binary } => {
                if first == Some(0xfe) && p.len() < 0xff_ffff && (p.len() < 9 || dep) {
                    let pkt = terminator(p);
                    self.resp = if more(&pkt) {
                        Resp::ResultStart { binary }
                    } else {
                        Resp::Generic
                    };
                    pkt
                } else {
                    self.row(p, binary)
                }
            }
            Resp::FieldList => {
                if first == Some(0xfe) && p.len() < 9 {
                    self.resp = Resp::Generic;
                    terminator(p)
                } else {
                    ColumnDefinition::decode(p)
                        .map_or_else(|_| Packet::Malformed(p.to_vec()), Packet::ColumnDefinition)
                }
            }
            Resp::PrepareOk => {
                // COM_STMT_PREPARE_OK: 0x00, id u32, columns u16, params u16,
                // filler, warnings.
                if first == Some(0x00) && p.len() >= 12 {
                    let cols = u64::from(u16::from_le_bytes([p[5], p[6]]));
                    let params = u64::from(u16::from_le_bytes([p[7], p[8]]));
                    self.resp = if params + cols == 0 {
                        Resp::Generic
                    } else {
                        Resp::PrepareDefs { params, cols }
                    };
                    Packet::Data(p.to_vec())
                } else {
                    self.resp = Resp::Generic;
                    Packet::Data(p.to_vec())
                }
            }
            Resp::PrepareDefs { params, cols } => {
                if first == Some(0xfe) && p.len() < 9 {
                    // EOF after the parameter definitions.
                    self.resp = if cols > 0 {
                        Resp::PrepareDefs { params: 0, cols }
                    } else {
                        Resp::Generic
                    };
                    return terminator(p);
                }
                let pkt = ColumnDefinition::decode(p)
                    .map_or_else(|_| Packet::Malformed(p.to_vec()), Packet::ColumnDefinition);
                let (params, cols) = if params > 0 {
                    (params - 1, cols)
                } else {
                    (0, cols.saturating_sub(1))
                };
                self.resp = if dep {
                    if params + cols == 0 {
                        Resp::Generic
                    } else {
                        Resp::PrepareDefs { params, cols }
                    }
                } else if params == 0 && cols == 0 {
                    Resp::PrepareEof { cols: 0 }
                } else {
                    Resp::PrepareDefs { params, cols }
                };
                pkt
            }
            Resp::PrepareEof { .. } => {
                self.resp = Resp::Generic;
                if first == Some(0xfe) && p.len() < 9 {
                    terminator(p)
                } else {
                    Packet::Data(p.to_vec())
                }
            }
        }
    }

    fn row(&self, p: &[u8], binary: bool) -> Packet {
        if binary {
            return Packet::Data(p.to_vec());
        }
        match TextRow::decode(p) {
            Ok(r) => Packet::Row(r),
            Err(_) => Packet::Data(p.to_vec()),
        }
    }
}
