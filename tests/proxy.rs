//! A TCP proxy on loopback that the fault tests put between a child and its parent, so they can
//! break the link the way networks break: [`Proxy::cut`] drops every open connection and refuses new
//! ones until [`Proxy::heal`]; [`Proxy::lose_answers`] lets a request reach the parent but drops the
//! parent's answer and closes the child's side, so the parent has stored a version the child thinks
//! it has not sent (the hardest case for "exactly once").
//!
//! It forwards bytes, not HTTP: the link is mutual TLS end to end, so the proxy cannot read a request.
//! It tells a report from the rest by size: a connection's client that has sent at least
//! [`REQUEST_BYTES`] since the parent last spoke is sending a report (a TLS handshake flight with a
//! client certificate, or a campaign list request, is well under it; a prefecture's report embeds
//! its counties' reports and is well over it).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Bytes a client sends without an answer in between that make a report rather than a handshake or
/// a small request.
pub const REQUEST_BYTES: usize = 4096;

/// How long the parent must stay silent after an answer began before the answer is taken as whole
/// and the connection closed (the parent has then finished handling the request).
const ANSWER_QUIET: Duration = Duration::from_secs(1);

#[derive(Default)]
struct State {
    cut: AtomicBool,
    lose: AtomicBool,
    lost: AtomicUsize,
    /// Both ends of every open connection, by a connection number, so a cut can drop them.
    open: Mutex<HashMap<u64, (TcpStream, TcpStream)>>,
    next: AtomicU64,
}

/// The proxy; it stops accepting when dropped (its threads end with their connections).
pub struct Proxy {
    url: String,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to `target` (`host:port`).
    pub fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let stop = Arc::new(AtomicBool::new(false));
        let target = target.to_string();
        thread::spawn({
            let state = state.clone();
            let stop = stop.clone();
            move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    if state.cut.load(Ordering::SeqCst) {
                        // Refused: closed before a byte is read.
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    }
                    let Ok(server) = TcpStream::connect(&target) else {
                        let _ = client.shutdown(Shutdown::Both);
                        continue;
                    };
                    connect(client, server, state.clone());
                }
            }
        });
        Proxy {
            url: format!("https://{addr}"),
            state,
            stop,
            addr,
        }
    }

    /// The URL a child uses to reach its parent through the proxy.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops every open connection and refuses new ones until [`Proxy::heal`].
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        for (_, (a, b)) in self.state.open.lock().unwrap().drain() {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
    }

    /// Forwards faithfully again: connections are accepted and answers delivered.
    pub fn heal(&self) {
        self.state.lose.store(false, Ordering::SeqCst);
        self.state.cut.store(false, Ordering::SeqCst);
    }

    /// From now on, every report reaches the parent but its answer is dropped and the child's
    /// connection closed.
    pub fn lose_answers(&self) {
        self.state.lose.store(true, Ordering::SeqCst);
    }

    /// How many answers were dropped so far.
    pub fn answers_lost(&self) -> usize {
        self.state.lost.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cut();
        // Wakes the accept loop so it sees `stop`.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Pumps both directions of one connection on two threads.
fn connect(client: TcpStream, server: TcpStream, state: Arc<State>) {
    let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
        client.try_clone(),
        server.try_clone(),
        client.try_clone(),
        server.try_clone(),
    ) else {
        return;
    };
    let id = state.next.fetch_add(1, Ordering::SeqCst);
    state.open.lock().unwrap().insert(id, (c3, s3));
    // Bytes the client sent since the server last spoke.
    let unanswered = Arc::new(AtomicUsize::new(0));
    thread::spawn({
        let unanswered = unanswered.clone();
        move || upstream(client, server, &unanswered)
    });
    thread::spawn(move || {
        downstream(s2, c2, &unanswered, &state);
        state.open.lock().unwrap().remove(&id);
    });
}

/// Client to server: everything, counted.
fn upstream(mut client: TcpStream, mut server: TcpStream, unanswered: &AtomicUsize) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                unanswered.fetch_add(n, Ordering::SeqCst);
                if server.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = server.shutdown(Shutdown::Write);
}

/// Server to client: everything, unless answers are being lost and this is the answer to a report;
/// then the answer is read to its end and thrown away, and both sides are closed.
fn downstream(
    mut server: TcpStream,
    mut client: TcpStream,
    unanswered: &AtomicUsize,
    state: &State,
) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match server.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if state.lose.load(Ordering::SeqCst)
                    && unanswered.load(Ordering::SeqCst) >= REQUEST_BYTES
                {
                    let _ = server.set_read_timeout(Some(ANSWER_QUIET));
                    loop {
                        match server.read(&mut buf) {
                            Ok(0) => break,
                            Ok(_) => continue,
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    ErrorKind::WouldBlock | ErrorKind::TimedOut
                                ) =>
                            {
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    state.lost.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                unanswered.store(0, Ordering::SeqCst);
                if client.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    let _ = server.shutdown(Shutdown::Both);
}
