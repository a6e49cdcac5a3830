//! A fault-injecting TCP proxy on 127.0.0.1 in front of a real server, for tests of how a client
//! survives a network or server that misbehaves. It forwards bytes both ways and, switched at run
//! time (for live and future connections alike), splits replies into 1-byte writes, freezes, resets
//! connections (now, or at random offsets mid-reply), cuts a connection right after forwarding a
//! command, accepts and never answers, or replaces one reply with hostile bytes.
//!
//! ```no_run
//! use valkey_tests::{AfterInjection, Proxy, Server};
//! let server = Server::valkey()?;
//! let proxy = Proxy::start(server.addr())?;
//! // Any command mentioning `__hostile__` gets `?garbage` instead of its real reply.
//! proxy.inject_on(b"__hostile__", b"?garbage\r\n".to_vec(), AfterInjection::Forward);
//! println!("{}", proxy.url()); // valkey://127.0.0.1:PORT
//! # Ok::<(), valkey_tests::HarnessError>(())
//! ```
//!
//! Each proxied connection is a `Link` with two pump threads (client→server, server→client). Both
//! pumps track RESP frame boundaries (`FrameScanner`), so the n-th command and the n-th reply of a
//! link are known: that is how a reply is replaced without losing alignment, and how a cut knows
//! when the command it let through has run.

use crate::error::{HarnessError, Result};
use crate::rng::Rng;
use std::collections::VecDeque;
use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a pump blocks in one read or write before it looks at its link's state again.
const POLL: Duration = Duration::from_millis(100);
/// How long a cut link keeps reading the server for the reply of the command it let through.
const CUT_DRAIN: Duration = Duration::from_secs(2);
/// How much of one command is kept to look for an injection trigger in it.
const TRIGGER_WINDOW: usize = 64 * 1024;

/// What a link does after it wrote injected bytes in place of a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterInjection {
    /// Keep forwarding the server's later replies.
    Forward,
    /// Forward nothing more to the client on that link, and keep it open: a server gone silent.
    Silence,
}

/// Counters since the proxy started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Client connections accepted.
    pub accepted: u64,
    /// Links still open.
    pub open: usize,
    /// Links closed abruptly ([`Proxy::reset_all`], [`Proxy::reset_at_random`]).
    pub resets: u64,
    /// Links cut by [`Proxy::cut_after_forward`].
    pub cuts: u64,
    /// Replies replaced by [`Proxy::inject_on`].
    pub injections: u64,
    /// `write` calls towards clients (one per byte with [`Proxy::split_replies`]).
    pub client_writes: u64,
    /// Bytes written to clients.
    pub client_bytes: u64,
}

/// Freezes and thaws a [`Proxy`] from another thread (from [`Proxy::handle`]); it does not keep
/// the proxy running.
#[derive(Clone)]
pub struct ProxyHandle {
    shared: Arc<Shared>,
}

impl ProxyHandle {
    /// As [`Proxy::freeze`].
    pub fn freeze(&self) {
        self.shared.modes().frozen = true;
    }

    /// As [`Proxy::thaw`].
    pub fn thaw(&self) {
        self.shared.modes().frozen = false;
    }
}

/// A running proxy; stops accepting and closes every link on drop.
pub struct Proxy {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept_thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> Result<Proxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| HarnessError::io("binding the proxy's port", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| HarnessError::io("reading the proxy's port", e))?;
        let shared = Arc::new(Shared {
            upstream,
            modes: Mutex::new(Modes::default()),
            links: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            counters: Counters::default(),
        });
        let accept_thread = std::thread::Builder::new()
            .name(format!("proxy-accept-{}", addr.port()))
            .spawn({
                let shared = Arc::clone(&shared);
                move || accept_loop(&shared, listener)
            })
            .map_err(|e| HarnessError::io("starting the proxy's accept thread", e))?;
        Ok(Proxy {
            shared,
            addr,
            accept_thread: Some(accept_thread),
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `valkey://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("valkey://127.0.0.1:{}", self.addr.port())
    }

    /// Back to plain forwarding: every mode off, live links thawed (silenced links stay silent).
    pub fn forward(&self) {
        *self.shared.modes() = Modes::default();
    }

    /// Delivers server→client bytes one byte per write (`TCP_NODELAY` is on, so one per segment).
    pub fn split_replies(&self, on: bool) {
        self.shared.modes().split_replies = on;
    }

    /// Stops forwarding in both directions; sockets stay open (a frozen server or a half-open
    /// network path). Bytes already read are held until [`Proxy::thaw`].
    pub fn freeze(&self) {
        self.shared.modes().frozen = true;
    }

    /// Resumes forwarding after [`Proxy::freeze`].
    pub fn thaw(&self) {
        self.shared.modes().frozen = false;
    }

    /// A handle that freezes and thaws this proxy from another thread.
    pub fn handle(&self) -> ProxyHandle {
        ProxyHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Closes every open link abruptly now (the client gets an RST where the platform allows
    /// `SO_LINGER` 0) and returns once their sockets are closed. Returns how many were reset.
    pub fn reset_all(&self) -> usize {
        let links = self.shared.live_links();
        for link in &links {
            link.reset(&self.shared);
        }
        let closing: Vec<Weak<Link>> = links.iter().map(Arc::downgrade).collect();
        drop(links);
        let deadline = Instant::now() + Duration::from_secs(2);
        while closing.iter().any(|l| l.strong_count() > 0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        closing.len()
    }

    /// Resets links at random points of the server→client stream (mostly mid-reply): after each
    /// reset point a link draws the next from `1..=2*mean_bytes` bytes on. Same seed and same
    /// traffic, same points.
    pub fn reset_at_random(&self, mean_bytes: u64, seed: u64) {
        let mut modes = self.shared.modes();
        let epoch = modes.random_resets.as_ref().map_or(0, |r| r.epoch) + 1;
        modes.random_resets = Some(RandomResets {
            mean_bytes: mean_bytes.max(1),
            rng: Rng::new(seed),
            epoch,
        });
    }

    /// Ends [`Proxy::reset_at_random`].
    pub fn stop_random_resets(&self) {
        self.shared.modes().random_resets = None;
    }

    /// Forwards the next `commands` client→server commands (on any link) to the server, then cuts
    /// the link that carried the last of them: the client side is closed at once, so no reply of
    /// that link reaches the client, while the server runs what it got (the link lives on until
    /// the last command's reply arrived, then closes). For duplicate-write checks.
    pub fn cut_after_forward(&self, commands: u64) {
        self.shared.modes().cut_budget = commands;
    }

    /// New connections are accepted and then never answered (nothing is forwarded): a server
    /// that hangs in the handshake. Links accepted so in stay silent after this is turned off.
    pub fn silent_accept(&self, on: bool) {
        self.shared.modes().silent_accept = on;
    }

    /// From now on, when a client command contains `trigger`, the command is forwarded but its
    /// reply is not: `bytes` go to the client in its place, and after that the link forwards as
    /// before or falls silent (`then`). The trigger is looked for in a command's first 64 KiB.
    pub fn inject_on(&self, trigger: &[u8], bytes: Vec<u8>, then: AfterInjection) {
        self.shared.modes().inject = Some(Injection {
            trigger: trigger.to_vec(),
            bytes: bytes.into(),
            then,
        });
    }

    /// Ends [`Proxy::inject_on`] for commands sent from now on.
    pub fn stop_injecting(&self) {
        self.shared.modes().inject = None;
    }

    /// The counters so far.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProxyStats {
            accepted: get(&c.accepted),
            open: self.shared.live_links().len(),
            resets: get(&c.resets),
            cuts: get(&c.cuts),
            injections: get(&c.injections),
            client_writes: get(&c.client_writes),
            client_bytes: get(&c.client_bytes),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept thread, which sees `stopping` and returns.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        for link in self.shared.live_links() {
            link.kill();
        }
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .field("stats", &self.stats())
            .finish()
    }
}

#[derive(Default)]
struct Modes {
    split_replies: bool,
    frozen: bool,
    silent_accept: bool,
    random_resets: Option<RandomResets>,
    /// Commands still to forward before the link carrying the last of them is cut.
    cut_budget: u64,
    inject: Option<Injection>,
}

struct RandomResets {
    mean_bytes: u64,
    rng: Rng,
    /// Bumped by every `reset_at_random`, so links draw new points under the new settings.
    epoch: u64,
}

impl RandomResets {
    fn draw(&mut self) -> u64 {
        1 + self.rng.range(0, 2 * self.mean_bytes)
    }
}

#[derive(Clone)]
struct Injection {
    trigger: Vec<u8>,
    bytes: Arc<[u8]>,
    then: AfterInjection,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    resets: AtomicU64,
    cuts: AtomicU64,
    injections: AtomicU64,
    client_writes: AtomicU64,
    client_bytes: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

struct Shared {
    upstream: SocketAddr,
    modes: Mutex<Modes>,
    links: Mutex<Vec<Weak<Link>>>,
    stopping: AtomicBool,
    counters: Counters,
}

impl Shared {
    fn modes(&self) -> MutexGuard<'_, Modes> {
        self.modes.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn live_links(&self) -> Vec<Arc<Link>> {
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        links.retain(|l| l.strong_count() > 0);
        links
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|l| !l.is_killed())
            .collect()
    }

    fn register(&self, link: &Arc<Link>) {
        let mut links = self.links.lock().unwrap_or_else(|p| p.into_inner());
        links.retain(|l| l.strong_count() > 0);
        links.push(Arc::downgrade(link));
    }
}

/// One proxied connection. Its sockets close when both pumps let go of it.
struct Link {
    client: TcpStream,
    /// `None` for a connection accepted in silent mode.
    server: Option<TcpStream>,
    killed: AtomicBool,
    state: Mutex<LinkState>,
}

#[derive(Default)]
struct LinkState {
    /// Complete commands seen from the client.
    commands: u64,
    /// Complete replies seen from the server (push frames not counted).
    replies: u64,
    /// Replies to replace: (reply index, what to send instead), in order.
    injections: VecDeque<(u64, Injection)>,
    /// Nothing more goes to the client.
    silenced: bool,
    /// Set when the client side was cut after the command with this index.
    cut: Option<Cut>,
    /// Bytes still to deliver before the next random reset, and the settings they were drawn under.
    reset_plan: Option<(u64, u64)>,
}

#[derive(Clone, Copy)]
struct Cut {
    last_command: u64,
    deadline: Instant,
}

impl LinkState {
    /// Passes (part of) one server frame towards the client's `out`, replacing a reply that an
    /// injection claimed. `complete`: these bytes end the frame.
    fn pass(
        &mut self,
        counters: &Counters,
        bytes: &[u8],
        kind: Option<u8>,
        complete: bool,
        out: &mut Vec<u8>,
    ) {
        if kind == Some(b'>') {
            if !self.silenced {
                out.extend_from_slice(bytes);
            }
            return;
        }
        let index = self.replies;
        let replaced = self.injections.front().is_some_and(|(i, _)| *i == index);
        if !replaced && !self.silenced {
            out.extend_from_slice(bytes);
        }
        if complete {
            self.replies += 1;
            if replaced {
                let (_, injection) = self.injections.pop_front().expect("checked above");
                if !self.silenced {
                    out.extend_from_slice(&injection.bytes);
                }
                self.silenced |= injection.then == AfterInjection::Silence;
                bump(&counters.injections, 1);
            }
        }
    }
}

impl Link {
    fn new(client: TcpStream, server: Option<TcpStream>) -> std::io::Result<Link> {
        for socket in std::iter::once(&client).chain(server.as_ref()) {
            socket.set_nodelay(true)?;
            socket.set_read_timeout(Some(POLL))?;
            socket.set_write_timeout(Some(POLL))?;
        }
        Ok(Link {
            client,
            server,
            killed: AtomicBool::new(false),
            state: Mutex::new(LinkState::default()),
        })
    }

    fn state(&self) -> MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    /// Whether the pumps should stop: killed, or a cut link waited long enough for its reply.
    fn should_stop(&self) -> bool {
        self.is_killed()
            || self
                .state()
                .cut
                .is_some_and(|c| Instant::now() >= c.deadline)
    }

    /// Ends the link: both pumps stop (a blocked read is woken by the shutdown) and the sockets
    /// close when they let go. Returns whether this call was the one that killed it.
    fn kill(&self) -> bool {
        let first = !self.killed.swap(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Read);
        if let Some(server) = &self.server {
            let _ = server.shutdown(Shutdown::Read);
        }
        first
    }

    /// Ends the link abruptly: the client's socket will close with an RST.
    fn reset(&self, shared: &Shared) {
        set_linger_zero(&self.client);
        if self.kill() {
            bump(&shared.counters.resets, 1);
        }
    }

    /// Waits while the proxy is frozen; false when the link died meanwhile.
    fn wait_thawed(&self, shared: &Shared) -> bool {
        while shared.modes().frozen {
            if self.is_killed() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        !self.is_killed()
    }

    /// Counts the client's complete commands in `chunk`, noting the replies to replace and
    /// spending the cut budget. Returns how much of the chunk to forward and whether the link is
    /// to be cut after forwarding it.
    fn scan_commands(
        &self,
        shared: &Shared,
        chunk: &[u8],
        scanner: &mut FrameScanner,
        command: &mut Vec<u8>,
    ) -> (usize, bool) {
        let mut ends = Vec::new();
        scanner.feed(chunk, |end, _| ends.push(end));
        let mut st = self.state();
        let mut modes = shared.modes();
        let mut start = 0;
        for end in ends {
            keep_prefix(command, &chunk[start..end]);
            start = end;
            let index = st.commands;
            st.commands += 1;
            if let Some(injection) = &modes.inject {
                if contains(command, &injection.trigger) {
                    st.injections.push_back((index, injection.clone()));
                }
            }
            command.clear();
            if modes.cut_budget > 0 {
                modes.cut_budget -= 1;
                if modes.cut_budget == 0 {
                    // Set before the command goes out, so its reply can never slip through.
                    st.cut = Some(Cut {
                        last_command: index,
                        deadline: Instant::now() + CUT_DRAIN,
                    });
                    return (end, true);
                }
            }
        }
        keep_prefix(command, &chunk[start..]);
        (chunk.len(), false)
    }

    /// Filters one chunk from the server into `out` (what the client gets). Returns true when the
    /// link was cut and the reply of its last forwarded command has now arrived: the link is done.
    fn filter_replies(
        &self,
        counters: &Counters,
        chunk: &[u8],
        scanner: &mut FrameScanner,
        out: &mut Vec<u8>,
    ) -> bool {
        let mut ends = Vec::new();
        scanner.feed(chunk, |end, kind| ends.push((end, kind)));
        let mut st = self.state();
        let mut start = 0;
        for (end, kind) in ends {
            st.pass(counters, &chunk[start..end], kind, true, out);
            start = end;
        }
        if start < chunk.len() {
            st.pass(counters, &chunk[start..], scanner.frame_kind(), false, out);
        }
        match st.cut {
            Some(cut) => {
                out.clear();
                st.replies > cut.last_command
            }
            None => false,
        }
    }

    /// How many of the next `want` bytes to write to the client now, and whether a random reset
    /// falls right after them.
    fn plan_write(&self, shared: &Shared, want: usize) -> (usize, bool) {
        let mut st = self.state();
        let mut modes = shared.modes();
        let n = if modes.split_replies { 1 } else { want };
        let Some(resets) = modes.random_resets.as_mut() else {
            st.reset_plan = None;
            return (n, false);
        };
        let left = match st.reset_plan {
            Some((epoch, left)) if epoch == resets.epoch => left,
            _ => resets.draw(),
        };
        let n = n.min(usize::try_from(left).unwrap_or(usize::MAX));
        let left = left - n as u64;
        st.reset_plan = Some((resets.epoch, left));
        (n, left == 0)
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: TcpListener) {
    for incoming in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = incoming else { continue };
        bump(&shared.counters.accepted, 1);
        let silent = shared.modes().silent_accept;
        let server = if silent {
            None
        } else {
            match TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(5)) {
                Ok(server) => Some(server),
                Err(_) => continue, // the client sees its connection closed
            }
        };
        let Ok(link) = Link::new(client, server) else {
            continue;
        };
        let link = Arc::new(link);
        shared.register(&link);
        let port = link.client.peer_addr().map_or(0, |a| a.port());
        let spawn = |name: &str, pump: fn(&Shared, &Link)| {
            let (shared, pumped) = (Arc::clone(shared), Arc::clone(&link));
            let started = std::thread::Builder::new()
                .name(format!("proxy-{name}-{port}"))
                .spawn(move || pump(&shared, &pumped));
            if started.is_err() {
                link.kill();
            }
        };
        if silent {
            spawn("silent", swallow);
        } else {
            spawn("c2s", client_to_server);
            spawn("s2c", server_to_client);
        }
    }
}

/// A silent link: reads what the client sends and answers nothing.
fn swallow(_: &Shared, link: &Link) {
    let mut buf = vec![0u8; 16 * 1024];
    while read_some(link, &link.client, &mut buf).is_some() {}
    link.kill();
}

fn client_to_server(shared: &Shared, link: &Link) {
    let server = link
        .server
        .as_ref()
        .expect("a forwarding link has a server");
    let mut scanner = FrameScanner::default();
    let mut command = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while let Some(n) = read_some(link, &link.client, &mut buf) {
        let chunk = &buf[..n];
        let (forward, cut) = link.scan_commands(shared, chunk, &mut scanner, &mut command);
        if !link.wait_thawed(shared) || !write_all(link, server, &chunk[..forward]) {
            break;
        }
        if cut {
            bump(&shared.counters.cuts, 1);
            let _ = link.client.shutdown(Shutdown::Both);
            // Not killed: the server→client pump ends the link once the last command's reply
            // is in, so the server surely ran it.
            return;
        }
    }
    link.kill();
}

fn server_to_client(shared: &Shared, link: &Link) {
    let server = link
        .server
        .as_ref()
        .expect("a forwarding link has a server");
    let mut scanner = FrameScanner::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(buf.len());
    while let Some(n) = read_some(link, server, &mut buf) {
        out.clear();
        let cut_done = link.filter_replies(&shared.counters, &buf[..n], &mut scanner, &mut out);
        if cut_done || !deliver(shared, link, &out) {
            break;
        }
    }
    link.kill();
}

/// Writes `data` to the client, honouring freeze, split and random-reset modes. False when the
/// link is over.
fn deliver(shared: &Shared, link: &Link, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        if !link.wait_thawed(shared) {
            return false;
        }
        let (n, reset_after) = link.plan_write(shared, data.len());
        if !write_all(link, &link.client, &data[..n]) {
            return false;
        }
        bump(&shared.counters.client_writes, 1);
        bump(&shared.counters.client_bytes, n as u64);
        data = &data[n..];
        if reset_after {
            link.reset(shared);
            return false;
        }
    }
    true
}

/// Reads what is there; `None` when the link is over (stopped, or the peer closed or failed).
fn read_some(link: &Link, mut from: &TcpStream, buf: &mut [u8]) -> Option<usize> {
    loop {
        if link.should_stop() {
            return None;
        }
        match from.read(buf) {
            Ok(0) => return None,
            Ok(n) => return Some(n),
            Err(e) if is_transient(&e) => continue,
            Err(_) => return None,
        }
    }
}

/// Writes all of `data`; false when the link is over first.
fn write_all(link: &Link, mut to: &TcpStream, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        if link.is_killed() {
            return false;
        }
        match to.write(data) {
            Ok(0) => return false,
            Ok(n) => data = &data[n..],
            Err(e) if is_transient(&e) => continue,
            Err(_) => return false,
        }
    }
    true
}

fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        IoKind::WouldBlock | IoKind::TimedOut | IoKind::Interrupted
    )
}

/// Appends to `command` while it is shorter than the trigger window.
fn keep_prefix(command: &mut Vec<u8>, bytes: &[u8]) {
    let room = TRIGGER_WINDOW.saturating_sub(command.len());
    command.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Sets `SO_LINGER` to 0, so that closing the socket sends an RST instead of a FIN.
#[cfg(target_os = "linux")]
fn set_linger_zero(socket: &TcpStream) {
    use std::os::fd::AsRawFd;
    use std::os::raw::{c_int, c_void};
    #[repr(C)]
    struct Linger {
        l_onoff: c_int,
        l_linger: c_int,
    }
    extern "C" {
        fn setsockopt(
            fd: c_int,
            level: c_int,
            name: c_int,
            value: *const c_void,
            len: u32,
        ) -> c_int;
    }
    const SOL_SOCKET: c_int = 1;
    const SO_LINGER: c_int = 13;
    let linger = Linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `linger` lives for the call and its size is passed; the fd is open (borrowed from
    // `socket`). A failure only means a FIN instead of an RST.
    unsafe {
        setsockopt(
            socket.as_raw_fd(),
            SOL_SOCKET,
            SO_LINGER,
            &linger as *const Linger as *const c_void,
            std::mem::size_of::<Linger>() as u32,
        );
    }
}

/// Elsewhere a reset is an ordinary close.
#[cfg(not(target_os = "linux"))]
fn set_linger_zero(_: &TcpStream) {}

/// Finds where RESP frames (RESP2 and RESP3, requests and replies) end in a byte stream fed in
/// arbitrary chunks, without buffering payloads. Inline commands (a line not starting with a
/// RESP type byte) count as one frame. After malformed input it stops reporting frames.
#[derive(Default)]
struct FrameScanner {
    /// The header line being read, up to and including `\n`.
    line: Vec<u8>,
    /// Payload bytes (and the closing CRLF) of a bulk string still to pass.
    skip: u64,
    /// Elements still due in each open aggregate; `true` marks an attribute, which annotates the
    /// value after it instead of being one.
    open: Vec<(u64, bool)>,
    /// The type byte of the top-level frame in progress.
    kind: Option<u8>,
    broken: bool,
}

impl FrameScanner {
    /// Feeds bytes; `on_end(offset, kind)` is called for each top-level frame that ends in them,
    /// with the offset just past its last byte and its type byte.
    fn feed(&mut self, data: &[u8], mut on_end: impl FnMut(usize, Option<u8>)) {
        let mut i = 0;
        while i < data.len() && !self.broken {
            if self.skip > 0 {
                let n = self.skip.min((data.len() - i) as u64);
                i += n as usize;
                self.skip -= n;
                if self.skip == 0 {
                    self.value_done(i, &mut on_end);
                }
                continue;
            }
            let rest = &data[i..];
            let (taken, done) = match rest.iter().position(|&b| b == b'\n') {
                Some(p) => (p + 1, true),
                None => (rest.len(), false),
            };
            if self.line.is_empty() && self.open.is_empty() && self.kind.is_none() {
                self.kind = Some(rest[0]);
            }
            self.line.extend_from_slice(&rest[..taken]);
            i += taken;
            if self.line.len() > TRIGGER_WINDOW {
                self.broken = true;
            } else if done {
                self.line_done(i, &mut on_end);
            }
        }
    }

    /// The type byte of the frame in progress, if one has started.
    fn frame_kind(&self) -> Option<u8> {
        self.kind
    }

    fn line_done(&mut self, at: usize, on_end: &mut impl FnMut(usize, Option<u8>)) {
        let line = std::mem::take(&mut self.line);
        let body = line.strip_suffix(b"\r\n").unwrap_or(&line);
        let Some((&kind, digits)) = body.split_first() else {
            self.broken = true;
            return;
        };
        let count = || -> Option<i64> { std::str::from_utf8(digits).ok()?.parse().ok() };
        match kind {
            b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => self.value_done(at, on_end),
            b'$' | b'!' | b'=' => match count() {
                Some(n) if n < 0 => self.value_done(at, on_end),
                Some(n) => self.skip = n as u64 + 2,
                None => self.broken = true,
            },
            b'*' | b'~' | b'>' | b'%' | b'|' => match count() {
                Some(n) if n < 0 => self.value_done(at, on_end),
                Some(n) => {
                    let pairs = matches!(kind, b'%' | b'|');
                    let items = n as u64 * if pairs { 2 } else { 1 };
                    let attribute = kind == b'|';
                    if items > 0 {
                        self.open.push((items, attribute));
                    } else if !attribute {
                        self.value_done(at, on_end);
                    } else if self.open.is_empty() {
                        self.kind = None;
                    }
                }
                None => self.broken = true,
            },
            // An inline command, or garbage at the top level: one line, one frame.
            _ if self.open.is_empty() => self.value_done(at, on_end),
            _ => self.broken = true,
        }
    }

    fn value_done(&mut self, at: usize, on_end: &mut impl FnMut(usize, Option<u8>)) {
        loop {
            let Some((left, attribute)) = self.open.last_mut() else {
                on_end(at, self.kind.take());
                return;
            };
            *left -= 1;
            if *left > 0 {
                return;
            }
            let attribute = *attribute;
            self.open.pop();
            if attribute {
                // The annotated value follows; at the top level it starts a new frame kind.
                if self.open.is_empty() {
                    self.kind = None;
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FrameScanner;

    /// Frame end offsets when `data` is fed in pieces of `step` bytes.
    fn ends(data: &[u8], step: usize) -> Vec<(usize, Option<u8>)> {
        let mut scanner = FrameScanner::default();
        let mut found = Vec::new();
        for (k, piece) in data.chunks(step).enumerate() {
            scanner.feed(piece, |end, kind| found.push((k * step + end, kind)));
        }
        found
    }

    #[test]
    fn frame_ends_are_found_in_any_chunking() {
        let stream: &[u8] = b"+OK\r\n$5\r\nhe\r\no\r\n*2\r\n:1\r\n*1\r\n$-1\r\n%1\r\n+k\r\n~0\r\n\
                              >2\r\n+a\r\n+b\r\n|1\r\n+x\r\n+y\r\n:7\r\n*0\r\n_\r\nPING\r\n";
        let expected = vec![
            (5, Some(b'+')),
            (16, Some(b'$')),
            (33, Some(b'*')),
            (45, Some(b'%')),
            (57, Some(b'>')),
            (73, Some(b':')),
            (77, Some(b'*')),
            (80, Some(b'_')),
            (86, Some(b'P')),
        ];
        for step in [1, 2, 3, 7, stream.len()] {
            assert_eq!(ends(stream, step), expected, "step {step}");
        }
    }

    #[test]
    fn incomplete_frames_do_not_end() {
        assert!(ends(b"$10\r\nabc", 1).is_empty());
        assert!(ends(b"*2\r\n:1\r\n", 3).is_empty());
        assert!(ends(&b"*1\r\n".repeat(100), 5).is_empty());
    }
}
