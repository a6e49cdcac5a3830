//! The cluster's IO-free core, shared by the sync and async cluster connections: the topology
//! read from `CLUSTER SHARDS` / `CLUSTER SLOTS` and the slot map ([`topology`]), where each
//! command goes and how fan-out replies combine ([`mod@route`], from the generated key specs and
//! request/response policy tips), and what to do on `MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`
//! and unreachable nodes ([`redirect`]), the steps both drivers share ([`exec`]) and a
//! cluster-wide scan ([`scan`]). Nothing
//! here opens a socket.

pub mod exec;
pub mod redirect;
pub mod route;
pub mod scan;
pub mod topology;

pub use exec::ReadFrom;
pub use redirect::{Decision, Redirect, RetryPolicy};
pub use route::{
    combine, merge_split, route, route_args, Part, RequestPolicy, ResponsePolicy, Route, Split,
};
pub use scan::{ClusterScan, ScanOptions, ScanRequest};
pub use topology::{Health, Node, NodeAddr, Role, Shard, SlotMap, Topology};
