use valkey::cmd;

fn main() -> valkey::Result<()> {
    let mut con = valkey::Client::open("valkey://127.0.0.1:6379")?.get_connection()?;
    // The area (byradius, bybox or bypolygon) is required.
    let _: Vec<String> = con.send(cmd::geosearch("places").frommember("Palermo"))?;
    Ok(())
}
