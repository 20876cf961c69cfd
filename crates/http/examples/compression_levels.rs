//! How big and how slow each compression level is on a typical profile (16 links), for the
//! page and the JSON: what chose `variant::BR_LEVEL` and `variant::GZIP_LEVEL` (every profile is
//! compressed again each time it is rendered, ~100,000 profiles per fresh period at scale).
//!
//!     cargo run --release -p linkleaf-http --example compression_levels

use linkleaf_domain::{CreateProfile, now_millis};
use linkleaf_http::render::Renderer;
use std::io::Write;
use std::time::Instant;

fn main() {
    let links: Vec<String> = (1..=16)
        .map(|i| format!(r#"{{"title":"Link number {i}: something worth reading","url":"https://example.com/articles/{i}/a-reasonably-long-path"}}"#))
        .collect();
    let json = format!(
        r##"{{"username":"bench","displayName":"Benchmark Profile","bio":"A profile of typical size.","avatarUrl":"https://cdn.example.com/avatars/bench.png","theme":{{"preset":"dark","accentColor":"#ff8800"}},"links":[{}]}}"##,
        links.join(",")
    );
    let p = serde_json::from_str::<CreateProfile>(&json)
        .expect("a profile")
        .into_profile(now_millis())
        .expect("a valid profile");
    let page = Renderer {
        public_url: "https://links.example".into(),
    }
    .render(&p)
    .expect("rendered");
    for (what, body) in [("page", &page.html.body), ("json", &page.json.body)] {
        println!("{what}: {} bytes", body.len());
        const N: u32 = 300;
        for level in [1, 3, 4, 5, 6, 7, 9, 11] {
            let start = Instant::now();
            let mut out = Vec::new();
            for _ in 0..N {
                out.clear();
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, level, 22);
                w.write_all(body).expect("write");
                drop(w);
            }
            let us = start.elapsed().as_micros() as f64 / f64::from(N);
            println!("  br   {level:>2}: {:>5} bytes, {us:>7.1} µs", out.len());
        }
        for level in [1, 4, 6, 9] {
            let start = Instant::now();
            let mut out = Vec::new();
            for _ in 0..N {
                let mut w =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
                w.write_all(body).expect("write");
                out = w.finish().expect("finish");
            }
            let us = start.elapsed().as_micros() as f64 / f64::from(N);
            println!("  gzip {level:>2}: {:>5} bytes, {us:>7.1} µs", out.len());
        }
    }
}
