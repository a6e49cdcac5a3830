use valkey::cmd::{self, GeoUnit};

fn main() {
    // BYRADIUS and BYBOX search around a member or a point: FROMMEMBER or FROMLONLAT comes first.
    let _ = cmd::geosearch::<_, valkey::Value>("places").byradius(10.0, GeoUnit::Km);
    let _ = cmd::geosearchstore("near", "places").bybox(10.0, 10.0, GeoUnit::Km);
}
