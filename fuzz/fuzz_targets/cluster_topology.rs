//! Any reply to CLUSTER SHARDS or CLUSTER SLOTS (RESP bytes from a node), and any redirect
//! error text: a topology and a slot map, or an error / `None`, never a panic; every slot the
//! map serves points at a shard that exists.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use valkey::cluster::{NodeAddr, Redirect, SlotMap, Topology};
use valkey::resp::{Decoder, Limits};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let cut = (split as usize).min(rest.len());
    let (line, frame) = rest.split_at(cut);
    let from = NodeAddr::new("127.0.0.1", 7000);
    if let Ok(text) = std::str::from_utf8(line) {
        let _ = Redirect::parse(text, &from);
        let _ = NodeAddr::parse(text);
    }
    let mut buf = BytesMut::from(frame);
    let limits = Limits {
        max_depth: 16,
        ..Limits::default()
    };
    let Ok(Some(value)) = Decoder::new(limits).decode(&mut buf) else {
        return;
    };
    for topology in [
        Topology::from_shards(&value),
        Topology::from_shards_seen_by(&value, Some(&from)),
        Topology::from_slots(&value),
    ]
    .into_iter()
    .flatten()
    {
        let map = SlotMap::new(topology, 1);
        for slot in (0..16384u16).step_by(97) {
            if map.shard(slot).is_some() {
                let _ = map.primary_addr(slot, false);
            }
        }
        let _ = (map.served_slots(), map.primaries(false), map.nodes(true));
    }
});
