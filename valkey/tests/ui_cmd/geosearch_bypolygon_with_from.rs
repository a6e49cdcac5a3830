use valkey::cmd::{self, GeoPolygon};

fn main() {
    // A polygon is searched as it is: the server refuses FROMMEMBER/FROMLONLAT with it.
    let polygon = GeoPolygon { vertices: vec![] };
    let _ = cmd::geosearch::<_, valkey::Value>("places")
        .frommember("Palermo")
        .bypolygon(polygon);
}
