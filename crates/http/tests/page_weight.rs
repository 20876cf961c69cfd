//! A rendered page holds no more memory than its `weight()` charges the cache: measured with a
//! counting allocator around the render of a typical profile (16 links), after the render's
//! own scratch (the profile view, the growing output buffers) has been freed.

#![allow(clippy::unwrap_used)] // a test that cannot proceed should stop right there

use linkleaf_cache::Weigh;
use linkleaf_domain::{CreateProfile, now_millis};
use linkleaf_http::render::Renderer;
use std::alloc::System;

#[global_allocator]
static ALLOC: cap::Cap<System> = cap::Cap::new(System, usize::MAX);

#[test]
fn a_page_holds_no_more_than_it_is_charged() {
    let links: Vec<String> = (1..=16)
        .map(|i| format!(r#"{{"title":"Link number {i}: something worth reading","url":"https://example.com/articles/{i}/a-reasonably-long-path"}}"#))
        .collect();
    let body = format!(
        r##"{{"username":"bench","displayName":"Benchmark Profile","bio":"A profile of typical size.","avatarUrl":"https://cdn.example.com/a.png","theme":{{"preset":"dark","accentColor":"#ff8800"}},"links":[{}]}}"##,
        links.join(",")
    );
    let profile = serde_json::from_str::<CreateProfile>(&body)
        .unwrap()
        .into_profile(now_millis())
        .unwrap();
    let renderer = Renderer {
        public_url: "https://links.example.com".into(),
    };
    drop(renderer.render(&profile).unwrap()); // first-use allocations (template statics) aside
    let before = ALLOC.allocated();
    let page = renderer.render(&profile).unwrap();
    let held = ALLOC.allocated() - before;
    let bodies = page.json.body.len() + page.html.body.len();
    println!(
        "page: bodies {bodies} bytes, holds {held}, charged {}",
        page.weight()
    );
    assert!(
        held as u32 <= page.weight(),
        "holds {held} bytes, charged {}",
        page.weight()
    );
    assert!(
        page.weight() as usize <= held + held / 4,
        "charged {} for {held}: too much",
        page.weight()
    );
}
