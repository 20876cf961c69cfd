//! Writes the compressed forms of the reference page's large assets beside them, and of the API
//! description (with its ETag) in `assets/` (brotli 11 and gzip 9: made once, committed, served
//! as they are; nothing compresses them at start or per request). Run it after replacing an
//! asset or changing the API; a test in `routes::docs` fails until you do.
//!
//!     cargo run --release -p linkleaf-http --example compress_assets

use std::io::Write;
use std::path::Path;

fn main() {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let doc = linkleaf_http::openapi_json();
    pack(&assets, "openapi.json", doc);
    let etag = linkleaf_http::variant::etag(doc);
    std::fs::write(
        assets.join("openapi.json.etag"),
        format!("{}\n", etag.to_str().expect("an ETag is text")),
    )
    .expect("write the ETag");
    let dir = assets.join("swagger-ui");
    for name in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        let body = std::fs::read(dir.join(name)).expect("the asset");
        pack(&dir, name, &body);
    }
}

/// Writes `name.br` and `name.gz` of `body` into `dir`.
fn pack(dir: &Path, name: &str, body: &[u8]) {
    let mut br = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut br, 4096, 11, 22);
        w.write_all(body).expect("compress");
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(body).expect("compress");
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
