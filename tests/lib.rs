//! Nothing here: the end-to-end tests live in `e2e/` (one test binary) and the
//! host fixtures in `fixtures/hosts/`.
