//! ICMP echo (ping) for the `icmp` probe, IPv4. An unprivileged ping socket (`SOCK_DGRAM`,
//! allowed by `net.ipv4.ping_group_range`) is tried first, then a raw socket (`CAP_NET_RAW`);
//! with neither the probe reports that it is not permitted instead of a false "down".

use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// What one ping saw.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    /// The agent may open no ICMP socket.
    NotPermitted,
    /// An echo reply arrived after this long.
    Reply(Duration),
    /// No reply within the timeout (or the host did not resolve, or sending failed).
    NoReply,
}

const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;

fn checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = b
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP socket, and whether it is raw (replies then come with their IP header).
fn open() -> Option<(OwnedFd, bool)> {
    for (kind, raw) in [(libc::SOCK_DGRAM, false), (libc::SOCK_RAW, true)] {
        // SAFETY: socket(2) with constant arguments; the descriptor is owned at once.
        let fd =
            unsafe { libc::socket(libc::AF_INET, kind | libc::SOCK_CLOEXEC, libc::IPPROTO_ICMP) };
        if fd >= 0 {
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            return Some((unsafe { OwnedFd::from_raw_fd(fd) }, raw));
        }
    }
    None
}

fn resolve(host: &str) -> Option<Ipv4Addr> {
    if let Ok(ip) = host.parse() {
        return Some(ip);
    }
    (host, 0).to_socket_addrs().ok()?.find_map(|a| match a {
        SocketAddr::V4(v4) => Some(*v4.ip()),
        SocketAddr::V6(_) => None,
    })
}

/// Sends one echo request to `host` and waits up to `timeout` for its reply (blocking: run it on
/// the blocking pool).
pub(crate) fn ping(host: &str, timeout: Duration) -> Outcome {
    let Some((fd, raw)) = open() else {
        return Outcome::NotPermitted;
    };
    let Some(ip) = resolve(host) else {
        return Outcome::NoReply;
    };
    // A random token in the payload tells our reply from other pings' on a raw socket (which
    // sees every ICMP packet, our own request too on loopback).
    let token: [u8; 8] = rand::random();
    let ident: u16 = rand::random();
    let seq: u16 = 1;
    let mut pkt = vec![ECHO_REQUEST, 0, 0, 0];
    pkt.extend_from_slice(&ident.to_be_bytes());
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend_from_slice(&token);
    let sum = checksum(&pkt);
    pkt[2..4].copy_from_slice(&sum.to_be_bytes());
    let dest = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(ip.octets()),
        },
        sin_zero: [0; 8],
    };
    let start = Instant::now();
    // SAFETY: sendto(2) on our socket with a buffer and address that outlive the call.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            pkt.as_ptr().cast(),
            pkt.len(),
            0,
            (&dest as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Outcome::NoReply;
    }
    let deadline = start + timeout;
    let mut buf = [0u8; 1500];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Outcome::NoReply;
        }
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) on one pollfd we own.
        let ready = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as libc::c_int) };
        if ready <= 0 {
            if ready < 0
                && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {
                continue;
            }
            return Outcome::NoReply;
        }
        // SAFETY: recv(2) into a buffer we own, at most its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n <= 0 {
            continue;
        }
        let mut msg = &buf[..n as usize];
        if raw {
            let ihl = usize::from(msg[0] & 0x0f) * 4;
            if msg.len() < ihl {
                continue;
            }
            msg = &msg[ihl..];
        }
        // The kernel sets a ping socket's identifier itself: match on type, sequence and token.
        if msg.len() >= 16
            && msg[0] == ECHO_REPLY
            && msg[6..8] == seq.to_be_bytes()
            && msg[8..16] == token
            && (!raw || msg[4..6] == ident.to_be_bytes())
        {
            return Outcome::Reply(start.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn checksum_of_an_echo_request() {
        // type 8, code 0, checksum 0, id 1, seq 1: one's complement of 0x0802.
        let pkt = [8u8, 0, 0, 0, 0, 1, 0, 1];
        assert_eq!(super::checksum(&pkt), !0x0802u16);
    }
}
