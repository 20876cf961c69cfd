//! The main service, composed: the API router (`routes`) behind the fast path (`fast`), which
//! answers cached public reads before the router is reached. Must not: be imported by a route
//! module or by the fast path.

use crate::state::AppState;

/// The main service: the fast path for cached reads in front of the router, which also holds
/// `pages` (the people's pages, `linkleaf-web`: the binary hands them in).
pub fn service(
    state: AppState,
    recorder: &dyn metrics::Recorder,
    pages: crate::state::Pages,
) -> crate::fast::FastPath {
    let r = crate::routes::router(state.clone(), recorder, pages);
    crate::fast::FastPath::new(state, r, recorder)
}
