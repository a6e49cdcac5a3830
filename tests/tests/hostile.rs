//! Hostile servers: a proxy in front of a real valkey-server replaces one reply with garbage,
//! truncated, oversized, nested or extra bytes, or accepts and never answers the handshake. With
//! default settings (just the URL), a command must end in an error within a bound, never hang,
//! and the next command on the same connection object must work: sync and async, RESP2 and RESP3.
//!
//! All cases run at once on their own threads (each may wait for the library's 10 s liveness
//! deadline); each `#[test]` below reports the cases of one shape.

use std::collections::BTreeMap;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use valkey::{Cmd, ErrorKind, Protocol};
use valkey_tests::{AfterInjection, Proxy, Server};

/// How long the hostile command may take to fail (the library's documented deadline is 10 s).
const FAIL_WITHIN: Duration = Duration::from_secs(25);
/// How long the next command may take (it may have to reconnect).
const NEXT_WITHIN: Duration = Duration::from_secs(10);
/// How long connecting through a plain forwarding proxy may take.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);
/// How long opening a connection may take with `connect_timeout=1` when nothing answers.
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(3);
/// What the proxy waits for in a command before it replaces that command's reply.
const TRIGGER: &str = "__hostile__";

/// One hostile reply: what the proxy sends instead of the real one, and what is acceptable.
struct Shape {
    name: &'static str,
    bytes: fn() -> Vec<u8>,
    then: AfterInjection,
    /// The error kinds that make sense for it.
    kinds: &'static [ErrorKind],
    /// Whether the command may succeed (the bytes begin with a well-formed reply to it).
    may_succeed: bool,
}

const SILENT_SERVER: &[ErrorKind] = &[ErrorKind::Unclear, ErrorKind::Timeout];
const MALFORMED_OR_SILENT: &[ErrorKind] =
    &[ErrorKind::Protocol, ErrorKind::Unclear, ErrorKind::Timeout];

const SHAPES: &[Shape] = &[
    Shape {
        name: "garbage",
        bytes: || b"?garbage\r\n".to_vec(),
        then: AfterInjection::Forward,
        kinds: &[ErrorKind::Protocol],
        may_succeed: false,
    },
    Shape {
        name: "truncated_then_silence",
        bytes: || b"$10\r\nabc".to_vec(),
        then: AfterInjection::Silence,
        kinds: SILENT_SERVER,
        may_succeed: false,
    },
    Shape {
        name: "oversized_bulk_header",
        bytes: || b"$9999999999\r\n".to_vec(),
        then: AfterInjection::Silence,
        kinds: MALFORMED_OR_SILENT,
        may_succeed: false,
    },
    Shape {
        name: "huge_array_then_silence",
        bytes: || b"*2147483647\r\n:1\r\n".to_vec(),
        then: AfterInjection::Silence,
        kinds: MALFORMED_OR_SILENT,
        may_succeed: false,
    },
    Shape {
        name: "deep_nesting",
        bytes: || b"*1\r\n".repeat(10_000),
        then: AfterInjection::Silence,
        kinds: MALFORMED_OR_SILENT,
        may_succeed: false,
    },
    Shape {
        // The first +OK is a fine answer to SET; the second must never reach the next caller.
        name: "extra_unsolicited_reply",
        bytes: || b"+OK\r\n+OK\r\n".to_vec(),
        then: AfterInjection::Forward,
        kinds: &[ErrorKind::Protocol],
        may_succeed: true,
    },
    Shape {
        name: "bad_integer",
        bytes: || b":12a\r\n".to_vec(),
        then: AfterInjection::Forward,
        kinds: &[ErrorKind::Protocol],
        may_succeed: false,
    },
];

/// The shape name under which the silent-handshake cases are reported.
const HANDSHAKE: &str = "silent_handshake";

#[test]
fn garbage_bytes() {
    check_shape("garbage");
}

#[test]
fn truncated_reply_then_silence() {
    check_shape("truncated_then_silence");
}

#[test]
fn oversized_bulk_header() {
    check_shape("oversized_bulk_header");
}

#[test]
fn huge_array_header_then_silence() {
    check_shape("huge_array_then_silence");
}

#[test]
fn deep_nesting() {
    check_shape("deep_nesting");
}

#[test]
fn extra_unsolicited_reply() {
    check_shape("extra_unsolicited_reply");
}

#[test]
fn bad_integer() {
    check_shape("bad_integer");
}

#[test]
fn accept_then_silence_during_the_handshake() {
    check_shape(HANDSHAKE);
}

/// What one case found: a line for the log and what went wrong.
struct Report {
    case: String,
    summary: String,
    failures: Vec<String>,
}

fn check_shape(shape: &str) {
    let reports = &all_reports()[shape];
    for r in reports {
        eprintln!("{}: {}", r.case, r.summary);
    }
    let failures: Vec<String> = reports
        .iter()
        .flat_map(|r| r.failures.iter().map(move |f| format!("{}: {f}", r.case)))
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Runs every case of every shape at once (on the first call; later calls wait for it), against
/// one server that is killed once all cases ended or timed out.
fn all_reports() -> &'static BTreeMap<&'static str, Vec<Report>> {
    static REPORTS: OnceLock<BTreeMap<&'static str, Vec<Report>>> = OnceLock::new();
    REPORTS.get_or_init(|| {
        let server = Server::valkey().expect("server starts");
        let mut running = Vec::new();
        for api in [Api::Sync, Api::Async] {
            for protocol in [Protocol::Resp2, Protocol::Resp3] {
                for shape in SHAPES {
                    let case = Case::new(shape.name, api, protocol, &server);
                    running.push((shape.name, case.start_hostile_reply(shape)));
                }
                let case = Case::new(HANDSHAKE, api, protocol, &server);
                running.push((HANDSHAKE, case.start_silent_handshake()));
            }
        }
        let mut reports: BTreeMap<&'static str, Vec<Report>> = BTreeMap::new();
        for (shape, supervisor) in running {
            let report = supervisor.join().expect("supervisor thread");
            reports.entry(shape).or_default().push(report);
        }
        // Killing the server also ends any client still hung on a silent proxy link.
        drop(server);
        reports
    })
}

#[derive(Clone, Copy, Debug)]
enum Api {
    Sync,
    Async,
}

/// One connection object of either API, driven from a plain thread.
enum Con {
    Sync(Box<valkey::sync::Connection>),
    Async(tokio::runtime::Runtime, valkey::aio::MultiplexedConnection),
}

impl Con {
    fn open(api: Api, url: &str) -> valkey::Result<Con> {
        let client = valkey::Client::open(url)?;
        match api {
            Api::Sync => client.get_connection().map(|c| Con::Sync(Box::new(c))),
            Api::Async => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                let con = rt.block_on(client.get_async_connection())?;
                Ok(Con::Async(rt, con))
            }
        }
    }

    fn send<C: valkey::Command>(&mut self, cmd: C) -> valkey::Result<C::Output> {
        match self {
            Con::Sync(con) => con.send(cmd),
            Con::Async(rt, con) => rt.block_on(con.send(cmd)),
        }
    }
}

/// A step's outcome: the `Ok` value shown with `Debug`, or the error itself.
type Outcome = Result<String, valkey::Error>;

/// What a case thread uses to report each step's outcome and duration to its supervisor.
struct Reporter(Sender<(Outcome, Duration)>);

impl Reporter {
    /// Runs one step and reports it; its value when it succeeded.
    fn step<T>(
        &self,
        run: impl FnOnce() -> valkey::Result<T>,
        show: impl FnOnce(&T) -> String,
    ) -> Option<T> {
        let start = Instant::now();
        let (outcome, value) = match run() {
            Ok(v) => (Ok(show(&v)), Some(v)),
            Err(e) => (Err(e), None),
        };
        let _ = self.0.send((outcome, start.elapsed()));
        value
    }
}

/// How one step of a case went.
enum Step {
    Done(Outcome, Duration),
    /// It did not end within its bound.
    Hung,
    /// An earlier step hung or failed.
    NotReached,
}

/// Runs `body` on its own thread and waits for its steps, the n-th within `bounds[n]`. After a
/// step that does not come in time no later step is waited for: a hang becomes a failed
/// assertion, not a stuck test run.
fn run_steps(bounds: &[Duration], body: impl FnOnce(&Reporter) + Send + 'static) -> Vec<Step> {
    let (tx, rx): (Sender<_>, Receiver<_>) = channel();
    std::thread::spawn(move || body(&Reporter(tx)));
    let mut steps = Vec::new();
    for &bound in bounds {
        match rx.recv_timeout(bound) {
            Ok((outcome, took)) => steps.push(Step::Done(outcome, took)),
            Err(RecvTimeoutError::Timeout) => {
                steps.push(Step::Hung);
                break;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    steps.resize_with(bounds.len(), || Step::NotReached);
    steps
}

fn show(step: &Step) -> String {
    match step {
        Step::Hung => "no answer (hung)".to_owned(),
        Step::NotReached => "not reached".to_owned(),
        Step::Done(Ok(v), t) => format!("Ok({v}) in {t:.2?}"),
        Step::Done(Err(e), t) => format!(
            "Err({:?}{}: {e}) in {t:.2?}",
            e.kind(),
            if e.is_timeout() { ", timeout" } else { "" }
        ),
    }
}

/// Checks that the next command on the connection object (after the fault) got its own reply.
fn check_next(step: &Step, failures: &mut Vec<String>) {
    match step {
        Step::Hung => failures.push(format!(
            "the next command (PING) did not return within {NEXT_WITHIN:?}"
        )),
        Step::Done(Err(e), _) => failures.push(format!("the next command (PING) failed: {e}")),
        Step::Done(Ok(v), _) if v != "\"PONG\"" => failures.push(format!(
            "the next command (PING) got a reply that is not its own: {v}"
        )),
        Step::Done(..) | Step::NotReached => {}
    }
}

struct Case {
    name: String,
    api: Api,
    protocol: Protocol,
    upstream: std::net::SocketAddr,
}

impl Case {
    fn new(shape: &str, api: Api, protocol: Protocol, server: &Server) -> Case {
        Case {
            name: format!("{shape} {api:?} {protocol:?}"),
            api,
            protocol,
            upstream: server.addr(),
        }
    }

    /// The proxy's URL with this case's protocol and `extra` options (`&k=v`).
    fn url(&self, proxy: &Proxy, extra: &str) -> String {
        let protocol = match self.protocol {
            Protocol::Resp2 => "resp2",
            _ => "resp3",
        };
        format!("{}?protocol={protocol}{extra}", proxy.url())
    }

    /// Connects, sends `SET __hostile__ 1` whose reply the proxy replaces with the shape's bytes,
    /// stops injecting, and PINGs on the same connection object.
    fn start_hostile_reply(self, shape: &'static Shape) -> JoinHandle<Report> {
        std::thread::spawn(move || {
            let proxy = Proxy::start(self.upstream).expect("proxy starts");
            let (api, url) = (self.api, self.url(&proxy, ""));
            let steps = run_steps(&[CONNECT_WITHIN, FAIL_WITHIN, NEXT_WITHIN], move |r| {
                let Some(mut con) = r.step(|| Con::open(api, &url), |_| "connected".into()) else {
                    return;
                };
                proxy.inject_on(TRIGGER.as_bytes(), (shape.bytes)(), shape.then);
                r.step(
                    || con.send(Cmd::new("SET").arg(TRIGGER).arg("1")),
                    |v| format!("{v:?}"),
                );
                proxy.stop_injecting();
                r.step(|| con.send(valkey::cmd::ping()), |v| format!("{v:?}"));
            });
            let mut failures = Vec::new();
            match &steps[0] {
                Step::Done(Ok(_), _) => {}
                other => failures.push(format!("connecting through the proxy: {}", show(other))),
            }
            match &steps[1] {
                Step::Hung => failures.push(format!(
                    "the command did not end within {FAIL_WITHIN:?}: it hangs on a hostile reply"
                )),
                Step::Done(Ok(v), _) if !shape.may_succeed => {
                    failures.push(format!("the command succeeded on a hostile reply: {v}"))
                }
                Step::Done(Err(e), _) if !shape.kinds.contains(&e.kind()) => {
                    failures.push(format!(
                        "error kind {:?} is not one of {:?}: {e}",
                        e.kind(),
                        shape.kinds
                    ))
                }
                _ => {}
            }
            check_next(&steps[2], &mut failures);
            Report {
                summary: format!(
                    "SET -> {}; then PING -> {}",
                    show(&steps[1]),
                    show(&steps[2])
                ),
                case: self.name,
                failures,
            }
        })
    }

    /// Opens a connection with `connect_timeout=1` through a proxy that accepts and never
    /// answers; then, with the proxy answering again, opens one and PINGs.
    fn start_silent_handshake(self) -> JoinHandle<Report> {
        std::thread::spawn(move || {
            let proxy = Proxy::start(self.upstream).expect("proxy starts");
            let api = self.api;
            let (silent_url, url) = (self.url(&proxy, "&connect_timeout=1"), self.url(&proxy, ""));
            let slack = Duration::from_secs(2);
            let steps = run_steps(&[HANDSHAKE_WITHIN + slack, NEXT_WITHIN], move |r| {
                proxy.silent_accept(true);
                r.step(|| Con::open(api, &silent_url), |_| "connected".into());
                proxy.silent_accept(false);
                r.step(
                    || Con::open(api, &url)?.send(valkey::cmd::ping()),
                    |v| format!("{v:?}"),
                );
            });
            let mut failures = Vec::new();
            match &steps[0] {
                Step::Hung | Step::NotReached => failures.push(format!(
                    "opening did not end within {:?} (connect_timeout=1): it hangs in the handshake",
                    HANDSHAKE_WITHIN + slack
                )),
                Step::Done(Ok(_), _) => {
                    failures.push("opening succeeded although nothing answered".to_owned())
                }
                Step::Done(Err(e), took) => {
                    if *took > HANDSHAKE_WITHIN {
                        failures.push(format!(
                            "opening failed only after {took:.2?} (connect_timeout=1): {e}"
                        ));
                    }
                    if !e.is_timeout() {
                        failures.push(format!("the error is not a timeout: {:?}: {e}", e.kind()));
                    }
                }
            }
            check_next(&steps[1], &mut failures);
            Report {
                summary: format!(
                    "open with connect_timeout=1 -> {}; then open + PING -> {}",
                    show(&steps[0]),
                    show(&steps[1])
                ),
                case: self.name,
                failures,
            }
        })
    }
}
