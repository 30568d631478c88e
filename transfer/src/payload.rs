//! What one delivery carries to one downstream.
//!
//! Storage nodes and judges read the binary point frame, so the forwarder encodes each accepted
//! point once and copies its bytes into the frame of every storage replica and of its judge
//! ([`FrameBody`]), as VictoriaMetrics's vminsert does, instead of cloning the point per
//! downstream and encoding each batch again. Coalesced writes concatenate those bytes. Sinks that
//! speak another format (the InfluxDB sink, a remote TSDB) and spool replays carry points.

use argus_core::wire::frame::{self, DecodeError};
use argus_core::Point;

/// Frame points (everything of a frame after its header), encoded once.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FrameBody {
    bytes: Vec<u8>,
    points: usize,
}

impl FrameBody {
    /// An empty body with room for `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> FrameBody {
        FrameBody {
            bytes: Vec::with_capacity(bytes),
            points: 0,
        }
    }

    /// Encodes `p` (with its tenant) at the end.
    pub fn push(&mut self, p: &Point) {
        frame::put_point(&mut self.bytes, p);
        self.points += 1;
    }

    /// Appends one point already encoded by [`frame::put_point`]: a replica gets the very bytes
    /// the first copy got.
    pub fn push_encoded(&mut self, point: &[u8]) {
        self.bytes.extend_from_slice(point);
        self.points += 1;
    }

    /// Points held.
    pub fn len(&self) -> usize {
        self.points
    }

    /// True when no point is held.
    pub fn is_empty(&self) -> bool {
        self.points == 0
    }

    /// The whole frame, uncompressed: header, then the points.
    pub fn frame(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + 16);
        frame::put_header(&mut out, self.points);
        out.extend_from_slice(&self.bytes);
        out
    }

    /// The points back (for the spool, which keeps points): the bytes were written by
    /// [`Self::push`], so this fails only on a bug, which the caller reports.
    pub fn decode(&self) -> Result<Vec<Point>, DecodeError> {
        frame::decode_batch(&self.frame())
    }
}

/// One delivery's points for one downstream.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Encoded frame points (storage nodes and judges).
    Frame(FrameBody),
    /// Points (the InfluxDB sink, a remote TSDB, spool replays).
    Points(Vec<Point>),
}

/// How much of a merged payload one delivery put in: its points and bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Share {
    points: usize,
    bytes: usize,
}

impl Payload {
    /// Points carried.
    pub fn len(&self) -> usize {
        match self {
            Payload::Frame(f) => f.len(),
            Payload::Points(p) => p.len(),
        }
    }

    /// True when no point is carried.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The points (decoded from a frame: the spool and point-format sinks need them).
    pub fn into_points(self) -> Result<Vec<Point>, DecodeError> {
        match self {
            Payload::Frame(f) => f.decode(),
            Payload::Points(p) => Ok(p),
        }
    }

    /// The uncompressed frame of the points (encoded here only for points: replays).
    pub fn frame(&self) -> Vec<u8> {
        match self {
            Payload::Frame(f) => f.frame(),
            Payload::Points(p) => frame::encode_raw(p),
        }
    }

    /// The points, borrowed when carried as points, decoded from a frame otherwise.
    pub fn points(&self) -> Result<std::borrow::Cow<'_, [Point]>, DecodeError> {
        match self {
            Payload::Frame(f) => f.decode().map(std::borrow::Cow::Owned),
            Payload::Points(p) => Ok(std::borrow::Cow::Borrowed(p)),
        }
    }

    /// An empty payload of the same kind.
    pub(crate) fn empty(&self) -> Payload {
        match self {
            Payload::Frame(_) => Payload::Frame(FrameBody::default()),
            Payload::Points(_) => Payload::Points(Vec::new()),
        }
    }

    pub(crate) fn share(&self) -> Share {
        match self {
            Payload::Frame(f) => Share {
                points: f.points,
                bytes: f.bytes.len(),
            },
            Payload::Points(p) => Share {
                points: p.len(),
                bytes: 0,
            },
        }
    }

    /// Appends `other` (of the same kind: one downstream is always fed one kind) and returns
    /// its share, with which [`Self::split_off`] gives it back.
    pub(crate) fn append(&mut self, other: Payload) -> Share {
        let other = match (&*self, other) {
            (Payload::Frame(_), Payload::Points(p)) => {
                let mut f = FrameBody::with_capacity(p.len() * 64);
                p.iter().for_each(|p| f.push(p));
                Payload::Frame(f)
            }
            (Payload::Points(_), Payload::Frame(f)) => {
                Payload::Points(f.decode().expect("frame bodies are written by this crate"))
            }
            (_, o) => o,
        };
        let share = other.share();
        match (self, other) {
            (Payload::Frame(a), Payload::Frame(b)) => {
                a.bytes.extend_from_slice(&b.bytes);
                a.points += b.points;
            }
            (Payload::Points(a), Payload::Points(b)) => a.extend(b),
            _ => unreachable!("converted to the same kind above"),
        }
        share
    }

    /// Takes the last `share` off the end (shares come off in the reverse order of
    /// [`Self::append`]).
    pub(crate) fn split_off(&mut self, share: Share) -> Payload {
        match self {
            Payload::Frame(f) => {
                let bytes = f.bytes.split_off(f.bytes.len() - share.bytes);
                f.points -= share.points;
                Payload::Frame(FrameBody {
                    bytes,
                    points: share.points,
                })
            }
            Payload::Points(p) => Payload::Points(p.split_off(p.len() - share.points)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argus_core::{Tags, TenantId};

    fn point(i: usize) -> Point {
        let mut p = Point::gauge(
            &format!("h{i}"),
            "cpu.idle",
            Tags::from_pairs([("dc", "x"), ("core", "1")]),
            i as f64 / 3.0,
            1_700_000_000 + i as i64,
        );
        p.tenant = TenantId::new("acme").unwrap();
        p
    }

    #[test]
    fn a_frame_body_is_the_frame_of_its_points() {
        let pts: Vec<Point> = (0..5).map(point).collect();
        let mut f = FrameBody::default();
        pts.iter().for_each(|p| f.push(p));
        assert_eq!(f.frame(), frame::encode_raw(&pts));
        assert_eq!(f.decode().unwrap(), pts);
    }

    #[test]
    fn merged_payloads_give_each_delivery_its_own_back() {
        for frames in [true, false] {
            let mk = |r: std::ops::Range<usize>| {
                let pts: Vec<Point> = r.map(point).collect();
                if frames {
                    let mut f = FrameBody::default();
                    pts.iter().for_each(|p| f.push(p));
                    Payload::Frame(f)
                } else {
                    Payload::Points(pts)
                }
            };
            let (a, b, c) = (mk(0..2), mk(2..5), mk(5..6));
            let mut merged = a.clone();
            let sb = merged.append(b.clone());
            let sc = merged.append(c.clone());
            assert_eq!(merged.len(), 6);
            assert_eq!(
                merged.clone().into_points().unwrap(),
                mk(0..6).into_points().unwrap()
            );
            assert_eq!(merged.split_off(sc), c);
            assert_eq!(merged.split_off(sb), b);
            assert_eq!(merged, a);
        }
    }
}
