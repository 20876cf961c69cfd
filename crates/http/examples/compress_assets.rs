//! Writes the compressed forms of the reference page's large assets beside them (brotli 11 and
//! gzip 9: made once, committed, served as they are; nothing compresses them at start or per
//! request). Run it after replacing an asset; a test in `routes::docs` fails until you do.
//!
//!     cargo run --release -p linkleaf-http --example compress_assets

use std::io::Write;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/swagger-ui");
    for name in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        let path = dir.join(name);
        let body = std::fs::read(&path).expect("the asset");
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 11, 22);
            w.write_all(&body).expect("compress");
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&body).expect("compress");
        let gz = gz.finish().expect("compress");
        std::fs::write(dir.join(format!("{name}.br")), &br).expect("write .br");
        std::fs::write(dir.join(format!("{name}.gz")), &gz).expect("write .gz");
        println!(
            "{name}: {} bytes, br {}, gzip {}",
            body.len(),
            br.len(),
            gz.len()
        );
    }
}
